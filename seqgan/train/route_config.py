"""The ``adversarial`` section's keys that choose how G learns from D (the route) and configure the relaxed routes.

``route``: ``policy_gradient`` (default: REINFORCE with rewards from D), ``gumbel`` (G decodes with
Gumbel-softmax vectors, soft or straight-through, and D's gradient flows into G) or ``continuous`` (G feeds D its
plain softmax vectors). :class:`~seqgan.train.adversarial_core.AdversarialConfig` inherits these fields, so they
are set as ``adversarial.route=gumbel`` etc.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqgan.config import field
from seqgan.errors import ConfigError
from seqgan.objectives.relaxed_gan import MITIGATIONS
from seqgan.objectives.temperature import TemperatureSchedule

ROUTES = ("policy_gradient", "gumbel", "continuous")
CRITICS = ("gan", "wgan_gp")
G_LOSSES = ("non_saturating", "minimax")


@dataclass
class RouteConfig:
    """How G is trained through D (fields of the ``adversarial`` section)."""

    route: str = field("policy_gradient", help="policy_gradient (REINFORCE) | gumbel (Gumbel-softmax through D) | "
                                               "continuous (softmax vectors through D)")
    gumbel_mode: str = field("soft", help="route gumbel: soft (D reads the soft sample) | st (straight-through: "
                                          "exact one-hot forward, soft gradient)")
    tau_schedule: str = field("constant", help="temperature schedule of the relaxed routes: constant | linear | "
                                               "exponential | relgan_exp | relgan_linear | relgan_sigmoid")
    tau_start: float = field(1.0, help="temperature at the first G step (constant/linear/exponential)")
    tau_end: float = field(0.1, help="temperature after the last G step (linear/exponential)")
    beta_max: float = field(100.0, help="relgan_* schedules: the inverse temperature rises from 1 to beta_max")
    tau_steps: int = field(0, help="N, the G steps over which the schedule runs; 0 = the run's rounds x g_steps")
    critic: str = field("gan", help="relaxed routes: gan (three-term BCE D loss) | wgan_gp (Wasserstein critic "
                                    "with gradient penalty; set d_steps to several critic steps per round)")
    g_loss: str = field("non_saturating", help="critic gan: G's loss non_saturating (-log D) | minimax (log(1-D))")
    gp_weight: float = field(10.0, help="wgan_gp: weight of the gradient penalty")
    critic_mismatch_weight: float = field(0.5, help="wgan_gp: weight of the mismatched-context term (0 drops it)")
    mitigation: str = field("none", help="relaxed routes, what D reads: none (G's vectors as they are) | "
                                         "straight_through (hard one-hot samples of G's vectors, soft gradient)")
    cheat_score: bool = field(True, help="relaxed routes: log the cheating score (AUC of a max-prob/entropy "
                                         "classifier on D's real vs fake inputs) every D step")

    @property
    def relaxed(self) -> bool:
        return self.route != "policy_gradient"

    def schedule(self, where: str = "adversarial") -> TemperatureSchedule:
        """The temperature schedule; N = ``tau_steps`` or rounds x g_steps of this config."""
        steps = self.tau_steps or max(getattr(self, "rounds", 1) * getattr(self, "g_steps", 1), 1)
        return TemperatureSchedule(self.tau_schedule, self.tau_start, self.tau_end, self.beta_max, steps, where)

    def validate_route(self) -> None:
        """Raise :class:`ConfigError` on unknown choices or combinations the policy-gradient route ignores."""
        for name, options in (("route", ROUTES), ("critic", CRITICS), ("g_loss", G_LOSSES),
                              ("mitigation", MITIGATIONS), ("gumbel_mode", ("soft", "st"))):
            if getattr(self, name) not in options:
                raise ConfigError(f"adversarial.{name}: expected one of {list(options)}, got {getattr(self, name)!r}")
        if self.tau_steps < 0:
            raise ConfigError(f"adversarial.tau_steps: expected >= 0, got {self.tau_steps}")
        if self.gp_weight < 0 or self.critic_mismatch_weight < 0:
            raise ConfigError("adversarial.gp_weight / critic_mismatch_weight: expected values >= 0")
        self.schedule()
        if not self.relaxed and (self.critic != "gan" or self.mitigation != "none"):
            raise ConfigError(f"adversarial.critic={self.critic} / mitigation={self.mitigation}: only the relaxed "
                              "routes use them; set adversarial.route to gumbel or continuous")
