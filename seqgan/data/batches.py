"""Token ids for (context, reply) pairs and padded batches for the models."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from datasets import Dataset
from torch.utils.data import DataLoader

from seqgan.data.config import DataConfig
from seqgan.models.chat_format import ChatFormat
from seqgan.models.policy import Context, Replies


def encode_contexts(contexts: list[list[str]], tokenizer, cfg: DataConfig) -> list[list[int]]:
    """Ids of each context (a list of turns, oldest first): its last ``max_context_turns`` non-blank turns rendered
    by the tokenizer's chat template (:class:`~seqgan.models.chat_format.ChatFormat`; seqgan's own tokenizer joins
    them by the sep token), at most ``max_context_tokens`` tokens (the oldest dropped), never empty."""
    return ChatFormat.of(tokenizer).encode(contexts, cfg.max_context_turns, cfg.max_context_tokens)


def encode_context(turns: list[str], tokenizer, cfg: DataConfig) -> list[int]:
    """The ids of one context (see :func:`encode_contexts`)."""
    return encode_contexts([turns], tokenizer, cfg)[0]


def encode_reply(reply: str, tokenizer, cfg: DataConfig) -> list[int]:
    """Reply tokens + eos, at most ``max_reply_tokens`` long in total (eos always last)."""
    ids = tokenizer.encode(reply, add_special_tokens=False)[: cfg.max_reply_tokens - 1]
    return ids + [tokenizer.eos_token_id]


def encode_pairs(ds: Dataset, tokenizer, cfg: DataConfig) -> Dataset:
    """Add ``context_ids`` and ``reply_ids`` columns (lists of ints) to a pairs dataset.

    Same result as :func:`encode_context` / :func:`encode_reply` per row, but each batch of texts goes through the
    chat template and the fast tokenizer in one call.
    """
    eos, cap = tokenizer.eos_token_id, cfg.max_reply_tokens - 1

    def encode(batch):
        replies = tokenizer(list(batch["reply"]), add_special_tokens=False)["input_ids"]
        return {"context_ids": encode_contexts([list(turns) for turns in batch["context"]], tokenizer, cfg),
                "reply_ids": [r[:cap] + [eos] for r in replies]}

    return ds.map(encode, batched=True, batch_size=1000, load_from_cache_file=False)


def pad_rows(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lists of token ids -> right-padded ids (N, W) and mask (N, W) (1 = token), W the longest row."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


class DialogueCollator:
    """Rows with context_ids/reply_ids -> right-padded LongTensors (B, S) and (B, T) with masks."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        context_ids, context_mask = pad_rows([r["context_ids"] for r in rows], self.pad_id)
        reply_ids, reply_mask = pad_rows([r["reply_ids"] for r in rows], self.pad_id)
        return {"context_ids": context_ids, "context_mask": context_mask,
                "reply_ids": reply_ids, "reply_mask": reply_mask}


def pair_rows(ds: Dataset) -> list[dict[str, list[int]]]:
    """The ``context_ids`` / ``reply_ids`` of every row of an encoded dataset, as a list of dicts."""
    cols = ds.select_columns(["context_ids", "reply_ids"]).to_dict()
    return [{"context_ids": c, "reply_ids": r} for c, r in zip(cols["context_ids"], cols["reply_ids"])]


