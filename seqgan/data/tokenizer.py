"""The run's tokenizer: a byte-level BPE tokenizer trained on the training split (a from-scratch generator), or the
pretrained model's own (``generator.init_from``); saved in the run directory with its chat template."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from seqgan.errors import CheckpointError
from seqgan.models.chat_format import default_chat_template

SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                  "sep_token": "<sep>"}


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Train byte-level BPE on ``texts`` (deterministic for the same input) with pad/bos/eos/unk/sep tokens and
    seqgan's chat template (a context's turns joined by the sep token)."""
    core = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, **SPECIAL_TOKENS)
    tokenizer.chat_template = default_chat_template(tokenizer, generation_prompt=False)
    return tokenizer


def load_tokenizer(directory: str | Path):
    """Load a run's tokenizer saved with ``save_pretrained`` (local files only); a missing or corrupt one, or one
    without eos / pad tokens, is a CheckpointError."""
    from transformers import AutoTokenizer

    directory = Path(directory)
    if not (directory / "tokenizer.json").is_file():
        raise CheckpointError(f"{directory}: no tokenizer found (expected tokenizer.json)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)
    except Exception as err:
        raise CheckpointError(f"{directory}: corrupt tokenizer ({type(err).__name__})") from None
    missing = [name for name in ("eos_token", "pad_token") if getattr(tokenizer, name) is None]
    if missing:
        raise CheckpointError(f"{directory}: tokenizer lacks special tokens {missing}")
    return tokenizer


def decode_ids(tokenizer, ids, mask) -> list[str]:
    """(N, T) token ids and their mask (tensors or nested lists) -> N strings: the masked-in tokens decoded, special
    tokens dropped, surrounding whitespace stripped. The one ids-to-text path of evaluation, comparison and chat."""
    ids = ids.tolist() if hasattr(ids, "tolist") else ids
    mask = mask.tolist() if hasattr(mask, "tolist") else mask
    rows = [[int(t) for t, m in zip(row, row_mask) if m] for row, row_mask in zip(ids, mask)]
    return [text.strip() for text in tokenizer.batch_decode(rows, skip_special_tokens=True)]
