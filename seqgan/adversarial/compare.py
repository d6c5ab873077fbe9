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

from seqgan.config import field
from seqgan.data import decode_ids, iter_batches
from seqgan.errors import ConfigError
from seqgan.metrics.likelihood import held_out_nll
from seqgan.models.discriminator import DiscriminatorConfig
from seqgan.models.policy import Context, Policy, eval_mode
from seqgan.runs.checkpoint import atomic_write_text

COMPARISON_MD = "comparison.md"
COMPARISON_JSON = "comparison.json"


@dataclass
class CompareConfig:
    """How the MLE and adversarial generators are compared (section ``compare``)."""

    num_pairs: int = field(300, help="held-out test pairs used for every metric (first N of the test split)")
    decodes: list[str] = field(["greedy", "sample"], help="decodings to report: greedy and/or sample")
    temperature: float = field(1.0, help="sampling temperature of the 'sample' decoding")
    batch_size: int = field(64, help="contexts per generation batch")
    examples: int = field(5, help="test contexts shown with both models' replies")
    adversuc: bool = field(True, help="train a fresh evaluator D per model and report adversarial success")
    adversuc_train_pairs: int = field(2000, help="training pairs (disjoint from the test pairs) for that evaluator")
    adversuc_steps: int = field(300, help="updates of that evaluator")
    evaluator: DiscriminatorConfig = field(DiscriminatorConfig, help="the AdverSuc evaluator D (fresh per model)")
    seed: int = field(0, help="seed of sampling and of the evaluator")

    def validate(self) -> None:
        bad = [d for d in self.decodes if d not in ("greedy", "sample")]
        if bad or not self.decodes:
            raise ConfigError(f"compare.decodes: expected a non-empty list of greedy/sample, got {self.decodes}")
        if self.num_pairs < 1 or self.batch_size < 1 or self.adversuc_steps < 1:
            raise ConfigError("compare.num_pairs / compare.batch_size / compare.adversuc_steps: expected >= 1")
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
        head = "| metric | " + " | ".join(self.models) + " |"
        lines = [head, "|---|" + "---:|" * len(self.models)]
        for name, vals in self.metrics.items():
            cells = [f"{vals[m]:.4g}" if isinstance(vals.get(m), float) and math.isfinite(vals[m]) else str(vals.get(m))
                     for m in self.models]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        out = [f"# {self.title}", "", *lines, ""]
        out += [f"- {note}" for note in self.notes]
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


@torch.no_grad()
def generate_texts(policy: Policy, tokenizer, ds, decode: str, cfg: CompareConfig, device="cpu") -> list[str]:
    """Replies of ``policy`` to every context of ``ds`` (greedy or sampled), decoded to text."""
    texts: list[str] = []
    with eval_mode(policy):
        for batch in iter_batches(ds, tokenizer.pad_token_id, cfg.batch_size):
            ctx = Context(batch["context_ids"].to(device), batch["context_mask"].to(device))
            out = policy.sample(ctx, greedy=decode == "greedy", temperature=cfg.temperature)
            texts += decode_ids(tokenizer, out.ids, out.mask)
    return texts


def human_perplexity(policy: Policy, tokenizer, ds, cfg: CompareConfig, device="cpu") -> tuple[float, float]:
    """(mean per-token NLL, perplexity) of the human replies of ``ds`` under ``policy``."""
    nll = held_out_nll(policy, iter_batches(ds, tokenizer.pad_token_id, cfg.batch_size), device)
    return nll, math.exp(min(nll, 50.0))


