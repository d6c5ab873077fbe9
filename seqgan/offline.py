"""Keep transformers / datasets from reaching for the network: seqgan builds every model from a config and every
tokenizer locally, so a hub lookup could only waste time (tens of seconds per call when offline)."""

import os

_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def enable_offline() -> None:
    """Set the offline variables (without overriding values the user set) before transformers is imported."""
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
