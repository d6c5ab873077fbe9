"""Monte Carlo rollout reward: the batched implementation against straightforward loops and plain sampling, side
by side in one process, on the default CPU chatbot (``recipes/chat_cpu.yaml``: BART d_model 128, 2+2 layers,
vocabulary 4,000, the default CNN D), or (``--family causal``) on a pretrained causal LM.

    python benchmarks/rollout.py [--batch 64] [--reply-len 20] [--rollouts 16] [--threads 2] [--with-no-cache]
    python benchmarks/rollout.py --family causal [--model smollm2-135m-instruct | --quick] [--contexts 4 --group 4]

``--family causal`` (SmolLM2-135M-Instruct by default; a tiny random Llama with ``--quick``) times the completions
alone, no D (the D's cost is the reward's, measured by ``benchmarks/vs_trl.py``): B = contexts x group sampled
replies of T tokens (real chit-chat contexts under the model's chat template, K replies per context as a
policy-gradient step samples them), every prefix completed N times to T tokens (eos made impossible: the same work
for every method), B * N * T(T-1)/2 new tokens:

- ``(a)`` :meth:`CausalLMPolicy.rollout`: one teacher-forced pass over prompt + reply gives every prefix's KV cache
  (each distinct prompt read once), the first new token of the N rollouts of a prefix drawn from one shared
  distribution, the completions of every prefix length decoded together (each row's later reply tokens masked);
- ``(a2)`` the same rollout decoding one prefix length at a time (what BART / T5 do: their positions are shared by
  the batch), T - 1 loops of shrinking length;
- ``(b)`` a loop over rollouts and prefixes calling transformers' ``generate`` on prompt + prefix (B rows a call);
- ``(b2)`` a loop over prefixes, the N rollouts of each in one ``generate`` call (``num_return_sequences``);
- ``(c)`` :meth:`CausalLMPolicy.sample` of B * N replies of T tokens, scaled to the same number of new tokens.

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
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()

import torch  # noqa: E402

from bench_common import add_model_args, causal_lm_dir, chitchat_contexts, command, machine, peak_rss_mb  # noqa: E402
from seqgan.config import load_config  # noqa: E402
from seqgan.models.discriminator import Discriminator  # noqa: E402
from seqgan.models.policy import Context, Replies  # noqa: E402
from seqgan.models.sampling import sample_logits  # noqa: E402
from seqgan.models.seq2seq import Seq2SeqPolicy  # noqa: E402
from seqgan.rewards import MonteCarloReward, RolloutPolicy  # noqa: E402
from seqgan.chatbot import ChatbotConfig  # noqa: E402

PAD, BOS, EOS = 0, 1, 2


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
def seq2seq_main(args: argparse.Namespace) -> None:
    """The default CPU chatbot (BART from a config), with the rollout reward's D."""
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

    print(f"command: {command()}\nmachine: {machine()}")
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


# --------------------------------------------------------------------------------------------- causal LM
def causal_setup(args: argparse.Namespace):
    """(policy, context (B, S)) of the pretrained causal LM: ``contexts`` chit-chat prompts, each ``group`` times."""
    from seqgan.data import pad_rows
    from seqgan.models.chat_format import ChatFormat
    from seqgan.models.generators import load_pretrained_model, load_pretrained_tokenizer, policy_from_model

    path = causal_lm_dir(args.model, args.quick, args.cache)
    tokenizer = load_pretrained_tokenizer(path)
    policy = policy_from_model(load_pretrained_model(path), tokenizer, args.reply_len).eval()
    ban = torch.tensor([policy.eos_id])  # full-length replies and completions: the same work for every method
    policy.model.get_output_embeddings().register_forward_hook(
        lambda _m, _i, out: out.index_fill(-1, ban, float("-inf")))
    rows = ChatFormat.of(tokenizer).encode(chitchat_contexts(args.contexts, args.context_turns), args.context_turns,
                                           args.context_tokens)
    ids, mask = pad_rows(rows, policy.pad_id)
    return policy, Context(ids, mask).repeat_interleave(args.group), path


