"""``seqgan oracle --recipe FILE [--seed S] [--resume] [key=value ...]``: the SeqGAN synthetic-oracle benchmark table."""

from __future__ import annotations

import argparse

from seqgan.command import Command, list_config_fields


def add_oracle_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", metavar="FILE", required=True,
                   help="YAML config, e.g. recipes/oracle_cpu.yaml (one CPU core) or recipes/oracle_paper.yaml")
    p.add_argument("--seed", type=int, default=None, help="training seed (overrides the recipe's seed)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in run_dir: reuse the oracle, data, MLE and D checkpoints and skip the rows "
                        "already finished (the config must match the saved one)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="overrides, e.g. adv.rounds=50 run_dir=runs/x")
    p.set_defaults(handler=_run_oracle, accepts_overrides=True)
    list_config_fields(p, "seqgan.oracle.config:OracleConfig")


COMMAND = Command(
    help="synthetic-oracle benchmark (SeqGAN NLL-oracle table: MLE vs SeqGAN vs controls)",
    description="Build a random LSTM oracle, sample its training data, pretrain an LSTM generator by MLE (early "
                "stopping on held-out NLL with mle.patience), measure MLE's temperature frontier, then continue "
                "it with every configured row (MLE, scheduled sampling, PG-BLEU, SeqGAN, prefix reward, constant "
                "and uniform-random reward controls) and place each row against the frontier. Writes results.md, "
                "results.json, curves.png and frontier.png into run_dir.",
    add_arguments=add_oracle_arguments)


def _run_oracle(args: argparse.Namespace) -> int:
    from pathlib import Path

    from seqgan.config import load_config
    from seqgan.errors import ConfigError
    from seqgan.oracle.benchmark import run_oracle_benchmark
    from seqgan.oracle.config import OracleConfig

    if not Path(args.recipe).is_file():
        raise ConfigError(f"{args.recipe}: recipe file not found")
    overrides = list(args.overrides or [])
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    cfg = load_config(OracleConfig, args.recipe, overrides)
    result = run_oracle_benchmark(cfg, resume=args.resume)
    print((Path(cfg.run_dir) / "results.md").read_text(), end="")
    return 0 if result["rows"] else 1
