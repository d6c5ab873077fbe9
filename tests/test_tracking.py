"""Live tracking: metrics.jsonl plus accelerate's trackers, read back from TensorBoard's event files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqgan.errors import ConfigError
from seqgan.tracking import TRACKERS, Tracker, TrackingConfig, flat_hparams
from tb_events import events, scalars, tags, texts

pytest.importorskip("tensorboard", reason="the tracking tests read TensorBoard files: pip install 'seqgan[dev]'")


def test_tracker_writes_jsonl_and_tensorboard_scalars_text_and_hparams(tmp_path):
    from seqgan.chatbot import ChatbotConfig

    cfg = ChatbotConfig()
    with Tracker(TrackingConfig(report_to=["tensorboard"]), tmp_path, "mle", "demo", cfg) as tracker:
        tracker.log({"stage": "mle", "step": 5, "train_loss": 3.0, "note": "text is not a scalar", "flag": True})
        tracker.log({"stage": "mle", "step": 10, "train_loss": 2.0, "valid_nll": float("nan")})
        tracker.text("samples", [{"context": ["hi", "how are you"], "reply": "good | you?", "human": "fine"}], 10)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["note"] == "text is not a scalar" and len(lines) == 2  # the jsonl keeps every record whole
    reader = events(tmp_path, "mle")
    assert scalars(reader, "mle/train_loss") == [(5, 3.0), (10, 2.0)]
    assert "mle/valid_nll" not in tags(reader) and "mle/flag" not in tags(reader)
    assert texts(reader, "mle/samples") == ["| context | reply | human |\n|---|---|---|\n"
                                            "| hi / how are you | good \\| you? | fine |"]
    hparams = list((tmp_path / "tracking" / "seqgan" / "mle").glob("*/hparams.yml"))
    assert len(hparams) == 1 and "mle.lr: 0.001" in hparams[0].read_text()


def test_without_trackers_only_metrics_jsonl_is_written(tmp_path):
    tracker = Tracker(TrackingConfig(), tmp_path, "adversarial")
    tracker.log({"stage": "adversarial", "step": 1, "reward_mean": 0.5})
    tracker.text("samples", [{"reply": "x"}], 1)
    assert not (tmp_path / "tracking").exists() and (tmp_path / "metrics.jsonl").is_file()
    Tracker(TrackingConfig(report_to=["tensorboard"]), tmp_path / "other", "mle", main=False).log({"step": 1})
    assert not (tmp_path / "other").exists()  # the other processes of a multi-process run log nothing


def test_config_errors_name_the_field_and_what_to_install(monkeypatch):
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS

    assert set(TRACKERS) <= set(LOGGER_TYPE_TO_CLASS)
    with pytest.raises(ConfigError, match=r"tracking.report_to: expected items from"):
        TrackingConfig(report_to=["tensorbord"]).validate()
    with pytest.raises(ConfigError, match=r"tracking.init_kwargs.wandb: wandb is not in tracking.report_to"):
        TrackingConfig(report_to=["tensorboard"], init_kwargs={"wandb": {"mode": "offline"}}).validate()
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError) as err:
        TrackingConfig(report_to=["wandb"]).check_installed()
    assert str(err.value) == "tracking.report_to: wandb is not installed; pip install 'seqgan[wandb]'"
    with pytest.raises(ConfigError, match="pip install mlflow"):
        TrackingConfig(report_to=["mlflow"]).check_installed()


def test_hyperparameters_are_the_flattened_config():
    from seqgan.chatbot import ChatbotConfig

    hp = flat_hparams(ChatbotConfig())
    assert hp["mle.lr"] == 1e-3 and hp["mle.betas"] == "[0.9, 0.98]" and hp["mle.greater_is_better"] == "None"
    assert all(isinstance(v, (bool, int, float, str)) for v in hp.values())


def test_the_mle_run_is_tracked_live(tiny_run):
    """The session's tiny run (conftest) trains with tracking.report_to=[tensorboard]."""
    from seqgan.runs.rundir import RunDir

    tiny_run = RunDir(tiny_run)
    reader = events(tiny_run.path, "mle")
    logged = [r for r in tiny_run.read_metrics("mle") if "train_loss" in r]
    assert scalars(reader, "mle/train_loss") == [(r["step"], pytest.approx(r["train_loss"])) for r in logged]
    final = [r for r in tiny_run.read_metrics("mle") if "valid_nll" in r][-1]
    assert scalars(reader, "mle/valid_nll") == [(final["step"], pytest.approx(final["valid_nll"]))]
    assert "| context | reply | human |" in texts(reader, "mle/samples")[-1]


def test_the_oracle_benchmark_is_tracked_by_stage(tmp_path, one_thread):
    from seqgan.config import load_config
    from seqgan.oracle.benchmark import run_oracle_benchmark
    from seqgan.oracle.config import OracleConfig

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "oracle_tiny.yaml"
    cfg = load_config(OracleConfig, recipe, [f"run_dir={tmp_path}", "rows=[mle_continued]",
                                             "tracking.report_to=[tensorboard]"])
    run_oracle_benchmark(cfg)
    mle = events(tmp_path, "oracle-mle")
    epochs = [step for step, _ in scalars(mle, "oracle/mle/loss")]
    assert epochs == sorted(epochs) and epochs[0] == 1
    row = events(tmp_path, "oracle-mle_continued")
    assert [s for s, _ in scalars(row, "oracle/mle_continued/nll_oracle")] == [cfg.adv.rounds]
    assert len(scalars(events(tmp_path, "oracle-frontier"), "oracle/frontier/nll_oracle")) == len(
        cfg.frontier.temperatures)
