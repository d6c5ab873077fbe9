"""MLE's temperature frontier: the baseline an adversarial row's (NLL-test, NLL-oracle) point must beat.

Sampling the MLE model at temperature t < 1 (``softmax(logits / t)``) sharpens it: NLL-oracle falls and NLL-test
rises, the same trade a policy-gradient row makes. Caccia et al. (ICLR 2020, "Language GANs Falling Short") therefore
compare a GAN not with MLE's single point but with the curve MLE traces over temperatures: a row beats MLE only
if its point lies below that curve.

The curve is the polyline through the points ``(nll_test(t), nll_oracle(t))`` in temperature order. The frontier
at NLL-test ``x`` is the lowest NLL-oracle any point of that polyline reaches with NLL-test <= x (its lower-left
envelope): "the best NLL-oracle MLE buys with a temperature for at most this much NLL-test". A row's distance is
``row NLL-oracle - frontier(row NLL-test)``: negative = below the frontier (better than MLE at a temperature),
positive = above. Left of the frontier (NLL-test lower than every point's) the distance is undefined: the row
is better on NLL-test than MLE at any temperature.
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from seqgan.models.lstm import LSTMPolicy
from seqgan.oracle.metrics import nll_oracle, nll_test


def temperature_curve(oracle: LSTMPolicy, model: LSTMPolicy, test_ids: Tensor, temperatures: list[float],
                      n_samples: int) -> list[dict]:
    """``[{"temperature", "nll_oracle", "nll_test"}, ...]`` of ``model`` at each temperature: NLL-oracle of
    ``n_samples`` samples drawn at that temperature, NLL-test of the tempered model on (N, T) ``test_ids``."""
    return [{"temperature": float(t), "nll_oracle": nll_oracle(oracle, model, n_samples, temperature=float(t)),
             "nll_test": nll_test(model, test_ids, temperature=float(t))} for t in temperatures]


def mean_curve(curves: list[list[dict]]) -> list[dict]:
    """The temperature curves of several seeds averaged per temperature (temperatures of the first curve that every
    curve has), for one frontier of several seeds."""
    if not curves:
        return []
    out = []
    for p in curves[0]:
        same = [q for c in curves for q in c if q["temperature"] == p["temperature"]]
        if len(same) == len(curves):
            out.append({"temperature": p["temperature"],
                        "nll_test": sum(q["nll_test"] for q in same) / len(same),
                        "nll_oracle": sum(q["nll_oracle"] for q in same) / len(same)})
    return out


def frontier_at(points: list[dict], x: float) -> float | None:
    """Lowest NLL-oracle on the polyline through ``points`` (temperature order) among its points with
    NLL-test <= ``x``; None when ``x`` is left of every point."""
    pts = sorted(points, key=lambda p: p["temperature"])
    xy = [(p["nll_test"], p["nll_oracle"]) for p in pts]
    if not xy:
        return None
    best = None
    segments = list(zip(xy, xy[1:])) or [(xy[0], xy[0])]  # one point: a segment of length 0
    for (x1, y1), (x2, y2) in segments:
        if min(x1, x2) > x:
            continue
        candidates = [y for xi, y in ((x1, y1), (x2, y2)) if xi <= x]
        if x1 != x2 and min(x1, x2) <= x <= max(x1, x2):  # the segment crosses x: its point at x counts too
            candidates.append(y1 + (y2 - y1) * (x - x1) / (x2 - x1))
        low = min(candidates)
        best = low if best is None else min(best, low)
    return best


def frontier_distance(points: list[dict], row: dict) -> float | None:
    """``row["nll_oracle"] - frontier_at(points, row["nll_test"])`` (negative: below the frontier); None when the row
    is left of the frontier or there is no frontier."""
    if not points:
        return None
    y = frontier_at(points, row["nll_test"])
    return None if y is None else row["nll_oracle"] - y


def describe_distance(distance: float | None) -> str:
    """``"below by 0.123"`` / ``"above by 0.123"`` / ``"left of it"`` for the results table."""
    if distance is None:
        return "left of it"
    return f"{'below' if distance < 0 else 'above'} by {abs(distance):.3f}"


def plot_frontier(path: str | Path, points: list[dict], rows: list[dict], title: str = "") -> Path:
    """NLL-oracle vs NLL-test: MLE's temperature curve (each point labelled by its temperature) and every row's
    end point, one legend entry each (the untrained ``random`` row left out; a row far outside the frontier's
    range is named in the legend with its coordinates). ``rows`` hold ``row``, ``nll_oracle`` and ``nll_test``;
    ``points`` come from :func:`temperature_curve`. Writes a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    pts = sorted(points, key=lambda p: p["temperature"])
    if pts:
        ax.plot([p["nll_test"] for p in pts], [p["nll_oracle"] for p in pts], "-o", color="0.3", lw=1.5, ms=4,
                label="MLE at temperature t", zorder=1)
        for p in pts:
            ax.annotate(f"t={p['temperature']:g}", (p["nll_test"], p["nll_oracle"]), fontsize=7, color="0.3",
                        xytext=(4, -9), textcoords="offset points")
    shown = [r for r in rows if r["row"] != "random"]  # the untrained model lies far off the scale of the others
    # the view spans the frontier and the rows near it; a row far outside (a diverged one) is named in the legend
    # with its coordinates instead of stretching the axes until the rest overlap
    xs = [p["nll_test"] for p in pts] or [r["nll_test"] for r in shown]
    ys = [p["nll_oracle"] for p in pts] or [r["nll_oracle"] for r in shown]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    inside = [r for r in shown if r["nll_test"] <= max(xs) + 0.5 * span_x and r["nll_oracle"] <= max(ys) + 0.5 * span_y]
    markers = "o*sD^vP<>Xh"
    for i, r in enumerate(shown):
        label = r["row"] if r in inside else f"{r['row']} (off the plot: {r['nll_test']:.2f}, {r['nll_oracle']:.2f})"
        ax.scatter([r["nll_test"]] if r in inside else [], [r["nll_oracle"]] if r in inside else [],
                   s=90 if r["row"] == "seqgan" else 40, zorder=2, marker="*" if r["row"] == "seqgan" else
                   markers[i % len(markers)], label=label, color=f"C{i % 10}")
    view_x = xs + [r["nll_test"] for r in inside]
    view_y = ys + [r["nll_oracle"] for r in inside]
    ax.set_xlim(min(view_x) - 0.05 * span_x, max(view_x) + 0.05 * span_x)
    ax.set_ylim(min(view_y) - 0.05 * span_y, max(view_y) + 0.05 * span_y)
    ax.set_xlabel("NLL-test (model on held-out oracle samples; lower = more coverage)")
    ax.set_ylabel("NLL-oracle (oracle on model samples; lower = more oracle-like)")
    ax.set_title(title or "Rows against MLE's temperature frontier (below the curve = better than MLE)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
