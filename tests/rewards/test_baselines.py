"""Baselines: moving-average update math and resume state, batch mean, greedy self-critic, the leave-one-out group
baseline, per-prefix values; advantage scaling (std keeps the baseline, whitening replaces it)."""

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
    AdvantageScaler,
    GroupBaseline,
    PrefixValueBaseline,
    build_baseline,
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
    advantage = torch.tensor([[3.0, 0.0, 0.0]]) - b2[1:2]
    assert advantage[0, 0].item() == pytest.approx(-1.0)
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
    adv = AdvantageScaler("none")(SequenceReward(disc)(ctx, sampled) - b, sampled.mask)
    assert torch.allclose(adv[1], torch.full((4,), 0.25 - 1.0))


def test_whitened_advantages_have_zero_mean_unit_std_on_real_tokens():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    r = torch.tensor([[1.0, 2.0, 3.0, 7.0], [4.0, 5.0, 7.0, 7.0]])
    adv = AdvantageScaler("whiten")(r, mask)
    real = adv[mask.bool()]
    assert real.mean().abs() < 1e-5 and (real.pow(2).mean().sqrt() - 1).abs() < 1e-4
    assert torch.equal(adv[~mask.bool()], torch.zeros(3))
    assert not AdvantageScaler("whiten")(r.requires_grad_(), mask).requires_grad


def test_std_scaling_keeps_the_baseline_and_whitening_cancels_a_constant_one():
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    r = torch.tensor([[0.2, 0.4, 0.9], [0.1, 0.3, 0.0]])
    for baseline in (0.0, 0.25, 5.0):  # whitening: every constant baseline gives the same advantages
        assert torch.allclose(AdvantageScaler("whiten")(r - baseline, mask), AdvantageScaler("whiten")(r, mask))
    std = AdvantageScaler("std")
    a, b = std(r - 0.25, mask), std(r, mask)
    assert not torch.allclose(a, b)  # std scaling: the baseline's shift survives
    real = (r - 0.25)[mask.bool()]
    assert torch.allclose(a[mask.bool()], real / real.std(unbiased=False), atol=1e-5)
    assert (a[mask.bool()] > 0).sum() < (b[mask.bool()] > 0).sum()


def test_running_std_follows_the_scale_and_resumes():
    mask = torch.ones(2, 3, dtype=torch.long)
    scaler = AdvantageScaler("running_std", decay=0.5)
    small = torch.tensor([[1.0, -1.0, 1.0], [-1.0, 1.0, -1.0]])  # std 1
    scaler(small, mask)
    out = scaler(small * 3, mask)  # running std (1 + 3) / 2 = 2
    assert torch.allclose(out, small * 1.5, atol=1e-5)
    other = AdvantageScaler("running_std", decay=0.5)
    other.load_state_dict(scaler.state_dict())
    assert torch.equal(other(small, mask), scaler(small, mask))


def test_group_baseline_is_the_mean_of_the_other_replies_to_the_same_context():
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]])
    final = torch.tensor([0.9, 0.3, 0.6, 0.2, 0.4, 0.0])  # each reply's value (D of the whole reply)
    rewards = torch.zeros(6, 3)
    rewards[torch.arange(6), mask.sum(1) - 1] = final  # a per-token reward: the value sits at the last token
    rewards[:, 0] += 7.0 * mask[:, 0]  # earlier positions do not enter the group baseline
    rewards[[1, 4], 0] = final[[1, 4]]
    b = GroupBaseline(3)(Context.empty(6), Replies(mask.clone(), mask), rewards)
    expected = torch.tensor([(0.3 + 0.6) / 2, (0.9 + 0.6) / 2, (0.9 + 0.3) / 2, (0.4 + 0.0) / 2, (0.2 + 0.0) / 2,
                             (0.2 + 0.4) / 2])
    assert torch.allclose(b, expected.unsqueeze(1) * mask)
    with pytest.raises(ValueError, match="groups of 4"):
        GroupBaseline(4)(Context.empty(6), Replies(mask.clone(), mask), rewards)
    with pytest.raises(ValueError, match="at least 2"):
        GroupBaseline(1)


def test_prefix_value_baseline_credits_each_token_with_its_change_of_value():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    q = torch.tensor([[0.5, 0.6, 0.9, 0.0], [0.4, 0.2, 0.2, 0.1], [0.7, 0.8, 0.0, 0.0], [0.3, 0.0, 0.0, 0.0]])
    base = PrefixValueBaseline(GroupBaseline(2))
    b = base(Context.empty(4), Replies(mask.clone(), mask), q)
    # token t >= 1: the value of the prefix before it; token 0: the other group member's final value
    assert torch.allclose(b[:, 1:], (q[:, :-1] * mask[:, 1:]))
    assert torch.allclose(b[:, 0], torch.tensor([0.1, 0.9, 0.3, 0.8]))
    adv = (q - b) * mask
    assert torch.allclose(adv[0, 1:3], torch.tensor([0.1, 0.3]))  # 0.5 -> 0.6 -> 0.9
    assert isinstance(build_baseline("prefix_value", group_size=1).first, MovingAverageBaseline)


def test_build_baseline_by_name():
    assert isinstance(build_baseline("none"), NoBaseline)
    assert isinstance(build_baseline("moving_average", 0.5), MovingAverageBaseline)
    assert isinstance(build_baseline("length_moving_average", 0.5), LengthMovingAverageBaseline)
    with pytest.raises(ValueError):
        build_baseline("median")
    with pytest.raises(ValueError):
        build_baseline("self_critic")
    assert isinstance(build_baseline("group", group_size=4), GroupBaseline)
    assert isinstance(build_baseline("prefix_value", group_size=4).first, GroupBaseline)
