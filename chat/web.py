"""``seqgan serve RUN_DIR``: a web chat (Gradio) over the same session logic as the terminal chat.

One message goes to every generator of the run side by side (the MLE generator, the adversarially fine-tuned one,
and ``generator_best/`` when the run has them), each in its own multi-turn conversation; the decoding settings of
``seqgan chat`` (mode, temperature, top-p, top-k, beams, candidates, no-repeat n-gram) are controls, and D's
probability that a reply is human follows each reply when the run has a discriminator. :class:`WebChat` holds the
models and answers one message (:meth:`WebChat.send`) without any web code, so it is tested directly; :func:`build_app`
lays it out in Gradio. Bad input (an empty message, an over-long one, text that is not valid UTF-8, bad settings)
gets a visible notice on the page, never a dead one.

Gradio is the optional extra ``seqgan[serve]``; without it the command stops with one line naming it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqgan.chat.bot import Chatbot
from seqgan.chat.session import MAX_TURN_CHARS, Turn
from seqgan.errors import ConfigError, SeqGANError
from seqgan.generate import MODES, normalize_turn

logger = logging.getLogger(__name__)

EXTRA = "seqgan[serve]"
LABELS = {"mle": "MLE (generator/)", "adv": "adversarial (generator_adv/)", "best": "best (generator_best/)"}
GENERATOR_DIRS = {"adv": "generator_adv", "best": "generator_best"}
HELP = ("Type a message and press Enter (or Send): every generator of the run answers it in its own conversation. "
        "Reset (or /reset) starts the conversations again; the Decoding panel sets how replies are drawn.")

State = dict[str, Any]
"""One browser session's conversations: ``{"turns": {name: [Turn]}, "shown": {name: [message dicts]}}``."""


def require_gradio():
    """The ``gradio`` module, or a one-line :class:`ConfigError` naming the extra to install."""
    try:
        import gradio
    except ImportError:
        raise ConfigError(f"seqgan serve needs Gradio: pip install '{EXTRA}'") from None
    return gradio


def clean_text(message: Any) -> tuple[str, int]:
    """``message`` as text a tokenizer takes: characters that are not valid UTF-8 (lone surrogates, what a browser
    sends for broken input) become U+FFFD; returns the text and how many were replaced."""
    text = "" if message is None else str(message)
    bad = sum(1 for ch in text if 0xD800 <= ord(ch) <= 0xDFFF)
    if bad:
        text = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)
    return text, bad


@dataclass
class WebChat:
    """The run's generators (``bots``: name -> :class:`~seqgan.chat.bot.Chatbot`, sharing tokenizer and D)."""

    run_dir: Path
    bots: dict[str, Chatbot]

    @classmethod
    def load(cls, run_dir: str | Path, seed: int = 0, scores: bool = True) -> WebChat:
        """Load the MLE generator and, when the run has them, ``generator_adv/`` and ``generator_best/``."""
        run_dir = Path(run_dir)
        base = Chatbot.load(run_dir, "mle", scores=scores, seed=seed)
        bots = {"mle": base}
        for name, directory in GENERATOR_DIRS.items():
            if (run_dir / directory).is_dir():
                bots[name] = base.with_generator(name)
        return cls(run_dir, bots)

    @property
    def has_scores(self) -> bool:
        return next(iter(self.bots.values())).scorer is not None

    def new_state(self) -> State:
        return {"turns": {name: [] for name in self.bots}, "shown": {name: [] for name in self.bots}}

    def send(self, message: Any, state: State | None, settings: dict[str, Any] | None = None,
             show_scores: bool = True) -> tuple[State, str, bool]:
        """Answer ``message`` with every generator; ``settings``: decoding options by name (``temperature``,
        ``mode`` ...) set over the run's defaults. Returns the new state, a notice for the page ('' when all went
        well) and whether the message was sent (else the page keeps it in the text box)."""
        state = state or self.new_state()
        try:
            return self._send(message, state, settings or {}, show_scores)
        except Exception as err:  # noqa: BLE001 - the page must stay alive; the log has the traceback
            logger.exception("web chat: answering failed")
            return state, f"error: {' '.join(str(err).split()) or type(err).__name__}", False

    def _send(self, message: Any, state: State, settings: dict[str, Any], show_scores: bool) -> tuple[State, str, bool]:
        text, replaced = clean_text(message)
        notes = [f"{replaced} character(s) that are not valid UTF-8 were replaced by \ufffd"] if replaced else []
        stripped = text.strip()
        if not normalize_turn(stripped):
            return state, "Nothing sent: the message is empty. Type a message, then press Enter or Send.", False
        if stripped.startswith("/") and not stripped.startswith("//"):
            if stripped.split()[0].lower() == "/reset":
                return self.new_state(), "Conversations cleared.", True
            return state, f"Commands here: /reset (or the Reset button). {HELP}", False
        if len(normalize_turn(stripped)) > MAX_TURN_CHARS:
            return state, (f"Not sent: the message has {len(normalize_turn(stripped)):,} characters, over the limit "
                           f"of {MAX_TURN_CHARS:,}; send a shorter one."), False
        first = next(iter(self.bots.values()))
        try:
            options = first.decoding(**{k: v for k, v in settings.items() if v is not None})
        except SeqGANError as err:
            return state, f"Settings not applied: {err}", False
        turns, shown = dict(state["turns"]), dict(state["shown"])
        for name, bot in self.bots.items():
            session = bot.session(options, interactive=True, show_scores=show_scores and bot.scorer is not None)
            session.history = [Turn(t.speaker, t.text) for t in turns.get(name, [])]
            out = session.handle(text)
            notes += [f"{LABELS[name]}: {m}" for m in out.messages]
            if out.reply is None:
                continue
            turns[name] = session.history
            shown[name] = [*shown.get(name, []), {"role": "user", "content": normalize_turn(stripped)},
                           {"role": "assistant", "content": out.reply}]
        return {"turns": turns, "shown": shown}, " ".join(notes), True


