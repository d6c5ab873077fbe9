"""RelGAN's pieces: the relational-memory generator (shapes, the Policy contract, hard-token relaxed decoding), the
multiple-representation D and the relativistic loss."""

import pytest
import torch

from seqgan.models.policy import Context, Replies
from seqgan.models.relational import RelationalMemory, RelationalPolicy, RelationalShape
from seqgan.models.relgan_discriminator import MultiRepConfig, MultiRepDiscriminator
from seqgan.objectives.relativistic import rsgan_discriminator_loss, rsgan_generator_loss

SHAPE = RelationalShape(vocab_size=30, embed_dim=8, mem_slots=2, num_heads=2, head_size=4, seq_len=6)


def test_relational_memory_shapes_and_gating():
    core = RelationalMemory(input_size=8, mem_slots=3, num_heads=2, head_size=5)
    m0 = core.initial_state(4)
    assert m0.shape == (4, 3, 10) and torch.equal(m0[0], torch.eye(3, 10))
    m1 = core(torch.randn(4, 8), m0)
    assert m1.shape == (4, 3, 10) and torch.isfinite(m1).all() and not torch.allclose(m1, m0)
    with torch.no_grad():  # gates shut the input out and hold the memory: M' = sigmoid(f + 1) * M
        core.gate_input.bias.zero_()
        core.gate_input.bias[:10] = -1e4  # the input gate's half; the forget gate's half stays 0
        core.gate_memory.weight.zero_()
        core.gate_input.weight.zero_()
        core.gate_memory.bias.zero_()
    torch.testing.assert_close(core(torch.randn(4, 8), m0), torch.sigmoid(torch.tensor(1.0)) * m0)


def test_relational_policy_contract():
    torch.manual_seed(0)
    g = RelationalPolicy(SHAPE)
    ctx = Context.empty(5)
    s = g.sample(ctx)
    assert s.ids.shape == (5, 6) and s.mask.all()
    torch.testing.assert_close(g.score(ctx, s.ids, s.mask), s.logprobs, atol=1e-5, rtol=1e-5)
    r = g.rollout(ctx, Replies(s.ids, s.mask), n=3)
    assert r.ids.shape == (5, 5, 3, 6)
    for t in range(1, 6):  # completions keep their prefix
        assert torch.equal(r.ids[:, t - 1, :, :t], s.ids[:, None, :t].expand(5, 3, t))
    loss = g.nll(ctx, s.ids, s.mask)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())


def test_relaxed_sample_feeds_the_hard_token_and_passes_gradient_to_the_logits():
    torch.manual_seed(0)
    g = RelationalPolicy(SHAPE)
    gen = torch.Generator().manual_seed(1)
    rel = g.relaxed_sample(Context.empty(4), tau=0.5, mode="gumbel_soft", generator=gen)
    assert rel.probs.shape == (4, 6, 30) and torch.allclose(rel.probs.sum(-1), torch.ones(4, 6))
    # the hard tokens are the sequence the policy decoded: teacher forcing them gives the same logits
    torch.testing.assert_close(g.logits(rel.ids), rel.logits, atol=1e-5, rtol=1e-5)
    (rel.probs[:, :, 3].sum()).backward()
    assert g.head.weight.grad.abs().sum() > 0 and g.core.input_proj.weight.grad.abs().sum() > 0


def test_save_and_load(tmp_path):
    g = RelationalPolicy(SHAPE)
    g.save_pretrained(tmp_path / "g")
    again = RelationalPolicy.from_pretrained(tmp_path / "g")
    ids = torch.randint(0, 30, (3, 6))
    torch.testing.assert_close(again.logits(ids), g.logits(ids))


def test_multi_representation_d_reads_ids_and_distributions_alike():
    torch.manual_seed(0)
    cfg = MultiRepConfig(embed_dim=12, num_rep=4, filter_sizes=[2, 3], num_filters=[5, 7], hidden=6, dropout=0.0)
    d = MultiRepDiscriminator(cfg, 30)
    ids = torch.randint(0, 30, (3, 6))
    logits = d.rep_logits(ids)
    assert logits.shape == (3, 4)
    torch.testing.assert_close(d.rep_logits(torch.nn.functional.one_hot(ids, 30).float()), logits)
    torch.testing.assert_close(d(Context.empty(3), ids, torch.ones_like(ids)).logit, logits.mean(-1))
    # the representations are separate: changing one representation's embedding moves only its logit
    with torch.no_grad():
        d.embedding.weight[:, 3:6] += 1.0  # representation 1 (units 3..5)
    moved = (d.rep_logits(ids) - logits).abs() > 1e-6
    assert moved[:, 1].all() and not moved[:, [0, 2, 3]].any()
    with pytest.raises(Exception, match="does not split"):
        MultiRepDiscriminator(MultiRepConfig(embed_dim=10, num_rep=4), 30)


def test_relativistic_losses():
    real, fake = torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 0.0]])
    expected_d = torch.nn.functional.softplus(-torch.tensor([1.0, 0.0])).mean()
    torch.testing.assert_close(rsgan_discriminator_loss(real, fake), expected_d)
    fake.requires_grad_(True)
    real.requires_grad_(True)
    loss = rsgan_generator_loss(real, fake)
    torch.testing.assert_close(loss, torch.nn.functional.softplus(-torch.tensor([-1.0, 0.0])).mean())
    loss.backward()
    assert real.grad is None and (fake.grad < 0).all()  # G raises its logits relative to the real ones
