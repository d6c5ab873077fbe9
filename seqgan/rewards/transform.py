"""What the generator is rewarded with: D's probability, its log, or its logit.

- ``prob``: D(c, x) in (0, 1), SeqGAN's reward. It saturates: where D calls most of G's replies fake, the rewards
  bunch near 0 and their differences, the learning signal, vanish.
- ``log``: log D(c, x) in (-inf, 0), the non-saturating GAN objective's reward: a reply D finds 10x less human
  loses log 10 whatever the scale.
- ``logit``: log D - log(1 - D). For the optimal D against G, ``D = p_data / (p_data + p_G)``, so the logit is
  ``log p_data(x|c) - log p_G(x|c)``: maximising it with an entropy term is minimising KL(p_G || p_data), and with a
  KL leash of weight 1 to the reference G_ref that D was trained against, the optimum is p_data itself (the GAIL /
  discriminator-guided reading of a text GAN).

Probabilities are clipped to ``[eps, 1 - eps]`` first (``eps`` 1e-6: log and logit stay within about +-14).
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqgan.models.policy import Context
from seqgan.rewards.base import Scorer

REWARD_TRANSFORMS = ("prob", "log", "logit")


def transform_probability(p: Tensor, kind: str, eps: float = 1e-6) -> Tensor:
    """D's probabilities (any shape) -> the reward of ``kind`` (prob | log | logit), same shape, float32."""
    if kind == "prob":
        return p.float()
    p = p.double().clamp(eps, 1.0 - eps)
    if kind == "log":
        return p.log().float()
    if kind == "logit":
        return (p.log() - (-p).log1p()).float()
    raise ValueError(f"unknown reward transform {kind!r}; expected one of {list(REWARD_TRANSFORMS)}")


def inverse_transform(values: Tensor, kind: str) -> Tensor:
    """Transformed rewards -> D's probabilities (for logs: what D thinks of the replies, whatever the reward)."""
    if kind == "prob":
        return values.float()
    if kind == "log":
        return values.double().exp().float()
    if kind == "logit":
        return torch.sigmoid(values.double()).float()
    raise ValueError(f"unknown reward transform {kind!r}; expected one of {list(REWARD_TRANSFORMS)}")


class TransformedScorer:
    """A :class:`~seqgan.rewards.base.Scorer` whose scores are ``transform_probability(disc's score, kind)``, so
    every reward (sequence, Monte Carlo rollout, prefix) can use it unchanged; Monte Carlo values then average the
    transformed scores of the completions (the expected reward, as the reward's definition asks)."""

    def __init__(self, disc: Scorer, kind: str = "prob") -> None:
        if kind not in REWARD_TRANSFORMS:
            raise ValueError(f"unknown reward transform {kind!r}; expected one of {list(REWARD_TRANSFORMS)}")
        self.disc, self.kind = disc, kind
        if hasattr(disc, "reward_rows"):
            self.reward_rows = self._reward_rows

    def reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B,) transformed score of each reply."""
        return transform_probability(self.disc.reward(context, reply_ids, reply_mask), self.kind)

    def prefix_reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B, T) transformed score of every prefix, 0 past each reply's end."""
        values = self.disc.prefix_reward(context, reply_ids, reply_mask)
        return transform_probability(values, self.kind) * reply_mask.to(values.device).float()

    def _reward_rows(self, context: Context, rows: Tensor, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        return transform_probability(self.disc.reward_rows(context, rows, reply_ids, reply_mask), self.kind)
