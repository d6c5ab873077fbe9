"""The run directory: everything one chatbot run produces, in one place.

Layout::

    RUN_DIR/config.yaml          resolved config (load_config(ChatbotConfig, RUN_DIR/config.yaml) gives it back)
    RUN_DIR/tokenizer/           the run's tokenizer with its chat template: BPE trained on the training split, or the
                                 pretrained model's own (generator.init_from) (save_pretrained)
    RUN_DIR/base_model/          a GGUF init_from de-quantised once (plain safetensors; seqgan.models.generators)
    RUN_DIR/generator/           the final MLE generator, a self-contained transformers directory (weights, tokenizer,
                                 chat template, decoding defaults; HFPolicy.save_pretrained), atomic
    RUN_DIR/checkpoints/last/    model + optimizer + scheduler + counters/data position + RNG (atomic)
    RUN_DIR/checkpoints/step-NNNNNN/  the newest mle.save_total_limit saves kept (seqgan.runs.retention)
    RUN_DIR/generator_best/      the generator of the best evaluation by mle/adversarial.best_metric (+ best.json)
    RUN_DIR/metrics.jsonl        one JSON object per log/eval event, append-only (:class:`MetricsLog`)
    RUN_DIR/curves.png           training/validation curves
    RUN_DIR/samples.txt          sample replies of the latest evaluation
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from seqgan.runs.checkpoint import atomic_write_text

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

    @property
    def log(self) -> MetricsLog:
        return MetricsLog(self.metrics)

    def append_metrics(self, record: dict) -> None:
        """Append one JSON line to metrics.jsonl."""
        self.log.append(record)

    def read_metrics(self, stage: str | None = None) -> list[dict]:
        """The metrics.jsonl records (optionally of one ``stage``); unreadable lines are skipped."""
        return self.log.read(stage)

    def truncate_metrics_after(self, stage: str, step: int) -> None:
        """Drop ``stage`` records past ``step`` (written after the checkpoint a resumed run restarts from)."""
        self.log.keep(lambda rec: not (rec.get("stage") == stage and rec.get("step", 0) > step))


class MetricsLog:
    """A ``metrics.jsonl`` file: one JSON object per line, shared by every trainer (text and image).

    :meth:`append` writes each line with a single ``write`` on a file opened for appending, so a line is never
    interleaved or half-replaced; a line cut short by a crash is skipped when reading. :meth:`keep` and
    :meth:`reset` rewrite the file atomically.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record, default=float) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def read(self, stage: str | None = None) -> list[dict]:
        """Every readable record (optionally only those whose ``stage`` is ``stage``)."""
        return [rec for _, rec in self._lines() if stage is None or rec.get("stage") == stage]

    def keep(self, wanted: Callable[[dict], bool]) -> None:
        """Rewrite the file with only the records ``wanted`` accepts (atomically; nothing when there is no file)."""
        if self.path.is_file():
            atomic_write_text(self.path, "".join(line + "\n" for line, rec in self._lines() if wanted(rec)))

    def reset(self) -> None:
        """An empty log (atomically)."""
        atomic_write_text(self.path, "")

    def _lines(self) -> Iterator[tuple[str, dict]]:
        if not self.path.is_file():
            return
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                yield line, rec
