"""Crash-safe checkpoints and atomic writes shared by every trainer (text and image).

A checkpoint is a directory. It is written next to its final place under a temporary name and then swapped in with
``os.replace``, so a crash or Ctrl-C mid-write never leaves a half-written checkpoint where a good one was.

Contents (all loadable without unpickling code):

- modules: ``<name>.safetensors``,
- optimizer / scheduler / counters: ``state.pt`` read back with ``torch.load(weights_only=True)``,
- RNG states of python, numpy and torch (CPU + CUDA) inside ``state.pt`` as tensors/ints only.

:func:`save_checkpoint` / :func:`load_checkpoint` write and read such a directory; every trainer (MLE, adversarial,
oracle, image) goes through them.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from seqgan.errors import CheckpointError

STATE_FILE = "state.pt"


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file atomically (temp file in the same directory, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a staging directory; on success it replaces ``path`` in one step, on error it is deleted.

    The previous directory (if any) is moved aside first and removed only after the new one is in place, so at
    every instant either the old or the new checkpoint is complete on disk.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield staging
        (staging / "COMPLETE").write_text("ok\n")
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
        os.replace(staging, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def capture_rng() -> dict[str, Any]:
    """RNG states of python, numpy and torch as tensors/ints (loadable with ``weights_only=True``)."""
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state(
        (nps["name"], nps["keys"].numpy().astype(np.uint32), nps["pos"], nps["has_gauss"], nps["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_module(module: torch.nn.Module, path: Path) -> None:
    """Weights of ``module`` as safetensors (shared tensors are stored once per name, contiguous)."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    # safetensors refuses tensors that share memory: clone the duplicates
    seen: dict[int, str] = {}
    for key, value in tensors.items():
        ptr = value.data_ptr()
        if ptr in seen and value.numel() > 0:
            tensors[key] = value.clone()
        seen[ptr] = key
    save_file(tensors, str(path))


def load_module(module: torch.nn.Module, path: Path, strict: bool = True) -> None:
    """Load safetensors weights into ``module``; a corrupt file or a shape mismatch is a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({err})") from None
    try:
        module.load_state_dict(tensors, strict=strict)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise CheckpointError(f"{path}: weights do not fit this model ({detail})") from None


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write a dict of tensors / python primitives (optimizer and scheduler state_dicts, counters, RNG)."""
    torch.save(state, str(path))


def load_state(path: Path) -> dict[str, Any]:
    """Read :func:`save_state` output with ``weights_only=True``; never executes pickled code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: training state not found")
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated/corrupt zips
        raise CheckpointError(f"{path}: corrupt or truncated training state ({type(err).__name__})") from None


def check_complete(path: Path) -> None:
    """Raise CheckpointError unless ``path`` is a checkpoint directory written completely by atomic_directory."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: checkpoint directory not found")
    if not (path / "COMPLETE").is_file():
        raise CheckpointError(f"{path}: incomplete checkpoint (no COMPLETE marker)")


def write_checkpoint(path: Path, writer: Callable[[Path], None]) -> None:
    """Run ``writer(staging_dir)`` and atomically publish the result at ``path``."""
    with atomic_directory(path) as staging:
        writer(staging)


def save_checkpoint(path: Path, modules: dict[str, torch.nn.Module], state: dict[str, Any]) -> None:
    """Atomically write the checkpoint directory ``path``: ``<name>.safetensors`` for each of ``modules`` and
    ``state`` (tensors and python primitives: optimisers, counters, RNG states) as ``state.pt``."""

    def writer(staging: Path) -> None:
        for name, module in modules.items():
            save_module(module, staging / f"{name}.safetensors")
        save_state(staging / STATE_FILE, state)

    write_checkpoint(path, writer)


def load_checkpoint(path: Path, modules: dict[str, torch.nn.Module]) -> dict[str, Any]:
    """Load the weights of a :func:`save_checkpoint` directory into ``modules`` and return its state; an
    incomplete directory, a missing or corrupt file or a shape mismatch is a :class:`CheckpointError`."""
    path = Path(path)
    check_complete(path)
    for name, module in modules.items():
        load_module(module, path / f"{name}.safetensors")
    return load_state(path / STATE_FILE)
