""":class:`Command`, one subcommand of the ``seqgan`` entry point (:mod:`seqgan.cli`), in a module of its own so
that the modules defining subcommands import it without importing the entry point."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

Builder = Callable[[argparse.ArgumentParser], None]
"""``add_arguments(parser)``: adds a subcommand's arguments and sets its ``handler`` default."""


@dataclass(frozen=True)
class Command:
    """One subcommand: the line ``seqgan --help`` shows, the paragraph ``seqgan NAME --help`` shows, its builder."""

    help: str
    description: str
    add_arguments: Builder
