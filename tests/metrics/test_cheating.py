"""The cheating score: trivially separable raw softmax vs one-hot inputs, and what the mitigation does to it."""

from __future__ import annotations

import torch

from seqgan.metrics.cheating import cheating_score, shape_features
from seqgan.objectives.relaxed_gan import discriminator_inputs

B, T, V = 48, 7, 30


def batch(seed: int = 0):
    """Human ids (B, T) and G-like softmax vectors (B, T, V) of varied sharpness, varied lengths."""
    g = torch.Generator().manual_seed(seed)
    human = torch.randint(3, V, (B, T), generator=g)
    logits = torch.randn(B, T, V, generator=g) * (0.5 + 3.0 * torch.rand(B, 1, 1, generator=g))
    probs = torch.softmax(logits, -1)
    lengths = torch.randint(2, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None] < lengths[:, None]).long()
    return human, mask, probs, mask.roll(1, 0)


def test_features_of_one_hots_and_of_a_uniform_vector():
    ids = torch.tensor([[4, 5, 0]])
    mask = torch.tensor([[1, 1, 0]])
    assert shape_features(ids, mask).tolist() == [[1.0, 1.0, 0.0, 0.0]]
    uniform = torch.full((1, 3, 8), 1 / 8)
    f = shape_features(uniform, mask)[0]
    assert abs(f[0] - 1 / 8) < 1e-9 and abs(f[2] - torch.log(torch.tensor(8.0)).item()) < 1e-6


def test_raw_softmax_vs_one_hot_is_trivially_separable_and_the_mitigation_lowers_the_score():
    human, h_mask, probs, p_mask = batch()
    raw = cheating_score(*_pair(human, h_mask, probs, p_mask, "none"))
    assert raw["cheat_auc"] > 0.97 and raw["cheat_acc"] > 0.9
    torch.manual_seed(0)
    st = cheating_score(*_pair(human, h_mask, probs, p_mask, "straight_through"))
    assert st["cheat_auc"] <= 0.6  # one-hots on both sides: nothing left to exploit
    again = cheating_score(*_pair(human, h_mask, probs, p_mask, "none"))
    assert again == raw  # deterministic


def test_two_kinds_of_real_inputs_are_not_separable():
    human, h_mask, _, _ = batch(1)
    other, o_mask, _, _ = batch(2)
    assert cheating_score(human, h_mask, other, o_mask)["cheat_auc"] == 0.5


def _pair(human, h_mask, probs, p_mask, mitigation):
    real, fake = discriminator_inputs(probs, human, mitigation)
    return real, h_mask, fake, p_mask
