"""MLE training throughput, side by side in one process: seqgan's MLE loop (:func:`seqgan.mle.trainer.train_mle`,
as ``seqgan pretrain`` runs it) vs transformers' ``Seq2SeqTrainer`` on the quickstart's from-scratch BART
(``recipes/chat_cpu.yaml``), and vs ``Trainer`` on a pretrained causal LM (SmolLM2-135M-Instruct; a tiny random
Llama with ``--quick``), in reply tokens per second.

    python benchmarks/mle_throughput.py                      # both pairs, fp32
    python benchmarks/mle_throughput.py --only seq2seq       # the BART pair only
    python benchmarks/mle_throughput.py --precision bf16     # both sides under bf16 autocast
    python benchmarks/mle_throughput.py --quick              # a few steps, a tiny Llama: checks the harness

The same work on both sides: the chit-chat pairs seqgan prepares and tokenises (the recipe's data settings, the
first ``steps x batch`` training pairs), the same batches in the same order (the trainer gets seqgan's epoch order
and reads it sequentially), the same initial weights (the same seed; the same pretrained checkpoint), AdamW with the
recipe's learning rate, betas, weight decay (none on biases and norms on both sides), warm-up and schedule, gradient
clipping, the fused AdamW kernel on both sides (transformers' default ``adamw_torch_fused``), one micro-batch per
step, the same precision, the same layout (a causal LM reads each prompt followed directly by its reply, the row
right-padded to the longest prompt + reply, as the trainer's collator pads it): the rows, tokens and labels are the
same.

Each side's steps are timed from the end of one optimizer step to the end of the next (data loading and
collation included; the first step, which allocates the optimizer state, is left out); evaluation and saving at the
end of seqgan's run are not timed. Rounds alternate the two sides; the table gives medians over rounds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()

import torch  # noqa: E402

from bench_common import add_model_args, causal_lm_dir, command, machine, median  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=("seq2seq", "causal"), help="one pair only")
    p.add_argument("--config", default=str(ROOT / "recipes" / "chat_cpu.yaml"), help="seqgan's recipe (data, BART)")
    add_model_args(p, "causal pair: ")
    p.add_argument("--steps", type=int, help="optimizer steps per round (default 40 seq2seq, 8 causal; quick 6)")
    p.add_argument("--causal-batch", type=int, default=8, help="pairs per step for the causal LM")
    p.add_argument("--rounds", type=int, default=3, help="rounds; each runs both sides once")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def recipe(args: argparse.Namespace, family: str, steps: int):
    """seqgan's config for the pair: the recipe, with the causal LM as ``init_from`` for ``causal``."""
    from seqgan.chatbot import ChatbotConfig
    from seqgan.config import load_config

    overrides = [f"mle.max_steps={steps}", "mle.eval_every=0", "mle.save_every=0", "mle.log_every=0",
                 "mle.progress=false", "eval.num_pairs=8", "eval.num_samples=0"]
    if family == "causal":
        model_dir = causal_lm_dir(args.model, args.quick, args.cache)
        overrides += [f"generator.init_from={model_dir}", f"mle.batch_size={args.causal_batch}", "mle.lr=5e-5",
                      "mle.warmup_steps=2", "data.max_context_turns=1", "data.max_context_tokens=64",
                      "data.max_reply_tokens=24"]
    cfg = load_config(ChatbotConfig, args.config, overrides)
    cfg.data.max_train_pairs = steps * cfg.mle.batch_size
    cfg.mle.mixed_precision = "bf16" if args.precision == "bf16" else "no"
    return cfg


