"""Adversarial success (AdverSuc, Li et al. 2017): how often a separately trained evaluator D takes the
generator's replies for human ones.

A fresh discriminator, never used in training, learns human vs. generated replies on pairs that neither the
generator nor the adversarial D saw (the caller passes them; the comparison uses the valid split); it then judges
the generator's replies to held-out test contexts. AdverSuc is the fraction judged human (probability > 0.5). The
evaluator's accuracy on the held-out *human* replies, its balanced accuracy and its AUC (human vs generated, free of
its threshold) are reported beside it: AdverSuc
is only as good as its evaluator (an evaluator at chance makes any AdverSuc figure noise; Li et al. report the
evaluator's error next to it).

The evaluator is any D design (``cfg``); ``encoder: generator`` starts from ``init_policy`` (default: the judged
policy), e.g. the MLE generator for every model of a comparison, so all evaluators start alike.
"""

from __future__ import annotations

import torch

from seqgan.data import make_loader, to_context, to_replies
from seqgan.models.discriminator import DiscriminatorConfig
from seqgan.models.discriminators import build_discriminator, optimizer_groups
from seqgan.models.policy import eval_mode
from seqgan.objectives.discriminator_loss import LossWeights, discriminator_loss

#: below this balanced accuracy the evaluator cannot tell the model's replies from human ones
MIN_EVALUATOR_ACC = 0.70


@torch.no_grad()
def _sample_all(policy, dataset, pad_id: int, batch_size: int, device, temperature: float) -> list[dict]:
    """Human and generated replies for every row of ``dataset`` as CPU batches."""
    out = []
    with eval_mode(policy):
        for batch in make_loader(dataset, pad_id, batch_size, shuffle=False):
            context = to_context(batch).to(device)
            generated = policy.sample(context, temperature=temperature)
            out.append({"context": to_context(batch), "human": to_replies(batch),
                        "generated": type(generated)(generated.ids.cpu(), generated.mask.cpu())})
    return out


def adversarial_success(policy, train_pairs, eval_pairs, cfg: DiscriminatorConfig | None = None, seed: int = 0,
                        steps: int = 300, batch_size: int = 32, lr: float = 1e-3, temperature: float = 1.0,
                        init_policy=None, tokenizer=None) -> dict:
    """Train an evaluator on ``train_pairs`` (human vs. ``policy``'s replies at ``temperature``) for ``steps``
    updates, then judge ``eval_pairs``.

    train_pairs / eval_pairs: encoded datasets with disjoint contexts. Returns ``adversuc`` (fraction of generated
    replies judged human), ``evaluator_acc_human`` (fraction of held-out human replies judged human),
    ``evaluator_acc`` (balanced held-out accuracy) and ``num_eval``. Deterministic for a seed; the global RNG state
    is restored. ``tokenizer`` (the generator's) is needed by an evaluator that reads text (``encoder: minilm``).
    """
    device = next(policy.parameters()).device
    pad_id = policy.pad_id
    rng_state = torch.get_rng_state()
    try:
        torch.manual_seed(seed)
        train = _sample_all(policy, train_pairs, pad_id, batch_size, device, temperature)
        held_out = _sample_all(policy, eval_pairs, pad_id, batch_size, device, temperature)
        evaluator = build_discriminator(cfg or DiscriminatorConfig(), policy.vocab_size, pad_id,
                                        init_policy if init_policy is not None else policy, tokenizer).to(device)
        optimizer = torch.optim.Adam(optimizer_groups(evaluator, lr))
        # human vs. machine only, the two classes weighted alike: its threshold then sits where balanced
        # accuracy, the figure it is judged by, is made (the D loss's 1 / 0.5 would tilt it toward "human")
        weights = LossWeights(weight_real=1.0, weight_fake=1.0, weight_mismatch=0.0)
        evaluator.train()
        order = torch.Generator().manual_seed(seed)
        for step in range(steps):
            b = train[int(torch.randint(len(train), (1,), generator=order))]
            loss, _ = discriminator_loss(evaluator, b["context"].to(device), _to(b["human"], device),
                                         _to(b["generated"], device), weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        p_gen, p_hum = [], []  # reward(): eval mode, no gradient
        for b in held_out:
            context = b["context"].to(device)
            p_gen.append(evaluator.reward(context, b["generated"].ids.to(device), b["generated"].mask.to(device)))
            p_hum.append(evaluator.reward(context, b["human"].ids.to(device), b["human"].mask.to(device)))
    finally:
        torch.set_rng_state(rng_state)
    p_gen, p_hum = torch.cat(p_gen).cpu(), torch.cat(p_hum).cpu()
    total = p_gen.shape[0]
    adversuc = float((p_gen > 0.5).float().mean()) if total else 0.0
    acc_human = float((p_hum > 0.5).float().mean()) if total else 0.0
    return {"adversuc": adversuc, "evaluator_acc_human": acc_human,
            "evaluator_acc": 0.5 * (acc_human + 1.0 - adversuc), "evaluator_auc": ranking_auc(p_hum, p_gen),
            "num_eval": total}


def ranking_auc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """P(a random positive scores above a random negative), ties counted half (scikit-learn's ROC AUC): how well
    an evaluator ranks human above generated replies whatever its threshold (0.5: it cannot; AdverSuc rising at
    an unchanged AUC is the evaluator's threshold moving, not the replies getting harder to tell apart)."""
    from sklearn.metrics import roc_auc_score

    if not len(pos) or not len(neg):
        return float("nan")
    scores = torch.cat([pos, neg]).double().numpy()
    return float(roc_auc_score([1] * len(pos) + [0] * len(neg), scores))


def _to(replies, device):
    return type(replies)(replies.ids.to(device), replies.mask.to(device))
