"""Two CPU processes (torchrun + gloo): both ranks train in sync and end with identical weights."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_process_run_keeps_ranks_in_sync(tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    report = tmp_path / "ranks.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "true"}
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", str(ROOT / "recipes" / "train_chatbot.py"),
           "--config", str(ROOT / "recipes" / "tiny.yaml"), "--rank-report", str(report),
           f"output_dir={tmp_path / 'run'}", "mle.max_steps=6", "mle.eval_every=0", "mle.save_every=0"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = sorted(line.split() for line in report.read_text().splitlines())
    assert [r[:2] for r in rows] == [["0", "2"], ["1", "2"]]  # two ranks, each saw num_processes == 2
    assert rows[0][2] == rows[1][2]  # identical weights after DDP steps
    assert (tmp_path / "run" / "generator" / "model.safetensors").is_file()
