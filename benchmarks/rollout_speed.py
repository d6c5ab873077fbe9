"""Speed of ``Seq2SeqPolicy.rollout`` (batched, shared prefix caches) against naive rollout loops, side by side.

    python benchmarks/rollout_speed.py [--batch 32] [--reply-len 24] [--rollouts 8] [--vocab 8000] [--threads 2]

The generator has the default ``GeneratorConfig`` size (d_model 128, 2+2 layers) and is randomly initialised; speed
does not depend on the weights except through reply lengths, so replies are full length without eos (every prefix
is completed: the worst case) and eos is suppressed in the completions too. All three methods complete the same
B * (T-1) * n prefixes with the same inverse-CDF sampler and produce the same number of new tokens:

- ``batched``: :meth:`Seq2SeqPolicy.rollout`.
- ``naive (KV cache)``: for every prefix length t and every rollout k, encode the contexts, run the decoder over
  ``[bos, prefix]`` and decode the rest with the KV cache; batched over the B rows only.
- ``naive (no cache)``: the textbook loop: per t and k, every new token re-runs encoder and decoder over the whole
  sequence so far.

Prints machine info and a markdown table: seconds per call, new tokens per second, speed-up of the batched version.
The reference row times plain :meth:`Seq2SeqPolicy.sample` of B*n full-length replies, scaled to the same number of
new tokens: the throughput a rollout could reach if it were as cheap as sampling.
"""

from __future__ import annotations

import argparse
import os
import resource
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()

import torch  # noqa: E402

from seqgan.models.policy import Context, Replies  # noqa: E402
from seqgan.models.sampling import sample_logits  # noqa: E402
from seqgan.models.seq2seq import GeneratorConfig, Seq2SeqPolicy  # noqa: E402

PAD, BOS, EOS = 0, 1, 2


def no_eos(policy: Seq2SeqPolicy) -> None:
    """Make eos impossible (BART's final logits bias, added anyway) so every method decodes the full length."""
    with torch.no_grad():
        policy.model.final_logits_bias[..., EOS] = float("-inf")


@torch.no_grad()
def naive_cached(policy: Seq2SeqPolicy, context: Context, replies: Replies, n: int) -> torch.Tensor:
    """(B, T-1, n, T): per prefix and rollout, re-encode, re-read the prefix, decode the rest with the KV cache."""
    model = policy.model
    b, t_len = replies.ids.shape
    out = replies.ids[:, None, None, :].repeat(1, t_len - 1, n, 1)
    for t in range(1, t_len):
        for k in range(n):
            enc = model.get_encoder()(input_ids=context.ids, attention_mask=context.mask)
            dec = torch.cat([torch.full((b, 1), BOS), replies.ids[:, :t]], 1)  # (B, t+1)
            step = model(encoder_outputs=enc, attention_mask=context.mask, decoder_input_ids=dec, use_cache=True)
            for pos in range(t, t_len):
                tok, _ = sample_logits(step.logits[:, -1])  # (B, 1)
                out[:, t - 1, k, pos] = tok[:, 0]
                if pos + 1 < t_len:
                    step = model(encoder_outputs=enc, attention_mask=context.mask, decoder_input_ids=tok,
                                 cache=step.cache, use_cache=True)
    return out


@torch.no_grad()
def naive_no_cache(policy: Seq2SeqPolicy, context: Context, replies: Replies, n: int) -> torch.Tensor:
    """(B, T-1, n, T): per prefix and rollout, every new token re-runs the whole model over the sequence so far."""
    b, t_len = replies.ids.shape
    out = replies.ids[:, None, None, :].repeat(1, t_len - 1, n, 1)
    for t in range(1, t_len):
        for k in range(n):
            ids = replies.ids[:, :t]
            while ids.shape[1] < t_len:
                logits = policy.logits(context, ids, torch.ones_like(ids))[:, -1]  # (B, V)
                tok, _ = sample_logits(logits)
                ids = torch.cat([ids, tok], 1)
            out[:, t - 1, k] = ids
    return out


def timed(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--reply-len", type=int, default=24)
    parser.add_argument("--context-len", type=int, default=32)
    parser.add_argument("--rollouts", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="best of this many calls (naive: 1)")
    parser.add_argument("--skip-no-cache", action="store_true", help="leave out the slowest (no cache) loop")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    policy = Seq2SeqPolicy.build(GeneratorConfig(), args.vocab, PAD, BOS, EOS, args.reply_len).eval()
    no_eos(policy)
    b, t_len, n = args.batch, args.reply_len, args.rollouts
    ctx_ids = torch.randint(3, args.vocab, (b, args.context_len))
    context = Context(ctx_ids, torch.ones_like(ctx_ids))
    ids = torch.randint(3, args.vocab, (b, t_len))
    replies = Replies(ids, torch.ones_like(ids))
    new_tokens = b * n * sum(t_len - t for t in range(1, t_len))

    batched = policy.rollout(context, replies, n)  # warm-up and a shape check
    assert batched.ids.shape == (b, t_len - 1, n, t_len)
    rows = [("batched (Seq2SeqPolicy.rollout)", timed(lambda: policy.rollout(context, replies, n), args.repeats))]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB; the batched rollout ran last
    plain = timed(lambda: policy.sample(context.repeat_interleave(n)), args.repeats)
    rows.append(("(reference: plain `sample` of B*n replies)", plain * new_tokens / (b * n * t_len)))
    rows.append(("naive, KV cache per rollout", timed(lambda: naive_cached(policy, context, replies, n), 1)))
    if not args.skip_no_cache:
        rows.append(("naive, no cache", timed(lambda: naive_no_cache(policy, context, replies, n), 1)))

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"B {b}, T {t_len}, n {n}, V {args.vocab}, context {args.context_len}, generator d_model 128 2+2 layers; "
          f"{new_tokens} new tokens per call\n")
    print(f"| rollout (B {b}, T {t_len}, n {n}) | s per call | new tokens/s | speed-up of batched |")
    print("|---|---|---|---|")
    base = rows[0][1]
    for name, sec in rows:
        print(f"| {name} | {sec:.2f} | {new_tokens / sec:,.0f} | {sec / base:.1f}x |")
    print(f"\nbatched rollout throughput = {rows[1][1] / base:.0%} of plain sampling's; "
          f"peak RSS of the process after the batched rollout: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
