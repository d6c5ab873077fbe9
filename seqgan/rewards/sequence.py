"""Sequence reward: D(c, x) of the whole reply credited to every token (REINFORCE with one terminal reward)."""

from __future__ import annotations

from torch import Tensor

from seqgan.models.policy import Context, Replies
from seqgan.rewards.base import Reward, Scorer, check_replies, spread_sequence_reward


class SequenceReward(Reward):
    """``r[b, t] = D(c_b, x_b)`` for every real token t: one discriminator call per reply, the cheapest reward and
    the noisiest credit assignment (every token of a reply shares its fate)."""

    name = "sequence"

    def __init__(self, disc: Scorer) -> None:
        self.disc = disc

    def __call__(self, context: Context, replies: Replies) -> Tensor:
        check_replies(context, replies)
        values = self.disc.reward(context, replies.ids, replies.mask)  # (B,)
        return spread_sequence_reward(values, replies.mask)
