"""The three-term D loss against hand-computed BCE, for both heads."""

import math

import pytest
import torch

from seqgan.models.discriminator import Discriminator, DiscriminatorConfig, DiscOutput
from seqgan.models.policy import Context, Replies
from seqgan.objectives.discriminator_loss import (
    LossWeights,
    discriminator_loss,
    evaluate_discriminator,
    mismatch_permutation,
    mismatch_permutations,
)


class FixedD(torch.nn.Module):
    """Scores depend only on the first token of reply and context: logits we control exactly."""

    def __init__(self, head):
        super().__init__()
        self.cfg = type("C", (), {"head": head})()
        self.scale = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, context, ids, mask):
        r = self.scale * ids[:, 0].float()  # realism grows with the reply's first token
        agree = ids[:, 0] == context.ids[:, 0] if not context.is_empty else torch.ones_like(ids[:, 0], dtype=torch.bool)
        m = self.scale * agree.float() * 4 - 2  # match: +2 if tokens agree, else -2
        if self.cfg.head == "joint":
            return DiscOutput(r + m, None, None)
        return DiscOutput(r + m, r, m)  # the combined logit is not used by the split-head loss terms

    def l2_penalty(self):
        return torch.zeros(())


def bce(logit, target):
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def setup():
    ctx = Context(torch.tensor([[1], [2]]), torch.ones(2, 1, dtype=torch.long))
    human = Replies(torch.tensor([[1, 9], [2, 9]]), torch.ones(2, 2, dtype=torch.long))
    gen = Replies(torch.tensor([[0, 9], [3, 9]]), torch.ones(2, 2, dtype=torch.long))
    return ctx, human, gen, torch.tensor([1, 0])


def test_joint_loss_matches_hand_computation():
    ctx, human, gen, perm = setup()
    loss, terms = discriminator_loss(FixedD("joint"), ctx, human, gen, LossWeights(1.0, 2.0, 0.5), perm)
    real = (bce(1 + 2, 1) + bce(2 + 2, 1)) / 2
    fake = (bce(0 - 2, 0) + bce(3 - 2, 0)) / 2
    mismatch = (bce(1 - 2, 0) + bce(2 - 2, 0)) / 2
    assert terms["loss_real"] == pytest.approx(real, rel=1e-5)
    assert terms["loss_fake"] == pytest.approx(fake, rel=1e-5)
    assert terms["loss_mismatch"] == pytest.approx(mismatch, rel=1e-5)
    assert loss.item() == pytest.approx(real + 2 * fake + 0.5 * mismatch, rel=1e-5)
    assert terms["acc_real"] == 1.0 and terms["acc_fake"] == 0.5 and terms["acc_mismatch"] == 0.5


def test_split_loss_terms():
    ctx, human, gen, perm = setup()
    _, terms = discriminator_loss(FixedD("split"), ctx, human, gen, LossWeights(), perm)
    real = (bce(1, 1) + bce(2, 1)) / 2 + (bce(2, 1) + bce(2, 1)) / 2
    fake = (bce(0, 0) + bce(3, 0)) / 2  # generated: realism only
    mismatch = (bce(-2, 0) + bce(-2, 0)) / 2 + (bce(1, 1) + bce(2, 1)) / 2  # match fake, realism real
    assert terms["loss_real"] == pytest.approx(real, rel=1e-5)
    assert terms["loss_fake"] == pytest.approx(fake, rel=1e-5)
    assert terms["loss_mismatch"] == pytest.approx(mismatch, rel=1e-5)


def test_mismatch_term_dropped_by_weight_and_for_empty_context():
    ctx, human, gen, perm = setup()
    _, terms = discriminator_loss(FixedD("joint"), ctx, human, gen, LossWeights(weight_mismatch=0.0), perm)
    assert "loss_mismatch" not in terms
    _, terms = discriminator_loss(FixedD("joint"), Context.empty(2), human, gen, LossWeights(), None)
    assert "loss_mismatch" not in terms


def test_mismatch_permutation_has_no_fixed_points_and_is_seeded():
    g = torch.Generator().manual_seed(0)
    for n in range(2, 40):
        perm = mismatch_permutation(n, g)
        assert sorted(perm.tolist()) == list(range(n))
        assert (perm != torch.arange(n)).all()
    a = mismatch_permutation(10, torch.Generator().manual_seed(4))
    assert torch.equal(a, mismatch_permutation(10, torch.Generator().manual_seed(4)))


