"""The chat logic, independent of any terminal: feed it lines, get back what to print.

A :class:`ChatSession` keeps the conversation, the decoding options and the commands (``/help``, ``/set`` ...).
It knows nothing about stdin/stdout or the model: replies come from a ``responder`` function, so it is tested with
plain lists of strings, and :mod:`seqgan.chat.repl` is a thin loop around it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from seqgan.errors import SeqGANError
from seqgan.generate import DecodingOptions, normalize_turn

Responder = Callable[[list[str], DecodingOptions], list[str]]
"""``responder(context_turns, options) -> candidates``: ``options.n`` replies to the turns (oldest first)."""

Scorer = Callable[[list[str], list[str]], list[float]]
"""``scorer(context_turns, replies) -> scores``: the discriminator's probability that each reply is human."""

CANDIDATE_SEPARATOR = " ||| "
MAX_TURN_CHARS = 4000  # a longer message is refused (with a note), never cut silently

HELP = """\
Type a message to get a reply. Commands:
  /help                 this text
  /show                 the decoding options
  /set KEY=VALUE ...    change options: mode=greedy|sample|beam, temperature, top_k, top_p, beams, n, max_len,
                        no_repeat_ngram, scores=on|off (show D's probability that a reply is human)
  /pick K               continue the conversation with candidate K of the last reply (when n > 1)
  /history              the conversation so far (the last {k} turns are the model's context)
  /reset                forget the conversation
  /save FILE            write the transcript (FILE.json(l): JSON, anything else: text)
  /quit                 leave (Ctrl-D and Ctrl-C too)
Start a message with // to send a line that begins with /."""


@dataclass
class Output:
    """What one input line produced.

    reply: the line for standard output (a reply, candidates joined by ``|||`` in plain mode), or None for
    commands and for a line that produced no reply. messages: notes for the user (command results, errors).
    quit: the session is over.
    """

    reply: str | None = None
    messages: list[str] = field(default_factory=list)
    quit: bool = False


@dataclass
class Turn:
    speaker: str  # "user" or "bot"
    text: str


