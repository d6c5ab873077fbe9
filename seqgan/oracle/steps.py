"""The training steps of the synthetic-oracle rows: MLE epochs, one policy-gradient step, D refreshes.

Shared by :mod:`seqgan.oracle.benchmark` and the peer rows (:mod:`seqgan.oracle.peers`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqgan.data.batches import BatchStream
from seqgan.models.discriminator import Discriminator
from seqgan.models.policy import Context, Policy, Replies, eval_mode
from seqgan.objectives.discriminator_loss import LossWeights, discriminator_loss
from seqgan.objectives.reinforce import reinforce_loss
from seqgan.oracle.data import sample_sequences

NO_MISMATCH = LossWeights(weight_real=1.0, weight_fake=1.0, weight_mismatch=0.0)


# --------------------------------------------------------------------------- generator updates
def _clip_step(policy: Policy, opt: torch.optim.Optimizer, loss: torch.Tensor, clip: float) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), clip)
    opt.step()


def mle_steps(policy: Policy, opt: torch.optim.Optimizer, data: torch.Tensor, steps: int, batch_size: int,
              clip: float, ss_prob: float = 0.0, shuffle: bool = True) -> float:
    """``steps`` MLE updates on full batches of (N, T) data (scheduled sampling when ``ss_prob`` > 0), from a fresh
    epoch: shuffled in an order from torch's global RNG, which the benchmark seeds and checkpoints, or with
    ``shuffle=False`` the fixed batches ``data[0:B], data[B:2B], ...`` in turn (the reference code's loader).
    Returns the mean training loss."""
    policy.train()
    batches = BatchStream(data.shape[0], batch_size, seed=None, last="drop") if shuffle else None
    per_epoch = max(1, data.shape[0] // batch_size)
    total = 0.0
    for step in range(steps):
        if batches is not None:
            batch = data[batches.next()]  # (B, T)
        else:
            start = step % per_epoch * batch_size
            batch = data[start:start + batch_size]
        if ss_prob > 0:
            loss = policy.scheduled_sampling_nll(batch, ss_prob)
        else:
            loss = policy.nll(Context.empty(batch.shape[0]), batch, torch.ones_like(batch))
        _clip_step(policy, opt, loss, clip)
        total += loss.item()
    return total / max(steps, 1)


def pg_step(policy: Policy, opt: torch.optim.Optimizer, reward, batch_size: int, clip: float,
            reduction: str = "mean") -> dict[str, float]:
    """One REINFORCE step: sample (B, T), per-token rewards (B, T), loss -sum r * log p / (B*T) (no baseline, as in
    the reference code; ``reduction="sum"``: -sum r * log p, the reference's scale). Returns the mean reward and
    the rollout / scorer seconds."""
    ctx = Context.empty(batch_size)
    with eval_mode(policy):
        replies = policy.sample(ctx)
    rewards = reward(ctx, replies)  # (B, T)
    policy.train()
    logp = policy.score(ctx, replies.ids, replies.mask)  # (B, T) with grad
    loss = reinforce_loss(logp, rewards, replies.mask)
    if reduction == "sum":
        loss = loss * replies.mask.sum()
    _clip_step(policy, opt, loss, clip)
    timing = getattr(reward, "last_timing", {})
    return {"reward": float(rewards.mean()), "rollout_s": timing.get("rollout_s", 0.0),
            "disc_s": timing.get("disc_s", 0.0)}


# --------------------------------------------------------------------------- discriminator
def train_discriminator(disc: Discriminator, opt: torch.optim.Optimizer, policy: Policy, real: torch.Tensor,
                        refreshes: int, epochs: int, negatives: int, batch_size: int,
                        composition: str = "paired") -> dict[str, float]:
    """``refreshes`` x (draw ``negatives`` fresh samples of G; ``epochs`` passes of the real/fake loss).

    ``paired``: as many real rows drawn from ``real`` (N, T) with replacement; one step holds ``batch_size`` real
    and ``batch_size`` generated rows, loss real + fake. ``mixed`` (the reference code): every row of ``real`` and
    the negatives in one pool, shuffled each epoch and cut into batches of ``batch_size`` rows (the last partial
    batch dropped), loss the mean cross-entropy of the batch. Data stay tensors. Returns the last step's terms."""
    terms: dict[str, float] = {}
    for _ in range(refreshes):
        fake = sample_sequences(policy, negatives)  # (n, T)
        disc.train()
        if composition == "mixed":
            for _ in range(epochs):
                terms = _mixed_epoch(disc, opt, real, fake, batch_size)
            continue
        pos = real[torch.randint(0, real.shape[0], (negatives,), device=real.device)]
        for _ in range(epochs):
            order_p, order_f = torch.randperm(negatives), torch.randperm(negatives)
            for start in range(0, negatives, batch_size):
                p, f = pos[order_p[start:start + batch_size]], fake[order_f[start:start + batch_size]]
                ctx = Context.empty(p.shape[0])
                loss, terms = discriminator_loss(disc, ctx, Replies(p, torch.ones_like(p)),
                                                 Replies(f, torch.ones_like(f)), NO_MISMATCH)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    disc.eval()
    return terms


def _mixed_epoch(disc: Discriminator, opt: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor,
                 batch_size: int) -> dict[str, float]:
    """One epoch over the shuffled pool of real (N, T) and fake (M, T) rows in batches of ``batch_size`` mixed rows;
    loss = mean binary cross-entropy (label 1 real, 0 generated) + D's L2 penalty."""
    pool = torch.cat([real, fake])  # (N + M, T)
    labels = torch.cat([torch.ones(real.shape[0]), torch.zeros(fake.shape[0])]).to(pool.device)
    order = torch.randperm(pool.shape[0], device=pool.device)
    terms: dict[str, float] = {}
    for start in range(0, pool.shape[0] - batch_size + 1, batch_size):
        rows = order[start:start + batch_size]
        ids, y = pool[rows], labels[rows]  # (B, T), (B,)
        logit = disc(Context.empty(ids.shape[0], ids.device), ids, torch.ones_like(ids)).logit.float()
        loss = F.binary_cross_entropy_with_logits(logit, y) + disc.l2_penalty()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        real_rows = y > 0.5
        terms = {"loss": float(loss.detach()),
                 "acc_real": float((logit[real_rows] > 0).float().mean()) if real_rows.any() else float("nan"),
                 "acc_fake": float((logit[~real_rows] < 0).float().mean()) if (~real_rows).any() else float("nan")}
    return terms
