"""Contract every :class:`seqgan.models.policy.Policy` must meet; rewards and objectives rely on it.

To check another implementation, append a factory to ``FACTORIES``: a function returning ``(policy, context)`` with a
tiny model in eval mode and a batch of at least 3 contexts that differ (``Context.empty(B)`` for unconditional tasks).
The factories cover the from-config BART/T5, the oracle LSTM, and every family loaded from a local pretrained
directory through :mod:`seqgan.models.generators` (GPT-2 with eos as pad, Llama with a chat template, BART, T5).
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import pytest
import torch
from scipy.stats import chisquare

from seqgan.models.policy import Context, Policy, Replies
from seqgan.models.seq2seq import GeneratorConfig, Seq2SeqPolicy

VOCAB, PAD, BOS, EOS, MAX_LEN = 100, 0, 1, 2, 10


def favour_eos(policy, bonus: float = 2.5) -> None:
    """Add ``bonus`` to the eos logit of a random tiny model so replies end at varied lengths (a forward hook, so
    sampling, scoring and HF generate all see the same distribution)."""
    bias = torch.zeros(policy.vocab_size)
    bias[policy.eos_id] = bonus
    policy.model.get_output_embeddings().register_forward_hook(lambda _m, _i, out: out + bias)


def make_seq2seq(arch: str) -> tuple[Policy, Context]:
    torch.manual_seed(1)
    cfg = GeneratorConfig(arch=arch, d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=4, ffn_dim=64,
                          max_positions=32)
    policy = Seq2SeqPolicy.build(cfg, VOCAB, PAD, BOS, EOS, MAX_LEN).eval()
    favour_eos(policy)
    ids = torch.randint(3, VOCAB, (4, 7))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    mask[3, 3:] = 0
    return policy, Context(ids.masked_fill(mask == 0, PAD), mask)


FACTORIES = {
    "bart": lambda: make_seq2seq("bart"),
    "t5": lambda: make_seq2seq("t5"),
}


def make_lstm() -> tuple[Policy, Context]:
    """The oracle benchmark's unconditional fixed-length LSTM (no eos, masks all ones)."""
    from seqgan.models.lstm import LSTMPolicy, LSTMShape

    torch.manual_seed(1)
    policy = LSTMPolicy(LSTMShape(vocab_size=VOCAB, embed_dim=16, hidden_dim=16, seq_len=MAX_LEN)).eval()
    with torch.no_grad():  # oracle-like spread of logits, so near-greedy tests do not hinge on near-ties
        for param in policy.parameters():
            param.normal_(0.0, 1.0)
    return policy, Context.empty(4)


FACTORIES["lstm"] = make_lstm

_TOYS = tempfile.TemporaryDirectory(prefix="seqgan-contract-")  # removed at exit
_LOADED: dict[str, tuple[Policy, Context]] = {}


def make_pretrained(kind: str) -> tuple[Policy, Context]:
    """A tiny random model of ``kind`` saved with its tokenizer, loaded as a user's pretrained model is (once;
    each test gets a copy)."""
    from pretrained_toys import save_toy

    from seqgan.models.generators import load_pretrained_model, load_pretrained_tokenizer, policy_from_model

    if kind not in _LOADED:
        path = save_toy(kind, Path(_TOYS.name) / kind, seed=5)
        policy = policy_from_model(load_pretrained_model(path), load_pretrained_tokenizer(path), MAX_LEN).eval()
        favour_eos(policy)
        torch.manual_seed(1)
        ids = torch.randint(3, VOCAB, (4, 7))
        mask = torch.ones_like(ids)
        mask[1, 5:] = 0
        mask[3, 1:] = 0  # a one-token context next to full ones (left padding inside a causal policy)
        _LOADED[kind] = policy, Context(ids.masked_fill(mask == 0, policy.pad_id), mask)
    return copy.deepcopy(_LOADED[kind])


for _kind in ("gpt2", "llama", "bart", "t5"):
    FACTORIES[f"pretrained_{_kind}"] = lambda kind=_kind: make_pretrained(kind)


def make_relational() -> tuple[Policy, Context]:
    """RelGAN's relational-memory generator (unconditional, fixed length)."""
    from seqgan.models.relational import RelationalPolicy, RelationalShape

    torch.manual_seed(1)
    policy = RelationalPolicy(RelationalShape(vocab_size=VOCAB, embed_dim=8, mem_slots=2, num_heads=2, head_size=4,
                                              seq_len=MAX_LEN)).eval()
    with torch.no_grad():  # an oracle-like spread of logits (see make_lstm)
        policy.head.weight.normal_(0.0, 1.0)
    return policy, Context.empty(4)


