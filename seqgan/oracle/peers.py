"""The peer text GANs as rows of the synthetic-oracle benchmark: ``rankgan``, ``leakgan`` and ``relgan``
(``maligan`` only changes the seqgan row's reward and runs in :meth:`OracleBenchmark.run_row`).

Every row shares the benchmark's oracle, data, MLE generator, D and its training (``disc`` section: optimiser,
negatives per refresh, epochs, batch composition), the ``adv`` schedule (rounds, G steps, D refreshes per round,
rollouts) and the evaluation; each adds only what its method adds:

- ``rankgan``: a :class:`~seqgan.models.ranker.Ranker` (the CNN of ``disc.model``) pretrained and refreshed with
  D's counts on the ranking objective instead of D; G's Monte Carlo rollout reward is the rank score of each
  completion among human sentences (the comparison set C+) against a reference set, both drawn anew every G step.
- ``leakgan``: a :class:`~seqgan.models.leakgan.LeakGANPolicy` reading a copy of the pretrained D's features; it is
  pretrained (rounds of D refreshes on its own samples and epochs of worker MLE + manager goal loss), then each
  round takes G steps (manager: rescaled Monte Carlo values of its goals; worker: intrinsic reward) and D
  refreshes.
- ``relgan``: a :class:`~seqgan.models.relational.RelationalPolicy` pretrained by MLE, then ``relgan.steps``
  iterations of 1 G step through the :class:`~seqgan.models.relgan_discriminator.MultiRepDiscriminator` and
  ``relgan.d_steps`` D steps, relativistic standard loss, Gumbel-softmax inverse temperature annealed to beta_max.

The rows whose generator is not the MLE LSTM (leakgan, relgan) report their pretraining time inside their wall
time (``pretrain_s``) and their curve starts at the end of their pretraining (round 0).
"""

from __future__ import annotations

import copy
import math
import time

import torch
import torch.nn.functional as F

from seqgan.models.leakgan import LeakGANPolicy, LeakGANShape
from seqgan.models.policy import Context, eval_mode
from seqgan.models.ranker import Ranker
from seqgan.models.relational import RelationalPolicy, RelationalShape
from seqgan.models.relgan_discriminator import MultiRepDiscriminator
from seqgan.objectives.leakgan import intrinsic_reward, manager_loss, worker_loss
from seqgan.objectives.ranking import ranker_loss
from seqgan.objectives.relativistic import rsgan_discriminator_loss, rsgan_generator_loss
from seqgan.objectives.temperature import TemperatureSchedule
from seqgan.oracle.config import row_rounds
from seqgan.oracle.data import sample_sequences
from seqgan.oracle.steps import mle_steps, pg_step, train_discriminator
from seqgan.rewards import MonteCarloReward, RolloutPolicy
from seqgan.rewards.rescaled import rank_rescale

PEER_ROWS = ("rankgan", "leakgan", "relgan")


