"""Metrics of the synthetic-oracle benchmark (SeqGAN, Yu et al. 2017).

- ``nll_oracle``: mean per-token NLL that the oracle assigns to the model's samples (lower = samples the oracle
  finds likely; a mode-collapsed model can score well here).
- ``nll_test``: mean per-token NLL of the model on held-out oracle samples (exposes mode collapse / lost coverage).
- ``oracle_entropy``: the oracle's per-token entropy estimate, NLL-oracle of its own samples (the floor a perfect
  model reaches on NLL-oracle and NLL-test alike).

Both model metrics take a sampling ``temperature``: the model is then the distribution ``softmax(logits / t)`` at
every step, sampled for NLL-oracle and scored for NLL-test (Caccia et al., ICLR 2020: MLE's temperature curve is the
baseline a GAN's (NLL-test, NLL-oracle) point must beat; see :mod:`seqgan.oracle.frontier`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqgan.models.lstm import LSTMPolicy
from seqgan.models.policy import Context, Policy, eval_mode


@torch.no_grad()
def mean_nll(policy: Policy, ids: Tensor, batch_size: int = 1000, temperature: float = 1.0) -> float:
    """Mean per-token NLL of (N, T) fixed-length sequences under ``policy`` (eval mode).

    With ``temperature`` != 1 the sequences are scored under ``log_softmax(logits / temperature)``, which needs a
    teacher-forced ``policy.logits(ids)`` (B, T, V) such as :class:`LSTMPolicy` has.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if temperature != 1.0 and not hasattr(policy, "logits"):
        raise TypeError(f"{type(policy).__name__} has no logits(ids): cannot score at temperature {temperature}")
    total, count = 0.0, 0
    with eval_mode(policy):
        for start in range(0, ids.shape[0], batch_size):
            chunk = ids[start:start + batch_size]  # (b, T)
            if temperature == 1.0:
                logp = policy.score(Context.empty(chunk.shape[0]), chunk, torch.ones_like(chunk))  # (b, T)
            else:
                scaled = torch.log_softmax(policy.logits(chunk).float() / temperature, dim=-1)  # (b, T, V)
                logp = scaled.gather(-1, chunk.unsqueeze(-1)).squeeze(-1)
            total += float(-logp.sum())
            count += chunk.numel()
    return total / max(count, 1)


@torch.no_grad()
def nll_oracle(oracle: LSTMPolicy, model: Policy, n_samples: int = 10_000, batch_size: int = 1000,
               temperature: float = 1.0) -> float:
    """Mean per-token NLL under ``oracle`` of ``n_samples`` sequences sampled from ``model`` at ``temperature``."""
    with eval_mode(model):
        samples = torch.cat([model.sample(Context.empty(min(batch_size, n_samples - i)), temperature=temperature).ids
                             for i in range(0, n_samples, batch_size)])
    return mean_nll(oracle, samples, batch_size)


def nll_test(model: Policy, test_ids: Tensor, batch_size: int = 1000, temperature: float = 1.0) -> float:
    """Mean per-token NLL of ``model`` (sampled at ``temperature``) on held-out oracle samples (N, T)."""
    return mean_nll(model, test_ids, batch_size, temperature)


def oracle_entropy(oracle: LSTMPolicy, n_samples: int = 10_000, batch_size: int = 1000) -> float:
    """Monte Carlo estimate of the oracle's per-token entropy: NLL-oracle of its own samples."""
    return nll_oracle(oracle, oracle, n_samples, batch_size)
