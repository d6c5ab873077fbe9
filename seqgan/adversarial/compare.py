"""MLE vs adversarial generator, side by side on the same held-out pairs: BLEU, self-BLEU, distinct-1/2, mean
length, perplexity on human replies, adversarial success against a fresh evaluator D, and example replies.

``compare_policies`` (any number of named generators; ``compare_models`` for a run's two) returns a
:class:`Comparison`; ``write_comparison`` stores ``comparison.md`` and
``comparison.json`` in the run directory. Metric names carry their protocol (decoding, number of contexts).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any

import torch

from seqgan.config import check_fields, field
from seqgan.data import decode_ids, iter_batches
from seqgan.errors import ConfigError
from seqgan.metrics.likelihood import held_out_nll
from seqgan.models.discriminator import DiscriminatorConfig
from seqgan.models.policy import Context, Policy, eval_mode
from seqgan.runs.checkpoint import atomic_write_text

COMPARISON_MD = "comparison.md"
COMPARISON_JSON = "comparison.json"
QUALITY_DIVERSITY_PNG = "quality_diversity.png"


@dataclass
class CompareConfig:
    """How the MLE and adversarial generators are compared (section ``compare``)."""

    num_pairs: int = field(300, ge=1, help="held-out test pairs used for every metric (first N of the test split)")
    decodes: list[str] = field(["greedy", "sample"], choices=("greedy", "sample"),
                               help="decodings to report: greedy and/or sample")
    temperature: float = field(1.0, gt=0, help="sampling temperature of the 'sample' decoding")
    batch_size: int = field(64, ge=1, help="contexts per generation batch")
    examples: int = field(5, ge=0, help="test contexts shown with both models' replies")
    adversuc: bool = field(True, help="train a fresh evaluator D per model and report adversarial success")
    adversuc_split: str = field("valid", choices=("valid", "train"), help="split whose pairs train the evaluator: "
                                                                          "valid (seen by neither G nor the "
                                                                          "adversarial D) or train")
    adversuc_train_pairs: int = field(2000, ge=1, help="pairs of that split (disjoint from the test pairs) it trains "
                                                       "on")
    adversuc_steps: int = field(300, ge=1, help="updates of that evaluator")
    adversuc_batch_size: int = field(32, ge=2, help="pairs per evaluator update")
    adversuc_lr: float = field(1e-4, gt=0, help="evaluator learning rate (Adam)")
    evaluator: DiscriminatorConfig = field(DiscriminatorConfig, help="the AdverSuc evaluator D (fresh per model; "
                                                                     "encoder generator: a copy of the first "
                                                                     "model, the MLE generator)")
    temperatures: list[float] = field([0.5, 0.7, 0.9, 1.0, 1.2], gt=0,
                                      help="quality-diversity view: BLEU and distinct-2 of sampled replies at each "
                                           "temperature (empty list: off)")
    temperature_adversuc: bool = field(False, help="AdverSuc at every temperature of that view too (one evaluator "
                                                   "per model and temperature)")
    seed: int = field(0, help="seed of sampling and of the evaluator")

    def validate(self) -> None:
        check_fields(self, "compare")
        if not self.decodes:
            raise ConfigError("compare.decodes: expected a non-empty list of greedy/sample, got []")
        self.evaluator.validate()


@dataclass
class Comparison:
    """metrics: name -> {model: value}; examples: dicts with context, human reply and each model's reply."""

    models: list[str]
    metrics: dict[str, dict[str, float]]
    examples: list[dict[str, str]] = dc_field(default_factory=list)
    notes: list[str] = dc_field(default_factory=list)
    title: str = "MLE vs adversarial generator"

    def to_markdown(self) -> str:
        def cell(name: str, model: str) -> str:
            value = self.metrics[name].get(model)
            text = f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else str(value)
            acc = self.metrics.get(_evaluator_key(name), {}).get(model)
            return text if acc is None or name == _evaluator_key(name) else f"{text} (evaluator {acc:.2f})"

        head = "| metric | " + " | ".join(self.models) + " |"
        lines = [head, "|---|" + "---:|" * len(self.models)]
        for name in self.metrics:
            if name.startswith(QD_PREFIXES):
                continue
            lines.append(f"| {name} | " + " | ".join(cell(name, m) for m in self.models) + " |")
        out = [f"# {self.title}", "", *lines, ""]
        out += [f"- {note}" for note in self.notes]
        temps = quality_diversity_temperatures(self.metrics)
        if temps:
            kinds = [k for k in ("bleu", "distinct2", "adversuc") if any(
                _qd_key(k, t, self.metrics) in self.metrics for t in temps)]
            out += ["", "## Quality-diversity view (sampled replies at each temperature)", "",
                    "| temperature | " + " | ".join(f"{k} {m}" for k in kinds for m in self.models) + " |",
                    "|---:|" + "---:|" * (len(kinds) * len(self.models))]
            for t in temps:
                out.append(f"| {t:g} | " + " | ".join(
                    cell(_qd_key(k, t, self.metrics), m) if _qd_key(k, t, self.metrics) in self.metrics else "-"
                    for k in kinds for m in self.models) + " |")
            out += ["", "A model is better than another only if it is better at every temperature (Caccia et al. "
                        "2020): higher BLEU at the same distinct-2, or the reverse."]
        if self.examples:
            out += ["", "## Example replies (greedy)", ""]
            for i, ex in enumerate(self.examples, 1):
                out.append(f"{i}. **context:** {ex['context']}")
                out.append(f"   - human: {ex['human']}")
                for m in self.models:
                    out.append(f"   - {m}: {ex[m]}")
        return "\n".join(out) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "models": self.models, "metrics": self.metrics, "examples": self.examples,
                "notes": self.notes}


