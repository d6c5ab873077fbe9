"""Monte Carlo rollouts of a decoder-only LM (:class:`seqgan.models.causal.CausalLMPolicy`) next to plain sampling of
the same number of new tokens, side by side in one process.

    python benchmarks/rollout_causal.py [--model DIR_OR_GGUF] [--batch 8] [--reply-len 16] [--rollouts 4]
                                        [--prompt-len 40] [--threads 2] [--with-loop]

Default model: a tiny random Llama (2 layers, d 64, vocabulary 2,000: seconds); ``--model`` takes any local causal
LM directory, a .gguf file or ``smollm2-135m-instruct`` (the SmolLM2 recipe's model). Replies and completions are
forced to full length (eos made impossible): B * N * T(T-1)/2 new tokens per call for every method.

- ``(a) rollout``: ``policy.rollout`` (one pass over prompt + reply gives every prefix's KV cache; the first token of
  the N completions of a prefix drawn at once; rows of one prefix length decode together).
- ``(b) loop, HF generate`` (``--with-loop``): for every rollout and prefix length, ``model.generate`` from prompt +
  prefix: the straightforward way, re-reading the prompt and the prefix every time.
- ``(c) plain sampling``: ``policy.sample`` of B*N full-length replies, scaled to the same number of new tokens.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()

import torch  # noqa: E402
from rollout import machine, peak_rss_mb, timed  # noqa: E402

from seqgan.models.causal import CausalLMPolicy  # noqa: E402
from seqgan.models.policy import Context, Replies  # noqa: E402

PAD, BOS, EOS = 0, 1, 2


def tiny_llama() -> CausalLMPolicy:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=2000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS)
    return CausalLMPolicy(LlamaForCausalLM(config), PAD, EOS, 16, BOS)


def pretrained(path: str) -> CausalLMPolicy:
    from seqgan.models.generators import load_pretrained_model, load_pretrained_tokenizer, policy_from_model

    policy = policy_from_model(load_pretrained_model(path), load_pretrained_tokenizer(path), 16)
    if not isinstance(policy, CausalLMPolicy):
        raise SystemExit(f"{path}: not a causal LM")
    return policy


def loop_rollout(policy: CausalLMPolicy, context: Context, replies: Replies, n: int) -> None:
    """Every rollout and prefix length completed by its own ``generate`` call from prompt + prefix."""
    prompt, mask = policy._prompt(context)
    t_len = replies.ids.shape[1]
    for _ in range(n):
        for t in range(1, t_len):
            ids = torch.cat([prompt, replies.ids[:, :t]], 1)
            policy.model.generate(input_ids=ids, attention_mask=torch.cat([mask, replies.mask[:, :t]], 1),
                                  do_sample=True, top_k=0, top_p=1.0, max_new_tokens=t_len - t,
                                  min_new_tokens=t_len - t, pad_token_id=policy.pad_id)


@torch.no_grad()
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", help="a local causal LM (directory, .gguf or a wheel model name)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--reply-len", type=int, default=16)
    parser.add_argument("--rollouts", type=int, default=4)
    parser.add_argument("--prompt-len", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="best of this many calls for (a) and (c)")
    parser.add_argument("--with-loop", action="store_true", help="also time the HF-generate loop (b)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    policy = (pretrained(args.model) if args.model else tiny_llama()).eval()
    bias = torch.zeros(policy.vocab_size)
    bias[policy.eos_id] = float("-inf")  # full-length replies and completions: the same work for every method
    policy.model.get_output_embeddings().register_forward_hook(lambda _m, _i, out: out + bias)
    b, t_len, n = args.batch, args.reply_len, args.rollouts
    ids = torch.randint(3, min(policy.vocab_size, 30000), (b, args.prompt_len))
    context = Context(ids, torch.ones_like(ids))
    replies = policy.sample(context, max_len=t_len)
    assert replies.ids.shape == (b, t_len), replies.ids.shape
    new_tokens = b * n * t_len * (t_len - 1) // 2

    rss = peak_rss_mb()
    rollout = timed(lambda: policy.rollout(context, replies, n, max_len=t_len), args.repeats)
    plain = timed(lambda: policy.sample(context.repeat_interleave(n), max_len=t_len), args.repeats)
    plain *= new_tokens / (b * n * t_len)
    rows = [("(a) `CausalLMPolicy.rollout` (prefix caches from one pass)", rollout)]
    if args.with_loop:
        rows.append(("(b) loop over rollouts x prefixes, HF `generate` from prompt + prefix",
                     timed(lambda: loop_rollout(policy, context, replies, n), 1)))
    rows.append(("(c) plain sampling of the same number of new tokens", plain))

    name = args.model or "tiny random Llama (2 layers, d 64, vocabulary 2,000)"
    params = sum(p.numel() for p in policy.parameters())
    print(f"machine: {machine()}")
    print(f"model: {name}, {params / 1e6:.1f} M parameters; B {b}, prompt {args.prompt_len} tokens, T {t_len}, "
          f"N {n}: {new_tokens:,} new tokens per call\n")
    print("| method | s / call | new tokens / s | time / (a) |")
    print("|---|---:|---:|---:|")
    for label, sec in rows:
        print(f"| {label} | {sec:.2f} | {new_tokens / sec:,.0f} | {sec / rollout:.2f}x |")
    print(f"\n(a)'s throughput is {plain / rollout:.0%} of plain sampling's (c); peak RSS {peak_rss_mb():,.0f} MB "
          f"({rss:,.0f} MB with the model loaded)")


if __name__ == "__main__":
    main()
