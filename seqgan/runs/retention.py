"""Which checkpoints a run keeps besides the latest one: the newest N (``save_total_limit``) and the best model by
a chosen metric (``best_metric``).

Every trainer writes its latest checkpoint to one place (``checkpoints/last/`` for MLE, ``checkpoints/adversarial/``
for the adversarial stage), which a plain ``--resume`` continues. With ``save_total_limit: N`` each save is also
kept as ``checkpoints/<prefix>-<number>/`` (``step-000500``, ``round-000010``), of which the newest N stay; any of
them continues with ``--resume PATH``. The kept copy shares the latest checkpoint's files through hard links where
the file system has them (checkpoint files are never changed in place, only replaced), so keeping costs little disk
until the latest moves on.

:class:`BestTracker` follows one metric over the evaluations and says when it improved; the trainer then saves
the generator as ``generator_best/`` with ``best.json`` (:func:`save_best`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

from seqgan.runs.checkpoint import atomic_directory, atomic_write_text

logger = logging.getLogger(__name__)

BEST_DIR = "generator_best"
BEST_FILE = "best.json"
LOWER_IS_BETTER = ("nll", "loss", "ppl", "perplexity")
"""A metric whose name contains one of these is better when lower (unless ``greater_is_better`` says otherwise)."""


def snapshot_name(prefix: str, number: int) -> str:
    """``step-000500``: the directory name of a kept checkpoint."""
    return f"{prefix}-{number:06d}"


def kept_checkpoints(directory: Path, prefix: str) -> list[Path]:
    """The kept checkpoints ``<prefix>-<number>`` in ``directory``, oldest (lowest number) first."""
    pattern = re.compile(rf"{re.escape(prefix)}-(\d+)")
    found = [(int(m.group(1)), p) for p in Path(directory).glob(f"{prefix}-*")
             if p.is_dir() and (m := pattern.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # no hard links on this file system (or across devices): a copy
        shutil.copy2(src, dst)


def keep_checkpoint(latest: Path, prefix: str, number: int, limit: int, label: str = "") -> Path | None:
    """Keep the checkpoint directory ``latest`` as ``<prefix>-<number>`` beside it (atomically; hard links, else
    copies), then delete the oldest kept ones beyond ``limit``. ``limit`` 0 keeps nothing; returns the kept path."""
    if limit <= 0:
        return None
    kept = latest.parent / snapshot_name(prefix, number)
    with atomic_directory(kept, label) as staging:
        for item in latest.iterdir():
            if item.is_file() and item.name != "COMPLETE":
                _link_or_copy(item, staging / item.name)
    for old in kept_checkpoints(latest.parent, prefix)[:-limit]:
        shutil.rmtree(old, ignore_errors=True)
        logger.info("removed %s (save_total_limit %d)", old, limit)
    return kept


def newer_checkpoints(start: Path, prefix: str, number: int) -> list[Path]:
    """Kept checkpoints beside ``start`` past ``number``: a run resumed from an older one replaces them as it
    reaches their step (the caller warns)."""
    pattern = re.compile(rf"{re.escape(prefix)}-(\d+)")
    return [p for p in kept_checkpoints(start.parent, prefix) if int(pattern.fullmatch(p.name).group(1)) > number]


def greater_is_better(metric: str, setting: bool | None = None) -> bool:
    """Whether a higher ``metric`` is better: ``setting`` when given, else False for NLL / loss / perplexity names."""
    if setting is not None:
        return setting
    return not any(word in metric.lower() for word in LOWER_IS_BETTER)


class BestTracker:
    """The best value of ``metric`` seen so far and where (a step or round); :meth:`update` says whether a new
    record beats it. Its state goes into the trainer's checkpoint, so a resumed run keeps the same best."""

    def __init__(self, metric: str, greater: bool | None = None) -> None:
        self.metric = metric
        self.greater = greater_is_better(metric, greater)
        self.value: float | None = None
        self.at: int | None = None

    def update(self, value: float | None, at: int) -> bool:
        """Record ``value`` (None or NaN: not measured this time) at step/round ``at``; True when it is the best
        so far."""
        if value is None or not math.isfinite(float(value)):
            return False
        value = float(value)
        if self.value is not None and not (value > self.value if self.greater else value < self.value):
            return False
        self.value, self.at = value, at
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "at": self.at}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("metric") == self.metric:  # a different metric now: start over
            self.value, self.at = state.get("value"), state.get("at")


def save_best(policy, run_dir: Path, tracker: BestTracker, stage: str, unit: str) -> Path:
    """Save ``policy`` as ``run_dir/generator_best/`` (``save_pretrained``) and describe it in ``best.json`` (stage,
    metric, value, step or round)."""
    path = Path(run_dir) / BEST_DIR
    policy.save_pretrained(path)
    atomic_write_text(path / BEST_FILE, json.dumps({"stage": stage, "metric": tracker.metric, "value": tracker.value,
                                                    unit: tracker.at, "greater_is_better": tracker.greater}) + "\n")
    logger.info("best %s so far (%s %.4g at %s %d): saved to %s", stage, tracker.metric, tracker.value, unit,
                tracker.at, path)
    return path


def read_best(run_dir: Path) -> dict | None:
    """``generator_best/best.json`` of a run, or None."""
    path = Path(run_dir) / BEST_DIR / BEST_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
