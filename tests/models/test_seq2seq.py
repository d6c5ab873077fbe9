"""Seq2SeqPolicy specifics: building from a config, persistence, config errors, HF generate and rollouts vs. HF."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import BartForConditionalGeneration, T5ForConditionalGeneration

from seqgan.config import from_dict
from seqgan.errors import CheckpointError, ConfigError
from seqgan.models.policy import Context
from seqgan.models.seq2seq import POLICY_FILE, GeneratorConfig, Seq2SeqPolicy

VOCAB, PAD, BOS, EOS = 100, 0, 1, 2
TINY = dict(d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=4, ffn_dim=64, max_positions=32)


def tiny(arch: str = "bart", max_reply_len: int = 8) -> Seq2SeqPolicy:
    torch.manual_seed(2)
    return Seq2SeqPolicy.build(GeneratorConfig(arch=arch, **TINY), VOCAB, PAD, BOS, EOS, max_reply_len).eval()


def contexts(b: int = 3, s: int = 6) -> Context:
    ids = torch.randint(3, VOCAB, (b, s))
    mask = torch.ones_like(ids)
    mask[0, s - 2:] = 0
    return Context(ids.masked_fill(mask == 0, PAD), mask)


@pytest.mark.parametrize("arch,cls", [("bart", BartForConditionalGeneration), ("t5", T5ForConditionalGeneration)])
def test_build_from_config(arch, cls):
    policy = tiny(arch)
    assert isinstance(policy.model, cls)
    cfg = policy.model.config
    assert cfg.d_model == 32 and cfg.vocab_size == VOCAB
    for c in (cfg, policy.model.generation_config):
        assert (c.pad_token_id, c.eos_token_id, c.decoder_start_token_id) == (PAD, EOS, BOS)
    assert policy.vocab_size == VOCAB and policy.max_reply_len == 8
    # the module registers the model's parameters (optimizers / accelerate see them through the policy)
    assert sum(p.numel() for p in policy.parameters()) == sum(p.numel() for p in policy.model.parameters()) > 0


def test_config_from_yaml_dict_and_validation():
    cfg = from_dict(GeneratorConfig, {"arch": "t5", "d_model": 64, "attention_heads": 8})
    assert cfg.arch == "t5" and cfg.d_model == 64
    with pytest.raises(ConfigError, match="unknown config key"):
        from_dict(GeneratorConfig, {"d_modle": 64})
    with pytest.raises(ConfigError, match="generator.arch"):
        GeneratorConfig(arch="gpt2").validate()
    with pytest.raises(ConfigError, match="divisible"):
        GeneratorConfig(d_model=30, attention_heads=4).validate()
    with pytest.raises(ConfigError, match="dropout"):
        GeneratorConfig(dropout=1.5).validate()
    with pytest.raises(ConfigError, match="encoder_layers"):
        GeneratorConfig(encoder_layers=0).validate()
    with pytest.raises(ConfigError, match="max_positions"):
        Seq2SeqPolicy.build(GeneratorConfig(**{**TINY, "max_positions": 8}), VOCAB, PAD, BOS, EOS, 8)
    with pytest.raises(ConfigError, match="eos_id"):
        Seq2SeqPolicy.build(GeneratorConfig(**TINY), VOCAB, PAD, BOS, VOCAB, 8)


def test_init_std_sets_the_bart_weight_scale():
    def fc1_std(init_std: float) -> float:
        torch.manual_seed(0)
        cfg = GeneratorConfig(**{**TINY, "d_model": 64, "ffn_dim": 256, "init_std": init_std})
        policy = Seq2SeqPolicy.build(cfg, VOCAB, PAD, BOS, EOS, 8)
        return float(policy.model.get_encoder().layers[0].fc1.weight.detach().std())

    assert fc1_std(0.02) == pytest.approx(0.02, rel=0.05)
    assert fc1_std(0.05) == pytest.approx(0.05, rel=0.05)
    with pytest.raises(ConfigError, match="generator.init_std"):
        GeneratorConfig(init_std=0.0).validate()


def test_context_longer_than_positions_is_a_config_error():
    policy = tiny("bart")
    with pytest.raises(ConfigError, match="40 tokens exceeds the generator's 32 positions"):
        policy.sample(contexts(2, 40))


def test_empty_context_is_accepted():
    out = tiny("t5").sample(Context.empty(3))
    assert out.ids.shape[0] == 3


@pytest.mark.parametrize("arch", ["bart", "t5"])
def test_save_and_load_round_trip(tmp_path, arch):
    policy = tiny(arch)
    ctx = contexts()
    torch.manual_seed(0)
    reply = policy.sample(ctx)
    policy.save_pretrained(tmp_path / "g")
    assert (tmp_path / "g" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "g" / POLICY_FILE).read_text())["eos_id"] == EOS
    loaded = Seq2SeqPolicy.from_pretrained(tmp_path / "g").eval()
    assert type(loaded.model) is type(policy.model) and loaded.max_reply_len == policy.max_reply_len
    torch.testing.assert_close(loaded.logits(ctx, reply.ids, reply.mask), policy.logits(ctx, reply.ids, reply.mask),
                               atol=0, rtol=0)
    torch.manual_seed(9)
    a = policy.sample(ctx)
    torch.manual_seed(9)
    b = loaded.sample(ctx)
    assert torch.equal(a.ids, b.ids)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        Seq2SeqPolicy.from_pretrained(tmp_path / "nope")
    policy = tiny()
    policy.save_pretrained(tmp_path / "g")
    weights = tmp_path / "g" / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(b"this is not a safetensors file")
    with pytest.raises(CheckpointError, match="cannot load") as err:
        Seq2SeqPolicy.from_pretrained(tmp_path / "g")
    assert "\n" not in str(err.value)
    weights.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="cannot load"):
        Seq2SeqPolicy.from_pretrained(tmp_path / "g")
    weights.unlink()
    with pytest.raises(CheckpointError, match="missing generator weights"):
        Seq2SeqPolicy.from_pretrained(tmp_path / "g")
    weights.write_bytes(good)
    (tmp_path / "g" / POLICY_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        Seq2SeqPolicy.from_pretrained(tmp_path / "g")
    (tmp_path / "g" / POLICY_FILE).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        Seq2SeqPolicy.from_pretrained(tmp_path / "g")


def test_sampling_restores_training_mode():
    policy = tiny().train()
    policy.sample(contexts())
    policy.rollout(contexts(), policy.sample(contexts()), 2)
    assert policy.model.training


def test_sample_logprobs_follow_temperature():
    policy = tiny()
    ctx = contexts()
    out = policy.sample(ctx, temperature=0.5)
    logits = policy.logits(ctx, out.ids, out.mask).detach()
    expected = torch.log_softmax(logits / 0.5, -1).gather(-1, out.ids.unsqueeze(-1)).squeeze(-1) * out.mask
    torch.testing.assert_close(out.logprobs, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ["bart", "t5"])
def test_low_temperature_rollout_equals_hf_greedy_continuation(arch):
    """Each prefix of a sampled reply, completed near temperature 0, equals HF generate's greedy continuation of
    that prefix under that row's own context."""
    policy = tiny(arch)
    ctx = contexts()
    torch.manual_seed(6)
    reply = policy.sample(ctx, max_len=8)
    out = policy.rollout(ctx, reply, 2, temperature=1e-4)
    b, t = reply.ids.shape
    for i in range(1, t):
        for row in range(b):
            if reply.mask[row, i - 1] == 0 or (reply.ids[row, :i] == EOS).any():
                continue
            start = torch.cat([torch.tensor([BOS]), reply.ids[row, :i]])[None]
            ref = policy.model.generate(
                input_ids=ctx.ids[row : row + 1], attention_mask=ctx.mask[row : row + 1], decoder_input_ids=start,
                max_new_tokens=t - i, do_sample=False, num_beams=1,
            )[0, 1:t + 1]
            got = out.ids[row, i - 1, 0]
            n = int(out.mask[row, i - 1, 0].sum())
            assert torch.equal(got[:n], ref[:n]), (row, i)
            assert torch.equal(out.ids[row, i - 1, 1], got)


