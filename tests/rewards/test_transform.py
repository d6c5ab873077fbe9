"""Reward transforms: D's probability, its log or its logit, for every reward through one scorer wrapper."""

import math

import pytest
import torch

from seqgan.models.policy import Context, Replies
from seqgan.rewards import (MonteCarloReward, PrefixReward, SequenceReward, TransformedScorer, inverse_transform,
                            transform_probability)

from reward_toys import FunctionDisc


def test_transform_values_and_inverse():
    p = torch.tensor([0.5, 0.9, 0.1, 0.0, 1.0])
    assert torch.equal(transform_probability(p, "prob"), p)
    log = transform_probability(p, "log")
    assert log[1].item() == pytest.approx(math.log(0.9)) and math.isfinite(log[3].item())
    logit = transform_probability(p, "logit")
    assert logit[0].item() == pytest.approx(0.0, abs=1e-6) and logit[1].item() == pytest.approx(math.log(9.0))
    assert logit[3].item() == pytest.approx(-logit[4].item()) and abs(logit[3].item()) < 15  # clipped, finite
    for kind in ("prob", "log", "logit"):
        assert torch.allclose(inverse_transform(transform_probability(p[:3], kind), kind), p[:3], atol=1e-6)
    with pytest.raises(ValueError, match="unknown reward transform"):
        transform_probability(p, "sqrt")


def test_every_reward_reads_the_transformed_scores():
    probs = torch.tensor([0.2, 0.8])
    disc = FunctionDisc(lambda c, x, m: probs[: x.shape[0]] if x.shape[0] == 2 else torch.full((x.shape[0],), 0.5))
    scorer = TransformedScorer(disc, "logit")
    ctx = Context.empty(2)
    replies = Replies(torch.tensor([[3, 4, 2], [5, 2, 0]]), torch.tensor([[1, 1, 1], [1, 1, 0]]))
    seq = SequenceReward(scorer)(ctx, replies)
    assert seq[0, 0].item() == pytest.approx(math.log(0.25)) and seq[1, 2].item() == 0.0
    prefix = PrefixReward(scorer)(ctx, replies)
    assert prefix[0, 2].item() == pytest.approx(math.log(0.25)) and prefix[1, 2].item() == 0.0


def test_monte_carlo_values_average_transformed_scores():
    """The value of a prefix is the mean *reward* of its completions: mean of logits, not logit of mean D."""

    class Halves:
        def rollout(self, context, replies, n, temperature=1.0):
            B, T = replies.ids.shape
            ids = replies.ids[:, None, None, :].repeat(1, T - 1, n, 1).clone()
            ids[:, :, 0, -1] = 10  # completion 0 ends with token 10, completion 1 with token 11
            ids[:, :, 1, -1] = 11
            return Replies(ids, torch.ones_like(ids))

    disc = FunctionDisc(lambda c, x, m: torch.where(x[:, -1] == 10, 0.9, 0.5).float())
    replies = Replies(torch.tensor([[3, 4, 5]]), torch.ones(1, 3, dtype=torch.long))
    r = MonteCarloReward(TransformedScorer(disc, "logit"), Halves(), n=2)(Context.empty(1), replies)
    assert r[0, 0].item() == pytest.approx((math.log(9.0) + 0.0) / 2)
