"""A trained run, loaded and ready to reply: :class:`Chatbot`, what the terminal chat, the web chat and Python code
talk to.

Example::

    from seqgan import Chatbot

    bot = Chatbot.load("runs/chat_cpu")                    # the adversarial generator when the run has one
    bot.reply("hi there! what do you do for fun?")           # one reply, the run's decoding defaults
    bot.reply(["hi", "hello, how are you?"], temperature=0.7, n=3)   # a multi-turn context, 3 candidates
    bot.score("hi there!", ["i like hiking", "lol"])         # D's probability that each reply is human
    mle = bot.with_generator("mle")                          # the MLE generator, same tokenizer and D
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqgan.chat.session import ChatSession, Responder, Scorer
from seqgan.generate import DecodingOptions

Context = str | list[str]
"""One message, or the turns of a conversation, oldest first."""


def _turns(context: Context) -> list[str]:
    return [context] if isinstance(context, str) else list(context)


@dataclass
class Chatbot:
    """A run's generator with its tokenizer, config, decoding defaults (``generation_config.json``) and, when the
    run has one and ``scores`` was asked for, its discriminator as a :data:`~seqgan.chat.session.Scorer`.

    ``generator`` is the one that was loaded (see :func:`seqgan.generate.load_chatbot`)."""

    policy: Any
    tokenizer: Any
    cfg: Any
    run_dir: Path
    generator: str = "auto"
    options: DecodingOptions = dataclasses.field(default_factory=DecodingOptions)
    scorer: Scorer | None = None

    @classmethod
    def load(cls, run_dir: str | Path, generator: str = "auto", scores: bool = True,
             seed: int | None = None) -> Chatbot:
        """Load ``run_dir``'s ``generator`` (``auto`` | ``mle`` | ``adv`` | ``best``), its decoding defaults and
        (``scores``) its discriminator; ``seed`` seeds torch's sampler once. Problems raise one-line
        :class:`~seqgan.errors.SeqGANError` s."""
        import torch

        from seqgan.chat.scoring import load_scorer
        from seqgan.generate import load_chatbot, load_decoding

        run_dir = Path(run_dir)
        policy, tokenizer, cfg = load_chatbot(run_dir, generator)
        if seed is not None:
            torch.manual_seed(seed)
        scorer = load_scorer(run_dir, tokenizer, cfg.data) if scores else None
        return cls(policy, tokenizer, cfg, run_dir, generator, load_decoding(run_dir), scorer)

    def with_generator(self, generator: str) -> Chatbot:
        """The same run, tokenizer, decoding defaults and D with another of its generators (only the generator
        is loaded)."""
        from seqgan.generate import load_chatbot

        policy, _, _ = load_chatbot(self.run_dir, generator)
        return dataclasses.replace(self, policy=policy, generator=generator)

    @property
    def context_turns(self) -> int:
        """How many of the last turns the generator reads (the run's ``data.max_context_turns``)."""
        return self.cfg.data.max_context_turns

    def decoding(self, options: DecodingOptions | None = None, **changes: Any) -> DecodingOptions:
        """``options`` (default: the run's) with ``changes`` (e.g. ``temperature=0.7, n=3``) set over them,
        validated."""
        options = options or self.options
        return options.updated({k: str(v) for k, v in changes.items()}) if changes else options

    def replies(self, contexts: list[Context], options: DecodingOptions | None = None,
                **changes: Any) -> list[list[str]]:
        """``n`` candidate replies to each context, in one batch: a list (one per context) of lists (n)."""
        from seqgan.generate import reply_to_contexts

        return reply_to_contexts(self.policy, self.tokenizer, self.cfg.data, [_turns(c) for c in contexts],
                                 self.decoding(options, **changes))

    def reply(self, context: Context, options: DecodingOptions | None = None, **changes: Any) -> str | list[str]:
        """The reply to one context (a list of ``n`` candidates when ``n > 1``)."""
        out = self.replies([context], options, **changes)[0]
        return out if len(out) > 1 else out[0]

    def score(self, context: Context, replies: list[str]) -> list[float] | None:
        """D's probability that each reply is a human's reply to ``context``; None when the run has no D (or
        scores were not loaded)."""
        return None if self.scorer is None else self.scorer(_turns(context), replies)

    def responder(self) -> Responder:
        """This generator as a :data:`~seqgan.chat.session.Responder` (a session's reply function)."""
        from seqgan.generate import reply_to_contexts

        def respond(turns: list[str], options: DecodingOptions) -> list[str]:
            return reply_to_contexts(self.policy, self.tokenizer, self.cfg.data, [turns], options)[0]

        return respond

    def session(self, options: DecodingOptions | None = None, interactive: bool = False,
                show_scores: bool | None = None) -> ChatSession:
        """A multi-turn :class:`~seqgan.chat.session.ChatSession` with this bot (its ``/set``, ``/reset`` ...
        commands included)."""
        return ChatSession(self.responder(), self.context_turns, options or self.options, scorer=self.scorer,
                           interactive=interactive, show_scores=show_scores)
