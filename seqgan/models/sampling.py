"""Fast categorical sampling from logits, shared by every policy (seq2seq and LSTM).

``torch.multinomial`` is slow on CPU (about 60x slower than the inverse CDF for 1,024 rows x 5,000 tokens), so tokens
are drawn by inverse transform sampling: ``u ~ U(0, sum(w))`` and the first index whose cumulative weight exceeds
``u``. A full-vocabulary ``cumsum`` is itself slow on CPU (it is sequential along the row), so for large vocabularies
the search runs in two levels: the vocabulary is cut into blocks of about ``sqrt(V)`` tokens, a block is chosen from
the cumulative block sums (a fast vectorised reduction), then a token inside that block from the cumulative weights
of that block only. The distribution is the same as one flat inverse CDF. Draws use the global torch RNG, so
``torch.manual_seed`` makes them reproducible.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# u is kept strictly below the total weight, so the search never runs past the last token of positive weight
_BELOW_ONE = 1.0 - 2.0**-22


def _search(cdf: Tensor, frac: Tensor) -> Tensor:
    """Index of the first entry of ``cdf`` (..., V) greater than ``frac * cdf[..., -1]``; frac (..., k) in [0, 1)."""
    u = frac.clamp(max=_BELOW_ONE) * cdf[..., -1:]
    return torch.searchsorted(cdf, u, right=True).clamp_(max=cdf.shape[-1] - 1)


def _block_size(v: int) -> int:
    """About sqrt(V), preferring a divisor of V (no padding copy)."""
    root = max(16, math.isqrt(v))
    for bs in range(root, max(16, root // 2) - 1, -1):
        if v % bs == 0:
            return bs
    return root


def inverse_cdf_sample(weights: Tensor, num_samples: int = 1, block_size: int | None = None) -> Tensor:
    """Draw ``num_samples`` indices per row of non-negative ``weights`` (N, V), independently, with replacement.

    Rows need not be normalised. Tokens of weight 0 are never drawn. ``block_size`` (default about sqrt(V)) sets the
    two-level search; vocabularies under ``4 * block_size`` use one flat cumulative sum. Returns (N, num_samples).
    """
    if weights.dim() != 2:
        raise ValueError(f"weights must be (N, V), got shape {tuple(weights.shape)}")
    n, v = weights.shape
    w = weights.float()
    frac = torch.rand(n, num_samples, device=w.device)  # (N, k)
    bs = block_size or _block_size(v)
    if v < 4 * bs:
        return _search(w.cumsum(-1), frac)
    nb = -(-v // bs)
    blocks = (F.pad(w, (0, nb * bs - v)) if nb * bs > v else w).view(n, nb, bs)  # (N, nb, bs), zero weight past V
    block_cdf = blocks.sum(-1).cumsum(-1)  # (N, nb)
    chosen = _search(block_cdf, frac)  # (N, k)
    below = torch.where(chosen > 0, block_cdf.gather(1, (chosen - 1).clamp(min=0)), torch.zeros_like(frac))
    mass = block_cdf.gather(1, chosen) - below  # (N, k) weight of the chosen block
    inner = frac.clamp(max=_BELOW_ONE) * block_cdf[:, -1:] - below  # position of u inside the chosen block
    inner_frac = (inner / mass).clamp(min=0.0)  # (N, k)
    rows = torch.arange(n, device=w.device)[:, None]
    in_block = blocks[rows, chosen].cumsum(-1)  # (N, k, bs)
    offset = _search(in_block, inner_frac.unsqueeze(-1)).squeeze(-1)  # (N, k)
    return chosen * bs + offset


def sample_logits(
    logits: Tensor, temperature: float = 1.0, greedy: bool = False, num_samples: int = 1
) -> tuple[Tensor, Tensor]:
    """Sample tokens from unnormalised ``logits`` (N, V) at ``temperature`` (or take the argmax when ``greedy``).

    Returns ``(tokens, logprobs)``, both (N, num_samples): the drawn ids and their log-probability under the
    distribution actually sampled, ``log_softmax(logits / temperature)`` (under ``temperature`` as well when greedy).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    scaled = logits.float() if temperature == 1.0 else logits.float() / temperature  # (N, V)
    if greedy:
        tokens = scaled.argmax(-1, keepdim=True).expand(-1, num_samples)  # (N, k)
        return tokens, scaled.gather(-1, tokens) - scaled.logsumexp(-1, keepdim=True)
    probs = torch.softmax(scaled, dim=-1)  # (N, V)
    tokens = inverse_cdf_sample(probs, num_samples)  # (N, k)
    return tokens, probs.gather(-1, tokens).log()
