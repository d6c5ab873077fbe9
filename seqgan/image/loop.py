"""The one alternating training loop shared by every image variant, plus run-directory handling.

Each iteration runs the variant's phases in order (e.g. k D-steps then g G-steps); a phase draws a batch, zeroes
its optimiser, asks the variant for the named loss terms, back-propagates the total through ``accelerate`` and
steps. Run directory ``cfg.output_dir``:

- ``config.yaml`` (resolved config), ``metrics.jsonl`` (losses every ``log_every`` steps, then the evaluation),
- ``checkpoint/`` (``model.safetensors`` + ``state.pt``: step, optimisers, batch-sampler and global RNG states),
- ``samples.png`` (and ``samples_stage1.png`` for StackGAN), ``classifier/`` (evaluation classifier cache).

Resuming restores everything in ``checkpoint/`` and continues bit-for-bit as an uninterrupted run. Ctrl-C finishes
the current iteration, saves a checkpoint and re-raises KeyboardInterrupt.
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import Any

import torch

from seqgan.config import load_config, save_config, to_dict
from seqgan.errors import CheckpointError, ConfigError
from seqgan.image.config import ImageConfig
from seqgan.image.data import ImageData, load_image_data
from seqgan.image.grid import save_grid
from seqgan.image.metrics import Evaluator, load_or_train_classifier
from seqgan.image.variants import Pix2Pix, StackGAN, Variant, build_variant, make_source
from seqgan.runs.checkpoint import (capture_rng, check_complete, load_checkpoint, load_module, restore_rng,
                                   save_checkpoint)
from seqgan.runs.progress import progress_bar
from seqgan.runs.rundir import MetricsLog

logger = logging.getLogger(__name__)


def load_data(cfg: ImageConfig) -> ImageData:
    d = cfg.data
    return load_image_data(d.source, d.image_size, d.channels, d.test_fraction, cfg.seed, d.limit)


class _StopFlag:
    """SIGINT -> set a flag the loop checks between iterations (only in the main thread)."""

    def __init__(self):
        self.stop, self._old = False, None

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread
            self._old = None
        return self

    def _handle(self, *_):
        self.stop = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _save(run: Path, variant: Variant, opts: dict, sampler: torch.Generator, step: int) -> None:
    save_checkpoint(run / "checkpoint", {"model": variant.net},
                    {"step": step, "optimizers": {k: o.state_dict() for k, o in opts.items()},
                     "sampler": sampler.get_state(), "rng": capture_rng()})


def train(cfg: ImageConfig, resume: bool = False, data: ImageData | None = None,
          evaluate_at_end: bool = True) -> dict[str, Any]:
    """Train ``cfg.variant`` in ``cfg.output_dir``; returns the final evaluation (or {} without it)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    run = Path(cfg.output_dir)
    ckpt = run / "checkpoint"
    if resume:
        check_complete(ckpt)
        saved = load_config(ImageConfig, run / "config.yaml")
        if to_dict(saved) | {"train": None} != to_dict(cfg) | {"train": None}:
            raise ConfigError(f"{run}: --resume needs the run's own config (only train.* may change); "
                              f"see {run / 'config.yaml'}")
    elif ckpt.exists():
        raise ConfigError(f"{run}: already holds a run (pass --resume to continue it, or set output_dir)")
    accelerator = Accelerator(cpu=cfg.cpu)
    set_seed(cfg.seed)
    data = data if data is not None else load_data(cfg)
    variant = build_variant(cfg, data)
    variant.net.to(accelerator.device)
    opts = variant.build_optimizers()
    sampler = torch.Generator().manual_seed(cfg.seed + 1)
    metrics = MetricsLog(run / "metrics.jsonl")
    run.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run / "config.yaml")
    start = 0
    if resume:
        state = load_checkpoint(ckpt, {"model": variant.net})
        try:
            for name, opt in opts.items():
                opt.load_state_dict(state["optimizers"][name])
            sampler.set_state(state["sampler"])
            restore_rng(state["rng"])
            start = int(state["step"])
        except (KeyError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"{ckpt / 'state.pt'}: training state does not fit this run ({err})") from None
        metrics.keep(lambda rec: "eval" not in rec and rec.get("step", 0) <= start)
    else:
        metrics.reset()
    x_all, y_all = data.train_x, data.train_y
    bar = progress_bar(cfg.train.steps, "image", initial=start, unit="step", leave=False)
    t0 = time.perf_counter()
    step = start
    with _StopFlag() as flag:
        while step < cfg.train.steps:
            record: dict[str, float] = {}
            for phase in variant.phases(step):
                for _ in range(phase.repeats):
                    idx = torch.randint(0, len(x_all), (cfg.train.batch_size,), generator=sampler)
                    x, y = x_all[idx].to(accelerator.device), y_all[idx].to(accelerator.device)
                    opt = opts[phase.optimizer]
                    opt.zero_grad(set_to_none=True)
                    terms = variant.loss(phase.name, x, y)
                    accelerator.backward(terms["loss"])
                    opt.step()
                record.update({f"{phase.name}/{k}": float(v.detach()) for k, v in terms.items()})
            step += 1
            bar.update(1)
            if step % cfg.train.log_every == 0 or step == cfg.train.steps:
                metrics.append({"step": step, **record})
            if step % cfg.train.save_every == 0 and step < cfg.train.steps:
                _save(run, variant, opts, sampler, step)
            if flag.stop:
                bar.close()
                _save(run, variant, opts, sampler, step)
                logger.warning("interrupted: checkpoint saved at step %d in %s (continue with --resume)", step, run)
                raise KeyboardInterrupt
    bar.close()
    _save(run, variant, opts, sampler, step)
    train_seconds = time.perf_counter() - t0
    if not evaluate_at_end:
        return {}
    evaluator = Evaluator(load_classifier(cfg, data), data)
    result = evaluate(variant, evaluator, cfg.metrics.samples)
    result["train_seconds"] = round(train_seconds, 2)
    metrics.append({"step": step, "eval": result})
    write_samples(variant, run / "samples.png")
    return result