def compare_policies(models: dict[str, Policy], tokenizer, test_ds, cfg: CompareConfig, train_ds=None,
                     device="cpu", title: str = "MLE vs adversarial generator") -> Comparison:
    """Every generator of ``models`` (name -> policy, in column order) on the first ``cfg.num_pairs`` pairs of
    ``test_ds`` (encoded, with ``context``/``reply`` text columns). ``train_ds`` (encoded training pairs) feeds the
    AdverSuc evaluator (``cfg.evaluator``, trained ``cfg.adversuc_steps`` updates); without it AdverSuc is
    skipped. Every model sees the same contexts and the same sampling seed."""
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
            put(f"bleu_{decode}_test{n}", name, corpus_bleu(texts, refs))
            put(f"self_bleu_{decode}_test{n}", name, self_bleu(texts, seed=cfg.seed))
            put(f"distinct1_{decode}_test{n}", name, distinct_n(texts, 1))
            put(f"distinct2_{decode}_test{n}", name, distinct_n(texts, 2))
            put(f"mean_len_{decode}_test{n}", name, mean_length(texts))
        nll, ppl = human_perplexity(policy, tokenizer, test, cfg, device)
        put(f"nll_human_test{n}", name, nll)
        put(f"ppl_human_test{n}", name, ppl)
    notes = [f"{n} held-out test pairs; sampling at temperature {cfg.temperature}, seed {cfg.seed}.",
             f"human replies: mean length {mean_length(refs):.2f} words, distinct-1 {distinct_n(refs, 1):.3f}, "
             f"distinct-2 {distinct_n(refs, 2):.3f}, self-BLEU {self_bleu(refs, seed=cfg.seed):.2f}."]

    if cfg.adversuc and train_ds is not None:
        from seqgan.metrics.adversuc import adversarial_success

        train = train_ds.select(range(min(cfg.adversuc_train_pairs, len(train_ds))))
        for name, policy in models.items():
            res = adversarial_success(policy, train, test, cfg.evaluator, seed=cfg.seed, steps=cfg.adversuc_steps)
            for key, value in res.items():
                if isinstance(value, (int, float)):
                    put(f"adversuc_{key}" if not key.startswith("adversuc") else key, name, float(value))
        notes.append(f"AdverSuc: a fresh evaluator D per model trained on {len(train)} training pairs vs that "
                     "model's replies; fraction of its replies on the test contexts judged human (higher = better).")

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


def compare_models(mle_policy: Policy, adv_policy: Policy, tokenizer, test_ds, cfg: CompareConfig,
                   train_ds=None, device="cpu") -> Comparison:
    """:func:`compare_policies` of the two generators of a run, as columns ``mle`` and ``adversarial``."""
    return compare_policies({"mle": mle_policy, "adversarial": adv_policy}, tokenizer, test_ds, cfg,
                            train_ds=train_ds, device=device)


def write_comparison(comparison: Comparison, run_dir: str | Path) -> Path:
    """Write comparison.md and comparison.json into ``run_dir``; returns the markdown path."""
    run_dir = Path(run_dir)
    atomic_write_text(run_dir / COMPARISON_JSON, json.dumps(comparison.to_json(), indent=2))
    atomic_write_text(run_dir / COMPARISON_MD, comparison.to_markdown())
    return run_dir / COMPARISON_MD


def run_comparison(cfg, run_dir: str | Path, echo: bool = True, splits=None) -> Comparison:
    """Compare ``run_dir/generator`` (MLE) with ``run_dir/generator_adv`` on the run's test split (``splits``:
    the run's :func:`~seqgan.data.prepare_data` output, prepared here when not given); writes comparison.md /
    comparison.json and prints the markdown when ``echo``."""
    from seqgan.data import encode_pairs, load_tokenizer, prepare_data
    from seqgan.errors import CheckpointError
    from seqgan.models.seq2seq import Seq2SeqPolicy

    run_dir = Path(run_dir)
    if not (run_dir / "generator_adv").is_dir():
        raise CheckpointError(f"{run_dir}: no adversarial generator (generator_adv/); run `seqgan train` first")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = load_tokenizer(run_dir / "tokenizer")
    mle = Seq2SeqPolicy.from_pretrained(run_dir / "generator").to(device)
    adv = Seq2SeqPolicy.from_pretrained(run_dir / "generator_adv").to(device)
    ccfg: CompareConfig = cfg.compare
    splits = splits if splits is not None else prepare_data(cfg.data)
    test = encode_pairs(splits.test.select(range(min(ccfg.num_pairs, len(splits.test)))), tokenizer, cfg.data)
    train = None
    if ccfg.adversuc:
        train = encode_pairs(splits.train.select(range(min(ccfg.adversuc_train_pairs, len(splits.train)))),
                             tokenizer, cfg.data)
    comparison = compare_models(mle, adv, tokenizer, test, ccfg, train_ds=train, device=device)
    path = write_comparison(comparison, run_dir)
    if echo:
        print(comparison.to_markdown())
        print(f"(written to {path})")
    return comparison
