"""D(c, x): shapes for both encoders and heads, ids vs distributions, prefixes, reward mode, persistence."""

import pytest
import torch

from seqgan.errors import CheckpointError, ConfigError
from seqgan.models.discriminator import Discriminator, DiscriminatorConfig
from seqgan.models.discriminators import load_discriminator
from seqgan.models.policy import Context

V, PAD = 50, 0


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster


def tiny(encoder="cnn", head="joint", **kw):
    cfg = DiscriminatorConfig(encoder=encoder, head=head, embed_dim=16, filter_sizes=[1, 2, 3], num_filters=[8, 8, 8],
                              d_model=16, layers=1, heads=2, max_len=32, **kw)
    return Discriminator(cfg, V, PAD)


def batch(B=4, S=6, T=7):
    g = torch.Generator().manual_seed(1)
    ctx = Context(torch.randint(1, V, (B, S), generator=g), torch.ones(B, S, dtype=torch.long))
    ids = torch.randint(1, V, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[0, 4:] = 0
    ids[0, 4:] = PAD
    return ctx, ids, mask


@pytest.mark.parametrize("encoder", ["cnn", "transformer"])
@pytest.mark.parametrize("head", ["joint", "split"])
def test_shapes_and_distribution_input(encoder, head):
    disc = tiny(encoder, head).eval()
    ctx, ids, mask = batch()
    out = disc(ctx, ids, mask)
    assert out.logit.shape == (4,)
    assert (out.realism is None) == (head == "joint") and (out.match is None) == (head == "joint")
    one_hot = torch.nn.functional.one_hot(ids, V).float()
    assert torch.allclose(disc(ctx, one_hot, mask).logit, out.logit, atol=1e-5)
    prefix = disc.prefix_logits(ctx, ids, mask)
    assert prefix.shape == ids.shape
    last = mask.sum(1) - 1
    assert torch.allclose(prefix[torch.arange(4), last], out.logit, atol=1e-5)
    probs = torch.softmax(torch.randn(4, 7, V), -1).requires_grad_()
    disc(ctx, probs, mask).logit.sum().backward()
    assert probs.grad is not None and probs.grad.abs().sum() > 0


@pytest.mark.parametrize("encoder", ["cnn", "transformer"])
def test_prefix_logits_do_not_look_ahead(encoder):
    disc = tiny(encoder).eval()
    ctx, ids, mask = batch()
    before = disc.prefix_logits(ctx, ids, mask)
    changed = ids.clone()
    changed[:, 5] = (changed[:, 5] + 1) % V + 1
    after = disc.prefix_logits(ctx, changed, mask)
    assert torch.allclose(before[:, :5], after[:, :5], atol=1e-6)
    assert not torch.allclose(before[1:, 5:], after[1:, 5:])


def test_empty_context_reads_the_reply_only():
    for head in ("joint", "split"):
        disc = tiny(head=head).eval()
        _, ids, mask = batch()
        out = disc(Context.empty(4), ids, mask)
        assert out.logit.shape == (4,) and torch.isfinite(out.logit).all()


def test_context_changes_the_score():
    disc = tiny().eval()
    ctx, ids, mask = batch()
    other = Context(ctx.ids.roll(1, 0), ctx.mask)
    assert not torch.allclose(disc(ctx, ids, mask).logit, disc(other, ids, mask).logit)


def test_split_logit_is_log_odds_of_product():
    disc = tiny(head="split").eval()
    ctx, ids, mask = batch()
    out = disc(ctx, ids, mask)
    expected = torch.sigmoid(out.realism) * torch.sigmoid(out.match)
    assert torch.allclose(torch.sigmoid(out.logit), expected, atol=1e-5)


def test_reward_uses_eval_mode_and_restores_it():
    disc = tiny(dropout=0.5).train()
    ctx, ids, mask = batch()
    r1, r2 = disc.reward(ctx, ids, mask), disc.reward(ctx, ids, mask)
    assert torch.equal(r1, r2) and ((r1 > 0) & (r1 < 1)).all()
    assert disc.training
    pr = disc.prefix_reward(ctx, ids, mask)
    assert (pr[0, 4:] == 0).all() and disc.training


def test_save_load_roundtrip_and_errors(tmp_path):
    disc = tiny("transformer", "split").eval()
    ctx, ids, mask = batch()
    disc.save_pretrained(tmp_path / "discriminator")
    again = load_discriminator(tmp_path).eval()
    assert torch.equal(again(ctx, ids, mask).logit, disc(ctx, ids, mask).logit)
    assert load_discriminator(tmp_path / "nothing") is None
    weights = tmp_path / "discriminator" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_discriminator(tmp_path)


def test_config_validation():
    with pytest.raises(ConfigError, match="discriminator.encoder"):
        DiscriminatorConfig(encoder="rnn").validate()
    with pytest.raises(ConfigError, match="same non-zero length"):
        DiscriminatorConfig(filter_sizes=[1, 2], num_filters=[3]).validate()


def test_convolutions_equal_one_conv_per_width():
    """Each width's causal convolution computes what a separate Conv1d over the left-padded embeddings computes."""
    disc = tiny().eval()
    enc = disc.reply_encoder
    ctx, ids, mask = batch()
    emb = disc.embedding(ids).transpose(1, 2)  # (B, E, T)
    ref = []
    for w, weight, bias in zip(disc.cfg.filter_sizes, enc.weights, enc.biases):
        conv = torch.nn.Conv1d(disc.cfg.embed_dim, weight.shape[0], w)
        conv.weight.data, conv.bias.data = weight.data.clone(), bias.data.clone()
        ref.append(torch.relu(conv(torch.nn.functional.pad(emb, (w - 1, 0)))))
    ref = torch.cat(ref, 1).transpose(1, 2) * mask.unsqueeze(-1)  # (B, T, F) before the running max
    ref = torch.cummax(ref, 1).values
    assert torch.allclose(enc(disc.embedding(ids), mask), ref, atol=1e-6)
    assert [tuple(w.shape) for w in enc.weights] == [(8, 16, 1), (8, 16, 2), (8, 16, 3)]  # no padded taps


def test_checkpoint_with_one_packed_convolution_loads():
    """Weights saved with all widths packed into one right-aligned (F, E, W) convolution load into the per-width
    layout and give the same scores."""
    disc = tiny().eval()
    ctx, ids, mask = batch()
    state = disc.state_dict()
    for prefix in ("reply_encoder.", "context_encoder."):
        enc = disc.get_submodule(prefix[:-1])
        packed = torch.zeros(enc.out_dim, disc.cfg.embed_dim, enc.width)
        start = 0
        for weight in enc.weights:
            n, _, w = weight.shape
            packed[start:start + n, :, enc.width - w:] = weight.detach()
            start += n
        for i in range(len(enc.weights)):
            del state[f"{prefix}weights.{i}"], state[f"{prefix}biases.{i}"]
        state[prefix + "weight"], state[prefix + "bias"] = packed, torch.cat(list(enc.biases)).detach()
    again = Discriminator(disc.cfg, V, PAD).eval()
    again.load_state_dict(state)
    assert torch.equal(again(ctx, ids, mask).logit, disc(ctx, ids, mask).logit)


def test_unconditional_discriminator_has_no_context_parts():
    """conditional=False: embedding, encoder, dropout, one output -- no context encoder, no pair head; a context
    is refused; the layout survives save/load."""
    disc = Discriminator(tiny(l2=0.2).cfg, V, PAD, conditional=False)
    names = {name.split(".")[0] for name, _ in disc.named_parameters()}
    assert names == {"embedding", "reply_encoder", "realism_head"}
    _, ids, mask = batch()
    out = disc.eval()(Context.empty(4), ids, mask)
    assert out.logit.shape == (4,) and torch.equal(out.logit, out.realism)
    assert torch.allclose(disc.reward(Context.empty(4), ids, mask), torch.sigmoid(out.logit), atol=1e-6)
    ctx, _, _ = batch()
    with pytest.raises(ValueError, match="unconditional"):
        disc(ctx, ids, mask)
    assert disc.l2_penalty() > 0


def test_unconditional_save_load(tmp_path):
    disc = Discriminator(tiny().cfg, V, PAD, conditional=False).eval()
    _, ids, mask = batch()
    disc.save_pretrained(tmp_path / "discriminator")
    again = load_discriminator(tmp_path).eval()
    assert again.context_encoder is None and again.pair_head is None
    assert torch.equal(again(Context.empty(4), ids, mask).logit, disc(Context.empty(4), ids, mask).logit)


PAPER_FILTERS = dict(filter_sizes=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20],
                     num_filters=[100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160])


