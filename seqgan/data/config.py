"""Configuration of the dialogue data pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from seqgan.config import check_fields, field

FORMATS = ("auto", "jsonl", "csv", "tsv", "text", "hf_disk")


@dataclass
class DataConfig:
    source: str = field("chitchat", help="'chitchat' (the embedded corpus) or a path to a JSONL/CSV/TSV/text file "
                                         "or a directory saved with datasets.save_to_disk")
    format: str = field("auto", choices=FORMATS, help="auto | jsonl | csv | tsv | text | hf_disk (auto: by file "
                                                      "extension)")
    context_column: str = field("context", help="column holding the context (a string, or a list of turns)")
    reply_column: str = field("reply", help="column holding the reply")
    turns_column: str = field("turns", help="column holding a whole conversation as a list of turns")
    conversation_column: str = field("", help="optional CSV/TSV/JSONL column grouping rows into conversations: "
                                              "with a context column it keeps a conversation's pairs in one split; "
                                              "without one, each row is one turn (its reply column) and a "
                                              "conversation's rows, in file order, are its turns")
    max_context_turns: int = field(3, ge=1, help="context = the last k turns before the reply")
    max_context_tokens: int = field(64, ge=1, help="contexts are left-truncated to this many tokens")
    max_reply_tokens: int = field(24, ge=2, help="replies are capped to this many tokens, end-of-sequence included")
    valid_fraction: float = field(0.02, gt=0, lt=0.5, help="fraction of conversations held out for validation")
    test_fraction: float = field(0.02, gt=0, lt=0.5, help="fraction of conversations held out for testing")
    split_seed: int = field(0, help="seed of the split by conversation")
    max_train_pairs: int = field(0, ge=0, help="0 = all; > 0 subsamples the training pairs (seeded) for quick runs")
    max_eval_pairs: int = field(0, ge=0, help="0 = all; > 0 subsamples the valid/test pairs (seeded)")
    vocab_size: int = field(8000, ge=1, help="BPE vocabulary size, special tokens included")
    min_frequency: int = field(2, help="minimum pair frequency for a BPE merge")

    def validate(self) -> None:
        check_fields(self, "data")
