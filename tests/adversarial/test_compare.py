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


def test_one_judge_for_both_models_and_the_quality_diversity_view(task, tmp_path):
    from seqgan.adversarial.compare import CompareConfig, compare_models, write_comparison

    tok, enc, (mle, adv, _) = task
    from seqgan.models.discriminator import DiscriminatorConfig

    cfg = CompareConfig(num_pairs=6, examples=1, batch_size=4, adversuc_steps=3, adversuc_batch_size=4,
                        adversuc_train_pairs=8, temperatures=[0.5, 1.0], bootstrap=50,
                        evaluator=DiscriminatorConfig(encoder="generator", dropout=0.0))
    comp = compare_models(mle, adv, tok, enc, cfg, train_ds=enc)
    m = comp.metrics
    for key in ("judge_auc_sample_test6", "judge_auc_sample_test6_low", "adversuc_sample_test6",
                "judge_balanced_acc_sample_test6", "qd_bleu_t0.5_test6", "qd_judge_auc_t0.5_test6",
                "qd_distinct2_t1_test6", "top_reply_share_greedy_test6", "kl_to_mle_sample_t1_test6",
                "greedy_changed_test6", "judge_auc_best_temperature_test6", "judge_best_temperature_test6"):
        assert set(m[key]) == {"mle", "adversarial"}, key
    assert set(m["judge_auc_minus_mle_sample_test6"]) == {"adversarial"}
    assert m["kl_to_mle_sample_t1_test6"]["mle"] == 0.0 and m["greedy_changed_test6"]["mle"] == 0.0
    for model in ("mle", "adversarial"):
        low, auc, high = (m[f"judge_auc_sample_test6{s}"][model] for s in ("_low", "", "_high"))
        assert low <= auc <= high
        assert m["judge_auc_best_temperature_test6"][model] <= auc
    # the quality-diversity view at temperature 1 is the main sampled decoding (same seed, same contexts)
    assert m["qd_distinct2_t1_test6"] == m["distinct2_sample_test6"]
    assert m["qd_judge_auc_t1_test6"] == m["judge_auc_sample_test6"]
    text = comp.to_markdown()
    auc = m["judge_auc_sample_test6"]["mle"]
    assert f"{auc:.4g} [" in text and "judge_auc_sample_test6_low" not in text
    assert "## Quality-diversity view" in text and "| 0.5 |" in text
    assert "qd_bleu" not in text.split("## Quality-diversity view")[0]  # not repeated in the main table
    write_comparison(comp, tmp_path)
    assert (tmp_path / "quality_diversity.png").stat().st_size > 1000


def test_compare_config_errors():
    from seqgan.adversarial.compare import CompareConfig
    from seqgan.errors import ConfigError
    from seqgan.models.discriminator import DiscriminatorConfig

    with pytest.raises(ConfigError, match="compare.adversuc_split"):
        CompareConfig(adversuc_split="test").validate()
    with pytest.raises(ConfigError, match="compare.evaluator.encoder"):
        CompareConfig(evaluator=DiscriminatorConfig(encoder="lstm")).validate()
    with pytest.raises(ConfigError, match="compare.temperatures"):
        CompareConfig(temperatures=[0.0]).validate()
