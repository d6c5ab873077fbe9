"""How G learns from D: the routes of the adversarial loop, each a strategy with a D-step and a G-step.

The trainer (:class:`~seqgan.adversarial.trainer.AdversarialTrainer`) hands a route its batch, the mismatch
permutation and the G-step counter, and has already set which parameters require gradients; a route computes the
losses and applies them through the ``update_g`` / ``update_d`` callables it was built with (:func:`make_update`:
zero the gradients, backward, clip, optimiser step). A route never sees the trainer.

- :class:`PolicyGradientRoute` (``route: policy_gradient``): D-step on human vs sampled vs mismatched replies;
  G-step samples replies, scores them per token (rollout, prefix or sequence reward), subtracts a baseline and takes
  a REINFORCE step.
- :class:`RelaxedRoute` (``route: gumbel | continuous``): G decodes with :meth:`Policy.relaxed_sample`
  (Gumbel-softmax soft / straight-through, or plain softmax vectors) at the scheduled temperature and D reads those
  (B, T, V) sequences as its fake examples. D-step: the three-term loss (``critic: gan``) or the WGAN-GP critic loss
  (``critic: wgan_gp``), with the cheating score of D's real vs fake inputs; G-step: G's relaxed replies go through D
  (eval mode) and D's output is back-propagated into G (non-saturating / minimax / Wasserstein loss).

:func:`relaxed_discriminator_step` and :func:`relaxed_generator_step` are the relaxed steps as functions, shared
with the synthetic-oracle benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from seqgan.metrics.cheating import cheating_score
from seqgan.models.policy import Context, Policy, Replies, eval_mode
from seqgan.objectives.discriminator_loss import LossWeights, discriminator_loss, mismatch_permutation
from seqgan.objectives.reinforce import reinforce_loss, token_entropy
from seqgan.objectives.relaxed_gan import discriminator_inputs, fake_input, generator_loss, wgan_gp_critic_loss
from seqgan.objectives.kl import KLController, kl_to_go, mean_token_kl, token_kl
from seqgan.rewards import (
    AdvantageScaler,
    best_in_group,
    remove_length_trend,
    MonteCarloReward,
    PrefixReward,
    RolloutPolicy,
    SequenceReward,
    TransformedScorer,
    build_baseline,
    build_reward,
    inverse_transform,
    sequence_values,
)

DLossFn = Callable[[nn.Module, Context, Replies, Replies, Tensor], tuple[Tensor, dict[str, float]]]
Update = Callable[[Tensor], None]


def make_update(opt: torch.optim.Optimizer, params: list[nn.Parameter], max_grad_norm: float = 0.0,
                backward: Callable[[Tensor], None] | None = None, scaler=None) -> Update:
    """``update(loss)``: zero the gradients of ``opt``, ``backward(loss)`` (default ``loss.backward()``), clip the
    gradient norm of ``params`` to ``max_grad_norm`` (0 = no clipping), take the optimiser step.

    ``scaler``: the ``torch.amp.GradScaler`` of fp16 mixed precision (``accelerator.scaler``), whose scaled loss
    ``backward`` back-propagates: the gradients are unscaled before clipping, and a step whose gradients hold an
    inf / NaN is skipped (the scaler then lowers its scale)."""
    backward = backward or (lambda loss: loss.backward())

    def update(loss: Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        backward(loss)
        if scaler is not None:
            scaler.unscale_(opt)
        if max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        if scaler is None:
            opt.step()
        else:
            scaler.step(opt)
            scaler.update()

    return update


@dataclass
class ScoredBatch:
    """One G-step's samples with everything its loss needs (TRL's "generate and score" half of a step).

    context: (N, S), N = contexts x ``group_size``, rows b*K .. b*K+K-1 share a context.
    replies: (N, T) sampled ids/mask and the sampler's log-probabilities.
    rewards: (N, T) D's transformed per-token reward; baseline: (N, T); advantages: (N, T) KL charged, scaled.
    kl: (N, T) per-token ``log pi - log pi_ref`` (None without a KL leash).
    """

    context: Context
    replies: Replies
    rewards: Tensor
    baseline: Tensor
    advantages: Tensor
    kl: Tensor | None
    timings: dict[str, float]


class PolicyGradientRoute:
    """REINFORCE with D's per-token reward (``adversarial.reward``, transformed by ``reward_transform``) minus a
    baseline (``adversarial.baseline``), scaled (``advantage_norm``), with an optional KL leash to the frozen
    ``reference`` policy (``kl_coef`` / ``kl_target``) and ``group_size`` replies per context.

    D-steps: human pairs (real, and under ``mismatch`` wrong contexts) against G's replies; with ``d_replay`` > 0
    those come from a buffer of the last ``d_replay`` G-steps' samples (what G is producing now, no extra sampling),
    otherwise fresh samples."""

    def __init__(self, cfg, policy, disc: nn.Module, d_loss: DLossFn, update_g: Update,
                 update_d: Update | None, reference: Policy | None = None, seed: int = 0) -> None:
        self.cfg, self.policy, self.disc, self.d_loss = cfg, policy, disc, d_loss
        self.update_g, self.update_d = update_g, update_d
        self.reference = reference
        self.scorer = TransformedScorer(disc, cfg.reward_transform)
        self.rollout_policy = RolloutPolicy(policy, cfg.rollout_rate) if cfg.reward == "rollout" else None
        self.reward = build_reward(cfg.reward, self.scorer, self.rollout_policy, n=cfg.rollout_n,
                                   temperature=cfg.temperature, chunk_size=cfg.rollout_chunk, group_size=cfg.group_size)
        cheap = PrefixReward(self.scorer) if cfg.reward == "prefix" else SequenceReward(self.scorer)
        self.baseline = build_baseline(cfg.baseline, cfg.baseline_decay, policy, cheap, group_size=cfg.group_size)
        self.scaler = AdvantageScaler(cfg.advantage_norm, decay=cfg.baseline_decay)
        self.kl = KLController(cfg.kl_coef, cfg.kl_target, cfg.kl_horizon)
        if self.kl.active and reference is None:
            raise ValueError("a KL leash (kl_coef / kl_target) needs the reference policy")
        self.length_slope = 0.0
        self.replay: list[tuple[list[int], list[int]]] = []  # (context ids, reply ids) of recent G samples
        self.replay_gen = torch.Generator().manual_seed(seed + 4243)

    # -- D ---------------------------------------------------------------------------------------------------
    def _replayed(self, rows: int, device) -> tuple[Context, Replies]:
        """``rows`` (context, G reply) pairs drawn uniformly from the replay buffer, padded, on ``device``."""
        from seqgan.data import pad_rows

        pick = torch.randint(len(self.replay), (rows,), generator=self.replay_gen).tolist()
        ctx_ids, ctx_mask = pad_rows([self.replay[i][0] for i in pick], self.policy.pad_id)
        ids, mask = pad_rows([self.replay[i][1] for i in pick], self.policy.pad_id)
        return Context(ctx_ids.to(device), ctx_mask.to(device)), Replies(ids.to(device), mask.to(device))

    def _remember(self, context: Context, replies: Replies) -> None:
        """Append a G-step's samples to the replay buffer (keeps the rows of the last ``d_replay`` G-steps)."""
        if not self.cfg.d_replay:
            return
        ctx = [[int(t) for t, m in zip(r, rm) if m] for r, rm in zip(context.ids.tolist(), context.mask.tolist())]
        rep = [[int(t) for t, m in zip(r, rm) if m] for r, rm in zip(replies.ids.tolist(), replies.mask.tolist())]
        self.replay += list(zip(ctx, rep))
        keep = self.cfg.d_replay * len(rep)
        del self.replay[:-keep]

    def d_step(self, context: Context, human: Replies, perm: Tensor, step: int) -> dict[str, float]:
        """D update on human pairs vs G's replies (replayed, or fresh samples to ``context``) vs the human replies
        under the contexts ``perm`` ((B,) or (k, B)) picks."""
        if self.cfg.d_replay and self.replay:
            gen_context, generated = self._replayed(context.batch_size, human.ids.device)
        else:
            with torch.no_grad(), eval_mode(self.policy):
                generated = self.policy.sample(context, temperature=self.cfg.temperature)
            gen_context = context
        self.disc.train()
        extra = {} if gen_context is context else {"generated_context": gen_context}
        loss, terms = self.d_loss(self.disc, context, human, generated, perm, **extra)
        self.update_d(loss)
        return {"d_loss": float(loss.detach()), **{f"d_{k}": float(v) for k, v in terms.items()}}

    # -- G ---------------------------------------------------------------------------------------------------
    def generate_and_score(self, context: Context) -> ScoredBatch:
        """Sample ``group_size`` replies per context row, reward them per token, subtract the baseline, charge
        the KL still to come, scale; no gradient."""
        cfg = self.cfg
        t0 = time.perf_counter()
        ctx = context.repeat_interleave(cfg.group_size) if cfg.group_size > 1 else context
        with torch.no_grad(), eval_mode(self.policy):
            replies = self.policy.sample(ctx, temperature=cfg.temperature)
        t1 = time.perf_counter()
        rewards = self.reward(ctx, replies)  # (N, T)
        t2 = time.perf_counter()
        if cfg.length_neutral:
            rewards, self.length_slope = remove_length_trend(rewards, replies.mask)
        base = self.baseline(ctx, replies, rewards)  # (N, T)
        adv = rewards - base
        kl = None
        if self.kl.active:  # charged in reward units, before scaling: beta keeps its meaning whatever the scaling
            with torch.no_grad(), eval_mode(self.reference):
                ref = self.reference.score(ctx, replies.ids, replies.mask, temperature=cfg.temperature)
            kl = token_kl(replies.logprobs, ref, replies.mask)
            adv = adv - self.kl.beta * kl_to_go(kl, replies.mask)
        if cfg.estimator == "best_of_group":  # maximum likelihood on each group's best reply
            score = sequence_values(rewards, replies.mask)
            if kl is not None:
                score = score - self.kl.beta * (kl * replies.mask).sum(1)
            adv = best_in_group(score, cfg.group_size).unsqueeze(1) * replies.mask
        else:
            adv = self.scaler(adv, replies.mask)
        timings = {"sample_s": t1 - t0, "reward_s": t2 - t1, "score_s": time.perf_counter() - t2}
        return ScoredBatch(ctx, replies, rewards, base, adv.detach(), kl, timings)

    def policy_logprobs(self, batch: ScoredBatch) -> tuple[Tensor, Tensor | None]:
        """(N, T) log-probabilities of the sampled tokens with gradient, under the sampler's distribution (eval
        mode: no dropout; the sampling temperature), so the gradient is on-policy; and the per-token entropy of
        that distribution when ``entropy_weight`` asks for it."""
        cfg, replies = self.cfg, batch.replies
        with eval_mode(self.policy):
            if not cfg.entropy_weight:
                return self.policy.score(batch.context, replies.ids, replies.mask, temperature=cfg.temperature), None
            logits = self.policy.logits(batch.context, replies.ids, replies.mask).float() / cfg.temperature
            logp = torch.log_softmax(logits, -1).gather(-1, replies.ids.unsqueeze(-1)).squeeze(-1) * replies.mask
            return logp, token_entropy(logits)

    def compute_loss(self, batch: ScoredBatch) -> Tensor:
        """The loss of a scored batch (scalar, with gradient): REINFORCE, or (``best_of_group``) the mean NLL of the
        selected replies' tokens."""
        logp, entropy = self.policy_logprobs(batch)
        if self.cfg.estimator == "best_of_group":
            chosen = batch.advantages  # (N, T) 1 on the chosen replies' real tokens
            return reinforce_loss(logp, chosen, chosen, entropy, self.cfg.entropy_weight)
        return reinforce_loss(logp, batch.advantages, batch.replies.mask, entropy, self.cfg.entropy_weight)

    def g_step(self, context: Context, step: int) -> dict[str, float]:
        """Sample and score, one REINFORCE update, adapt the KL coefficient; the rollout copy follows G and the
        samples join D's replay buffer."""
        batch = self.generate_and_score(context)
        loss = self.compute_loss(batch)
        self.update_g(loss)
        if self.rollout_policy is not None:
            self.rollout_policy.update()
        self._remember(batch.context, batch.replies)
        return self._g_metrics(batch, loss)

    def _g_metrics(self, batch: ScoredBatch, loss: Tensor) -> dict[str, float]:
        cfg, replies, mask = self.cfg, batch.replies, batch.replies.mask
        m = mask.float()
        values = sequence_values(batch.rewards, mask)  # (N,) D's transformed score of each reply
        out = {
            "reward_mean": float((batch.rewards * m).sum() / m.sum().clamp(min=1)),
            "reward_final": float(values.mean()),
            "reward_std": float(values.std()) if values.numel() > 1 else 0.0,
            "d_prob": float(inverse_transform(values, cfg.reward_transform).mean()),
            "baseline": self.baseline.value,
            "pg_loss": float(loss.detach()),
            "sample_len": float(m.sum(1).mean()),
            "entropy": float(-(replies.logprobs * m).sum() / m.sum().clamp(min=1)),
            **batch.timings,
        }
        if cfg.length_neutral:
            out["reward_length_slope"] = self.length_slope
        if cfg.group_size > 1:
            groups = values.view(-1, cfg.group_size)
            out["frac_reward_zero_std"] = float((groups.std(1) < 1e-6).float().mean())
        if batch.kl is not None:
            kl = mean_token_kl(batch.kl, mask)
            out["kl"], out["kl_coef"] = kl, self.kl.beta
            self.kl.update(kl)
        if isinstance(self.reward, MonteCarloReward):
            out["rollout_s"] = self.reward.last_timing["rollout_s"]
            out["rollout_d_s"] = self.reward.last_timing["disc_s"]
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline.state_dict(), "scaler": self.scaler.state_dict(),
                "kl": self.kl.state_dict(), "replay": [list(pair) for pair in self.replay],
                "replay_gen": self.replay_gen.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.baseline.load_state_dict(state["baseline"])
        self.scaler.load_state_dict(state.get("scaler", {}))
        self.kl.load_state_dict(state.get("kl", {}))
        self.replay = [(list(c), list(r)) for c, r in state.get("replay", [])]
        if "replay_gen" in state:
            self.replay_gen.set_state(state["replay_gen"])


