"""LeakGAN's pieces: leaked features (batch = incremental), goal vectors, the generator's Policy contract, the
manager / worker losses and the bootstrapped rescaled activation."""

import pytest
import torch
import torch.nn.functional as F

from seqgan.models.discriminator import Discriminator, DiscriminatorConfig
from seqgan.models.leakgan import LeakedFeatures, LeakGANPolicy, LeakGANShape
from seqgan.models.policy import Context, Replies
from seqgan.objectives.leakgan import intrinsic_reward, manager_loss, worker_loss
from seqgan.rewards.rescaled import rank_rescale

V, T = 25, 7
DCFG = DiscriminatorConfig(encoder="cnn", filter_sizes=[1, 2, 3, 5], num_filters=[3, 4, 4, 5], embed_dim=6,
                           dropout=0.0)
SHAPE = LeakGANShape(vocab_size=V, embed_dim=5, hidden_dim=8, goal_size=3, step_size=3, seq_len=T, feature_dim=16)


def _models(seed=0):
    torch.manual_seed(seed)
    disc = Discriminator(DCFG, V, pad_id=0, conditional=False)
    return disc, LeakGANPolicy(SHAPE).attach(disc)


def test_leaked_features_one_token_at_a_time_equal_the_batch_pass():
    disc, _ = _models()
    leak = LeakedFeatures(disc)
    ids = torch.randint(0, V, (4, T))
    batch = leak.all_prefixes(ids)  # (B, T + 1, F)
    assert batch.shape == (4, T + 1, 16) and torch.equal(batch[:, 0], torch.zeros(4, 16))
    state = leak.start(4, "cpu")
    for t in range(T):
        state = leak.advance(state, ids[:, t])
        torch.testing.assert_close(state["f"], batch[:, t + 1], atol=1e-5, rtol=1e-5)


def test_goals_are_unit_vectors_in_feature_space_and_steer_the_worker():
    disc, g = _models()
    ids = torch.randint(0, V, (3, T))
    logits, goals, feats = g.unroll(ids)
    assert logits.shape == (3, T, V) and goals.shape == (3, T, 16) and feats.shape == (3, T + 1, 16)
    torch.testing.assert_close(goals.norm(dim=-1), torch.ones(3, T))
    # the worker's loss never reaches the manager; the manager's loss never reaches the worker
    g.zero_grad()
    logp = torch.log_softmax(logits, -1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)
    worker_loss(logp, torch.ones(3, T)).backward(retain_graph=True)
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in g.manager_parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.worker_parameters())
    g.zero_grad()
    manager_loss(goals, feats, SHAPE.step_size).backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in g.worker_parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.manager_parameters())
    assert all(p.grad is None for p in disc.parameters())  # D is only read
    with torch.no_grad():  # another manager: other goals, other next-token distributions
        g.manager_out.weight.mul_(-1)
    assert not torch.allclose(g.unroll(ids)[0], logits)


def test_policy_contract_sample_score_rollout():
    _, g = _models(1)
    ctx = Context.empty(5)
    s = g.sample(ctx)
    assert s.ids.shape == (5, T)
    torch.testing.assert_close(g.score(ctx, s.ids, s.mask), s.logprobs, atol=1e-5, rtol=1e-5)
    r = g.rollout(ctx, Replies(s.ids, s.mask), n=2)
    assert r.ids.shape == (5, T - 1, 2, T)
    for t in range(1, T):
        assert torch.equal(r.ids[:, t - 1, :, :t], s.ids[:, None, :t].expand(5, 2, t))
    # with a near-zero temperature a completion's first new token is the argmax after the recorded prefix state
    cold = g.rollout(ctx, Replies(s.ids, s.mask), n=1, temperature=1e-4)
    logits = g.unroll(s.ids)[0]
    for t in range(1, T):
        assert torch.equal(cold.ids[:, t - 1, 0, t], logits[:, t].argmax(-1)), t


def test_manager_loss_and_intrinsic_reward_follow_the_formulas():
    B, L, c = 2, 5, 2
    feats = torch.randn(B, L + 1, 4)
    goals = F.normalize(torch.randn(B, L, 4), dim=-1)
    want = -torch.stack([F.cosine_similarity(feats[:, t + c] - feats[:, t], goals[:, t], dim=-1)
                         for t in range(L + 1 - c)], 1).mean()
    torch.testing.assert_close(manager_loss(goals, feats, c), want)
    aligned = F.normalize(feats[:, c:] - feats[:, :-c], dim=-1)  # goals pointing exactly where features go
    assert manager_loss(aligned, feats, c).item() == pytest.approx(-1.0, abs=1e-5)
    r = intrinsic_reward(goals, feats, c)
    for t in range(L):
        terms = [F.cosine_similarity(feats[:, t + 1] - feats[:, t + 1 - i], goals[:, t + 1 - i], dim=-1)
                 for i in range(1, c + 1) if t + 1 - i >= 0]
        torch.testing.assert_close(r[:, t], sum(terms) / c)


def test_rank_rescale_keeps_the_order_only():
    rewards = torch.tensor([[0.9, 0.1], [0.2, 0.5], [0.5, 0.3], [0.3, 0.7]])
    out = rank_rescale(rewards, delta=16.0)
    ranks = torch.tensor([[4, 1], [1, 3], [3, 2], [2, 4]], dtype=torch.float)
    torch.testing.assert_close(out, torch.sigmoid(16.0 * (ranks / 4 - 0.5)))
    torch.testing.assert_close(rank_rescale(rewards * 100 - 3), out)  # scale and offset of D do not matter
