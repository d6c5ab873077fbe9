"""Mistakes a user can make reach them as ONE clear line and a non-zero exit through the real CLI: no traceback,
no half-written run directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqgan import cli

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "recipes" / "tiny.yaml"


def run_cli(capsys, *args: str) -> str:
    """Run ``seqgan ARGS`` in process; assert a one-line user error (status 2) and return that line."""
    status = cli.main(["-q", *args])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith("seqgan: error: "), err
    return lines[0]


def pretrain_error(capsys, tmp_path: Path, *overrides: str) -> str:
    out = tmp_path / "run"
    line = run_cli(capsys, "pretrain", "--config", str(TINY), f"output_dir={out}", *overrides)
    assert not (out / "generator").exists() and not (out / "checkpoints").exists(), "half-written run directory"
    return line


FAST = ["mle.eval_every=0", "eval.num_pairs=8"]  # the tiny recipe without its mid-run evaluation

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bad") / "run"
    assert cli.main(["-q", "pretrain", "--config", str(TINY), f"output_dir={out}", *FAST]) == 0
    return out


# --------------------------------------------------------------------------- data
def test_missing_data_file(capsys, tmp_path):
    line = pretrain_error(capsys, tmp_path, f"data.source={tmp_path / 'nope.jsonl'}")
    assert "nope.jsonl: data file not found" in line


def test_empty_data_file(capsys, tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    line = pretrain_error(capsys, tmp_path, f"data.source={tmp_path / 'empty.jsonl'}")
    assert "empty.jsonl: data file is empty" in line


def test_missing_column(capsys, tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"context": f"hello {i}", "answer": "hi"}) + "\n" for i in range(20)))
    line = pretrain_error(capsys, tmp_path, f"data.source={path}")
    assert "missing column 'reply'" in line and "answer" in line


def test_non_utf8_data(capsys, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("bonjour\nça va ?\n\noui\nmerci\n".encode("latin-1"))
    line = pretrain_error(capsys, tmp_path, f"data.source={path}")
    assert "latin1.txt: not valid UTF-8 (line 2" in line


def test_conversations_of_one_turn(capsys, tmp_path):
    path = tmp_path / "monologue.jsonl"
    path.write_text("".join(json.dumps({"turns": [f"only turn {i}"]}) + "\n" for i in range(20)))
    line = pretrain_error(capsys, tmp_path, f"data.source={path}")
    assert "every conversation needs at least two turns" in line


# --------------------------------------------------------------------------- config
def test_unknown_config_key(capsys, tmp_path):
    line = pretrain_error(capsys, tmp_path, "mle.learning_rate_typo=1")
    assert "unknown config key mle.learning_rate_typo" in line


def test_wrong_value_type(capsys, tmp_path):
    line = pretrain_error(capsys, tmp_path, "mle.lr=abc")
    assert "mle.lr: expected a number, got 'abc'" in line


def test_missing_config_file(capsys, tmp_path):
    line = run_cli(capsys, "pretrain", "--config", str(tmp_path / "nope.yaml"), f"output_dir={tmp_path / 'r'}")
    assert "nope.yaml: config file not found" in line
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------- runs and checkpoints
def test_run_dir_without_model(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in (["chat", str(empty)], ["eval", str(empty)],
                    ["generate", str(empty), "--input", str(ROOT / "pyproject.toml")]):
        line = run_cli(capsys, *command)
        assert str(empty) in line, line


def _truncate(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)


def test_truncated_generator_weights(capsys, tmp_path, run_dir):
    broken = shutil.copytree(run_dir, tmp_path / "broken")
    weights = sorted(broken.rglob("model.safetensors"))
    assert weights, "the run has no safetensors weights"
    for path in weights:
        _truncate(path)
    for command in (["chat", str(broken)], ["eval", str(broken)]):
        line = run_cli(capsys, *command)
        assert "broken" in line and ("corrupt" in line or "cannot load" in line or "truncated" in line), line


def test_resume_with_truncated_state(capsys, tmp_path, run_dir):
    broken = shutil.copytree(run_dir, tmp_path / "broken")
    states = sorted((broken / "checkpoints").rglob("*.pt")) + sorted((broken / "checkpoints").rglob("*.safetensors"))
    assert states, "the run has no checkpoint to resume from"
    for path in states:
        _truncate(path)
    line = run_cli(capsys, "pretrain", "--config", str(TINY), f"output_dir={broken}", "--resume")
    assert "checkpoints" in line, line


def test_bad_generate_input_names_file_and_line(capsys, tmp_path, run_dir):
    path = tmp_path / "contexts.jsonl"
    path.write_text('{"context": "hi"}\n{"context": "ok"\n')
    out = tmp_path / "replies.jsonl"
    line = run_cli(capsys, "generate", str(run_dir), "--input", str(path), "--output", str(out))
    assert "contexts.jsonl:2: not valid JSON" in line
    assert not out.exists() and not list(tmp_path.glob(".replies.jsonl*")), "partial output left behind"


def test_real_entry_point_prints_no_traceback(tmp_path):
    """The console entry point itself (a fresh interpreter), not only main() in process."""
    proc = subprocess.run([sys.executable, "-m", "seqgan.cli", "chat", str(tmp_path), "--top-p", "2"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    assert proc.stderr == "seqgan: error: top_p: expected a number in (0, 1], got 2.0\n"
    assert proc.stdout == ""
