"""REINFORCE loss: value by hand, gradient sign, entropy bonus."""

from __future__ import annotations

import torch

from seqgan.objectives.reinforce import reinforce_loss, token_entropy


def test_loss_is_mean_over_real_tokens():
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, -9.0]], requires_grad=True)
    adv = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 4.0, 100.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    loss = reinforce_loss(logp, adv, mask)
    expected = -((-1.0 * 1) + (-2.0 * 2) + (-3.0 * 3) + (-0.5 * -1) + (-0.5 * 4)) / 5
    assert abs(loss.item() - expected) < 1e-6
    loss.backward()
    assert logp.grad[1, 2] == 0  # padding gets no gradient


def test_positive_advantage_raises_the_tokens_log_prob_after_a_step():
    torch.manual_seed(0)
    logits = torch.nn.Parameter(torch.randn(4, 6, 10))  # (B, T, V) a free "policy"
    ids = torch.randint(0, 10, (4, 6))
    mask = torch.ones(4, 6, dtype=torch.long)
    adv = torch.zeros(4, 6)
    adv[1, 2] = 1.0    # reward this token
    adv[2, 4] = -1.0   # punish that one
    opt = torch.optim.SGD([logits], lr=0.5)

    def logp():
        return torch.log_softmax(logits, -1).gather(-1, ids[..., None]).squeeze(-1)

    before = logp().detach()
    opt.zero_grad()
    reinforce_loss(logp(), adv, mask).backward()
    opt.step()
    after = logp().detach()
    assert after[1, 2] > before[1, 2]
    assert after[2, 4] < before[2, 4]
    untouched = torch.ones(4, 6, dtype=torch.bool)
    untouched[1, 2] = untouched[2, 4] = False
    assert torch.allclose(after[untouched], before[untouched])


def test_entropy_bonus_raises_entropy():
    logits = torch.nn.Parameter(torch.tensor([[[4.0, 0.0, 0.0]]]))
    mask = torch.ones(1, 1)
    ent0 = token_entropy(logits).item()
    loss = reinforce_loss(torch.zeros(1, 1), torch.zeros(1, 1), mask, entropy=token_entropy(logits),
                          entropy_weight=1.0)
    loss.backward()
    with torch.no_grad():
        logits -= 1.0 * logits.grad
    assert token_entropy(logits).item() > ent0
