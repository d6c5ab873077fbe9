"""The quickstart's main job end to end on the tiny recipe: every stage runs and prints what the README promises."""

from __future__ import annotations

from pathlib import Path

from seqgan import cli

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_tiny_runs_every_stage(tmp_path, capsys, one_thread):
    out = tmp_path / "run"
    args = ["quickstart", "--config", str(ROOT / "recipes" / "tiny.yaml"), f"output_dir={out}",
            "mle.eval_every=0", "compare.adversuc=false"]
    assert cli.main(["-q", *args]) == 0
    printed = capsys.readouterr().out
    # data sizes, the MLE metrics table, replies (greedy + sampled + human) to 10 held-out contexts
    assert "split by conversation" in printed and "| MLE |" in printed
    assert printed.count("bot (greedy):") == 10 and printed.count("bot (sampled):") == 10
    assert printed.count("human:") >= 10
    # the adversarial stage and its side-by-side table, then how to chat
    assert "adversarial fine-tuning" in printed and "| metric | mle | adversarial |" in printed
    assert "pretrained D, accuracy on" in printed and "generated replies" in printed
    assert printed.rstrip().endswith(f"seqgan chat {out}")
    for name in ("generator", "generator_adv", "discriminator", "tokenizer", "comparison.md", "metrics.jsonl"):
        assert (out / name).exists(), name
