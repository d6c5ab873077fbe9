""":class:`Command`, one subcommand of the ``seqgan`` entry point (:mod:`seqgan.cli`), in a module of its own so
that the modules defining subcommands import it without importing the entry point."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

Builder = Callable[[argparse.ArgumentParser], None]
"""``add_arguments(parser)``: adds a subcommand's arguments and sets its ``handler`` default."""


@dataclass(frozen=True)
class Command:
    """One subcommand: the line ``seqgan --help`` shows, the paragraph ``seqgan NAME --help`` shows, its builder."""

    help: str
    description: str
    add_arguments: Builder


class HelpParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose help can end with a listing of config fields (:func:`list_config_fields`),
    built only when the help is printed (the config classes import torch and transformers)."""

    config_listing: Callable[[], str] | None = None

    def format_help(self) -> str:
        text = super().format_help()
        if self.config_listing is not None:
            text += "\n" + self.config_listing()
        return text


def load_object(target: str):
    """The object ``"module.path:Name"`` names."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def list_config_fields(parser: argparse.ArgumentParser, target: str, sections: Collection[str] | None = None,
                       note: str = "") -> None:
    """End ``parser``'s help (a :class:`HelpParser`) with every field of the config dataclass ``target``
    (``"module.path:Class"``) -- key=default, help, type and bounds, from the fields' metadata
    (:func:`seqgan.config.describe_fields`); ``sections``: only these top-level sections."""

    def listing() -> str:
        from seqgan.config import describe_fields

        import shutil
        import textwrap

        head = ("config keys (key=default, then what the key means and accepts): set them as key=value after "
                "the command or in the YAML file; `seqgan config show` prints a resolved config"
                + (f". {note}" if note else ""))
        width = max(70, shutil.get_terminal_size().columns - 2)
        return textwrap.fill(head, width) + "\n\n" + describe_fields(load_object(target), sections, width)

    parser.config_listing = listing


def add_resume_argument(parser: argparse.ArgumentParser, latest: str, kept: str) -> None:
    """``--resume [CHECKPOINT]``: ``args.resume`` is False, True (continue from ``latest``) or a checkpoint
    directory's path (one of the ``kept`` ones). :func:`split_resume` keeps a bare ``--resume`` from swallowing the
    ``key=value`` override or the run directory that follows it."""
    parser.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                        help=f"continue exactly from the latest checkpoint ({latest}), or from CHECKPOINT, a "
                             f"checkpoint directory ({kept})")
    parser.resume_takes_path = True  # read by seqgan.cli.build_parser


def split_resume(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--resume X`` written ``--resume= X`` where X is not a checkpoint but a ``key=value``
    override or a run directory (it holds config.yaml), so that X stays where it was."""
    out = list(argv)
    for i, token in enumerate(out[:-1]):
        if token != "--resume":
            continue
        nxt = out[i + 1]
        if ("=" in nxt and not Path(nxt).exists()) or (Path(nxt) / "config.yaml").is_file():
            out[i] = "--resume="
    return out
