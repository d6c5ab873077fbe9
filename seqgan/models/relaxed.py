"""Relaxed (differentiable) token choices for the Gumbel-softmax and continuous-vector routes.

At each decoding step a policy turns its next-token logits (B, V) into a distribution y (B, V) *with gradient*:

- ``softmax``: ``y = softmax(logits / tau)`` (the continuous-vector route: no noise).
- ``gumbel_soft``: ``y = softmax((logits + g) / tau)``, g i.i.d. Gumbel(0, 1) (Jang et al. / Maddison et al.).
- ``gumbel_st``: the straight-through variant: the forward value is the exact one-hot of ``argmax y`` while the
  backward pass uses the gradient of the soft ``y`` (``one_hot - y.detach() + y``).

The hard token of each step is ``argmax y``; the policy feeds ``y @ E`` (its soft embedding) to the next step.

Shapes: ``B`` batch, ``T`` reply length, ``V`` vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

RELAXED_MODES = ("gumbel_soft", "gumbel_st", "softmax")


@dataclass
class RelaxedReplies:
    """A batch of relaxed replies, produced with gradient by :meth:`Policy.relaxed_sample`.

    probs:  (B, T, V) the relaxed token vectors y_t (rows sum to 1; exact one-hots in ``gumbel_st`` mode).
    ids:    (B, T) hard tokens ``argmax y_t``; ``pad_id`` after the first end-of-sequence token.
    mask:   (B, T) 1 up to and including the first hard end-of-sequence token (all ones for fixed-length policies).
    logits: (B, T, V) the policy's next-token logits at each step (before noise and temperature).
    """

    probs: Tensor
    ids: Tensor
    mask: Tensor
    logits: Tensor


def check_mode(mode: str, tau: float) -> None:
    if mode not in RELAXED_MODES:
        raise ValueError(f"relaxed mode: expected one of {list(RELAXED_MODES)}, got {mode!r}")
    if not tau > 0:
        raise ValueError(f"relaxed sampling temperature: expected tau > 0, got {tau}")


def relax(logits: Tensor, tau: float, mode: str, generator: torch.Generator | None = None) -> Tensor:
    """(B, V) logits -> (B, V) relaxed token vector y with gradient (see the module docstring).

    Without ``generator`` the Gumbel modes call :func:`torch.nn.functional.gumbel_softmax` (global torch RNG;
    ``hard=True`` is its straight-through estimator). ``F.gumbel_softmax`` takes no generator, so with one the
    noise is drawn here as ``g = -log(Exponential(1))`` from that generator (the same distribution torch uses)
    and the same soft / straight-through formulas are applied.
    """
    logits = logits.float()
    if mode == "softmax":
        return torch.softmax(logits / tau, dim=-1)
    hard = mode == "gumbel_st"
    if generator is None:
        return F.gumbel_softmax(logits, tau=tau, hard=hard, dim=-1)
    exp = torch.empty_like(logits).exponential_(generator=generator)
    soft = torch.softmax((logits - exp.log()) / tau, dim=-1)
    if not hard:
        return soft
    one_hot = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
    return one_hot - soft.detach() + soft


def finish_relaxed(probs: Tensor, logits: Tensor, eos_id: int | None, pad_id: int) -> RelaxedReplies:
    """Relaxed replies from stacked probs/logits (B, T, V): hard ids = argmax of probs, ``pad_id`` after the first
    hard eos; mask (B, T) ends at that eos (inclusive); all ones when ``eos_id`` is None."""
    ids = probs.detach().argmax(-1)  # (B, T)
    if eos_id is None:
        return RelaxedReplies(probs, ids, torch.ones_like(ids), logits)
    is_eos = (ids == eos_id).long()
    after = (is_eos.cumsum(-1) - is_eos) > 0  # strictly after the first eos
    return RelaxedReplies(probs, ids.masked_fill(after, pad_id), (~after).long(), logits)
