"""One Adam step over every parameter of a pretrained causal LM (SmolLM2-135M-Instruct; a tiny random Llama with
``--quick``): torch's default implementation vs its fused kernel (``fused=True``, what
:func:`seqgan.runs.devices.fused_adam` turns on for G's and MLE's optimizers), side by side in one process.

    python benchmarks/optimizer_step.py [--model DIR] [--threads 1] [--steps 3] [--rounds 2]

The gradients are fixed random tensors (the step's cost does not depend on their values); each optimizer takes one
untimed step (its state is allocated there), then ``--steps`` timed steps; rounds alternate the two.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()

import torch  # noqa: E402

from bench_common import add_model_args, causal_lm_dir, command, machine, median  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_args(p)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=3, help="timed steps per optimizer and round")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from seqgan.models.generators import load_pretrained_model

    model = load_pretrained_model(causal_lm_dir(args.model, args.quick, args.cache))
    params = [q for q in model.parameters() if q.requires_grad]
    gen = torch.Generator().manual_seed(0)
    for q in params:
        q.grad = torch.randn(q.shape, generator=gen) * 1e-3
    print(f"command: {command()}\nmachine: {machine()}")
    print(f"{sum(q.numel() for q in params) / 1e6:.1f} M parameters in {len(params)} tensors", flush=True)
    times: dict[bool, list[float]] = {False: [], True: []}
    for r in range(args.rounds):
        for fused in (False, True):
            opt = torch.optim.Adam(params, lr=1e-6, fused=fused)
            opt.step()  # allocates the state
            for _ in range(args.steps):
                t0 = time.perf_counter()
                opt.step()
                times[fused].append(time.perf_counter() - t0)
            print(f"round {r + 1}: {'fused' if fused else 'default'}: "
                  + ", ".join(f"{t:.3f}" for t in times[fused][-args.steps:]) + " s", flush=True)
    slow, fast = median(times[False]), median(times[True])
    print("\n| Adam step | median s (n) |\n|---|---:|")
    print(f"| torch default (foreach) | {slow:.3f} ({len(times[False])}) |")
    print(f"| fused kernel | {fast:.3f} ({len(times[True])}) |")
    print(f"fused: {slow / fast:.1f}x faster")


if __name__ == "__main__":
    main()