class RelaxedRoute:
    """G trained through D on its relaxed (B, T, V) replies (``route: gumbel | continuous``)."""

    def __init__(self, cfg, policy, disc: nn.Module, d_loss: DLossFn, update_g: Update,
                 update_d: Update | None) -> None:
        self.cfg, self.policy, self.disc, self.d_loss = cfg, policy, disc, d_loss
        self.update_g, self.update_d = update_g, update_d
        self.mode = "softmax" if cfg.route == "continuous" else f"gumbel_{cfg.gumbel_mode}"
        self.schedule = cfg.schedule()
        self.g_loss_kind = "wasserstein" if cfg.critic == "wgan_gp" else cfg.g_loss

    def tau(self, step: int) -> float:
        """The temperature of G step ``step``."""
        return self.schedule.tau(step)

    def d_step(self, context: Context, human: Replies, perm: Tensor, step: int) -> dict[str, float]:
        """One D (critic) update on human vs G's relaxed replies vs mismatched contexts."""
        cfg = self.cfg
        return relaxed_discriminator_step(
            self.policy, self.disc, self.update_d, context, human, self.tau(step), self.mode, critic=cfg.critic,
            d_loss=self.d_loss, gp_weight=cfg.gp_weight, critic_mismatch_weight=cfg.critic_mismatch_weight,
            mismatch_perm=perm, mitigation=cfg.mitigation, cheat_score=cfg.cheat_score)

    def g_step(self, context: Context, step: int) -> dict[str, float]:
        """One update of G through D."""
        return relaxed_generator_step(self.policy, self.disc, context, self.update_g, self.tau(step), self.mode,
                                      self.g_loss_kind, self.cfg.mitigation)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def build_route(cfg, policy, disc: nn.Module, d_loss: DLossFn, update_g: Update, update_d: Update | None,
                reference: Policy | None = None, seed: int = 0):
    """The route ``cfg.route`` names (an :class:`~seqgan.adversarial.config.AdversarialConfig`); ``reference``:
    the frozen policy of the KL leash (policy gradient only)."""
    if cfg.relaxed:
        return RelaxedRoute(cfg, policy, disc, d_loss, update_g, update_d)
    return PolicyGradientRoute(cfg, policy, disc, d_loss, update_g, update_d, reference=reference, seed=seed)


