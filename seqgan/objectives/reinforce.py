"""REINFORCE (policy gradient) loss for the generator, with an optional entropy bonus.

``loss = - sum_{b,t} A[b,t] * log p(x_t | x_<t, c) * m[b,t] / sum_{b,t} m[b,t]``: the mean over the batch's real
tokens (not per reply), so long and short replies weigh each token equally and the scale does not depend on the
batch size. Its gradient is the REINFORCE estimator of the gradient of the expected per-token reward.
"""

from __future__ import annotations

import torch
from torch import Tensor


def reinforce_loss(logp: Tensor, advantages: Tensor, mask: Tensor, entropy: Tensor | None = None,
                   entropy_weight: float = 0.0) -> Tensor:
    """Scalar policy-gradient loss.

    logp:       (B, T) log-probabilities of the sampled tokens, with grad (``policy.score``).
    advantages: (B, T) rewards minus baseline, treated as constants (detached here).
    mask:       (B, T) 1 on real tokens.
    entropy:    optional (B, T) per-token entropy with grad; ``entropy_weight * mean entropy`` is subtracted.
    """
    if logp.shape != advantages.shape or logp.shape != mask.shape:
        raise ValueError(f"shapes differ: logp {tuple(logp.shape)}, advantages {tuple(advantages.shape)}, "
                         f"mask {tuple(mask.shape)}")
    m = mask.to(logp.dtype)
    count = m.sum().clamp(min=1)
    loss = -(logp * advantages.detach().to(logp.dtype) * m).sum() / count
    if entropy is not None and entropy_weight:
        loss = loss - entropy_weight * (entropy * m).sum() / count
    return loss


def token_entropy(logits: Tensor) -> Tensor:
    """(B, T, V) logits -> (B, T) entropy of each next-token distribution, with grad."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)
