"""Adversarial fine-tuning of an MLE-pretrained chatbot run, then the MLE vs adversarial table: ``seqgan train``
as a script, for launchers that want a file.

    python recipes/train_adversarial.py RUN_DIR [--config recipes/chat_adv_prefix.yaml] [key=value ...] [--resume]
    accelerate launch recipes/train_adversarial.py RUN_DIR --config recipes/chat_adv_rollout.yaml
    torchrun --standalone --nproc_per_node 2 recipes/train_adversarial.py RUN_DIR adversarial.rounds=4

The same as ``seqgan train ...`` or ``accelerate launch -m seqgan.cli train ...``: it calls the CLI's entry point
(:func:`seqgan.cli.main`). With several processes each rank trains on its own shard of the pairs and the gradients
are averaged over the ranks (see :mod:`seqgan.adversarial.stage`); the main process writes the run directory and
the comparison.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":
    from seqgan.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