def make_leakgan() -> tuple[Policy, Context]:
    """LeakGAN's manager/worker generator reading a small CNN D's leaked features."""
    from seqgan.models.discriminator import Discriminator, DiscriminatorConfig
    from seqgan.models.leakgan import LeakGANPolicy, LeakGANShape

    torch.manual_seed(1)
    disc = Discriminator(DiscriminatorConfig(filter_sizes=[1, 2], num_filters=[4, 4], embed_dim=6), VOCAB, PAD,
                         conditional=False)
    shape = LeakGANShape(vocab_size=VOCAB, embed_dim=8, hidden_dim=8, goal_size=4, step_size=2, seq_len=MAX_LEN,
                         feature_dim=8)
    policy = LeakGANPolicy(shape).attach(disc).eval()
    with torch.no_grad():
        policy.worker_out.weight.normal_(0.0, 1.0)
    return policy, Context.empty(4)


FACTORIES["relational"] = make_relational
FACTORIES["leakgan"] = make_leakgan


@pytest.fixture(params=sorted(FACTORIES))
def setup(request) -> tuple[Policy, Context]:
    return FACTORIES[request.param]()


def check_reply_layout(policy: Policy, ids: torch.Tensor, mask: torch.Tensor) -> None:
    """Masks are a run of ones then zeros; pad after it; an eos only as the last real token."""
    assert ids.shape == mask.shape
    assert ((mask == 0) | (mask == 1)).all()
    assert (mask[..., 1:] <= mask[..., :-1]).all(), "mask must be ones followed by zeros"
    assert (ids[mask == 0] == policy.pad_id).all()
    if policy.eos_id is not None:
        lengths = mask.sum(-1)
        is_eos = (ids == policy.eos_id) & (mask == 1)
        assert (is_eos.sum(-1) <= 1).all(), "at most one eos per reply"
        eos_pos = is_eos.float().argmax(-1)
        has_eos = is_eos.any(-1)
        assert (eos_pos[has_eos] == lengths[has_eos] - 1).all(), "eos must be the last real token"


