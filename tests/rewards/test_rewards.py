"""Sequence, prefix and Monte Carlo rollout rewards: shapes, masking, averaging, layout, rollout policy."""

from __future__ import annotations

import pytest
import torch

from seqgan.models.policy import Context, Replies
from seqgan.rewards import MonteCarloReward, PrefixReward, RolloutPolicy, SequenceReward, build_reward

from reward_toys import EOS, PAD, BigramPolicy, FunctionDisc


def count_token(tok):
    """D = fraction of real tokens equal to tok (a known function of the reply)."""
    return lambda c, ids, m: ((ids == tok) & (m > 0)).sum(1).float() / 10.0


def make_replies(rows: list[list[int]], T: int) -> Replies:
    ids = torch.full((len(rows), T), PAD, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    for b, row in enumerate(rows):
        ids[b, : len(row)] = torch.tensor(row)
        mask[b, : len(row)] = 1
    return Replies(ids, mask)


class StubRollout:
    """Returns hand-built completions: completion k of prefix t of row b is the reply with token
    ``10 + k`` written at every position >= t (so its D score is known exactly)."""

    def __init__(self, n_seen=None):
        self.calls = 0

    def rollout(self, context, replies, n, temperature=1.0):
        self.calls += 1
        B, T = replies.ids.shape
        ids = replies.ids[:, None, None, :].repeat(1, T - 1, n, 1).clone()
        mask = torch.ones_like(ids)
        for t in range(1, T):
            for k in range(n):
                ids[:, t - 1, k, t:] = 10 + k
        return Replies(ids, mask)


def test_sequence_reward_same_value_on_real_tokens_only():
    replies = make_replies([[5, 5, EOS], [3, EOS]], T=4)
    disc = FunctionDisc(count_token(5))
    r = SequenceReward(disc)(Context.empty(2), replies)
    assert r.shape == (2, 4)
    assert torch.allclose(r[0], torch.tensor([0.2, 0.2, 0.2, 0.0]))
    assert torch.allclose(r[1], torch.zeros(4))


def test_prefix_reward_equals_disc_prefix_reward_masked():
    replies = make_replies([[5, 3, 5, EOS], [5, EOS]], T=5)
    disc = FunctionDisc(count_token(5))
    ctx = Context.empty(2)
    r = PrefixReward(disc)(ctx, replies)
    expected = disc.prefix_reward(ctx, replies.ids, replies.mask) * replies.mask
    assert torch.equal(r, expected)
    assert torch.allclose(r[0], torch.tensor([0.1, 0.1, 0.2, 0.2, 0.0]))
    assert torch.allclose(r[1], torch.tensor([0.1, 0.1, 0.0, 0.0, 0.0]))


def test_mc_reward_is_the_mean_over_rollouts_and_respects_each_length():
    # D = 0.1 * (count of token 10 + 2 * count of token 11): rollout k=0 fills with 10, k=1 with 11
    fn = lambda c, ids, m: (((ids == 10) & (m > 0)).sum(1) + 2 * ((ids == 11) & (m > 0)).sum(1)).float() / 10
    disc = FunctionDisc(fn)
    T = 5
    replies = make_replies([[3, 4, 5, 6, EOS], [3, EOS]], T=T)
    r = MonteCarloReward(disc, StubRollout(), n=2)(Context.empty(2), replies)
    assert r.shape == (2, T)
    # row 0 (length 5): prefix t keeps t tokens, T - t filled: mean over k of (1 or 2) * (T - t) / 10
    for t in range(1, 5):
        assert r[0, t - 1].item() == pytest.approx(1.5 * (T - t) / 10)
    assert r[0, 4].item() == pytest.approx(0.0)  # the full reply holds neither 10 nor 11
    # row 1 (length 2): position 0 is a rollout estimate, position 1 (eos) the full reply, the rest 0
    assert r[1, 0].item() == pytest.approx(1.5 * 4 / 10)
    assert r[1, 1].item() == pytest.approx(0.0)
    assert torch.equal(r[1, 2:], torch.zeros(3))


def test_mc_reward_skips_d_for_prefixes_past_the_reply_end():
    disc = FunctionDisc(count_token(5))
    replies = make_replies([[5, EOS], [5, 5, 5, 5, EOS]], T=5)
    MonteCarloReward(disc, StubRollout(), n=3, chunk_size=4)(Context.empty(2), replies)
    # rollouts scored: row 0 has 1 inner prefix, row 1 has 4 -> 5 prefixes x 3 rollouts, plus 2 full replies
    assert disc.rows == 5 * 3 + 2
    assert disc.calls == 4 + 1  # 15 rows in chunks of 4, then the full replies


def test_mc_layout_rewards_land_on_the_right_row_and_position():
    """D = 1 when the reply contains the row's own marker token (given by the context) else 0. Each row's marker
    sits at a different position; the bigram policy is made deterministic (and never emits a marker), so the exact
    reward of every (row, position) is known: 1 from the marker's position on, 0 before it."""
    V = 16
    policy = BigramPolicy(vocab_size=V, max_reply_len=8)
    with torch.no_grad():
        policy.table.fill_(-50.0)
        policy.table[:, 3] = 50.0  # always continue with token 3 (never eos, never a marker)
        policy.ctx.zero_()
    markers = torch.tensor([10, 11, 12, 13])
    positions = [0, 2, 4, 6]
    B, T = 4, 8
    ids = torch.full((B, T), 4, dtype=torch.long)
    for b, p in enumerate(positions):
        ids[b, p] = markers[b]
    ids[3, 7] = EOS
    mask = torch.ones(B, T, dtype=torch.long)
    # every row carries all markers except its own at another position too late to matter? no: only its own marker
    context = Context(torch.stack([markers, markers], 1), torch.ones(B, 2, dtype=torch.long))
    fn = lambda c, x, m: ((x == c.ids[:, :1]) & (m > 0)).any(1).float()
    disc = FunctionDisc(fn)
    r = MonteCarloReward(disc, RolloutPolicy(policy), n=3)(context, Replies(ids, mask))
    expected = torch.zeros(B, T)
    for b, p in enumerate(positions):
        expected[b, p:] = 1.0
    assert torch.equal(r, expected)
    # the same rows shuffled give the same rewards shuffled (no cross-row leakage)
    perm = torch.tensor([2, 0, 3, 1])
    r2 = MonteCarloReward(disc, RolloutPolicy(policy), n=3)(context.index(perm), Replies(ids[perm], mask[perm]))
    assert torch.equal(r2, expected[perm])


def test_mc_reward_with_a_real_stochastic_policy_estimates_the_expectation():
    """D = 1 if the reply ends with eos before position T; with n large the estimate for a prefix approaches the
    probability of finishing, computed here by the policy's own samples with another seed."""
    policy = BigramPolicy(vocab_size=8, max_reply_len=4, scale=1.0)
    fn = lambda c, x, m: (x == EOS).any(1).float()
    disc = FunctionDisc(fn)
    ctx = Context(torch.tensor([[4], [5]]), torch.ones(2, 1, dtype=torch.long))
    replies = make_replies([[3, 4, 5, 6], [6, 6, 6, 6]], T=4)
    torch.manual_seed(0)
    r = MonteCarloReward(disc, RolloutPolicy(policy), n=4000)(ctx, replies)
    # the probability that the completion of prefix [3] (3 more tokens) contains eos, by exact enumeration
    def p_finish(c0, prefix, remaining):
        if remaining == 0:
            return 0.0
        logits = policy._logits(Context(torch.tensor([[c0]]), torch.ones(1, 1, dtype=torch.long)),
                                torch.tensor([prefix[-1]]))
        probs = torch.softmax(logits, -1)[0]
        total = probs[EOS].item()
        for tok in range(3, 8):
            total += probs[tok].item() * p_finish(c0, prefix + [tok], remaining - 1)
        return total
    assert r[0, 0].item() == pytest.approx(p_finish(4, [3], 3), abs=0.03)
    assert r[1, 1].item() == pytest.approx(p_finish(5, [6, 6], 2), abs=0.03)
    assert r[0, 3].item() == 0.0  # the full reply has no eos


def test_fixed_length_replies_without_context():
    policy = BigramPolicy(vocab_size=10, eos_id=None, max_reply_len=5)
    replies = policy.sample(Context.empty(3))
    assert replies.mask.all()
    disc = FunctionDisc(count_token(4))
    for kind in ("sequence", "prefix", "rollout"):
        r = build_reward(kind, disc, RolloutPolicy(policy), n=2)(Context.empty(3), replies)
        assert r.shape == (3, 5)
    # the last position of a fixed-length reply is D of the full reply
    full = disc.reward(Context.empty(3), replies.ids, replies.mask)
    assert torch.allclose(r[:, -1], full)


def test_rollout_policy_lagging_copy_update_math():
    policy = BigramPolicy()
    roll = RolloutPolicy(policy, rate=0.8)
    old = roll.copy.table.detach().clone()
    with torch.no_grad():
        policy.table.add_(1.0)
    roll.update()
    assert torch.allclose(roll.copy.table, 0.8 * old + 0.2 * policy.table.detach())
    assert not roll.copy.table.requires_grad
    state = roll.state_dict()
    other = RolloutPolicy(policy, rate=0.8)
    other.load_state_dict(state)
    assert torch.equal(other.copy.table, roll.copy.table)
    # rate 0: the generator itself, no copy
    same = RolloutPolicy(policy, rate=0.0)
    assert same.module is policy and same.state_dict() == {}


def test_rollout_runs_policy_in_eval_mode_and_restores_it():
    policy = BigramPolicy()
    seen = []
    original = policy.rollout

    def spy(*args, **kwargs):
        seen.append(policy.training)
        return original(*args, **kwargs)

    policy.rollout = spy
    policy.train()
    replies = policy.sample(Context.empty(2))
    MonteCarloReward(FunctionDisc(count_token(4)), RolloutPolicy(policy), n=2)(Context.empty(2), replies)
    assert seen == [False] and policy.training


def test_mc_layout_with_the_real_seq2seq_policy():
    """The same layout check on the batched KV-cached rollout of the transformers generator: marker tokens are made
    impossible to sample (logit bias -inf), so a reward of 1 can only come from the row's own prefix."""
    from seqgan.models.seq2seq import GeneratorConfig, Seq2SeqPolicy

    V, T, B = 32, 7, 5
    gcfg = GeneratorConfig(d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=64,
                           dropout=0.0, max_positions=16)
    policy = Seq2SeqPolicy.build(gcfg, V, PAD, 1, EOS, max_reply_len=T)
    markers = torch.arange(20, 20 + B)
    with torch.no_grad():
        policy.model.final_logits_bias[..., markers] = -1e4
    positions = [0, 1, 3, 5, 2]
    ids = torch.randint(3, 20, (B, T))
    mask = torch.ones(B, T, dtype=torch.long)
    for b, p in enumerate(positions):
        ids[b, p] = markers[b]
    ids[4, 4], ids[4, 5:], mask[4, 5:] = EOS, PAD, 0  # a shorter row: length 5
    context = Context(torch.stack([markers, torch.randint(3, 20, (B,))], 1), torch.ones(B, 2, dtype=torch.long))
    disc = FunctionDisc(lambda c, x, m: ((x == c.ids[:, :1]) & (m > 0)).any(1).float())
    r = MonteCarloReward(disc, RolloutPolicy(policy, rate=0.8), n=4)(context, Replies(ids, mask))
    expected = torch.zeros(B, T)
    for b, p in enumerate(positions):
        expected[b, p:] = 1.0
    expected *= mask
    assert torch.equal(r, expected)


def test_mc_reward_encodes_each_context_once_with_the_same_result():
    """With a real Discriminator the rollout reward scores completions by ``reward_rows`` (each context encoded
    once); a scorer without it gets one context copy per completion. Both give the same rewards."""
    from seqgan.models.discriminator import Discriminator, DiscriminatorConfig

    policy = BigramPolicy(vocab_size=12, max_reply_len=6)
    cfg = DiscriminatorConfig(embed_dim=8, filter_sizes=[1, 2], num_filters=[4, 4], dropout=0.0)
    torch.manual_seed(0)
    disc = Discriminator(cfg, vocab_size=12, pad_id=PAD)
    ctx = Context(torch.tensor([[4, 5], [6, 7], [8, 0]]), torch.tensor([[1, 1], [1, 1], [1, 0]]))
    replies = make_replies([[3, 4, 5, 6, EOS], [6, 6, EOS], [5, 5, 5, 5, 5, 5]], T=6)
    per_copy = FunctionDisc(lambda c, x, m: disc.reward(c, x, m))
    torch.manual_seed(1)
    grouped = MonteCarloReward(disc, RolloutPolicy(policy), n=3, chunk_size=7)(ctx, replies)
    torch.manual_seed(1)
    copied = MonteCarloReward(per_copy, RolloutPolicy(policy), n=3, chunk_size=7)(ctx, replies)
    assert torch.allclose(grouped, copied, atol=1e-6) and (grouped > 0).sum() == replies.mask.sum()
