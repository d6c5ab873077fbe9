"""The reward interface: (context, sampled replies) -> per-token rewards.

Every reward returns a tensor of shape (B, T) aligned with ``replies.ids``: entry ``[b, i]`` is the value credited to
token ``x_{i+1}`` of row ``b`` (an estimate of the action value ``Q(c, x_1..x_i, x_{i+1})``, used directly as the
return of that token by REINFORCE; no further summation or discount). Entries where ``replies.mask`` is 0 are 0.
Rewards never need a context (``Context.empty(B)`` works) nor an end-of-sequence token (fixed-length replies).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

import torch
from torch import Tensor

from seqgan.models.policy import Context, Replies


class Scorer(Protocol):
    """What a reward needs from a discriminator (:class:`seqgan.models.discriminator.Discriminator` fits)."""

    def reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B,) probability in (0, 1) that each reply is a human reply to its context (no grad, eval mode)."""

    def prefix_reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B, T) the same probability for every prefix x_1..x_t (0 past the reply's end)."""


class Reward(ABC):
    """Maps (context, replies) to per-token rewards (B, T); 0 where the mask is 0."""

    name: str = "reward"

    @abstractmethod
    def __call__(self, context: Context, replies: Replies) -> Tensor:
        """context: (B, S); replies.ids / replies.mask: (B, T). Returns (B, T) float rewards, no grad."""


def check_replies(context: Context, replies: Replies) -> None:
    """Assert the shapes a reward expects at its boundary."""
    if replies.ids.dim() != 2 or replies.ids.shape != replies.mask.shape:
        raise ValueError(f"replies must be (B, T) ids and mask of equal shape, got {tuple(replies.ids.shape)} "
                         f"and {tuple(replies.mask.shape)}")
    if context.batch_size != replies.ids.shape[0]:
        raise ValueError(f"context has {context.batch_size} rows but replies have {replies.ids.shape[0]}")


def last_position(mask: Tensor) -> Tensor:
    """(B, T) mask -> (B,) index of each row's last real token (0 for an empty row)."""
    return (mask.long().sum(-1) - 1).clamp(min=0)


def spread_sequence_reward(values: Tensor, mask: Tensor) -> Tensor:
    """(B,) sequence rewards -> (B, T): the same value on every real token."""
    return values.unsqueeze(-1).to(torch.float32) * mask.to(torch.float32)
