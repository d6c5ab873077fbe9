"""Ctrl-C and SIGTERM through the real command: `seqgan train` stops between two rounds, saves, and `--resume`
gives exactly the uninterrupted run; `seqgan generate` leaves no partial output; bad overrides to `seqgan train`."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from seqgan import cli
from test_bad_input import ROOT, run_cli

# a few cheap rounds; no periodic checkpoint, so the only one a resumed run can use is the one saved on the signal
ADV = ["--no-compare", "adversarial.rounds=8", "adversarial.reward=prefix", "adversarial.batch_size=4",
       "adversarial.eval_every=0", "adversarial.eval_pairs=4", "adversarial.save_every=0", "d_pretrain.steps=2",
       "d_pretrain.batch_size=4", "d_pretrain.eval_batches=1"]


def adv_records(run: Path) -> list[dict]:
    """The adversarial metrics lines without timings."""
    lines = (run / "metrics.jsonl").read_text().splitlines() if (run / "metrics.jsonl").is_file() else []
    records = [json.loads(line) for line in lines]
    return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in records if r.get("stage") == "adversarial"]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return {f"{f.parent.name}/{k}": v for f in sorted(path.rglob("*.safetensors")) for k, v in load_file(f).items()}


@pytest.fixture(scope="module")
def straight(tiny_run, tmp_path_factory) -> Path:
    """The uninterrupted adversarial stage (one thread, like the interrupted process)."""
    run = shutil.copytree(tiny_run, tmp_path_factory.mktemp("straight") / "run")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli.main(["-q", "train", str(run), *ADV]) == 0
    finally:
        torch.set_num_threads(before)
    return run


@pytest.mark.slow
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_signal_during_train_then_resume_is_exact(tiny_run, straight, tmp_path, one_thread, signum, status):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    proc = subprocess.Popen([sys.executable, "-m", "seqgan.cli", "train", str(run), *ADV], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 600
    while not any(r.get("round") == 1 for r in adv_records(run)):  # mid-run: round 1 of 8 is done
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "round 1 never finished"
        time.sleep(0.1)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == status, err
    assert "Traceback" not in err
    saved = re.search(r"interrupted: adversarial checkpoint saved at round (\d+)", err)
    assert saved and 1 <= int(saved.group(1)) < 8, err  # stopped mid-run, not after the last round
    assert not (run / "generator_adv").exists()

    assert cli.main(["-q", "train", str(run), "--resume", *ADV]) == 0
    assert adv_records(run) == adv_records(straight)
    for name in ("generator_adv", "discriminator_adv"):
        got, want = weights(run / name), weights(straight / name)
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want), name


@pytest.mark.parametrize("override, message", [
    ("adversarial.rounds=banana", "command line: adversarial.rounds: expected an integer, got 'banana'"),
    ("adversarial.rewrd=prefix", "command line: unknown config key adversarial.rewrd (known keys of adversarial: "),
    ("adversarial.reward=bleu", "command line: adversarial.reward: expected one of "),
    ("discriminator.head=both", "command line: discriminator.head: "),
    ("adversarial.rounds", "override 'adversarial.rounds': expected key=value"),
])
def test_bad_overrides_to_train(capsys, tiny_run, tmp_path, override, message):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    line = run_cli(capsys, "train", str(run), override)
    assert line.startswith(f"seqgan: error: {message}"), line
    assert "tiny.yaml" not in line and "config.yaml" not in line  # the mistake was typed, not in a file
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in tiny_run.iterdir())  # nothing written


def test_ctrl_c_during_generate_leaves_the_output_untouched(tmp_path, tiny_run, monkeypatch, capsys):
    import seqgan.generate as gen

    real, calls = gen.reply_to_contexts, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second batch: one batch of replies already written to the temporary file
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(gen, "reply_to_contexts", interrupted)
    src, out = tmp_path / "contexts.txt", tmp_path / "replies.jsonl"
    src.write_text("".join(f"context number {i}\n" for i in range(5)))
    out.write_text("the previous replies\n")
    status = cli.main(["-q", "generate", str(tiny_run), "-i", str(src), "-o", str(out), "--batch-size", "2"])
    assert status == 130 and len(calls) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert out.read_text() == "the previous replies\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contexts.txt", "replies.jsonl"]  # no temporary file