def relaxed_discriminator_step(policy, disc, update: Update, context: Context, human: Replies, tau: float,
                               mode: str, *, critic: str = "gan", d_loss=None, gp_weight: float = 10.0,
                               critic_mismatch_weight: float = 0.5, mismatch_perm: Tensor | None = None,
                               mitigation: str = "none", cheat_score: bool = True) -> dict[str, float]:
    """One D (critic) update through ``update`` (:func:`make_update` of D's optimiser): human replies (B, T) vs G's
    relaxed replies to ``context`` (drawn here without gradient, G in eval mode) vs human replies under the
    contexts ``mismatch_perm`` (B,) points to.

    critic ``gan``: ``d_loss(disc, context, human, generated, perm)`` (default: the three-term
    :func:`~seqgan.objectives.discriminator_loss.discriminator_loss` with its default weights) with the
    generated replies' ``ids`` holding (B, T, V) vectors, which D reads as it reads ids; ``wgan_gp``:
    :func:`wgan_gp_critic_loss`. Conditional or unconditional (``Context.empty(B)``: no mismatch term).
    Returns ``d_loss`` and the loss's named terms prefixed ``d_`` (+ ``cheat_auc`` / ``cheat_acc``).
    """
    with torch.no_grad(), eval_mode(policy):
        rel = policy.relaxed_sample(context, tau=tau, mode=mode)
    real, fake = discriminator_inputs(rel.probs, human.ids, mitigation)
    if mismatch_perm is None:
        mismatch_perm = mismatch_permutation(context.batch_size).to(human.ids.device)
    disc.train()
    if critic == "wgan_gp":
        real_vec = torch.nn.functional.one_hot(real, fake.shape[-1]).float()  # (B, T, V)
        loss, terms = wgan_gp_critic_loss(disc, context, real_vec, human.mask, fake, rel.mask, gp_weight,
                                          critic_mismatch_weight, mismatch_perm)
    else:  # D accepts (B, T, V) vectors wherever it accepts ids: the three-term loss reads them as they are
        if d_loss is None:
            loss, terms = discriminator_loss(disc, context, Replies(real, human.mask), Replies(fake, rel.mask),
                                             LossWeights(), mismatch_perm=mismatch_perm)
        else:
            loss, terms = d_loss(disc, context, Replies(real, human.mask), Replies(fake, rel.mask), mismatch_perm)
    update(loss)
    out = {"d_loss": float(loss.detach()), **{f"d_{k}": float(v) for k, v in terms.items()}}
    if cheat_score and context.batch_size >= 2:
        out.update(cheating_score(real, human.mask, fake, rel.mask))
    return out


