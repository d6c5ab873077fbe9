"""The quickstart: prepare data, pretrain the default chatbot by MLE, evaluate it, show replies, say how to chat.

:func:`run_quickstart` runs a sequence of stage functions that share a :class:`QuickstartState`; later stages
(e.g. adversarial fine-tuning) append themselves to :data:`STAGES`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from seqgan.train.run import RunDir


@dataclass
class QuickstartState:
    """What the stages hand to each other."""

    cfg: Any
    resume: bool = False
    run: RunDir | None = None
    splits: Any = None
    metrics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def stage_data(state: QuickstartState) -> None:
    """Load and split the corpus; print the split sizes."""
    from seqgan.data import prepare_data

    state.splits = prepare_data(state.cfg.data)
    s = state.splits
    print(f"data ({state.cfg.data.source}): {len(s.train)} train / {len(s.valid)} valid / {len(s.test)} test "
          "(context, reply) pairs, split by conversation")


def stage_mle(state: QuickstartState) -> None:
    """MLE pretraining into ``cfg.output_dir`` (resumable)."""
    from seqgan.train.mle import train_mle

    t0 = time.perf_counter()
    state.run = train_mle(state.cfg, resume=state.resume)
    state.timings["mle_s"] = time.perf_counter() - t0
    print(f"MLE pretraining: {state.timings['mle_s']:.0f} s -> {state.run.path}")


def stage_evaluate(state: QuickstartState, num_replies: int = 8) -> None:
    """Validation metrics table and greedy replies to held-out test contexts."""
    from seqgan.data import encode_pairs
    from seqgan.train.evaluate import evaluate_generator
    from seqgan.train.run import load_run

    policy, tokenizer, cfg = load_run(state.run.path)
    m = evaluate_generator(policy, tokenizer, cfg, split="valid")
    state.metrics["mle"] = m
    print()
    print(f"| model | valid ppl | BLEU ({m['tag']}) | distinct-1 | distinct-2 | mean length |")
    print("|---|---|---|---|---|---|")
    print(f"| MLE | {m['ppl']:.1f} | {m['bleu']:.2f} | {m['distinct1']:.3f} | {m['distinct2']:.3f} | "
          f"{m['mean_len']:.1f} |")
    test = state.splits.test.select(range(min(num_replies, len(state.splits.test))))
    enc = encode_pairs(test, tokenizer, cfg.data)
    eval_cfg = type(cfg.eval)(**{**cfg.eval.__dict__, "num_samples": num_replies})
    shown = evaluate_generator(policy, tokenizer, enc, eval_cfg, split="test")["samples"]
    print("\nreplies to held-out test contexts (greedy):")
    for s in shown:
        print()
        for turn in s["context"]:
            print(f"  > {turn}")
        print(f"  bot:   {s['reply']}")
        print(f"  human: {s['human']}")


def stage_chat_hint(state: QuickstartState) -> None:
    print(f"\nchat with it:  seqgan chat {state.run.path}")


def stage_adversarial(state: QuickstartState) -> None:
    """D pretraining, adversarial fine-tuning and the MLE vs adversarial table (seqgan.train.adversarial_cli)."""
    from seqgan.train.adversarial_cli import stage_adversarial as run_stage

    run_stage(state)


STAGES: list[Callable[[QuickstartState], None]] = [stage_data, stage_mle, stage_evaluate, stage_adversarial,
                                                   stage_chat_hint]


def run_quickstart(cfg, resume: bool = False) -> QuickstartState:
    """Run every stage of :data:`STAGES` in order; returns the shared state (run dir, metrics, timings)."""
    state = QuickstartState(cfg=cfg, resume=resume)
    for stage in STAGES:
        stage(state)
    return state
