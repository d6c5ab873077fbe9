"""MLE-pretrain the chatbot from a recipe: ``seqgan pretrain`` as a script, for launchers that want a file.

    python recipes/train_chatbot.py --config recipes/chat_cpu.yaml [key=value ...] [--resume]
    accelerate launch recipes/train_chatbot.py --config recipes/chat_gpu.yaml [key=value ...]
    torchrun --standalone --nproc_per_node 2 recipes/train_chatbot.py --config recipes/tiny.yaml

The same as ``seqgan pretrain ...`` or ``accelerate launch -m seqgan.cli pretrain ...``: it calls the CLI's entry
point (:func:`seqgan.cli.main`).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":
    from seqgan.cli import main

    sys.exit(main(["pretrain", *sys.argv[1:]]))
