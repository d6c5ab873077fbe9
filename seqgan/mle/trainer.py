"""MLE pretraining of the chatbot (any generator family, :mod:`seqgan.models.generators`) on ``accelerate``:
``train_mle(cfg, resume=False) -> RunDir``.

The same code runs on CPU, one GPU or several processes (DDP via ``accelerate launch`` / ``torchrun``), in fp32 or
fp16/bf16 mixed precision (``mle.mixed_precision``, else the launcher's ``--mixed_precision``). AdamW with warm-up
and linear/cosine decay, gradient clipping and accumulation, periodic evaluation
(:func:`seqgan.mle.evaluate.evaluate_generator`) logged to ``metrics.jsonl`` and the trackers of
``tracking.report_to`` (:mod:`seqgan.tracking`), checkpoints every ``mle.save_every`` steps and at the end.

Data order: a :class:`seqgan.data.batches.BatchStream` (epoch ``e`` visits the training pairs in a seeded
``randperm(N)``; each process takes every ``num_processes``-th index). A checkpoint records (epoch, batches
consumed), so ``resume=True`` skips exactly what was already trained on and, with the restored
model/optimizer/scheduler/RNG states, reproduces the uninterrupted run. Ctrl-C or SIGTERM stops after the current optimizer step, writes its checkpoint, then raises
KeyboardInterrupt (:mod:`seqgan.runs.interrupts`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.contrib.logging import logging_redirect_tqdm

from seqgan.errors import CheckpointError, ConfigError
from seqgan.runs.checkpoint import (atomic_directory, atomic_write_text, capture_rng, check_complete,
                                   load_checkpoint, restore_rng, save_checkpoint)
from seqgan.runs.devices import fused_adam
from seqgan.runs.progress import progress_bar
from seqgan.runs.interrupts import between_steps
from seqgan.runs.paths import check_output_dir
from seqgan.runs.retention import BestTracker, keep_checkpoint, newer_checkpoints, save_best
from seqgan.runs.rundir import RunDir

logger = logging.getLogger(__name__)

STAGE = "mle"


def make_accelerator(cfg):
    """An :class:`accelerate.Accelerator` for ``cfg.mle`` (CPU when no GPU is present; mixed precision
    ``mle.mixed_precision``, else the launcher's: :func:`seqgan.runs.devices.make_accelerator`)."""
    from seqgan.runs.devices import make_accelerator as accelerator_for

    return accelerator_for(cfg.mle.mixed_precision, "mle.mixed_precision")


_SILENT = logging.getLogger(__name__ + ".other_ranks")
_SILENT.disabled = True


def _log() -> logging.Logger:
    """This module's logger on the main process, a disabled one on the others (one line per event, no rank tag)."""
    from accelerate import PartialState

    return logger if PartialState().is_main_process else _SILENT


def tokenizer_texts(train) -> list[str]:
    """Texts the tokenizer learns from: every reply plus the first context turn of each pair."""
    texts = [str(r) for r in train["reply"]]
    texts += [c[0] for c in train["context"] if len(c)]
    return texts


def prepare_run(cfg, run: RunDir, resume: bool, accelerator, splits=None):
    """Write config.yaml and the run's tokenizer (main process, once per run); return (splits, tokenizer).

    The tokenizer is trained on the data for a from-scratch generator, or is the pretrained model's own
    (``generator.init_from``; a GGUF model is first de-quantised into ``base_model/``). ``splits``:
    :func:`seqgan.data.prepare_data` output for ``cfg.data`` (prepared here when not given)."""
    from seqgan.config import save_config
    from seqgan.data import load_tokenizer, prepare_data, train_tokenizer
    from seqgan.generate import save_decoding
    from seqgan.models.generators import load_pretrained_tokenizer, prepare_base_model

    splits = splits if splits is not None else prepare_data(cfg.data)
    if accelerator.is_main_process:
        run.path.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run.config)
        save_decoding(run.path)  # the chat / generate defaults, a GenerationConfig (kept if already there)
        if cfg.generator.init_from:
            source = prepare_base_model(cfg.generator, run.path)
        if not (resume and (run.tokenizer / "tokenizer.json").is_file()):
            if cfg.generator.init_from:
                tok = load_pretrained_tokenizer(source)
            else:
                tok = train_tokenizer(tokenizer_texts(splits.train), cfg.data.vocab_size, cfg.data.min_frequency)
            with atomic_directory(run.tokenizer) as staging:
                tok.save_pretrained(str(staging))
    accelerator.wait_for_everyone()
    return splits, load_tokenizer(run.tokenizer)


