"""Self-BLEU of N replies: seqgan's one-pass implementation vs calling sacrebleu's sentence BLEU once per reply
against all the others (what a user would write), on the human replies of the embedded corpus, side by side.

    python benchmarks/self_bleu.py [--sizes 250 500 1000] [--loop-max 1000]

Prints machine info and a markdown table (seconds, ratio, and that both give the same score).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()

from sacrebleu.metrics import BLEU  # noqa: E402

from seqgan.data import prepare_data  # noqa: E402
from seqgan.data.config import DataConfig  # noqa: E402
from seqgan.metrics.text import self_bleu  # noqa: E402


def sacrebleu_loop(texts: list[str]) -> float:
    bleu = BLEU(effective_order=True)
    return sum(bleu.sentence_score(t, texts[:i] + texts[i + 1:]).score for i, t in enumerate(texts)) / len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000])
    parser.add_argument("--loop-max", type=int, default=1000, help="largest size also timed with the sacrebleu loop")
    args = parser.parse_args()
    replies = list(prepare_data(DataConfig(max_train_pairs=5000)).train["reply"])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; python "
          f"{platform.python_version()}; {' '.join(sys.argv)}\n")
    print("| replies | sacrebleu loop (s) | seqgan self_bleu (s) | speed-up | self-BLEU (loop / seqgan) |")
    print("|---:|---:|---:|---:|---|")
    for n in args.sizes:
        texts = replies[:n]
        t0 = time.perf_counter()
        fast = self_bleu(texts)
        t_fast = time.perf_counter() - t0
        if n <= args.loop_max:
            t0 = time.perf_counter()
            slow = sacrebleu_loop(texts)
            t_slow = time.perf_counter() - t0
            print(f"| {n} | {t_slow:.2f} | {t_fast:.3f} | {t_slow / t_fast:.0f}x | {slow:.4f} / {fast:.4f} |")
        else:
            print(f"| {n} | - | {t_fast:.3f} | - | - / {fast:.4f} |")


if __name__ == "__main__":
    main()
