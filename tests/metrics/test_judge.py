"""The one judge of a comparison: AUC per model with bootstrap intervals, AdverSuc at one threshold, paired
differences; seeded and RNG-neutral."""

import numpy as np
import pytest
import torch

from seqgan.metrics.judge import bootstrap_auc, judge_models, ranking_auc
from seqgan.models.discriminator import DiscriminatorConfig
from toy_dialogue import ToyPolicy, toy_pairs

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster

CFG = DiscriminatorConfig(embed_dim=16, filter_sizes=[1, 2], num_filters=[16, 16], dropout=0.0)


def run(models, **kw):
    train, test = toy_pairs(256, 2), toy_pairs(128, 3)
    return judge_models(models, train, test, CFG, temperatures=[1.0], steps=150, batch_size=32, lr=3e-3, seed=0,
                        n_boot=200, **kw)


def test_one_judge_tells_a_fake_generator_from_a_copying_one():
    state = torch.get_rng_state()
    report = run({"fake": ToyPolicy(), "copy": ToyPolicy(copy=True)})
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG stream is untouched
    auc_fake, low, high = report.auc[("fake", 1.0)]
    assert auc_fake > 0.95 and low <= auc_fake <= high
    # the copying model's replies are the human ones: identical inputs, identical scores, AUC exactly 0.5
    assert report.auc[("copy", 1.0)][0] == pytest.approx(0.5)
    assert report.adversuc[("copy", 1.0)] == pytest.approx(report.acc_human)
    assert report.adversuc[("fake", 1.0)] < 0.1 and report.acc_human > 0.6
    diff, dlow, dhigh = report.auc_diff["copy"]  # copy minus fake, paired bootstrap
    assert diff == pytest.approx(0.5 - auc_fake) and dhigh < 0 and dlow <= diff <= dhigh
    assert report.num_test == 128 and report.num_train == 256
    again = run({"fake": ToyPolicy(), "copy": ToyPolicy(copy=True)})
    assert again.auc == report.auc and again.adversuc == report.adversuc  # seeded


def test_judge_trains_on_every_temperature_and_reports_each():
    report = judge_models({"fake": ToyPolicy()}, toy_pairs(64, 2), toy_pairs(32, 3), CFG, temperatures=[0.5, 1.2],
                          temperature=1.0, steps=5, batch_size=8, seed=0, n_boot=10)
    assert set(report.auc) == {("fake", 0.5), ("fake", 1.0), ("fake", 1.2)}


def test_bootstrap_auc_known_values_and_paired_difference():
    rng = np.random.default_rng(0)
    human = torch.tensor(rng.normal(1.0, 1.0, 500))
    worse = torch.tensor(rng.normal(0.0, 1.0, 500))
    same = human.clone()
    aucs, diffs = bootstrap_auc(human, {"worse": worse, "same": same}, reference="worse", n_boot=300, seed=1)
    point, low, high = aucs["worse"]
    assert point == pytest.approx(ranking_auc(human, worse))
    assert 0.70 < point < 0.82 and low < point < high and high - low < 0.12  # N(1,1) vs N(0,1): AUC 0.76
    assert aucs["same"] == (0.5, 0.5, 0.5)
    d, dlow, dhigh = diffs["same"]
    assert d == pytest.approx(0.5 - point) and dlow < d < dhigh < 0
    assert "worse" not in diffs
