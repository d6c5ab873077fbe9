"""The discriminator hook of the chat: show D(c, x), the probability that a reply is human, next to each reply.

A run that went through adversarial training holds a discriminator (``discriminator/`` after pretraining D,
``discriminator_adv/`` after the adversarial stage). It is loaded lazily through
``seqgan.models.discriminators.load_discriminator(run_dir, name)``; a run without one simply shows no scores.
"""

from __future__ import annotations

import logging
from pathlib import Path

from seqgan.chat.session import Scorer

logger = logging.getLogger(__name__)

DISCRIMINATOR_DIRS = ("discriminator_adv", "discriminator")  # preferred first


def make_scorer(disc, tokenizer, data_cfg) -> Scorer:
    """Wrap a discriminator with ``reward(context, reply_ids, reply_mask) -> (B,)`` as a text :data:`Scorer`."""
    import torch

    from seqgan.data import encode_reply, pad_rows
    from seqgan.generate import encode_batch
    from seqgan.models.policy import Context

    def score(context_turns: list[str], replies: list[str]) -> list[float]:
        if not replies:
            return []
        one = encode_batch([context_turns], tokenizer, data_cfg)
        context = Context(one.ids.expand(len(replies), -1), one.mask.expand(len(replies), -1))
        ids, mask = pad_rows([encode_reply(r, tokenizer, data_cfg) for r in replies], tokenizer.pad_token_id)
        device = next(disc.parameters()).device
        with torch.no_grad():
            values = disc.reward(context.to(device), ids.to(device), mask.to(device))  # (B,)
        return [float(v) for v in values.reshape(-1).tolist()]

    return score


def load_scorer(run_dir: str | Path, tokenizer, data_cfg) -> Scorer | None:
    """The run's discriminator as a :data:`Scorer` (the one after adversarial training, ``discriminator_adv/``, when
    present, else ``discriminator/``), or None when the run has none; a discriminator this seqgan cannot load gives
    a warning and no scores. A corrupt one raises :class:`~seqgan.errors.CheckpointError`."""
    run_dir = Path(run_dir)
    names = [n for n in DISCRIMINATOR_DIRS if (run_dir / n).is_dir()]
    if not names:
        return None
    try:
        from seqgan.models.discriminators import load_discriminator
    except ImportError:
        logger.warning("%s has a discriminator but this seqgan cannot load it: replies are shown without scores",
                       run_dir)
        return None
    disc = load_discriminator(run_dir, names[0])
    if disc is None:
        return None
    disc.eval()
    logger.info("discriminator scores from %s (shown in a terminal; /set scores=on|off)", run_dir / names[0])
    return make_scorer(disc, tokenizer, data_cfg)
