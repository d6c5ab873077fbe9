"""AdverSuc: near 0 for an obviously fake generator, near 0.5 for one that returns the human replies; seeded."""

import pytest
import torch

from seqgan.metrics.adversuc import adversarial_success
from seqgan.models.discriminator import DiscriminatorConfig
from toy_dialogue import ToyPolicy, toy_pairs

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster


CFG = DiscriminatorConfig(embed_dim=16, filter_sizes=[1, 2], num_filters=[16, 16], dropout=0.0)


def test_fake_generator_almost_never_fools_the_evaluator():
    train, held = toy_pairs(256, 2), toy_pairs(128, 3)
    res = adversarial_success(ToyPolicy(), train, held, CFG, seed=0, steps=120, lr=3e-3)
    assert res["adversuc"] < 0.1
    assert res["evaluator_acc_human"] > 0.9  # not a degenerate "everything is fake" evaluator
    assert res["evaluator_auc"] > 0.95  # it ranks human above generated whatever its threshold
    assert res["num_eval"] == 128
    state = torch.get_rng_state()
    again = adversarial_success(ToyPolicy(), train, held, CFG, seed=0, steps=120, lr=3e-3)
    assert again == res  # seeded and deterministic
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG stream is untouched


def test_human_copying_generator_is_indistinguishable():
    train, held = toy_pairs(256, 2), toy_pairs(128, 3)
    res = adversarial_success(ToyPolicy(copy=True), train, held, CFG, seed=0, steps=120, lr=3e-3)
    # identical inputs get identical scores: the evaluator judges G's replies exactly as it judges the human ones
    assert res["adversuc"] == pytest.approx(res["evaluator_acc_human"])
    assert res["evaluator_acc"] == pytest.approx(0.5)
    assert res["evaluator_auc"] == pytest.approx(0.5)  # the same scores on both sides: exactly chance
