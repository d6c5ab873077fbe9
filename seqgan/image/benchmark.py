"""The image results table: every variant and baseline trained with one seed and a small CPU budget.

Two profiles share the code: ``fashion-mnist`` (28x28 Fashion-MNIST from the Debian package
``dataset-fashion-mnist``, DCGAN-style conv nets; used when the files are installed) and ``digits`` (scikit-learn's
8x8 digits, MLP nets; the offline fallback). Writes ``RESULTS.md`` (markdown table) and ``<row>.png`` sample grids
into ``out_dir``. All rows share one seed, one train/test split and one cached evaluation classifier, so their
figures are comparable.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from seqgan.config import from_dict, merge
from seqgan.errors import ConfigError, SeqGANError
from seqgan.image.config import ImageConfig
from seqgan.image import data as image_data
from seqgan.image.grid import save_grid
from seqgan.image.loop import load_classifier, load_data, train
from seqgan.image.metrics import Evaluator, class_spread, classifier_outputs
from seqgan.image.variants import build_variant

N = 1000


@dataclass(frozen=True)
class Profile:
    """One benchmark setting: shared config, the rows (name, overrides), StackGAN's stage-I size, a title."""

    title: str
    common: dict
    rows: list[tuple[str, dict]]
    low_size: int


def _digits() -> Profile:
    gan, p2p, ebm = 1500, 300, 300
    small = {"model": {"conv_width": 16}}
    return Profile("Image GANs on the 8x8 digits", {
        "seed": 0, "data": {"source": "digits"}, "model": {"hidden": 128},
        "train": {"log_every": 100, "save_every": 100000}, "metrics": {"samples": N}}, [
        ("gan", {"variant": "gan", "train": {"steps": gan}}),
        ("gan-lsgan", {"variant": "gan", "train": {"steps": gan, "loss": "lsgan"}}),
        ("cgan-joint", {"variant": "cgan", "train": {"steps": gan}}),
        ("cgan-split", {"variant": "cgan", "model": {"d_design": "split"}, "train": {"steps": gan}}),
        ("cgan-joint-no-mismatch", {"variant": "cgan", "train": {"steps": gan, "mismatch": False}}),
        ("cgan-joint-text", {"variant": "cgan", "model": {"condition": "text"}, "train": {"steps": gan}}),
        ("stackgan", {"variant": "stackgan", "train": {"steps": gan},
                      "stackgan": {"stage1_steps": gan // 2, "low_size": 4}}),
        ("pix2pix", merge(small, {"variant": "pix2pix", "train": {"steps": p2p}})),
        ("pix2pix-l1-only", merge(small, {"variant": "pix2pix", "train": {"steps": p2p},
                                          "pix2pix": {"gan_weight": 0.0}})),
        ("pix2pix-gan-only", merge(small, {"variant": "pix2pix", "train": {"steps": p2p},
                                           "pix2pix": {"lambda_l1": 0.0}})),
        ("vae", {"variant": "vae", "train": {"steps": gan}}),
        ("energy", {"variant": "energy", "train": {"steps": ebm}}),
    ], low_size=4)


def _fashion() -> Profile:
    gan, p2p, ebm = 1500, 800, 400
    p2p_base = {"variant": "pix2pix", "model": {"conv_width": 16}, "train": {"steps": p2p},
                "pix2pix": {"factor": 4, "lambda_l1": 10.0}}
    return Profile("Image GANs on 28x28 Fashion-MNIST", {
        "seed": 0, "data": {"source": "fashion-mnist"},
        "model": {"arch": "conv", "conv_width": 32, "hidden": 128, "z_dim": 32, "minibatch_std": True},
        "train": {"log_every": 100, "save_every": 100000},
        "metrics": {"samples": N, "classifier_epochs": 3}}, [
        ("gan", {"variant": "gan", "train": {"steps": gan}}),
        ("gan-lsgan", {"variant": "gan", "train": {"steps": gan, "loss": "lsgan"}}),
        ("cgan-joint", {"variant": "cgan", "train": {"steps": gan}}),
        ("cgan-split", {"variant": "cgan", "model": {"d_design": "split"}, "train": {"steps": gan}}),
        ("cgan-joint-no-mismatch", {"variant": "cgan", "train": {"steps": gan, "mismatch": False}}),
        # no caption row: the caption templates describe handwritten digits
        # stage I (14x14, cheap) gets two thirds of the iterations; a light KL lets the class through CA's noise
        ("stackgan", {"variant": "stackgan", "train": {"steps": 2 * gan},
                      "stackgan": {"stage1_steps": 4 * gan // 3, "low_size": 14, "kl_weight": 0.1}}),
        ("pix2pix", p2p_base),
        ("pix2pix-l1-only", merge(p2p_base, {"pix2pix": {"gan_weight": 0.0}})),
        ("pix2pix-gan-only", merge(p2p_base, {"pix2pix": {"lambda_l1": 0.0}})),
        ("vae", {"variant": "vae", "train": {"steps": gan, "lr_g": 1e-3}}),
        ("energy", {"variant": "energy", "train": {"steps": ebm}, "energy": {"langevin_steps": 20}}),
    ], low_size=14)


def profile(name: str) -> Profile:
    """``fashion-mnist``, ``digits``, or ``auto`` (Fashion-MNIST when its Debian files are installed)."""
    if name == "auto":
        name = "fashion-mnist" if image_data.has_idx(image_data.FASHION_DIR) else "digits"
    return _fashion() if name == "fashion-mnist" else _digits()


def _fmt(value, digits=1):
    return "" if value is None else f"{value:.{digits}f}"


def _scaled(overrides: dict, scale: float) -> dict:
    """Every step budget times ``scale`` (StackGAN keeps its stage-I share)."""
    out = merge(overrides, {})
    steps = out["train"]["steps"]
    out["train"] = dict(out["train"], steps=max(2, int(steps * scale)))
    if "stackgan" in out:
        share = out["stackgan"]["stage1_steps"] / steps
        out["stackgan"] = dict(out["stackgan"], stage1_steps=max(1, min(out["train"]["steps"] - 1,
                                                                         int(out["train"]["steps"] * share))))
    return out


def _reference_rows(evaluator: Evaluator, data, prof: Profile, base: dict, out_dir: Path) -> list[dict]:
    """Real data (train images vs test), real data reduced to stage I's size, a fresh generator."""
    gen = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(data.train_x), generator=gen)[:N]
    real, real_y = data.train_x[idx], data.train_y[idx]
    feats = classifier_outputs(evaluator.clf, real)[0]
    rows = [{"row": "real data (train vs test)", "cfid": evaluator.fid(real), "acc": evaluator.test_acc,
             "div": class_spread(feats, real_y, data.num_classes) / evaluator.test_spread,
             "note": f"{N} training images; classifier trained on all {len(data.train_x)}; acc = its test accuracy"}]
    factor = data.shape[-1] // prof.low_size
    low = F.interpolate(F.avg_pool2d(real, factor), size=data.shape[1:], mode="bilinear", align_corners=False)
    rows.append({"row": f"real data at {prof.low_size}x{prof.low_size} (upsampled)", "cfid": evaluator.fid(low),
                 "acc": evaluator.accuracy(low, real_y), "div": evaluator.diversity(low, real_y),
                 "note": "what a perfect StackGAN stage I could reach"})
    torch.manual_seed(0)
    untrained = build_variant(from_dict(ImageConfig, merge(base, {"variant": "cgan"})), data)
    untrained.net.eval()
    labels = torch.arange(N) % data.num_classes
    samples = untrained.sample(N, labels)
    rows.append({"row": "untrained G", "cfid": evaluator.fid(samples), "acc": evaluator.accuracy(samples, labels),
                 "note": "fresh cGAN generator"})
    save_grid(samples[:80], out_dir / "untrained.png", nrow=10)
    return rows


def _result_rows(name: str, cfg: ImageConfig, result: dict, seconds: float, size: int) -> list[dict]:
    steps = f"{cfg.train.steps} steps"
    if cfg.variant == "stackgan":
        s = cfg.stackgan
        return [{"row": f"stackgan stage I ({s.low_size}x{s.low_size}, upsampled)", "cfid": result[f"stage1_cfid{N}"],
                 "acc": result[f"stage1_cond_acc{N}"], "div": result[f"stage1_diversity{N}"],
                 "note": f"{s.stage1_steps} steps"},
                {"row": f"stackgan stage II ({size}x{size})", "cfid": result[f"cfid{N}"],
                 "acc": result[f"cond_acc{N}"], "div": result[f"diversity{N}"], "seconds": seconds,
                 "note": f"{cfg.train.steps - s.stage1_steps} more steps, stage I frozen; time of both stages"}]
    if cfg.variant == "pix2pix":
        p = cfg.pix2pix
        rows = []
        if name == "pix2pix":
            rows.append({"row": f"pix2pix input (blocky 1/{p.factor} resolution, no model)",
                         "cfid": result["input_cfid_test"], "acc": result["input_cond_acc_test"],
                         "l1": result["input_l1_test"], "psnr": result["input_psnr_test"],
                         "sharp": result["input_sharpness_test"], "note": "reference"})
        rows.append({"row": name, "cfid": result["cfid_test"], "acc": result["cond_acc_test"],
                     "l1": result["l1_test"], "psnr": result["psnr_test"], "sharp": result["sharpness_test"],
                     "seconds": seconds, "note": f"{steps}; lambda_l1={p.lambda_l1:g}, gan_weight={p.gan_weight:g}"})
        return rows
    return [{"row": name, "cfid": result[f"cfid{N}"], "acc": result.get(f"cond_acc{N}"),
             "div": result.get(f"diversity{N}"), "seconds": seconds, "note": steps}]


def _budget_free(cfg: ImageConfig) -> dict:
    from seqgan.config import to_dict

    out = to_dict(cfg) | {"output_dir": None}
    out["metrics"] = dict(out["metrics"], classifier_dir=None)
    out["train"] = dict(out["train"], steps=None)
    out["stackgan"] = dict(out["stackgan"], stage1_steps=None)
    return out


def _finished_row(run: Path, cfg: ImageConfig) -> tuple[dict, ImageConfig] | None:
    """(``row.json``, the run's config) of a finished benchmark run whose config equals ``cfg`` up to the step
    budgets (``train.steps``, ``stackgan.stage1_steps``) and the paths, else None."""
    from seqgan.config import load_config

    try:
        saved = load_config(ImageConfig, run / "config.yaml")
        if _budget_free(saved) != _budget_free(cfg):
            return None
        return json.loads((run / "row.json").read_text()), saved
    except (OSError, ValueError, SeqGANError):
        return None


def run_benchmark(out_dir: Path, runs_dir: Path, scale: float = 1.0, data_name: str = "auto",
                  only: list[str] | None = None, reuse: bool = False) -> list[dict]:
    """Train every row (or the rows named in ``only``), write ``out_dir/RESULTS.md`` and grids; returns the rows.

    ``reuse``: a row whose run directory already holds a finished benchmark run of the same config (step budgets
    aside: the table's notes give each row's own) is read from its ``row.json`` instead of trained again (rows
    trained by separate ``only`` processes, then one table)."""
    prof = profile(data_name)
    unknown = sorted(set(only or []) - {name for name, _ in prof.rows})
    if unknown:
        raise ConfigError(f"--only: unknown row(s) {', '.join(unknown)} (rows: "
                          f"{', '.join(name for name, _ in prof.rows)})")
    out_dir.mkdir(parents=True, exist_ok=True)
    base = merge(prof.common, {"metrics": {"classifier_dir": str(runs_dir / "classifier")}})
    ref_cfg = from_dict(ImageConfig, merge(base, {"output_dir": str(runs_dir / "reference")}))
    t_all = time.perf_counter()
    data = load_data(ref_cfg)
    t0 = time.perf_counter()
    evaluator = Evaluator(load_classifier(ref_cfg, data), data)
    print(f"classifier: test accuracy {evaluator.test_acc:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    rows = _reference_rows(evaluator, data, prof, base, out_dir)
    reused: list[str] = []
    for name, overrides in prof.rows:
        if only and name not in only:
            continue
        cfg = from_dict(ImageConfig, merge(merge(base, _scaled(overrides, scale)),
                                           {"output_dir": str(runs_dir / name)}))
        run = Path(cfg.output_dir)
        done = _finished_row(run, cfg) if reuse else None
        if done is not None:
            row, cfg = done
            result, seconds = row["result"], row["seconds"]
            reused.append(name)
        else:
            shutil.rmtree(run, ignore_errors=True)
            start = time.perf_counter()
            result = train(cfg, data=data)
            seconds = time.perf_counter() - start
            (run / "row.json").write_text(json.dumps({"result": result, "seconds": seconds,
                                                      "threads": torch.get_num_threads()}))
        shutil.copyfile(run / "samples.png", out_dir / f"{name}.png")
        if cfg.variant == "stackgan":
            shutil.copyfile(run / "samples_stage1.png", out_dir / "stackgan_stage1.png")
        rows += _result_rows(name, cfg, result, seconds, data.shape[-1])
        print(f"{name}: {result} ({seconds:.0f} s{', reused' if done is not None else ''})", flush=True)
    _write_table(out_dir / "RESULTS.md", rows, data, prof, scale, time.perf_counter() - t_all, reused)
    return rows


def _write_table(path: Path, rows: list[dict], data, prof: Profile, scale: float, total: float,
                 reused: list[str]) -> None:
    threads = torch.get_num_threads()
    timing = f"{total / 60:.1f} min in all"
    if reused:
        timing += (f", not counting the rows read from earlier runs ({', '.join(reused)}), which keep their own step "
                   "budgets and wall times (see the notes)")
    lines = [
        f"# {prof.title}",
        "",
        f"Produced by `python recipes/image_benchmark.py` (seed 0; {len(data.train_x)} train / {len(data.test_x)} "
        f"test images of {data.shape[-1]}x{data.shape[-1]}; step budget scale {scale:g}; torch threads {threads}; "
        f"{timing}). cFID = Fréchet distance of the evaluation classifier's penultimate features, {N} samples vs "
        f"the test split (pix2pix: its outputs for the first {N} test pairs), lower is better. Cond. acc = the "
        "classifier's accuracy w.r.t. the requested class (pix2pix: the source image's class). Diversity = mean "
        "pairwise feature distance within a class, generated / real test images (1.0 = as varied as the data). "
        "L1 / PSNR on held-out pairs (images in [-1, 1]); sharpness = mean absolute Laplacian of the outputs / "
        "the targets' (1.0 = as sharp as the real images). Wall time = training plus evaluation on this "
        "machine, which may have been shared.",
        "",
        "| variant | cFID ↓ | cond. acc | diversity | L1 ↓ | PSNR dB ↑ | sharpness | wall s | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        acc = "" if r.get("acc") is None else f"{100 * r['acc']:.1f}%"
        lines.append(f"| {r['row']} | {_fmt(r.get('cfid'))} | {acc} | {_fmt(r.get('div'), 2)} | "
                     f"{_fmt(r.get('l1'), 3)} | {_fmt(r.get('psnr'), 2)} | {_fmt(r.get('sharp'), 2)} | "
                     f"{_fmt(r.get('seconds'))} | {r.get('note', '')} |")
    lines += ["", "Sample grids: `<variant>.png` next to this file (conditional: one column per class, one noise "
              "vector z per row; pix2pix: input / output / target rows)."]
    path.write_text("\n".join(lines) + "\n")
