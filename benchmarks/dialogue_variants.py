"""Adversarial variants side by side on dialogue: every variant starts from the same MLE run, trains for the same
number of rounds on the same data, and all of them (plus the MLE start) are evaluated on the same held-out pairs.

    python benchmarks/dialogue_variants.py                       # every variant of VARIANTS, default settings
    python benchmarks/dialogue_variants.py --variants pg_rollout pg_prefix --rounds 40 --out runs/variants
    python benchmarks/dialogue_variants.py --mle-run runs/chat_cpu   # reuse an existing MLE run (else trained)

Each variant is ``(recipe, overrides)``; its adversarial/discriminator/d_pretrain sections come from the recipe, as
with ``seqgan train RUN --config RECIPE``. A variant runs in ``OUT/<name>/`` (a copy of the MLE run's config,
tokenizer and generator; the MLE run's pretrained D is reused when the variant asks for the same D design, else
the variant pretrains its own). Writes ``OUT/comparison.md`` and ``OUT/comparison.json``: BLEU, self-BLEU, distinct-1/2,
mean length, perplexity on human replies, AdverSuc, wall seconds per round (and for D pretraining), and from each
variant's training log the mean over its last 10 rounds of D's accuracy per term and of the cheating AUC.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()

RECIPES = ROOT / "recipes"

# name -> (recipe, overrides); every recipe has ``base: chat_cpu.yaml``
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "pg_rollout": ("chat_adv_rollout.yaml", []),
    "pg_prefix": ("chat_adv_prefix.yaml", []),
    "pg_rollout_split_d": ("chat_adv_split.yaml", []),
    "gumbel_soft": ("chat_gumbel_soft.yaml", []),
    "gumbel_st": ("chat_gumbel_st.yaml", []),
    "continuous": ("chat_continuous.yaml", []),
    "continuous_mitigated": ("chat_continuous_mitigated.yaml", []),
    "wgan_gp": ("chat_wgan_gp.yaml", []),
}


def _ensure_mle_run(run_dir: Path, recipe: Path, overrides: list[str]) -> None:
    """Train the MLE run (``seqgan pretrain``) unless ``run_dir`` already holds a finished one."""
    if (run_dir / "generator").is_dir():
        return
    from seqgan.config import load_config
    from seqgan.chatbot import ChatbotConfig
    from seqgan.mle.trainer import train_mle

    cfg = load_config(ChatbotConfig, recipe, [f"output_dir={run_dir}", *overrides])
    print(f"no MLE run in {run_dir}: pretraining one with {recipe}")
    train_mle(cfg, resume=(run_dir / "checkpoints").is_dir())


def _prepare_variant_dir(mle_run: Path, out: Path, disc_cfg) -> None:
    """``out`` = config, tokenizer and generator of the MLE run, plus its pretrained D when the variant's
    discriminator config is the same (otherwise the variant pretrains its own)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(mle_run / "config.yaml", out / "config.yaml")
    for name in ("tokenizer", "generator"):
        shutil.copytree(mle_run / name, out / name)
    disc = mle_run / "discriminator"
    if disc.is_dir():
        from seqgan.models.discriminator import Discriminator

        if Discriminator.from_pretrained(disc).cfg == disc_cfg:
            shutil.copytree(disc, out / "discriminator")


def run_variant(name: str, mle_run: Path, out_root: Path, rounds: int | None, extra: list[str]) -> dict:
    """Adversarial training of one variant; returns its timings (seconds)."""
    from seqgan.adversarial.stage import read_adversarial_metrics, train_adversarial
    from seqgan.adversarial.cli import load_train_config

    recipe, overrides = VARIANTS[name]
    out = out_root / name
    probe = load_train_config(mle_run, str(RECIPES / recipe), overrides + extra)
    _prepare_variant_dir(mle_run, out, probe.discriminator)
    pretrain_d = not (out / "discriminator").is_dir()
    more = [f"adversarial.rounds={rounds}"] if rounds else []
    cfg = load_train_config(out, str(RECIPES / recipe), overrides + extra + more)
    t0 = time.perf_counter()
    train_adversarial(cfg, out)
    wall = time.perf_counter() - t0
    records = [r for r in read_adversarial_metrics(out) if r.get("round", 0) > 0]
    round_s = sum(r.get("round_s", 0.0) for r in records) / max(len(records), 1)
    return {"wall_s": wall, "round_s": round_s, "rounds": len(records), "d_pretrained_here": pretrain_d}


