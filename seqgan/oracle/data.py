"""The synthetic oracle of the SeqGAN benchmark: a randomly initialised LSTM that defines the "true" distribution.

The oracle is an :class:`~seqgan.models.lstm.LSTMPolicy` (SeqGAN: vocabulary 5,000, embedding 32, hidden 32,
length 20) whose parameters are all drawn from N(0, 1) with a fixed seed. Its samples at temperature 1 are the
training / test data; because its density is known, a model's samples can be scored by it (NLL-oracle).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from seqgan.errors import CheckpointError, DataError
from seqgan.models.lstm import LSTMPolicy, LSTMShape
from seqgan.models.policy import Context

ORACLE_DIR = "oracle"
DATA_FILE = "oracle_data.safetensors"


def build_oracle(shape: LSTMShape, seed: int) -> LSTMPolicy:
    """An LSTM whose every parameter is drawn i.i.d. from N(0, 1) by a private generator seeded with ``seed``
    (the global RNG is untouched, so the oracle depends on ``seed`` and ``shape`` only)."""
    oracle = LSTMPolicy(shape)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for _, param in sorted(oracle.named_parameters()):
            param.copy_(torch.randn(param.shape, generator=gen))
    oracle.requires_grad_(False)
    return oracle.eval()


@torch.no_grad()
def sample_sequences(policy: LSTMPolicy, n: int, batch_size: int = 1000, seed: int | None = None) -> Tensor:
    """(n, T) token ids sampled from ``policy`` at temperature 1, ``batch_size`` rows at a time.

    With ``seed`` the global torch RNG is re-seeded first (reproducible data), and restored afterwards.
    """
    state = torch.get_rng_state() if seed is not None else None
    if seed is not None:
        torch.manual_seed(int(seed))
    try:
        out = [policy.sample(Context.empty(min(batch_size, n - i))).ids for i in range(0, n, batch_size)]
    finally:
        if state is not None:
            torch.set_rng_state(state)
    return torch.cat(out) if out else torch.zeros(0, policy.max_reply_len, dtype=torch.long)


def save_data(path: str | Path, train: Tensor, test: Tensor, valid: Tensor | None = None) -> None:
    """Oracle train/test (and optional validation) samples (N, T) as one safetensors file."""
    tensors = {"train": train.contiguous(), "test": test.contiguous()}
    if valid is not None and valid.numel():
        tensors["valid"] = valid.contiguous()
    save_file(tensors, str(path))


def load_data(path: str | Path, vocab_size: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(train, test, valid)`` token ids from :func:`save_data` (valid (0, T) when none was saved); DataError when
    missing, corrupt or out of vocabulary."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: oracle data file not found")
    try:
        tensors = load_file(str(path))
    except Exception as err:  # safetensors raises its own error type
        raise DataError(f"{path}: corrupt oracle data file ({err})") from None
    if not {"train", "test"} <= set(tensors) <= {"train", "test", "valid"}:
        raise DataError(f"{path}: expected tensors 'train', 'test' and optionally 'valid', found {sorted(tensors)}")
    train, test = tensors["train"].long(), tensors["test"].long()
    valid = tensors["valid"].long() if "valid" in tensors else train.new_zeros(0, train.shape[1])
    if vocab_size is not None:
        for name, t in (("train", train), ("test", test), ("valid", valid)):
            if t.numel() and (t.min() < 0 or t.max() >= vocab_size):
                raise DataError(f"{path}: {name} holds token ids outside [0, {vocab_size})")
    return train, test, valid


def load_oracle(directory: str | Path) -> LSTMPolicy:
    """The oracle saved in ``directory`` (``LSTMPolicy.save_pretrained``), frozen and in eval mode."""
    try:
        oracle = LSTMPolicy.from_pretrained(directory)
    except CheckpointError:
        raise
    oracle.requires_grad_(False)
    return oracle.eval()
