"""The adversarial alternation itself, independent of run directories: k D-steps with G fixed, then g G-steps with
D fixed (sample -> per-token reward -> baseline -> REINFORCE, with teacher-forcing MLE steps on human pairs in
between, as Li et al. 2017 found necessary for stability). With ``route: gumbel | continuous`` the D and G steps
are those of :mod:`seqgan.train.routes` (G's relaxed (B, T, V) replies, gradients through D) in the same loop.

:class:`AdversarialTrainer` holds everything a resumed run needs (G, D, both optimisers, the baseline, the rollout
policy's lagging copy, the data streams) and exposes it as one ``state_dict``; :mod:`seqgan.train.adversarial`
adds the run directory, logging, checkpoints and plots around it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from seqgan.config import field
from seqgan.data.batches import DialogueCollator
from seqgan.errors import ConfigError
from seqgan.objectives.discriminator_loss import mismatch_permutation as derangement  # noqa: F401
from seqgan.models.policy import Context, Policy, Replies
from seqgan.objectives.reinforce import reinforce_loss
from seqgan.train.route_config import RouteConfig
from seqgan.rewards import (
    BASELINES,
    REWARDS,
    MonteCarloReward,
    RolloutPolicy,
    SequenceReward,
    PrefixReward,
    build_baseline,
    build_reward,
    compute_advantages,
    eval_mode,
)


@dataclass
class AdversarialConfig(RouteConfig):
    """Adversarial fine-tuning of the generator against the discriminator (section ``adversarial``); the route
    keys (``route``, ``gumbel_mode``, ``tau_schedule``, ``critic``, ``mitigation`` ...) come from
    :class:`~seqgan.train.route_config.RouteConfig`."""

    rounds: int = field(30, help="number of rounds; each = d_steps D updates then g_steps G updates")
    d_steps: int = field(1, help="k: discriminator updates per round (G fixed, fresh G samples each)")
    g_steps: int = field(1, help="g: generator policy-gradient updates per round (D fixed)")
    reward: str = field("rollout", help="per-token reward: sequence | rollout (Monte Carlo) | prefix (D on prefixes)")
    rollout_n: int = field(8, help="Monte Carlo rollouts per prefix (reward=rollout)")
    rollout_rate: float = field(0.8, help="rollout policy = lagging copy updated as rate*roll + (1-rate)*G; "
                                          "0 = the current generator")
    rollout_chunk: int = field(4096, help="completions scored by D per call (bounds memory)")
    baseline: str = field("moving_average", help="none | moving_average | batch_mean | self_critic")
    baseline_decay: float = field(0.9, help="decay of the moving-average baseline")
    normalise: bool = field(True, help="whiten advantages per batch (mean 0, std 1 over real tokens)")
    entropy_weight: float = field(0.0, help="entropy bonus weight in the generator loss")
    teacher_forcing_every: int = field(1, help="an MLE step on human pairs after every N-th PG step (0 = never)")
    teacher_forcing_weight: float = field(1.0, help="weight of the teacher-forcing MLE loss")
    g_lr: float = field(5e-5, help="generator learning rate (Adam)")
    d_lr: float = field(1e-4, help="discriminator learning rate (Adam)")
    batch_size: int = field(32, help="pairs per D step and per G step")
    temperature: float = field(1.0, help="sampling temperature of G's replies and rollouts")
    max_grad_norm: float = field(1.0, help="gradient clipping for G and D (0 = off)")
    eval_every: int = field(5, help="measure G's NLL on held-out human replies every N rounds (0 = only at the end)")
    eval_pairs: int = field(256, help="held-out pairs used for that NLL")
    save_every: int = field(10, help="write a resumable checkpoint every N rounds (0 = only at the end)")

    def validate(self) -> None:
        self.validate_route()
        if self.reward not in REWARDS:
            raise ConfigError(f"adversarial.reward: expected one of {list(REWARDS)}, got {self.reward!r}")
        if self.baseline not in BASELINES:
            raise ConfigError(f"adversarial.baseline: expected one of {list(BASELINES)}, got {self.baseline!r}")
        for name in ("rounds", "d_steps", "g_steps", "teacher_forcing_every", "eval_every", "save_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"adversarial.{name}: expected >= 0, got {getattr(self, name)}")
        for name in ("rollout_n", "rollout_chunk", "batch_size", "eval_pairs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"adversarial.{name}: expected >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.rollout_rate < 1.0:
            raise ConfigError(f"adversarial.rollout_rate: expected a value in [0, 1), got {self.rollout_rate}")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ConfigError(f"adversarial.baseline_decay: expected a value in [0, 1), got {self.baseline_decay}")
        if self.temperature <= 0:
            raise ConfigError(f"adversarial.temperature: expected > 0, got {self.temperature}")
        if self.g_lr <= 0 or self.d_lr <= 0:
            raise ConfigError("adversarial.g_lr / d_lr: expected > 0")


class PairStream:
    """Endless, resumable stream of collated batches over encoded pairs (rows with ``context_ids``/``reply_ids``).

    Epoch e visits the rows in ``randperm(seed + e)`` order; the state is just (epoch, position), so a resumed run
    sees exactly the batches a straight run would have seen.
    """

    def __init__(self, rows: list[dict], pad_id: int, batch_size: int, seed: int) -> None:
        if not rows:
            raise ValueError("PairStream needs at least one pair")
        self.rows = rows
        self.collate = DialogueCollator(pad_id)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self.pos = 0
        self._order = self._perm()

    @classmethod
    def from_dataset(cls, ds, pad_id: int, batch_size: int, seed: int) -> PairStream:
        cols = ds.select_columns(["context_ids", "reply_ids"]).to_dict()
        rows = [{"context_ids": c, "reply_ids": r} for c, r in zip(cols["context_ids"], cols["reply_ids"])]
        return cls(rows, pad_id, batch_size, seed)

    def _perm(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(len(self.rows), generator=g).tolist()

    def next(self) -> dict[str, Tensor]:
        picked = []
        while len(picked) < self.batch_size:
            if self.pos >= len(self._order):
                self.epoch += 1
                self.pos = 0
                self._order = self._perm()
            take = self._order[self.pos:self.pos + self.batch_size - len(picked)]
            picked.extend(take)
            self.pos += len(take)
        return self.collate([self.rows[i] for i in picked])

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self._order = self._perm()


def _batch_to(batch: dict[str, Tensor], device: torch.device) -> tuple[Context, Replies]:
    ctx = Context(batch["context_ids"].to(device), batch["context_mask"].to(device))
    return ctx, Replies(batch["reply_ids"].to(device), batch["reply_mask"].to(device))


def _grad_norm_clip(params: list[nn.Parameter], max_norm: float) -> float:
    if max_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    return 0.0


DLossFn = Callable[[nn.Module, Context, Replies, Replies, Tensor], tuple[Tensor, dict[str, float]]]


class AdversarialTrainer:
    """One generator, one discriminator, their optimisers and the reward machinery; :meth:`run_round` does one
    round of the alternation and returns its metrics (floats).

    ``d_loss``: ``(disc, context, human, generated, mismatch_perm) -> (loss, terms)`` with ``acc_*`` entries, e.g.
    :func:`seqgan.objectives.discriminator_loss.discriminator_loss` with the weights bound.
    ``human``: the stream of human training pairs (D's real examples, G's contexts and teacher forcing).
    """

    def __init__(self, policy: Policy, disc: nn.Module, cfg: AdversarialConfig, d_loss: DLossFn,
                 human: PairStream, seed: int = 0, device: torch.device | str = "cpu",
                 backward: Callable[[Tensor], None] | None = None) -> None:
        self.policy, self.disc, self.cfg, self.d_loss, self.human = policy, disc, cfg, d_loss, human
        self.device = torch.device(device)
        self.backward = backward or (lambda loss: loss.backward())
        self.g_params = [p for p in policy.parameters() if p.requires_grad]
        self.d_params = [p for p in disc.parameters() if p.requires_grad]
        self.g_opt = torch.optim.Adam(self.g_params, lr=cfg.g_lr)
        # a D without trainable parameters (a fixed scorer) is allowed when d_steps is 0
        self.d_opt = torch.optim.Adam(self.d_params, lr=cfg.d_lr) if self.d_params else None
        self.perm_gen = torch.Generator().manual_seed(seed + 7919)
        pg = not cfg.relaxed  # the relaxed routes need no reward, rollout copy or baseline of their own
        self.rollout_policy = RolloutPolicy(policy, cfg.rollout_rate) if pg and cfg.reward == "rollout" else None
        self.reward = build_reward(cfg.reward if pg else "sequence", disc, self.rollout_policy, n=cfg.rollout_n,
                                   temperature=cfg.temperature, chunk_size=cfg.rollout_chunk)
        cheap = PrefixReward(disc) if cfg.reward == "prefix" else SequenceReward(disc)
        self.baseline = build_baseline(cfg.baseline, cfg.baseline_decay, policy, cheap)
        self.round = 0
        self.g_step_count = 0
        if cfg.relaxed:
            from seqgan.train.routes import RelaxedRoute

            self.route = RelaxedRoute(self)
        else:
            self.route = None

    # -- phases ------------------------------------------------------------------------------------------------
    def _set_trainable(self, g: bool, d: bool) -> None:
        for p in self.g_params:
            p.requires_grad_(g)
        for p in self.d_params:
            p.requires_grad_(d)

    def d_step(self) -> dict[str, float]:
        """One D update on human pairs vs fresh G samples vs mismatched contexts (G fixed)."""
        if self.d_opt is None:
            raise ValueError("the discriminator has no trainable parameters; set d_steps to 0")
        if self.route is not None:
            return self.route.d_step()
        self._set_trainable(g=False, d=True)
        context, human = _batch_to(self.human.next(), self.device)
        with torch.no_grad(), eval_mode(self.policy):
            generated = self.policy.sample(context, temperature=self.cfg.temperature)
        perm = derangement(context.batch_size, self.perm_gen).to(self.device)
        self.disc.train()
        loss, terms = self.d_loss(self.disc, context, human, generated, perm)
        self.d_opt.zero_grad(set_to_none=True)
        self.backward(loss)
        _grad_norm_clip(self.d_params, self.cfg.max_grad_norm)
        self.d_opt.step()
        return {"d_loss": float(loss.detach()), **{f"d_{k}": float(v) for k, v in terms.items()}}

    def g_step(self) -> dict[str, float]:
        """One REINFORCE update of G with D fixed, then (every ``teacher_forcing_every`` steps) one MLE update."""
        if self.route is not None:
            return self.route.g_step()
        cfg = self.cfg
        self._set_trainable(g=True, d=False)
        context, _ = _batch_to(self.human.next(), self.device)
        t0 = time.perf_counter()
        with torch.no_grad(), eval_mode(self.policy):
            replies = self.policy.sample(context, temperature=cfg.temperature)
        t1 = time.perf_counter()
        rewards = self.reward(context, replies)  # (B, T)
        t2 = time.perf_counter()
        base = self.baseline(context, replies, rewards)  # (B, T)
        adv = compute_advantages(rewards, base, replies.mask, normalise=cfg.normalise)
        self.policy.train()
        if cfg.entropy_weight:
            logits = self.policy.logits(context, replies.ids, replies.mask)  # (B, T, V)
            logp_all = torch.log_softmax(logits.float(), -1)
            logp = logp_all.gather(-1, replies.ids.unsqueeze(-1)).squeeze(-1) * replies.mask
            entropy = -(logp_all.exp() * logp_all).sum(-1)
        else:
            logp, entropy = self.policy.score(context, replies.ids, replies.mask), None
        loss = reinforce_loss(logp, adv, replies.mask, entropy, cfg.entropy_weight)
        self.g_opt.zero_grad(set_to_none=True)
        self.backward(loss)
        _grad_norm_clip(self.g_params, cfg.max_grad_norm)
        self.g_opt.step()
        self.g_step_count += 1
        if self.rollout_policy is not None:
            self.rollout_policy.update()
        m = replies.mask.float()
        out = {
            "reward_mean": float((rewards * m).sum() / m.sum().clamp(min=1)),
            "reward_final": float(rewards.gather(1, (replies.mask.sum(1, keepdim=True) - 1).clamp(min=0)).mean()),
            "baseline": self.baseline.value,
            "pg_loss": float(loss.detach()),
            "sample_len": float(replies.mask.sum(1).float().mean()),
            "sample_s": t1 - t0,
            "reward_s": t2 - t1,
        }
        if isinstance(self.reward, MonteCarloReward):
            out["rollout_s"] = self.reward.last_timing["rollout_s"]
            out["rollout_d_s"] = self.reward.last_timing["disc_s"]
        tf = self.teacher_forcing_step()
        if tf is not None:
            out["tf_nll"] = tf
        return out

    def teacher_forcing_step(self) -> float | None:
        """After every ``teacher_forcing_every``-th G step: one MLE update of G on human pairs; returns its NLL
        (None when no step is due)."""
        cfg = self.cfg
        if not (cfg.teacher_forcing_every and self.g_step_count % cfg.teacher_forcing_every == 0):
            return None
        tf_ctx, tf_human = _batch_to(self.human.next(), self.device)
        nll = self.policy.nll(tf_ctx, tf_human.ids, tf_human.mask)
        self.g_opt.zero_grad(set_to_none=True)
        self.backward(cfg.teacher_forcing_weight * nll)
        _grad_norm_clip(self.g_params, cfg.max_grad_norm)
        self.g_opt.step()
        return float(nll.detach())

    def run_round(self) -> dict[str, float]:
        """k D-steps then g G-steps; metrics averaged over the steps of each phase, plus wall times."""
        t0 = time.perf_counter()
        d_logs = [self.d_step() for _ in range(self.cfg.d_steps)]
        t1 = time.perf_counter()
        g_logs = [self.g_step() for _ in range(self.cfg.g_steps)]
        t2 = time.perf_counter()
        self._set_trainable(g=True, d=True)
        self.round += 1
        out: dict[str, float] = {"round": self.round}
        for logs in (d_logs, g_logs):
            keys = sorted({k for log in logs for k in log})
            for k in keys:
                vals = [log[k] for log in logs if k in log]
                out[k] = sum(vals) / len(vals)
        out["d_time_s"] = t1 - t0
        out["g_time_s"] = t2 - t1
        out["reward_time_s"] = sum(log.get("reward_s", 0.0) for log in g_logs)
        out["round_s"] = t2 - t0
        return out

    @torch.no_grad()
    def held_out_nll(self, batches: list[dict[str, Tensor]]) -> float:
        """Mean per-token NLL of G on held-out human replies (eval mode)."""
        total, count = 0.0, 0
        with eval_mode(self.policy):
            for batch in batches:
                ctx, human = _batch_to(batch, self.device)
                total += float(self.policy.sequence_nll(ctx, human.ids, human.mask).sum())
                count += int(human.mask.sum())
        return total / max(count, 1)

    # -- resume ------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Optimisers, baseline, data streams, counters (module weights are saved separately as safetensors)."""
        return {
            "round": self.round,
            "g_step_count": self.g_step_count,
            "g_opt": self.g_opt.state_dict(),
            "d_opt": self.d_opt.state_dict() if self.d_opt is not None else {},
            "baseline": self.baseline.state_dict(),
            "human": self.human.state_dict(),
            "perm_gen": self.perm_gen.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.round = int(state["round"])
        self.g_step_count = int(state["g_step_count"])
        self.g_opt.load_state_dict(state["g_opt"])
        if self.d_opt is not None:
            self.d_opt.load_state_dict(state["d_opt"])
        self.baseline.load_state_dict(state["baseline"])
        self.human.load_state_dict(state["human"])
        self.perm_gen.set_state(state["perm_gen"])
