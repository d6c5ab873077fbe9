"""Adversarial fine-tuning of an MLE-pretrained chatbot run, then the MLE vs adversarial table (``seqgan train``).

    python recipes/train_adversarial.py RUN_DIR [--config recipes/chat_adv_prefix.yaml] [key=value ...] [--resume]
    accelerate launch recipes/train_adversarial.py RUN_DIR --config recipes/chat_adv_rollout.yaml
    torchrun --standalone --nproc_per_node 2 recipes/train_adversarial.py RUN_DIR adversarial.rounds=4

With several processes each rank trains on its own shard of the pairs and the gradients are averaged over the
ranks (see :mod:`seqgan.adversarial.stage`); the main process writes the run directory and the comparison.
Extra option ``--rank-report FILE``: each process appends ``rank world_size g_checksum d_checksum shard_checksum``
to FILE at the end (a check that the ranks really trained in sync on different data).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()


def main(argv: list[str] | None = None) -> int:
    import logging

    from seqgan.cli import exit_status
    from seqgan.adversarial.cli import load_train_config, run_adversarial_stage

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run directory written by MLE pretraining")
    parser.add_argument("--config", metavar="FILE", default=None, help="recipe with the adversarial sections")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted adversarial stage exactly")
    parser.add_argument("--no-compare", action="store_true", help="skip the MLE vs adversarial comparison")
    parser.add_argument("--rank-report", default=None, metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_intermixed_args(argv)  # overrides may follow the options
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def job() -> None:
        cfg = load_train_config(args.run_dir, args.config, args.overrides)
        run_adversarial_stage(cfg, args.run_dir, resume=args.resume, compare=not args.no_compare,
                              rank_report=args.rank_report)

    return exit_status(job, Path(__file__).name, "interrupted: continue with --resume")


if __name__ == "__main__":
    sys.exit(main())
