"""Checkpoints a run keeps: the newest N beside the latest (sharing its files), and the best by a metric."""

from __future__ import annotations

import os

import pytest
import torch

from seqgan.runs.checkpoint import checkpoint_label, load_checkpoint, save_checkpoint
from seqgan.runs.retention import BestTracker, greater_is_better, keep_checkpoint, kept_checkpoints, newer_checkpoints


def test_keep_checkpoint_keeps_the_newest_n_as_complete_checkpoints(tmp_path):
    latest = tmp_path / "checkpoints" / "last"
    model = torch.nn.Linear(2, 2)
    for step in (5, 10, 15, 20):
        with torch.no_grad():
            model.weight.fill_(step)
        save_checkpoint(latest, {"model": model}, {"step": step}, label=f"step {step}")
        keep_checkpoint(latest, "step", step, limit=2, label=f"step {step}")
    kept = kept_checkpoints(latest.parent, "step")
    assert [p.name for p in kept] == ["step-000015", "step-000020"]
    restored = torch.nn.Linear(2, 2)
    state = load_checkpoint(kept[0], {"model": restored})  # complete: loads like the latest
    assert state["step"] == 15 and torch.all(restored.weight == 15) and checkpoint_label(kept[0]) == "step 15"
    # the newest kept copy shares the latest's files (hard links): no second copy on disk
    assert os.path.samefile(kept[1] / "model.safetensors", latest / "model.safetensors")
    assert [p.name for p in newer_checkpoints(latest, "step", 15)] == ["step-000020"]
    assert keep_checkpoint(latest, "step", 25, limit=0) is None and len(kept_checkpoints(latest.parent, "step")) == 2


@pytest.mark.parametrize("metric, expected", [("valid_nll", False), ("valid_ppl", False), ("d_loss", False),
                                              ("judge_auc", True), ("d_reward", True), ("bleu", True)])
def test_direction_of_a_metric_follows_its_name_unless_set(metric, expected):
    assert greater_is_better(metric) is expected
    assert greater_is_better(metric, not expected) is (not expected)


def test_best_tracker_follows_the_best_value_and_survives_a_checkpoint():
    best = BestTracker("valid_nll")
    assert best.update(3.0, 10) and not best.update(3.5, 20) and best.update(2.5, 30)
    assert not best.update(None, 40) and not best.update(float("nan"), 50)
    assert (best.value, best.at) == (2.5, 30)
    again = BestTracker("valid_nll")
    again.load_state_dict(best.state_dict())
    assert not again.update(2.6, 60) and again.update(2.4, 70)
    other = BestTracker("judge_auc")
    other.load_state_dict(best.state_dict())  # another metric: starts over
    assert other.value is None and other.update(0.6, 1) and other.update(0.7, 2) and not other.update(0.65, 3)
