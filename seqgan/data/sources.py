"""Read dialogue sources into one shape: a list of conversations and a list of explicit (context, reply) pairs.

Accepted sources (see docs/data.md):

- ``chitchat``: the embedded corpus of the ``chitchat-dataset`` package (7,168 human chit-chat conversations).
- JSONL: ``{"context": str | [turns], "reply": str}`` pair records and/or ``{"turns": [...]}`` conversations.
- CSV / TSV: context and reply columns (a context cell holding several turns separates them with ``" ||| "`` or is a
  JSON list), optional conversation column.
- plain text: one utterance per line, a blank line between conversations.
- a directory written by ``datasets.Dataset.save_to_disk`` with turns or context/reply columns.

Every problem a user can cause becomes a one-line :class:`~seqgan.errors.DataError` naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from seqgan.data.config import DataConfig
from seqgan.errors import DataError

TURN_SEPARATOR = " ||| "


@dataclass
class RawDialogues:
    """conversations: (conv_id, turns oldest first); pairs: (conv_id, context turns, reply)."""

    conversations: list[tuple[str, list[str]]] = field(default_factory=list)
    pairs: list[tuple[str, list[str], str]] = field(default_factory=list)


def _clean(text) -> str:
    return " ".join(str(text).split()) if text is not None else ""


def _as_turns(value, where: str) -> list[str]:
    """A context cell: a list of turns, a JSON list in a string, or turns joined by ' ||| '."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [t for t in (_clean(v) for v in value) if t]
    if not isinstance(value, str):
        raise DataError(f"{where}: expected a string or a list of strings, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text)
            if isinstance(parsed, list):
                return _as_turns(parsed, where)
        except json.JSONDecodeError:
            pass
    return [t for t in (_clean(p) for p in text.split(TURN_SEPARATOR.strip())) if t]


def load_chitchat() -> RawDialogues:
    """The embedded corpus; consecutive messages of one sender are one turn (joined with a space)."""
    try:
        import chitchat_dataset
    except ImportError:  # pragma: no cover - it is a core dependency
        raise DataError("data.source=chitchat: the chitchat-dataset package is not installed") from None
    path = Path(chitchat_dataset.__file__).with_name("dataset.json")
    with open(path, encoding="utf-8") as handle:
        raw = json.load(handle)
    raw_conversations = []
    for conv_id, conv in raw.items():
        turns = [_clean(" ".join(message["text"] for message in group)) for group in conv["messages"]]
        raw_conversations.append((conv_id, [t for t in turns if t]))
    return RawDialogues(conversations=raw_conversations)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: data file not found")
    if path.is_file():
        if path.stat().st_size == 0:
            raise DataError(f"{path}: data file is empty")
        data = path.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = data[: err.start].count(b"\n") + 1
            raise DataError(f"{path}: not valid UTF-8 (line {line}, byte {err.start}); re-encode the file as UTF-8") from None
        if not data.strip():
            raise DataError(f"{path}: data file is empty")


def detect_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    if path.is_dir():
        return "hf_disk"
    suffix = path.suffix.lower()
    known = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".txt": "text", ".text": "text"}
    if suffix not in known:
        raise DataError(f"{path}: cannot tell the format from the extension {suffix!r}; set data.format "
                        "to jsonl, csv, tsv, text or hf_disk")
    return known[suffix]


def _records_to_dialogues(records: list[dict], columns: list[str], cfg: DataConfig, path: Path,
                          line_offset: int = 1) -> RawDialogues:
    out = RawDialogues()
    has_turns = cfg.turns_column in columns
    group_col = cfg.conversation_column
    if (group_col and not has_turns and cfg.context_column not in columns and cfg.reply_column in columns
            and group_col in columns):
        return _rows_to_conversations(records, cfg, path)
    has_pair = cfg.context_column in columns or cfg.reply_column in columns
    if not has_turns and not has_pair:
        raise DataError(f"{path}: missing column {cfg.reply_column!r} (or {cfg.turns_column!r} for conversations); "
                        f"columns found: {', '.join(columns) or 'none'}")
    if has_pair and not has_turns and cfg.reply_column not in columns:
        raise DataError(f"{path}: missing column {cfg.reply_column!r}; columns found: {', '.join(columns)}")
    if has_pair and not has_turns and cfg.context_column not in columns:
        raise DataError(f"{path}: missing column {cfg.context_column!r} (or set data.conversation_column to read "
                        f"one turn per row); columns found: {', '.join(columns)}")
    if group_col and group_col not in columns:
        raise DataError(f"{path}: missing column {group_col!r} (data.conversation_column); "
                        f"columns found: {', '.join(columns)}")
    for i, record in enumerate(records):
        where = f"{path}: record {i + line_offset}"
        conv_id = f"{path.name}:{record[group_col]}" if group_col else f"{path.name}:{i}"
        turns_value = record.get(cfg.turns_column) if has_turns else None
        if turns_value is not None:
            out.conversations.append((conv_id, _as_turns(turns_value, where)))
            continue
        reply = _clean(record.get(cfg.reply_column))
        context = _as_turns(record.get(cfg.context_column), where)
        if reply and context:
            out.pairs.append((conv_id, context, reply))
    return out


