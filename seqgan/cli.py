"""The ``seqgan`` command: one subcommand per job (quickstart, pretrain, train, eval, generate, chat, oracle,
image). ``python -m seqgan.cli ...`` and ``accelerate launch -m seqgan.cli ...`` run the same entry point, and so do
the thin scripts ``recipes/train_chatbot.py`` / ``recipes/train_adversarial.py``.

Subcommands live in a registry: a :class:`seqgan.command.Command` is a one-line ``help``, a ``description``
and a builder ``add_arguments(parser)`` that adds the arguments and sets ``handler`` (a function ``(args) -> int | None``) with
``set_defaults``. Heavy imports (torch, transformers) happen inside handlers, so ``seqgan --help`` is instant.

Adding a subcommand from another module::

    # seqgan/adversarial/cli.py
    def add_arguments(parser):
        parser.add_argument("run_dir", type=Path)
        parser.set_defaults(handler=_run_train)

    COMMAND = Command("adversarial fine-tuning of a pretrained run", "Fine-tune ...", add_arguments)

    # and one line in this file's EXTERNAL_COMMANDS:  "train": "seqgan.adversarial.cli:COMMAND"

or, inside this file, decorate the builder with ``@command("name", help, description)``. Subcommands that take
``key=value`` config overrides get them in ``args.overrides`` wherever they appear on the command line.

Errors a user can cause (:class:`~seqgan.errors.SeqGANError`) print one line ``seqgan: error: <message>`` and exit
with status 2; Ctrl-C exits with status 130 and SIGTERM with 143, without a traceback (both let a trainer save its
checkpoint first).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from seqgan.command import Builder, Command, HelpParser, add_resume_argument, list_config_fields, split_resume
from seqgan.errors import ConfigError, SeqGANError
from seqgan.generate import GENERATORS

COMMANDS: dict[str, Command] = {}
"""Subcommands defined in this file, in the order they appear in ``seqgan --help``."""

EXTERNAL_COMMANDS: dict[str, str] = {
    # "name": "module.path:COMMAND" (a Command) -- imported when the parser is built; keep those modules light.
    "train": "seqgan.adversarial.cli:COMMAND",
    "oracle": "seqgan.oracle.cli:COMMAND",
    "image": "seqgan.image.cli:COMMAND",
}

DEFAULT_RECIPE = "chat_cpu.yaml"
CHATBOT_CONFIG = "seqgan.chatbot:ChatbotConfig"
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

logger = logging.getLogger("seqgan")


def command(name: str, help: str, description: str) -> Callable[[Builder], Builder]:  # noqa: A002 (argparse's name)
    """Register the decorated ``add_arguments(parser)`` as the subcommand ``name``."""

    def register(builder: Builder) -> Builder:
        COMMANDS[name] = Command(help, description, builder)
        return builder

    return register


# --------------------------------------------------------------------------- shared argument groups
def find_recipe(name: str = DEFAULT_RECIPE) -> Path | None:
    """The repository's ``recipes/<name>``: next to the installed package's project root, then under the current
    directory; None when neither exists."""
    candidates = [Path(__file__).resolve().parent.parent / "recipes" / name, Path.cwd() / "recipes" / name]
    for path in candidates:
        if path.is_file():
            return path
    return None


def add_config_arguments(parser: argparse.ArgumentParser, default_recipe: str | None = None,
                         resume: bool = True) -> None:
    """``--config FILE``, ``--resume`` and trailing ``key=value`` overrides (see :func:`load_chatbot_config`)."""
    default_note = (f" (default: recipes/{default_recipe} from the repository, else the built-in defaults)"
                    if default_recipe else "")
    parser.add_argument("--config", metavar="FILE", default=None, required=default_recipe is None,
                        help=f"YAML config (may name a 'base:' config it extends){default_note}")
    if resume:
        add_resume_argument(parser, "output_dir's checkpoints/last", "checkpoints/step-NNNNNN, kept by "
                                                                   "mle.save_total_limit")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, e.g. mle.lr=3e-4 data.max_context_turns=2 output_dir=runs/mine")
    parser.set_defaults(default_recipe=default_recipe, accepts_overrides=True)
    list_config_fields(parser, CHATBOT_CONFIG)


def load_chatbot_config(args: argparse.Namespace, cls: type | None = None) -> Any:
    """The run config from ``args.config`` (or the default recipe) and ``args.overrides``.

    ``cls`` defaults to :class:`seqgan.mle.config.ChatbotConfig`. Without ``--config`` the repository's default
    recipe is used when it can be found, else the dataclass defaults (a note goes to the log).
    """
    from seqgan.config import load_config

    if cls is None:
        from seqgan.chatbot import ChatbotConfig as cls  # noqa: N813
    path = args.config
    if path is None and getattr(args, "default_recipe", None):
        found = find_recipe(args.default_recipe)
        if found is None:
            logger.warning("recipes/%s not found (not in a repository checkout?): using the built-in defaults",
                           args.default_recipe)
        path = found
    return load_config(cls, path, list(args.overrides or []))


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    """Decoding options shared by ``generate`` and ``chat`` (see :class:`seqgan.generate.DecodingOptions`); each
    one left out keeps the run's saved default (its ``generation_config.json``)."""
    from seqgan.generate import MODES, DecodingOptions

    d = DecodingOptions()
    saved = "the run's generation_config.json, else"
    g = parser.add_argument_group("decoding (defaults: the run's generation_config.json)")
    g.add_argument("--mode", choices=MODES, default=None,
                   help=f"greedy, sampling (temperature/top-k/top-p) or beam search (default: {saved} {d.mode})")
    g.add_argument("--temperature", type=float, default=None,
                   help=f"sampling temperature > 0 (default: {saved} {d.temperature})")
    g.add_argument("--top-k", type=int, default=None,
                   help=f"sample among the k likeliest tokens; 0 = all (default: {saved} {d.top_k})")
    g.add_argument("--top-p", type=float, default=None,
                   help=f"nucleus sampling mass in (0, 1] (default: {saved} {d.top_p})")
    g.add_argument("--beams", type=int, default=None, help=f"beam width for --mode beam (default: {saved} {d.beams})")
    g.add_argument("-n", "--num-replies", dest="n", type=int, default=None,
                   help=f"candidates per context (sample, or beam with n <= beams; default: {saved} 1)")
    g.add_argument("--max-len", type=int, default=None,
                   help="reply tokens at most (default: the run's data.max_reply_tokens)")
    g.add_argument("--no-repeat-ngram", type=int, default=None,
                   help=f"never repeat an n-gram of this size within a reply; 0 = off (default: {saved} "
                        f"{d.no_repeat_ngram})")
    g.add_argument("--seed", type=int, default=0, help="seed of the sampler (default: 0)")
    g.add_argument("--generator", choices=GENERATORS, default="auto", help=GENERATOR_HELP)