def _rows(data: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` rows of (N, T) ``data`` drawn with replacement (global RNG)."""
    return data[torch.randint(0, data.shape[0], (n,), device=data.device)]


def _clipped_step(opt: torch.optim.Optimizer, params: list, clip: float) -> None:
    torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()


class _Clock:
    """Wall time of a row without its evaluations."""

    def __init__(self) -> None:
        self.start, self.eval_s = time.perf_counter(), 0.0

    def point(self, bench, policy, curve: list, stage: str, **record) -> float:
        """Append a learning-curve point (``record``'s ``round`` or ``step``, NLL-oracle) to ``curve`` and log it with
        its NLL-test and ``record``; its time is not counted. Returns the NLL-oracle."""
        t = time.perf_counter()
        nll_o, nll_t = bench.curve_point(policy), bench.curve_nll_test(policy)
        self.eval_s += time.perf_counter() - t
        curve.append((record.get("round", record.get("step")), nll_o))
        bench.log(stage=stage, nll_oracle=nll_o, nll_test=nll_t, **record)
        return nll_o

    @property
    def wall(self) -> float:
        return time.perf_counter() - self.start - self.eval_s


def _finish(bench, name: str, policy, clock: _Clock, curve: list, **extra) -> dict:
    wall = clock.wall
    nll_o, nll_t = bench.evaluate(policy)
    policy.save_pretrained(bench.dir / f"generator_{name}")
    return {"row": name, "nll_oracle": nll_o, "nll_test": nll_t, "wall_s": wall, "curve": curve, **extra}


def run_peer_row(bench, name: str) -> dict:
    """Train and score peer row ``name`` on a prepared :class:`~seqgan.oracle.benchmark.OracleBenchmark`."""
    return {"rankgan": run_rankgan_row, "leakgan": run_leakgan_row, "relgan": run_relgan_row}[name](bench)


# --------------------------------------------------------------------------- RankGAN
def train_ranker(ranker: Ranker, opt: torch.optim.Optimizer, policy, real: torch.Tensor, refreshes: int,
                 epochs: int, negatives: int, batch_size: int, reference_size: int) -> dict[str, float]:
    """D's counts for the ranker: ``refreshes`` x (``negatives`` fresh samples of G and as many human rows;
    ``epochs`` passes in steps of ``batch_size`` human + ``batch_size`` generated sentences, each ranked against
    the other side, with a fresh reference set of ``reference_size`` human sentences)."""
    terms: dict[str, float] = {}
    for _ in range(refreshes):
        fake, pos = sample_sequences(policy, negatives), _rows(real, negatives)
        ranker.train()
        for _ in range(epochs):
            order_p, order_f = torch.randperm(negatives), torch.randperm(negatives)
            for start in range(0, negatives - batch_size + 1, batch_size):
                loss, terms = ranker_loss(ranker, pos[order_p[start:start + batch_size]],
                                          fake[order_f[start:start + batch_size]], _rows(real, reference_size))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    ranker.eval()
    return terms


def run_rankgan_row(bench) -> dict:
    c, a, r = bench.cfg, bench.cfg.adv, bench.cfg.rankgan
    policy = copy.deepcopy(bench.mle)
    opt = torch.optim.Adam(policy.parameters(), lr=c.mle.lr)
    if not a.fresh_optimizer:
        opt.load_state_dict(bench.mle_opt.state_dict())
    ranker = Ranker(c.disc.model, c.data.vocab_size, r.gamma).to(bench.device)
    ranker_opt = torch.optim.Adam(ranker.parameters(), lr=c.disc.lr)
    clock, curve = _Clock(), [(0, bench.curve_point(bench.mle))]
    terms = train_ranker(ranker, ranker_opt, policy, bench.train, r.pretrain_refreshes or c.disc.pretrain_refreshes,
                         c.disc.epochs, c.disc.negatives, c.disc.batch_size, r.reference_size)
    pretrain_s = clock.wall
    bench.log(stage="rankgan_pretrain", wall_s=pretrain_s, **terms)
    rollout_policy = RolloutPolicy(policy, rate=a.rollout_rate)
    reward = MonteCarloReward(ranker, rollout_policy, a.rollouts)
    rounds = row_rounds(c, "rankgan")
    for rnd in range(1, rounds + 1):
        for _ in range(a.g_steps):
            ranker.set_sets(_rows(bench.train, r.reference_size), _rows(bench.train, r.comparison_size))
            info = pg_step(policy, opt, reward, a.batch_size, c.mle.grad_clip, a.pg_reduction)
            rollout_policy.update()
        info.update(train_ranker(ranker, ranker_opt, policy, bench.train, a.d_refreshes, c.disc.epochs,
                                 c.disc.negatives, c.disc.batch_size, r.reference_size))
        if rnd % a.eval_every == 0 or rnd == rounds:
            clock.point(bench, policy, curve, "rankgan", round=rnd, **info)
    ranker.save_pretrained(bench.dir / "ranker_rankgan")
    return _finish(bench, "rankgan", policy, clock, curve, pretrain_s=pretrain_s)


# --------------------------------------------------------------------------- LeakGAN
def leakgan_pretrain_step(policy: LeakGANPolicy, opts, batch: torch.Tensor, clip: float) -> dict[str, float]:
    """Worker MLE + manager goal loss (values 1) on human sentences (B, T)."""
    policy.train()
    logits, goals, feats = policy.unroll(batch)
    nll = F.cross_entropy(logits.flatten(0, 1).float(), batch.flatten())
    goal = manager_loss(goals, feats, policy.shape.step_size)
    return _leakgan_update(policy, opts, nll + goal, clip) | {"nll": float(nll.detach()), "goal": float(goal.detach())}


def leakgan_adversarial_step(policy: LeakGANPolicy, opts, reward: MonteCarloReward, delta: float, batch_size: int,
                             clip: float) -> dict[str, float]:
    """One LeakGAN G step: sample (B, T); the Monte Carlo values of D (B, T), rescaled by rank per position; the
    manager's goal t is credited with the value after its c tokens; the worker with its intrinsic reward."""
    ctx = Context.empty(batch_size, policy.start.device)
    with eval_mode(policy):
        replies = policy.sample(ctx)
    q = rank_rescale(reward(ctx, replies), delta)  # (B, T)
    policy.train()
    logits, goals, feats = policy.unroll(replies.ids)
    T, c = replies.ids.shape[1], policy.shape.step_size
    values = q[:, (torch.arange(T, device=q.device) + c - 1).clamp(max=T - 1)]  # (B, T): after goal t's c tokens
    logp = torch.log_softmax(logits.float(), -1).gather(-1, replies.ids.unsqueeze(-1)).squeeze(-1)
    intrinsic = intrinsic_reward(goals, feats, c)
    loss = manager_loss(goals, feats, c, values) + worker_loss(logp, intrinsic)
    return _leakgan_update(policy, opts, loss, clip) | {"intrinsic": float(intrinsic.mean()),
                                                         "reward": float(q.mean())}


def _leakgan_update(policy: LeakGANPolicy, opts, loss: torch.Tensor, clip: float) -> dict[str, float]:
    """Backward once (the worker's and the manager's gradients do not mix), clip and step each part."""
    worker_opt, manager_opt = opts
    worker_opt.zero_grad(set_to_none=True)
    manager_opt.zero_grad(set_to_none=True)
    loss.backward()
    _clipped_step(worker_opt, policy.worker_parameters(), clip)
    _clipped_step(manager_opt, policy.manager_parameters(), clip)
    return {"loss": float(loss.detach())}


def run_leakgan_row(bench) -> dict:
    c, a, L = bench.cfg, bench.cfg.adv, bench.cfg.leakgan
    disc = copy.deepcopy(bench.disc)
    disc_opt = torch.optim.Adam(disc.parameters(), lr=c.disc.lr)
    disc_opt.load_state_dict(bench.disc_opt.state_dict())
    shape = LeakGANShape(c.data.vocab_size, L.embed_dim, L.hidden_dim, L.goal_size, L.step_size, c.data.seq_len,
                         disc.reply_encoder.out_dim)
    policy = LeakGANPolicy(shape).to(bench.device).attach(disc)
    opts = (torch.optim.Adam(policy.worker_parameters(), lr=L.lr),
            torch.optim.Adam(policy.manager_parameters(), lr=L.lr))

    def refresh(times: int) -> dict[str, float]:
        return train_discriminator(disc, disc_opt, policy, bench.train, times, c.disc.epochs, c.disc.negatives,
                                   c.disc.batch_size, c.disc.composition)

    clock = _Clock()
    steps_per_epoch = max(1, bench.train.shape[0] // c.mle.batch_size)
    for pr in range(1, L.pretrain_rounds + 1):
        refresh(L.pretrain_d_refreshes)
        for _ in range(L.pretrain_epochs * steps_per_epoch):
            info = leakgan_pretrain_step(policy, opts, _rows(bench.train, c.mle.batch_size), c.mle.grad_clip)
        bench.log(stage="leakgan_pretrain", round=pr, **info)
    pretrain_s = clock.wall
    curve: list = []
    clock.point(bench, policy, curve, "leakgan", round=0)
    adv_lr = L.adv_lr or L.lr  # fresh optimisers, as LeakGAN's adversarial updates have their own
    opts = (torch.optim.Adam(policy.worker_parameters(), lr=adv_lr),
            torch.optim.Adam(policy.manager_parameters(), lr=adv_lr))
    reward = MonteCarloReward(disc, RolloutPolicy(policy, rate=0.0), L.rollouts)
    rounds = row_rounds(c, "leakgan")
    for rnd in range(1, rounds + 1):
        for _ in range(a.g_steps):
            info = leakgan_adversarial_step(policy, opts, reward, L.rescale_delta, a.batch_size, c.mle.grad_clip)
        info.update({f"d_{k}": v for k, v in refresh(a.d_refreshes).items()})
        if rnd % a.eval_every == 0 or rnd == rounds:
            clock.point(bench, policy, curve, "leakgan", round=rnd, **info)
    disc.save_pretrained(bench.dir / "discriminator_leakgan")
    return _finish(bench, "leakgan", policy, clock, curve, pretrain_s=pretrain_s)


# --------------------------------------------------------------------------- RelGAN
def relgan_iteration(policy: RelationalPolicy, disc: MultiRepDiscriminator, g_opt, d_opt, real_batches, tau: float,
                     clip: float) -> dict[str, float]:
    """1 G step then len(real_batches) - 1 D steps, each on its own batch of human sentences (B, T); D keeps its
    dropout on throughout, as in RelGAN's graph."""
    B = real_batches[0].shape[0]
    ctx = Context.empty(B, real_batches[0].device)
    policy.train()
    disc.train()
    disc.requires_grad_(False)
    fake = policy.relaxed_sample(ctx, tau=tau, mode="gumbel_soft")  # (B, T, V) with gradient
    g_loss = rsgan_generator_loss(disc.rep_logits(real_batches[0]), disc.rep_logits(fake.probs))
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    _clipped_step(g_opt, list(policy.parameters()), clip)
    disc.requires_grad_(True)
    d_loss = g_loss
    for real in real_batches[1:]:
        with torch.no_grad():
            fake_probs = policy.relaxed_sample(ctx, tau=tau, mode="gumbel_soft").probs
        d_loss = rsgan_discriminator_loss(disc.rep_logits(real), disc.rep_logits(fake_probs))
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        _clipped_step(d_opt, list(disc.parameters()), clip)
    return {"g_loss": float(g_loss.detach()), "d_loss": float(d_loss.detach()), "tau": tau}


def run_relgan_row(bench) -> dict:
    c, R = bench.cfg, bench.cfg.relgan
    shape = RelationalShape(c.data.vocab_size, R.embed_dim, R.mem_slots, R.num_heads, R.head_size, c.data.seq_len)
    policy = RelationalPolicy(shape).to(bench.device)
    opt = torch.optim.Adam(policy.parameters(), lr=c.mle.lr)
    clock = _Clock()
    steps_per_epoch = max(1, bench.train.shape[0] // c.mle.batch_size)
    for epoch in range(1, R.pretrain_epochs + 1):
        loss = mle_steps(policy, opt, bench.train, steps_per_epoch, c.mle.batch_size, c.mle.grad_clip,
                         shuffle=c.mle.shuffle)
        bench.log(stage="relgan_pretrain", epoch=epoch, loss=loss)
    pretrain_s = clock.wall
    curve: list = []
    clock.point(bench, policy, curve, "relgan", step=0)
    disc = MultiRepDiscriminator(R.disc, c.data.vocab_size).to(bench.device)
    g_opt = torch.optim.Adam(policy.parameters(), lr=R.g_lr)
    d_opt = torch.optim.Adam(disc.parameters(), lr=R.d_lr)
    schedule = TemperatureSchedule(R.adapt, beta_max=R.beta_max, steps=R.steps, where="relgan")
    for step in range(R.steps):
        reals = [_rows(bench.train, R.batch_size) for _ in range(1 + R.d_steps)]
        info = relgan_iteration(policy, disc, g_opt, d_opt, reals, schedule.tau(step), c.mle.grad_clip)
        if (step + 1) % R.eval_every == 0 or step + 1 == R.steps:
            clock.point(bench, policy, curve, "relgan", step=step + 1, **info)
            if not math.isfinite(info["g_loss"]):
                break
    disc.save_pretrained(bench.dir / "discriminator_relgan")
    return _finish(bench, "relgan", policy, clock, curve, pretrain_s=pretrain_s)


# --------------------------------------------------------------------------- loading a finished row
def load_row_generator(run_dir, name: str):
    """The generator a finished row saved in ``run_dir/generator_<name>``: an LSTM, or a peer's own generator
    (LeakGAN's reattached to the D it trained against, ``discriminator_leakgan``), in eval mode."""
    from pathlib import Path

    from seqgan.models.discriminators import load_saved_discriminator
    from seqgan.models.lstm import LSTMPolicy

    run_dir = Path(run_dir)
    directory = run_dir / f"generator_{name}"
    if name == "leakgan":
        disc = load_saved_discriminator(run_dir / "discriminator_leakgan")
        return LeakGANPolicy.from_pretrained(directory).attach(disc).eval()
    if name == "relgan":
        return RelationalPolicy.from_pretrained(directory).eval()
    return LSTMPolicy.from_pretrained(directory).eval()
