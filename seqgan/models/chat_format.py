"""How a dialogue context becomes the generator's input ids, for every model family: the tokenizer's chat template.

A context is a list of turns, oldest first; the reply to it is the assistant's turn, so the turns are given roles
counted back from the reply (the last context turn is ``user``, the one before it ``assistant``, ...) and rendered
once by the tokenizer's chat template with ``add_generation_prompt=True``, then tokenized without adding special
tokens (what ``tokenizer.apply_chat_template`` does). Plain transformers therefore reproduces a run's inputs with
``apply_chat_template`` on the exported ``generator/``.

A tokenizer without a template gets seqgan's own (:func:`default_chat_template`): the turns joined by the
separator token (``sep``, else ``eos``), wrapped in the special tokens the tokenizer adds to a single text (BART's
``<s> .. </s>``, T5's ``.. </s>``, nothing for seqgan's own BPE); a causal LM's generation prompt is one more
separator, so the model knows where the reply starts. For a tokenizer trained by seqgan this is exactly the
``turn <sep> turn`` encoding of earlier versions.

A context longer than ``max_tokens`` keeps the template's fixed start (a default system prompt, a ``bos``) and
loses its oldest tokens after it. :meth:`ChatFormat.turns` reads the turns back from ids (the ``minilm``
discriminator reads text).

:func:`prepare_tokenizer` makes a model's own tokenizer fit for a run: an ``eos`` token is required, a missing
``pad`` reuses ``eos`` (as TRL does), a missing template gets the default.
"""

from __future__ import annotations

import json
import logging
import re
import weakref
from functools import cached_property

from seqgan.errors import ConfigError

logger = logging.getLogger(__name__)

_MARKERS = ("SEQGANTURNA", "SEQGANTURNB", "SEQGANTURNC")  # probe contents: plain letters, kept intact by templates


def roles(num_turns: int) -> list[str]:
    """Roles of ``num_turns`` context turns, oldest first, counted back from the reply (the assistant's turn):
    the last turn is ``user``, the one before it ``assistant``, and so on."""
    return ["user" if (num_turns - 1 - i) % 2 == 0 else "assistant" for i in range(num_turns)]


def messages(turns: list[str]) -> list[dict[str, str]]:
    """Chat messages (``{"role", "content"}``) of context turns, oldest first (see :func:`roles`)."""
    return [{"role": role, "content": text} for role, text in zip(roles(len(turns)), turns)]


def _single_text_specials(tokenizer) -> tuple[list[str], list[str]]:
    """The special tokens ``tokenizer(text)`` puts before and after a text (e.g. BART: ``['<s>'], ['</s>']``)."""
    plain = tokenizer("hello", add_special_tokens=False)["input_ids"]
    full = tokenizer("hello")["input_ids"]
    n = len(plain)
    for start in range(len(full) - n + 1):
        if full[start:start + n] == plain:
            return (tokenizer.convert_ids_to_tokens(full[:start]),
                    tokenizer.convert_ids_to_tokens(full[start + n:]))
    return [], []


def default_chat_template(tokenizer, generation_prompt: bool) -> str:
    """seqgan's template for a tokenizer without one: turns joined by the ``sep`` token (else ``eos``), wrapped in
    the special tokens ``tokenizer(text)`` adds; with ``generation_prompt`` (causal LMs) a final separator starts
    the reply. Roles are not rendered."""
    sep = tokenizer.sep_token or tokenizer.eos_token
    if sep is None:
        raise ConfigError("tokenizer: has neither a sep nor an eos token to join the turns of a context with")
    before, after = _single_text_specials(tokenizer)
    lit = json.dumps  # a JSON string is a valid Jinja string literal
    gen = f"{{% if add_generation_prompt %}}{{{{ {lit(sep)} }}}}{{% endif %}}" if generation_prompt else ""
    return (f"{{{{ {lit(''.join(before))} }}}}{{% for message in messages %}}{{% if not loop.first %}}"
            f"{{{{ {lit(sep)} }}}}{{% endif %}}{{{{ message['content'] }}}}{{% endfor %}}"
            f"{{{{ {lit(''.join(after))} }}}}{gen}")


def prepare_tokenizer(tokenizer, causal: bool, source: str = "tokenizer"):
    """Make ``tokenizer`` fit for a run (in place; returned): ``eos`` required (:class:`ConfigError` naming
    ``source`` otherwise), a missing ``pad`` reuses ``eos`` (logged), a missing chat template gets
    :func:`default_chat_template` (a final separator as the generation prompt when ``causal``)."""
    if tokenizer.eos_token is None:
        raise ConfigError(f"{source}: the tokenizer has no eos token; a reply must end with one (set eos_token in "
                          "its tokenizer_config.json)")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
        logger.info("%s: no pad token; padding with the eos token %r (as TRL does; masks tell them apart)",
                    source, tokenizer.eos_token)
    if not tokenizer.chat_template:
        tokenizer.chat_template = default_chat_template(tokenizer, generation_prompt=causal)
        logger.info("%s: no chat template; contexts are turns joined by %r", source,
                    tokenizer.sep_token or tokenizer.eos_token)
    return tokenizer