def test_several_mismatch_negatives_average_their_terms():
    ctx = Context(torch.tensor([[1], [2], [3]]), torch.ones(3, 1, dtype=torch.long))
    human = Replies(torch.tensor([[1, 9], [2, 9], [3, 9]]), torch.ones(3, 2, dtype=torch.long))
    gen = Replies(torch.tensor([[0, 9], [0, 9], [0, 9]]), torch.ones(3, 2, dtype=torch.long))
    perms = torch.tensor([[1, 2, 0], [2, 0, 1]])
    _, both = discriminator_loss(FixedD("joint"), ctx, human, gen, LossWeights(), perms)
    singles = [discriminator_loss(FixedD("joint"), ctx, human, gen, LossWeights(), p)[1] for p in perms]
    assert both["loss_mismatch"] == pytest.approx(sum(t["loss_mismatch"] for t in singles) / 2, rel=1e-6)
    assert both["acc_mismatch"] == pytest.approx(sum(t["acc_mismatch"] for t in singles) / 2)
    # k = 1 is the same draw as one mismatch_permutation, so a default config keeps its seeded numbers
    assert torch.equal(mismatch_permutations(7, 1, torch.Generator().manual_seed(3)),
                       mismatch_permutation(7, torch.Generator().manual_seed(3)))
    many = mismatch_permutations(7, 4, torch.Generator().manual_seed(3))
    assert many.shape == (4, 7) and (many != torch.arange(7)).all()


def _split_d():
    cfg = DiscriminatorConfig(head="split", embed_dim=8, filter_sizes=[1, 2], num_filters=[4, 4], dropout=0.0)
    return Discriminator(cfg, 12, 0)


def _grads(disc, ctx, human, gen, perm, **weights):
    disc.zero_grad(set_to_none=True)
    loss, _ = discriminator_loss(disc, ctx, human, gen, LossWeights(**weights), perm)
    loss.backward()
    return {name: p.grad is not None and p.grad.abs().sum() > 0 for name, p in disc.named_parameters()}


def test_each_split_term_reaches_the_right_head():
    torch.manual_seed(0)
    disc = _split_d()
    ctx = Context(torch.randint(1, 12, (4, 5)), torch.ones(4, 5, dtype=torch.long))
    human = Replies(torch.randint(1, 12, (4, 6)), torch.ones(4, 6, dtype=torch.long))
    gen = Replies(torch.randint(1, 12, (4, 6)), torch.ones(4, 6, dtype=torch.long))
    perm = torch.tensor([1, 2, 3, 0])
    fake = _grads(disc, ctx, human, gen, perm, weight_real=0.0, weight_fake=1.0, weight_mismatch=0.0)
    assert fake["realism_head.weight"] and not fake["pair_head.2.weight"]  # generated: realism only
    assert not fake["context_encoder.weights.0"]  # realism never reads the context
    mismatch = _grads(disc, ctx, human, gen, perm, weight_real=0.0, weight_fake=0.0, weight_mismatch=1.0)
    assert mismatch["pair_head.2.weight"] and mismatch["context_encoder.weights.0"] and mismatch["realism_head.weight"]
    real = _grads(disc, ctx, human, gen, perm, weight_real=1.0, weight_fake=0.0, weight_mismatch=0.0)
    assert real["pair_head.2.weight"] and real["realism_head.weight"]


def test_evaluate_discriminator_averages_terms_over_examples():
    ctx, human, gen, perm = setup()
    d = FixedD("joint")
    one = evaluate_discriminator(d, [(ctx, human, gen, perm)])
    _, terms = discriminator_loss(d, ctx, human, gen, LossWeights(), perm)
    assert one["num_pairs"] == 2 and one["acc_fake"] == terms["acc_fake"]
    assert one["loss_mismatch"] == pytest.approx(terms["loss_mismatch"])
    three = Context(torch.tensor([[1], [2], [3]]), torch.ones(3, 1, dtype=torch.long))
    h3 = Replies(torch.tensor([[1, 9], [2, 9], [3, 9]]), torch.ones(3, 2, dtype=torch.long))
    g3 = Replies(torch.tensor([[0, 9], [0, 9], [0, 9]]), torch.ones(3, 2, dtype=torch.long))
    both = evaluate_discriminator(d, [(ctx, human, gen, perm), (three, h3, g3, torch.tensor([1, 2, 0]))])
    # fake accuracy: 1 of 2 in the first batch, 3 of 3 in the second -> 4 of 5 (example-weighted, not 0.75)
    assert both["num_pairs"] == 5 and both["acc_fake"] == pytest.approx(0.8)
