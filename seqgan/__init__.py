"""seqgan: adversarial text generation for dialogue.

A seq2seq chatbot is trained by maximum likelihood, then fine-tuned against a conditional discriminator D(c, x)
whose score is the generator's reward. The main objects are importable from here::

    from seqgan import ChatbotConfig, Chatbot, load_config, train_mle, train_adversarial

    cfg = load_config(ChatbotConfig, "recipes/tiny.yaml", ["output_dir=runs/api"])
    run = train_mle(cfg)                          # MLE pretraining -> RunDir
    train_adversarial(cfg, run.path)              # D pretraining + adversarial rounds -> generator_adv/
    Chatbot.load(run.path).reply("hi there!")

They are imported on first use, so ``import seqgan`` stays light (no torch, no transformers); that first use also
sets the offline variables of :func:`seqgan.offline.enable_offline` (seqgan builds every model locally), as the
``seqgan`` command does.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # configs
    "ChatbotConfig": "seqgan.chatbot",
    "AdversarialConfig": "seqgan.adversarial.config",
    "OracleConfig": "seqgan.oracle.config",
    "ImageConfig": "seqgan.image.config",
    "load_config": "seqgan.config",
    "to_yaml": "seqgan.config",
    # training
    "train_mle": "seqgan.mle.trainer",
    "train_adversarial": "seqgan.adversarial.stage",
    "AdversarialTrainer": "seqgan.adversarial.trainer",
    "run_comparison": "seqgan.adversarial.compare",
    "run_oracle_benchmark": "seqgan.oracle.benchmark",
    # a trained run
    "RunDir": "seqgan.runs.rundir",
    "load_run": "seqgan.chatbot",
    "Chatbot": "seqgan.chat.bot",
    "DecodingOptions": "seqgan.generate",
    # errors
    "SeqGANError": "seqgan.errors",
    "ConfigError": "seqgan.errors",
    "DataError": "seqgan.errors",
    "CheckpointError": "seqgan.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'seqgan' has no attribute {name!r}")
    from seqgan.offline import enable_offline

    enable_offline()
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
