"""Rows of a finished oracle run sampled at another temperature: NLL-oracle and NLL-test of each row's generator at
temperature t, next to MLE's frontier point at the same t.

    python benchmarks/oracle_temperature.py runs/ref_cpu_s0 --rows mle,leakgan --temperature 0.6667 [--samples 9984]

Papers sometimes report NLL-oracle of samples drawn below temperature 1 (LeakGAN's code multiplies the logits by
1.5 when it evaluates, i.e. samples at t = 2/3); this puts such a number beside MLE sampled at the same t. The
table of the run itself (every row at t = 1, against MLE's frontier) stays the verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from seqgan.oracle.data import load_data, load_oracle  # noqa: E402
from seqgan.oracle.metrics import nll_oracle, nll_test  # noqa: E402
from seqgan.oracle.peers import load_row_generator  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="a finished oracle run directory")
    p.add_argument("--rows", default="mle", help="comma-separated rows (their generator_<row> directories)")
    p.add_argument("--temperature", type=float, default=2 / 3)
    p.add_argument("--samples", type=int, default=9984, help="model samples for NLL-oracle")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    oracle = load_oracle(args.run / "oracle")
    _, test, _ = load_data(args.run / "oracle_data.safetensors")
    results = json.loads((args.run / "results.json").read_text())
    at_one = {r["row"]: r for r in results["rows"]}
    print(f"| row | NLL-oracle at t=1 | NLL-test at t=1 | NLL-oracle at t={args.temperature:.3g} | "
          f"NLL-test at t={args.temperature:.3g} |\n|---|---|---|---|---|")
    for name in args.rows.split(","):
        torch.manual_seed(args.seed)
        policy = load_row_generator(args.run, name)
        o = nll_oracle(oracle, policy, args.samples, temperature=args.temperature)
        t = nll_test(policy, test, temperature=args.temperature)
        row = at_one.get(name, {})
        print(f"| {name} | {row.get('nll_oracle', float('nan')):.3f} | {row.get('nll_test', float('nan')):.3f} | "
              f"{o:.3f} | {t:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