TRAINING_SIGNALS = ("d_acc_real", "d_acc_fake", "d_acc_mismatch", "cheat_auc")


def training_signals(out_root: Path, names: list[str], last: int = 10) -> dict[str, dict[str, float]]:
    """Mean over the last ``last`` rounds of each variant's D accuracy per term and cheating AUC (``metrics.jsonl``);
    ``{f"{key}_last{last}": {variant: value}}``, NaN where a variant does not log the key (e.g. the WGAN critic)."""
    from seqgan.adversarial.stage import read_adversarial_metrics

    table: dict[str, dict[str, float]] = {f"{k}_last{last}": {"mle": float("nan")} for k in TRAINING_SIGNALS}
    for name in names:
        records = [r for r in read_adversarial_metrics(out_root / name) if r.get("round", 0) > 0][-last:]
        for key in TRAINING_SIGNALS:
            vals = [r[key] for r in records if key in r]
            table[f"{key}_last{last}"][name] = sum(vals) / len(vals) if vals else float("nan")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mle-run", type=Path, default=ROOT / "runs" / "chat_cpu",
                        help="MLE run to start every variant from (trained with --recipe when missing)")
    parser.add_argument("--recipe", type=Path, default=RECIPES / "chat_cpu.yaml", help="recipe of that MLE run")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--rounds", type=int, default=None, help="adversarial rounds per variant (default: recipe)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "variants")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="applied to every variant (and to the MLE run when it is trained here)")
    args = parser.parse_args()

    import logging

    import torch

    from seqgan.data import encode_pairs, load_tokenizer, prepare_data
    from seqgan.models.seq2seq import Seq2SeqPolicy
    from seqgan.adversarial.cli import load_train_config
    from seqgan.adversarial.compare import compare_policies, write_comparison

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    torch.set_num_threads(args.threads)
    mle_overrides = [o for o in args.overrides if not o.split("=")[0].split(".")[0] in
                     ("adversarial", "discriminator", "d_pretrain", "compare")]
    _ensure_mle_run(args.mle_run, args.recipe, mle_overrides)
    args.out.mkdir(parents=True, exist_ok=True)

    timings: dict[str, dict] = {}
    for name in args.variants:
        print(f"[{name}] training ...", flush=True)
        timings[name] = run_variant(name, args.mle_run, args.out, args.rounds, args.overrides)
        print(f"[{name}] {timings[name]['rounds']} rounds, {timings[name]['round_s']:.2f} s/round, "
              f"{timings[name]['wall_s']:.0f} s in all", flush=True)

    cfg = load_train_config(args.mle_run, None, args.overrides)
    tokenizer = load_tokenizer(args.mle_run / "tokenizer")
    models = {"mle": Seq2SeqPolicy.from_pretrained(args.mle_run / "generator")}
    for name in args.variants:
        models[name] = Seq2SeqPolicy.from_pretrained(args.out / name / "generator_adv")
    splits = prepare_data(cfg.data)
    ccfg = cfg.compare
    test = encode_pairs(splits.test.select(range(min(ccfg.num_pairs, len(splits.test)))), tokenizer, cfg.data)
    train = encode_pairs(splits.train.select(range(min(ccfg.adversuc_train_pairs, len(splits.train)))),
                         tokenizer, cfg.data)
    t0 = time.perf_counter()
    comparison = compare_policies(models, tokenizer, test, ccfg, train_ds=train,
                                  title="Adversarial variants from one MLE run")
    comparison.metrics["round_s"] = {"mle": float("nan"), **{n: t["round_s"] for n, t in timings.items()}}
    comparison.metrics["train_wall_s"] = {"mle": float("nan"), **{n: t["wall_s"] for n, t in timings.items()}}
    comparison.metrics.update(training_signals(args.out, args.variants))
    per_variant = ", ".join(f"{n} {t['rounds']}" for n, t in timings.items())
    own_d = [n for n, t in timings.items() if t["d_pretrained_here"]]
    comparison.notes.append(
        f"rounds per variant: {per_variant}; start: {args.mle_run}; train_wall_s includes D pretraining for the "
        f"variants that needed their own D ({own_d or 'none'}); evaluation took {time.perf_counter() - t0:.0f} s; "
        f"torch threads {args.threads}.")
    path = write_comparison(comparison, args.out)
    print(comparison.to_markdown())
    print(f"(written to {path})")


if __name__ == "__main__":
    main()
