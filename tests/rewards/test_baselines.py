"""Baselines: moving-average update math and resume state, batch mean, greedy self-critic, whitening."""

from __future__ import annotations

import pytest
import torch

from seqgan.models.policy import Context, Replies
from seqgan.rewards import (
    BatchMeanBaseline,
    LengthMovingAverageBaseline,
    MovingAverageBaseline,
    NoBaseline,
    SelfCriticBaseline,
    SequenceReward,
    build_baseline,
    compute_advantages,
)

from reward_toys import EOS, BigramPolicy, FunctionDisc


def _replies(mask_rows):
    mask = torch.tensor(mask_rows)
    return Replies(torch.full(mask.shape, 3) * mask, mask)


def test_moving_average_uses_current_value_then_updates():
    base = MovingAverageBaseline(decay=0.75)
    replies = _replies([[1, 1, 0], [1, 0, 0]])
    ctx = Context.empty(2)
    r1 = torch.tensor([[1.0, 2.0, 9.0], [3.0, 9.0, 9.0]])  # mean over real tokens = 2
    b1 = base(ctx, replies, r1)
    assert torch.allclose(b1, torch.tensor([[2.0, 2.0, 0.0], [2.0, 0.0, 0.0]]))  # first batch: its own mean
    r2 = torch.tensor([[6.0, 6.0, 0.0], [6.0, 0.0, 0.0]])  # mean 6
    b2 = base(ctx, replies, r2)
    assert b2[0, 0].item() == pytest.approx(2.0)  # the value before this batch
    assert base.state_dict()["b"].item() == pytest.approx(0.75 * 2.0 + 0.25 * 6.0)
    # resume: a fresh baseline loaded from the state continues identically
    other = MovingAverageBaseline(decay=0.75)
    other.load_state_dict(base.state_dict())
    assert torch.equal(other(ctx, replies, r2), base(ctx, replies, r2))


def test_length_moving_average_compares_a_reply_with_replies_of_its_own_length():
    base = LengthMovingAverageBaseline(decay=0.5)
    ctx = Context.empty(3)
    replies = _replies([[1, 1, 0], [1, 0, 0], [1, 0, 0]])  # lengths 2, 1, 1
    r1 = torch.tensor([[1.0, 1.0, 0.0], [5.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    b1 = base(ctx, replies, r1)  # no length seen yet: the overall mean (10 / 4 = 2.5) for every row
    assert torch.allclose(b1, torch.tensor([[2.5, 2.5, 0.0], [2.5, 0.0, 0.0], [2.5, 0.0, 0.0]]))
    assert base.b[1].item() == pytest.approx(4.0) and base.b[2].item() == pytest.approx(1.0)  # per-length means
    b2 = base(ctx, replies, torch.tensor([[3.0, 3.0, 0.0], [2.0, 0.0, 0.0], [2.0, 0.0, 0.0]]))
    assert torch.allclose(b2, torch.tensor([[1.0, 1.0, 0.0], [4.0, 0.0, 0.0], [4.0, 0.0, 0.0]]))
    assert base.b[1].item() == pytest.approx(0.5 * 4.0 + 0.5 * 2.0) and base.b[2].item() == pytest.approx(2.0)
    # a short reply that scores what short replies usually score earns no advantage, whatever the overall mean
    advantages = compute_advantages(torch.tensor([[3.0, 0.0, 0.0]]), b2[1:2], replies.mask[1:2], normalise=False)
    assert advantages[0, 0].item() == pytest.approx(-1.0)
    longer = _replies([[1, 1, 1], [1, 0, 0], [1, 0, 0]])  # length 3: not seen, the overall value
    assert base(ctx, longer, r1)[0, 0].item() == pytest.approx(2.5)  # the overall average (both batches: 2.5)
    other = LengthMovingAverageBaseline(decay=0.5)
    other.load_state_dict(base.state_dict())
    assert torch.equal(other(ctx, replies, r1), base(ctx, replies, r1))  # resumable


def test_batch_mean_is_per_position_over_real_rows():
    replies = _replies([[1, 1, 1], [1, 1, 0], [1, 0, 0]])
    r = torch.tensor([[1.0, 2.0, 3.0], [3.0, 4.0, 0.0], [5.0, 0.0, 0.0]])
    b = BatchMeanBaseline()(Context.empty(3), replies, r)
    assert torch.allclose(b, torch.tensor([[3.0, 3.0, 3.0], [3.0, 3.0, 0.0], [3.0, 0.0, 0.0]]))


def test_self_critic_subtracts_the_greedy_replys_reward():
    policy = BigramPolicy(vocab_size=10, max_reply_len=4)
    with torch.no_grad():  # greedy path: 7 7 7 7 for any context
        policy.table.zero_()
        policy.table[:, 7] = 5.0
        policy.table[:, 4] = 4.0
        policy.ctx.zero_()
    disc = FunctionDisc(lambda c, x, m: ((x == 7) & (m > 0)).sum(1).float() / 4)
    base = SelfCriticBaseline(policy, SequenceReward(disc))
    sampled = Replies(torch.tensor([[4, 4, EOS, 0], [7, 4, 4, 4]]), torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]))
    ctx = Context(torch.tensor([[3], [5]]), torch.ones(2, 1, dtype=torch.long))
    b = base(ctx, sampled, torch.zeros(2, 4))
    # greedy reply 7 7 7 7 scores 1.0 for both contexts; baseline 1.0 on every real sampled token
    assert torch.equal(b, sampled.mask.float())
    adv = compute_advantages(SequenceReward(disc)(ctx, sampled), b, sampled.mask)
    assert torch.allclose(adv[1], torch.full((4,), 0.25 - 1.0))


def test_whitened_advantages_have_zero_mean_unit_std_on_real_tokens():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    r = torch.tensor([[1.0, 2.0, 3.0, 7.0], [4.0, 5.0, 7.0, 7.0]])
    adv = compute_advantages(r, torch.zeros_like(r), mask, normalise=True)
    real = adv[mask.bool()]
    assert real.mean().abs() < 1e-5 and (real.pow(2).mean().sqrt() - 1).abs() < 1e-4
    assert torch.equal(adv[~mask.bool()], torch.zeros(3))
    assert not compute_advantages(r.requires_grad_(), torch.zeros_like(r), mask).requires_grad


def test_build_baseline_by_name():
    assert isinstance(build_baseline("none"), NoBaseline)
    assert isinstance(build_baseline("moving_average", 0.5), MovingAverageBaseline)
    assert isinstance(build_baseline("length_moving_average", 0.5), LengthMovingAverageBaseline)
    with pytest.raises(ValueError):
        build_baseline("median")
    with pytest.raises(ValueError):
        build_baseline("self_critic")
