"""MLE-pretrain the chatbot from a recipe.

    python recipes/train_chatbot.py --config recipes/chat_cpu.yaml [key=value ...] [--resume]
    accelerate launch recipes/train_chatbot.py --config recipes/chat_gpu.yaml [key=value ...]
    torchrun --standalone --nproc_per_node 2 recipes/train_chatbot.py --config recipes/tiny.yaml

Extra option ``--rank-report FILE``: each process appends ``rank world_size weight_checksum`` to FILE at the end
(a check that a multi-process run really ran with synchronised weights).
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
    from seqgan.config import load_config
    from seqgan.chatbot import ChatbotConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, metavar="FILE", help="YAML recipe")
    parser.add_argument("--resume", action="store_true", help="continue the run in output_dir from its checkpoint")
    parser.add_argument("--rank-report", default=None, metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def job() -> None:
        from seqgan.mle.trainer import make_accelerator, train_mle

        cfg = load_config(ChatbotConfig, args.config, args.overrides)
        cfg.validate()
        accelerator = make_accelerator(cfg)
        run = train_mle(cfg, resume=args.resume, accelerator=accelerator)
        if args.rank_report:
            model = accelerator.unwrap_model(accelerator._models[0]) if accelerator._models else None
            total = sum(float(p.detach().double().sum()) for p in model.parameters()) if model is not None else 0.0
            with open(args.rank_report, "a", encoding="utf-8") as handle:
                handle.write(f"{accelerator.process_index} {accelerator.num_processes} {total:.10e}\n")
        if accelerator.is_main_process:
            print(run.path)

    return exit_status(job, Path(__file__).name, "interrupted: checkpoint saved; continue with --resume")


if __name__ == "__main__":
    sys.exit(main())