def test_generate_replies_beams_topk_topp():
    policy = tiny()
    ctx = contexts()
    greedy = policy.sample(ctx, greedy=True)
    beams = policy.generate_replies(ctx, num_beams=4, num_return_sequences=2)
    assert beams.ids.shape[0] == 6 and beams.logprobs is None
    assert all(not torch.equal(beams.ids[2 * b], beams.ids[2 * b + 1]) for b in range(3)), "distinct candidates"
    assert (beams.ids[beams.mask == 0] == PAD).all()
    # top-k = 1 and a tiny nucleus both reduce sampling to greedy decoding
    torch.manual_seed(0)
    top1 = policy.generate_replies(ctx, do_sample=True, top_k=1)
    nucleus = policy.generate_replies(ctx, do_sample=True, top_p=1e-6)
    assert torch.equal(top1.ids, greedy.ids) and torch.equal(nucleus.ids, greedy.ids)
    many = policy.generate_replies(ctx, do_sample=True, top_p=0.9, num_return_sequences=4, max_len=5)
    assert many.ids.shape[0] == 12 and many.ids.shape[1] <= 5
    assert len({tuple(r) for r in many.ids[:4].tolist()}) > 1
    with pytest.raises(ConfigError, match="num_return_sequences"):
        policy.generate_replies(ctx, num_return_sequences=3)


def test_generate_replies_no_repeat_ngram_blocks_repeats():
    policy = tiny(max_reply_len=12)
    ctx = contexts()
    plain = policy.generate_replies(ctx)
    blocked = policy.generate_replies(ctx, no_repeat_ngram_size=1)
    def repeats(replies):
        return sum(len(row[m.bool()].tolist()) - len(set(row[m.bool()].tolist()))
                   for row, m in zip(replies.ids, replies.mask))
    assert repeats(plain) > 0  # a random tiny model loops ...
    assert repeats(blocked) == 0  # ... and n-gram blocking (n = 1: no token twice) stops it
