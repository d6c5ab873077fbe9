"""Every generator family behind one door: a local pretrained model of any family becomes the right policy with its
own tokenizer, a saved generator is a self-contained transformers directory, and bad paths are one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from pretrained_toys import KINDS, save_toy
from transformers import AutoTokenizer, GenerationConfig

from seqgan.models.causal import CausalLMPolicy
from seqgan.models.generator_config import GeneratorConfig
from seqgan.models.generators import build_policy, load_policy, load_pretrained_tokenizer
from seqgan.models.hf_policy import POLICY_FILE
from seqgan.models.policy import Context
from seqgan.models.seq2seq import Seq2SeqPolicy


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    root = tmp_path_factory.mktemp("toys")
    return {kind: save_toy(kind, root / kind) for kind in KINDS}


def context(tokenizer) -> Context:
    from seqgan.data import encode_contexts, pad_rows
    from seqgan.data.config import DataConfig

    rows = encode_contexts([["hi there"], ["what do you do for fun", "i like to read books"]], tokenizer,
                           DataConfig(max_context_tokens=100))
    ids, mask = pad_rows(rows, tokenizer.pad_token_id)
    return Context(ids, mask)


@pytest.mark.parametrize("kind", KINDS)
def test_the_family_and_special_ids_come_from_the_checkpoint(toys, kind):
    tokenizer = load_pretrained_tokenizer(toys[kind])
    policy = build_policy(GeneratorConfig(init_from=str(toys[kind])), tokenizer, 8)
    assert isinstance(policy, CausalLMPolicy if kind in ("gpt2", "llama") else Seq2SeqPolicy)
    assert policy.eos_id == tokenizer.eos_token_id and policy.vocab_size == len(tokenizer)
    expected = {"gpt2": (tokenizer.eos_token_id, tokenizer.eos_token_id),  # no pad token: eos pads (as in TRL)
                "llama": (tokenizer.pad_token_id, tokenizer.bos_token_id),
                "bart": (tokenizer.pad_token_id, tokenizer.eos_token_id),  # BART's decoder starts from </s>
                "t5": (tokenizer.pad_token_id, tokenizer.pad_token_id)}  # T5's from <pad>
    assert (policy.pad_id, policy.bos_id) == expected[kind]
    torch.manual_seed(0)
    assert policy.sample(context(tokenizer)).ids.shape[0] == 2


def test_from_scratch_without_init_from():
    from seqgan.data import train_tokenizer

    tokenizer = train_tokenizer(["hi there how are you", "fine thanks"] * 10, 280, 1)
    policy = build_policy(GeneratorConfig(d_model=32, attention_heads=4, ffn_dim=64), tokenizer, 8)
    assert isinstance(policy, Seq2SeqPolicy) and policy.bos_id == tokenizer.bos_token_id


@pytest.mark.parametrize("kind", ["llama", "t5"])
def test_a_saved_generator_is_a_self_contained_transformers_directory(toys, kind, tmp_path):
    tokenizer = load_pretrained_tokenizer(toys[kind])
    policy = build_policy(GeneratorConfig(init_from=str(toys[kind])), tokenizer, 8).eval()
    decoding = GenerationConfig(do_sample=True, temperature=0.7, top_p=0.9, max_new_tokens=8, no_repeat_ngram_size=1)
    policy.save_pretrained(tmp_path / "g", tokenizer, decoding)
    saved = json.loads((tmp_path / "g" / "generation_config.json").read_text())
    assert saved["temperature"] == 0.7 and saved["do_sample"] and saved["max_new_tokens"] == 8
    assert saved["eos_token_id"] == policy.eos_id and saved["pad_token_id"] == policy.pad_id
    assert AutoTokenizer.from_pretrained(tmp_path / "g").chat_template == tokenizer.chat_template
    loaded = load_policy(tmp_path / "g").eval()
    assert type(loaded) is type(policy) and loaded.meta() == policy.meta()
    ctx = context(tokenizer)
    reply = policy.sample(ctx)
    assert torch.equal(loaded.logits(ctx, reply.ids, reply.mask), policy.logits(ctx, reply.ids, reply.mask))
    # the saved decoding defaults are plain transformers' only: seqgan's own calls never inherit them (HF fills
    # what a GenerationConfig leaves unset from the model's, e.g. this n-gram blocking)
    assert torch.equal(loaded.generate_replies(ctx, max_len=8).ids, loaded.sample(ctx, greedy=True, max_len=8).ids)


def test_a_generator_of_an_earlier_version_loads(tmp_path):
    policy = Seq2SeqPolicy.build(GeneratorConfig(d_model=32, attention_heads=4, ffn_dim=64, max_positions=32), 50,
                                 0, 1, 2, 8)
    policy.save_pretrained(tmp_path / "g")
    (tmp_path / "g" / POLICY_FILE).write_text(json.dumps({"arch": "bart", "pad_id": 0, "bos_id": 1, "eos_id": 2,
                                                          "max_reply_len": 8}))
    loaded = load_policy(tmp_path / "g")
    assert isinstance(loaded, Seq2SeqPolicy) and (loaded.pad_id, loaded.bos_id, loaded.eos_id) == (0, 1, 2)


def test_the_generator_d_design_on_a_causal_lm_is_a_one_line_error(toys):
    from seqgan.errors import ConfigError
    from seqgan.models.discriminator import DiscriminatorConfig
    from seqgan.models.discriminators import build_discriminator

    tokenizer = load_pretrained_tokenizer(toys["gpt2"])
    policy = build_policy(GeneratorConfig(init_from=str(toys["gpt2"])), tokenizer, 8)
    with pytest.raises(ConfigError, match="copies an encoder-decoder generator, but this run's is a causal LM"):
        build_discriminator(DiscriminatorConfig(encoder="generator"), policy.vocab_size, policy.pad_id, policy,
                            tokenizer)