def test_sample_shapes_masks_and_eos(setup):
    policy, ctx = setup
    out = policy.sample(ctx, max_len=MAX_LEN)
    assert out.ids.dtype == torch.long and out.ids.shape[0] == ctx.batch_size
    assert out.ids.shape[1] <= MAX_LEN and out.ids.shape == out.logprobs.shape
    check_reply_layout(policy, out.ids, out.mask)
    assert out.mask[:, -1].any(), "trailing all-padding columns are trimmed"
    assert (out.logprobs[out.mask == 0] == 0).all() and (out.logprobs[out.mask == 1] < 0).all()
    if policy.eos_id is not None:  # rows shorter than max_len ended with eos
        short = out.lengths < MAX_LEN
        last = out.ids.gather(1, (out.lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        assert (last[short] == policy.eos_id).all()
    many = policy.sample(ctx.repeat_interleave(8), max_len=MAX_LEN)
    if policy.eos_id is None:  # fixed-length replies (the oracle LSTM): every row is exactly max_len long
        assert (many.lengths == MAX_LEN).all()
    else:
        assert len(set(many.lengths.tolist())) > 1, "the fixture should produce replies of varied length"


def test_sample_logprobs_equal_score(setup):
    policy, ctx = setup
    out = policy.sample(ctx.repeat_interleave(3))
    scored = policy.score(ctx.repeat_interleave(3), out.ids, out.mask)
    torch.testing.assert_close(scored.detach(), out.logprobs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("temperature", [0.7, 1.3])
def test_score_at_the_sampling_temperature_equals_the_sampler_logprobs(setup, temperature):
    """What a policy gradient needs: log-probabilities of the distribution the replies were drawn from."""
    policy, ctx = setup
    torch.manual_seed(2)
    out = policy.sample(ctx.repeat_interleave(3), temperature=temperature)
    scored = policy.score(ctx.repeat_interleave(3), out.ids, out.mask, temperature=temperature)
    torch.testing.assert_close(scored.detach(), out.logprobs, atol=1e-5, rtol=0)
    plain = policy.score(ctx.repeat_interleave(3), out.ids, out.mask)
    assert not torch.allclose(plain.detach(), out.logprobs, atol=1e-3)


def test_temperature_changes_logprobs_consistently(setup):
    policy, ctx = setup
    torch.manual_seed(3)
    hot = policy.sample(ctx.repeat_interleave(4), temperature=2.0)
    cold = policy.sample(ctx.repeat_interleave(4), temperature=0.5)
    # a cooler distribution gives the sampled tokens higher probability on average
    assert (cold.logprobs.sum() / cold.mask.sum()) > (hot.logprobs.sum() / hot.mask.sum())


def test_score_has_gradient_and_sample_does_not(setup):
    policy, ctx = setup
    out = policy.sample(ctx)
    assert not out.ids.requires_grad and not out.logprobs.requires_grad
    logp = policy.score(ctx, out.ids, out.mask)
    assert logp.shape == out.ids.shape and logp.requires_grad
    assert (logp[out.mask == 0] == 0).all()
    policy.zero_grad()
    policy.nll(ctx, out.ids, out.mask).backward()
    grads = [p.grad for p in policy.parameters() if p.requires_grad]
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0


def test_sample_and_rollout_are_deterministic_under_a_seed(setup):
    policy, ctx = setup
    runs = []
    for _ in range(2):
        torch.manual_seed(11)
        reply = policy.sample(ctx)
        runs.append((reply, policy.rollout(ctx, reply, 3)))
    assert torch.equal(runs[0][0].ids, runs[1][0].ids)
    assert torch.equal(runs[0][1].ids, runs[1][1].ids)
    torch.manual_seed(12)
    assert not torch.equal(policy.sample(ctx.repeat_interleave(4)).ids, policy.sample(ctx.repeat_interleave(4)).ids)


def test_rollout_shapes_prefixes_and_finished_rows(setup):
    policy, ctx = setup
    reply = policy.sample(ctx.repeat_interleave(2))
    big = ctx.repeat_interleave(2)
    n = 3
    out = policy.rollout(big, reply, n)
    b, t = reply.ids.shape
    width = max(t, policy.max_reply_len)
    assert out.ids.shape == (b, t - 1, n, width) and out.mask.shape == out.ids.shape
    check_reply_layout(policy, out.ids, out.mask)
    padded_ids, padded_mask = pad_to(reply.ids, width, policy.pad_id), pad_to(reply.mask, width, 0)
    for i in range(1, t):
        prefix = reply.ids[:, None, :i].expand(b, n, i)
        assert torch.equal(out.ids[:, i - 1, :, :i], prefix), f"prefix {i} not preserved"
        done = reply.mask[:, i - 1] == 0
        if policy.eos_id is not None:
            done |= (reply.ids[:, :i] == policy.eos_id).any(-1)
        copies = padded_ids[:, None, :].expand(b, n, width)
        assert torch.equal(out.ids[done, i - 1], copies[done]), "finished prefixes are copied unchanged"
        assert torch.equal(out.mask[done, i - 1], padded_mask[:, None, :].expand(b, n, width)[done])
    completed = out.ids[:, :, :, t - 1] != reply.ids[:, None, None, -1]
    assert completed.any(), "some prefixes must actually be completed by sampling"


def pad_to(x: torch.Tensor, width: int, value: int) -> torch.Tensor:
    """(..., T) -> (..., width) right-padded with ``value``."""
    return torch.nn.functional.pad(x, (0, width - x.shape[-1]), value=value)


def test_rollout_completions_run_to_max_reply_len_not_to_the_batch_longest(setup):
    """Completions are what sampling would have produced from the prefix: they stop at eos or max_reply_len, even
    when every reply of the batch is short (here replies cut at 3 tokens)."""
    policy, ctx = setup
    if policy.eos_id is None:
        pytest.skip("fixed-length replies: every completion has the replies' own length")
    torch.manual_seed(6)
    short = policy.sample(ctx.repeat_interleave(8), max_len=3)
    assert short.ids.shape[1] <= 3
    out = policy.rollout(ctx.repeat_interleave(8), short, 4)
    assert out.ids.shape[-1] == policy.max_reply_len
    check_reply_layout(policy, out.ids, out.mask)
    lengths = out.mask.sum(-1)  # (B, T-1, n)
    assert int(lengths.max()) > short.ids.shape[1], "no completion ran past the batch's longest reply"
    unfinished = out.ids.gather(-1, (lengths - 1).clamp(min=0).unsqueeze(-1)).squeeze(-1) != policy.eos_id
    assert (lengths[unfinished] == policy.max_reply_len).all(), "a completion stopped before eos or max_reply_len"
    capped = policy.rollout(ctx.repeat_interleave(8), short, 2, max_len=5)
    assert capped.ids.shape[-1] == 5


def test_rollout_of_greedy_reply_at_low_temperature_reproduces_it(setup):
    """Near temperature 0 every completion is the greedy continuation, which for a greedy reply is the reply itself."""
    policy, ctx = setup
    greedy = policy.sample(ctx, greedy=True)
    out = policy.rollout(ctx, greedy, 2, temperature=1e-4)
    b, t = greedy.ids.shape
    w = out.ids.shape[-1]
    assert torch.equal(out.ids, pad_to(greedy.ids, w, policy.pad_id)[:, None, None, :].expand(b, t - 1, 2, w))
    assert torch.equal(out.mask, pad_to(greedy.mask, w, 0)[:, None, None, :].expand(b, t - 1, 2, w))


def test_low_temperature_rollouts_are_greedy_continuations_of_their_own_row(setup):
    """A near-greedy completion of prefix t, rolled out again from any longer prefix, must reproduce itself. Rows
    have different contexts and sampled prefixes, so mixing rows or the [b, t-1, k] layout breaks this."""
    policy, ctx = setup
    torch.manual_seed(4)
    reply = policy.sample(ctx, temperature=1.0)
    assert len({tuple(r) for r in reply.ids.tolist()}) == ctx.batch_size
    done = policy.rollout(ctx, reply, 2, temperature=1e-4)
    b, t = reply.ids.shape
    assert torch.equal(done.ids[:, :, 0], done.ids[:, :, 1]), "near-greedy rollouts of one prefix agree"
    for i in range(1, t):
        again = policy.rollout(ctx, Replies(done.ids[:, i - 1, 0], done.mask[:, i - 1, 0]), 1, temperature=1e-4)
        for j in range(i, t):
            assert torch.equal(again.ids[:, j - 1, 0], done.ids[:, i - 1, 0]), (i, j)


def test_first_rollout_token_follows_the_policy_conditional(setup):
    """Chi-square test: the token after prefix t, over many rollouts, matches p(x_{t+1} | x_<=t, c) from score."""
    policy, ctx = setup
    torch.manual_seed(5)
    row = ctx.index(torch.tensor([0]))
    reply = policy.sample(row, max_len=MAX_LEN, temperature=0.7)
    while reply.ids.shape[1] < 4 or reply.mask[0, 2] == 0 or (policy.eos_id is not None and (reply.ids[0, :3] == policy.eos_id).any()):
        reply = policy.sample(row, max_len=MAX_LEN, temperature=0.7)
    t, n = 2, 3000
    out = policy.rollout(row, reply, n)
    drawn = out.ids[0, t - 1, :, t]  # (n,)
    # the conditional over the whole vocabulary by scoring every one-token extension of the prefix
    cand = torch.cat([reply.ids[:, :t].expand(policy.vocab_size, t), torch.arange(policy.vocab_size)[:, None]], 1)
    with torch.no_grad():
        probs = policy.score(row.repeat_interleave(policy.vocab_size), cand, torch.ones_like(cand))[:, t].exp()
    assert abs(float(probs.sum()) - 1) < 1e-4
    counts = torch.bincount(drawn, minlength=policy.vocab_size).double()
    expected = probs.double() * n
    big = expected >= 5  # pool the rare tokens into one bin (when they have any mass)
    obs, exp = counts[big], expected[big]
    if expected[~big].sum() > 0:
        obs = torch.cat([obs, counts[~big].sum(0, keepdim=True)])
        exp = torch.cat([exp, expected[~big].sum(0, keepdim=True)])
    exp = exp * obs.sum() / exp.sum()
    assert chisquare(obs.numpy(), exp.numpy()).pvalue > 1e-3


def test_greedy_sample_equals_hf_generate(setup):
    policy, ctx = setup
    if not hasattr(policy, "generate_replies"):
        pytest.skip("policy has no HF generate path")
    ours = policy.sample(ctx, greedy=True)
    theirs = policy.generate_replies(ctx)
    assert torch.equal(ours.ids, theirs.ids) and torch.equal(ours.mask, theirs.mask)


def test_replies_type(setup):
    policy, ctx = setup
    assert isinstance(policy.sample(ctx), Replies)