QD_PREFIXES = ("qd_",)


def _qd_key(kind: str, temperature: float, metrics: dict) -> str:
    """Name of the quality-diversity metric ``kind`` (bleu / distinct2 / adversuc) at ``temperature``."""
    stem = f"qd_{kind}_t{temperature:g}_"
    return next((k for k in metrics if k.startswith(stem)), stem)


def _evaluator_key(name: str) -> str:
    """``adversuc_sample_test300`` -> ``adversuc_sample_test300_evaluator_acc`` (the evaluator's balanced accuracy
    row that goes with an AdverSuc row); other names are returned unchanged."""
    if "adversuc" not in name or name.endswith(("_evaluator_acc", "_evaluator_acc_human", "_evaluator_auc")):
        return name
    return f"{name}_evaluator_acc"


def quality_diversity_temperatures(metrics: dict) -> list[float]:
    """The temperatures of the quality-diversity metrics in ``metrics``, ascending."""
    temps = {float(k.split("_t", 1)[1].split("_", 1)[0]) for k in metrics if k.startswith("qd_bleu_t")}
    return sorted(temps)


@torch.no_grad()
def generate_texts(policy: Policy, tokenizer, ds, decode: str, cfg: CompareConfig, device="cpu",
                   temperature: float | None = None) -> list[str]:
    """Replies of ``policy`` to every context of ``ds`` (greedy or sampled at ``temperature``, default
    ``cfg.temperature``), decoded to text."""
    temperature = cfg.temperature if temperature is None else temperature
    texts: list[str] = []
    with eval_mode(policy):
        for batch in iter_batches(ds, tokenizer.pad_token_id, cfg.batch_size):
            ctx = Context(batch["context_ids"].to(device), batch["context_mask"].to(device))
            out = policy.sample(ctx, greedy=decode == "greedy", temperature=temperature)
            texts += decode_ids(tokenizer, out.ids, out.mask)
    return texts


def human_perplexity(policy: Policy, tokenizer, ds, cfg: CompareConfig, device="cpu") -> tuple[float, float]:
    """(mean per-token NLL, perplexity) of the human replies of ``ds`` under ``policy``."""
    nll = held_out_nll(policy, iter_batches(ds, tokenizer.pad_token_id, cfg.batch_size), device)
    return nll, math.exp(min(nll, 50.0))


