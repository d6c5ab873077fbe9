"""The ``adversarial`` section: :class:`AdversarialConfig` (rounds, steps, reward, baseline, learning rates ...)
and the keys it inherits from :class:`RouteConfig`, which choose how G learns from D (the route) and configure the
relaxed routes.

``route``: ``policy_gradient`` (default: REINFORCE with rewards from D), ``gumbel`` (G decodes with
Gumbel-softmax vectors, soft or straight-through, and D's gradient flows into G) or ``continuous`` (G feeds D its
plain softmax vectors); set as ``adversarial.route=gumbel`` etc.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqgan.config import check_fields, field
from seqgan.errors import ConfigError
from seqgan.objectives.relaxed_gan import MITIGATIONS
from seqgan.objectives.temperature import TemperatureSchedule
from seqgan.rewards import ADVANTAGE_NORMS, BASELINES, REWARD_TRANSFORMS, REWARDS

ROUTES = ("policy_gradient", "gumbel", "continuous")
ESTIMATORS = ("reinforce", "best_of_group")
CRITICS = ("gan", "wgan_gp")
G_LOSSES = ("non_saturating", "minimax")


@dataclass
class RouteConfig:
    """How G is trained through D (fields of the ``adversarial`` section)."""

    route: str = field("policy_gradient", choices=ROUTES, help="policy_gradient (REINFORCE) | gumbel (Gumbel-softmax "
                                                               "through D) | continuous (softmax vectors through D)")
    gumbel_mode: str = field("soft", choices=("soft", "st"), help="route gumbel: soft (D reads the soft sample) | st "
                                                                  "(straight-through: exact one-hot forward, soft "
                                                                  "gradient)")
    tau_schedule: str = field("constant", help="temperature schedule of the relaxed routes: constant | linear | "
                                               "exponential | relgan_exp | relgan_linear | relgan_sigmoid")
    tau_start: float = field(1.0, help="temperature at the first G step (constant/linear/exponential)")
    tau_end: float = field(0.1, help="temperature after the last G step (linear/exponential)")
    beta_max: float = field(100.0, help="relgan_* schedules: the inverse temperature rises from 1 to beta_max")
    tau_steps: int = field(0, ge=0, help="N, the G steps over which the schedule runs; 0 = the run's rounds x g_steps")
    critic: str = field("gan", choices=CRITICS, help="relaxed routes: gan (three-term BCE D loss) | wgan_gp "
                                                     "(Wasserstein critic with gradient penalty; set d_steps to "
                                                     "several critic steps per round)")
    g_loss: str = field("non_saturating", choices=G_LOSSES, help="critic gan: G's loss non_saturating (-log D) | "
                                                                 "minimax (log(1-D))")
    gp_weight: float = field(10.0, ge=0, help="wgan_gp: weight of the gradient penalty")
    critic_mismatch_weight: float = field(0.5, ge=0, help="wgan_gp: weight of the mismatched-context term (0 drops it)")
    mitigation: str = field("none", choices=MITIGATIONS, help="relaxed routes, what D reads: none (G's vectors as "
                                                              "they are) | straight_through (hard one-hot samples of "
                                                              "G's vectors, soft gradient)")
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
        check_fields(self, "adversarial")
        self.schedule()
        if not self.relaxed and (self.critic != "gan" or self.mitigation != "none"):
            raise ConfigError(f"adversarial.critic={self.critic} / mitigation={self.mitigation}: only the relaxed "
                              "routes use them; set adversarial.route to gumbel or continuous")


@dataclass
class AdversarialConfig(RouteConfig):
    """Adversarial fine-tuning of the generator against the discriminator (section ``adversarial``); the route
    keys (``route``, ``gumbel_mode``, ``tau_schedule``, ``critic``, ``mitigation`` ...) come from
    :class:`RouteConfig`."""

    rounds: int = field(30, ge=0, help="number of rounds; each = d_steps D updates then g_steps G updates")
    d_steps: int = field(1, ge=0, help="k: discriminator updates per round (G fixed, fresh G samples each)")
    g_steps: int = field(1, ge=0, help="g: generator policy-gradient updates per round (D fixed)")
    reward: str = field("rollout", choices=REWARDS, help="per-token reward: sequence | rollout (Monte Carlo) | prefix "
                                                         "(D on prefixes) | maligan (MaliGAN: D/(1-D) normalised over "
                                                         "each context's group_size replies, or the batch, minus 1/K; "
                                                         "use with baseline none and reward_transform prob)")
    reward_transform: str = field("prob", choices=REWARD_TRANSFORMS, help="what D's score becomes as a reward: prob "
                                                                          "(D, saturates) | log (log D) | logit "
                                                                          "(log D - log(1 - D), unbounded; "
                                                                          "docs/adversarial.md)")
    length_neutral: bool = field(False, help="take the batch's linear trend of the reward over reply length out of "
                                             "the rewards: G is rewarded for what D says beyond length (a weak G's "
                                             "short replies look more human to D, and G learns brevity first)")
    estimator: str = field("reinforce", choices=ESTIMATORS, help="reinforce (the policy gradient with the baseline "
                                                                "below) | best_of_group (maximum likelihood on the "
                                                                "best of each context's K replies by reward minus "
                                                                "kl_coef x its KL: reward-ranked fine-tuning, which "
                                                                "only raises what D prefers and never pushes "
                                                                "probability into replies D has not seen)")
    group_size: int = field(1, ge=1, help="K: replies sampled per context in each G step (the G batch is "
                                          "batch_size x K); K >= 2 enables the group baseline")
    rollout_n: int = field(8, ge=1, help="Monte Carlo rollouts per prefix (reward=rollout)")
    rollout_rate: float = field(0.8, ge=0, lt=1, help="rollout policy = lagging copy updated as rate*roll + "
                                                      "(1-rate)*G; 0 = the current generator")
    rollout_chunk: int = field(4096, ge=1, help="completions scored by D per call (bounds memory)")
    baseline: str = field("moving_average", choices=BASELINES, help="none | moving_average | length_moving_average "
                                                                    "(one moving average per reply length) | "
                                                                    "batch_mean | self_critic | group (leave-one-out "
                                                                    "mean of the other K-1 replies to the same "
                                                                    "context, RLOO) | prefix_value (Q_t - V(prefix) "
                                                                    "from the reward's own per-prefix values; "
                                                                    "rollout / prefix rewards)")
    baseline_decay: float = field(0.9, ge=0, lt=1, help="decay of the moving-average baseline (and running_std)")
    advantage_norm: str = field("std", choices=ADVANTAGE_NORMS, help="none | std (divide by the batch std, keep the "
                                                                     "baseline) | running_std | whiten (subtract the "
                                                                     "batch mean too: replaces the baseline)")
    kl_coef: float = field(0.0, ge=0, help="beta of the KL leash to the frozen MLE generator: each token is charged "
                                           "beta x (log pi - log pi_ref) summed to the reply's end, in reward units "
                                           "(0 = off; with the logit reward of a D trained against that generator, "
                                           "beta 1 makes the human distribution the optimum)")
    kl_target: float = field(0.0, ge=0, help="adapt kl_coef towards this mean per-token KL in nats (0 = fixed coef)")
    kl_horizon: float = field(10.0, gt=0, help="G steps over which the adaptive coefficient moves by up to 20 %")
    entropy_weight: float = field(0.0, help="entropy bonus weight in the generator loss")
    teacher_forcing_every: int = field(1, ge=0, help="an MLE step on human pairs after every N-th PG step (0 = never)")
    teacher_forcing_weight: float = field(1.0, help="weight of the teacher-forcing MLE loss")
    g_lr: float = field(5e-5, gt=0, help="generator learning rate (Adam)")
    d_lr: float = field(1e-4, gt=0, help="discriminator learning rate (Adam)")
    d_replay: int = field(0, ge=0, help="D steps read G's replies from a buffer of the last N G steps' samples "
                                        "(what G produces now, no extra sampling); 0 = fresh samples each D step")
    batch_size: int = field(32, ge=1, help="pairs per D step and per G step")
    temperature: float = field(1.0, gt=0, help="sampling temperature of G's replies and rollouts")
    max_grad_norm: float = field(1.0, ge=0, help="gradient clipping for G and D (0 = off)")
    mixed_precision: str | None = field(None, choices=("no", "fp16", "bf16"),
                                        help="no | fp16 (autocast + gradient scaler; a GPU) | bf16 (autocast); unset "
                                             "(null) = the launcher's (accelerate launch --mixed_precision), else no")
    eval_every: int = field(5, ge=0, help="measure G's NLL on held-out human replies every N rounds (0 = only at the "
                                          "end)")
    eval_pairs: int = field(256, ge=1, help="held-out pairs used for that NLL")
    save_every: int = field(10, ge=0, help="write a resumable checkpoint every N rounds (0 = only at the end)")
    save_total_limit: int = field(0, ge=0, help="also keep each checkpoint as checkpoints/round-NNNNNN/ (resume one "
                                                "with --resume PATH), the newest N of them; 0 = only "
                                                "checkpoints/adversarial/")
    best_metric: str = field("", help="save G of the best round by this metric as generator_best/ ('' = off): "
                                      "valid_nll (held-out NLL, every eval_every rounds), d_reward (D's probability "
                                      "of G's replies), judge_auc (when rounds log it) or any round metric")
    greater_is_better: bool | None = field(None, help="whether a higher best_metric is better (default: lower for "
                                                      "names with nll / loss / ppl, higher for the others)")

    @staticmethod
    def upgrade_keys(data: dict) -> dict:
        """Configs saved before ``advantage_norm`` said ``normalise: true | false`` (whiten | none)."""
        if "normalise" in data:
            data.setdefault("advantage_norm", "whiten" if data.pop("normalise") else "none")
        return data

    def validate(self) -> None:
        self.validate_route()
        if self.baseline == "group" and self.group_size < 2:
            raise ConfigError(f"adversarial.baseline: group needs adversarial.group_size >= 2 replies per context, "
                              f"got {self.group_size}")
        if self.estimator == "best_of_group" and self.group_size < 2:
            raise ConfigError(f"adversarial.estimator: best_of_group needs adversarial.group_size >= 2 replies per "
                              f"context, got {self.group_size}")
        if self.baseline == "prefix_value" and self.reward == "sequence":
            raise ConfigError("adversarial.baseline: prefix_value needs per-prefix values (reward rollout or "
                              "prefix); with reward sequence use group or moving_average")
        if self.reward == "maligan" and self.reward_transform != "prob":
            raise ConfigError(f"adversarial.reward_transform: maligan weights samples by D / (1 - D) of D's "
                              f"probability; use prob, got {self.reward_transform!r}")
        if self.kl_target > 0 and self.kl_coef <= 0:
            raise ConfigError(f"adversarial.kl_coef: an adaptive KL (kl_target {self.kl_target}) needs a starting "
                              "coefficient > 0")
        if self.relaxed and (self.kl_coef or self.group_size > 1 or self.d_replay):
            raise ConfigError("adversarial.kl_coef / group_size / d_replay: policy-gradient settings; the "
                              f"{self.route} route does not use them")
