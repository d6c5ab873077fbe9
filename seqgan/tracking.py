"""Live experiment tracking: every metric a trainer logs goes to the run's ``metrics.jsonl`` and to the trackers
of ``tracking.report_to`` (accelerate's tracker classes: TensorBoard, Weights & Biases, trackio, MLflow ...).

One :class:`Tracker` per stage (``mle``, ``d_pretrain``, ``adversarial``, ``oracle``): its metrics are named
``<stage>/<metric>`` at the stage's own step (optimizer step, D step, round), its hyperparameters are the run's
resolved config (flattened, ``mle.lr``), and :meth:`Tracker.text` logs sample replies as text (TensorBoard text,
a W&B / trackio table). TensorBoard writes one run per stage, ``RUN_DIR/tracking/<project>/<stage>/``; a resumed
stage replaces what the interrupted run logged after its checkpoint, a stage started afresh all it logged before. W&B and trackio get one run per stage too, named
``<run_name>-<stage>`` in the group ``<run_name>`` (their steps must rise within a run).

``metrics.jsonl`` is always written (the plots, ``--resume`` and the comparison read it); ``report_to: []`` (the
default) adds nothing. Only the main process of a multi-process run tracks.

Example (YAML)::

    tracking:
      report_to: [tensorboard, wandb]
      init_kwargs: {wandb: {mode: offline}}
"""

from __future__ import annotations

import importlib.util
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqgan.config import check_fields, field, to_dict
from seqgan.errors import ConfigError
from seqgan.runs.rundir import MetricsLog

logger = logging.getLogger(__name__)

TRACKERS = ("tensorboard", "wandb", "trackio", "mlflow", "comet_ml", "aim", "clearml", "dvclive", "swanlab")
"""accelerate's trackers (``accelerate.tracking.LOGGER_TYPE_TO_CLASS``)."""

_MODULES = {"tensorboard": ("tensorboard", "tensorboardX"), "comet_ml": ("comet_ml",)}
EXTRAS = {"tensorboard": "seqgan[tensorboard]", "wandb": "seqgan[wandb]", "trackio": "seqgan[trackio]"}
"""The seqgan extra that installs a tracker (the others: its own package)."""


@dataclass
class TrackingConfig:
    """Where metrics go besides ``metrics.jsonl`` (section ``tracking``)."""

    report_to: list[str] = field([], choices=TRACKERS, help="trackers to log to, live, besides metrics.jsonl: "
                                                             "tensorboard | wandb | trackio | mlflow | comet_ml | "
                                                             "aim | clearml | dvclive | swanlab (each an extra, "
                                                             "e.g. seqgan[tensorboard]); [] = metrics.jsonl only")
    project: str = field("seqgan", help="project name at the trackers (TensorBoard: a folder under logging_dir)")
    logging_dir: str = field("", help="where file-based trackers write; '' = RUN_DIR/tracking")
    init_kwargs: dict = field({}, help="keyword arguments of each tracker's init, by tracker, e.g. "
                                       "{wandb: {mode: offline, entity: me}}")
    log_samples: bool = field(True, help="log sample replies as text at every evaluation")

    def validate(self) -> None:
        """Reject unknown trackers and init_kwargs for trackers not in report_to."""
        check_fields(self, "tracking")
        for name, kwargs in self.init_kwargs.items():
            if name not in self.report_to:
                raise ConfigError(f"tracking.init_kwargs.{name}: {name} is not in tracking.report_to "
                                  f"{self.report_to}")
            if not isinstance(kwargs, dict):
                raise ConfigError(f"tracking.init_kwargs.{name}: expected a mapping of keyword arguments, got "
                                  f"{kwargs!r}")

    def check_installed(self) -> None:
        """Raise a one-line :class:`ConfigError` naming what to install for a tracker of ``report_to`` that is not
        installed (checked when training starts, not when a finished run's config is read)."""
        for name in self.report_to:
            if not any(importlib.util.find_spec(m) for m in _MODULES.get(name, (name,))):
                extra = EXTRAS.get(name)
                how = f"pip install '{extra}'" if extra else f"pip install {name.replace('_', '-')}"
                raise ConfigError(f"tracking.report_to: {name} is not installed; {how}")


def flat_hparams(cfg: Any) -> dict[str, bool | int | float | str]:
    """A config dataclass as flat hyperparameters ``{"mle.lr": 0.001, ...}``: nested sections dotted, lists and
    None as text (what TensorBoard's hparams accept)."""
    out: dict[str, bool | int | float | str] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{prefix}{key}.")
        elif isinstance(value, (bool, int, float, str)):
            out[prefix[:-1]] = value
        else:
            out[prefix[:-1]] = str(value)

    walk(to_dict(cfg), "")
    return out


