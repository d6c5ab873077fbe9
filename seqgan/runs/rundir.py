"""The run directory: everything one chatbot run produces, in one place.

Layout::

    RUN_DIR/config.yaml          resolved config (load_config(ChatbotConfig, RUN_DIR/config.yaml) gives it back)
    RUN_DIR/tokenizer/           the BPE tokenizer trained on the training split (save_pretrained)
    RUN_DIR/generator/           the final MLE generator (Seq2SeqPolicy.save_pretrained, safetensors), atomic
    RUN_DIR/checkpoints/last/    model + optimizer + scheduler + counters/data position + RNG (atomic)
    RUN_DIR/metrics.jsonl        one JSON object per log/eval event, append-only
    RUN_DIR/curves.png           training/validation curves
    RUN_DIR/samples.txt          sample replies of the latest evaluation
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from seqgan.errors import CheckpointError


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory (nothing is created until written)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    config = property(lambda self: self.path / "config.yaml")
    tokenizer = property(lambda self: self.path / "tokenizer")
    generator = property(lambda self: self.path / "generator")
    checkpoints = property(lambda self: self.path / "checkpoints")
    last_checkpoint = property(lambda self: self.path / "checkpoints" / "last")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    curves = property(lambda self: self.path / "curves.png")
    samples = property(lambda self: self.path / "samples.txt")

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def append_metrics(self, record: dict) -> None:
        """Append one JSON line to metrics.jsonl and flush it."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.metrics, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=float) + "\n")
            handle.flush()

    def read_metrics(self, stage: str | None = None) -> list[dict]:
        """The metrics.jsonl records (optionally of one ``stage``); unreadable lines are skipped."""
        if not self.metrics.is_file():
            return []
        out = []
        for line in self.metrics.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if stage is None or rec.get("stage") == stage:
                out.append(rec)
        return out

    def truncate_metrics_after(self, stage: str, step: int) -> None:
        """Drop ``stage`` records past ``step`` (written after the checkpoint a resumed run restarts from)."""
        if not self.metrics.is_file():
            return
        from seqgan.runs.checkpoint import atomic_write_text

        kept = []
        for line in self.metrics.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("stage") == stage and rec.get("step", 0) > step:
                continue
            kept.append(line)
        atomic_write_text(self.metrics, "".join(k + "\n" for k in kept))


def load_run(run_dir: str | Path):
    """``(policy, tokenizer, cfg)`` of a finished run (its final ``generator/``) for chat, generate and eval.

    A directory without a config, tokenizer or generator raises :class:`CheckpointError` with one line.
    """
    from seqgan.config import load_config
    from seqgan.data import load_tokenizer
    from seqgan.models.seq2seq import Seq2SeqPolicy
    from seqgan.train.config import ChatbotConfig

    run = RunDir(Path(run_dir))
    if not run.path.is_dir():
        raise CheckpointError(f"{run.path}: run directory not found")
    if not run.config.is_file():
        raise CheckpointError(f"{run.path}: not a run directory (no config.yaml)")
    if not run.generator.is_dir():
        raise CheckpointError(f"{run.path}: no trained model (no generator/; train with `seqgan pretrain` "
                              "or resume the run)")
    cfg = load_config(ChatbotConfig, run.config)
    tokenizer = load_tokenizer(run.tokenizer)
    policy = Seq2SeqPolicy.from_pretrained(run.generator)
    if policy.model.config.vocab_size != len(tokenizer):
        raise CheckpointError(f"{run.generator}: vocabulary of {policy.model.config.vocab_size} does not match "
                              f"the run's tokenizer ({len(tokenizer)})")
    policy.eval()
    return policy, tokenizer, cfg
