"""Where a command writes: output paths checked before any work is done, and the "disk full" diagnosis.

Every command that writes a user-given path calls :func:`check_output_file` (``seqgan generate -o``, ``seqgan eval
--output``, the chat's ``/save``) or :func:`check_output_dir` (``output_dir`` of ``seqgan pretrain``, the run
directory of ``seqgan train``) first, so a path it cannot write is a one-line :class:`~seqgan.errors.OutputError`
before minutes of computing, not a traceback after them. Missing parent directories are created when the output is
written, and the log says so.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from seqgan.errors import OutputError


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe(directory: Path) -> OSError | None:
    """Create and delete a file in ``directory``: the error that gives, or None when it is writable."""
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".seqgan-write-check-")
    except OSError as err:
        return err
    os.close(fd)
    os.unlink(tmp)
    return None


def _reason(err: OSError) -> str:
    if err.errno == errno.ENOENT:  # an existing directory that takes no new files (/proc, /sys)
        return "it takes no new files"
    return (err.strerror or str(err)).lower()


def _writable_parent(path: Path, what: str) -> None:
    """Raise unless the directories that will hold ``path`` exist or can be created, and can be written."""
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise OutputError(f"{what}: {base} is not a directory; choose another path")
    err = _probe(base)
    if err is not None:
        raise OutputError(f"{what}: cannot write in {base} ({_reason(err)}); choose another path")


def check_output_file(path: str | Path, what: str) -> Path:
    """Refuse an output file ``path`` that cannot be written (``what`` names the option, e.g. ``--output``).

    A directory, a device or other non-regular file, a read-only file (no write permission bit: it is not
    replaced even where the user could) and a place the process cannot write in are refused. Returns ``path``.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputError(f"{what} {path}: is a directory; give the path of a file to write")
    if path.exists() and not path.is_file():
        raise OutputError(f"{what} {path}: not a regular file; give the path of a file to write")
    if path.is_file() and not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise OutputError(f"{what} {path}: the file is read-only; make it writable or choose another path")
    _writable_parent(path, f"{what} {path}")
    return path


def check_output_dir(path: str | Path, what: str) -> Path:
    """Refuse an output directory ``path`` that is a file (``/dev/null`` included) or cannot be created or
    written (read-only, under ``/proc``, no permission); ``what`` names the setting, e.g. ``output_dir``."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what}: {path} is not a directory; choose another {what}")
    if path.is_dir():
        err = _probe(path)
        if err is not None:
            raise OutputError(f"{what}: cannot write in {path} ({_reason(err)}); choose another {what}")
        return path
    _writable_parent(path / "x", f"{what} {path}")
    return path


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` reports a full disk or quota (from Python's I/O or from a native writer's message)."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(err)
    return "No space left on device" in text or "StorageFull" in text
