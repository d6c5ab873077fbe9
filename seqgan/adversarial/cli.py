"""``seqgan train RUN_DIR``: adversarial fine-tuning of an existing (MLE-pretrained) run, then the MLE vs
adversarial comparison table.

The run's own resolved ``config.yaml`` gives the data, tokenizer and generator settings; ``--config FILE`` (for
example ``recipes/chat_adv_prefix.yaml``) contributes only its ``adversarial``, ``discriminator``, ``d_pretrain``,
``compare`` and ``tracking`` sections; ``key=value`` overrides come last.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seqgan.command import Command, add_resume_argument, list_config_fields

ADVERSARIAL_SECTIONS = ("adversarial", "discriminator", "d_pretrain", "compare", "tracking")


def load_train_config(run_dir: Path, config: str | None, overrides: list[str]):
    """ChatbotConfig of ``run_dir`` with the adversarial sections of ``config`` and ``overrides`` applied."""
    from seqgan.config import from_dict, merge, read_yaml, read_yaml_with_base
    from seqgan.errors import CheckpointError
    from seqgan.chatbot import ChatbotConfig

    run_yaml = Path(run_dir) / "config.yaml"
    if not run_yaml.is_file():
        raise CheckpointError(f"{run_dir}: not a run directory (no config.yaml); train one with `seqgan pretrain`")
    data = read_yaml(run_yaml)
    if config:
        recipe = read_yaml_with_base(config)
        for key in ADVERSARIAL_SECTIONS:
            if key in recipe:
                data[key] = merge(data.get(key) or {}, recipe[key])
    return from_dict(ChatbotConfig, data, source=str(config or run_yaml), overrides=overrides)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run directory written by `seqgan pretrain`")
    p.add_argument("--config", metavar="FILE", default=None,
                   help="recipe whose adversarial/discriminator/d_pretrain/compare/tracking sections to use "
                        "(e.g. recipes/chat_adv_prefix.yaml); default: the run's own config")
    add_resume_argument(p, "RUN_DIR/checkpoints/adversarial", "RUN_DIR/checkpoints/round-NNNNNN, kept by "
                                                               "adversarial.save_total_limit")
    p.add_argument("--no-compare", action="store_true", help="skip the MLE vs adversarial comparison")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="overrides, e.g. adversarial.reward=prefix adversarial.rounds=50")
    p.add_argument("--rank-report", default=None, metavar="FILE", help=argparse.SUPPRESS)  # multi-process tests
    p.set_defaults(handler=_run_train, accepts_overrides=True)
    list_config_fields(p, "seqgan.chatbot:ChatbotConfig", sections=ADVERSARIAL_SECTIONS,
                       note="The other sections come from RUN_DIR/config.yaml (key=value overrides them too).")


COMMAND = Command(
    help="adversarial fine-tuning of a pretrained run (then MLE vs adversarial table)",
    description="Fine-tune the run's MLE generator against a conditional discriminator by policy gradient "
                "(Monte Carlo rollout, prefix or sequence reward), keeping generator/ and writing "
                "generator_adv/, discriminator_adv/, adversarial.png and comparison.md into RUN_DIR. "
                "Ctrl-C saves a checkpoint; --resume continues from it exactly.",
    add_arguments=add_train_arguments)


def describe_route(acfg) -> str:
    """How G learns from D, in words: e.g. "policy gradient, rollout reward" or "gumbel route (st)"."""
    route = getattr(acfg, "route", "policy_gradient")
    if route == "policy_gradient":
        return f"policy gradient, {acfg.reward} reward"
    if route == "gumbel":
        return f"Gumbel-softmax route ({acfg.gumbel_mode}, {acfg.critic} critic)"
    return f"continuous route ({acfg.critic} critic, mitigation {acfg.mitigation})"


def describe_d_pretraining(run_dir: str | Path) -> str | None:
    """One line with the pretrained D's held-out accuracy per loss term (from metrics.jsonl), or None."""
    from seqgan.runs.rundir import RunDir

    records = [r for r in RunDir(run_dir).read_metrics("d_pretrain") if "valid_acc_real" in r]
    if not records:
        return None
    rec = records[-1]
    names = {"real": "human pairs", "fake": "generated replies", "mismatch": "human replies under a wrong context"}
    shown = [f"{names[t]} {rec[f'valid_acc_{t}']:.2f}" for t in names if f"valid_acc_{t}" in rec]
    return f"pretrained D, accuracy on {rec.get('valid_num_pairs', '?')} held-out pairs: " + "; ".join(shown)


def run_adversarial_stage(cfg, run_dir: str | Path, resume: bool = False, compare: bool = True,
                          rank_report: str | None = None, splits=None):
    """Adversarial fine-tuning of ``run_dir`` (D pretrained first when absent), then the comparison table.
    ``splits``: the run's :func:`~seqgan.data.prepare_data` output (prepared once here when not given).
    Prints the wall time of each part; returns the Comparison (None with ``compare=False`` and on every process
    but the main one of a multi-process run, which alone evaluates)."""
    import time

    from accelerate import PartialState

    from seqgan.adversarial.stage import train_adversarial
    from seqgan.adversarial.compare import run_comparison

    from seqgan.data import prepare_data

    t0 = time.perf_counter()
    splits = splits if splits is not None else prepare_data(cfg.data)
    train_adversarial(cfg, run_dir, resume=resume, rank_report=rank_report, splits=splits)
    if not PartialState().is_main_process:
        return None
    t1 = time.perf_counter()
    print(f"adversarial stage ({describe_route(cfg.adversarial)}, {cfg.adversarial.rounds} rounds, D pretraining "
          f"included when the run had no D): {t1 - t0:.0f} s")
    held_out = describe_d_pretraining(run_dir)
    if held_out:
        print(held_out)
    if not compare:
        return None
    comparison = run_comparison(cfg, run_dir, splits=splits)
    print(f"comparison: {time.perf_counter() - t1:.0f} s")
    return comparison


def _run_train(args: argparse.Namespace) -> int:
    cfg = load_train_config(args.run_dir, args.config, list(args.overrides or []))
    run_adversarial_stage(cfg, args.run_dir, resume=args.resume, compare=not args.no_compare,
                          rank_report=args.rank_report)
    return 0
