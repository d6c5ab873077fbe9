"""Dialogue data: sources and formats, (context, reply) pairs split by conversation, tokenizer, batches."""

from seqgan.data.batches import (
    BatchStream,
    DialogueCollator,
    encode_context,
    encode_contexts,
    encode_pairs,
    encode_reply,
    iter_batches,
    make_loader,
    PairStream,
    pad_rows,
    to_context,
    to_replies,
)
from seqgan.data.config import DataConfig
from seqgan.data.sources import RawDialogues, load_dialogues
from seqgan.data.splits import DialogueSplits, build_pairs, conversation_pairs, split_by_conversation
from seqgan.data.tokenizer import decode_ids, load_tokenizer, train_tokenizer


def prepare_data(cfg: DataConfig) -> DialogueSplits:
    """Load ``cfg.source`` and split its (context, reply) pairs train/valid/test by conversation."""
    return split_by_conversation(load_dialogues(cfg), cfg)


__all__ = [
    "BatchStream", "DataConfig", "DialogueCollator", "DialogueSplits", "PairStream", "RawDialogues", "build_pairs",
    "conversation_pairs", "decode_ids", "encode_context", "encode_contexts", "encode_pairs", "encode_reply",
    "load_dialogues", "load_tokenizer", "iter_batches", "make_loader", "pad_rows", "prepare_data", "split_by_conversation",
    "to_context", "to_replies", "train_tokenizer",
]
