"""Output paths a command cannot write are one line (exit 2) before any work, through the real CLI; nothing a user
typed is overwritten; files keep the umask; a full disk while checkpointing leaves the last checkpoint usable."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from seqgan import cli
from test_bad_input import FAST, ROOT, TINY, run_cli


@pytest.fixture
def run_dir(tiny_run) -> Path:
    return tiny_run


@pytest.fixture
def contexts(tmp_path) -> Path:
    path = tmp_path / "contexts.jsonl"
    path.write_text("".join(json.dumps({"context": c}) + "\n" for c in ("hello there", "how are you?", "bye")))
    return path


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if a command gets as far as loading the model (the check must come first)."""
    import seqgan.generate

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the output path was checked")

    monkeypatch.setattr(seqgan.generate, "load_chatbot", refuse)


def read_only_mount_run(command: list[str], directory: Path) -> subprocess.CompletedProcess:
    """Run ``python -m seqgan.cli COMMAND`` with ``directory`` a read-only tmpfs in a private mount namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount a read-only file system for this process only")
    script = 'mount -t tmpfs -o ro tmpfs "$1" && shift && exec "$@"'
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(directory), sys.executable, "-m",
                           "seqgan.cli", "-q", *command], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    if "mount:" in proc.stderr or "unshare:" in proc.stderr:
        pytest.skip(f"this machine does not allow a private read-only mount ({proc.stderr.strip()[:80]})")
    return proc


# --------------------------------------------------------------------------- seqgan generate -o
def test_generate_refuses_to_overwrite_its_input(capsys, contexts, no_model):
    before = contexts.read_bytes()
    line = run_cli(capsys, "generate", "RUN", "-i", str(contexts), "-o", str(contexts))
    assert line == f"seqgan: error: --output {contexts}: is the input file; write the replies to another path"
    link = contexts.with_name("alias.jsonl")
    link.symlink_to(contexts)
    assert "is the input file" in run_cli(capsys, "generate", "RUN", "-i", str(contexts), "-o", str(link))
    assert contexts.read_bytes() == before


@pytest.mark.parametrize("target, message", [
    ("DIR", "is a directory; give the path of a file to write"),
    ("/dev/null", "not a regular file; give the path of a file to write"),
    ("/proc/seqgan-replies.jsonl", "cannot write in /proc (it takes no new files); choose another path"),
    ("BLOCKER/replies.jsonl", "is not a directory; choose another path"),
])
def test_generate_unwritable_output_fails_before_any_reply(capsys, tmp_path, contexts, no_model, target, message):
    (tmp_path / "DIR").mkdir()
    (tmp_path / "BLOCKER").write_text("a file in the way\n")
    target = target if target.startswith("/") else str(tmp_path / target)
    line = run_cli(capsys, "generate", "RUN", "-i", str(contexts), "-o", target)
    assert line.startswith(f"seqgan: error: --output {target}: ") and line.endswith(message), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BLOCKER", "DIR", "contexts.jsonl"]  # no temp file
    assert list((tmp_path / "DIR").iterdir()) == []


def test_generate_read_only_output_file_is_not_replaced(capsys, tmp_path, contexts, no_model):
    out = tmp_path / "replies.jsonl"
    out.write_text("keep me\n")
    out.chmod(0o444)
    line = run_cli(capsys, "generate", "RUN", "-i", str(contexts), "-o", str(out))
    assert line == f"seqgan: error: --output {out}: the file is read-only; make it writable or choose another path"
    assert out.read_text() == "keep me\n"


def test_generate_into_a_read_only_file_system(tmp_path, contexts, run_dir):
    mount = tmp_path / "ro"
    mount.mkdir()
    proc = read_only_mount_run(["generate", str(run_dir), "-i", str(contexts), "-o", str(mount / "r.jsonl")], mount)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (f"seqgan: error: --output {mount / 'r.jsonl'}: cannot write in {mount} (read-only file "
                           "system); choose another path\n")


def test_generate_creates_missing_directories_and_says_so(capsys, tmp_path, contexts, run_dir):
    out = tmp_path / "new" / "deeper" / "replies.jsonl"
    assert cli.main(["generate", str(run_dir), "-i", str(contexts), "-o", str(out), "--mode", "greedy"]) == 0
    assert f"created directory {out.parent}" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 3


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_output_files_follow_the_umask(capsys, tmp_path, contexts, run_dir, umask, mode):
    out, metrics = tmp_path / "replies.jsonl", tmp_path / "metrics.json"
    old = os.umask(umask)
    try:
        assert cli.main(["-q", "generate", str(run_dir), "-i", str(contexts), "-o", str(out), "--mode", "greedy"]) == 0
        assert cli.main(["-q", "eval", str(run_dir), "--num", "4", "--output", str(metrics)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == mode
    assert stat.S_IMODE(metrics.stat().st_mode) == mode
    out.chmod(0o640)  # replacing a file keeps that file's permissions
    assert cli.main(["-q", "generate", str(run_dir), "-i", str(contexts), "-o", str(out), "--mode", "greedy"]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


# --------------------------------------------------------------------------- seqgan eval --output
@pytest.mark.parametrize("target, message", [
    ("DIR", "is a directory; give the path of a file to write"),
    ("/proc/seqgan-eval.json", "cannot write in /proc (it takes no new files); choose another path"),
])
def test_eval_unwritable_output_fails_before_evaluating(capsys, tmp_path, run_dir, monkeypatch, target, message):
    import seqgan.mle.evaluate

    def refuse(*args, **kwargs):
        raise AssertionError("evaluated before the output path was checked")

    monkeypatch.setattr(seqgan.mle.evaluate, "evaluate_generator", refuse)
    (tmp_path / "DIR").mkdir()
    target = target if target.startswith("/") else str(tmp_path / target)
    line = run_cli(capsys, "eval", str(run_dir), "--output", target)
    assert line == f"seqgan: error: --output {target}: {message}"


# --------------------------------------------------------------------------- seqgan pretrain output_dir=
@pytest.mark.parametrize("target, message", [
    ("FILE", "output_dir: {t} is not a directory; choose another output_dir"),
    ("/dev/null", "output_dir: {t} is not a directory; choose another output_dir"),
    ("/proc/seqgan-run", "output_dir {t}: cannot write in /proc (it takes no new files); choose another path"),
    ("FILE/run", "output_dir {t}: {tmp}/FILE is not a directory; choose another path"),
])
def test_pretrain_unwritable_output_dir(capsys, tmp_path, target, message):
    (tmp_path / "FILE").write_text("not a directory\n")
    t = target if target.startswith("/") else str(tmp_path / target)
    line = run_cli(capsys, "pretrain", "--config", str(TINY), f"output_dir={t}")
    assert line == "seqgan: error: " + message.format(t=t, tmp=tmp_path)
    assert (tmp_path / "FILE").read_text() == "not a directory\n"


def test_pretrain_into_a_read_only_file_system(tmp_path):
    mount = tmp_path / "ro"
    mount.mkdir()
    proc = read_only_mount_run(["pretrain", "--config", str(TINY), f"output_dir={mount / 'run'}"], mount)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (f"seqgan: error: output_dir {mount / 'run'}: cannot write in {mount} (read-only file "
                           "system); choose another path\n")


# --------------------------------------------------------------------------- a full disk
def test_disk_full_while_checkpointing_keeps_the_last_checkpoint(capsys, tmp_path, monkeypatch):
    """The second checkpoint (step 30) hits ENOSPC: one line naming the intact one (step 15); --resume works."""
    import seqgan.runs.checkpoint as ckpt

    out = tmp_path / "run"
    real_write, calls = ckpt._write_bytes, []

    def full_disk(path, data):
        calls.append(path)
        if len(calls) > 2:  # model + state of the first checkpoint went through
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write(path, data)

    monkeypatch.setattr(ckpt, "_write_bytes", full_disk)
    args = ["pretrain", "--config", str(TINY), f"output_dir={out}", *FAST, "mle.save_every=15", "mle.max_steps=30"]
    line = run_cli(capsys, *args)
    assert line == (f"seqgan: error: no space left on {out / 'checkpoints'}; the last checkpoint at step 15 is "
                    "intact, free space and run with --resume")
    assert ckpt.checkpoint_label(out / "checkpoints" / "last") == "step 15"
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last"]  # no staging directory left
    assert ckpt.load_state(out / "checkpoints" / "last" / ckpt.STATE_FILE)["counters"]["step"] == 15

    monkeypatch.setattr(ckpt, "_write_bytes", real_write)  # space freed
    assert cli.main(["-q", *args, "--resume"]) == 0
    assert (out / "generator").is_dir() and ckpt.checkpoint_label(out / "checkpoints" / "last") == "step 30"


def test_disk_full_elsewhere_is_one_line_too(capsys, tmp_path, monkeypatch):
    """A full disk outside a checkpoint (here the metrics log) is still one line naming the file, not a traceback."""
    from seqgan.runs.rundir import MetricsLog

    def full_disk(self, record):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

    monkeypatch.setattr(MetricsLog, "append", full_disk)
    out = tmp_path / "run"
    line = run_cli(capsys, "pretrain", "--config", str(TINY), f"output_dir={out}", *FAST)
    assert line == (f"seqgan: error: {out / 'metrics.jsonl'}: no space left on the device; free space, then run "
                    "again (with --resume for a training run)")
