"""The KL leash to a frozen reference policy (usually the MLE generator), as in RLHF: the generator maximises
``E[reward] - beta * KL(pi || pi_ref)``, which keeps it where its likelihood of human replies is still good and
stops it from drifting into the discriminator's blind spots (brevity, repeated safe phrases).

Per token, ``kl_t = log pi(x_t | x_<t, c) - log pi_ref(x_t | x_<t, c)`` on the policy's own samples (an unbiased
estimate of the per-token KL; the sampler's log-probabilities, so at its temperature). Token t's action also
decides which later tokens are drawn, so in the policy gradient it is charged the KL still to come,
``sum_{s >= t} kl_s`` (:func:`kl_to_go`). ``beta`` is fixed, or adapted to a target KL per token
(:class:`KLController`, Ziegler et al. 2019).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def token_kl(logprobs: Tensor, ref_logprobs: Tensor, mask: Tensor) -> Tensor:
    """(B, T) per-token ``log pi - log pi_ref`` on real tokens, 0 elsewhere."""
    return (logprobs - ref_logprobs) * mask.to(logprobs.dtype)


def kl_to_go(kl: Tensor, mask: Tensor) -> Tensor:
    """(B, T) per-token KL -> (B, T) the KL from each token to the reply's end, ``sum_{s >= t} kl_s`` (0 off the
    mask)."""
    m = mask.to(kl.dtype)
    return (kl * m).flip(1).cumsum(1).flip(1) * m


def mean_token_kl(kl: Tensor, mask: Tensor) -> float:
    """Mean of the per-token KL over the real tokens of a batch."""
    m = mask.to(kl.dtype)
    return float((kl * m).sum() / m.sum().clamp(min=1))


class KLController:
    """The KL coefficient beta: fixed (``target`` 0), or adapted after each step towards a per-token KL of
    ``target`` nats: ``beta <- beta * (1 + clip(kl / target - 1, -0.2, 0.2) / horizon)`` (Ziegler et al. 2019's
    proportional controller; ``horizon`` G steps set its speed). Resumable through :meth:`state_dict`."""

    def __init__(self, beta: float, target: float = 0.0, horizon: float = 10.0) -> None:
        if beta < 0 or target < 0 or horizon <= 0:
            raise ValueError(f"KL controller: expected beta >= 0, target >= 0, horizon > 0, got {beta}, {target}, "
                             f"{horizon}")
        self.beta, self.target, self.horizon = float(beta), float(target), float(horizon)

    @property
    def active(self) -> bool:
        return self.beta > 0 or self.target > 0

    def update(self, kl: float) -> None:
        """Adapt beta to the last step's mean per-token KL (no-op when fixed)."""
        if self.target <= 0 or not math.isfinite(kl):
            return
        error = min(max(kl / self.target - 1.0, -0.2), 0.2)
        self.beta = max(self.beta * (1.0 + error / self.horizon), 1e-6)

    def state_dict(self) -> dict[str, Tensor]:
        return {"beta": torch.tensor(self.beta, dtype=torch.float64)}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if "beta" in state:
            self.beta = float(state["beta"])
