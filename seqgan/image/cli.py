"""``seqgan image ...``: train a variant, sample a trained run, run the results table.

Wired into the ``seqgan`` command as ``EXTERNAL_COMMANDS["image"] = "seqgan.image.cli:COMMAND"``; ``python -m
seqgan.image.cli ...`` runs it on its own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from seqgan.command import Command, list_config_fields


def add_image_arguments(p: argparse.ArgumentParser) -> None:
    """``image``'s own sub-commands ``train``, ``sample`` and ``benchmark``."""
    add_subcommands(p.add_subparsers(dest="image_command", metavar="IMAGE_COMMAND", required=True))


COMMAND = Command(help="image GANs on small images (gan, cgan, stackgan, pix2pix, vae, energy)",
                  description="Image-GAN submodule: the adversarial ideas of seqgan on images.",
                  add_arguments=add_image_arguments)


def add_subcommands(subparsers) -> None:
    t = subparsers.add_parser("train", help="train one variant in a run directory")
    t.add_argument("--variant", choices=["gan", "cgan", "stackgan", "pix2pix", "vae", "energy"], default=None,
                   help="model family (default: recipes/image_<variant>.yaml's, else gan)")
    t.add_argument("--config", metavar="FILE", default=None,
                   help="YAML config (default: recipes/image_<variant>.yaml when found)")
    t.add_argument("--resume", action="store_true", help="continue the run in output_dir from its checkpoint")
    t.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.steps=500")
    t.set_defaults(handler=_run_train, accepts_overrides=True)
    list_config_fields(t, "seqgan.image.config:ImageConfig")

    s = subparsers.add_parser("sample", help="write a grid of samples of a trained run")
    s.add_argument("run_dir", metavar="RUN_DIR")
    s.add_argument("--n", type=int, default=64, help="number of images")
    s.add_argument("--out", default=None, help="PNG path (default: RUN_DIR/grid.png)")
    s.add_argument("--label", type=int, default=None, help="class to draw (conditional variants)")
    s.add_argument("--seed", type=int, default=0, help="noise seed")
    s.set_defaults(handler=_run_sample)

    b = subparsers.add_parser("benchmark", help="train every variant (Fashion-MNIST when installed, else the "
                                                "digits); write docs/image/RESULTS.md and the grids")
    b.add_argument("--out-dir", default="docs/image", help="where RESULTS.md and the grids go")
    b.add_argument("--runs", default="runs/image_benchmark", help="run directories")
    b.add_argument("--scale", type=float, default=1.0, help="multiply every step budget (e.g. 0.1 for a smoke run)")
    b.add_argument("--data", choices=["auto", "fashion-mnist", "digits"], default="auto",
                   help="auto: 28x28 Fashion-MNIST when its Debian package is installed, else the 8x8 digits")
    b.add_argument("--only", nargs="+", metavar="ROW", default=None, help="train only these rows (e.g. cgan-joint)")
    b.add_argument("--reuse", action="store_true",
                   help="read rows whose run directory holds a finished run of the same config instead of training")
    b.set_defaults(handler=_run_benchmark)


def _recipe(variant: str) -> Path | None:
    from seqgan.cli import find_recipe

    return find_recipe(f"image_{variant}.yaml")


def _run_train(args: argparse.Namespace) -> int:
    from seqgan.config import load_config
    from seqgan.image.config import ImageConfig
    from seqgan.image.loop import train

    overrides = list(args.overrides or [])
    if args.variant:
        overrides = [f"variant={args.variant}"] + overrides
    path = args.config or _recipe(args.variant or "gan")
    cfg = load_config(ImageConfig, path, overrides)
    result = train(cfg, resume=args.resume)
    print(" ".join(f"{k}={v}" for k, v in result.items()))
    print(f"run: {cfg.output_dir}")
    return 0


def _run_sample(args: argparse.Namespace) -> int:
    import torch

    from seqgan.errors import ConfigError
    from seqgan.image.loop import load_run, write_samples

    cfg, data, variant = load_run(args.run_dir)
    if args.n < 1:
        raise ConfigError(f"--n: expected a positive number of images, got {args.n}")
    labels = None
    if args.label is not None:
        if not 0 <= args.label < data.num_classes:
            raise ConfigError(f"--label: expected a class in 0..{data.num_classes - 1}, got {args.label}")
        labels = torch.full((args.n,), args.label, dtype=torch.long)
    torch.manual_seed(args.seed)
    out = Path(args.out) if args.out else Path(args.run_dir) / "grid.png"
    write_samples(variant, out, args.n, labels)
    print(out)
    return 0


def _run_benchmark(args: argparse.Namespace) -> int:
    from seqgan.image.benchmark import run_benchmark

    run_benchmark(Path(args.out_dir), Path(args.runs), args.scale, args.data, args.only, args.reuse)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (same behaviour as ``seqgan image ...``)."""
    from seqgan.cli import parse_args
    from seqgan.errors import SeqGANError
    from seqgan.offline import enable_offline

    enable_offline()
    parser = argparse.ArgumentParser(prog="seqgan image")
    add_image_arguments(parser)
    try:
        args = parse_args(parser, sys.argv[1:] if argv is None else list(argv))
        return int(args.handler(args) or 0)
    except SeqGANError as err:
        print(f"seqgan: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
