"""The relaxed rows of the synthetic-oracle benchmark: ``gumbel_st`` and ``continuous``.

Both continue the MLE generator against a copy of the pretrained CNN D, like the ``seqgan`` row, but G learns
through D's gradient instead of a policy gradient (:mod:`seqgan.adversarial.routes`):

- ``gumbel_st``: straight-through Gumbel-softmax; the inverse temperature rises RelGAN-style from 1 to
  :data:`BETA_MAX` over the row's own G steps (rounds x g_steps).
- ``continuous``: G's plain softmax vectors (temperature 1) go into D.

Each round makes ``adv.g_steps`` G updates (``adv.batch_size`` sequences, the non-saturating loss, the MLE
learning rate in a fresh Adam as for the policy-gradient rows), then ``adv.d_refreshes`` D updates of one batch of
``disc.batch_size`` oracle samples vs as many relaxed G samples (real 1 / fake 1, no mismatch term: the task is
unconditional). The cheating score of D's inputs and the temperature are logged in ``metrics.jsonl``.
"""

from __future__ import annotations

import copy
import time

import torch

from seqgan.models.policy import Context, Replies
from seqgan.objectives.discriminator_loss import LossWeights, discriminator_loss
from seqgan.objectives.temperature import TemperatureSchedule
from seqgan.adversarial.routes import make_update, relaxed_discriminator_step, relaxed_generator_step

RELAXED_ROWS = {"gumbel_st": "gumbel_st", "continuous": "softmax"}  # row -> relaxed decoding mode
BETA_MAX = 100.0
_WEIGHTS = LossWeights(weight_real=1.0, weight_fake=1.0, weight_mismatch=0.0)


def _d_loss(disc, context, human, generated, perm):
    return discriminator_loss(disc, context, human, generated, _WEIGHTS, mismatch_perm=perm)


def run_relaxed_row(bench, name: str) -> dict:
    """Train and score relaxed row ``name`` on an :class:`~seqgan.oracle.benchmark.OracleBenchmark` that has run
    ``prepare``, ``pretrain`` and ``pretrain_discriminator``; returns the row dict of the results table."""
    c, a = bench.cfg, bench.cfg.adv
    mode = RELAXED_ROWS[name]
    policy = copy.deepcopy(bench.mle)
    opt = torch.optim.Adam(policy.parameters(), lr=c.mle.lr)
    disc = copy.deepcopy(bench.disc)
    disc_opt = torch.optim.Adam(disc.parameters(), lr=c.disc.lr)
    disc_opt.load_state_dict(bench.disc_opt.state_dict())
    update_g = make_update(opt, list(policy.parameters()), c.mle.grad_clip)
    update_d = make_update(disc_opt, list(disc.parameters()))
    steps = a.rounds * a.g_steps
    schedule = (TemperatureSchedule("relgan_exp", beta_max=BETA_MAX, steps=steps) if mode == "gumbel_st"
                else TemperatureSchedule("constant", tau_start=1.0, steps=steps))
    g_ctx, d_ctx = Context.empty(a.batch_size, bench.device), Context.empty(c.disc.batch_size, bench.device)
    t0 = time.perf_counter()
    eval_s, step = 0.0, 0
    curve = [(0, bench.curve_point(bench.mle))]
    for rnd in range(1, a.rounds + 1):
        info: dict[str, float] = {}
        disc.requires_grad_(False)  # no gradient reaches D in G's steps
        for _ in range(a.g_steps):
            info = relaxed_generator_step(policy, disc, g_ctx, update_g, schedule.tau(step), mode)
            step += 1
        disc.requires_grad_(True)
        for _ in range(a.d_refreshes):
            real = bench.train[torch.randint(0, bench.train.shape[0], (c.disc.batch_size,), device=bench.device)]
            info.update(relaxed_discriminator_step(policy, disc, update_d, d_ctx, Replies(real, torch.ones_like(real)),
                                                   schedule.tau(step), mode, d_loss=_d_loss))
        if rnd % a.eval_every == 0 or rnd == a.rounds:
            t1 = time.perf_counter()
            curve.append((rnd, bench.curve_point(policy)))
            eval_s += time.perf_counter() - t1
            bench.log(stage=name, round=rnd, nll_oracle=curve[-1][1], **info)
    wall = time.perf_counter() - t0 - eval_s
    nll_o, nll_t = bench.evaluate(policy)
    policy.save_pretrained(bench.dir / f"generator_{name}")
    return {"row": name, "nll_oracle": nll_o, "nll_test": nll_t, "wall_s": wall, "curve": curve}