class ChatSession:
    """A multi-turn conversation with a responder.

    Args:
        responder: produces candidate replies for context turns (see :data:`Responder`).
        context_turns: the model sees the last k turns (the run's ``data.max_context_turns``).
        options: initial decoding options.
        scorer: optional discriminator hook (see :data:`Scorer`); its scores are shown when ``show_scores``.
        interactive: numbered candidates and scores for a person; False gives exactly one plain line per reply.
    """

    def __init__(self, responder: Responder, context_turns: int, options: DecodingOptions | None = None,
                 scorer: Scorer | None = None, interactive: bool = False, show_scores: bool | None = None) -> None:
        if context_turns < 1:
            raise ValueError(f"context_turns must be positive, got {context_turns}")
        self.responder = responder
        self.context_turns = context_turns
        self.options = options or DecodingOptions()
        self.options.validate()
        self.scorer = scorer
        self.interactive = interactive
        self.show_scores = interactive if show_scores is None else show_scores
        self.history: list[Turn] = []
        self.candidates: list[str] = []
        self._commands: dict[str, Callable[[str], Output]] = {
            "help": self._help, "show": self._show, "set": self._set, "pick": self._pick,
            "history": self._history, "reset": self._reset, "save": self._save, "quit": self._quit,
            "exit": self._quit,
        }

    # ------------------------------------------------------------------ conversation
    def context(self) -> list[str]:
        """The turns the model sees: the last ``context_turns`` of the conversation, oldest first."""
        return [t.text for t in self.history[-self.context_turns:]]

    def handle(self, line: str) -> Output:
        """Process one input line (a message or a command)."""
        text = line.rstrip("\r\n")
        stripped = text.strip()
        if stripped.startswith("/") and not stripped.startswith("//"):
            return self._command(stripped[1:])
        if stripped.startswith("//"):
            stripped = stripped[1:]
        message = normalize_turn(stripped)
        if not message:
            # Plain mode answers an empty line with an empty line so output line i still answers input line i.
            return Output(reply=None if self.interactive else "")
        if len(message) > MAX_TURN_CHARS:
            return Output(reply=None if self.interactive else "",
                          messages=[f"not sent: the message has {len(message):,} characters, over the limit of "
                                    f"{MAX_TURN_CHARS:,}; send a shorter one"])
        return self._reply(message)

    def _reply(self, message: str) -> Output:
        self.history.append(Turn("user", message))
        context = self.context()
        try:
            candidates = self.responder(context, self.options)
        except SeqGANError as err:
            self.history.pop()
            return Output(reply=None if self.interactive else "", messages=[f"error: {err}"])
        candidates = [normalize_turn(c) for c in candidates] or [""]
        self.candidates = candidates
        self.history.append(Turn("bot", candidates[0]))
        scores = self._scores(context, candidates)
        return Output(reply=self._format(candidates, scores))

    def _scores(self, context: list[str], candidates: list[str]) -> list[float] | None:
        if self.scorer is None or not self.show_scores:
            return None
        return [float(s) for s in self.scorer(context, candidates)]

    def _format(self, candidates: list[str], scores: list[float] | None) -> str:
        shown = [f"{c}  [D={s:.2f}]" for c, s in zip(candidates, scores)] if scores else list(candidates)
        if not self.interactive:
            return CANDIDATE_SEPARATOR.join(shown)
        if len(shown) == 1:
            return shown[0]
        return "\n".join(f"{i}. {c}" for i, c in enumerate(shown, start=1))

    # ------------------------------------------------------------------ commands
    def _command(self, body: str) -> Output:
        name, _, rest = body.partition(" ")
        handler = self._commands.get(name.lower())
        if handler is None:
            return Output(messages=[f"unknown command /{name} (try /help)"])
        return handler(rest.strip())

    def _help(self, _: str) -> Output:
        return Output(messages=[HELP.format(k=self.context_turns)])

    def _show(self, _: str) -> Output:
        scores = "" if self.scorer is None else f" (discriminator scores {'on' if self.show_scores else 'off'})"
        return Output(messages=[self.options.describe() + scores])

    def _set(self, rest: str) -> Output:
        try:
            items = shlex.split(rest)
        except ValueError:
            items = rest.split()
        if len(items) == 2 and "=" not in rest:  # "/set temperature 0.7"
            items = [f"{items[0]}={items[1]}"]
        if not items or any("=" not in item for item in items):
            return Output(messages=["usage: /set KEY=VALUE ... (e.g. /set mode=sample temperature=0.7)"])
        changes = dict(item.split("=", 1) for item in items)
        scores = changes.pop("scores", None)
        try:
            options = self.options.updated(changes) if changes else self.options
        except SeqGANError as err:
            return Output(messages=[f"not changed: {err}"])
        self.options = options
        if scores is not None:
            self.show_scores = scores.strip().lower() in ("1", "on", "true", "yes")
        return Output(messages=[options.describe()])

    def _pick(self, rest: str) -> Output:
        if not self.candidates or not self.history or self.history[-1].speaker != "bot":
            return Output(messages=["nothing to pick: no reply yet"])
        try:
            k = int(rest)
            if not 1 <= k <= len(self.candidates):
                raise ValueError
        except ValueError:
            return Output(messages=[f"usage: /pick K with K from 1 to {len(self.candidates)}"])
        self.history[-1] = Turn("bot", self.candidates[k - 1])
        return Output(messages=[f"continuing with: {self.candidates[k - 1]}"])

    def _history(self, _: str) -> Output:
        if not self.history:
            return Output(messages=["(no conversation yet)"])
        start = max(0, len(self.history) - self.context_turns)
        lines = [f"{'*' if i >= start else ' '} {t.speaker}: {t.text}" for i, t in enumerate(self.history)]
        return Output(messages=["\n".join(lines) + "\n(* = in the model's context)"])

    def _reset(self, _: str) -> Output:
        self.history.clear()
        self.candidates = []
        return Output(messages=["conversation cleared"])

    def transcript(self, fmt: str = "text") -> str:
        """The conversation as text (``user: ...`` / ``bot: ...`` lines) or JSON lines."""
        if fmt == "json":
            return "".join(json.dumps({"speaker": t.speaker, "text": t.text}, ensure_ascii=False) + "\n"
                           for t in self.history)
        return "".join(f"{t.speaker}: {t.text}\n" for t in self.history)

    def _save(self, rest: str) -> Output:
        if not rest:
            return Output(messages=["usage: /save FILE"])
        from seqgan.runs.checkpoint import atomic_write_text
        from seqgan.runs.paths import check_output_file

        path = Path(rest).expanduser()
        fmt = "json" if path.suffix.lower() in (".json", ".jsonl") else "text"
        try:
            check_output_file(path, "/save")
            created = not path.parent.is_dir()
            atomic_write_text(path, self.transcript(fmt))
        except SeqGANError as err:
            return Output(messages=[f"not saved: {err}"])
        except OSError as err:
            return Output(messages=[f"not saved: cannot write {path}: {err.strerror or err}"])
        note = f" (created the directory {path.parent})" if created else ""
        return Output(messages=[f"saved {len(self.history)} turns to {path}{note}"])

    def _quit(self, _: str) -> Output:
        return Output(quit=True)
