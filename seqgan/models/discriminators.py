"""Every discriminator design behind one door: build a fresh D of the configured design, load a saved one of any
design (the design is read from its ``config.json``).

=============  =====================================================  ======================================
encoder        class                                                   built from
=============  =====================================================  ======================================
cnn            :class:`~seqgan.models.discriminator.Discriminator`      the vocabulary size and pad id
transformer    :class:`~seqgan.models.discriminator.Discriminator`      the vocabulary size and pad id
generator      :class:`~seqgan.models.generator_discriminator.GeneratorDiscriminator`  a copy of the generator
minilm         :class:`~seqgan.models.sentence_discriminator.SentenceEncoderDiscriminator`  the generator's tokenizer
=============  =====================================================  ======================================
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from seqgan.errors import CheckpointError, ConfigError
from seqgan.models.discriminator import DISCRIMINATOR_DIR, Discriminator, DiscriminatorConfig
from seqgan.models.generator_discriminator import GeneratorDiscriminator
from seqgan.models.sentence_discriminator import SentenceEncoderDiscriminator
from seqgan.runs.pretrained import CONFIG_FILE

_CLASSES = {"cnn": Discriminator, "transformer": Discriminator, "generator": GeneratorDiscriminator,
            "minilm": SentenceEncoderDiscriminator}


def optimizer_groups(disc: nn.Module, lr: float) -> list[dict]:
    """Adam parameter groups of a D's trainable parameters: one group at ``lr``, or, for a D with pretrained parts
    (``disc.param_groups``), those parts at ``lr * cfg.body_lr_scale``."""
    groups = getattr(disc, "param_groups", None)
    if groups is not None:
        return groups(lr)
    return [{"params": [p for p in disc.parameters() if p.requires_grad], "lr": lr}]


def build_discriminator(cfg: DiscriminatorConfig, vocab_size: int, pad_id: int, policy=None,
                        tokenizer=None) -> nn.Module:
    """A fresh D of the configured design; ``encoder: generator`` copies ``policy`` (an encoder-decoder generator),
    ``encoder: minilm`` decodes ids with ``tokenizer`` (the generator's)."""
    cfg.validate()
    if cfg.encoder == "minilm":
        if tokenizer is None:
            raise ConfigError("discriminator.encoder: 'minilm' reads text and needs the generator's tokenizer "
                              "(a dialogue run); use cnn or transformer here")
        return SentenceEncoderDiscriminator(cfg, tokenizer)
    if cfg.encoder == "generator":
        if policy is None or not hasattr(policy, "model"):
            raise ConfigError("discriminator.encoder: 'generator' needs the pretrained encoder-decoder generator "
                              "(a seq2seq run); use cnn or transformer here")
        if not policy.model.config.is_encoder_decoder:
            raise ConfigError(f"discriminator.encoder: 'generator' copies an encoder-decoder generator, but this "
                              f"run's is a causal LM ({policy.model.config.model_type}); use minilm, cnn or "
                              "transformer")
        return GeneratorDiscriminator.from_policy(cfg, policy)
    return Discriminator(cfg, vocab_size, pad_id)


def load_saved_discriminator(directory: str | Path) -> nn.Module:
    """A discriminator written by ``save_pretrained`` (any design)."""
    directory = Path(directory)
    meta_path = directory / CONFIG_FILE
    if not meta_path.is_file():
        raise CheckpointError(f"{directory}: not a saved discriminator (no {CONFIG_FILE})")
    try:
        encoder = json.loads(meta_path.read_text())["config"].get("encoder", "cnn")
        cls = _CLASSES[encoder]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise CheckpointError(f"{meta_path}: corrupt discriminator config") from None
    return cls.from_pretrained(directory)


def load_discriminator(run_dir: str | Path, name: str = DISCRIMINATOR_DIR) -> nn.Module | None:
    """The discriminator saved in ``run_dir/name`` (any design), or None when the run has none."""
    path = Path(run_dir) / name
    return load_saved_discriminator(path) if path.is_dir() else None
