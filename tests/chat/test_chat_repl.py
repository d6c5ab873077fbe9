"""`seqgan chat RUN_DIR` end to end on a tiny trained run: piped stdin through the real entry point, and a real
terminal through tmux."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from seqgan import cli
from seqgan.chat.repl import run_chat
from seqgan.generate import DecodingOptions

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


FAST = ["mle.eval_every=0", "eval.num_pairs=8"]  # the tiny recipe without its mid-run evaluation

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny MLE run (seconds) trained through the real CLI."""
    out = tmp_path_factory.mktemp("chat") / "run"
    recipe = ROOT / "recipes" / "tiny.yaml"
    assert cli.main(["-q", "pretrain", "--config", str(recipe), f"output_dir={out}", *FAST]) == 0
    return out


def chat(run_dir: Path, stdin: bytes, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqgan.cli", "chat", str(run_dir), *args], input=stdin,
                          capture_output=True, timeout=timeout, env=ENV, cwd=ROOT)


def test_piped_chat_one_line_per_turn_and_commands(run_dir, tmp_path):
    transcript = tmp_path / "t.txt"
    lines = [
        b"hi there",
        b"",                              # empty line -> empty reply line, no model call
        b"/set n=3",                      # commands print nothing on stdout
        b"how are you?",                  # -> 3 candidates on one line
        b"/set mode=beam beams=2 n=2",
        b"what do you do " * 260,         # 3,899 characters: under the limit, truncated by the context encoder
        b"/set mode=greedy n=1",
        b"caf\xe9 \xff\xfe ok",            # not UTF-8: replaced, not fatal
        b"/set temperature=abc",          # bad value: a message, the session goes on
        b"/nonsense",
        b"/history",
        f"/save {transcript}".encode(),
        b"/reset",
        b"/history",
        b"bye",
    ]
    proc = chat(run_dir, b"\n".join(lines) + b"\n", "--seed", "1")
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    out = proc.stdout.decode().split("\n")
    assert out[-1] == ""  # ends with a newline
    replies = out[:-1]
    assert len(replies) == 6, replies  # one per non-command line
    assert replies[1] == ""
    assert replies[0].strip() and replies[5].strip()
    assert replies[2].count(" ||| ") == 2
    assert replies[3].count(" ||| ") == 1
    assert " ||| " not in replies[4]
    assert "unknown command /nonsense" in err
    assert "temperature: expected a number, got 'abc'" in err
    assert "conversation cleared" in err and "(no conversation yet)" in err
    saved = transcript.read_text(encoding="utf-8").splitlines()
    assert [line.split(":")[0] for line in saved] == ["user", "bot"] * 4  # the empty line is not a turn
    assert saved[1] == f"bot: {replies[0]}"
    assert saved[2] == "user: how are you?"
    assert saved[3] == f"bot: {replies[2].split(' ||| ')[0]}"  # the first candidate continues the conversation
    assert "\ufffd" in saved[6]  # undecodable bytes became replacement characters


def chat_in_process(run_dir: Path, script: bytes, options: DecodingOptions, seed: int = 0) -> list[str]:
    """The same loop as the command, in this process (no interpreter start-up): returns the stdout lines."""
    stdin, stdout, stderr = io.TextIOWrapper(io.BytesIO(script)), io.StringIO(), io.StringIO()
    assert run_chat(run_dir, options, seed=seed, stdin=stdin, stdout=stdout, stderr=stderr) == 0
    assert "Traceback" not in stderr.getvalue()
    return stdout.getvalue().splitlines()


def test_reset_and_seed_make_replies_reproducible(run_dir):
    greedy = DecodingOptions(mode="greedy")
    script = b"hello\n/reset\nhello\nwhat is your name?\n"
    first = chat_in_process(run_dir, script, greedy)
    assert len(first) == 3 and first == chat_in_process(run_dir, script, greedy)
    assert first[0] == first[1]  # after /reset the same message in an empty context gets the same greedy reply
    hot = DecodingOptions(mode="sample", temperature=2.0, top_p=1.0)
    runs = [chat_in_process(run_dir, b"hello\n" * 4, hot, seed=s) for s in (1, 1, 2)]
    assert runs[0] == runs[1] != runs[2]  # the seed drives sampling


