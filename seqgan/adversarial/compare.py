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
from seqgan.metrics.judge import sample_reply_rows
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

    num_pairs: int = field(1000, ge=1, help="held-out test pairs used for every metric (first N of the test split)")
    decodes: list[str] = field(["greedy", "sample"], choices=("greedy", "sample"),
                               help="decodings to report: greedy and/or sample")
    temperature: float = field(1.0, gt=0, help="sampling temperature of the 'sample' decoding")
    batch_size: int = field(64, ge=1, help="contexts per generation batch")
    examples: int = field(5, ge=0, help="test contexts shown with both models' replies")
    adversuc: bool = field(True, help="train one judge (a fresh evaluator D) on human replies vs every model's and "
                                      "report each model's AUC with a bootstrap interval and AdverSuc")
    adversuc_split: str = field("valid", choices=("valid", "train"), help="split whose pairs train the judge: "
                                                                          "valid (seen by neither G nor the "
                                                                          "adversarial D) or train")
    adversuc_train_pairs: int = field(1000, ge=1, help="pairs of that split (disjoint from the test pairs) it "
                                                       "trains on")
    adversuc_steps: int = field(300, ge=1, help="updates of the judge")
    adversuc_batch_size: int = field(64, ge=2, help="pairs per judge update")
    adversuc_lr: float = field(1e-3, gt=0, help="judge learning rate (Adam)")
    evaluator: DiscriminatorConfig = field(DiscriminatorConfig, help="the judge's D design (encoder generator: a copy "
                                                                     "of the first model, the MLE generator)")
    bootstrap: int = field(1000, ge=0, help="bootstrap resamples of the test pairs for the judge's 95 % intervals")
    temperatures: list[float] = field([0.5, 0.7, 0.9, 1.0, 1.2], gt=0,
                                      help="quality-diversity view: BLEU, distinct-2 and the judge's AUC of sampled "
                                           "replies at each temperature (empty list: off); the judge trains on "
                                           "every model at every one of them")
    seed: int = field(0, help="seed of sampling and of the evaluator")
    include_pretrained: bool = field(False, help="also compare the pretrained model the run started from "
                                                 "(generator.init_from, zero-shot) as a third column, 'pretrained'")

    @staticmethod
    def upgrade_keys(data: dict) -> dict:
        """Configs saved before the one judge asked for per-temperature evaluators (``temperature_adversuc``);
        the judge now reports every temperature."""
        data.pop("temperature_adversuc", None)
        return data

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
            if value is None:
                return "-"
            text = f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else str(value)
            low, high = (self.metrics.get(f"{name}{s}", {}).get(model) for s in INTERVAL_SUFFIXES)
            return text if low is None or high is None else f"{text} [{low:.3g}, {high:.3g}]"

        head = "| metric | " + " | ".join(self.models) + " |"
        lines = [head, "|---|" + "---:|" * len(self.models)]
        for name in self.metrics:
            if name.startswith(QD_PREFIXES) or name.endswith(INTERVAL_SUFFIXES):
                continue
            lines.append(f"| {name} | " + " | ".join(cell(name, m) for m in self.models) + " |")
        out = [f"# {self.title}", "", *lines, ""]
        out += [f"- {note}" for note in self.notes]
        temps = quality_diversity_temperatures(self.metrics)
        if temps:
            kinds = [k for k in ("bleu", "distinct2", "judge_auc") if any(
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
INTERVAL_SUFFIXES = ("_low", "_high")  # a metric's 95 % interval, shown in its cell


def _qd_key(kind: str, temperature: float, metrics: dict) -> str:
    """Name of the quality-diversity metric ``kind`` (bleu / distinct2 / adversuc) at ``temperature``."""
    stem = f"qd_{kind}_t{temperature:g}_"
    return next((k for k in metrics if k.startswith(stem) and not k.endswith(INTERVAL_SUFFIXES)), stem)


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


def mean_token_kl(policy: Policy, reference: Policy, tokenizer, test_ds, rows: list[list[int]],
                  cfg: CompareConfig, device="cpu") -> float:
    """Mean per-token KL(policy || reference) in nats: ``log p(x_t) - log p_ref(x_t)`` averaged over the tokens of
    ``rows``, ``policy``'s own replies (sampled at temperature 1) to the contexts of ``test_ds`` (an unbiased
    estimate of the KL of the two next-token distributions along the policy's replies)."""
    from seqgan.data import pad_rows

    total, count = 0.0, 0
    contexts = list(test_ds["context_ids"])
    with torch.no_grad(), eval_mode(policy), eval_mode(reference):
        for start in range(0, len(rows), cfg.batch_size):
            ctx_ids, ctx_mask = pad_rows(contexts[start:start + cfg.batch_size], tokenizer.pad_token_id)
            ids, mask = pad_rows([r or [tokenizer.pad_token_id] for r in rows[start:start + cfg.batch_size]],
                                 tokenizer.pad_token_id)
            ctx = Context(ctx_ids.to(device), ctx_mask.to(device))
            ids, mask = ids.to(device), mask.to(device)
            diff = policy.score(ctx, ids, mask) - reference.score(ctx, ids, mask)
            total += float((diff * mask).sum())
            count += int(mask.sum())
    return total / max(count, 1)


def compare_policies(models: dict[str, Policy], tokenizer, test_ds, cfg: CompareConfig, train_ds=None,
                     device="cpu", title: str = "MLE vs adversarial generator") -> Comparison:
    """Every generator of ``models`` (name -> policy, in column order; the first is the reference, e.g. MLE) on
    the first ``cfg.num_pairs`` pairs of ``test_ds`` (encoded, with ``context``/``reply`` text columns).
    ``train_ds`` (encoded pairs disjoint from the test pairs, :attr:`CompareConfig.adversuc_split`) trains the one
    judge (:mod:`seqgan.metrics.judge`); without it the judge is skipped. Every model sees the same contexts and
    the same sampling seed."""
    from seqgan.metrics.text import corpus_bleu, distinct_n, mean_length, self_bleu

    cfg.validate()
    test = test_ds.select(range(min(cfg.num_pairs, len(test_ds))))
    n = len(test)
    refs = [r.strip() for r in test["reply"]]
    metrics: dict[str, dict[str, float]] = {}
    greedy_texts: dict[str, list[str]] = {}
    sampled: dict[tuple[str, float], list[list[int]]] = {}
    reference = next(iter(models))

    def put(name: str, model: str, value: float) -> None:
        metrics.setdefault(name, {})[model] = float(value)

    def replies(name: str, temperature: float) -> list[list[int]]:
        """The model's sampled replies to the test contexts (seeded: every model, every temperature alike)."""
        key = (name, float(temperature))
        if key not in sampled:
            sampled[key] = sample_reply_rows(models[name], test, tokenizer.pad_token_id, cfg.batch_size, device,
                                             temperature, cfg.seed)
        return sampled[key]

    def texts_of(rows: list[list[int]]) -> list[str]:
        return decode_ids(tokenizer, rows, [[1] * len(r) for r in rows])

    for name, policy in models.items():
        for decode in cfg.decodes:
            if decode == "greedy":
                texts = generate_texts(policy, tokenizer, test, decode, cfg, device)
                greedy_texts[name] = texts
                put(f"top_reply_share_greedy_test{n}", name, _top_share(texts))
            else:
                texts = texts_of(replies(name, cfg.temperature))
            put(f"bleu_{decode}_test{n}", name, corpus_bleu(texts, refs))
            put(f"self_bleu_{decode}_test{n}", name, self_bleu(texts, seed=cfg.seed))
            put(f"distinct1_{decode}_test{n}", name, distinct_n(texts, 1))
            put(f"distinct2_{decode}_test{n}", name, distinct_n(texts, 2))
            put(f"mean_len_{decode}_test{n}", name, mean_length(texts))
        nll, ppl = human_perplexity(policy, tokenizer, test, cfg, device)
        put(f"nll_human_test{n}", name, nll)
        put(f"ppl_human_test{n}", name, ppl)
        put(f"kl_to_{reference}_sample_t1_test{n}", name,
            mean_token_kl(policy, models[reference], tokenizer, test, replies(name, 1.0), cfg, device))
        if name in greedy_texts and reference in greedy_texts:
            put(f"greedy_changed_test{n}", name,
                sum(a != b for a, b in zip(greedy_texts[name], greedy_texts[reference])) / max(n, 1))
    notes = [f"{n} held-out test pairs; sampling at temperature {cfg.temperature}, seed {cfg.seed}; "
             "top_reply_share: share of the contexts that get the most frequent greedy reply (lower = less generic); "
             f"kl_to_{reference}: mean per-token KL(model || {reference}) in nats along the model's own replies "
             f"sampled at temperature 1; greedy_changed: share of the test contexts whose greedy reply differs from "
             f"{reference}'s.",
             f"human replies: mean length {mean_length(refs):.2f} words, distinct-1 {distinct_n(refs, 1):.3f}, "
             f"distinct-2 {distinct_n(refs, 2):.3f}, self-BLEU {self_bleu(refs, seed=cfg.seed):.2f}."]

    for name in models:
        for t in cfg.temperatures:
            texts = texts_of(replies(name, t))
            put(f"qd_bleu_t{t:g}_test{n}", name, corpus_bleu(texts, refs))
            put(f"qd_distinct2_t{t:g}_test{n}", name, distinct_n(texts, 2))

    if cfg.adversuc and train_ds is not None:
        notes += _judge_section(models, train_ds, test, cfg, replies, put, metrics, n, tokenizer, device)

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


def _judge_section(models, train_ds, test, cfg: CompareConfig, replies, put, metrics, n: int, tokenizer,
                   device) -> list[str]:
    """Train the one judge, put its metrics (AUC with intervals per model and temperature, AdverSuc, the AUC
    difference to the first model, each model's best temperature); returns the notes that explain them."""
    from seqgan.metrics.judge import MIN_JUDGE_ACC, judge_models

    reference = next(iter(models))
    train = train_ds.select(range(min(cfg.adversuc_train_pairs, len(train_ds))))
    temps = sorted(set(float(t) for t in cfg.temperatures) | {float(cfg.temperature)})
    report = judge_models(models, train, test, cfg.evaluator, temperatures=temps, temperature=cfg.temperature,
                          steps=cfg.adversuc_steps, batch_size=cfg.adversuc_batch_size, lr=cfg.adversuc_lr,
                          seed=cfg.seed, n_boot=cfg.bootstrap, device=device, tokenizer=tokenizer,
                          sample_batch_size=cfg.batch_size,
                          test_replies={(m, t): replies(m, t) for m in models for t in temps})
    key = f"judge_auc_sample_test{n}"
    for name in models:
        auc, low, high = report.auc[(name, float(cfg.temperature))]
        put(key, name, auc)
        put(f"{key}_low", name, low)
        put(f"{key}_high", name, high)
        if name in report.auc_diff:
            diff, dlow, dhigh = report.auc_diff[name]
            put(f"judge_auc_minus_{reference}_sample_test{n}", name, diff)
            put(f"judge_auc_minus_{reference}_sample_test{n}_low", name, dlow)
            put(f"judge_auc_minus_{reference}_sample_test{n}_high", name, dhigh)
        put(f"adversuc_sample_test{n}", name, report.adversuc[(name, float(cfg.temperature))])
        put(f"judge_balanced_acc_sample_test{n}", name, report.balanced_accuracy(name))
        best_t = min(temps, key=lambda t: report.auc[(name, t)][0])
        put(f"judge_auc_best_temperature_test{n}", name, report.auc[(name, best_t)][0])
        put(f"judge_best_temperature_test{n}", name, best_t)
        for t in cfg.temperatures:
            auc, low, high = report.auc[(name, float(t))]
            put(f"qd_judge_auc_t{t:g}_test{n}", name, auc)
            put(f"qd_judge_auc_t{t:g}_test{n}_low", name, low)
            put(f"qd_judge_auc_t{t:g}_test{n}_high", name, high)
    design = cfg.evaluator.encoder + (f", initialised from {reference}" if cfg.evaluator.encoder == "generator"
                                      else "")
    notes = [f"One judge ({design}) trained {cfg.adversuc_steps} steps on {report.num_train} pairs of the "
             f"{cfg.adversuc_split} split: human replies vs the replies of every model at temperatures "
             f"{', '.join(f'{t:g}' for t in temps)} in equal numbers. judge_auc: how well it tells human replies from "
             f"that model's on the {report.num_test} test pairs (0.5 = it cannot; lower is better), with a "
             f"{cfg.bootstrap}-resample bootstrap 95 % interval; judge_auc_minus_{reference}: the difference, paired "
             "bootstrap interval; adversuc: share of the model's replies it judges human at its one threshold "
             f"(it accepts {report.acc_human:.2f} of the human replies); judge_auc_best_temperature: the model's "
             "lowest AUC over the temperatures of the quality-diversity view (Caccia et al. 2020: a model beats "
             f"another only if it beats it at that one's best temperature)."]
    weak = [f"{m}: {report.balanced_accuracy(m):.2f}" for m in models if report.balanced_accuracy(m) < MIN_JUDGE_ACC]
    if len(weak) == len(models):
        notes.append(f"**warning: the judge is near chance on every model** (balanced accuracy below "
                     f"{MIN_JUDGE_ACC:.2f}: {'; '.join(weak)}): its AUCs and AdverSuc are mostly noise")
    return notes


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
    from seqgan.models.generators import load_policy, load_pretrained_policy

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
    models = {"mle": mle, "adversarial": adv}
    title = "MLE vs adversarial generator"
    if ccfg.include_pretrained and cfg.generator.init_from:
        models["pretrained"] = load_pretrained_policy(cfg.generator, tokenizer, mle.max_reply_len, run_dir).to(device)
        title += " (and the pretrained model they started from, zero-shot)"
    comparison = compare_policies(models, tokenizer, test, ccfg, train_ds=train, device=device, title=title)
    path = write_comparison(comparison, run_dir)
    if echo:
        print(comparison.to_markdown())
        print(f"(written to {path})")
    return comparison
