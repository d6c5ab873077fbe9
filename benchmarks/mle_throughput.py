"""MLE training throughput (forward + backward + AdamW step) of the default CPU generator, in reply tokens/s.

    python benchmarks/mle_throughput.py [--config recipes/chat_cpu.yaml] [--steps 20] [--threads 2]

Prints one markdown table row: machine, torch version, threads, batch shape, ms/step, tokens/s.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()


def main() -> None:
    import torch

    from seqgan.config import load_config
    from seqgan.models.seq2seq import Seq2SeqPolicy
    from seqgan.chatbot import ChatbotConfig
    from seqgan.mle.trainer import build_optimizer

    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "recipes" / "chat_cpu.yaml"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context-len", type=int, default=40, help="context tokens per row (typical padded)")
    parser.add_argument("--reply-len", type=int, default=16, help="reply tokens per row (typical padded)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = load_config(ChatbotConfig, args.config)
    vocab, b = cfg.data.vocab_size, cfg.mle.batch_size
    policy = Seq2SeqPolicy.build(cfg.generator, vocab, 0, 1, 2, cfg.data.max_reply_tokens)
    opt = build_optimizer(policy.model, cfg.mle)
    ctx = torch.randint(5, vocab, (b, args.context_len))
    ids = torch.randint(5, vocab, (b, args.reply_len))

    def step() -> None:
        out = policy.model(input_ids=ctx, attention_mask=torch.ones_like(ctx),
                           decoder_input_ids=policy._decoder_inputs(ids), labels=ids, use_cache=False)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    ms = (time.perf_counter() - t0) / args.steps * 1000
    tok = b * args.reply_len / (ms / 1000)
    print("| machine | torch | threads | model | batch (B x ctx + reply) | ms/step | reply tokens/s |")
    print("|---|---|---|---|---|---|---|")
    g = cfg.generator
    print(f"| {platform.machine()} {os.cpu_count()} cores | {torch.__version__} | {args.threads} | "
          f"{g.arch} d{g.d_model} {g.encoder_layers}+{g.decoder_layers} V{vocab} | {b} x {args.context_len}+"
          f"{args.reply_len} | {ms:.0f} | {tok:.0f} |")


if __name__ == "__main__":
    main()