def build_app(chat: WebChat):
    """The Gradio ``Blocks`` page of ``chat``: the conversations side by side, the message box, Send / Reset, a
    notice line, the decoding settings."""
    gr = require_gradio()
    defaults = next(iter(chat.bots.values())).options
    with gr.Blocks(title=f"seqgan chat: {chat.run_dir.name}") as app:
        gr.Markdown(f"## Chat with `{chat.run_dir.name}`\n{HELP}")
        state = gr.State(chat.new_state)
        with gr.Row():
            boards = [gr.Chatbot(label=LABELS[name], elem_id=f"chat-{name}", height=380, feedback_options=None)
                      for name in chat.bots]
        notice = gr.Markdown("", elem_id="notice")
        with gr.Row():
            box = gr.Textbox(placeholder="Type a message and press Enter", show_label=False, elem_id="message",
                             scale=8, lines=1, max_lines=6)
            send = gr.Button("Send", variant="primary", elem_id="send", scale=1)
            reset = gr.Button("Reset", elem_id="reset", scale=1)
        with gr.Accordion("Decoding", open=False):
            with gr.Row():
                mode = gr.Radio(list(MODES), value=defaults.mode, label="mode")
                scores = gr.Checkbox(value=chat.has_scores, interactive=chat.has_scores,
                                     label="show D's score (probability that a reply is human)"
                                     if chat.has_scores else "no discriminator in this run")
            with gr.Row():
                temperature = gr.Slider(0.05, 2.0, value=defaults.temperature, step=0.05, label="temperature")
                top_p = gr.Slider(0.05, 1.0, value=defaults.top_p, step=0.05, label="top-p")
                top_k = gr.Slider(0, 200, value=defaults.top_k, step=1, label="top-k (0 = all)")
            with gr.Row():
                beams = gr.Slider(1, 8, value=defaults.beams, step=1, label="beams (mode beam)")
                n = gr.Slider(1, 5, value=defaults.n, step=1, label="candidates per reply")
                no_repeat = gr.Slider(0, 6, value=defaults.no_repeat_ngram, step=1, label="no repeated n-gram (0 = off)")

        def on_send(message, current, mode_, temperature_, top_p_, top_k_, beams_, n_, no_repeat_, scores_):
            settings = {"mode": mode_, "temperature": temperature_, "top_p": top_p_, "top_k": int(top_k_),
                        "beams": int(beams_), "n": int(n_), "no_repeat_ngram": int(no_repeat_)}
            new, note, sent = chat.send(message, current, settings, bool(scores_))
            shown = [new["shown"][name] for name in chat.bots]
            return (*shown, f"⚠️ {note}" if note and not sent else note, "" if sent else message, new)

        def on_reset(_current):
            new = chat.new_state()
            return (*[[] for _ in chat.bots], "Conversations cleared.", "", new)

        inputs = [box, state, mode, temperature, top_p, top_k, beams, n, no_repeat, scores]
        outputs = [*boards, notice, box, state]
        box.submit(on_send, inputs, outputs)
        send.click(on_send, inputs, outputs)
        reset.click(on_reset, [state], outputs)
    return app


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 7860, seed: int = 0, scores: bool = True,
          block: bool = True):
    """Load ``run_dir`` and serve its web chat on ``http://host:port`` (until Ctrl-C when ``block``); returns the
    Gradio app."""
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    gr = require_gradio()
    app = build_app(WebChat.load(run_dir, seed=seed, scores=scores))
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["monospace"])  # no web fonts: offline
    logger.info("web chat on http://%s:%d (Ctrl-C stops it)", host, port)
    app.launch(server_name=host, server_port=port, prevent_thread_lock=not block, share=False, quiet=True,
               show_error=True, ssr_mode=False, theme=theme)
    return app
