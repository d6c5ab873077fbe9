"""The batched Monte Carlo rollout reward (LSTM policy + unconditional CNN D, folded tables) against the
straightforward loop of ``benchmarks/rollout_oracle.py`` (re-run the LSTM per prefix, ``torch.multinomial``, one
``Conv2d`` per filter width): the same expectations, so they agree within Monte Carlo error."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from seqgan.models.discriminator import Discriminator, DiscriminatorConfig
from seqgan.models.lstm import LSTMPolicy, LSTMShape
from seqgan.models.policy import Context
from seqgan.rewards import MonteCarloReward, RolloutPolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from rollout_oracle import LoopDiscriminator, loop_reward  # noqa: E402

V, T, B, N = 12, 5, 3, 150


def models() -> tuple[LSTMPolicy, Discriminator]:
    torch.manual_seed(0)
    policy = LSTMPolicy(LSTMShape(vocab_size=V, embed_dim=8, hidden_dim=8, seq_len=T)).eval()
    cfg = DiscriminatorConfig(embed_dim=8, filter_sizes=[1, 2, 4], num_filters=[6, 6, 6], dropout=0.25)
    disc = Discriminator(cfg, V, pad_id=0, conditional=False).eval()
    with torch.no_grad():  # a peaked policy and a D whose score depends strongly on the tokens: rewards that
        policy.head.weight.mul_(6.0)  # differ clearly between positions and rows, so a wrong prefix or
        disc.embedding.weight.mul_(4.0)  # position would show
        disc.realism_head.weight.mul_(8.0)
        ids = torch.randint(0, V, (256, T), generator=torch.Generator().manual_seed(4))
        disc.realism_head.bias.sub_(disc(Context.empty(256), ids, torch.ones_like(ids)).logit.median())
    return policy, disc


def test_batched_and_loop_rewards_agree_within_monte_carlo_error():
    policy, disc = models()
    context = Context.empty(B)
    replies = policy.sample(context)
    torch.manual_seed(1)
    fast = MonteCarloReward(disc, RolloutPolicy(policy), N)(context, replies)  # (B, T)
    assert disc.reply_encoder._tables is not None  # D took its folded path
    torch.manual_seed(2)
    loop = loop_reward(policy, LoopDiscriminator(disc), replies.ids, N)  # (B, T)

    # Monte Carlo error of a mean of N completions: the spread of D over the completions of each prefix
    rolled = policy.rollout(context, replies, N)  # (B, T-1, N, T)
    scores = disc.reward(Context.empty(B * (T - 1) * N), rolled.ids.reshape(-1, T),
                         torch.ones_like(rolled.ids.reshape(-1, T))).view(B, T - 1, N)
    stderr = scores.std(-1) / N**0.5  # (B, T-1)
    assert (stderr > 0).any() and fast[:, :-1].std() > 0.1  # rewards vary: the comparison can fail
    diff = (fast[:, :-1] - loop[:, :-1]).abs()
    assert (diff <= 5 * 2**0.5 * stderr + 1e-6).all(), (diff, stderr)
    assert torch.allclose(fast[:, -1], loop[:, -1], atol=1e-5)  # the full reply: D alone, no sampling


def test_loop_discriminator_equals_the_discriminator():
    """The benchmark's Conv2d-per-width D computes the project D's function on the same weights."""
    _, disc = models()
    ids = torch.randint(0, V, (16, T), generator=torch.Generator().manual_seed(3))
    expected = disc.reward(Context.empty(16), ids, torch.ones_like(ids))
    assert torch.allclose(LoopDiscriminator(disc)(ids), expected, atol=1e-5)
