"""The conditional discriminator's loss: three named terms, for the joint and the split head.

=========  ==========================================  ===================================================
term       joint head                                  split head (realism r(x), match m(c, x))
=========  ==========================================  ===================================================
real       D(c, x_human) -> 1                          r(x_human) -> 1 and m(c, x_human) -> 1
fake       D(c, G(c)) -> 0                             r(G(c)) -> 0  (match is not asked: G's reply may
                                                       well answer c; realism is what it lacks)
mismatch   D(c', x_human) -> 0, c' from another row    m(c', x_human) -> 0 and r(x_human) -> 1
=========  ==========================================  ===================================================

Default weights follow the matching-aware discriminator (GAN-CLS): real 1, fake 0.5, mismatch 0.5, so positives
and negatives weigh the same. With 1 / 1 / 1 a human reply is a negative (under the wrong context) as often as a
positive, and an untrained D that cannot read the context yet learns to call every reply fake.

The mismatch term teaches D that a fluent human reply is still wrong for another context, so the generator cannot
win by producing generic human-sounding text. It is skipped for an empty context (unconditional tasks).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from seqgan.config import field
from seqgan.models.policy import Context, Replies, eval_mode


@dataclass
class LossWeights:
    weight_real: float = field(1.0, help="weight of the human (c, x) -> real term")
    weight_fake: float = field(0.5, help="weight of the generated (c, G(c)) -> fake term")
    weight_mismatch: float = field(0.5, help="weight of the mismatched-context term (0 drops it)")


def mismatch_permutation(n: int, generator: torch.Generator | None = None) -> Tensor:
    """(n,) a permutation without fixed points: row i is paired with the context of row perm[i] != i."""
    if n < 2:
        return torch.zeros(n, dtype=torch.long)
    order = torch.randperm(n, generator=generator)
    shift = int(torch.randint(1, n, (1,), generator=generator))
    perm = torch.empty(n, dtype=torch.long)
    perm[order] = order.roll(shift)
    return perm


def mismatch_permutations(n: int, k: int = 1, generator: torch.Generator | None = None) -> Tensor:
    """(n,) one derangement when ``k`` is 1 (the same draw as :func:`mismatch_permutation`), else (k, n): k of them,
    so each human reply is scored under k wrong contexts. With a D whose encodings are cached (``encoder: minilm``)
    the extra negatives need no new encoder calls, only cache look-ups and the head."""
    if k == 1:
        return mismatch_permutation(n, generator)
    return torch.stack([mismatch_permutation(n, generator) for _ in range(k)])


def _bce(logit: Tensor, target: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(logit.float(), torch.full_like(logit.float(), target))


def _acc(logit: Tensor, real: bool) -> float:
    return float(((logit > 0) if real else (logit < 0)).float().mean())


def discriminator_loss(disc, context: Context, human: Replies, generated: Replies, weights,
                       mismatch_perm: Tensor | None = None,
                       generated_context: Context | None = None) -> tuple[Tensor, dict[str, float]]:
    """Weighted sum of the real / fake / mismatch terms (+ D's L2 penalty) and a dict of per-term diagnostics.

    context: (B, S); human / generated: replies (B, T) and (B, T'); ``weights`` has ``weight_real``,
    ``weight_fake``, ``weight_mismatch`` (a :class:`LossWeights` or any config with those fields).
    ``mismatch_perm`` (B,) pairs each human reply with the context of another row (a derangement; drawn when None);
    (k, B) gives k wrong contexts per reply, and the mismatch term and its accuracy are their mean.
    ``generated_context`` (B', S): the contexts the generated replies (B', T') answer, when they are not the human
    pairs' (e.g. G's replies from a replay buffer); default ``context``.
    Returns ``(loss, terms)`` with ``loss_real``, ``loss_fake``, ``loss_mismatch``, ``acc_real``, ``acc_fake``,
    ``acc_mismatch`` (accuracy of the combined logit on each kind of example).
    """
    split = disc.cfg.head == "split"
    real = disc(context, human.ids, human.mask)
    fake = disc(context if generated_context is None else generated_context, generated.ids, generated.mask)
    if split and not context.is_empty:
        loss_real = _bce(real.realism, 1.0) + _bce(real.match, 1.0)
        loss_fake = _bce(fake.realism, 0.0)
    else:
        loss_real, loss_fake = _bce(real.logit, 1.0), _bce(fake.logit, 0.0)
    terms = {"loss_real": loss_real.item(), "loss_fake": loss_fake.item(),
             "acc_real": _acc(real.logit, True), "acc_fake": _acc(fake.logit, False)}
    loss = weights.weight_real * loss_real + weights.weight_fake * loss_fake
    if weights.weight_mismatch > 0 and not context.is_empty and context.batch_size > 1:
        perm = mismatch_permutation(context.batch_size) if mismatch_perm is None else mismatch_perm
        losses, accs = [], []
        rows = perm.view(-1, context.batch_size).to(context.ids.device)
        # a D that can encode the contexts and replies once and pair them k ways says so (forward_mismatched)
        paired = getattr(disc, "forward_mismatched", None)
        outputs = (paired(context, human.ids, human.mask, rows) if paired is not None
                   else [disc(context.index(row), human.ids, human.mask) for row in rows])
        for wrong in outputs:
            if split:
                losses.append(_bce(wrong.match, 0.0) + _bce(wrong.realism, 1.0))
            else:
                losses.append(_bce(wrong.logit, 0.0))
            accs.append(_acc(wrong.logit, False))
        loss_mismatch = torch.stack(losses).mean()
        loss = loss + weights.weight_mismatch * loss_mismatch
        terms.update(loss_mismatch=loss_mismatch.item(), acc_mismatch=sum(accs) / len(accs))
    loss = loss + disc.l2_penalty()
    return loss, terms


@torch.no_grad()
def evaluate_discriminator(disc, batches: Iterable[tuple], weights=None) -> dict[str, float]:
    """Held-out loss and accuracy per term, averaged over examples (D in eval mode, mode restored).

    batches: ``(context, human, generated)`` or ``(context, human, generated, mismatch_perm)`` tuples; without a
    permutation one is drawn from a fixed seed so repeated evaluations are comparable. ``weights`` defaults to
    all terms on. Returns ``loss_real``, ``acc_real``, ``loss_fake``, ``acc_fake`` (+ ``loss_mismatch``,
    ``acc_mismatch`` when the context is not empty) and ``num_pairs``.
    """
    weights = weights or LossWeights()
    gen = torch.Generator().manual_seed(0)
    sums: dict[str, float] = {}
    count = 0
    with eval_mode(disc):
        for batch in batches:
            context, human, generated = batch[:3]
            perm = batch[3] if len(batch) > 3 else mismatch_permutation(context.batch_size, gen)
            _, terms = discriminator_loss(disc, context, human, generated, weights, mismatch_perm=perm)
            n = context.batch_size
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + value * n
            count += n
    out = {key: value / max(count, 1) for key, value in sums.items()}
    out["num_pairs"] = count
    return out
