"""LeakGAN's bootstrapped rescaled activation (Guo et al. 2018): rewards replaced by their rank in the batch.

For every time step t the B rewards of the batch are ranked (rank 1 = the lowest) and replaced by
``sigmoid(delta * (rank / B - 0.5))``: the scale and offset of D's output no longer matter, only the order, and
every batch has the same spread of rewards (a "bootstrapped" normalisation that keeps the gradient alive when D's
scores saturate). LeakGAN's code uses delta = 16 (``16 * idx / B - 8``).
"""

from __future__ import annotations

import torch
from torch import Tensor


def rank_rescale(rewards: Tensor, delta: float = 16.0) -> Tensor:
    """(B, T) rewards -> (B, T) in (0, 1): ``sigmoid(delta * (rank / B - 0.5))``, ranks 1..B per column (ties in
    index order)."""
    B = rewards.shape[0]
    ranks = rewards.argsort(dim=0, stable=True).argsort(dim=0, stable=True).to(rewards.dtype) + 1  # (B, T)
    return torch.sigmoid(delta * (ranks / B - 0.5))