def test_paper_discriminator_parameter_count():
    """recipes/oracle_paper.yaml's D has the SeqGAN reference discriminator's parameters: embedding 5,000 x 64,
    per-width filters, highway (transform + gate, F x F each) and one output (the reference has a 2-way softmax:
    F + 1 parameters more)."""
    cfg = DiscriminatorConfig(embed_dim=64, highway=True, **PAPER_FILTERS)
    F_ = sum(cfg.num_filters)
    reference = (5000 * 64 + sum(w * n * 64 + n for w, n in zip(cfg.filter_sizes, cfg.num_filters))
                 + 2 * (F_ * F_ + F_) + (F_ * 2 + 2))
    count = sum(p.numel() for p in Discriminator(cfg, 5000, 0, conditional=False).parameters())
    assert count == reference - F_ - 1 == 7_043_681
    conditional = sum(p.numel() for p in Discriminator(cfg, 5000, 0).parameters())
    assert conditional > 3 * count  # the dialogue D keeps its context encoder and pair head


@pytest.mark.parametrize("head", ["joint", "split"])
def test_folded_table_scores_equal_the_convolution(head):
    """Without gradient the CNN reads a folded (token x tap) table; it matches the plain convolution, and is
    rebuilt when D's weights change."""
    disc = tiny(head=head).eval()
    ctx, ids, mask = batch()
    with torch.enable_grad():
        ref = disc(ctx, ids, mask).logit.detach()
        ref_prefix = disc.prefix_logits(ctx, ids, mask).detach()
    assert torch.allclose(disc.reward(ctx, ids, mask), torch.sigmoid(ref), atol=1e-5)
    assert disc.reply_encoder._tables is not None  # the fast path was taken
    assert torch.allclose(disc.prefix_reward(ctx, ids, mask), torch.sigmoid(ref_prefix) * mask, atol=1e-5)
    with torch.no_grad():
        disc.reply_encoder.weights[1].mul_(0.5)
        disc.embedding.weight.add_(0.1)
    with torch.enable_grad():
        ref2 = disc(ctx, ids, mask).logit.detach()
    assert not torch.allclose(ref2, ref)
    assert torch.allclose(disc.reward(ctx, ids, mask), torch.sigmoid(ref2), atol=1e-5)
    disc.cfg.fold_table_mb = 0
    off = Discriminator(disc.cfg, V, PAD)
    off.load_state_dict(disc.state_dict())
    assert torch.allclose(off.eval().reward(ctx, ids, mask), torch.sigmoid(ref2), atol=1e-5)
    assert off.reply_encoder._tables is None