def load_classifier(cfg: ImageConfig, data: ImageData):
    cache = cfg.metrics.classifier_dir or str(Path(cfg.output_dir) / "classifier")
    return load_or_train_classifier(data, cache, cfg.metrics.classifier_epochs, cfg.seed)


def evaluate(variant: Variant, evaluator: Evaluator, n: int) -> dict[str, float]:
    """Metrics named with their protocol: ``cfid{n}`` (classifier-FID of n samples vs the test split),
    ``cond_acc{n}`` and ``diversity{n}`` (conditional variants: within-class feature spread / the real data's),
    StackGAN ``stage1_*``; pix2pix on the first n test pairs: ``cfid_test``, ``cond_acc_test``, ``l1_test``,
    ``psnr_test``, ``sharpness_test`` (Laplacian energy / the targets') and the same for the untranslated input
    (``input_*``)."""
    from seqgan.image.losses import psnr
    from seqgan.image.metrics import sharpness

    variant.net.eval()
    data = evaluator.data
    out: dict[str, float] = {}
    if isinstance(variant, Pix2Pix):
        x, y = data.test_x[:n], data.test_y[:n]
        pred = variant.translate(x).cpu()
        src = make_source(x, variant.cfg.pix2pix.task, variant.cfg.pix2pix.factor)
        real_sharp = sharpness(x)
        out.update({"cfid_test": evaluator.fid(pred), "cond_acc_test": evaluator.accuracy(pred, y),
                    "l1_test": float((pred - x).abs().mean()), "psnr_test": psnr(pred, x),
                    "sharpness_test": sharpness(pred) / real_sharp,
                    "input_cfid_test": evaluator.fid(src), "input_cond_acc_test": evaluator.accuracy(src, y),
                    "input_l1_test": float((src - x).abs().mean()), "input_psnr_test": psnr(src, x),
                    "input_sharpness_test": sharpness(src) / real_sharp})
    else:
        labels = torch.arange(n) % data.num_classes
        if isinstance(variant, StackGAN):
            low, high = variant.sample_stages(n, labels)
            out[f"stage1_cfid{n}"] = evaluator.fid(low.cpu())
            out[f"stage1_cond_acc{n}"] = evaluator.accuracy(low.cpu(), labels)
            out[f"stage1_diversity{n}"] = evaluator.diversity(low.cpu(), labels)
            images = high.cpu()
        else:
            images = variant.sample(n, labels if variant.conditional else None).cpu()
        out[f"cfid{n}"] = evaluator.fid(images)
        if variant.conditional:
            out[f"cond_acc{n}"] = evaluator.accuracy(images, labels)
            out[f"diversity{n}"] = evaluator.diversity(images, labels)
    variant.net.train()
    return {k: round(v, 4) for k, v in out.items()}


def write_samples(variant: Variant, path: Path, n: int = 64, labels: torch.Tensor | None = None) -> Path:
    """Sample grid PNG (conditional: one column per class, each row one noise vector z shared by its classes,
    unless ``labels`` given; pix2pix: input/output/target rows; StackGAN: also ``<name>_stage1.png``)."""
    variant.net.eval()
    k = variant.num_classes
    if isinstance(variant, Pix2Pix):
        x = variant.data.test_x[: min(n, 16)]
        grid = torch.cat([make_source(x, variant.cfg.pix2pix.task, variant.cfg.pix2pix.factor),
                          variant.translate(x).cpu(), x])
        save_grid(grid, path, nrow=len(x))
    elif variant.conditional:
        z = None
        if labels is None:
            rows = max(1, n // k)
            labels = torch.arange(rows * k) % k
            z = variant.noise(rows).repeat_interleave(k, dim=0)
        if isinstance(variant, StackGAN):
            low, high = variant.sample_stages(len(labels), labels, z)
            save_grid(low, path.with_name(path.stem + "_stage1.png"), nrow=min(k, len(labels)))
            save_grid(high, path, nrow=min(k, len(labels)))
        else:
            save_grid(variant.sample(len(labels), labels, z), path, nrow=min(k, len(labels)))
    else:
        save_grid(variant.sample(n), path)
    variant.net.train()
    return path


def load_run(run_dir: str | Path) -> tuple[ImageConfig, ImageData, Variant]:
    """A trained run's config, data and variant (weights loaded, eval mode) from its directory."""
    run = Path(run_dir)
    if not (run / "config.yaml").is_file():
        raise CheckpointError(f"{run}: not an image run directory (no config.yaml)")
    cfg = load_config(ImageConfig, run / "config.yaml")
    check_complete(run / "checkpoint")
    data = load_data(cfg)
    variant = build_variant(cfg, data)
    load_module(variant.net, run / "checkpoint" / "model.safetensors")
    variant.net.eval()
    return cfg, data, variant