def iter_batches(ds: Dataset, pad_id: int, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
    """Collated batches of an encoded dataset in row order (no shuffle; unlike a DataLoader, draws nothing from
    the global RNG, so seeded sampling around it is unaffected)."""
    collate, rows = DialogueCollator(pad_id), pair_rows(ds)
    for start in range(0, len(rows), batch_size):
        yield collate(rows[start:start + batch_size])


def make_loader(ds: Dataset, tokenizer_or_pad_id, batch_size: int, shuffle: bool, seed: int = 0,
                drop_last: bool = False) -> DataLoader:
    """DataLoader over an encoded dataset; the shuffle order is a function of ``seed`` only."""
    pad_id = tokenizer_or_pad_id if isinstance(tokenizer_or_pad_id, int) else tokenizer_or_pad_id.pad_token_id
    columns = ds.select_columns(["context_ids", "reply_ids"])
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(columns, batch_size=batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last,
                      collate_fn=DialogueCollator(pad_id))


class BatchStream:
    """Seeded, resumable stream of batches of row indices over ``num_rows`` rows, epoch after epoch.

    Epoch ``e`` visits the rows in ``torch.randperm`` order drawn from a generator seeded with
    ``seed + 1_000_003 * e``; with ``world > 1`` process ``rank`` takes every ``world``-th row of the first
    ``num_rows // world * world``. ``last`` says what becomes of an epoch's short final batch: ``"keep"`` (a batch
    of its own), ``"drop"`` or ``"fill"`` (topped up from the next epoch, so every batch has ``batch_size`` rows).
    The state is (epoch, position) alone, so a resumed stream yields exactly the batches a straight one would.

    ``seed=None`` draws each epoch's order from torch's global RNG when the epoch starts instead (for callers that
    seed and checkpoint that RNG themselves, as the oracle benchmark does); such a stream is not resumable by its
    state alone.
    """

    LAST = ("keep", "drop", "fill")

    def __init__(self, num_rows: int, batch_size: int, seed: int | None, last: str = "keep", rank: int = 0,
                 world: int = 1) -> None:
        if last not in self.LAST:
            raise ValueError(f"last: expected one of {list(self.LAST)}, got {last!r}")
        if num_rows // world < (batch_size if last == "drop" else 1):
            raise ValueError(f"{num_rows} rows are too few for batches of {batch_size} over {world} process(es)")
        self.num_rows, self.batch_size, self.seed, self.last = num_rows, batch_size, seed, last
        self.rank, self.world = rank, world
        self.epoch, self.pos = 0, 0
        self._order: list[int] | None = None  # this rank's order of self.epoch, drawn when first needed

    def epoch_order(self, epoch: int) -> list[int]:
        """This rank's row indices of ``epoch``, in visiting order."""
        generator = None if self.seed is None else torch.Generator().manual_seed(self.seed + 1_000_003 * epoch)
        perm = torch.randperm(self.num_rows, generator=generator).tolist()
        return perm[self.rank:self.num_rows // self.world * self.world:self.world]

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """The batches of ``epoch`` as a plan (the stream's position is untouched); ``last="fill"`` plans like
        ``"keep"``."""
        order, size = self.epoch_order(epoch), self.batch_size
        stop = len(order) - len(order) % size if self.last == "drop" else len(order)
        return [order[i:i + size] for i in range(0, stop, size)]

    def _advance(self) -> None:
        self.epoch, self.pos, self._order = self.epoch + 1, 0, None

    def next(self) -> list[int]:
        """The next batch of row indices."""
        picked: list[int] = []
        while len(picked) < self.batch_size:
            if self._order is None:
                self._order = self.epoch_order(self.epoch)
            remaining = len(self._order) - self.pos
            if remaining == 0 or (self.last == "drop" and remaining < self.batch_size - len(picked)):
                self._advance()
                continue
            take = self._order[self.pos:self.pos + self.batch_size - len(picked)]
            picked.extend(take)
            self.pos += len(take)
            if self.last == "keep" and self.pos >= len(self._order):
                break
        return picked

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.pos, self._order = int(state["epoch"]), int(state["pos"]), None


class PairStream:
    """Endless, resumable stream of collated batches over encoded pairs (rows with ``context_ids``/``reply_ids``),
    in the order of a :class:`BatchStream` (``last="fill"``: every batch has ``batch_size`` pairs)."""

    def __init__(self, rows: list[dict], pad_id: int, batch_size: int, seed: int) -> None:
        if not rows:
            raise ValueError("PairStream needs at least one pair")
        self.rows, self.collate = rows, DialogueCollator(pad_id)
        self.indices = BatchStream(len(rows), batch_size, seed, last="fill")

    @classmethod
    def from_dataset(cls, ds: Dataset, pad_id: int, batch_size: int, seed: int) -> PairStream:
        return cls(pair_rows(ds), pad_id, batch_size, seed)

    def next(self) -> dict[str, torch.Tensor]:
        return self.collate([self.rows[i] for i in self.indices.next()])

    def state_dict(self) -> dict[str, int]:
        return self.indices.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.indices.load_state_dict(state)


def to_context(batch: dict[str, torch.Tensor]) -> Context:
    return Context(ids=batch["context_ids"], mask=batch["context_mask"])


def to_replies(batch: dict[str, torch.Tensor]) -> Replies:
    return Replies(ids=batch["reply_ids"], mask=batch["reply_mask"])