def check_positions(policy, cfg) -> None:
    """ConfigError when the data's longest context and reply do not fit the generator's positions."""
    limit = policy.max_positions
    need = policy.positions_needed(cfg.data.max_context_tokens, cfg.data.max_reply_tokens)
    if limit is not None and need > limit:
        raise ConfigError(f"data.max_context_tokens ({cfg.data.max_context_tokens}) and data.max_reply_tokens "
                          f"({cfg.data.max_reply_tokens}) need {need} positions; the generator has {limit}")


def _no_decay(name: str) -> bool:
    return name.endswith("bias") or "norm" in name.lower()


def build_optimizer(model: torch.nn.Module, mcfg) -> torch.optim.AdamW:
    """AdamW without weight decay on biases and normalisation weights (torch's fused kernel where it applies:
    :func:`~seqgan.runs.devices.fused_adam`)."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    seen: set[int] = set()
    decay, no_decay = [], []
    for name, p in params:
        if id(p) in seen:
            continue
        seen.add(id(p))
        (no_decay if _no_decay(name) else decay).append(p)
    groups = [{"params": decay, "weight_decay": mcfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=mcfg.lr, betas=tuple(mcfg.betas), **fused_adam(groups))


def total_steps(mcfg, batches_per_epoch: int) -> int:
    """Optimizer steps of the run: ``max_steps`` or ``ceil(epochs * batches / grad_accum_steps)``."""
    if mcfg.max_steps:
        return mcfg.max_steps
    return max(1, math.ceil(mcfg.epochs * batches_per_epoch / mcfg.grad_accum_steps))


class _Trainer:
    """State and steps of one MLE run (kept small: the loop lives in :func:`train_mle`)."""

    def __init__(self, cfg, run: RunDir, accelerator, policy, train, valid, tokenizer):
        from transformers import get_scheduler

        from seqgan.data import BatchStream, DialogueCollator

        self.cfg, self.run, self.acc = cfg, run, accelerator
        self.tracker = None  # a seqgan.tracking.Tracker, set once the start step is known
        self.policy, self.tokenizer, self.valid = policy, tokenizer, valid
        self.ctx_rows = train["context_ids"]
        self.reply_rows = train["reply_ids"]
        self.collate = DialogueCollator(tokenizer.pad_token_id)
        self.rank, self.world = accelerator.process_index, accelerator.num_processes
        if len(self.ctx_rows) < self.world:
            raise ConfigError(f"data: {len(self.ctx_rows)} training pairs are too few for {self.world} process(es)")
        self.order = BatchStream(len(self.ctx_rows), cfg.mle.batch_size, cfg.seed, rank=self.rank, world=self.world)
        self.batches_per_epoch = len(self.batch_plan(0))
        mcfg = cfg.mle
        self.total = total_steps(mcfg, self.batches_per_epoch)
        optimizer = build_optimizer(policy.model, mcfg)
        scheduler = get_scheduler(mcfg.schedule, optimizer, num_warmup_steps=min(mcfg.warmup_steps, self.total),
                                  num_training_steps=self.total)
        self.model, self.optimizer, self.scheduler = accelerator.prepare(policy.model, optimizer, scheduler)
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.loss_sum, self.loss_count = 0.0, 0
        self.snapshot = self.counters() | {"rng": capture_rng()}
        self.last_saved = -1
        self.last_eval = -1
        self.best = BestTracker(mcfg.best_metric, mcfg.greater_is_better) if mcfg.best_metric else None

    # ---------------------------------------------------------------- data / loss
    def batch_plan(self, epoch: int) -> list[list[int]]:
        return self.order.epoch_batches(epoch)

    def micro_batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        rows = [{"context_ids": self.ctx_rows[i], "reply_ids": self.reply_rows[i]} for i in indices]
        return {k: v.to(self.acc.device) for k, v in self.collate(rows).items()}

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean token NLL of the human replies, through the (possibly DDP-wrapped) HF model's forward."""
        from seqgan.data import to_context, to_replies

        inputs = self.policy.teacher_forcing_inputs(to_context(batch), to_replies(batch))
        return self.model(**inputs, use_cache=False).loss

    # ---------------------------------------------------------------- state
    def counters(self) -> dict:
        return {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "loss_sum": self.loss_sum, "loss_count": self.loss_count}

    def save(self) -> None:
        """Checkpoint of the last completed optimizer step (``self.snapshot``) into checkpoints/last/ (and kept as
        checkpoints/step-NNNNNN/ when ``mle.save_total_limit`` asks)."""
        snap = self.snapshot
        if self.acc.is_main_process:
            label = f"step {snap['step']}"
            state = {"counters": {k: v for k, v in snap.items() if k != "rng"},
                     "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                     "rng": snap["rng"], "world": self.world, "total": self.total}
            if self.best is not None:
                state["best"] = self.best.state_dict()
            if self.acc.scaler is not None:
                state["scaler"] = self.acc.scaler.state_dict()  # fp16: the loss scale a resumed run continues with
            save_checkpoint(self.run.last_checkpoint, {"model": self.acc.unwrap_model(self.model)}, state,
                            label=label)
            keep_checkpoint(self.run.last_checkpoint, "step", snap["step"], self.cfg.mle.save_total_limit, label)
        self.acc.wait_for_everyone()
        self.last_saved = snap["step"]

    def load(self, path: Path | None = None) -> None:
        """Continue from the checkpoint ``path`` (default: checkpoints/last/)."""
        path = path or self.run.last_checkpoint
        state = load_checkpoint(path, {"model": self.acc.unwrap_model(self.model)})
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            c = state["counters"]
            self.step, self.epoch, self.batch_in_epoch = int(c["step"]), int(c["epoch"]), int(c["batch_in_epoch"])
            self.loss_sum, self.loss_count = float(c["loss_sum"]), int(c["loss_count"])
            restore_rng(state["rng"])
            if self.best is not None and "best" in state:
                self.best.load_state_dict(state["best"])
            if self.acc.scaler is not None and "scaler" in state:
                self.acc.scaler.load_state_dict(state["scaler"])
        except (KeyError, ValueError, RuntimeError, TypeError) as err:
            raise CheckpointError(f"{path}: training state does not fit this config ({err})") from None
        if int(state.get("world", 1)) != self.world:
            logger.warning("resuming a %s-process run on %s processes: the data order changes",
                           state.get("world"), self.world)
        self.snapshot = self.counters() | {"rng": state["rng"]}
        self.last_saved = self.step

    # ---------------------------------------------------------------- events
    def evaluate(self) -> dict | None:
        from seqgan.mle.evaluate import evaluate_generator, format_samples

        result = None
        if self.acc.is_main_process:
            t0 = time.perf_counter()
            m = evaluate_generator(self.policy, self.tokenizer, self.valid, self.cfg.eval, self.acc.device)
            result = m
            rec = {"stage": STAGE, "step": self.step, "epoch": self.epoch, "valid_nll": m["nll"],
                   "valid_ppl": m["ppl"], "context_gain": m["context_gain"], f"bleu_{m['tag']}": m["bleu"],
                   "distinct1": m["distinct1"],
                   "distinct2": m["distinct2"], "mean_len": m["mean_len"],
                   "eval_s": round(time.perf_counter() - t0, 3)}
            self.tracker.log(rec)
            self.tracker.text("samples", m["samples"], self.step)
            if self.best is not None:
                key = f"bleu_{m['tag']}" if self.best.metric == "bleu" else self.best.metric
                if self.best.update(rec.get(key), self.step):
                    save_best(self.policy, self.run.path, self.best, STAGE, "step")
            atomic_write_text(self.run.samples, f"step {self.step}\n\n" + format_samples(m["samples"]))
            _log().info("step %d: valid ppl %.2f, context gain %.3f nats/token, bleu %.2f, distinct-1/2 %.3f/%.3f",
                        self.step, m["ppl"], m["context_gain"], m["bleu"], m["distinct1"], m["distinct2"])
        self.acc.wait_for_everyone()
        self.last_eval = self.step
        return result

    def log_train(self, elapsed: float) -> None:
        stats = torch.tensor([self.loss_sum, float(self.loss_count)], device=self.acc.device)
        stats = self.acc.reduce(stats, reduction="sum")
        if self.acc.is_main_process and stats[1] > 0:
            self.tracker.log({"stage": STAGE, "step": self.step, "epoch": self.epoch,
                              "train_loss": float(stats[0] / stats[1]),
                              "lr": float(self.scheduler.get_last_lr()[0]), "time_s": round(elapsed, 2)})
        self.loss_sum, self.loss_count = 0.0, 0


def train_mle(cfg, resume: bool | str | Path = False, accelerator=None,
              callback: Callable[[int, dict], None] | None = None, splits=None,
              rank_report: str | Path | None = None) -> RunDir:
    """Pretrain the chatbot by maximum likelihood into ``cfg.output_dir``; returns its :class:`RunDir`.

    ``splits``: :func:`seqgan.data.prepare_data` output for ``cfg.data`` (prepared here when not given).
    ``rank_report``: each process appends ``rank world_size weight_checksum`` to that file at the end (a check that
    a multi-process run kept its ranks in sync).

    ``resume=True`` continues from ``checkpoints/last`` exactly; ``resume=PATH`` from that checkpoint (one kept by
    ``mle.save_total_limit``, e.g. ``checkpoints/step-000500``). ``callback(step, record)`` (optional) runs after
    every optimizer step on every process; an exception raised there stops training like Ctrl-C would (a
    KeyboardInterrupt saves the checkpoint first). Raises ConfigError when ``output_dir`` already holds a run and
    ``resume`` is False, CheckpointError when resuming without a usable checkpoint.
    """
    from accelerate.utils import set_seed

    from seqgan.data import encode_pairs
    from seqgan.generate import export_decoding
    from seqgan.models.generators import build_policy, model_family, pretrained_source
    from seqgan.mle.curves import plot_mle_curves

    from seqgan.tracking import Tracker

    cfg.validate()
    cfg.tracking.check_installed()
    if cfg.generator.init_from:
        model_family(cfg.generator.init_from)  # a bad path or an unsupported model fails before the run is written
    if cfg.mle.cpu_threads:
        torch.set_num_threads(cfg.mle.cpu_threads)
    run = RunDir(check_output_dir(cfg.output_dir, "output_dir"))
    start = run.last_checkpoint if resume is True else Path(resume) if resume else None
    if start is not None:
        if not start.exists():
            raise CheckpointError(f"{start}: no checkpoint to resume from")
        check_complete(start)
    elif run.last_checkpoint.exists() or run.generator.exists():
        raise ConfigError(f"output_dir: {run.path} already holds a run; pass --resume to continue it or choose "
                          "another output_dir")
    accelerator = accelerator or make_accelerator(cfg)
    splits, tokenizer = prepare_run(cfg, run, resume, accelerator, splits)
    _log().info("data: %s", splits.summary())

    set_seed(cfg.seed)
    policy = build_policy(cfg.generator, tokenizer, cfg.data.max_reply_tokens,
                          source=pretrained_source(cfg.generator, run.path)).to(accelerator.device)
    check_positions(policy, cfg)
    train = encode_pairs(splits.train, tokenizer, cfg.data)
    n_valid = min(cfg.eval.num_pairs, len(splits.valid))
    if n_valid == 0:
        raise ConfigError("data: the validation split is empty; raise data.valid_fraction or use more data")
    valid = encode_pairs(splits.valid.select(range(n_valid)), tokenizer, cfg.data)
    tr = _Trainer(cfg, run, accelerator, policy, train, valid, tokenizer)
    if start is not None:
        tr.load(start)
        if accelerator.is_main_process:
            run.truncate_metrics_after(STAGE, tr.step)
            later = newer_checkpoints(run.last_checkpoint, "step", tr.step)
            if later:
                _log().warning("resuming from step %d: the kept checkpoints after it (%s) are replaced as training "
                               "reaches them", tr.step, ", ".join(p.name for p in later))
        accelerator.wait_for_everyone()
    tr.tracker = Tracker(cfg.tracking, run.path, STAGE, cfg.run_name, cfg,
                         resume_step=tr.step if start is not None else None, main=accelerator.is_main_process)
    mcfg = cfg.mle
    _log().info("mle: %d optimizer steps (%d micro-batches of %d per epoch and process, %d process(es))",
                tr.total, tr.batches_per_epoch, mcfg.batch_size, tr.world)

    # log lines (evaluations) go through tqdm.write, so they never break the progress bar
    with logging_redirect_tqdm(), between_steps("step", enabled=tr.world == 1) as pending:
        bar = progress_bar(tr.total, "mle", initial=tr.step, unit="step",
                           enabled=cfg.mle.progress and accelerator.is_main_process)
        t0 = time.perf_counter()
        policy.train()
        micro = 0
        try:
            while tr.step < tr.total:
                plan_epoch = tr.epoch
                plan = tr.batch_plan(plan_epoch)
                while tr.epoch == plan_epoch and tr.batch_in_epoch < len(plan) and tr.step < tr.total:
                    batch = tr.micro_batch(plan[tr.batch_in_epoch])
                    micro += 1
                    sync = micro % mcfg.grad_accum_steps == 0
                    ctx = contextlib.nullcontext() if sync or tr.world == 1 else accelerator.no_sync(tr.model)
                    with ctx, accelerator.autocast():
                        loss = tr.loss(batch)
                        accelerator.backward(loss / mcfg.grad_accum_steps)
                    tr.loss_sum += float(loss.detach())
                    tr.loss_count += 1
                    tr.batch_in_epoch += 1
                    if not sync:
                        continue
                    if mcfg.max_grad_norm > 0:
                        accelerator.clip_grad_norm_(tr.model.parameters(), mcfg.max_grad_norm)
                    tr.optimizer.step()
                    tr.scheduler.step()
                    tr.optimizer.zero_grad(set_to_none=True)
                    tr.step += 1
                    if tr.batch_in_epoch >= len(plan):
                        tr.epoch, tr.batch_in_epoch = tr.epoch + 1, 0
                    bar.update(1)
                    bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
                    if mcfg.log_every and tr.step % mcfg.log_every == 0:
                        tr.log_train(time.perf_counter() - t0)
                    tr.snapshot = tr.counters() | {"rng": capture_rng()}
                    if mcfg.eval_every and tr.step % mcfg.eval_every == 0 and tr.step < tr.total:
                        tr.evaluate()
                    if mcfg.save_every and tr.step % mcfg.save_every == 0 and tr.step < tr.total:
                        tr.save()
                    if callback is not None:
                        callback(tr.step, tr.counters())
                    pending.check()  # Ctrl-C / SIGTERM stop here, between two complete steps
                if tr.epoch == plan_epoch and tr.batch_in_epoch >= len(plan):
                    tr.epoch, tr.batch_in_epoch = tr.epoch + 1, 0
        except KeyboardInterrupt as err:
            bar.close()
            if not getattr(err, "clean", True):  # a second Ctrl-C, mid-step: that state must not be saved
                kept = f"the checkpoint of step {tr.last_saved}" if tr.last_saved >= 0 else "the start"
                _log().warning("stopped mid-step: nothing saved; --resume continues from %s", kept)
                raise
            if tr.last_saved != tr.snapshot["step"]:
                tr.save()
            _log().warning("interrupted: checkpoint of step %d saved in %s; continue with --resume",
                           tr.snapshot["step"], run.last_checkpoint)
            raise
        bar.close()

    tr.snapshot = tr.counters() | {"rng": capture_rng()}
    if tr.last_saved != tr.step:
        tr.save()
    if tr.last_eval != tr.step:
        tr.evaluate()
    tr.tracker.finish()  # (every log call flushes: an interrupted run loses nothing)
    if accelerator.is_main_process:
        policy.save_pretrained(run.generator, tokenizer, export_decoding(run.path, policy.max_reply_len))
        plot_mle_curves(run.read_metrics(STAGE), run.curves, title=f"{cfg.run_name}: MLE")
    if rank_report:
        total = sum(float(p.detach().double().sum()) for p in accelerator.unwrap_model(tr.model).parameters())
        with open(rank_report, "a", encoding="utf-8") as handle:
            handle.write(f"{accelerator.process_index} {accelerator.num_processes} {total:.10e}\n")
    accelerator.wait_for_everyone()
    policy.eval()
    return run
