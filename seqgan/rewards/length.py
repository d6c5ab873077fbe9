"""Length-neutral rewards: a discriminator's score usually depends on the reply's length (a weak generator's short
replies hold fewer mistakes, so D finds them more human), and policy gradient learns that dependence first: the
replies shrink while nothing else improves. :func:`remove_length_trend` takes the batch's linear trend of the reward
over reply length out, so G is rewarded for what D says beyond length alone.
"""

from __future__ import annotations

import torch
from torch import Tensor


def remove_length_trend(rewards: Tensor, mask: Tensor) -> tuple[Tensor, float]:
    """(N, T) per-token rewards of N replies -> (rewards with each reply's tokens shifted by ``-slope x (L_i -
    mean L)``, slope), ``slope`` the least-squares slope of the replies' values (the reward at their last real
    token) on their lengths L_i. The batch's mean reward is unchanged; with one length in the batch nothing is."""
    m = mask.to(rewards.dtype)
    lengths = m.sum(1)  # (N,)
    values = rewards.gather(1, (lengths.long() - 1).clamp(min=0).unsqueeze(1)).squeeze(1)  # (N,)
    centred = lengths - lengths.mean()
    var = (centred ** 2).mean()
    if float(var) < 1e-12:
        return rewards, 0.0
    slope = (centred * (values - values.mean())).mean() / var
    return rewards - (slope * centred).unsqueeze(1) * m, float(slope)
