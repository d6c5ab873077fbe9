"""The ``mle`` and ``eval`` sections of a chatbot run (:class:`seqgan.chatbot.ChatbotConfig` composes them)."""

from __future__ import annotations

from dataclasses import dataclass

from seqgan.config import check_fields, field
from seqgan.errors import ConfigError

SCHEDULES = ("linear", "cosine", "constant_with_warmup")
PRECISIONS = ("no", "fp16", "bf16")
BEST_METRICS = ("", "valid_nll", "valid_ppl", "context_gain", "bleu", "distinct1", "distinct2")
"""Evaluation metrics that can choose the best MLE generator (``bleu``: the BLEU of the eval's decoding)."""


@dataclass
class MLEConfig:
    """Maximum-likelihood pretraining of the generator (section ``mle``)."""

    batch_size: int = field(32, ge=1, help="pairs per micro-batch and process")
    grad_accum_steps: int = field(1, ge=1, help="micro-batches per optimizer step")
    lr: float = field(1e-3, gt=0, help="peak AdamW learning rate")
    weight_decay: float = field(0.01, ge=0, help="AdamW weight decay")
    betas: list[float] = field([0.9, 0.98], ge=0, lt=1, help="AdamW betas")
    warmup_steps: int = field(100, ge=0, help="optimizer steps of linear warm-up")
    schedule: str = field("linear", choices=SCHEDULES, help="decay after warm-up: linear | cosine | "
                                                            "constant_with_warmup")
    max_steps: int = field(0, ge=0, help="optimizer steps in total; 0 = derive from epochs")
    epochs: float = field(1.0, help="passes over the training pairs (used when max_steps is 0)")
    max_grad_norm: float = field(1.0, ge=0, help="gradient clipping norm; 0 = no clipping")
    eval_every: int = field(500, ge=0, help="evaluate every N optimizer steps (and at the end); 0 = only at the end")
    save_every: int = field(500, ge=0, help="checkpoint every N optimizer steps (and at the end); 0 = only at the end")
    save_total_limit: int = field(0, ge=0, help="also keep each checkpoint as checkpoints/step-NNNNNN/ (resume one "
                                                "with --resume PATH), the newest N of them; 0 = only "
                                                "checkpoints/last/")
    best_metric: str = field("", choices=BEST_METRICS, help="save the generator of the best evaluation by this "
                                                             "metric as generator_best/ ('' = off)")
    greater_is_better: bool | None = field(None, help="whether a higher best_metric is better (default: lower for "
                                                      "valid_nll / valid_ppl, higher for the others)")
    log_every: int = field(50, ge=0, help="write a training-loss line to metrics.jsonl every N optimizer steps")
    mixed_precision: str | None = field(None, choices=PRECISIONS, help="no | fp16 | bf16; unset (null) = the "
                                                                       "launcher's (accelerate launch "
                                                                       "--mixed_precision), else no. fp16 needs a "
                                                                       "GPU; bf16 also runs on CPU")
    cpu_threads: int = field(0, ge=0, help="torch threads per process on CPU; 0 = leave torch's default")
    progress: bool = field(True, help="show a progress bar (only on a TTY and when CI is not set)")

    def validate(self) -> None:
        check_fields(self, "mle")
        if self.max_steps == 0 and self.epochs <= 0:
            raise ConfigError("mle.max_steps / mle.epochs: set max_steps > 0 or epochs > 0")
        if len(self.betas) != 2:
            raise ConfigError(f"mle.betas: expected two values in [0, 1), got {self.betas}")


@dataclass
class EvalConfig:
    """Periodic and final evaluation of the generator (section ``eval``)."""

    num_pairs: int = field(500, ge=1, help="first N validation pairs for NLL/perplexity and BLEU (metric names "
                                           "carry N)")
    decoding: str = field("greedy", choices=("greedy", "beam", "sample"),
                          help="decoding of the BLEU/distinct replies: greedy | beam | sample")
    num_beams: int = field(4, ge=1, help="beam width when decoding is beam")
    temperature: float = field(1.0, gt=0, help="temperature when decoding is sample")
    batch_size: int = field(64, ge=1, help="pairs per evaluation batch")
    num_samples: int = field(5, ge=0, help="sample replies shown/logged per evaluation")
    seed: int = field(0, help="seed of sampled decoding during evaluation")

    def validate(self) -> None:
        check_fields(self, "eval")
