"""LoRA adapters (generator.lora, through PEFT): only the adapters train, the rest of the generator never moves, and
a saved generator holds the adapters merged into plain weights that transformers loads as it is."""

from __future__ import annotations

import pytest
import torch
from pretrained_toys import save_toy
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

from seqgan.models.generator_config import GeneratorConfig, LoraSettings
from seqgan.models.generators import build_policy, load_policy, load_pretrained_tokenizer
from seqgan.models.policy import Context

pytest.importorskip("peft", reason="the lora extra (pip install 'seqgan[lora]') is not installed")


def lora_policy(tmp_path, kind: str, **lora):
    path = save_toy(kind, tmp_path / kind, width=32, layers=2)
    tokenizer = load_pretrained_tokenizer(path)
    cfg = GeneratorConfig(init_from=str(path), lora=LoraSettings(rank=4, alpha=8, **lora))
    return build_policy(cfg, tokenizer, 8), tokenizer


def batch(tokenizer):
    from seqgan.data import encode_contexts, pad_rows
    from seqgan.data.config import DataConfig

    rows = encode_contexts([["hi there how are you"], ["what do you do for fun"]], tokenizer,
                           DataConfig(max_context_tokens=100))
    ids, mask = pad_rows(rows, tokenizer.pad_token_id)
    replies = [tokenizer("i like to read books", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id],
               tokenizer("me too", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]]
    r_ids, r_mask = pad_rows(replies, tokenizer.pad_token_id)
    return Context(ids, mask), r_ids, r_mask


@pytest.mark.parametrize("kind,module", [("llama", AutoModelForCausalLM), ("bart", AutoModelForSeq2SeqLM)])
def test_only_the_adapters_train_and_a_saved_generator_has_them_merged(tmp_path, kind, module):
    policy, tokenizer = lora_policy(tmp_path, kind)
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    ctx, ids, mask = batch(tokenizer)
    opt = torch.optim.Adam([p for p in policy.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        policy.nll(ctx, ids, mask).backward()
        opt.step()
    moved = {n for n, p in policy.named_parameters() if not torch.equal(p, before[n])}
    assert moved == {n for n in trainable if "lora_B" in n or "lora_A" in n} and moved

    policy.eval()
    expected = policy.logits(ctx, ids, mask)
    policy.save_pretrained(tmp_path / "g", tokenizer)
    with safe_open(str(tmp_path / "g" / "model.safetensors"), "pt") as f:
        assert not any("lora" in key or "base_layer" in key for key in f.keys())
    plain = module.from_pretrained(tmp_path / "g").eval()
    assert sum(p.numel() for p in plain.parameters()) < sum(p.numel() for p in policy.parameters())
    loaded = load_policy(tmp_path / "g").eval()
    torch.testing.assert_close(loaded.logits(ctx, ids, mask), expected, atol=1e-5, rtol=1e-5)
    assert loaded.peft_model is None  # merged: a plain model


def test_default_targets_and_named_ones(tmp_path):
    gpt2, _ = lora_policy(tmp_path, "gpt2")  # PEFT's default for GPT-2: the fused attention projection
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n, p in gpt2.named_parameters() if p.requires_grad} == {
        "c_attn"}
    llama, _ = lora_policy(tmp_path, "llama", target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    adapted = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n, p in llama.named_parameters() if p.requires_grad}
    assert adapted == {"q_proj", "k_proj", "v_proj", "o_proj"}


def test_a_lora_state_dict_round_trips_exactly(tmp_path):
    """What a checkpoint holds (every parameter, adapters included) restores the same model."""
    policy, tokenizer = lora_policy(tmp_path, "llama")
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_()
    other, _ = lora_policy(tmp_path, "llama")
    other.load_state_dict(policy.state_dict())
    ctx, ids, mask = batch(tokenizer)
    assert torch.equal(other.eval().logits(ctx, ids, mask), policy.eval().logits(ctx, ids, mask))
