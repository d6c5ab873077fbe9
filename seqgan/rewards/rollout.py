"""Monte Carlo rollout reward (SeqGAN): the value of token t is the mean discriminator score of n completions of
the prefix x_1..x_t sampled from a rollout policy.

Cost per batch: one ``rollout`` call producing B*(T-1)*n completions (the policy batches every prefix and every
rollout, reusing the prefix states), then D on every completion whose prefix is still inside its reply, in chunks
of ``chunk_size`` rows, plus one D call on the full replies. With B 32, T 24, n 8 that is up to ~5,900 D rows.
"""

from __future__ import annotations

import copy
import time
from typing import Protocol

import torch
from torch import Tensor, nn

from seqgan.models.policy import Context, Policy, Replies, eval_mode
from seqgan.rewards.base import Reward, Scorer, check_replies, last_position


class _RollsOut(Protocol):
    def rollout(self, context: Context, replies: Replies, n: int, temperature: float = 1.0) -> Replies:
        """(B, T) replies -> (B, T-1, n, L >= T) completions (:meth:`seqgan.models.policy.Policy.rollout`)."""


class RolloutPolicy:
    """The policy that completes prefixes: the current generator (``rate = 0``) or a lagging copy of it.

    With ``rate > 0`` a private copy ``theta_roll`` is kept and :meth:`update` moves it towards the generator:
    ``theta_roll <- rate * theta_roll + (1 - rate) * theta_G`` (SeqGAN's reference code uses rate 0.8 and calls
    the update once per generator step). The copy never receives gradients. Rollouts always run in eval mode
    (no dropout) and without gradient.
    """

    def __init__(self, policy: Policy, rate: float = 0.0) -> None:
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rollout policy rate must be in [0, 1), got {rate}")
        self.policy = policy
        self.rate = float(rate)
        self.copy: Policy | None = None
        if self.rate > 0:
            self.copy = copy.deepcopy(policy)
            self.copy.requires_grad_(False)
            self.copy.eval()

    @property
    def module(self) -> Policy:
        """The module that actually samples the rollouts."""
        return self.copy if self.copy is not None else self.policy

    @torch.no_grad()
    def update(self) -> None:
        """Move the lagging copy towards the generator (no-op when ``rate == 0``)."""
        if self.copy is None:
            return
        source = dict(self.policy.named_parameters())
        for name, param in self.copy.named_parameters():
            param.mul_(self.rate).add_(source[name].detach(), alpha=1.0 - self.rate)
        source_buffers = dict(self.policy.named_buffers())
        for name, buf in self.copy.named_buffers():
            buf.copy_(source_buffers[name])

    @torch.no_grad()
    def rollout(self, context: Context, replies: Replies, n: int, temperature: float = 1.0,
                max_len: int | None = None) -> Replies:
        """(B, T) replies -> (B, T-1, n, L) completions; see :meth:`seqgan.models.policy.Policy.rollout`."""
        module = self.module
        with eval_mode(module):
            return module.rollout(context, replies, n, temperature=temperature, max_len=max_len)

    def state_dict(self) -> dict[str, Tensor]:
        """Weights of the lagging copy (empty when the rollout policy is the generator itself)."""
        if self.copy is None:
            return {}
        return {k: v.detach().clone() for k, v in self.copy.state_dict().items()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if self.copy is not None and state:
            self.copy.load_state_dict(state)


class MonteCarloReward(Reward):
    """``r[b, i]`` = mean over k of ``D(c_b, rollout[b, i, k])`` for prefix lengths i+1 < L_b, and
    ``D(c_b, x_b)`` at the last real position ``L_b - 1`` (L_b = the reply's length incl. its end-of-sequence
    token, or T for fixed-length replies); 0 after it.

    ``rollout_policy``: anything with ``rollout(context, replies, n, temperature)`` returning (B, T-1, n, L >= T),
    usually a :class:`RolloutPolicy`. D must score in eval mode without grad (``Discriminator.reward`` does).
    After each call ``last_timing`` holds the seconds spent in the rollout and in D.
    """

    name = "rollout"

    def __init__(
        self,
        disc: Scorer,
        rollout_policy: _RollsOut | nn.Module,
        n: int,
        temperature: float = 1.0,
        chunk_size: int = 4096,
    ) -> None:
        if n < 1:
            raise ValueError(f"number of rollouts must be >= 1, got {n}")
        self.disc = disc
        self.rollout_policy = rollout_policy
        self.n = int(n)
        self.temperature = float(temperature)
        self.chunk_size = int(chunk_size)
        self.last_timing: dict[str, float] = {"rollout_s": 0.0, "disc_s": 0.0}

    def _score_chunks(self, context: Context, rows: Tensor, ids: Tensor, mask: Tensor) -> Tensor:
        """D on (M, T) completions whose contexts are ``context`` rows ``rows`` (M,), ``chunk_size`` at a time."""
        out = []
        grouped = getattr(self.disc, "reward_rows", None)  # a Discriminator encodes each context once
        for start in range(0, ids.shape[0], self.chunk_size):
            stop = start + self.chunk_size
            if grouped is not None:
                out.append(grouped(context, rows[start:stop], ids[start:stop], mask[start:stop]).float())
            else:
                ctx = context.index(rows[start:stop])
                out.append(self.disc.reward(ctx, ids[start:stop], mask[start:stop]).float())
        return torch.cat(out) if out else ids.new_zeros(0, dtype=torch.float32)

    @torch.no_grad()
    def __call__(self, context: Context, replies: Replies) -> Tensor:
        check_replies(context, replies)
        ids, mask = replies.ids, replies.mask
        B, T = ids.shape
        lengths = mask.long().sum(-1)  # (B,)
        rewards = torch.zeros(B, T, dtype=torch.float32, device=ids.device)

        t0 = time.perf_counter()
        disc_s = 0.0
        if T > 1:
            rolled = self.rollout_policy.rollout(context, replies, self.n, temperature=self.temperature)
            width = rolled.ids.shape[-1]  # L >= T: completions may run past the batch's longest reply
            if rolled.ids.dim() != 4 or tuple(rolled.ids.shape[:3]) != (B, T - 1, self.n) or width < T:
                raise ValueError(f"rollout returned {tuple(rolled.ids.shape)}, expected ({B}, {T - 1}, {self.n}, "
                                 f"L >= {T})")
            rollout_s = time.perf_counter() - t0
            # prefix lengths t = 1..T-1 that end strictly inside the reply (t < L_b) need a Monte Carlo estimate
            prefix_len = torch.arange(1, T, device=ids.device)  # (T-1,)
            valid = prefix_len.unsqueeze(0) < lengths.unsqueeze(1)  # (B, T-1)
            b_idx, p_idx = valid.nonzero(as_tuple=True)  # (M,), (M,)
            if b_idx.numel():
                comp_ids = rolled.ids[b_idx, p_idx].reshape(-1, width)  # (M*n, L): row m*n+k is rollout k of pair m
                comp_mask = rolled.mask[b_idx, p_idx].reshape(-1, width)
                rows = b_idx.repeat_interleave(self.n)  # (M*n,) context row of each completion
                t1 = time.perf_counter()
                scores = self._score_chunks(context, rows, comp_ids, comp_mask)  # (M*n,)
                disc_s += time.perf_counter() - t1
                rewards[b_idx, p_idx] = scores.view(-1, self.n).mean(dim=1)
        else:
            rollout_s = 0.0
        t1 = time.perf_counter()
        full = self.disc.reward(context, ids, mask).float()  # (B,)
        disc_s += time.perf_counter() - t1
        rewards[torch.arange(B, device=ids.device), last_position(mask)] = full
        self.last_timing = {"rollout_s": rollout_s, "disc_s": disc_s}
        return rewards * mask.float()
