"""Baselines for REINFORCE: subtracted from the per-token rewards to reduce the variance of the gradient.

Each baseline maps (context, replies, rewards (B, T)) to baseline values (B, T) (0 where the mask is 0) and may
update internal state afterwards, so the value used for a batch never depends on that batch's own rewards except
where noted (batch mean). :class:`AdvantageScaler` scales the advantages (rewards minus baseline values): by their standard
deviation, or whitened (which replaces the baseline).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

from seqgan.models.policy import Context, Policy, Replies, eval_mode
from seqgan.rewards.base import Reward, last_position

BASELINES = ("none", "moving_average", "length_moving_average", "batch_mean", "self_critic", "group",
             "prefix_value")


class Baseline(ABC):
    name: str = "baseline"

    @abstractmethod
    def __call__(self, context: Context, replies: Replies, rewards: Tensor) -> Tensor:
        """rewards: (B, T). Returns (B, T) baseline values, no grad."""

    def state_dict(self) -> dict[str, Tensor]:
        """Tensors that make the baseline resumable (empty for stateless baselines)."""
        return {}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        return None

    @property
    def value(self) -> float:
        """A scalar summary for logs (the last mean baseline value)."""
        return float(getattr(self, "_last", 0.0))


class NoBaseline(Baseline):
    """b = 0: plain REINFORCE."""

    name = "none"

    def __call__(self, context: Context, replies: Replies, rewards: Tensor) -> Tensor:
        self._last = 0.0
        return torch.zeros_like(rewards)


class MovingAverageBaseline(Baseline):
    """One scalar ``b`` tracking the mean per-token reward: the batch uses the current ``b``, then
    ``b <- decay * b + (1 - decay) * mean(rewards over real tokens)``. The first batch initialises ``b`` to its own
    mean (and uses it). ``b`` is saved in :meth:`state_dict` so a resumed run continues exactly."""

    name = "moving_average"

    def __init__(self, decay: float = 0.9) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"moving-average decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.b: Tensor | None = None  # () float64

    def __call__(self, context: Context, replies: Replies, rewards: Tensor) -> Tensor:
        mask = replies.mask.to(rewards.dtype)
        batch_mean = (rewards * mask).sum().double() / mask.sum().clamp(min=1).double()
        if self.b is None:
            self.b = batch_mean.detach().cpu()
        current = self.b.to(rewards.dtype).to(rewards.device)
        self._last = float(current)
        self.b = self.decay * self.b + (1.0 - self.decay) * batch_mean.detach().cpu()
        return current * mask

    def state_dict(self) -> dict[str, Tensor]:
        return {} if self.b is None else {"b": self.b.clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.b = state["b"].clone().double() if "b" in state else None


class LengthMovingAverageBaseline(Baseline):
    """A moving average of the mean per-token reward *per reply length*: a reply of length L uses ``b[L]`` (the
    overall moving average until length L has been seen), then each length seen in the batch updates its own entry
    like :class:`MovingAverageBaseline`.

    Why: a discriminator often scores short replies as human more readily than long ones, and against one scalar
    baseline the policy gradient learns brevity first. Against its own length's average, a reply earns a positive
    advantage only by scoring better than replies of the same length, so the part of the reward that length
    explains no longer drives G. ``b`` is saved in :meth:`state_dict`, so a resumed run continues exactly."""

    name = "length_moving_average"

    def __init__(self, decay: float = 0.9) -> None:
        self.overall = MovingAverageBaseline(decay)
        self.decay = self.overall.decay
        self.b = torch.zeros(0, dtype=torch.float64)  # (max length seen + 1,) per-length values
        self.seen = torch.zeros(0, dtype=torch.bool)

    def __call__(self, context: Context, replies: Replies, rewards: Tensor) -> Tensor:
        mask = replies.mask.to(rewards.dtype)
        lengths = replies.mask.sum(1).long().cpu()  # (B,)
        self.overall(context, replies, rewards)  # the fallback value; advances the overall average too
        grow = int(lengths.max()) + 1 - len(self.b) if len(lengths) else 0
        if grow > 0:
            self.b = torch.cat([self.b, torch.zeros(grow, dtype=torch.float64)])
            self.seen = torch.cat([self.seen, torch.zeros(grow, dtype=torch.bool)])
        per_row = torch.where(self.seen[lengths], self.b[lengths],
                              torch.full(lengths.shape, self.overall.value, dtype=torch.float64))  # (B,)
        out = per_row.to(rewards.dtype).to(rewards.device).unsqueeze(1) * mask
        self._last = float(out.sum() / mask.sum().clamp(min=1))
        row_mean = ((rewards * mask).sum(1) / mask.sum(1).clamp(min=1)).double().cpu()  # (B,)
        for length in lengths.unique().tolist():
            m = float(row_mean[lengths == length].mean())
            self.b[length] = self.decay * self.b[length] + (1 - self.decay) * m if self.seen[length] else m
            self.seen[length] = True
        return out

    def state_dict(self) -> dict[str, Tensor]:
        return {**{f"overall.{k}": v for k, v in self.overall.state_dict().items()}, "b": self.b.clone(),
                "seen": self.seen.clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.overall.load_state_dict({k.removeprefix("overall."): v for k, v in state.items()
                                      if k.startswith("overall.")})
        self.b = state["b"].clone().double() if "b" in state else torch.zeros(0, dtype=torch.float64)
        self.seen = state["seen"].clone().bool() if "seen" in state else torch.zeros(0, dtype=torch.bool)


class BatchMeanBaseline(Baseline):
    """Per position t, the mean reward of the batch's rows that have a real token at t."""

    name = "batch_mean"

    def __call__(self, context: Context, replies: Replies, rewards: Tensor) -> Tensor:
        mask = replies.mask.to(rewards.dtype)
        per_pos = (rewards * mask).sum(0) / mask.sum(0).clamp(min=1)  # (T,)
        out = per_pos.unsqueeze(0) * mask
        self._last = float(out.sum() / mask.sum().clamp(min=1))
        return out


