"""MaliGAN's reward (Che et al. 2017, "Maximum-Likelihood Augmented Discrete Generative Adversarial Networks").

With an optimal D, ``r_D(x) = D(x) / (1 - D(x))`` equals ``p_data(x) / p_G(x)``, so weighting G's own samples by it
turns the policy gradient into a gradient of the likelihood of the data. MaliGAN draws K samples, normalises the
weights over them, ``w_i = r_D(x_i) / sum_j r_D(x_j)`` (self-normalised importance sampling), and subtracts the
baseline ``b = 1 / K`` (the mean weight), so

    grad ~ sum_i (w_i - 1/K) * grad log p_G(x_i).

``r_D = exp(logit D)``, so the normalised weights are a softmax of D's logits over the K samples; that is how they
are computed here (no overflow where D is confident). Every token of a sample gets its sample's ``w_i - 1/K``.

Groups: ``group_size`` K consecutive rows share one normalisation (the replies sampled for one context, rows
``g*K .. g*K+K-1``); ``None`` normalises over the whole batch, which is the unconditional MaliGAN (the oracle task,
K = the batch size).
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqgan.models.policy import Context, Replies
from seqgan.rewards.base import Reward, Scorer, check_replies, spread_sequence_reward

_EPS = 1e-7


def maligan_weights(log_ratio: Tensor, group_size: int | None = None) -> Tensor:
    """(B,) log r_D per sample -> (B,) normalised weights ``r_i / sum_j r_j`` within each group of ``group_size``
    consecutive rows (the whole batch when None). Each group's weights sum to 1."""
    B = log_ratio.shape[0]
    k = B if group_size is None else int(group_size)
    if k < 1 or B % k:
        raise ValueError(f"MaliGAN: {B} samples do not split into groups of {k}")
    return torch.softmax(log_ratio.float().view(B // k, k), dim=-1).view(B)


class MaliGANReward(Reward):
    """Per-token reward ``w_i - 1/K`` (or ``w_i`` without the baseline) of every sample, from D's probabilities.

    ``disc``: a :class:`~seqgan.rewards.base.Scorer` (``reward`` gives D(c, x) in (0, 1)); ``log r_D`` is taken as
    ``log D - log(1 - D)`` of it, clamped away from 0 and 1. ``last_weights`` keeps the weights of the last call.
    """

    name = "maligan"

    def __init__(self, disc: Scorer, group_size: int | None = None, baseline: bool = True) -> None:
        if group_size is not None and group_size < 1:
            raise ValueError(f"MaliGAN: group size must be >= 1, got {group_size}")
        self.disc, self.group_size, self.baseline = disc, group_size, bool(baseline)
        self.last_weights: Tensor | None = None
        self.last_timing: dict[str, float] = {"rollout_s": 0.0, "disc_s": 0.0}

    @torch.no_grad()
    def __call__(self, context: Context, replies: Replies) -> Tensor:
        check_replies(context, replies)
        p = self.disc.reward(context, replies.ids, replies.mask).float().clamp(_EPS, 1.0 - _EPS)  # (B,)
        weights = maligan_weights(torch.log(p) - torch.log1p(-p), self.group_size)  # (B,)
        self.last_weights = weights
        k = weights.shape[0] if self.group_size is None else self.group_size
        values = weights - 1.0 / k if self.baseline else weights
        return spread_sequence_reward(values, replies.mask)