def relaxed_generator_step(policy, disc, context: Context, update: Update, tau: float, mode: str,
                           loss_kind: str = "non_saturating", mitigation: str = "none") -> dict[str, float]:
    """One step of G through D (``update``: :func:`make_update` of G's optimiser; D in eval mode, and the caller
    has switched off ``requires_grad`` of D's parameters so that no gradient reaches D): G's relaxed replies to
    ``context`` (:meth:`Policy.relaxed_sample` with ``tau`` / ``mode``, G in train mode), D's logits on what it
    reads (:func:`fake_input` with ``mitigation``), :func:`generator_loss` of kind ``loss_kind``. Works for
    conditional and unconditional (``Context.empty(B)``) tasks. Returns ``tau``, ``g_loss``, ``g_d_logit`` (+
    ``g_d_prob`` for the GAN losses), ``g_max_prob`` (of D's input), ``g_entropy`` (of the policy) and
    ``sample_len``."""
    policy.train()
    rel = policy.relaxed_sample(context, tau=tau, mode=mode)  # (B, T, V) with gradient
    with eval_mode(disc):
        logit = disc(context, fake_input(rel.probs, mitigation), rel.mask).logit  # (B,)
    loss = generator_loss(logit, loss_kind)
    update(loss)
    m = rel.mask.float()
    entropy = token_entropy(rel.logits.detach())  # (B, T) of the policy itself (no noise / tau)
    out = {
        "tau": tau,
        "g_loss": float(loss.detach()),
        "g_d_logit": float(logit.detach().float().mean()),
        "g_max_prob": float((rel.probs.detach().amax(-1) * m).sum() / m.sum().clamp(min=1)),  # of what D read
        "g_entropy": float((entropy * m).sum() / m.sum().clamp(min=1)),
        "sample_len": float(m.sum(1).mean()),
    }
    if loss_kind != "wasserstein":
        out["g_d_prob"] = float(torch.sigmoid(logit.detach().float()).mean())
    return out