class SelfCriticBaseline(Baseline):
    """Greedy self-critic (Rennie et al. 2017): the reward the policy's own greedy reply gets for the same context.

    ``reward`` scores the greedy replies per token (B, T_g); the baseline of a sampled token at position t is the
    greedy reward at position ``min(t, L_g - 1)`` (for a sequence reward: D(c, greedy reply) on every token). The
    greedy reply runs to eos or the policy's ``max_reply_len``, as a sampled one does, not to the batch's T. Costs
    one greedy decode and one reward call per batch: pair it with a cheap reward (sequence or prefix) even when the
    training reward is the Monte Carlo one.
    """

    name = "self_critic"

    def __init__(self, policy: Policy, reward: Reward) -> None:
        self.policy = policy
        self.reward = reward

    @torch.no_grad()
    def __call__(self, context: Context, replies: Replies, rewards: Tensor) -> Tensor:
        T = replies.ids.shape[1]
        with eval_mode(self.policy):
            greedy = self.policy.sample(context, greedy=True)
        g = self.reward(context, greedy).to(rewards.dtype)  # (B, T_g)
        last = last_position(greedy.mask)  # (B,)
        pos = torch.arange(T, device=rewards.device).unsqueeze(0)  # (1, T)
        index = torch.minimum(pos, last.unsqueeze(1)).clamp(max=g.shape[1] - 1)  # (B, T)
        out = g.gather(1, index) * replies.mask.to(rewards.dtype)
        self._last = float(out.sum() / replies.mask.sum().clamp(min=1))
        return out


def sequence_values(rewards: Tensor, mask: Tensor) -> Tensor:
    """(B, T) per-token rewards -> (B,) each reply's value: its reward at the last real token, which is D(c, x)
    for every reward (sequence, rollout, prefix)."""
    return rewards.gather(1, last_position(mask).unsqueeze(1)).squeeze(1)


def leave_one_out_mean(values: Tensor, group_size: int) -> Tensor:
    """(B*K,) values of groups of K consecutive rows -> (B*K,) for each row the mean of the other K-1 rows of its
    group (RLOO); 0 when K is 1."""
    if group_size <= 1:
        return torch.zeros_like(values)
    if values.shape[0] % group_size:
        raise ValueError(f"{values.shape[0]} rows do not form groups of {group_size}")
    groups = values.view(-1, group_size)
    return ((groups.sum(1, keepdim=True) - groups) / (group_size - 1)).reshape(-1)


def best_in_group(values: Tensor, group_size: int) -> Tensor:
    """(B*K,) values of groups of K consecutive rows -> (B*K,) 1.0 for each group's best row (the first of ties),
    0.0 elsewhere."""
    if values.shape[0] % group_size:
        raise ValueError(f"{values.shape[0]} rows do not form groups of {group_size}")
    groups = values.view(-1, group_size)
    out = torch.zeros_like(groups)
    out[torch.arange(groups.shape[0]), groups.argmax(1)] = 1.0
    return out.reshape(-1)


class GroupBaseline(Baseline):
    """Leave-one-out group baseline (RLOO, Kool et al. 2019; TRL's RLOOTrainer): the batch holds K sampled replies
    per context (rows b*K .. b*K+K-1 share a context), and each reply's baseline, on every one of its tokens, is
    the mean value of the other K-1 replies to the same context (value = the reward at the last real token,
    D(c, x)). It depends on the context, not on the reply's own tokens, so it is unbiased; it removes what the
    context alone explains (an easy context makes every reply look good)."""

    name = "group"

    def __init__(self, group_size: int) -> None:
        if group_size < 2:
            raise ValueError(f"the group baseline needs at least 2 replies per context, got {group_size}")
        self.group_size = int(group_size)

    def __call__(self, context: Context, replies: Replies, rewards: Tensor) -> Tensor:
        values = sequence_values(rewards, replies.mask)  # (B*K,)
        out = leave_one_out_mean(values, self.group_size).unsqueeze(1) * replies.mask.to(rewards.dtype)
        self._last = float(out.sum() / replies.mask.sum().clamp(min=1))
        return out


