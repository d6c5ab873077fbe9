"""Turn conversations into (context, reply) pairs and split them train/valid/test by conversation."""

from __future__ import annotations

import random
from dataclasses import dataclass

from datasets import Dataset

from seqgan.data.config import DataConfig
from seqgan.data.sources import RawDialogues
from seqgan.errors import DataError


@dataclass
class DialogueSplits:
    """train / valid / test as ``datasets.Dataset`` with columns conv_id (str), context (list[str]), reply (str)."""

    train: Dataset
    valid: Dataset
    test: Dataset
    sizes: dict[str, dict[str, int]]

    def summary(self) -> str:
        parts = [f"{name} {s['pairs']:,} pairs / {s['conversations']:,} conversations" for name, s in self.sizes.items()]
        return "split by conversation: " + "; ".join(parts)


def conversation_pairs(turns: list[str], max_context_turns: int) -> list[tuple[list[str], str]]:
    """Every turn i >= 1 is a reply to the (at most k) turns before it: [(context turns oldest first, reply)]."""
    return [(turns[max(0, i - max_context_turns):i], turns[i]) for i in range(1, len(turns))]


def build_pairs(raw: RawDialogues, max_context_turns: int) -> dict[str, list[tuple[list[str], str]]]:
    """Pairs grouped by conversation id, preserving source order."""
    grouped: dict[str, list[tuple[list[str], str]]] = {}
    for conv_id, turns in raw.conversations:
        pairs = conversation_pairs(turns, max_context_turns)
        if pairs:
            grouped.setdefault(conv_id, []).extend(pairs)
    for conv_id, context, reply in raw.pairs:
        grouped.setdefault(conv_id, []).append((context[-max_context_turns:], reply))
    return grouped


def _to_dataset(grouped: dict, conv_ids: list[str], limit: int, seed: int) -> Dataset:
    rows = [(cid, ctx, rep) for cid in conv_ids for ctx, rep in grouped[cid]]
    if limit and len(rows) > limit:
        rows = random.Random(seed).sample(rows, limit)
    return Dataset.from_dict({
        "conv_id": [r[0] for r in rows],
        "context": [r[1] for r in rows],
        "reply": [r[2] for r in rows],
    })


def split_by_conversation(raw: RawDialogues, cfg: DataConfig, source: str = "") -> DialogueSplits:
    """Seeded split of whole conversations, so no conversation contributes pairs to two splits."""
    grouped = build_pairs(raw, cfg.max_context_turns)
    where = source or cfg.source
    if not grouped:
        raise DataError(f"{where}: no (context, reply) pairs; every conversation needs at least two turns")
    conv_ids = sorted(grouped)
    random.Random(cfg.split_seed).shuffle(conv_ids)
    n = len(conv_ids)
    n_valid = max(1, round(n * cfg.valid_fraction))
    n_test = max(1, round(n * cfg.test_fraction))
    if n - n_valid - n_test < 1:
        raise DataError(f"{where}: only {n} conversation(s) with a reply; need at least 3 to split "
                        "train/valid/test by conversation")
    parts = {
        "valid": conv_ids[:n_valid],
        "test": conv_ids[n_valid:n_valid + n_test],
        "train": conv_ids[n_valid + n_test:],
    }
    datasets = {
        "train": _to_dataset(grouped, parts["train"], cfg.max_train_pairs, cfg.split_seed),
        "valid": _to_dataset(grouped, parts["valid"], cfg.max_eval_pairs, cfg.split_seed + 1),
        "test": _to_dataset(grouped, parts["test"], cfg.max_eval_pairs, cfg.split_seed + 2),
    }
    sizes = {name: {"conversations": len(parts[name]), "pairs": len(datasets[name])} for name in ("train", "valid", "test")}
    return DialogueSplits(train=datasets["train"], valid=datasets["valid"], test=datasets["test"], sizes=sizes)
