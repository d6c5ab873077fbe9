"""One save/load convention for every model: ``save_pretrained(directory)`` / ``cls.from_pretrained(directory)``.

The transformers generators get it from 🤗 transformers (:meth:`HFPolicy.save_pretrained`); the plain
``nn.Module`` models (the discriminator, the oracle's LSTM) get it from :class:`PretrainedMixin`: a directory with
``config.json`` (what the model needs to be rebuilt) and ``model.safetensors``. Unlike huggingface_hub's
``PyTorchModelHubMixin``, the directory is written atomically (a crash never leaves half a model where a good one
was), weights load strictly, and every problem is one :class:`~seqgan.errors.CheckpointError` line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seqgan.errors import CheckpointError, ConfigError
from seqgan.runs.checkpoint import atomic_directory, load_module, save_module

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class PretrainedMixin:
    """``save_pretrained`` / ``from_pretrained`` for an ``nn.Module`` that implements :meth:`pretrained_config`
    and :meth:`from_config`."""

    def pretrained_config(self) -> dict[str, Any]:
        """JSON-serialisable description that :meth:`from_config` rebuilds the (untrained) model from."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any], source: str):
        """A freshly initialised model from :meth:`pretrained_config` output read from ``source``."""
        raise NotImplementedError

    def save_pretrained(self, directory: str | Path) -> None:
        """Atomically write ``config.json`` + ``model.safetensors`` to ``directory``."""
        with atomic_directory(Path(directory)) as staging:
            (staging / CONFIG_FILE).write_text(json.dumps(self.pretrained_config(), indent=2))
            save_module(self, staging / WEIGHTS_FILE)

    @classmethod
    def from_pretrained(cls, directory: str | Path):
        """The model saved by :meth:`save_pretrained` in ``directory`` (local files only)."""
        directory = Path(directory)
        meta_path = directory / CONFIG_FILE
        if not meta_path.is_file():
            raise CheckpointError(f"{directory}: not a saved {cls.__name__} (no {CONFIG_FILE})")
        try:
            model = cls.from_config(json.loads(meta_path.read_text()), str(meta_path))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, ConfigError) as err:
            raise CheckpointError(f"{meta_path}: corrupt {cls.__name__} config ({err})") from None
        load_module(model, directory / WEIGHTS_FILE)
        return model
