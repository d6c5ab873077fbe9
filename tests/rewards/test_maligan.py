"""MaliGAN's normalised importance weights (Che et al. 2017): w_i = r_D(x_i) / sum_j r_D(x_j), r_D = D / (1 - D)."""

import pytest
import torch

from seqgan.models.policy import Context, Replies
from seqgan.rewards.maligan import MaliGANReward, maligan_weights


class FixedScorer:
    """D that returns given probabilities, whatever the replies."""

    def __init__(self, probs):
        self.probs = torch.tensor(probs)

    def reward(self, context, ids, mask):
        return self.probs


def _replies(B, T=5, lengths=None):
    ids = torch.randint(0, 9, (B, T))
    mask = torch.ones(B, T, dtype=torch.long)
    if lengths is not None:
        for b, n in enumerate(lengths):
            mask[b, n:] = 0
    return Replies(ids, mask)


def test_weights_are_the_normalised_density_ratios_and_sum_to_one_per_group():
    d = torch.tensor([0.5, 0.9, 0.2, 0.99, 0.01, 0.6])
    r = d / (1 - d)
    reward = MaliGANReward(FixedScorer(d.tolist()), group_size=3)
    out = reward(Context.empty(6), _replies(6, lengths=[5, 5, 3, 5, 1, 4]))  # (B, T)
    w = reward.last_weights
    expected = torch.cat([r[:3] / r[:3].sum(), r[3:] / r[3:].sum()])
    torch.testing.assert_close(w, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(w.view(2, 3).sum(1), torch.ones(2))
    # every real token of sample i carries w_i - 1/K; padding carries 0; the advantages of a group sum to 0
    assert torch.allclose(out[:, 0], expected - 1 / 3, atol=1e-6)
    assert out[2, 3:].abs().sum() == 0 and out[4, 1:].abs().sum() == 0
    assert torch.allclose(out[:, 0].view(2, 3).sum(1), torch.zeros(2), atol=1e-6)


def test_whole_batch_normalisation_without_baseline_and_confident_d():
    probs = [1.0, 1.0 - 1e-9, 0.0, 0.5]  # D saturated at both ends: clamped, no inf / nan
    reward = MaliGANReward(FixedScorer(probs), group_size=None, baseline=False)
    out = reward(Context.empty(4), _replies(4))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:, 0].sum(), torch.tensor(1.0))
    assert out[0, 0] > 0.49 and out[2, 0] < 1e-6  # the two saturated-real samples share the weight


def test_groups_must_divide_the_batch():
    with pytest.raises(ValueError, match="do not split into groups of 4"):
        maligan_weights(torch.zeros(6), 4)
