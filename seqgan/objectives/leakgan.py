"""LeakGAN's two losses (Guo et al. 2018; :mod:`seqgan.models.leakgan` has the generator).

With leaked features f (B, T + 1, F) (f_t: the prefix of t tokens), goals g (B, T, F) (g_t: emitted before token
t) and step size c:

- MANAGER: ``L_M = -mean_t Q_t * cos(f_{t+c} - f_t, g_t)`` over the t with t + c <= T: the goal should point where
  D's features go in the next c tokens, the more so the better the outcome was (Q_t: the value of the sequence after
  those tokens; Q = 1 in pretraining on human data).
- WORKER: the intrinsic reward of token t, which takes the features from f_t to f_{t+1},
  ``r^I_t = 1/c sum_{i=1..c} cos(f_{t+1} - f_{t+1-i}, g_{t+1-i})`` (terms with t + 1 - i < 0 are 0), and
  ``L_W = -mean_t r^I_t log p(x_t | x_<t)`` (REINFORCE with the intrinsic reward; pretraining uses MLE instead).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def manager_loss(goals: Tensor, feats: Tensor, step: int, values: Tensor | None = None) -> Tensor:
    """Scalar L_M. goals (B, T, F) with gradient; feats (B, T + 1, F) constants; values (B, T) Q_t or None (1)."""
    T = goals.shape[1]
    span = T + 1 - step  # goals g_0 .. g_{T-c} have a target f_{t+c}
    if span < 1:
        raise ValueError(f"step size {step} exceeds the sequence length {T}")
    direction = feats[:, step:step + span] - feats[:, :span]  # (B, span, F): f_{t+c} - f_t
    cos = F.cosine_similarity(direction.detach(), goals[:, :span], dim=-1)  # (B, span)
    weight = 1.0 if values is None else values[:, :span].detach()
    return -(weight * cos).mean()


@torch.no_grad()
def intrinsic_reward(goals: Tensor, feats: Tensor, step: int) -> Tensor:
    """(B, T) worker reward r^I of every token (see the module docstring); no gradient."""
    B, T, _ = goals.shape
    reward = goals.new_zeros(B, T)
    for i in range(1, step + 1):
        if i > T:
            break
        moved = feats[:, i:T + 1] - feats[:, :T + 1 - i]  # (B, T + 1 - i): f_{t+1} - f_{t+1-i}, t = i-1 .. T-1
        reward[:, i - 1:] += F.cosine_similarity(moved, goals[:, :T + 1 - i], dim=-1)
    return reward / step


def worker_loss(logp: Tensor, reward: Tensor) -> Tensor:
    """Scalar L_W from per-token log-probabilities (B, T) with gradient and intrinsic rewards (B, T)."""
    return -(reward.detach() * logp).mean()
