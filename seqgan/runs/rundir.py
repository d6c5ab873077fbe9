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