class InterruptedStdin:
    """Piped stdin on which the user presses Ctrl-C after the first line."""

    def isatty(self) -> bool:
        return False

    @property
    def buffer(self):
        yield b"hi\n"
        raise KeyboardInterrupt


def test_ctrl_c_exits_cleanly(run_dir, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", InterruptedStdin())
    assert cli.main(["chat", str(run_dir), "--mode", "greedy"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1 and "Traceback" not in captured.err


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed: no terminal to drive")
def test_interactive_terminal_via_tmux(run_dir, tmp_path):
    session = f"seqgan-chat-{uuid.uuid4().hex[:8]}"
    done = tmp_path / "exit_status"
    command = (f"cd {ROOT} && OMP_NUM_THREADS=1 {sys.executable} -m seqgan.cli chat {run_dir} --mode greedy; "
               f"echo $? > {done}; sleep 30")

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout

    def wait_for(predicate, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p", "-t", session)
            if predicate(screen):
                return screen
            time.sleep(0.3)
        raise AssertionError(f"timed out; screen:\n{screen}")

    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    try:
        wait_for(lambda s: "you>" in s)
        tmux("send-keys", "-t", session, "hello there", "Enter")
        screen = wait_for(lambda s: s.count("you>") >= 2)
        assert "/help for commands" in screen
        tmux("send-keys", "-t", session, "/set n=2", "Enter")
        wait_for(lambda s: "n=2" in s.split("/set n=2", 1)[-1])
        tmux("send-keys", "-t", session, "Up", "Up", "Enter")  # readline history: "hello there" again
        screen = wait_for(lambda s: "1. " in s and "2. " in s)
        assert screen.count("hello there") >= 2
        tmux("send-keys", "-t", session, "C-c")
        deadline = time.monotonic() + 30
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert done.read_text().strip() == "0"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_discriminator_scores_in_the_chat(run_dir, tmp_path):
    """A run with a discriminator: the scorer hook gives D's probability per reply, as D.reward computes it."""
    import torch

    from seqgan.chat.scoring import load_scorer
    from seqgan.chat.session import ChatSession
    from seqgan.data import encode_context, encode_reply
    from seqgan.generate import load_chatbot
    from seqgan.models.discriminator import Discriminator, DiscriminatorConfig
    from seqgan.models.policy import Context

    pytest.importorskip("seqgan.models.discriminator")
    run = shutil.copytree(run_dir, tmp_path / "with_d")
    policy, tokenizer, cfg = load_chatbot(run)
    assert load_scorer(run, tokenizer, cfg.data) is None  # no discriminator yet: no scores
    torch.manual_seed(3)
    disc = Discriminator(DiscriminatorConfig(embed_dim=16, filter_sizes=[1, 2], num_filters=[8, 8]), len(tokenizer),
                         tokenizer.pad_token_id)
    disc.save_pretrained(run / "discriminator")
    scorer = load_scorer(run, tokenizer, cfg.data)
    turns, replies = ["hello there", "hi! how are you?"], ["good thanks", "i like to read books a lot"]
    scores = scorer(turns, replies)
    ctx = torch.tensor([encode_context(turns, tokenizer, cfg.data)] * 2)
    ids = [encode_reply(r, tokenizer, cfg.data) for r in replies]
    width = max(map(len, ids))
    reply = torch.tensor([r + [tokenizer.pad_token_id] * (width - len(r)) for r in ids])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in ids])
    expected = disc.reward(Context(ctx, torch.ones_like(ctx)), reply, mask)
    assert torch.allclose(torch.tensor(scores), expected, atol=1e-6) and scores[0] != scores[1]
    session = ChatSession(lambda t, o: ["good thanks"], context_turns=2, scorer=scorer, interactive=True)
    assert session.handle("hello").reply.startswith("good thanks  [D=0.")
