"""The progress bar of every trainer: tqdm on an interactive terminal, nothing in logs, CI or on other ranks."""

from __future__ import annotations

import os
import sys


def progress_bar(total: int, desc: str, initial: int = 0, enabled: bool = True, **kwargs):
    """A ``tqdm`` bar of ``total`` steps, disabled unless ``enabled``, stderr is a terminal and ``CI`` is not set
    (``1`` / ``true``). Extra ``kwargs`` go to tqdm (``unit``, ``leave`` ...)."""
    from tqdm.auto import tqdm

    shown = enabled and sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true")
    return tqdm(total=total, initial=initial, desc=desc, disable=not shown, dynamic_ncols=True, **kwargs)
