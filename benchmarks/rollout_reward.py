"""Cost of the per-token rewards per batch on the default chatbot sizes: sequence reward vs prefix reward vs Monte
Carlo rollout reward, measured side by side in one process (batched vs naive rollout loops: benchmarks/rollout.py).

    python benchmarks/rollout_reward.py [--batch 32] [--reply-len 24] [--rollouts 8] [--repeats 3] [--threads 2]

Prints machine info and a markdown table (ms per batch, ratios). Models are randomly initialised at the default
sizes of ``ChatbotConfig`` (generator, discriminator, vocabulary); speed does not depend on the weights except
through reply lengths, so the sampled replies are forced to the full length (no early end-of-sequence).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()

import torch  # noqa: E402

from seqgan.data.config import DataConfig  # noqa: E402
from seqgan.models.discriminator import Discriminator, DiscriminatorConfig  # noqa: E402
from seqgan.models.policy import Context  # noqa: E402
from seqgan.models.seq2seq import GeneratorConfig, Seq2SeqPolicy  # noqa: E402
from seqgan.rewards import MonteCarloReward, PrefixReward, RolloutPolicy, SequenceReward  # noqa: E402

PAD, BOS, EOS = 0, 1, 2


def timed(fn, repeats: int) -> float:
    """Median wall time in ms of ``repeats`` calls after one warm-up call."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0


def machine_info(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}; {os.cpu_count()} cores, torch {torch.__version__} using {threads} threads; "
            f"python {platform.python_version()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--reply-len", type=int, default=DataConfig().max_reply_tokens)
    parser.add_argument("--context-len", type=int, default=32)
    parser.add_argument("--rollouts", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=DataConfig().vocab_size)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    vocab = args.vocab
    B, T, n = args.batch, args.reply_len, args.rollouts
    policy = Seq2SeqPolicy.build(GeneratorConfig(), vocab, PAD, BOS, EOS, max_reply_len=T).eval()
    with torch.no_grad():  # full-length replies and rollouts: the worst case, and the same work for every method
        policy.model.final_logits_bias[..., EOS] = -1e4
    disc = Discriminator(DiscriminatorConfig(), vocab, PAD).eval()
    context = Context(torch.randint(3, vocab, (B, args.context_len)), torch.ones(B, args.context_len, dtype=torch.long))
    replies = policy.sample(context, max_len=T)
    assert replies.ids.shape == (B, T), replies.ids.shape

    mc = MonteCarloReward(disc, RolloutPolicy(policy), n)
    print(f"machine: {machine_info(args.threads)}")
    print(f"sizes: batch {B}, reply length {T}, context length {args.context_len}, vocabulary {vocab}, rollouts {n}, "
          f"generator d_model {GeneratorConfig().d_model}, D {DiscriminatorConfig().encoder}; "
          f"median of {args.repeats}\n")
    print("| reward | ms / batch | x sequence |")
    print("|---|---:|---:|", flush=True)
    rows: dict[str, float] = {}

    def row(name: str, ms: float) -> None:
        rows[name] = ms
        base = rows[next(iter(rows))]
        print(f"| {name} | {ms:,.1f} | {ms / base:,.1f} |", flush=True)

    row("sequence reward (D on the full reply)", timed(lambda: SequenceReward(disc)(context, replies), args.repeats))
    row("prefix reward (D on every prefix, one pass)",
        timed(lambda: PrefixReward(disc)(context, replies), args.repeats))
    row(f"MC rollout reward, batched (n={n})", timed(lambda: mc(context, replies), args.repeats))
    split = dict(mc.last_timing)
    print(f"\nbatched MC split: rollout sampling {split['rollout_s'] * 1000:,.0f} ms, D on "
          f"{B * (T - 1) * n:,} completions {split['disc_s'] * 1000:,.0f} ms", flush=True)
    # D's share: each context encoded once per batch (Discriminator.reward_rows, what MonteCarloReward uses) vs one
    # context copy per completion
    completions = B * (T - 1) * n
    rows_of = torch.arange(B).repeat_interleave((T - 1) * n)
    comp = torch.randint(3, vocab, (completions, T))
    comp_mask = torch.ones_like(comp)
    grouped = timed(lambda: disc.reward_rows(context, rows_of, comp, comp_mask), args.repeats)
    copied = timed(lambda: disc.reward(context.index(rows_of), comp, comp_mask), args.repeats)
    print(f"D on {completions:,} completions: each context once {grouped:,.0f} ms vs a context copy per completion "
          f"{copied:,.0f} ms ({copied / grouped:.1f}x)", flush=True)


if __name__ == "__main__":
    main()