GENERATOR_HELP = ("mle: generator/, adv: generator_adv/ (after `seqgan train`), best: generator_best/ (the best "
                  "evaluation by mle/adversarial.best_metric), auto: adv when present, else mle (default: auto)")
DECODING_ARGS = ("mode", "temperature", "top_k", "top_p", "beams", "n", "max_len", "no_repeat_ngram")


def decoding_from_args(args: argparse.Namespace):
    """:class:`seqgan.generate.DecodingOptions`: the run's saved defaults (``args.run_dir``'s
    ``generation_config.json``) with the options given on the command line set over them (validated)."""
    from seqgan.generate import load_decoding

    given = {name: str(getattr(args, name)) for name in DECODING_ARGS if getattr(args, name) is not None}
    return load_decoding(args.run_dir).updated(given)


def _run_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path,
                        help="a run directory written by `seqgan pretrain` / `seqgan quickstart`")


# --------------------------------------------------------------------------- subcommands
@command("quickstart", help="train the default chatbot, evaluate it and show sample replies",
         description="Prepare the data, pretrain the chatbot by MLE, evaluate it on the test split and print "
                     "sample replies to held-out contexts. About 10 minutes on 2 CPU cores with the default recipe.")
def _add_quickstart(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p, default_recipe=DEFAULT_RECIPE)
    p.set_defaults(handler=_run_quickstart)


def _run_quickstart(args: argparse.Namespace) -> int:
    from seqgan.quickstart import run_quickstart

    if args.resume not in (True, False):
        raise ConfigError(f"--resume {args.resume}: the quickstart resumes from its latest checkpoints only; "
                          "continue one stage from a kept checkpoint with `seqgan pretrain` / `seqgan train` "
                          "--resume CHECKPOINT")
    run_quickstart(load_chatbot_config(args), resume=args.resume)
    return 0


@command("pretrain", help="MLE pretraining of a chatbot into a run directory",
         description="Maximum-likelihood pretraining of the seq2seq chatbot. Everything the run produces (resolved "
                     "config, tokenizer, generator, checkpoints, metrics) goes to output_dir. Ctrl-C saves a "
                     "checkpoint; --resume continues from it.")
