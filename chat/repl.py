"""``seqgan chat RUN_DIR``: the terminal loop around :class:`~seqgan.chat.session.ChatSession`.

Two modes, chosen by whether standard input is a terminal:

- **interactive** (a TTY): a prompt with line editing and history (stdlib ``readline``), a banner, numbered
  candidates and the discriminator's score per reply when the run has a discriminator.
- **plain** (piped input): one user turn per input line and exactly one output line per non-command line, nothing
  else on standard output — the reply (several candidates joined by ``|||``), or an empty line for an empty input
  line. Command lines (``/set ...``) print nothing on standard output; their messages and any errors go to standard
  error. Input bytes that are not UTF-8 are replaced, never fatal.

Ctrl-D (end of input), ``/quit`` and Ctrl-C end the session with status 0.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from seqgan.chat.session import ChatSession, Output, Responder, Scorer
from seqgan.generate import DecodingOptions

logger = logging.getLogger(__name__)

PROMPT = "you> "
HISTORY_LENGTH = 1000


def model_responder(policy, tokenizer, data_cfg) -> Responder:
    """A :data:`Responder` backed by the run's generator (:func:`seqgan.generate.reply_to_contexts`)."""
    from seqgan.generate import reply_to_contexts

    def respond(turns: list[str], options: DecodingOptions) -> list[str]:
        return reply_to_contexts(policy, tokenizer, data_cfg, [turns], options)[0]

    return respond


def piped_lines(stream: io.BufferedIOBase | TextIO) -> Iterator[str]:
    """Lines of a byte (or text) stream, decoded as UTF-8 with undecodable bytes replaced."""
    for raw in stream:
        yield raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw


def tty_lines(prompt: str = PROMPT) -> Iterator[str]:
    """Lines typed at a terminal, with readline editing/history when available; stops at Ctrl-D."""
    try:
        import readline  # noqa: F401  (importing it gives input() line editing and history)

        readline.set_history_length(HISTORY_LENGTH)
    except ImportError:  # pragma: no cover - platforms without readline
        pass
    while True:
        try:
            yield input(prompt)
        except EOFError:
            print(file=sys.stdout)
            return


def converse(session: ChatSession, lines: Iterable[str], out: TextIO, err: TextIO) -> None:
    """Feed ``lines`` to ``session``; replies go to ``out`` (flushed per line), messages to ``err``."""
    for line in lines:
        result: Output = session.handle(line)
        for message in result.messages:
            err.write(message + "\n")
            err.flush()
        if result.reply is not None:
            out.write(result.reply + "\n")
            out.flush()
        if result.quit:
            return


def run_chat(run_dir: str | Path, options: DecodingOptions, seed: int = 0, scores: bool = True,
             generator: str = "auto", stdin: TextIO | None = None, stdout: TextIO | None = None,
             stderr: TextIO | None = None) -> int:
    """Load the run (``generator``: see :func:`seqgan.generate.load_chatbot`) and chat until end of input,
    ``/quit`` or Ctrl-C; returns the exit status (0)."""
    import torch

    from seqgan.chat.scoring import load_scorer
    from seqgan.generate import load_chatbot

    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    options.validate()
    policy, tokenizer, cfg = load_chatbot(run_dir, generator)
    torch.manual_seed(seed)
    interactive = stdin.isatty() and stdout.isatty()
    scorer: Scorer | None = load_scorer(run_dir, tokenizer, cfg.data) if scores else None
    session = ChatSession(model_responder(policy, tokenizer, cfg.data), cfg.data.max_context_turns, options,
                          scorer=scorer, interactive=interactive)
    if interactive:
        if hasattr(stdin, "reconfigure"):
            stdin.reconfigure(errors="replace")
        stderr.write(f"chatting with {run_dir} ({options.describe()}); /help for commands, Ctrl-D to quit\n")
        lines: Iterable[str] = tty_lines()
        # In a terminal everything is for the person at it: command results go to stdout too.
        err = stdout
    else:
        lines = piped_lines(getattr(stdin, "buffer", stdin))
        err = stderr
    try:
        converse(session, lines, stdout, err)
    except KeyboardInterrupt:
        if interactive:
            stdout.write("\n")
    return 0
