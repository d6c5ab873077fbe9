"""Prefix reward: D scores every prefix of the reply in one pass ("rewards for every generation step", Li et al.
2017). No sampling at all, so it costs about as much as the sequence reward, but it relies on D having learned to
judge partial replies (D is trained on full replies; its prefix logits come from causal pooling)."""

from __future__ import annotations

from torch import Tensor

from seqgan.models.policy import Context, Replies
from seqgan.rewards.base import Reward, Scorer, check_replies


class PrefixReward(Reward):
    """``r[b, i] = D(c_b, x_b[:i+1])`` from ``disc.prefix_reward`` (B, T), zeroed past each reply's end."""

    name = "prefix"

    def __init__(self, disc: Scorer) -> None:
        self.disc = disc

    def __call__(self, context: Context, replies: Replies) -> Tensor:
        check_replies(context, replies)
        values = self.disc.prefix_reward(context, replies.ids, replies.mask)  # (B, T)
        if values.shape != replies.ids.shape:
            raise ValueError(f"prefix_reward returned {tuple(values.shape)}, expected {tuple(replies.ids.shape)}")
        return values.float() * replies.mask.float()
