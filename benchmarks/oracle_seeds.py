"""The oracle benchmark over seeds: one markdown table and one frontier plot with every row, from finished runs.

    python benchmarks/oracle_seeds.py runs/ref_cpu_s0 runs/ref_cpu_s1 runs/ref_cpu_s2 [--plot docs/oracle/x.png]

Each RUN_DIR is a ``seqgan oracle`` run directory (``results.json``). The table
(:func:`seqgan.oracle.benchmark.summarize_seeds` with details) has NLL-oracle per seed and mean ± std, NLL-test, the
wall seconds of the row, its distance to MLE's temperature frontier (< 0: below it, i.e. better than MLE at some
temperature), the row minus MLE of the same seed (mean ± std of the per-seed differences) and its CPU seconds (one
thread, evaluation included); a row missing from some seeds is summarised over those that have it. The plot has the
mean of the seeds' frontiers (per temperature) and every row's mean point, with its distance to that frontier.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqgan.oracle.benchmark import mean_rows, summarize_seeds  # noqa: E402
from seqgan.oracle.frontier import describe_distance, frontier_distance, mean_curve, plot_frontier  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="oracle run directories (results.json)")
    p.add_argument("--plot", type=Path, help="write the frontier plot with every row (mean over the seeds) here")
    args = p.parse_args(argv)
    results = [json.loads((run / "results.json").read_text()) for run in args.runs]
    print(summarize_seeds(results, details=True))
    points = mean_curve([r["frontier"] for r in results if r.get("frontier")])
    rows = mean_rows(results)
    if points:
        print("MLE's temperature frontier, mean of the seeds (t: NLL-test, NLL-oracle): " + ", ".join(
            f"{q['temperature']:g}: {q['nll_test']:.3f}, {q['nll_oracle']:.3f}" for q in points))
        for row in rows:
            print(f"- {row['row']}: mean point {row['nll_oracle']:.3f} / {row['nll_test']:.3f}, "
                  f"{describe_distance(frontier_distance(points, row))} the mean frontier")
    if args.plot is not None:
        plot_frontier(args.plot, points, rows, title=f"mean of seeds {[r['seed'] for r in results]}")
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