def generate_loop(policy, context: Context, replies: Replies, n: int, per_call: int) -> None:
    """Complete every prefix of every reply ``n`` times with transformers' ``generate`` on prompt + prefix:
    ``per_call`` completions of each prefix per call (1: a loop over rollouts and prefixes; n: over prefixes)."""
    prompt, prompt_mask = policy._prompt(context)  # left-padded, exactly as the policy reads them
    t_len = replies.ids.shape[1]
    for t in range(1, t_len):
        ids = torch.cat([prompt, replies.ids[:, :t]], 1)
        mask = torch.cat([prompt_mask, torch.ones_like(replies.ids[:, :t])], 1)
        for _ in range(n // per_call):
            out = policy.model.generate(input_ids=ids, attention_mask=mask, do_sample=True, top_k=0, top_p=1.0,
                                        temperature=1.0, max_new_tokens=t_len - t, num_return_sequences=per_call,
                                        pad_token_id=policy.pad_id, eos_token_id=policy.eos_id)
            assert out.shape[1] == ids.shape[1] + t_len - t


@torch.no_grad()
def causal_main(args: argparse.Namespace) -> None:
    """Completions only (no D) on a pretrained causal LM."""
    torch.manual_seed(0)
    policy, context, path = causal_setup(args)
    b, t_len, n = context.batch_size, args.reply_len, args.rollouts
    replies = policy.sample(context, max_len=t_len)
    assert replies.ids.shape == (b, t_len), replies.ids.shape
    new_tokens = b * n * t_len * (t_len - 1) // 2

    def batched():
        out = policy.rollout(context, replies, n)
        assert out.ids.shape == (b, t_len - 1, n, t_len) and bool(out.mask.all())

    rss_before = peak_rss_mb()
    batched()  # warm-up
    rows = [("(a) `CausalLMPolicy.rollout`: every prefix from one teacher-forced pass's KV cache, all prefix "
             "lengths decoded together", timed(batched, args.repeats))]
    rss_after = peak_rss_mb()
    policy.joint_prefixes = False  # the per-prefix-length loop that families with shared positions run
    rows.append(("(a2) the same, decoding one prefix length at a time", timed(batched, args.repeats)))
    policy.joint_prefixes = True
    sample_rows = context.repeat_interleave(n)
    plain = timed(lambda: policy.sample(sample_rows, max_len=t_len), args.repeats) * new_tokens / (b * n * t_len)
    rows.append((f"(b) loop over rollouts x prefixes, HF `generate` on prompt + prefix ({b} rows a call)",
                 timed(lambda: generate_loop(policy, context, replies, n, 1), 1)))
    rows.append((f"(b2) loop over prefixes, HF `generate` with num_return_sequences {n} ({b * n} rows a call)",
                 timed(lambda: generate_loop(policy, context, replies, n, n), 1)))
    rows.append((f"(c) plain batched sampling (`CausalLMPolicy.sample`, {b * n} rows) of the same number of tokens",
                 plain))
    report(rows, new_tokens, f"model {path} ({sum(p.numel() for p in policy.parameters()) / 1e6:.1f} M parameters), "
           f"B {b} replies ({args.contexts} contexts x {args.group}), T {t_len}, N {n}, prompt "
           f"{policy._prompt(context)[0].shape[1]} tokens (left-padded)")
    print(f"(a)'s throughput is {plain / rows[0][1]:.0%} of plain sampling's (c); peak RSS {rss_before:,.0f} MB with "
          f"the model built, {rss_after:,.0f} MB after (a)")


def report(rows: list[tuple[str, float]], new_tokens: int, setting: str) -> None:
    print(f"command: {command()}\nmachine: {machine()}")
    print(f"{setting}; {new_tokens:,} new tokens per call\n")
    print("| method | s / call | new tokens / s | time / (a) |")
    print("|---|---:|---:|---:|")
    for name, sec in rows:
        print(f"| {name} | {sec:.2f} | {new_tokens / sec:,.0f} | {sec / rows[0][1]:.1f}x |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=("seq2seq", "causal"), default="seq2seq")
    parser.add_argument("--config", default=str(ROOT / "recipes" / "chat_cpu.yaml"), help="seq2seq: the recipe")
    parser.add_argument("--batch", type=int, default=64, help="seq2seq: replies")
    parser.add_argument("--context-len", type=int, default=32, help="seq2seq: random context tokens")
    add_model_args(parser, "causal: ")
    parser.add_argument("--contexts", type=int, default=4, help="causal: distinct contexts")
    parser.add_argument("--group", type=int, default=4, help="causal: replies per context")
    parser.add_argument("--context-turns", type=int, default=1, help="causal: turns per context")
    parser.add_argument("--context-tokens", type=int, default=64, help="causal: at most this many context tokens")
    parser.add_argument("--reply-len", type=int, default=20)
    parser.add_argument("--rollouts", type=int, help="N (default: 16 seq2seq, 4 causal)")
    parser.add_argument("--threads", type=int, help="torch threads (default: 2 seq2seq, 1 causal)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many calls for (a) and (c); loops: 1")
    parser.add_argument("--with-no-cache", action="store_true", help="seq2seq: also the textbook no-cache loop")
    args = parser.parse_args(argv)
    causal = args.family == "causal"
    args.rollouts = args.rollouts or (4 if causal else 16)
    torch.set_num_threads(args.threads or (1 if causal else 2))
    (causal_main if causal else seq2seq_main)(args)


if __name__ == "__main__":
    main()
