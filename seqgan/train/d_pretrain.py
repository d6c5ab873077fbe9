"""Discriminator pretraining: human pairs vs. the fixed MLE generator's replies (+ mismatched contexts)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import islice

import torch
from tqdm.auto import tqdm

from seqgan.config import field
from seqgan.data import make_loader, to_context, to_replies
from seqgan.errors import ConfigError
from seqgan.models.policy import eval_mode
from seqgan.objectives.discriminator_loss import discriminator_loss, mismatch_permutation


@dataclass
class DPretrainConfig:
    steps: int = field(150, help="D updates on human vs generated vs mismatched batches")
    batch_size: int = field(32, help="pairs per D update")
    lr: float = field(1e-3, help="Adam learning rate of D")
    weight_real: float = field(1.0, help="weight of the human (c, x) -> real term")
    weight_fake: float = field(1.0, help="weight of the generated (c, G(c)) -> fake term")
    weight_mismatch: float = field(1.0, help="weight of the mismatched-context term (0 drops it)")
    temperature: float = field(1.0, help="sampling temperature of the generator's negatives")
    eval_batches: int = field(8, help="held-out batches for the per-term accuracies")
    seed: int = field(0, help="data order and mismatch pairing")

    def validate(self) -> None:
        if self.steps < 0 or self.batch_size < 2:
            raise ConfigError("d_pretrain.steps >= 0 and d_pretrain.batch_size >= 2 expected")
        if min(self.weight_real, self.weight_fake, self.weight_mismatch) < 0:
            raise ConfigError("d_pretrain.weight_*: expected non-negative weights")


def _progress(total: int, desc: str):
    quiet = os.environ.get("CI") == "true" or not os.isatty(2)
    return tqdm(total=total, desc=desc, disable=quiet, leave=False)


def _sides(batch, policy, device, temperature: float):
    context, human = to_context(batch).to(device), to_replies(batch)
    human.ids, human.mask = human.ids.to(device), human.mask.to(device)
    with torch.no_grad(), eval_mode(policy):
        generated = policy.sample(context, temperature=temperature)
    return context, human, generated


@torch.no_grad()
def evaluate_discriminator(disc, policy, dataset, pad_id: int, cfg: DPretrainConfig, device="cpu") -> dict:
    """Held-out accuracy of D on each term (real / fake / mismatch) over ``cfg.eval_batches`` batches."""
    loader = make_loader(dataset, pad_id, cfg.batch_size, shuffle=False)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    sums: dict[str, float] = {}
    batches = 0
    with eval_mode(disc):
        for batch in islice(loader, cfg.eval_batches):
            context, human, generated = _sides(batch, policy, device, cfg.temperature)
            perm = mismatch_permutation(context.batch_size, gen)
            _, terms = discriminator_loss(disc, context, human, generated, cfg, mismatch_perm=perm)
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + value
            batches += 1
    return {f"valid_{k}": v / max(batches, 1) for k, v in sums.items()}


def pretrain_discriminator(policy, disc, train, cfg: DPretrainConfig, device="cpu", valid=None) -> dict:
    """Train ``disc`` for ``cfg.steps`` updates against the fixed ``policy``; returns the last terms and, with
    ``valid`` (an encoded dataset), held-out accuracies per term.

    ``train``/``valid``: encoded pair datasets (``context_ids``/``reply_ids``). G is sampled in eval mode without
    gradient; fresh negatives are drawn for every batch.
    """
    cfg.validate()
    pad_id = disc.pad_id
    loader = make_loader(train, pad_id, cfg.batch_size, shuffle=True, seed=cfg.seed, drop_last=True)
    optimizer = torch.optim.Adam(disc.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    disc.train()
    terms: dict[str, float] = {}
    bar = _progress(cfg.steps, "D pretrain")
    for batch in islice(cycle_epochs(loader), cfg.steps):
        context, human, generated = _sides(batch, policy, device, cfg.temperature)
        perm = mismatch_permutation(context.batch_size, gen)
        loss, terms = discriminator_loss(disc, context, human, generated, cfg, mismatch_perm=perm)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        bar.update(1)
        bar.set_postfix(acc_real=f"{terms['acc_real']:.2f}", acc_fake=f"{terms['acc_fake']:.2f}")
    bar.close()
    result = {f"train_{k}": v for k, v in terms.items()}
    if valid is not None:
        result.update(evaluate_discriminator(disc, policy, valid, pad_id, cfg, device))
    return result


def cycle_epochs(loader):
    """Iterate a DataLoader forever, epoch after epoch (each epoch reshuffled by the loader's generator)."""
    while True:
        yield from loader