class Tracker:
    """``metrics.jsonl`` plus the trackers of ``cfg.report_to`` for one stage of a run.

    Args:
        cfg: the run's :class:`TrackingConfig`.
        run_dir: the run directory (``metrics.jsonl``; file-based trackers write under ``RUN_DIR/tracking``).
        stage: ``mle``, ``d_pretrain``, ``adversarial`` or ``oracle``: the prefix of every metric name.
        run_name: the run's name (the trackers' run is ``<run_name>-<stage>``).
        hparams: the resolved config (any config dataclass), logged as hyperparameters.
        resume_step: the step a resumed stage continues after; what was logged past it is replaced.
        main: False on the other processes of a multi-process run (they log nothing).
    """

    def __init__(self, cfg: TrackingConfig | None, run_dir: str | Path, stage: str, run_name: str = "",
                 hparams: Any = None, resume_step: int | None = None, main: bool = True) -> None:
        self.stage, self.main = stage, main
        self.jsonl = MetricsLog(Path(run_dir) / "metrics.jsonl")
        self.cfg = cfg or TrackingConfig()
        self.trackers: list[Any] = []
        if main and self.cfg.report_to:
            self._start(Path(run_dir), run_name or Path(run_dir).name, hparams, resume_step)

    def _start(self, run_dir: Path, run_name: str, hparams: Any, resume_step: int | None) -> None:
        from accelerate import PartialState
        from accelerate.tracking import LOGGER_TYPE_TO_CLASS

        PartialState()  # accelerate's trackers log through its logger, which needs the state
        self.cfg.check_installed()
        logging_dir = Path(self.cfg.logging_dir) if self.cfg.logging_dir else run_dir / "tracking"
        slug = self.stage.replace("/", "-")
        for name in self.cfg.report_to:
            cls = LOGGER_TYPE_TO_CLASS[name]
            kwargs = {"wandb": {"name": f"{run_name}-{slug}", "group": run_name, "dir": str(logging_dir)},
                      "trackio": {"name": f"{run_name}-{slug}", "group": run_name},
                      # a (re)start marker in every TensorBoard run: a resumed stage's events past its
                      # checkpoint, a fresh start's every earlier event, are dropped by TensorBoard's reader
                      "tensorboard": {"purge_step": resume_step + 1 if resume_step is not None else 0},
                      }.get(name, {})
            kwargs.update(self.cfg.init_kwargs.get(name, {}))
            if name == "wandb":
                Path(kwargs["dir"]).mkdir(parents=True, exist_ok=True)
            # as accelerate's Accelerator.init_trackers builds them (project name first, logging_dir where needed);
            # TensorBoard gets one run (folder) per stage, so a resumed stage purges only its own events
            project = f"{self.cfg.project}/{slug}" if name == "tensorboard" else self.cfg.project
            tracker = (cls(project, str(logging_dir), **kwargs) if cls.requires_logging_directory
                       else cls(project, **kwargs))
            tracker.start()
            if hparams is not None:
                tracker.store_init_configuration(flat_hparams(hparams))
            self.trackers.append(tracker)
        logger.info("tracking %s to %s", self.stage, ", ".join(self.cfg.report_to))

    def log(self, record: dict[str, Any], step: int | None = None) -> None:
        """Append ``record`` to metrics.jsonl (as it is) and send its numbers to the trackers as
        ``<stage>/<key>`` at ``step`` (default: ``record["step"]``)."""
        if not self.main:
            return
        self.jsonl.append(record)
        if not self.trackers:
            return
        step = record.get("step") if step is None else step
        values = {f"{self.stage}/{k}": float(v) for k, v in record.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("step", "stage")
                  and math.isfinite(float(v))}
        for tracker in self.trackers:
            tracker.log(values, step=step)

    def text(self, name: str, rows: list[dict[str, Any]], step: int | None) -> None:
        """Log ``rows`` (e.g. sample replies: context, reply, human) as text ``<stage>/<name>``: a markdown table
        in TensorBoard, a table in W&B and trackio (other trackers: nothing)."""
        if not (self.main and self.trackers and self.cfg.log_samples and rows):
            return
        columns = list(rows[0])
        data = [[_cell(row.get(c)) for c in columns] for row in rows]
        key = f"{self.stage}/{name}"
        for tracker in self.trackers:
            if tracker.name == "tensorboard":
                lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
                lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in data]
                tracker.log({key: "\n".join(lines)}, step=step)
            elif tracker.name == "wandb":
                import wandb

                tracker.log({key: wandb.Table(columns=columns, data=data)}, step=step)
            elif tracker.name == "trackio":
                import trackio

                tracker.log({key: trackio.Table(columns=columns, data=data)}, step=step)

    def finish(self) -> None:
        """Close the trackers (flushes TensorBoard, ends the W&B / trackio run)."""
        for tracker in self.trackers:
            tracker.finish()
        self.trackers = []

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc) -> None:
        self.finish()


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " / ".join(str(v) for v in value)
    return "" if value is None else str(value)
