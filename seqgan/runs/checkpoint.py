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

import io
import logging
import os
import pickle
import random
import shutil
import stat
import tempfile
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from seqgan.errors import CheckpointError, OutputError
from seqgan.runs.paths import is_disk_full

STATE_FILE = "state.pt"

logger = logging.getLogger(__name__)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _make_parents(directory: Path) -> None:
    """Create ``directory`` (and its parents) when missing, saying so in the log."""
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True)
        logger.info("created directory %s", directory)


@contextmanager
def atomic_file(path: Path, mode: str = "w") -> Iterator[IO]:
    """Yield a handle on a temporary file beside ``path``; on success it replaces ``path`` in one step (with the
    replaced file's permissions, else the usual ones under the umask), on error or Ctrl-C it is deleted and
    ``path`` is untouched. Missing parent directories are created (and logged)."""
    path = Path(path)
    _make_parents(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        permissions = stat.S_IMODE(path.stat().st_mode) if path.is_file() else 0o666 & ~_umask()
        os.chmod(tmp, permissions)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as handle:
        handle.write(text)


def _write_bytes(path: Path, data: bytes) -> None:
    """Write serialized bytes with Python's own I/O, so a full disk is an ``OSError(ENOSPC)`` and not a native
    library's message."""
    with open(path, "wb") as handle:
        handle.write(data)


@contextmanager
def atomic_directory(path: Path, label: str = "") -> Iterator[Path]:
    """Yield a staging directory; on success it replaces ``path`` in one step, on error it is deleted.

    The previous directory (if any) is moved aside first and removed only after the new one is in place, so at
    every instant either the old or the new checkpoint is complete on disk. ``label`` (e.g. ``"step 30"``) is
    kept in the COMPLETE marker (:func:`checkpoint_label`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # a run directory's own layout: nothing to report
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        os.chmod(staging, 0o777 & ~_umask())
        yield staging
        (staging / "COMPLETE").write_text(f"ok\n{label}\n" if label else "ok\n")
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
    _write_bytes(Path(path), safetensors_bytes(tensors))


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
    buffer = io.BytesIO()
    torch.save(state, buffer)
    _write_bytes(Path(path), buffer.getbuffer())


def load_state(path: Path) -> dict[str, Any]:
    """Read :func:`save_state` output with ``weights_only=True``; never executes pickled code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: training state not found")
    try:
        with warnings.catch_warnings():  # torch's own advice on unpickling is not for our users
            warnings.simplefilter("ignore")
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # a pickle asking for code (a class, a function) that weights_only refuses
        raise CheckpointError(f"{path}: not a seqgan training state; refusing to unpickle it") from None
    except Exception as err:  # torch raises several types for truncated/corrupt zips
        raise CheckpointError(f"{path}: corrupt or truncated training state ({type(err).__name__})") from None


def check_complete(path: Path) -> None:
    """Raise CheckpointError unless ``path`` is a checkpoint directory written completely by atomic_directory."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: checkpoint directory not found")
    if not (path / "COMPLETE").is_file():
        raise CheckpointError(f"{path}: incomplete checkpoint (no COMPLETE marker)")


def checkpoint_label(path: Path) -> str:
    """The ``label`` a complete checkpoint at ``path`` was written with ("" when none or no checkpoint)."""
    try:
        lines = (Path(path) / "COMPLETE").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    return lines[1].strip() if len(lines) > 1 else ""


def write_checkpoint(path: Path, writer: Callable[[Path], None], label: str = "") -> None:
    """Run ``writer(staging_dir)`` and atomically publish the result at ``path``; ``label`` (e.g. ``"step 30"``)
    names it in messages. A full disk is an :class:`OutputError` saying which checkpoint is still intact."""
    previous = checkpoint_label(path) if (Path(path) / "COMPLETE").is_file() else None
    try:
        with atomic_directory(path, label) as staging:
            writer(staging)
    except Exception as err:
        if not is_disk_full(err):
            raise
        if previous is None:
            kept = "no checkpoint was written yet; free space and start the run again"
        else:
            kept = f"the last checkpoint{' at ' + previous if previous else ''} is intact, free space and run with --resume"
        raise OutputError(f"no space left on {Path(path).parent}; {kept}") from None


def save_checkpoint(path: Path, modules: dict[str, torch.nn.Module], state: dict[str, Any], label: str = "") -> None:
    """Atomically write the checkpoint directory ``path``: ``<name>.safetensors`` for each of ``modules`` and
    ``state`` (tensors and python primitives: optimisers, counters, RNG states) as ``state.pt``; ``label`` as in
    :func:`write_checkpoint`."""

    def writer(staging: Path) -> None:
        for name, module in modules.items():
            save_module(module, staging / f"{name}.safetensors")
        save_state(staging / STATE_FILE, state)

    write_checkpoint(path, writer, label)


def load_checkpoint(path: Path, modules: dict[str, torch.nn.Module]) -> dict[str, Any]:
    """Load the weights of a :func:`save_checkpoint` directory into ``modules`` and return its state; an
    incomplete directory, a missing or corrupt file or a shape mismatch is a :class:`CheckpointError`."""
    path = Path(path)
    check_complete(path)
    for name, module in modules.items():
        load_module(module, path / f"{name}.safetensors")
    return load_state(path / STATE_FILE)
