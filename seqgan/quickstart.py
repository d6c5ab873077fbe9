"""The quickstart (``seqgan quickstart``): prepare the data once, pretrain the default chatbot by MLE, evaluate
it, show replies, pretrain D and fine-tune adversarially, print the MLE vs adversarial table, say how to chat.

:func:`run_quickstart` runs the stage functions of :data:`STAGES` in order; they share a :class:`QuickstartState`
(the config, the data splits, the run directory, metrics and timings).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from seqgan.runs.rundir import RunDir


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
    from seqgan.mle.trainer import train_mle

    t0 = time.perf_counter()
    state.run = train_mle(state.cfg, resume=state.resume, splits=state.splits)
    state.timings["mle_s"] = time.perf_counter() - t0
    print(f"MLE pretraining: {state.timings['mle_s']:.0f} s -> {state.run.path}")


def show_replies(policy, tokenizer, data_cfg, pairs, seed: int = 0) -> list[dict]:
    """Print each held-out context with the model's greedy reply, its reply as ``seqgan chat`` decodes by default
    (sampling, :class:`~seqgan.generate.DecodingOptions`) and the human reply; returns those rows."""
    import torch

    from seqgan.generate import DecodingOptions, reply_to_contexts

    contexts = [list(c) for c in pairs["context"]]
    greedy = reply_to_contexts(policy, tokenizer, data_cfg, contexts, DecodingOptions(mode="greedy"))
    chat = DecodingOptions()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        sampled = reply_to_contexts(policy, tokenizer, data_cfg, contexts, chat)
    rows = []
    print(f"\nreplies to held-out test contexts (greedy, and sampled as `seqgan chat` does: temperature "
          f"{chat.temperature}, top-p {chat.top_p}):")
    for turns, g, smp, human in zip(contexts, greedy, sampled, pairs["reply"]):
        print()
        for turn in turns:
            print(f"  > {turn}")
        print(f"  bot (greedy):  {g[0]}")
        print(f"  bot (sampled): {smp[0]}")
        print(f"  human:         {human}")
        rows.append({"context": turns, "greedy": g[0], "sampled": smp[0], "human": human})
    return rows


def stage_evaluate(state: QuickstartState, num_replies: int = 10) -> None:
    """Validation metrics table and replies to held-out test contexts."""
    from seqgan.chatbot import load_run
    from seqgan.mle.evaluate import evaluate_generator, held_out_pairs

    policy, tokenizer, cfg = load_run(state.run.path)
    m = evaluate_generator(policy, tokenizer, held_out_pairs(cfg, tokenizer, state.splits, "valid"), cfg.eval,
                           split="valid")
    state.metrics["mle"] = m
    print()
    print(f"| model | valid ppl | context gain | BLEU ({m['tag']}) | distinct-1 | distinct-2 | mean length |")
    print("|---|---|---|---|---|---|---|")
    print(f"| MLE | {m['ppl']:.1f} | {m['context_gain']:.3f} | {m['bleu']:.2f} | {m['distinct1']:.3f} | "
          f"{m['distinct2']:.3f} | {m['mean_len']:.1f} |")
    print("(context gain: NLL of the human replies under another pair's context minus under their own, nats per "
          "token; 0 = the replies ignore the context)")
    test = state.splits.test.select(range(min(num_replies, len(state.splits.test))))
    state.metrics["replies"] = show_replies(policy, tokenizer, cfg.data, test, seed=cfg.seed)


def stage_chat_hint(state: QuickstartState) -> None:
    print(f"\nchat with it:  seqgan chat {state.run.path}")


def stage_adversarial(state: QuickstartState) -> None:
    """D pretraining + adversarial fine-tuning of the quickstart's run, then the MLE vs adversarial comparison
    table (timings land in ``state.timings``)."""
    from seqgan.adversarial.cli import describe_route, run_adversarial_stage

    t0 = time.perf_counter()
    print(f"\nadversarial fine-tuning ({describe_route(state.cfg.adversarial)}, {state.cfg.adversarial.rounds} rounds)"
          " against a conditional discriminator ...")
    state.metrics["comparison"] = run_adversarial_stage(state.cfg, state.run.path, resume=state.resume,
                                                        splits=state.splits)
    state.timings["adversarial_s"] = time.perf_counter() - t0


STAGES: list[Callable[[QuickstartState], None]] = [stage_data, stage_mle, stage_evaluate, stage_adversarial,
                                                   stage_chat_hint]


def run_quickstart(cfg, resume: bool = False) -> QuickstartState:
    """Run every stage of :data:`STAGES` in order; returns the shared state (run dir, metrics, timings)."""
    state = QuickstartState(cfg=cfg, resume=resume)
    for stage in STAGES:
        stage(state)
    return state