def compare_policies(models: dict[str, Policy], tokenizer, test_ds, cfg: CompareConfig, train_ds=None,
                     device="cpu", title: str = "MLE vs adversarial generator") -> Comparison:
    """Every generator of ``models`` (name -> policy, in column order) on the first ``cfg.num_pairs`` pairs of
    ``test_ds`` (encoded, with ``context``/``reply`` text columns). ``train_ds`` (encoded pairs disjoint from the
    test pairs, :attr:`CompareConfig.adversuc_split`) trains the AdverSuc evaluators; without it AdverSuc is
    skipped. The evaluator is ``cfg.evaluator``; one of the ``generator`` design starts from the first model. Every
    model sees the same contexts and the same sampling seed."""
    from seqgan.metrics.text import corpus_bleu, distinct_n, mean_length, self_bleu

    cfg.validate()
    test = test_ds.select(range(min(cfg.num_pairs, len(test_ds))))
    n = len(test)
    refs = [r.strip() for r in test["reply"]]
    metrics: dict[str, dict[str, float]] = {}
    greedy_texts: dict[str, list[str]] = {}

    def put(name: str, model: str, value: float) -> None:
        metrics.setdefault(name, {})[model] = float(value)

    for name, policy in models.items():
        for decode in cfg.decodes:
            torch.manual_seed(cfg.seed)
            texts = generate_texts(policy, tokenizer, test, decode, cfg, device)
            if decode == "greedy":
                greedy_texts[name] = texts
                put(f"top_reply_share_greedy_test{n}", name, _top_share(texts))
            put(f"bleu_{decode}_test{n}", name, corpus_bleu(texts, refs))
            put(f"self_bleu_{decode}_test{n}", name, self_bleu(texts, seed=cfg.seed))
            put(f"distinct1_{decode}_test{n}", name, distinct_n(texts, 1))
            put(f"distinct2_{decode}_test{n}", name, distinct_n(texts, 2))
            put(f"mean_len_{decode}_test{n}", name, mean_length(texts))
        nll, ppl = human_perplexity(policy, tokenizer, test, cfg, device)
        put(f"nll_human_test{n}", name, nll)
        put(f"ppl_human_test{n}", name, ppl)
    notes = [f"{n} held-out test pairs; sampling at temperature {cfg.temperature}, seed {cfg.seed}; "
             "top_reply_share: share of the contexts that get the most frequent greedy reply (lower = less generic).",
             f"human replies: mean length {mean_length(refs):.2f} words, distinct-1 {distinct_n(refs, 1):.3f}, "
             f"distinct-2 {distinct_n(refs, 2):.3f}, self-BLEU {self_bleu(refs, seed=cfg.seed):.2f}."]

    for name, policy in models.items():
        for t in cfg.temperatures:
            torch.manual_seed(cfg.seed)
            texts = generate_texts(policy, tokenizer, test, "sample", cfg, device, temperature=t)
            put(f"qd_bleu_t{t:g}_test{n}", name, corpus_bleu(texts, refs))
            put(f"qd_distinct2_t{t:g}_test{n}", name, distinct_n(texts, 2))

    if cfg.adversuc and train_ds is not None:
        from seqgan.metrics.adversuc import MIN_EVALUATOR_ACC, adversarial_success

        evaluator_cfg = cfg.evaluator
        init = next(iter(models.values()))
        train = train_ds.select(range(min(cfg.adversuc_train_pairs, len(train_ds))))
        runs = [(f"adversuc_sample_test{n}", cfg.temperature)]
        if cfg.temperature_adversuc:
            runs += [(f"qd_adversuc_t{t:g}_test{n}", t) for t in cfg.temperatures]
        for key, temperature in runs:
            for name, policy in models.items():
                res = adversarial_success(policy, train, test, evaluator_cfg, seed=cfg.seed,
                                          steps=cfg.adversuc_steps, batch_size=cfg.adversuc_batch_size,
                                          lr=cfg.adversuc_lr, temperature=temperature, init_policy=init,
                                          tokenizer=tokenizer)
                put(key, name, res["adversuc"])
                put(f"{key}_evaluator_acc", name, res["evaluator_acc"])
                put(f"{key}_evaluator_acc_human", name, res["evaluator_acc_human"])
                put(f"{key}_evaluator_auc", name, res["evaluator_auc"])
        notes.append(f"AdverSuc: a fresh evaluator D ({evaluator_cfg.encoder}"
                     f"{', initialised from ' + next(iter(models)) if evaluator_cfg.encoder == 'generator' else ''})"
                     f" per model, trained {cfg.adversuc_steps} steps on {len(train)} pairs of the "
                     f"{cfg.adversuc_split} split vs that model's replies; the fraction of its replies to the test "
                     "contexts judged human (higher = better); in brackets the evaluator's balanced accuracy on "
                     "the test pairs (human vs that model). *_evaluator_auc: how well that evaluator ranks human "
                     "above generated replies whatever its threshold (lower = harder to tell apart); AdverSuc "
                     "rising while this AUC stays put means the evaluator's threshold moved.")
        warning = evaluator_warning(metrics, MIN_EVALUATOR_ACC)
        if warning:
            notes.append(warning)

    examples = []
    if "greedy" not in cfg.decodes:
        torch.manual_seed(cfg.seed)
        greedy_texts = {m: generate_texts(p, tokenizer, test.select(range(min(cfg.examples, n))), "greedy", cfg,
                                          device) for m, p in models.items()}
    for i in range(min(cfg.examples, n)):
        ex = {"context": " | ".join(test[i]["context"]), "human": refs[i]}
        ex.update({m: greedy_texts[m][i] for m in models})
        examples.append(ex)
    return Comparison(list(models), metrics, examples, notes, title=title)


