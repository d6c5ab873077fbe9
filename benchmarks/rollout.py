"""Monte Carlo rollout reward: the batched implementation against straightforward loops and plain sampling, side
by side in one process, on the default CPU chatbot (``recipes/chat_cpu.yaml``: BART d_model 128, 2+2 layers,
vocabulary 4,000, the default CNN D).

    python benchmarks/rollout.py [--batch 64] [--reply-len 20] [--rollouts 16] [--threads 2] [--with-no-cache]

Every method turns the same B replies of length T into the same (B, T) per-token rewards: for each prefix length
t = 1..T-1 and each of N rollouts, complete the prefix to length T by sampling from G, score the completion with
D(c, x) and average over the N rollouts (the last position gets D of the full reply). Replies and completions are
forced to full length (eos made impossible), the worst case and the same work for every method:
B * N * T(T-1)/2 new tokens per call.

- ``(a) batched``: :class:`seqgan.rewards.MonteCarloReward` over :meth:`Seq2SeqPolicy.rollout` (encoder once,
  prefix caches cut from one teacher-forced pass, the first token of all N rollouts drawn from one shared
  distribution, rows grouped by prefix length, inverse-CDF sampling, D with each context encoded once).
- ``(b) loop, HF generate``: the straightforward reference: for every rollout k and prefix length t, call
  ``model.generate(do_sample=True, decoder_input_ids=prefix)`` (transformers' sampling, which keeps its own KV
  cache), then D on that batch of B completions.
- ``(b') loop, project sampler``: the same loop with this project's inverse-CDF sampler and an explicit KV cache,
  so the ratio (b')/(a) isolates what batching buys beyond a faster sampler.
- ``(c) plain sampling``: :meth:`Seq2SeqPolicy.sample` of B*N full-length replies (no D), scaled to the same number
  of new tokens: the throughput the rollout would have if completing prefixes cost nothing extra.
- ``(floor)``: only the output projection to the vocabulary and the softmax for the same number of new tokens, in
  rows of B*N: work no sampler can skip, so no rollout (batched or not) can be faster than this on the machine.
- ``--with-no-cache`` adds the textbook loop that re-runs the whole model for every new token (minutes).

Prints the machine, a markdown table (seconds, new tokens/s, ratios), (a)'s throughput as a fraction of (c)'s,
and the peak resident memory of the process before and after (a).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()

import torch  # noqa: E402

from seqgan.config import load_config  # noqa: E402
from seqgan.models.discriminator import Discriminator  # noqa: E402
from seqgan.models.policy import Context, Replies  # noqa: E402
from seqgan.models.sampling import sample_logits  # noqa: E402
from seqgan.models.seq2seq import Seq2SeqPolicy  # noqa: E402
from seqgan.rewards import MonteCarloReward, RolloutPolicy  # noqa: E402
from seqgan.chatbot import ChatbotConfig  # noqa: E402

PAD, BOS, EOS = 0, 1, 2


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads"


def loop_reward(complete, disc: Discriminator, context: Context, replies: Replies, n: int) -> torch.Tensor:
    """(B, T) rewards by the straightforward double loop; ``complete(prefix (B, t)) -> (B, T)`` samples the rest."""
    b, t_len = replies.ids.shape
    rewards = torch.zeros(b, t_len)
    for k in range(n):
        for t in range(1, t_len):
            full = complete(replies.ids[:, :t])
            rewards[:, t - 1] += disc.reward(context, full, torch.ones_like(full)) / n
    rewards[:, -1] = disc.reward(context, replies.ids, replies.mask)
    return rewards


def hf_generate_completer(policy: Seq2SeqPolicy, context: Context, t_len: int):
    """Complete a prefix with transformers' ``generate`` (pure sampling: top-k and top-p off)."""
    def complete(prefix: torch.Tensor) -> torch.Tensor:
        start = torch.full((prefix.shape[0], 1), BOS, dtype=torch.long)
        out = policy.model.generate(input_ids=context.ids, attention_mask=context.mask,
                                    decoder_input_ids=torch.cat([start, prefix], 1), do_sample=True, top_k=0,
                                    top_p=1.0, max_new_tokens=t_len - prefix.shape[1],
                                    min_new_tokens=t_len - prefix.shape[1])
        return out[:, 1:]
    return complete


def cached_completer(policy: Seq2SeqPolicy, context: Context, t_len: int):
    """Complete a prefix with the project's sampler: encode, read the prefix once, decode with the KV cache."""
    model = policy.model

    def complete(prefix: torch.Tensor) -> torch.Tensor:
        enc = model.get_encoder()(input_ids=context.ids, attention_mask=context.mask)
        dec = torch.cat([torch.full((prefix.shape[0], 1), BOS), prefix], 1)
        step = model(encoder_outputs=enc, attention_mask=context.mask, decoder_input_ids=dec, use_cache=True)
        out = [prefix]
        for pos in range(prefix.shape[1], t_len):
            tok, _ = sample_logits(step.logits[:, -1])  # (B, 1)
            out.append(tok)
            if pos + 1 < t_len:
                step = model(encoder_outputs=enc, attention_mask=context.mask, decoder_input_ids=tok,
                             cache=step.cache, use_cache=True)
        return torch.cat(out, 1)
    return complete


