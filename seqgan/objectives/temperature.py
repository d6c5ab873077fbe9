"""Temperature schedules for the relaxed (Gumbel-softmax / continuous) routes: tau as a function of the G step.

========================  ======================================================================================
kind                      tau at G step i of N
========================  ======================================================================================
``constant``              ``tau_start``
``linear``                ``tau_start + (tau_end - tau_start) * f``
``exponential``           ``tau_start * (tau_end / tau_start) ** f``
``relgan_exp``            ``1 / beta``, ``beta = beta_max ** f`` (RelGAN: inverse temperature from 1 to beta_max)
``relgan_linear``         ``1 / beta``, ``beta = 1 + (beta_max - 1) * f``
``relgan_sigmoid``        ``1 / beta``, ``beta = 1 + (beta_max - 1) * sigmoid(20 * (f - 1/2))``
========================  ======================================================================================

with f = i / (N - 1) for the G steps i = 0 .. N - 1 (clamped), so the first G step uses the start value and the
last one exactly the nominal end value (``tau_end``, ``1 / beta_max``). **N follows the run**: by default the
number of G steps the run is configured to make (rounds x g_steps). RelGAN's reference code fixes N = 5000
inside its temperature function whatever the run length, so a shorter run never reaches the nominal
``beta_max`` (a 2,000-step run with the exponential form stops at ``beta_max ** 0.4``); set ``steps``
(``adversarial.tau_steps``) explicitly to reproduce that behaviour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from seqgan.errors import ConfigError

TAU_SCHEDULES = ("constant", "linear", "exponential", "relgan_exp", "relgan_linear", "relgan_sigmoid")


@dataclass(frozen=True)
class TemperatureSchedule:
    """tau(i) for i = 0 .. steps (see the module docstring); ``where`` names the config section in errors."""

    kind: str = "constant"
    tau_start: float = 1.0
    tau_end: float = 0.1
    beta_max: float = 100.0
    steps: int = 1
    where: str = "adversarial"

    def __post_init__(self) -> None:
        if self.kind not in TAU_SCHEDULES:
            raise ConfigError(f"{self.where}.tau_schedule: expected one of {list(TAU_SCHEDULES)}, got {self.kind!r}")
        if not (self.tau_start > 0 and self.tau_end > 0):
            raise ConfigError(f"{self.where}.tau_start / tau_end: expected temperatures > 0, got "
                              f"{self.tau_start} and {self.tau_end}")
        if self.beta_max < 1:
            raise ConfigError(f"{self.where}.beta_max: expected an inverse temperature >= 1, got {self.beta_max}")
        if self.steps < 1:
            raise ConfigError(f"{self.where}.tau_steps: expected >= 1 schedule steps, got {self.steps}")

    def beta(self, step: int) -> float:
        """Inverse temperature 1 / tau at ``step``."""
        return 1.0 / self.tau(step)

    def tau(self, step: int) -> float:
        """Temperature at G step ``step`` (0-based, clamped to [0, steps - 1])."""
        frac = min(max(step, 0), self.steps - 1) / (self.steps - 1) if self.steps > 1 else 0.0
        if self.kind == "constant":
            return self.tau_start
        if self.kind == "linear":
            return self.tau_start + (self.tau_end - self.tau_start) * frac
        if self.kind == "exponential":
            return self.tau_start * (self.tau_end / self.tau_start) ** frac
        if self.kind == "relgan_exp":
            beta = self.beta_max ** frac
        elif self.kind == "relgan_linear":
            beta = 1.0 + (self.beta_max - 1.0) * frac
        else:  # relgan_sigmoid
            beta = 1.0 + (self.beta_max - 1.0) / (1.0 + math.exp(-20.0 * (frac - 0.5)))
        return 1.0 / beta
