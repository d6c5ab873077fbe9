"""Held-out evaluation of a generator (seqgan.mle.evaluate): metrics, and the context gain that exposes a
generator which ignores its context."""

from __future__ import annotations

import math

import pytest
import torch

from seqgan.models.seq2seq import GeneratorConfig, Seq2SeqPolicy
from seqgan.mle.config import EvalConfig

from toy_dialogue import text_pairs


@pytest.fixture(scope="module")
def task():
    tok, enc, _ = text_pairs()
    gcfg = GeneratorConfig(d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=64,
                           dropout=0.0, max_positions=80)
    torch.manual_seed(0)
    policy = Seq2SeqPolicy.build(gcfg, len(tok), tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, 8)
    return tok, enc, policy


def test_metrics_samples_and_context_gain_after_training(task, one_thread):
    """Each toy reply is determined by its context: after a few MLE steps the right context makes the human replies
    clearly more likely than another pair's context (at initialisation the gain is ~0)."""
    import copy

    from seqgan.data import make_loader, to_context, to_replies
    from seqgan.mle.evaluate import evaluate_generator

    tok, enc, policy = task
    cfg = EvalConfig(num_pairs=8, batch_size=4, num_samples=2)
    before = evaluate_generator(policy, tok, enc, cfg)
    assert before["num_pairs"] == 8 and before["tag"] == "valid8" and len(before["samples"]) == 2
    assert math.isclose(before["ppl"], math.exp(before["nll"])) and before["nll"] > 0
    assert 0 <= before["bleu"] <= 100 and 0 <= before["distinct1"] <= 1
    assert abs(before["context_gain"]) < 0.01

    trained = copy.deepcopy(policy)
    opt = torch.optim.Adam(trained.parameters(), lr=3e-3)
    batch = next(iter(make_loader(enc, tok.pad_token_id, 8, shuffle=False)))
    context, gold = to_context(batch), to_replies(batch)
    for _ in range(150):
        loss = trained.nll(context, gold.ids, gold.mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = evaluate_generator(trained, tok, enc, cfg)
    assert after["nll"] < before["nll"] and after["context_gain"] > 0.5


def test_context_gain_is_zero_when_cross_attention_is_cut(task, one_thread):
    """With every cross-attention output projection zeroed the decoder cannot see the context: the same replies
    get the same likelihood under any context, so the gain is exactly 0."""
    import copy

    from seqgan.mle.evaluate import evaluate_generator

    tok, enc, policy = task
    blind = copy.deepcopy(policy)
    with torch.no_grad():
        for layer in blind.model.get_decoder().layers:
            layer.encoder_attn.out_proj.weight.zero_()
            layer.encoder_attn.out_proj.bias.zero_()
    m = evaluate_generator(blind, tok, enc, EvalConfig(num_pairs=8, batch_size=4, num_samples=0))
    assert abs(m["context_gain"]) < 1e-6