def _rows_to_conversations(records: list[dict], cfg: DataConfig, path: Path) -> RawDialogues:
    """One turn per row (its ``reply_column`` text), rows grouped into conversations by ``conversation_column``
    in file order: the layout of a chat log without a context column."""
    conversations: dict[str, list[str]] = {}
    for record in records:
        key = f"{path.name}:{record[cfg.conversation_column]}"
        turn = _clean(record.get(cfg.reply_column))
        if turn:
            conversations.setdefault(key, []).append(turn)
    return RawDialogues(conversations=list(conversations.items()))


def _load_jsonl(path: Path, cfg: DataConfig) -> RawDialogues:
    records, columns = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}: line {number} is not valid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}: line {number}: expected a JSON object, got {type(record).__name__}")
            for key in record:
                if key not in columns:
                    columns.append(key)
            records.append(record)
    return _records_to_dialogues(records, columns, cfg, path)


def _load_table(path: Path, cfg: DataConfig, delimiter: str) -> RawDialogues:
    from datasets import load_dataset

    try:
        table = load_dataset("csv", data_files=str(path), delimiter=delimiter, split="train",
                             keep_in_memory=True, keep_default_na=False)
    except Exception as err:  # pandas/pyarrow raise many types on malformed tables
        raise DataError(f"{path}: could not be read as {'TSV' if delimiter == chr(9) else 'CSV'} "
                        f"({type(err).__name__}: {str(err).splitlines()[0][:120]})") from None
    return _records_to_dialogues(table.to_list(), list(table.column_names), cfg, path, line_offset=2)


def _load_text(path: Path) -> RawDialogues:
    out = RawDialogues()
    current: list[str] = []
    text = path.read_text(encoding="utf-8")
    for line in text.splitlines() + [""]:
        if line.strip():
            current.append(_clean(line))
        elif current:
            out.conversations.append((f"{path.name}:{len(out.conversations)}", current))
            current = []
    return out


def _load_hf_disk(path: Path, cfg: DataConfig) -> RawDialogues:
    from datasets import Dataset, DatasetDict, load_from_disk

    try:
        data = load_from_disk(str(path))
    except Exception as err:
        raise DataError(f"{path}: not a dataset saved with datasets.save_to_disk ({type(err).__name__})") from None
    if isinstance(data, DatasetDict):
        if "train" not in data:
            raise DataError(f"{path}: a DatasetDict needs a 'train' split; found {', '.join(data)}")
        data = data["train"]
    assert isinstance(data, Dataset)
    if len(data) == 0:
        raise DataError(f"{path}: the dataset is empty")
    return _records_to_dialogues(data.to_list(), list(data.column_names), cfg, path)


def load_dialogues(cfg: DataConfig) -> RawDialogues:
    """Read ``cfg.source`` into conversations and explicit pairs (nothing tokenized yet)."""
    if cfg.source == "chitchat":
        return load_chitchat()
    path = Path(cfg.source).expanduser()
    if cfg.format == "hf_disk" and path.is_file():
        raise DataError(f"{path}: data.format=hf_disk expects a directory written by Dataset.save_to_disk, not a "
                        "file; set data.format to auto, jsonl, csv, tsv or text for a file")
    _check_file(path)
    fmt = detect_format(path, cfg.format)
    if fmt == "jsonl":
        return _load_jsonl(path, cfg)
    if fmt in ("csv", "tsv"):
        return _load_table(path, cfg, "\t" if fmt == "tsv" else ",")
    if fmt == "text":
        return _load_text(path)
    if fmt == "hf_disk":
        if not path.is_dir():
            raise DataError(f"{path}: data.format=hf_disk expects a directory written by save_to_disk")
        return _load_hf_disk(path, cfg)
    raise DataError(f"{path}: unknown data format {fmt!r}")
