"""Length-neutral rewards: the batch's linear trend over reply length is removed, nothing else."""

import pytest
import torch

from seqgan.rewards import remove_length_trend


def test_the_length_trend_is_removed_and_the_rest_kept():
    mask = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]])
    lengths = mask.sum(1).float()
    quality = torch.tensor([0.3, -0.3, -0.3, 0.3])  # mean 0, uncorrelated with length
    values = 2.0 - 0.5 * lengths + quality  # D prefers short replies by 0.5 per token
    out, slope = remove_length_trend(values.unsqueeze(1) * mask, mask)
    assert slope == pytest.approx(-0.5)
    fixed = out[torch.arange(4), mask.sum(1) - 1]
    assert torch.allclose(fixed, values.mean() + quality, atol=1e-6)  # what D says beyond length, around the mean
    assert torch.equal(out * (1 - mask), torch.zeros(4, 4))
    same = torch.ones(3, 2, dtype=torch.long)
    assert remove_length_trend(torch.rand(3, 2), same)[1] == 0.0  # one length: nothing to remove
