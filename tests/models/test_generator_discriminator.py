"""D(c, x) on a copy of the generator's encoder-decoder: it starts from G's weights, scores prefixes causally,
batches rollout contexts, takes distributions, learns, and round-trips through save / load."""

import pytest
import torch

from seqgan.errors import ConfigError
from seqgan.models.discriminator import DiscriminatorConfig
from seqgan.models.discriminators import build_discriminator, load_discriminator
from seqgan.models.generator_discriminator import GeneratorDiscriminator
from seqgan.models.policy import Context
from seqgan.models.seq2seq import GeneratorConfig, Seq2SeqPolicy
from seqgan.objectives.discriminator_loss import LossWeights, discriminator_loss

V, PAD, BOS, EOS = 40, 0, 1, 2

pytestmark = pytest.mark.usefixtures("one_thread")


def policy():
    torch.manual_seed(0)
    cfg = GeneratorConfig(d_model=16, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=32,
                          dropout=0.0, max_positions=32)
    return Seq2SeqPolicy.build(cfg, V, PAD, BOS, EOS, max_reply_len=8)


def disc(pol=None, **kw):
    return build_discriminator(DiscriminatorConfig(encoder="generator", dropout=0.0, **kw), V, PAD, pol or policy())


def batch(B=4, S=5, T=6):
    g = torch.Generator().manual_seed(1)
    ctx = Context(torch.randint(3, V, (B, S), generator=g), torch.ones(B, S, dtype=torch.long))
    ids = torch.randint(3, V, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    ids[0, 3], ids[0, 4:], mask[0, 4:] = EOS, PAD, 0
    return ctx, ids, mask


def test_copies_the_generator_and_leaves_it_alone():
    pol = policy()
    d = disc(pol)
    assert isinstance(d, GeneratorDiscriminator)
    g_weights = dict(pol.model.named_parameters())
    for name, p in d.model.named_parameters():
        assert torch.equal(p, g_weights[name]) and p.data_ptr() != g_weights[name].data_ptr()
    frozen = disc(pol, freeze_generator=True)
    assert not any(p.requires_grad for p in frozen.model.parameters())
    assert all(p.requires_grad for p in frozen.pair_head.parameters())


def test_prefix_logits_are_causal_and_end_at_forward():
    d = disc().eval()
    ctx, ids, mask = batch()
    out = d(ctx, ids, mask).logit
    prefix = d.prefix_logits(ctx, ids, mask)
    assert out.shape == (4,) and prefix.shape == ids.shape
    assert torch.allclose(prefix[torch.arange(4), mask.sum(1) - 1], out, atol=1e-5)
    changed = ids.clone()
    changed[1:, 4] = (changed[1:, 4] + 1 - 3) % (V - 3) + 3
    after = d.prefix_logits(ctx, changed, mask)
    assert torch.allclose(prefix[:, :4], after[:, :4], atol=1e-5)
    assert not torch.allclose(prefix[1:, 4:], after[1:, 4:])
    assert torch.allclose(d.prefix_reward(ctx, ids, mask)[0, 4:], torch.zeros(2))


def test_reward_rows_equals_reward_on_indexed_contexts_and_reads_the_context():
    d = disc()
    ctx, ids, mask = batch()
    rows = torch.tensor([0, 0, 2, 3, 1, 3])
    r_ids, r_mask = ids[[1, 2, 3, 0, 1, 2]], mask[[1, 2, 3, 0, 1, 2]]
    expected = d.reward(ctx.index(rows), r_ids, r_mask)
    assert torch.allclose(d.reward_rows(ctx, rows, r_ids, r_mask), expected, atol=1e-6)
    assert ((expected > 0) & (expected < 1)).all()
    shuffled = d.reward(ctx.index(torch.tensor([1, 2, 3, 0])), ids, mask)
    assert not torch.allclose(shuffled, d.reward(ctx, ids, mask))


def test_distributions_match_ids_and_carry_gradient():
    d = disc().eval()
    ctx, ids, mask = batch()
    one_hot = torch.nn.functional.one_hot(ids, V).float()
    assert torch.allclose(d(ctx, one_hot, mask).logit, d(ctx, ids, mask).logit, atol=1e-4)
    probs = torch.softmax(torch.randn(4, 6, V), -1).requires_grad_()
    d(ctx, probs, mask).logit.sum().backward()
    assert probs.grad is not None and probs.grad.abs().sum() > 0


def test_learns_real_from_fake_with_the_three_term_loss():
    torch.manual_seed(0)
    d = disc()
    ctx, ids, mask = batch(B=8)
    fake_ids = torch.full_like(ids, 5)
    from seqgan.models.policy import Replies

    human, fake = Replies(ids, mask), Replies(fake_ids, torch.ones_like(mask))
    opt = torch.optim.Adam([p for p in d.parameters() if p.requires_grad], lr=3e-3)
    for _ in range(30):
        loss, terms = discriminator_loss(d, ctx, human, fake, LossWeights())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert terms["acc_real"] == 1.0 and terms["acc_fake"] == 1.0


def test_save_load_round_trip(tmp_path):
    d = disc().eval()
    ctx, ids, mask = batch()
    d.save_pretrained(tmp_path / "discriminator")
    loaded = load_discriminator(tmp_path)
    assert isinstance(loaded, GeneratorDiscriminator)
    assert torch.allclose(loaded.eval()(ctx, ids, mask).logit, d(ctx, ids, mask).logit, atol=1e-6)


def test_config_errors_are_one_line():
    with pytest.raises(ConfigError, match="joint head only"):
        DiscriminatorConfig(encoder="generator", head="split").validate()
    with pytest.raises(ConfigError, match="needs the pretrained encoder-decoder"):
        build_discriminator(DiscriminatorConfig(encoder="generator"), V, PAD, None)
