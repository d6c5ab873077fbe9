"""The KL leash: per-token KL, the KL still to come, the adaptive coefficient."""

import pytest
import torch

from seqgan.objectives.kl import KLController, kl_to_go, mean_token_kl, token_kl


def test_kl_to_go_sums_to_the_end_of_each_reply():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    kl = token_kl(torch.tensor([[-1.0, -2.0, -0.5, -9.0], [-1.0, -1.0, -9.0, -9.0]]),
                  torch.tensor([[-1.5, -1.0, -1.0, -1.0], [-2.0, -0.5, -1.0, -1.0]]), mask)
    assert torch.allclose(kl, torch.tensor([[0.5, -1.0, 0.5, 0.0], [1.0, -0.5, 0.0, 0.0]]))
    assert torch.allclose(kl_to_go(kl, mask), torch.tensor([[0.0, -0.5, 0.5, 0.0], [0.5, -0.5, 0.0, 0.0]]))
    assert mean_token_kl(kl, mask) == pytest.approx(0.5 / 5)


def test_adaptive_coefficient_moves_towards_the_target_and_resumes():
    fixed = KLController(0.1)
    fixed.update(5.0)
    assert fixed.beta == 0.1 and fixed.active
    assert not KLController(0.0).active
    ctl = KLController(0.1, target=0.05, horizon=5)
    for _ in range(20):
        ctl.update(0.5)  # far too much KL: beta grows, by at most 20 % / horizon per step
    assert 0.1 * 1.04 ** 20 == pytest.approx(ctl.beta)
    high = ctl.beta
    ctl.update(0.0)
    assert ctl.beta == pytest.approx(high * 0.96)
    other = KLController(0.1, target=0.05, horizon=5)
    other.load_state_dict(ctl.state_dict())
    assert other.beta == ctl.beta
    with pytest.raises(ValueError):
        KLController(-1.0)