def _add_pretrain(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p, default_recipe=None)
    # each process appends `rank world_size weight_checksum` to FILE at the end (the multi-process test reads it)
    p.add_argument("--rank-report", default=None, metavar="FILE", help=argparse.SUPPRESS)
    p.set_defaults(handler=_run_pretrain)


def _run_pretrain(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from seqgan.mle.trainer import train_mle

    run = train_mle(load_chatbot_config(args), resume=args.resume, rank_report=args.rank_report)
    if PartialState().is_main_process:
        print(run.path)
    return 0


@command("eval", help="evaluate a run: perplexity, BLEU, distinct-n, reply length, sample replies",
         description="Evaluate the run's generator on a held-out split; prints the metrics and writes them as "
                     "JSON (default RUN_DIR/eval_<split>.json).")
def _add_eval(p: argparse.ArgumentParser) -> None:
    _run_dir_argument(p)
    p.add_argument("--split", choices=("valid", "test"), default="test", help="held-out split (default: test)")
    p.add_argument("--num", type=int, default=0, metavar="N",
                   help="evaluate on the first N pairs of the split; 0 = the run's eval setting (default: 0)")
    p.add_argument("--output", type=Path, default=None, metavar="FILE",
                   help="where to write the metrics JSON (default: RUN_DIR/eval_<split>.json)")
    p.add_argument("--generator", choices=GENERATORS, default="auto", help=GENERATOR_HELP)
    p.set_defaults(handler=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    import json

    from seqgan.data import prepare_data
    from seqgan.generate import load_chatbot
    from seqgan.mle.evaluate import evaluate_generator, format_samples, held_out_pairs
    from seqgan.runs.checkpoint import atomic_write_text
    from seqgan.runs.paths import check_output_file

    if args.num < 0:
        raise ConfigError(f"--num: expected 0 (the run's setting) or a positive count, got {args.num}")
    policy, tokenizer, cfg = load_chatbot(args.run_dir, args.generator)
    output = check_output_file(args.output or args.run_dir / f"eval_{args.split}.json", "--output")
    data = held_out_pairs(cfg, tokenizer, prepare_data(cfg.data), args.split, args.num or None)
    metrics = evaluate_generator(policy, tokenizer, data, cfg.eval, split=args.split, num=args.num or None)
    atomic_write_text(output, json.dumps(metrics, indent=2, default=str) + "\n")
    for key, value in metrics.items():
        if isinstance(value, (int, float, str)):
            print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    if metrics.get("samples"):
        print("samples:")
        print(format_samples(metrics["samples"]))
    logger.info("metrics written to %s", output)
    return 0


@command("generate", help="batch replies for a file of contexts (JSONL or plain text)",
         description='Reply to every context of --input: JSONL with {"context": "..." or ["turn", ...]} per line, or '
                     "a plain text file with one context per line. Writes JSONL "
                     '{"context": [...], "reply": "..."} (or "replies": [...] with -n > 1), atomically.')
def _add_generate(p: argparse.ArgumentParser) -> None:
    _run_dir_argument(p)
    p.add_argument("--input", "-i", type=Path, required=True, metavar="FILE", help="contexts (JSONL or text)")
    p.add_argument("--output", "-o", type=Path, default=None, metavar="FILE",
                   help="output JSONL (default: standard output)")
    p.add_argument("--batch-size", type=int, default=32, help="contexts per model call (default: 32)")
    p.add_argument("--format", choices=("auto", "jsonl", "text"), default="auto",
                   help="input format; auto: .jsonl/.json -> jsonl, anything else -> text (default: auto)")
    add_decoding_arguments(p)
    p.set_defaults(handler=_run_generate)


def _run_generate(args: argparse.Namespace) -> int:
    from seqgan.generate import generate_file

    if args.batch_size <= 0:
        raise ConfigError(f"--batch-size: expected a positive integer, got {args.batch_size}")
    opts = decoding_from_args(args)
    count = generate_file(args.run_dir, args.input, args.output, opts, batch_size=args.batch_size,
                          seed=args.seed, input_format=args.format, generator=args.generator)
    logger.info("answered %d contexts%s", count, f" to {args.output}" if args.output else "")
    return 0


@command("chat", help="interactive multi-turn chat with a trained run (/help lists the commands)",
         description="Chat with the run's generator. The last data.max_context_turns turns are the context. "
                     "With piped input, each line is one user turn and each output line one reply "
                     "(printf 'hi\\nhow are you?\\n' | seqgan chat RUN_DIR).")
def _add_chat(p: argparse.ArgumentParser) -> None:
    _run_dir_argument(p)
    p.add_argument("--no-scores", action="store_true",
                   help="do not show the discriminator's score per reply even if the run has one")
    add_decoding_arguments(p)
    p.set_defaults(handler=_run_chat)


def _run_chat(args: argparse.Namespace) -> int:
    from seqgan.chat.repl import run_chat

    return run_chat(args.run_dir, decoding_from_args(args), seed=args.seed, scores=not args.no_scores,
                    generator=args.generator)


@command("serve", help="web chat with a trained run in the browser (extra seqgan[serve])",
         description="Serve a web chat (Gradio) with the run on http://HOST:PORT: every generator of the run (MLE, "
                     "adversarial, best) answers each message side by side, with the decoding settings of `seqgan "
                     "chat` and D's score of each reply when the run has a discriminator. Ctrl-C stops it.")
def _add_serve(p: argparse.ArgumentParser) -> None:
    _run_dir_argument(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; 0.0.0.0 serves other machines too (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler (default: 0)")
    p.add_argument("--no-scores", action="store_true", help="do not load the discriminator for scores")
    p.set_defaults(handler=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from seqgan.chat.web import require_gradio, serve

    if not 0 < args.port < 65536:
        raise ConfigError(f"--port: expected a port number from 1 to 65535, got {args.port}")
    require_gradio()
    try:
        serve(args.run_dir, host=args.host, port=args.port, seed=args.seed, scores=not args.no_scores)
    except OSError as err:
        if err.errno not in (None, errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        raise ConfigError(f"--host {args.host} --port {args.port}: cannot listen there ({err}); choose another "
                          "port") from None
    return 0


CONFIG_KINDS = {"chatbot": CHATBOT_CONFIG, "oracle": "seqgan.oracle.config:OracleConfig",
                "image": "seqgan.image.config:ImageConfig"}
"""The config dataclasses ``seqgan config show`` knows: a chatbot run, the oracle benchmark, an image run."""


@command("config", help="show a resolved config (defaults <- YAML file <- key=value overrides)",
         description="`seqgan config show` prints the config a command would run with, as YAML: the built-in "
                     "defaults, then --config FILE (or a run directory's config.yaml), then key=value overrides, "
                     "checked as the training commands check them. `seqgan COMMAND --help` lists every key.")
def _add_config(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="config_command", metavar="CONFIG_COMMAND", required=True)
    s = sub.add_parser("show", help="print a resolved config as YAML",
                       description="Print the resolved config as YAML (it loads back as a --config file).")
    s.add_argument("--config", metavar="FILE", default=None,
                   help="YAML config (may name a 'base:' config), or a run directory (its config.yaml); "
                        "default: the built-in defaults")
    s.add_argument("--kind", choices=("auto", *CONFIG_KINDS), default="auto",
                   help="which config: a chatbot run, the oracle benchmark or an image run; auto: the first "
                        "whose keys fit the file and the overrides (default: auto)")
    s.add_argument("--comments", action="store_true",
                   help="end every line with the key's help, type and bounds as a YAML comment")
    s.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. mle.lr=3e-4")
    s.set_defaults(handler=_run_config_show, accepts_overrides=True)


def config_kind(data: dict, overrides: Sequence[str]) -> str:
    """The first of :data:`CONFIG_KINDS` whose top-level keys include every top-level key of ``data`` and of the
    ``overrides`` ("chatbot" when none does: its error then names the unknown key)."""
    import dataclasses

    from seqgan.command import load_object

    keys = set(data) | {item.split("=", 1)[0].strip().lstrip("-").split(".", 1)[0] for item in overrides}
    for kind, target in CONFIG_KINDS.items():
        if keys <= {f.name for f in dataclasses.fields(load_object(target))}:
            return kind
    return "chatbot"


def _run_config_show(args: argparse.Namespace) -> int:
    from seqgan.command import load_object
    from seqgan.config import load_config, read_yaml_with_base, to_yaml

    path = Path(args.config) if args.config else None
    if path is not None and path.is_dir():
        if not (path / "config.yaml").is_file():
            raise ConfigError(f"--config {path}: a directory without config.yaml (not a run directory)")
        path = path / "config.yaml"
    kind = args.kind
    if kind == "auto":
        kind = config_kind(read_yaml_with_base(path) if path is not None else {}, args.overrides or [])
    cfg = load_config(load_object(CONFIG_KINDS[kind]), path, list(args.overrides or []))
    sys.stdout.write(to_yaml(cfg, comments=args.comments))
    return 0


# --------------------------------------------------------------------------- parser and entry point
def _load_external(name: str, target: str) -> Command:
    module, _, attr = target.partition(":")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise SeqGANError(f"subcommand {name}: cannot load {target} ({err})") from None
    if not isinstance(found, Command):
        raise SeqGANError(f"subcommand {name}: {target} is not a seqgan.command.Command")
    return found


def build_parser() -> argparse.ArgumentParser:
    """The full ``seqgan`` parser (every registered subcommand)."""
    parser = HelpParser(
        prog="seqgan",
        description="Adversarial text generation for dialogue: pretrain a seq2seq chatbot by MLE, fine-tune it "
                    "against a conditional discriminator, evaluate it, generate replies, chat with it.",
        epilog="Run `seqgan COMMAND --help` for the options of a command.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands = {**COMMANDS, **{name: _load_external(name, target) for name, target in EXTERNAL_COMMANDS.items()}}
    parser.resume_commands = set()
    for name, cmd in commands.items():
        sub = subparsers.add_parser(name, help=cmd.help, description=cmd.description)
        cmd.add_arguments(sub)
        if getattr(sub, "resume_takes_path", False):
            parser.resume_commands.add(name)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """Parse, letting ``key=value`` overrides appear anywhere after the subcommand (also after options), and a
    bare ``--resume`` stand before an override or the run directory."""
    argv = list(argv)
    name = next((a for a in argv if not a.startswith("-")), None)
    if name in getattr(parser, "resume_commands", ()):
        argv = split_resume(argv)
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "resume", None) == "":
        args.resume = True
    if extra:
        overrides = [a for a in extra if "=" in a and not a.startswith("-")]
        unknown = [a for a in extra if a not in overrides]
        if unknown or not getattr(args, "accepts_overrides", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = list(args.overrides or []) + overrides
    return args


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose > 1 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler._seqgan_cli = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not getattr(h, "_seqgan_cli", False)] + [handler]
    root.setLevel(level)
    for noisy in ("transformers", "datasets", "accelerate", "urllib3", "filelock", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _raise_terminated(signum, frame) -> None:
    """SIGTERM (``kill PID``, a batch scheduler's time limit) is handled like Ctrl-C: trainers save a checkpoint."""
    from seqgan.runs.interrupts import Interrupted

    raise Interrupted(clean=False, signum=signum)


# I/O errors that are the user's environment, not a bug: shown as one line like a SeqGANError
_FREE_SPACE = "free space, then run again (with --resume for a training run)"
_USER_OS_ERRORS = {errno.ENOSPC: f"no space left on the device; {_FREE_SPACE}",
                   errno.EDQUOT: f"disk quota exceeded; {_FREE_SPACE}",
                   errno.EROFS: "read-only file system; choose a writable path",
                   errno.EACCES: "permission denied; choose a path you may write"}


def exit_status(job: Callable[[], int | None], prog: str = "seqgan", interrupted: str = "") -> int:
    """Run ``job`` and turn its outcome into an exit status: its own (0 for None), 2 with a one-line
    ``PROG: error: ...`` for a :class:`SeqGANError` (or a full disk / read-only file system / permission error),
    130 after Ctrl-C and 143 after SIGTERM (printing ``interrupted`` when given).
    Shared by the ``seqgan`` command and the recipe scripts."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main_thread else None
    try:
        return int(job() or 0)
    except SeqGANError as err:
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as err:
        if err.errno not in _USER_OS_ERRORS:
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"{prog}: error: {where}{_USER_OS_ERRORS[err.errno]}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as err:
        print(interrupted, file=sys.stderr)
        return EXIT_TERMINATED if getattr(err, "signum", None) == signal.SIGTERM else EXIT_INTERRUPTED
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seqgan`` console script; returns the exit status."""
    from seqgan.offline import enable_offline

    enable_offline()
    argv = sys.argv[1:] if argv is None else argv

    def job() -> int | None:
        args = parse_args(build_parser(), argv)
        _setup_logging(args)
        return args.handler(args)

    try:
        return exit_status(job)
    except BrokenPipeError:  # `seqgan generate ... | head`: the reader left; not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at interpreter exit
        except OSError:
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