def no_cache_completer(policy: Seq2SeqPolicy, context: Context, t_len: int):
    """The textbook loop: every new token re-runs encoder and decoder over the whole sequence so far."""
    def complete(prefix: torch.Tensor) -> torch.Tensor:
        ids = prefix
        while ids.shape[1] < t_len:
            tok, _ = sample_logits(policy.logits(context, ids, torch.ones_like(ids))[:, -1])
            ids = torch.cat([ids, tok], 1)
        return ids
    return complete


def projection_floor(policy: Seq2SeqPolicy, rows: int, tokens: int) -> None:
    """Vocabulary projection + softmax of ``tokens`` decoder states, ``rows`` at a time (random states)."""
    head = policy.model.get_output_embeddings()
    hidden = torch.randn(rows, head.in_features)
    for _ in range(tokens // rows):
        torch.softmax(head(hidden) + policy.model.final_logits_bias, dim=-1)


def timed(fn, repeats: int) -> float:
    """Best wall time in seconds over ``repeats`` calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@torch.no_grad()
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "recipes" / "chat_cpu.yaml"))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--reply-len", type=int, default=20)
    parser.add_argument("--context-len", type=int, default=32)
    parser.add_argument("--rollouts", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many calls for (a) and (c); loops: 1")
    parser.add_argument("--with-no-cache", action="store_true", help="also time the textbook no-cache loop")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    cfg = load_config(ChatbotConfig, args.config)
    vocab, b, t_len, n = cfg.data.vocab_size, args.batch, args.reply_len, args.rollouts
    policy = Seq2SeqPolicy.build(cfg.generator, vocab, PAD, BOS, EOS, t_len).eval()
    policy.model.final_logits_bias[..., EOS] = float("-inf")  # full-length replies: the same work for every method
    disc = Discriminator(cfg.discriminator, vocab, PAD).eval()
    ctx_ids = torch.randint(3, vocab, (b, args.context_len))
    context = Context(ctx_ids, torch.ones_like(ctx_ids))
    replies = policy.sample(context, max_len=t_len)
    assert replies.ids.shape == (b, t_len), replies.ids.shape
    new_tokens = b * n * t_len * (t_len - 1) // 2

    rss_before = peak_rss_mb()
    reward = MonteCarloReward(disc, RolloutPolicy(policy), n)
    assert reward(context, replies).shape == (b, t_len)  # warm-up and shape check
    batched = timed(lambda: reward(context, replies), args.repeats)
    split = dict(reward.last_timing)
    rss_after = peak_rss_mb()
    plain = timed(lambda: policy.sample(context.repeat_interleave(n), max_len=t_len), args.repeats)
    plain *= new_tokens / (b * n * t_len)

    rows = [("(a) batched MC rollout reward (`MonteCarloReward`)", batched)]
    loops = [("(b) loop over rollouts x positions, HF `generate` + D", hf_generate_completer),
             ("(b') the same loop, project sampler + KV cache + D", cached_completer)]
    if args.with_no_cache:
        loops.append(("textbook loop, no cache (re-runs the model per token) + D", no_cache_completer))
    for name, make in loops:
        complete = make(policy, context, t_len)
        rows.append((name, timed(lambda: loop_reward(complete, disc, context, replies, n), 1)))
    rows.append(("(c) plain batched sampling of the same number of tokens (no D)", plain))
    floor = timed(lambda: projection_floor(policy, b * n, new_tokens), args.repeats)
    rows.append(("(floor) output projection + softmax alone for those tokens", floor))

    print(f"machine: {machine()}")
    print(f"config {Path(args.config).name}: generator {cfg.generator.arch} d_model {cfg.generator.d_model} "
          f"{cfg.generator.encoder_layers}+{cfg.generator.decoder_layers} layers, vocabulary {vocab}, D "
          f"{cfg.discriminator.encoder}; B {b}, T {t_len}, N {n}, context {args.context_len} tokens; {new_tokens:,} "
          f"new tokens and {b * (t_len - 1) * n:,} D-scored completions per call\n")
    print("| method | s / call | new tokens / s | time / (a) |")
    print("|---|---:|---:|---:|")
    for name, sec in rows:
        print(f"| {name} | {sec:.2f} | {new_tokens / sec:,.0f} | {sec / batched:.1f}x |")
    print(f"\n(a) spends {split['rollout_s']:.2f} s sampling and {split['disc_s']:.2f} s in D; its throughput is "
          f"{plain / batched:.0%} of plain sampling's (c)")
    print(f"peak RSS: {rss_before:,.0f} MB with the models built, {rss_after:,.0f} MB after (a)")


if __name__ == "__main__":
    main()