class PrefixValueBaseline(Baseline):
    """Per-token advantages ``Q_t - V(prefix)`` from the reward's own estimates: the baseline of token t is the
    value of the prefix before it, ``rewards[:, t-1]`` (for the Monte Carlo reward, the mean D score of completions
    of x_1..x_{t-1}, whose rollouts are drawn independently of the token x_t they judge; for the prefix reward,
    D's score of x_1..x_{t-1}). Token t is then credited with how much it changed the expected outcome, not with the
    outcome itself. The first token's baseline is ``first`` (the group baseline with K replies per context, else a
    moving average). Only for per-token rewards (rollout, prefix): with the sequence reward every Q_t is the same
    number and the differences would be 0."""

    name = "prefix_value"

    def __init__(self, first: Baseline) -> None:
        self.first = first

    def __call__(self, context: Context, replies: Replies, rewards: Tensor) -> Tensor:
        mask = replies.mask.to(rewards.dtype)
        out = torch.zeros_like(rewards)
        out[:, 1:] = rewards[:, :-1]
        out[:, 0] = self.first(context, replies, rewards)[:, 0]
        out = out * mask
        self._last = float(out.sum() / mask.sum().clamp(min=1))
        return out

    def state_dict(self) -> dict[str, Tensor]:
        return {f"first.{k}": v for k, v in self.first.state_dict().items()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.first.load_state_dict({k.removeprefix("first."): v for k, v in state.items() if k.startswith("first.")})


def build_baseline(kind: str, decay: float = 0.9, policy: Policy | None = None,
                   reward: Reward | None = None, group_size: int = 1) -> Baseline:
    """Baseline by config name: ``none | moving_average | length_moving_average | batch_mean | self_critic | group |
    prefix_value`` (self_critic needs the policy and a reward to score greedy replies; group needs
    ``group_size`` >= 2 replies per context; prefix_value starts from the group baseline when ``group_size`` >= 2,
    else from a moving average)."""
    if kind == "none":
        return NoBaseline()
    if kind == "moving_average":
        return MovingAverageBaseline(decay)
    if kind == "length_moving_average":
        return LengthMovingAverageBaseline(decay)
    if kind == "batch_mean":
        return BatchMeanBaseline()
    if kind == "self_critic":
        if policy is None or reward is None:
            raise ValueError("the self_critic baseline needs the policy and a reward")
        return SelfCriticBaseline(policy, reward)
    if kind == "group":
        return GroupBaseline(group_size)
    if kind == "prefix_value":
        return PrefixValueBaseline(GroupBaseline(group_size) if group_size > 1 else MovingAverageBaseline(decay))
    raise ValueError(f"unknown baseline {kind!r}; expected one of {list(BASELINES)}")


ADVANTAGE_NORMS = ("none", "std", "running_std", "whiten")


class AdvantageScaler:
    """How advantages are scaled before the policy-gradient step (``adversarial.advantage_norm``):

    - ``none``: as they are (reward units);
    - ``std``: divided by the batch's standard deviation over real tokens, *not* centred, so the baseline's work is
      kept (REINFORCE's step size then no longer depends on the reward's scale);
    - ``running_std``: divided by a moving average (``decay``) of that standard deviation: steadier than one batch's;
    - ``whiten``: centred on the batch mean and divided by the std. Subtracting the batch mean *replaces* the
      chosen baseline: any baseline that is constant over the batch (moving averages) is cancelled exactly.
    """

    def __init__(self, kind: str = "std", decay: float = 0.9, eps: float = 1e-6) -> None:
        if kind not in ADVANTAGE_NORMS:
            raise ValueError(f"unknown advantage_norm {kind!r}; expected one of {list(ADVANTAGE_NORMS)}")
        self.kind, self.decay, self.eps = kind, float(decay), float(eps)
        self.std: Tensor | None = None  # () float64, running_std only

    def __call__(self, advantages: Tensor, mask: Tensor) -> Tensor:
        """(B, T) advantages (0 off the mask) -> (B, T) scaled, detached."""
        m = mask.to(advantages.dtype)
        adv = advantages * m
        if self.kind == "none":
            return adv.detach()
        count = m.sum().clamp(min=1)
        mean = adv.sum() / count
        std = ((((adv - mean) * m) ** 2).sum() / count).sqrt()
        if self.kind == "whiten":
            return ((adv - mean) / (std + self.eps) * m).detach()
        if self.kind == "running_std":
            current = std.detach().double().cpu()
            self.std = current if self.std is None else self.decay * self.std + (1 - self.decay) * current
            std = self.std.to(adv.dtype).to(adv.device)
        return (adv / (std + self.eps)).detach()

    def state_dict(self) -> dict[str, Tensor]:
        return {} if self.std is None else {"std": self.std.clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.std = state["std"].clone().double() if "std" in state else None
