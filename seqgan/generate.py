"""Replies from a trained run: decoding options, batched generation for lists of contexts, and JSONL files.

``seqgan generate RUN_DIR --input contexts.jsonl`` reads one context per line (JSONL ``{"context": "..." or
["turn", ...]}``, or plain text with turns separated by ``|||``), answers them in batches and writes JSONL
``{"context": [...], "reply": "..."}`` (``"replies": [...]`` when several candidates are asked for) atomically.
The chat REPL uses the same :func:`reply_to_contexts`.

A run's decoding defaults are a ``transformers.GenerationConfig`` saved as ``generation_config.json`` in the run
directory (written when the run is created, :func:`save_decoding`); ``seqgan chat`` and ``seqgan generate`` start
from it (:func:`load_decoding`) and command-line options override it. Edit that file to change a run's defaults.

This module imports torch lazily so the command-line parser stays fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqgan.errors import ConfigError, DataError, OutputError

MODES = ("greedy", "sample", "beam")
DECODING_FILE = "generation_config.json"

# Names accepted by DecodingOptions.parse_value (``/set`` in the chat) -> field names.
OPTION_ALIASES = {"mode": "mode", "temperature": "temperature", "temp": "temperature", "top_k": "top_k",
                  "top-k": "top_k", "top_p": "top_p", "top-p": "top_p", "beams": "beams", "num_beams": "beams",
                  "n": "n", "max_len": "max_len", "max-len": "max_len", "no_repeat_ngram": "no_repeat_ngram",
                  "no-repeat-ngram": "no_repeat_ngram"}


@dataclass(frozen=True)
class DecodingOptions:
    """How replies are decoded.

    mode: ``greedy`` (most likely token each step), ``sample`` (temperature, then top-k and top-p filtering) or
    ``beam`` (beam search of width ``beams``). ``n`` candidates per context need ``sample`` or ``beam`` with
    ``n <= beams``. ``max_len`` caps reply tokens (None: the run's ``data.max_reply_tokens``). ``no_repeat_ngram``
    forbids repeating any n-gram of that size within a reply (HF ``no_repeat_ngram_size``; 0 = off): small models
    otherwise loop on one phrase ("I'm not sure. I'm not sure.") under greedy and beam decoding.
    """

    mode: str = "sample"
    temperature: float = 0.8
    top_k: int = 0
    top_p: float = 0.9
    beams: int = 4
    n: int = 1
    max_len: int | None = None
    no_repeat_ngram: int = 3

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid option."""
        if self.mode not in MODES:
            raise ConfigError(f"mode: expected one of {list(MODES)}, got {self.mode!r}")
        if not self.temperature > 0:
            raise ConfigError(f"temperature: expected a number > 0, got {self.temperature}")
        if self.top_k < 0:
            raise ConfigError(f"top_k: expected 0 (off) or a positive integer, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p: expected a number in (0, 1], got {self.top_p}")
        if self.beams < 1:
            raise ConfigError(f"beams: expected a positive integer, got {self.beams}")
        if self.n < 1:
            raise ConfigError(f"n: expected a positive integer, got {self.n}")
        if self.no_repeat_ngram < 0:
            raise ConfigError(f"no_repeat_ngram: expected 0 (off) or a positive integer, got {self.no_repeat_ngram}")
        if self.max_len is not None and self.max_len < 1:
            raise ConfigError(f"max_len: expected a positive integer, got {self.max_len}")
        if self.n > 1 and self.mode == "greedy":
            raise ConfigError(f"n={self.n}: greedy decoding gives one reply; use mode=sample or mode=beam")
        if self.mode == "beam" and self.n > self.beams:
            raise ConfigError(f"n={self.n}: beam search returns at most beams={self.beams} replies")

    @staticmethod
    def parse_value(key: str, raw: str) -> tuple[str, Any]:
        """``("top-k", "40") -> ("top_k", 40)``: the field an option name means and its value parsed from text;
        unknown names and unparsable values raise :class:`ConfigError`."""
        name = OPTION_ALIASES.get(key.strip().lower())
        if name is None:
            known = ", ".join(f.name for f in dataclasses.fields(DecodingOptions))
            raise ConfigError(f"unknown option {key.strip()!r} (options: {known})")
        raw = raw.strip()
        try:
            if name == "mode":
                return name, raw.lower()
            if name in ("temperature", "top_p"):
                return name, float(raw)
            if name == "max_len" and raw.lower() in ("", "none", "default"):
                return name, None
            return name, int(raw)
        except ValueError:
            kind = "a number" if name in ("temperature", "top_p") else "an integer"
            raise ConfigError(f"{name}: expected {kind}, got {raw!r}") from None

    def updated(self, changes: dict[str, str]) -> DecodingOptions:
        """A copy with the options in ``changes`` (name -> text, e.g. ``{"temperature": "0.7", "n": "3"}``) set
        together, then validated. Asking for ``n > 1`` while in greedy mode (without naming a mode) switches to
        sampling. Bad names or values raise :class:`ConfigError`."""
        values = dict(self.parse_value(k, v) for k, v in changes.items())
        new = dataclasses.replace(self, **values)
        if "mode" not in values and new.n > 1 and new.mode == "greedy":
            new = dataclasses.replace(new, mode="sample")
        new.validate()
        return new

    def describe(self) -> str:
        """One line, e.g. ``mode=sample temperature=0.8 top_k=0 top_p=0.9 beams=4 n=1 max_len=default``."""
        parts = [f"{f.name}={getattr(self, f.name) if getattr(self, f.name) is not None else 'default'}"
                 for f in dataclasses.fields(self)]
        return " ".join(parts)

    def to_generation_config(self):
        """These options as a ``transformers.GenerationConfig`` (only the fields the mode uses are set, so HF's
        own validation of the saved file passes)."""
        from transformers import GenerationConfig

        kwargs: dict[str, Any] = {"num_return_sequences": self.n, "max_new_tokens": self.max_len,
                                  "no_repeat_ngram_size": self.no_repeat_ngram}
        if self.mode == "sample":
            kwargs.update(do_sample=True, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)
        elif self.mode == "beam":
            kwargs.update(do_sample=False, num_beams=self.beams)
        else:
            kwargs.update(do_sample=False, num_beams=1)
        return GenerationConfig(**kwargs)

    @classmethod
    def from_generation_config(cls, gc) -> DecodingOptions:
        """Options from a ``GenerationConfig`` (mode: beam when ``num_beams > 1``, else sample or greedy by
        ``do_sample``); what it leaves unset keeps this class's default. Validated."""
        d = cls()
        beams = int(gc.num_beams or 1)
        mode = "beam" if beams > 1 else ("sample" if gc.do_sample else "greedy")
        sample = mode == "sample"
        opts = cls(mode=mode,
                   temperature=float(gc.temperature) if sample and gc.temperature is not None else d.temperature,
                   top_k=int(gc.top_k or 0) if sample else d.top_k,
                   top_p=float(gc.top_p) if sample and gc.top_p is not None else d.top_p,
                   beams=beams if beams > 1 else d.beams, n=int(gc.num_return_sequences or 1),
                   max_len=int(gc.max_new_tokens) if gc.max_new_tokens else None,
                   no_repeat_ngram=int(gc.no_repeat_ngram_size or 0))
        opts.validate()
        return opts

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the policies' ``generate_replies`` (:class:`~seqgan.models.hf_policy.HFPolicy`)."""
        sample = self.mode == "sample"
        return {
            "do_sample": sample,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "num_beams": self.beams if self.mode == "beam" else 1,
            "num_return_sequences": self.n,
            "max_len": self.max_len,
            "no_repeat_ngram_size": self.no_repeat_ngram,
        }


def save_decoding(run_dir: str | Path, opts: DecodingOptions | None = None, overwrite: bool = False) -> Path:
    """Write ``opts`` (default: :class:`DecodingOptions` ()) as the run's ``generation_config.json``; an existing
    file (perhaps edited by the user) is kept unless ``overwrite``. Returns the file's path."""
    from seqgan.runs.checkpoint import atomic_write_text

    path = Path(run_dir) / DECODING_FILE
    if overwrite or not path.is_file():
        atomic_write_text(path, (opts or DecodingOptions()).to_generation_config().to_json_string())
    return path


def export_decoding(run_dir: str | Path, max_reply_len: int):
    """The run's decoding defaults as the ``GenerationConfig`` a saved generator carries (its
    ``generation_config.json``), the reply length filled in (``max_new_tokens``), so that plain transformers'
    ``generate`` decodes as ``seqgan chat`` / ``seqgan generate`` do."""
    opts = load_decoding(run_dir)
    return dataclasses.replace(opts, max_len=opts.max_len or max_reply_len).to_generation_config()


def load_decoding(run_dir: str | Path) -> DecodingOptions:
    """The run's saved decoding defaults (``generation_config.json``), or :class:`DecodingOptions` () for a run
    without one; a file that does not parse or holds invalid settings raises :class:`ConfigError` naming it."""
    path = Path(run_dir) / DECODING_FILE
    if not path.is_file():
        return DecodingOptions()
    from transformers import GenerationConfig

    try:
        gc = GenerationConfig.from_pretrained(str(run_dir), local_files_only=True)
        return DecodingOptions.from_generation_config(gc)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    except (OSError, ValueError, TypeError) as err:
        raise ConfigError(f"{path}: not a valid generation config ({str(err).splitlines()[0]})") from None


def normalize_turn(text: str) -> str:
    """Collapse runs of whitespace (as the data loader does) and strip."""
    return " ".join(text.split())


def encode_batch(contexts: list[list[str]], tokenizer, data_cfg):
    """Contexts (each a list of turns, oldest first) -> :class:`~seqgan.models.policy.Context` with right-padded
    ids and mask of shape (B, S), each rendered as in training (:func:`seqgan.data.encode_contexts`: the last
    ``max_context_turns`` turns by the tokenizer's chat template, at most ``max_context_tokens`` tokens)."""
    from seqgan.data import encode_contexts, pad_rows
    from seqgan.models.policy import Context

    rows = encode_contexts([[normalize_turn(t) for t in turns] for turns in contexts], tokenizer, data_cfg)
    ids, mask = pad_rows(rows, tokenizer.pad_token_id)
    return Context(ids=ids, mask=mask)


def decode_replies(tokenizer, ids, mask) -> list[str]:
    """Reply ids/mask (N, T) -> N strings (special tokens dropped, whitespace normalised)."""
    from seqgan.data import decode_ids

    return [normalize_turn(text) for text in decode_ids(tokenizer, ids, mask)]


def reply_to_contexts(policy, tokenizer, data_cfg, contexts: list[list[str]],
                      opts: DecodingOptions) -> list[list[str]]:
    """``opts.n`` replies to each context: a list (len B) of lists (len n) of strings.

    ``policy`` is any generator of :mod:`seqgan.models.generators`; one ``generate_replies`` call for the batch.
    """
    opts.validate()
    if not contexts:
        return []
    context = encode_batch(contexts, tokenizer, data_cfg)
    out = policy.generate_replies(context, **opts.generate_kwargs())  # ids/mask (B*n, T)
    texts = decode_replies(tokenizer, out.ids, out.mask)
    return [texts[b * opts.n:(b + 1) * opts.n] for b in range(len(contexts))]


GENERATORS = ("auto", "mle", "adv", "best")
_GENERATOR_DIRS = {"mle": "generator", "adv": "generator_adv", "best": "generator_best"}
_WRITTEN_BY = {"adv": "run `seqgan train`", "best": "set mle.best_metric or adversarial.best_metric and train"}


def load_chatbot(run_dir: str | Path, generator: str = "auto"):
    """``(policy, tokenizer, cfg)`` of a run for replying: ``generator`` picks ``mle`` (``generator/``), ``adv``
    (``generator_adv/``, written by adversarial training), ``best`` (``generator_best/``, the best evaluation by
    a chosen metric) or ``auto`` (``adv`` when the run has it, else ``mle``).
    Problems raise :class:`~seqgan.errors.CheckpointError`."""
    import logging

    from seqgan.errors import CheckpointError
    from seqgan.chatbot import load_run

    if generator not in GENERATORS:
        raise ConfigError(f"generator: expected one of {list(GENERATORS)}, got {generator!r}")
    run_dir = Path(run_dir)
    policy, tokenizer, cfg = load_run(run_dir)
    if generator == "auto":
        generator = "adv" if (run_dir / _GENERATOR_DIRS["adv"]).is_dir() else "mle"
    other = run_dir / _GENERATOR_DIRS[generator]
    if generator != "mle" and not other.is_dir():
        raise CheckpointError(f"{run_dir}: no {other.name}/ ({_WRITTEN_BY[generator]})")
    if generator != "mle":
        from seqgan.models.generators import load_policy

        policy = load_policy(other)
        if policy.vocab_size < len(tokenizer):
            raise CheckpointError(f"{other}: vocabulary does not match the run's tokenizer")
        logging.getLogger(__name__).info("replying with %s", other)
    policy.eval()
    return policy, tokenizer, cfg


# --------------------------------------------------------------------------- files
def _detect_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    return "jsonl" if path.suffix.lower() in (".jsonl", ".json", ".ndjson") else "text"


def _turns_of(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return list(value)
    raise DataError(f'{where}: "context" must be a string or a list of strings, got {type(value).__name__}')


def read_contexts(path: str | Path, input_format: str = "auto") -> Iterator[tuple[list[str], dict]]:
    """Yield ``(turns, extra)`` per non-blank line of ``path``; ``extra`` holds an input ``id`` to carry over.

    JSONL lines are objects with a ``"context"`` (string or list of turns); text lines are one context each, turns
    separated by ``|||``. Problems raise :class:`DataError` naming the file and line.
    """
    from seqgan.data.sources import TURN_SEPARATOR

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: input file not found")
    fmt = _detect_format(path, input_format)
    seen = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            if b"\x00" in raw:
                raise DataError(f"{where}: contains NUL bytes (a binary file?); expected UTF-8 text or JSONL contexts")
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise DataError(f"{where}: not valid UTF-8") from None
            if number == 1:
                line = line.lstrip("\ufeff")
            if not line:
                continue
            seen += 1
            if fmt == "text":
                yield [t for t in (normalize_turn(p) for p in line.split(TURN_SEPARATOR.strip())) if t], {}
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise DataError(f"{where}: not valid JSON (expected an object like {{\"context\": \"...\"}})") from None
            if not isinstance(record, dict):
                raise DataError(f"{where}: expected a JSON object with a \"context\" key")
            if "context" not in record:
                raise DataError(f'{where}: missing "context" key (found: {", ".join(sorted(record)) or "none"})')
            extra = {"id": record["id"]} if "id" in record else {}
            yield [normalize_turn(t) for t in _turns_of(record["context"], where)], extra
    if seen == 0:
        raise DataError(f"{path}: no contexts (the file is empty)")


def _record(turns: list[str], extra: dict, replies: list[str]) -> str:
    body: dict[str, Any] = dict(extra)
    body["context"] = turns
    if len(replies) == 1:
        body["reply"] = replies[0]
    else:
        body["replies"] = replies
    return json.dumps(body, ensure_ascii=False) + "\n"


def generate_file(run_dir: str | Path, input_path: str | Path, output_path: str | Path | None,
                  opts: DecodingOptions, batch_size: int = 32, seed: int = 0, input_format: str = "auto",
                  generator: str = "auto") -> int:
    """Answer every context of ``input_path`` with the run's generator; returns the number of contexts.

    Writes JSONL to ``output_path`` atomically (nothing appears there unless every line succeeded; a path that
    cannot be written, or the input file itself, is refused before any work) or, when it is None, to standard
    output batch by batch. Input problems raise :class:`DataError` with file and line.
    ``generator`` as in :func:`load_chatbot`.
    """
    import torch

    from seqgan.runs.checkpoint import atomic_file
    from seqgan.runs.paths import check_output_file

    opts.validate()
    if batch_size < 1:
        raise ConfigError(f"batch_size: expected a positive integer, got {batch_size}")
    if input_format not in ("auto", "jsonl", "text"):
        raise ConfigError(f"input format: expected auto, jsonl or text, got {input_format!r}")
    input_path = Path(input_path)
    if not input_path.is_file():
        raise DataError(f"{input_path}: input file not found")
    if output_path is not None:  # refused before the model is loaded and any reply computed
        output_path = check_output_file(output_path, "--output")
        if output_path.exists() and os.path.samefile(input_path, output_path):
            raise OutputError(f"--output {output_path}: is the input file; write the replies to another path")
    policy, tokenizer, cfg = load_chatbot(run_dir, generator)
    torch.manual_seed(seed)
    count = 0
    batch: list[tuple[list[str], dict]] = []
    # a file output appears only complete; Ctrl-C or an error leaves no partial file and no temp file behind
    with atomic_file(output_path) if output_path is not None else contextlib.nullcontext(sys.stdout) as out:

        def flush() -> None:
            nonlocal count
            replies = reply_to_contexts(policy, tokenizer, cfg.data, [turns for turns, _ in batch], opts)
            out.write("".join(_record(turns, extra, r) for (turns, extra), r in zip(batch, replies)))
            out.flush()
            count += len(batch)
            batch.clear()

        for item in read_contexts(input_path, input_format):
            batch.append(item)
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
    return count
