"""The ``mle`` and ``eval`` sections of a chatbot run (:class:`seqgan.chatbot.ChatbotConfig` composes them)."""

from __future__ import annotations

from dataclasses import dataclass

from seqgan.config import field
from seqgan.errors import ConfigError

SCHEDULES = ("linear", "cosine", "constant_with_warmup")
PRECISIONS = ("no", "fp16", "bf16")


@dataclass
class MLEConfig:
    """Maximum-likelihood pretraining of the generator (section ``mle``)."""

    batch_size: int = field(32, help="pairs per micro-batch and process")
    grad_accum_steps: int = field(1, help="micro-batches per optimizer step")
    lr: float = field(1e-3, help="peak AdamW learning rate")
    weight_decay: float = field(0.01, help="AdamW weight decay")
    betas: list[float] = field([0.9, 0.98], help="AdamW betas")
    warmup_steps: int = field(100, help="optimizer steps of linear warm-up")
    schedule: str = field("linear", help="decay after warm-up: linear | cosine | constant_with_warmup")
    max_steps: int = field(0, help="optimizer steps in total; 0 = derive from epochs")
    epochs: float = field(1.0, help="passes over the training pairs (used when max_steps is 0)")
    max_grad_norm: float = field(1.0, help="gradient clipping norm; 0 = no clipping")
    eval_every: int = field(500, help="evaluate every N optimizer steps (and at the end); 0 = only at the end")
    save_every: int = field(500, help="checkpoint every N optimizer steps (and at the end); 0 = only at the end")
    log_every: int = field(50, help="write a training-loss line to metrics.jsonl every N optimizer steps")
    mixed_precision: str = field("no", help="no | fp16 | bf16 (passed to accelerate; fp16/bf16 need a GPU)")
    cpu_threads: int = field(0, help="torch threads per process on CPU; 0 = leave torch's default")
    progress: bool = field(True, help="show a progress bar (only on a TTY and when CI is not set)")

    def validate(self) -> None:
        for name in ("batch_size", "grad_accum_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"mle.{name}: expected a positive integer, got {getattr(self, name)}")
        for name in ("warmup_steps", "max_steps", "eval_every", "save_every", "log_every", "cpu_threads"):
            if getattr(self, name) < 0:
                raise ConfigError(f"mle.{name}: expected 0 or a positive integer, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"mle.lr: expected a positive learning rate, got {self.lr}")
        if self.max_steps == 0 and self.epochs <= 0:
            raise ConfigError("mle.max_steps / mle.epochs: set max_steps > 0 or epochs > 0")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"mle.schedule: expected one of {list(SCHEDULES)}, got {self.schedule!r}")
        if self.mixed_precision not in PRECISIONS:
            raise ConfigError(f"mle.mixed_precision: expected one of {list(PRECISIONS)}, got {self.mixed_precision!r}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"mle.betas: expected two values in [0, 1), got {self.betas}")
        if self.max_grad_norm < 0 or self.weight_decay < 0:
            raise ConfigError("mle.max_grad_norm / mle.weight_decay: expected values >= 0")


@dataclass
class EvalConfig:
    """Periodic and final evaluation of the generator (section ``eval``)."""

    num_pairs: int = field(500, help="first N validation pairs for NLL/perplexity and BLEU (metric names carry N)")
    decoding: str = field("greedy", help="decoding of the BLEU/distinct replies: greedy | beam | sample")
    num_beams: int = field(4, help="beam width when decoding is beam")
    temperature: float = field(1.0, help="temperature when decoding is sample")
    batch_size: int = field(64, help="pairs per evaluation batch")
    num_samples: int = field(5, help="sample replies shown/logged per evaluation")
    seed: int = field(0, help="seed of sampled decoding during evaluation")

    def validate(self) -> None:
        if self.num_pairs < 1 or self.batch_size < 1 or self.num_samples < 0 or self.num_beams < 1:
            raise ConfigError("eval.num_pairs / eval.batch_size / eval.num_beams: expected positive integers, "
                              "eval.num_samples >= 0")
        if self.decoding not in ("greedy", "beam", "sample"):
            raise ConfigError(f"eval.decoding: expected greedy | beam | sample, got {self.decoding!r}")
        if self.temperature <= 0:
            raise ConfigError(f"eval.temperature: expected > 0, got {self.temperature}")