class ChatFormat:
    """Contexts (lists of turns) to ids and back, by ``tokenizer``'s chat template (the default one when it has
    none, as for runs of earlier versions)."""

    _cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.template = tokenizer.chat_template or default_chat_template(tokenizer, generation_prompt=False)

    @classmethod
    def of(cls, tokenizer) -> ChatFormat:
        """The format of ``tokenizer`` (one per tokenizer and template, reused across calls)."""
        found = cls._cache.get(tokenizer)
        if found is None or found.template != (tokenizer.chat_template or found.template):
            found = cls._cache[tokenizer] = cls(tokenizer)
        return found

    def render(self, contexts: list[list[str]]) -> list[str]:
        """Each context's text: its turns as chat messages, rendered with the generation prompt."""
        if not contexts:
            return []
        rendered = self.tokenizer.apply_chat_template([messages(turns) for turns in contexts],
                                                      chat_template=self.template, tokenize=False,
                                                      add_generation_prompt=True)
        return list(rendered)

    @cached_property
    def fixed_start(self) -> int:
        """Number of tokens every rendered context starts with (a bos, a default system prompt), kept when a
        context is truncated."""
        a, b = (self._ids(text) for text in self.render([["x"], ["y", "z"]]))
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    @cached_property
    def _fallback(self) -> list[int]:
        """The ids of a context that renders to nothing (no turns, seqgan's template): the separator."""
        token = self.tokenizer.sep_token_id
        return [token if token is not None else self.tokenizer.eos_token_id]

    def encode(self, contexts: list[list[str]], max_turns: int, max_tokens: int) -> list[list[int]]:
        """Ids of each context: its last ``max_turns`` non-blank turns rendered, at most ``max_tokens`` tokens
        (the fixed start kept, the oldest tokens after it dropped); never empty."""
        kept = [[t for t in turns if t.strip()][-max_turns:] for turns in contexts]
        texts = self.render(kept)
        rows = self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        keep = self.fixed_start if self.fixed_start < max_tokens else 0
        out = []
        for ids in rows:
            if len(ids) > max_tokens:
                ids = ids[:keep] + ids[len(ids) - (max_tokens - keep):]
            out.append(ids or list(self._fallback))
        return out

    # -- back to turns ------------------------------------------------------------------------------------------
    @cached_property
    def _layout(self) -> tuple[tuple[str, ...], re.Pattern, str, str]:
        """What the template puts before the first turn (per role of that turn; the fixed start of a truncated
        context), between turns and after the last, and the text of a context without turns."""
        a, b, c = _MARKERS
        three, two, empty = self.render([[a, b, c], [b, c], []])
        head_user, between_ua, between_au, tail = _split(three, _MARKERS)
        head_assistant, _, _ = _split(two, (b, c))
        start = self.tokenizer.decode(self._ids(three)[:self.fixed_start], skip_special_tokens=False,
                                      clean_up_tokenization_spaces=False)
        heads = tuple(sorted({head_user, head_assistant, start} - {""}, key=len, reverse=True))
        between = sorted({s for s in (between_ua, between_au) if s}, key=len, reverse=True)
        pattern = re.compile("|".join(re.escape(s) for s in between)) if between else re.compile(r"(?!)")
        return heads, pattern, tail, empty

    @cached_property
    def _specials(self) -> re.Pattern:
        tokens = sorted({t for t in self.tokenizer.all_special_tokens if t}, key=len, reverse=True)
        return re.compile("|".join(re.escape(t) for t in tokens)) if tokens else re.compile(r"(?!)")

    def turns(self, ids: list[int]) -> list[str]:
        """The turns of a context encoded by :meth:`encode` (oldest first, whitespace normalised); a truncated
        context's first turn may be partial. A template this cannot parse gives the whole text as one turn."""
        text = self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        heads, between, tail, empty = self._layout
        if text == empty or list(ids) == self._fallback:
            return []
        for head in heads:
            if text.startswith(head):
                text = text[len(head):]
                break
        if tail and text.endswith(tail):
            text = text[:-len(tail)]
        pieces = (" ".join(self._specials.sub(" ", piece).split()) for piece in between.split(text))
        return [p for p in pieces if p]


def _split(text: str, markers: tuple[str, ...]) -> list[str]:
    """``text`` cut at each marker in turn: len(markers) + 1 pieces (empty strings when a marker is missing)."""
    pieces = []
    for marker in markers:
        before, found, text = text.partition(marker)
        if not found:
            return [""] * (len(markers) + 1)
        pieces.append(before)
    return pieces + [text]
