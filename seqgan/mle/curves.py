"""PNG of the MLE curves of a run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path


def plot_mle_curves(records: list[dict], path: Path, title: str = "") -> Path | None:
    """Training loss, validation perplexity, BLEU / distinct and learning rate against the optimizer step.

    ``records`` are metrics.jsonl objects with ``"stage": "mle"``; returns ``path`` or None when there is nothing.
    """
    train = [r for r in records if "train_loss" in r]
    evals = [r for r in records if "valid_ppl" in r]
    if not train and not evals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    if train:
        axes[0, 0].plot([r["step"] for r in train], [r["train_loss"] for r in train], label="train NLL")
    if evals:
        axes[0, 0].plot([r["step"] for r in evals], [r["valid_nll"] for r in evals], marker="o", label="valid NLL")
        axes[0, 1].plot([r["step"] for r in evals], [r["valid_ppl"] for r in evals], marker="o")
        bleu_key = next((k for k in evals[-1] if k.startswith("bleu_")), None)
        if bleu_key:
            axes[1, 0].plot([r["step"] for r in evals], [r.get(bleu_key, 0.0) for r in evals], marker="o",
                            label=bleu_key)
        for key in ("distinct1", "distinct2"):
            axes[1, 0].plot([r["step"] for r in evals], [100 * r.get(key, 0.0) for r in evals], marker=".",
                            label=f"{key} x100")
        if any("context_gain" in r for r in evals):
            axes[1, 0].plot([r["step"] for r in evals], [100 * r.get("context_gain", 0.0) for r in evals],
                            marker="x", label="context gain x100 (nats/token)")
    if train:
        axes[1, 1].plot([r["step"] for r in train], [r.get("lr", 0.0) for r in train])
    for ax, name in zip(axes.flat, ("negative log-likelihood per token", "validation perplexity",
                                    "BLEU / distinct-n / context gain", "learning rate")):
        ax.set_title(name)
        ax.set_xlabel("optimizer step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path