@pytest.mark.parametrize("encoder", ["cnn", "transformer"])
@pytest.mark.parametrize("head", ["joint", "split"])
def test_reward_rows_equals_reward_on_indexed_contexts(encoder, head):
    disc = tiny(encoder, head)
    ctx, ids, mask = batch(B=3)
    rows = torch.tensor([2, 0, 0, 1, 2, 2])
    g = torch.Generator().manual_seed(3)
    replies = torch.randint(1, V, (6, 7), generator=g)
    rmask = torch.ones(6, 7, dtype=torch.long)
    rmask[1, 3:] = 0
    want = disc.reward(ctx.index(rows), replies, rmask)
    got = disc.reward_rows(ctx, rows, replies, rmask)
    assert got.shape == (6,) and torch.allclose(got, want, atol=1e-6)
    assert not torch.allclose(got, disc.reward_rows(ctx, rows.flip(0), replies, rmask))  # the rows matter
    # no context (the oracle task): rows are ignored
    empty = Context.empty(3)
    assert torch.allclose(disc.reward_rows(empty, rows, replies, rmask),
                          disc.reward(Context.empty(6), replies, rmask), atol=1e-6)


@pytest.mark.parametrize("dtype, tol", [("float16", 5e-4), ("bfloat16", 5e-3)])
def test_half_precision_scoring_error_against_the_plain_path(dtype, tol):
    """Half-precision folded tables and highway product: the paper-size D's rewards stay within ``tol`` of the
    plain float32 convolution (measured on random weights and replies; see the numbers asserted)."""
    cfg = DiscriminatorConfig(embed_dim=64, score_dtype=dtype, **PAPER_FILTERS)
    disc = Discriminator(cfg, 500, 0, conditional=False).eval()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 500, (64, 20), generator=g)
    mask = torch.ones_like(ids)
    with torch.enable_grad():
        plain = torch.sigmoid(disc(Context.empty(64), ids, mask).logit.detach())
        plain_prefix = torch.sigmoid(disc.prefix_logits(Context.empty(64), ids, mask).detach())
    folded = disc.reward(Context.empty(64), ids, mask)
    assert all(t.dtype == getattr(torch, dtype) for t in disc.reply_encoder._tables)
    error = (folded - plain).abs().max().item()
    assert 0 < error < tol
    assert (disc.prefix_reward(Context.empty(64), ids, mask) - plain_prefix).abs().max() < tol


def test_fold_cap_adapts_and_zero_disables(monkeypatch):
    """-1 sizes the cap from the memory free on the device: tables that do not fit fall back to the convolution."""
    import seqgan.models.discriminator as dmod

    disc = tiny(fold_table_mb=-1).eval()
    ctx, ids, mask = batch()
    need = disc.reply_encoder.table_bytes(V)
    monkeypatch.setattr(dmod, "available_memory", lambda device: need * dmod.AUTO_FOLD_SHARE)
    expected = disc.reward(ctx, ids, mask)
    assert disc.reply_encoder._tables is not None
    monkeypatch.setattr(dmod, "available_memory", lambda device: need * dmod.AUTO_FOLD_SHARE - 1)
    small = tiny(fold_table_mb=-1).eval()
    small.load_state_dict(disc.state_dict())
    assert torch.allclose(small.reward(ctx, ids, mask), expected, atol=1e-6)
    assert small.reply_encoder._tables is None
    with pytest.raises(ConfigError, match="score_dtype"):
        DiscriminatorConfig(score_dtype="int8").validate()
