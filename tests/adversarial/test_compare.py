"""Side-by-side comparison of generators (seqgan.adversarial.compare): metrics, files, any number of models."""

from __future__ import annotations

import json
import math

import pytest
import torch

from seqgan.models.seq2seq import GeneratorConfig, Seq2SeqPolicy

@pytest.fixture(scope="module")
def task():
    """(tokenizer, encoded pairs, three differently initialised tiny generators)."""
    from toy_dialogue import text_pairs

    tok, enc, _ = text_pairs()
    gcfg = GeneratorConfig(d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=64,
                           dropout=0.0, max_positions=80)
    ids = dict(pad_id=tok.pad_token_id, bos_id=tok.bos_token_id, eos_id=tok.eos_token_id)
    torch.manual_seed(0)
    policies = [Seq2SeqPolicy.build(gcfg, len(tok), max_reply_len=8, **ids) for _ in range(3)]
    return tok, enc, policies


def test_compare_models_table_and_files(task, tmp_path):
    from seqgan.adversarial.compare import CompareConfig, compare_models, write_comparison

    tok, enc, (mle, adv, _) = task
    cfg = CompareConfig(num_pairs=6, adversuc=False, examples=2, batch_size=4)
    comp = compare_models(mle, adv, tok, enc, cfg)
    assert set(comp.models) == {"mle", "adversarial"}
    assert {"bleu_greedy_test6", "self_bleu_sample_test6", "distinct2_greedy_test6", "ppl_human_test6"} <= set(
        comp.metrics)
    # two different random models give different perplexities; both far above 1
    ppl = comp.metrics["ppl_human_test6"]
    assert ppl["mle"] != ppl["adversarial"] and min(ppl.values()) > 5
    path = write_comparison(comp, tmp_path)
    text = path.read_text()
    assert "| metric | mle | adversarial |" in text and "context:" in text
    assert json.loads((tmp_path / "comparison.json").read_text())["metrics"] == comp.metrics


def test_compare_policies_any_number_of_models_in_order(task):
    from seqgan.adversarial.compare import CompareConfig, compare_models, compare_policies

    tok, enc, (a, b, c) = task
    cfg = CompareConfig(num_pairs=6, adversuc=False, examples=1, batch_size=4)
    comp = compare_policies({"mle": a, "pg": b, "gumbel": c}, tok, enc, cfg, title="Variants")
    assert comp.models == ["mle", "pg", "gumbel"]
    assert comp.to_markdown().startswith("# Variants\n") and "| metric | mle | pg | gumbel |" in comp.to_markdown()
    assert set(comp.examples[0]) == {"context", "human", "mle", "pg", "gumbel"}
    # the same model gets the same numbers whichever other models it is compared with
    pair = compare_models(a, b, tok, enc, cfg)
    for name in ("ppl_human_test6", "bleu_sample_test6", "distinct1_greedy_test6"):
        assert math.isclose(pair.metrics[name]["mle"], comp.metrics[name]["mle"])
        assert math.isclose(pair.metrics[name]["adversarial"], comp.metrics[name]["pg"])
