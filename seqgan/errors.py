"""Errors a user can cause. Each carries a one-line message naming the file/field and what was expected; the CLI
prints it without a traceback and exits with status 2."""

import importlib
from types import ModuleType


class SeqGANError(Exception):
    """Base class: a problem with the user's input, not a bug in seqgan."""


class ConfigError(SeqGANError):
    """Unknown key, wrong value type or incompatible combination in a config.

    ``key`` is the dotted field the error is about when it is known (``"mle.lr"``), so the loader can say whether a
    config file or a command-line override gave the bad value."""

    def __init__(self, message: str = "", key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class DataError(SeqGANError):
    """Missing/empty/undecodable data file, missing column, conversation too short, ..."""


class CheckpointError(SeqGANError):
    """Run directory without a model, corrupt or truncated checkpoint, incompatible state."""


class OutputError(SeqGANError):
    """An output path a command cannot write: a directory where a file is expected (or the reverse), read-only,
    not permitted, or a disk that is full."""


class MissingDependencyError(SeqGANError):
    """An optional package is not installed; the message names the extra that installs it."""


def optional_import(module: str, package: str, extra: str, needed_for: str) -> ModuleType:
    """``import module``, or a one-line :class:`MissingDependencyError` such as "scikit-learn is not installed
    (needed for the digits data set); pip install 'seqgan[image]'"."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"{package} is not installed (needed for {needed_for}); "
                                     f"pip install 'seqgan[{extra}]'") from None
