"""Two CPU processes (torchrun + gloo) in the adversarial stage: the ranks train on different shards, keep identical
G and D weights, and a resumed two-process run ends exactly where a straight one does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqgan.config import load_config
from seqgan.errors import CheckpointError
from seqgan.chatbot import ChatbotConfig

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "recipes" / "train_adversarial.py"
ADV = ["adversarial.batch_size=8", "adversarial.rollout_n=2", "adversarial.eval_every=0", "adversarial.save_every=1",
       "adversarial.eval_pairs=16", "d_pretrain.steps=4"]


def launch(run: Path, report: Path, rounds: int, resume: bool = False) -> None:
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "true"}
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", str(SCRIPT), str(run), "--no-compare",
           "--rank-report", str(report), f"adversarial.rounds={rounds}", *ADV] + (["--resume"] if resume else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def ranks(report: Path) -> list[list[str]]:
    return sorted(line.split() for line in report.read_text().splitlines())


@pytest.fixture(scope="module")
def mle_run(tmp_path_factory):
    from seqgan.mle.trainer import train_mle

    out = tmp_path_factory.mktemp("adv_ddp") / "mle"
    cfg = load_config(ChatbotConfig, ROOT / "recipes" / "tiny.yaml",
                      [f"output_dir={out}", "mle.max_steps=4", "mle.eval_every=0", "mle.save_every=0"])
    return train_mle(cfg).path


@pytest.mark.slow
def test_two_processes_train_in_sync_on_different_shards_and_resume_exactly(mle_run, tmp_path):
    straight = tmp_path / "straight"
    shutil.copytree(mle_run, straight)
    launch(straight, tmp_path / "straight.txt", rounds=3)
    rows = ranks(tmp_path / "straight.txt")
    assert [r[:2] for r in rows] == [["0", "2"], ["1", "2"]]  # two ranks, each saw num_processes == 2
    assert rows[0][2:4] == rows[1][2:4]  # identical G and D weights after the averaged updates
    assert rows[0][4] != rows[1][4]  # ...trained on different shards of the pairs
    assert (straight / "generator_adv" / "model.safetensors").is_file()
    assert (straight / "discriminator").is_dir()  # pretrained once, by the main process

    resumed = tmp_path / "resumed"
    shutil.copytree(mle_run, resumed)
    shutil.copytree(straight / "discriminator", resumed / "discriminator")  # the same pretrained D
    launch(resumed, tmp_path / "first.txt", rounds=2)
    launch(resumed, tmp_path / "resumed.txt", rounds=3, resume=True)
    assert ranks(tmp_path / "resumed.txt") == rows  # bit-identical to the straight run on both ranks

    from seqgan.adversarial.stage import train_adversarial
    from seqgan.adversarial.cli import load_train_config

    cfg = load_train_config(resumed, None, ["adversarial.rounds=4", *ADV])
    with pytest.raises(CheckpointError, match="2 process"):  # one process cannot continue a two-process run
        train_adversarial(cfg, resumed, resume=True)
