"""Discriminator pretraining: human pairs vs. the fixed MLE generator's replies (+ mismatched contexts).

Each D update sees a batch of human (c, x) pairs, the generator's replies G(c) to the same contexts (sampled in
eval mode, without gradient) and the human replies under a deranged context; see
:mod:`seqgan.objectives.discriminator_loss` for the three terms. Negatives live in a small pool of
``pool_batches`` batches that is re-sampled every ``refresh_every`` updates (the defaults, 1 and 1, draw fresh
negatives for every update; SeqGAN instead trains D several epochs on each set of negatives, e.g. 8 and 24).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

import torch

from seqgan.config import check_fields, field
from seqgan.data import make_loader, to_context, to_replies
from seqgan.models.discriminators import optimizer_groups
from seqgan.models.policy import eval_mode
from seqgan.objectives.discriminator_loss import (discriminator_loss, evaluate_discriminator, mismatch_permutation,
                                                  mismatch_permutations)
from seqgan.runs.progress import progress_bar


@dataclass
class DPretrainConfig:
    steps: int = field(200, ge=0, help="D updates on human vs generated vs mismatched batches")
    batch_size: int = field(32, ge=2, help="pairs per D update")
    lr: float = field(1e-3, gt=0, help="Adam learning rate of D")
    weight_real: float = field(1.0, ge=0, help="weight of the human (c, x) -> real term")
    weight_fake: float = field(0.5, ge=0, help="weight of the generated (c, G(c)) -> fake term (GAN-CLS: 0.5)")
    weight_mismatch: float = field(0.5, ge=0, help="weight of the mismatched-context term, 0 drops it (GAN-CLS: 0.5)")
    mismatch_negatives: int = field(1, ge=1, help="wrong contexts per human reply in the mismatch term (its mean); "
                                                  "cheap for a D with cached encodings (encoder: minilm: no new "
                                                  "encoder calls)")
    temperature: float = field(1.0, gt=0, help="sampling temperature of the generator's negatives")
    pool_batches: int = field(1, ge=1, help="batches (human pairs + generator replies) in the negative pool")
    refresh_every: int = field(1, ge=1, help="D updates between re-samplings of the pool (updates cycle through it)")
    eval_batches: int = field(8, ge=0, help="held-out batches for the per-term accuracies")
    seed: int = field(0, help="data order and mismatch pairing")

    def validate(self) -> None:
        check_fields(self, "d_pretrain")


def _sides(batch, policy, device, temperature: float):
    context, human = to_context(batch).to(device), to_replies(batch)
    human.ids, human.mask = human.ids.to(device), human.mask.to(device)
    with torch.no_grad(), eval_mode(policy):
        generated = policy.sample(context, temperature=temperature)
    return context, human, generated


@torch.no_grad()
def heldout_metrics(disc, policy, dataset, cfg: DPretrainConfig, device="cpu") -> dict:
    """``valid_``-prefixed per-term losses/accuracies of D on the first ``cfg.eval_batches`` batches of
    ``dataset`` (an encoded pair dataset) against fresh generator replies; seeded, so repeatable."""
    loader = make_loader(dataset, disc.pad_id, cfg.batch_size, shuffle=False)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    batches = (
        (*_sides(batch, policy, device, cfg.temperature), mismatch_permutation(len(batch["reply_ids"]), gen))
        for batch in islice(loader, cfg.eval_batches)
    )
    return {f"valid_{k}": v for k, v in evaluate_discriminator(disc, batches, cfg).items()}


def pretrain_discriminator(policy, disc, train, cfg: DPretrainConfig, device="cpu", valid=None,
                           callback: Callable[[int, dict[str, float]], None] | None = None) -> dict:
    """Train ``disc`` for ``cfg.steps`` updates against the fixed ``policy``; returns the last terms and, with
    ``valid`` (an encoded dataset), held-out accuracies per term. ``callback(step, metrics)`` (optional) gets the
    loss and terms of every update (live tracking).

    ``train``/``valid``: encoded pair datasets (``context_ids``/``reply_ids``). G is sampled in eval mode without
    gradient; negatives come from the pool described in the module docstring. Returns ``train_*`` (the last
    update's terms) and ``valid_*`` (:func:`heldout_metrics`) floats.
    """
    cfg.validate()
    pad_id = disc.pad_id
    loader = make_loader(train, pad_id, cfg.batch_size, shuffle=True, seed=cfg.seed, drop_last=True)
    optimizer = torch.optim.Adam(optimizer_groups(disc, cfg.lr))
    gen = torch.Generator().manual_seed(cfg.seed)
    disc.train()
    terms: dict[str, float] = {}
    batches = cycle_epochs(loader)
    pool: list = []
    bar = progress_bar(cfg.steps, "D pretrain", leave=False)
    for step in range(cfg.steps):
        if step % cfg.refresh_every == 0:
            pool = [_sides(next(batches), policy, device, cfg.temperature) for _ in range(cfg.pool_batches)]
        context, human, generated = pool[step % len(pool)]
        perm = mismatch_permutations(context.batch_size, cfg.mismatch_negatives, gen).to(context.ids.device)
        loss, terms = discriminator_loss(disc, context, human, generated, cfg, mismatch_perm=perm)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if callback is not None:
            callback(step + 1, {"d_loss": float(loss.detach()), **terms})
        bar.update(1)
        bar.set_postfix(acc_real=f"{terms['acc_real']:.2f}", acc_fake=f"{terms['acc_fake']:.2f}")
    bar.close()
    result = {f"train_{k}": v for k, v in terms.items()}
    if valid is not None:
        result.update(heldout_metrics(disc, policy, valid, cfg, device))
    return result


def cycle_epochs(loader):
    """Iterate a DataLoader forever, epoch after epoch (each epoch reshuffled by the loader's generator).

    D pretraining is one uninterrupted pass (a run saves D when it ends, never in the middle), so it reads batches
    through torch's seeded DataLoader rather than the resumable :class:`seqgan.data.BatchStream`."""
    while True:
        yield from loader
