"""The adversarial alternation itself, independent of run directories: k D-steps with G fixed, then g G-steps with
D fixed, with teacher-forcing MLE steps on human pairs after the G-steps (as Li et al. 2017 found necessary for
stability).

:class:`AdversarialTrainer` is the one loop. It owns the data stream and batching, which parameters require
gradients in each phase, the teacher-forcing steps, the step counters and the optimisers; how a D-step and a G-step
compute their losses is the route's (:mod:`seqgan.adversarial.routes`: policy gradient, or G trained through D on
relaxed replies). It exposes everything a resumed run needs (G, D, both optimisers, the route's state, the data
stream) as one ``state_dict``; :mod:`seqgan.adversarial.stage` adds the run directory, logging, checkpoints and plots
around it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from seqgan.adversarial.config import AdversarialConfig
from seqgan.adversarial.routes import DLossFn, build_route, make_update
from seqgan.data.batches import PairStream
from seqgan.metrics.likelihood import held_out_nll
from seqgan.models.discriminators import optimizer_groups
from seqgan.models.policy import Context, Policy, Replies
from seqgan.objectives.discriminator_loss import mismatch_permutations
from seqgan.runs.devices import fused_adam


def batch_to(batch: dict[str, Tensor], device: torch.device) -> tuple[Context, Replies]:
    """A collated batch (``context_ids``/``context_mask``/``reply_ids``/``reply_mask``) as (Context, Replies) on
    ``device``."""
    ctx = Context(batch["context_ids"].to(device), batch["context_mask"].to(device))
    return ctx, Replies(batch["reply_ids"].to(device), batch["reply_mask"].to(device))


class AdversarialTrainer:
    """One generator, one discriminator, their optimisers and the route; :meth:`run_round` does one round of the
    alternation and returns its metrics (floats).

    ``d_loss``: ``(disc, context, human, generated, mismatch_perm) -> (loss, terms)`` with ``acc_*`` entries, e.g.
    :func:`seqgan.objectives.discriminator_loss.discriminator_loss` with the weights bound.
    ``human``: the stream of human training pairs (D's real examples, G's contexts and teacher forcing).
    ``backward`` / ``scaler``: the backward pass and fp16 gradient scaler of the run's accelerator
    (:func:`~seqgan.adversarial.routes.make_update`).
    """

    def __init__(self, policy: Policy, disc: nn.Module, cfg: AdversarialConfig, d_loss: DLossFn,
                 human: PairStream, seed: int = 0, device: torch.device | str = "cpu",
                 backward: Callable[[Tensor], None] | None = None, mismatch_negatives: int = 1,
                 scaler=None) -> None:
        self.policy, self.disc, self.cfg, self.human = policy, disc, cfg, human
        self.device = torch.device(device)
        self.mismatch_negatives = int(mismatch_negatives)
        # the KL leash's reference: G as it is now (the MLE generator, before any adversarial step), frozen
        self.reference = None
        if not cfg.relaxed and (cfg.kl_coef > 0 or cfg.kl_target > 0):
            self.reference = copy.deepcopy(policy).requires_grad_(False).eval()
        backward = backward or (lambda loss: loss.backward())
        self.g_params = [p for p in policy.parameters() if p.requires_grad]
        self.d_params = [p for p in disc.parameters() if p.requires_grad]
        self.g_opt = torch.optim.Adam(self.g_params, lr=cfg.g_lr, **fused_adam(self.g_params))
        # a D without trainable parameters (a fixed scorer) is allowed when d_steps is 0. D keeps torch's default
        # Adam: with the fused kernel a resumed run did not end on the uninterrupted run's weights
        # (tests/test_pretrained_runs.py, LoRA G), though a fused Adam alone saves and resumes exactly
        self.d_opt = torch.optim.Adam(optimizer_groups(disc, cfg.d_lr)) if self.d_params else None
        self.update_g = make_update(self.g_opt, self.g_params, cfg.max_grad_norm, backward, scaler)
        self.update_d = (make_update(self.d_opt, self.d_params, cfg.max_grad_norm, backward, scaler)
                         if self.d_opt else None)
        self.perm_gen = torch.Generator().manual_seed(seed + 7919)
        self.route = build_route(cfg, policy, disc, d_loss, self.update_g, self.update_d, reference=self.reference,
                                 seed=seed)
        self.round = 0
        self.g_step_count = 0

    @property
    def rollout_policy(self):
        """The lagging copy of G the rollout reward completes prefixes with (None for the other rewards/routes)."""
        return getattr(self.route, "rollout_policy", None)

    # -- phases ------------------------------------------------------------------------------------------------
    def _set_trainable(self, g: bool, d: bool) -> None:
        for p in self.g_params:
            p.requires_grad_(g)
        for p in self.d_params:
            p.requires_grad_(d)

    def d_step(self) -> dict[str, float]:
        """One D update on human pairs vs G's replies vs mismatched contexts (G fixed)."""
        if self.update_d is None:
            raise ValueError("the discriminator has no trainable parameters; set d_steps to 0")
        self._set_trainable(g=False, d=True)
        context, human = batch_to(self.human.next(), self.device)
        perm = mismatch_permutations(context.batch_size, self.mismatch_negatives, self.perm_gen).to(self.device)
        return self.route.d_step(context, human, perm, self.g_step_count)

    def g_step(self) -> dict[str, float]:
        """One update of G with D fixed, then (every ``teacher_forcing_every`` steps) one MLE update."""
        self._set_trainable(g=True, d=False)
        context, _ = batch_to(self.human.next(), self.device)
        out = self.route.g_step(context, self.g_step_count)
        self.g_step_count += 1
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
        tf_ctx, tf_human = batch_to(self.human.next(), self.device)
        nll = self.policy.nll(tf_ctx, tf_human.ids, tf_human.mask)
        self.update_g(cfg.teacher_forcing_weight * nll)
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

    def held_out_nll(self, batches: list[dict[str, Tensor]]) -> float:
        """Mean per-token NLL of G on held-out human replies (eval mode)."""
        return held_out_nll(self.policy, batches, self.device)

    # -- resume ------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Optimisers, the route's state (the baseline), data streams, counters (module weights are saved
        separately as safetensors)."""
        return {
            "round": self.round,
            "g_step_count": self.g_step_count,
            "g_opt": self.g_opt.state_dict(),
            "d_opt": self.d_opt.state_dict() if self.d_opt is not None else {},
            "route": self.route.state_dict(),
            "human": self.human.state_dict(),
            "perm_gen": self.perm_gen.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.round = int(state["round"])
        self.g_step_count = int(state["g_step_count"])
        self.g_opt.load_state_dict(state["g_opt"])
        if self.d_opt is not None:
            self.d_opt.load_state_dict(state["d_opt"])
        self.route.load_state_dict(state["route"])
        self.human.load_state_dict(state["human"])
        self.perm_gen.set_state(state["perm_gen"])
