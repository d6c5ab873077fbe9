"""Generator policies and their building blocks.

Exports are resolved lazily so that ``import seqgan.models.policy`` does not import transformers (entry points call
:func:`seqgan.offline.enable_offline` first).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Context": "seqgan.models.policy",
    "Replies": "seqgan.models.policy",
    "Policy": "seqgan.models.policy",
    "GeneratorConfig": "seqgan.models.generator_config",
    "LoraSettings": "seqgan.models.generator_config",
    "Seq2SeqPolicy": "seqgan.models.seq2seq",
    "CausalLMPolicy": "seqgan.models.causal",
    "ChatFormat": "seqgan.models.chat_format",
    "build_policy": "seqgan.models.generators",
    "load_policy": "seqgan.models.generators",
    "sample_logits": "seqgan.models.sampling",
    "inverse_cdf_sample": "seqgan.models.sampling",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'seqgan.models' has no attribute {name!r}")
