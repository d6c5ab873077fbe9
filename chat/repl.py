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

from seqgan.chat.session import ChatSession, Output
from seqgan.generate import DecodingOptions

logger = logging.getLogger(__name__)

PROMPT = "you> "
HISTORY_LENGTH = 1000


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
    """Load the run (:meth:`Chatbot.load <seqgan.chat.bot.Chatbot.load>`; ``generator``: see
    :func:`seqgan.generate.load_chatbot`) and chat until end of input, ``/quit`` or Ctrl-C; returns the exit
    status (0)."""
    from seqgan.chat.bot import Chatbot

    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    options.validate()
    bot = Chatbot.load(run_dir, generator, scores=scores, seed=seed)
    interactive = stdin.isatty() and stdout.isatty()
    session = bot.session(options, interactive=interactive)
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