def evaluator_warning(metrics: dict[str, dict[str, float]], threshold: float) -> str | None:
    """The table's warning when an AdverSuc evaluator's balanced accuracy is below ``threshold``, else None."""
    weak = [f"{key.removesuffix('_evaluator_acc')} of {model}: {value:.2f}" for key, vals in metrics.items()
            if key.endswith("_evaluator_acc") for model, value in vals.items() if value < threshold]
    if not weak:
        return None
    return (f"**warning: evaluator at chance: AdverSuc is noise** (evaluator balanced accuracy below {threshold:.2f}: "
            + "; ".join(weak) + ")")


def _top_share(texts: list[str]) -> float:
    """Share of the replies equal to the most frequent one (1 = the same reply to every context)."""
    from collections import Counter

    return Counter(texts).most_common(1)[0][1] / len(texts) if texts else 0.0


def plot_quality_diversity(comparison: Comparison, path: str | Path) -> Path | None:
    """PNG of BLEU (quality) against distinct-2 (diversity) of each model's sampled replies, one point per
    temperature (Caccia et al. 2020); None when the comparison has no such metrics."""
    temps = quality_diversity_temperatures(comparison.metrics)
    if not temps:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for model in comparison.models:
        xs = [comparison.metrics[_qd_key("distinct2", t, comparison.metrics)][model] for t in temps]
        ys = [comparison.metrics[_qd_key("bleu", t, comparison.metrics)][model] for t in temps]
        ax.plot(xs, ys, marker="o", label=model)
        for x, y, t in zip(xs, ys, temps):
            ax.annotate(f"T {t:g}", (x, y), fontsize=7, textcoords="offset points", xytext=(3, 3))
    ax.set_xlabel("distinct-2 (diversity)")
    ax.set_ylabel("BLEU (quality)")
    ax.set_title("quality vs diversity over the sampling temperature")
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def compare_models(mle_policy: Policy, adv_policy: Policy, tokenizer, test_ds, cfg: CompareConfig,
                   train_ds=None, device="cpu") -> Comparison:
    """:func:`compare_policies` of the two generators of a run, as columns ``mle`` and ``adversarial``."""
    return compare_policies({"mle": mle_policy, "adversarial": adv_policy}, tokenizer, test_ds, cfg,
                            train_ds=train_ds, device=device)


def write_comparison(comparison: Comparison, run_dir: str | Path) -> Path:
    """Write comparison.md, comparison.json and the quality-diversity plot into ``run_dir``; returns the markdown
    path."""
    run_dir = Path(run_dir)
    atomic_write_text(run_dir / COMPARISON_JSON, json.dumps(comparison.to_json(), indent=2))
    atomic_write_text(run_dir / COMPARISON_MD, comparison.to_markdown())
    plot_quality_diversity(comparison, run_dir / QUALITY_DIVERSITY_PNG)
    return run_dir / COMPARISON_MD


def run_comparison(cfg, run_dir: str | Path, echo: bool = True, splits=None) -> Comparison:
    """Compare ``run_dir/generator`` (MLE) with ``run_dir/generator_adv`` on the run's test split (``splits``:
    the run's :func:`~seqgan.data.prepare_data` output, prepared here when not given); writes comparison.md /
    comparison.json / quality_diversity.png and prints the markdown when ``echo``."""
    from seqgan.data import encode_pairs, load_tokenizer, prepare_data
    from seqgan.errors import CheckpointError
    from seqgan.models.generators import load_policy

    run_dir = Path(run_dir)
    if not (run_dir / "generator_adv").is_dir():
        raise CheckpointError(f"{run_dir}: no adversarial generator (generator_adv/); run `seqgan train` first")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = load_tokenizer(run_dir / "tokenizer")
    mle = load_policy(run_dir / "generator").to(device)
    adv = load_policy(run_dir / "generator_adv").to(device)
    ccfg: CompareConfig = cfg.compare
    splits = splits if splits is not None else prepare_data(cfg.data)
    test = encode_pairs(splits.test.select(range(min(ccfg.num_pairs, len(splits.test)))), tokenizer, cfg.data)
    train = None
    if ccfg.adversuc:
        source = splits.valid if ccfg.adversuc_split == "valid" else splits.train
        train = encode_pairs(source.select(range(min(ccfg.adversuc_train_pairs, len(source)))), tokenizer, cfg.data)
    comparison = compare_models(mle, adv, tokenizer, test, ccfg, train_ds=train, device=device)
    path = write_comparison(comparison, run_dir)
    if echo:
        print(comparison.to_markdown())
        print(f"(written to {path})")
    return comparison