class Pair:
    """seqgan's loop and the transformers trainer on the same data, batches, weights and optimizer."""

    def __init__(self, args: argparse.Namespace, family: str, workdir: Path) -> None:
        from seqgan.data import BatchStream, prepare_data

        self.args, self.family, self.workdir = args, family, workdir
        self.steps = args.steps or (6 if args.quick else 40 if family == "seq2seq" else 8)
        self.cfg = recipe(args, family, self.steps)
        self.splits = prepare_data(self.cfg.data)
        self.rounds_run, self.first_loss = 0, {}
        self.seqgan_round()  # also writes the run's tokenizer, which the trainer side reads
        from seqgan.data import encode_pairs, load_tokenizer

        self.tokenizer = load_tokenizer(self.last_run / "tokenizer")
        train = encode_pairs(self.splits.train, self.tokenizer, self.cfg.data)
        order = [i for batch in BatchStream(len(train), self.cfg.mle.batch_size, self.cfg.seed).epoch_batches(0)
                 for i in batch][:self.steps * self.cfg.mle.batch_size]
        self.train = train.select(order)  # seqgan's first epoch, in its order
        self.tokens = [sum(len(r) for r in self.train["reply_ids"][i * self.cfg.mle.batch_size:
                                                                   (i + 1) * self.cfg.mle.batch_size])
                       for i in range(self.steps)]

    # ------------------------------------------------------------------ seqgan
    def seqgan_round(self) -> list[float]:
        from seqgan.mle.trainer import train_mle

        self.rounds_run += 1
        self.cfg.output_dir = str(self.workdir / f"seqgan-{self.rounds_run}")
        self.last_run = Path(self.cfg.output_dir)
        stamps = []

        def stamp(step: int, record: dict) -> None:
            stamps.append(time.perf_counter())
            if step == 1:  # mle.log_every 0: the running sum is the first step's loss
                self.first_loss["seqgan"] = record["loss_sum"] / record["loss_count"]

        train_mle(self.cfg, callback=stamp, splits=self.splits)
        torch.set_num_threads(self.args.threads)
        return [b - a for a, b in zip(stamps, stamps[1:])]  # steps 2..N

    # ------------------------------------------------------------------ transformers
    def trainer_round(self) -> list[float]:
        from accelerate.utils import set_seed
        from torch.utils.data import SequentialSampler
        from transformers import (DataCollatorForSeq2Seq, PrinterCallback, Seq2SeqTrainer, Seq2SeqTrainingArguments,
                                  Trainer, TrainerCallback, TrainingArguments)

        from seqgan.models.generators import build_policy, pretrained_source

        cfg, mcfg = self.cfg, self.cfg.mle
        set_seed(cfg.seed)  # the same initial weights as seqgan's run (train_mle seeds before building G)
        model = build_policy(cfg.generator, self.tokenizer, cfg.data.max_reply_tokens,
                             source=pretrained_source(cfg.generator, self.last_run)).model
        seq2seq = self.family == "seq2seq"
        if seq2seq:
            data = self.train.map(lambda r: {"input_ids": r["context_ids"], "labels": r["reply_ids"]})
        else:
            data = self.train.map(lambda r: {"input_ids": r["context_ids"] + r["reply_ids"],
                                             "labels": [-100] * len(r["context_ids"]) + r["reply_ids"]})
        data = data.map(lambda r: {"attention_mask": [1] * len(r["input_ids"])})
        data = data.select_columns(["input_ids", "attention_mask", "labels"])
        stamps: list[float] = []

        class Stamp(TrainerCallback):
            def on_step_end(self, *a, **k):
                stamps.append(time.perf_counter())

        first_loss = self.first_loss

        class InOrder(Seq2SeqTrainer if seq2seq else Trainer):
            def _get_train_sampler(self, *a, **k):
                return SequentialSampler(self.train_dataset)

            def training_step(self, *a, **k):
                loss = super().training_step(*a, **k)
                first_loss.setdefault("trainer", float(loss))
                return loss

        args_cls = Seq2SeqTrainingArguments if seq2seq else TrainingArguments
        targs = args_cls(
            output_dir=str(self.workdir / "trainer"), per_device_train_batch_size=mcfg.batch_size,
            gradient_accumulation_steps=mcfg.grad_accum_steps, max_steps=self.steps, learning_rate=mcfg.lr,
            weight_decay=mcfg.weight_decay, adam_beta1=mcfg.betas[0], adam_beta2=mcfg.betas[1],
            lr_scheduler_type=mcfg.schedule, warmup_steps=min(mcfg.warmup_steps, self.steps),
            max_grad_norm=mcfg.max_grad_norm, optim="adamw_torch_fused", bf16=self.args.precision == "bf16",
            use_cpu=True, report_to="none", logging_steps=10**6, save_strategy="no", disable_tqdm=True,
            dataloader_num_workers=0, seed=cfg.seed, remove_unused_columns=False)
        collator = DataCollatorForSeq2Seq(self.tokenizer, model=model if seq2seq else None, padding=True,
                                          label_pad_token_id=-100)
        trainer = InOrder(model=model, args=targs, train_dataset=data, data_collator=collator,
                          callbacks=[Stamp()])
        trainer.remove_callback(PrinterCallback)
        first_loss.pop("trainer", None)
        stamps.append(time.perf_counter())
        trainer.train()
        torch.set_num_threads(self.args.threads)
        return [b - a for a, b in zip(stamps[1:], stamps[2:])]  # steps 2..N

    def label(self) -> tuple[str, str]:
        g = self.cfg.generator
        if self.family == "seq2seq":
            return (f"BART from scratch (d_model {g.d_model}, {g.encoder_layers}+{g.decoder_layers} layers, "
                    f"vocabulary {len(self.tokenizer)})", "Seq2SeqTrainer")
        return f"{Path(g.init_from).name} (pretrained causal LM)", "Trainer"


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    families = [args.only] if args.only else ["seq2seq", "causal"]
    print(f"command: {command()}\nmachine: {machine()}; precision {args.precision}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in families:
            pair = Pair(args, family, Path(tmp) / family)
            ours, theirs = [], []
            for r in range(args.rounds):
                ours.append(pair.seqgan_round())
                theirs.append(pair.trainer_round())
                print(f"{family} round {r + 1}: seqgan {sum(ours[-1]):.2f} s, trainer {sum(theirs[-1]):.2f} s for "
                      f"steps 2-{pair.steps}; first-step loss seqgan {pair.first_loss['seqgan']:.5f}, trainer "
                      f"{pair.first_loss['trainer']:.5f} (the same batch and weights)", flush=True)
            tokens = sum(pair.tokens[1:])  # the timed steps' reply tokens (the same batches on both sides)
            rate = [median([tokens / sum(x) for x in runs]) for runs in (ours, theirs)]
            ratios = median([sum(t) / sum(o) for o, t in zip(ours, theirs)])
            model, peer = pair.label()
            rows.append((model, pair.cfg.mle.batch_size, pair.steps - 1, tokens, rate[0], peer, rate[1], ratios))
    print("\n| model | batch | timed steps (reply tokens) | seqgan MLE loop, reply tokens / s | peer | peer, reply "
          "tokens / s | seqgan / peer |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for model, batch, steps, tokens, ours, peer, theirs, ratio in rows:
        print(f"| {model} | {batch} | {steps} ({tokens:,}) | {ours:,.0f} | `{peer}` | {theirs:,.0f} | "
              f"{ratio:.2f}x |")
    print("(seqgan / peer: median over rounds of the ratio of the two sides' times in that round)")


if __name__ == "__main__":
    main()
