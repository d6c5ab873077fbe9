"""The image results table: every variant and baseline trained on the 8x8 digits with a small CPU budget.

Writes ``RESULTS.md`` (markdown table) and ``<row>.png`` sample grids into ``out_dir``. All rows share one seed,
one train/test split and one cached evaluation classifier, so their figures are comparable.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from seqgan.config import from_dict, merge
from seqgan.image.config import ImageConfig
from seqgan.image.grid import save_grid
from seqgan.image.loop import evaluate, load_classifier, load_data, train
from seqgan.image.metrics import Evaluator
from seqgan.image.variants import build_variant

N = 1000
COMMON = {"seed": 0, "model": {"hidden": 128}, "train": {"log_every": 100, "save_every": 100000},
          "metrics": {"samples": N}}
GAN_STEPS, P2P_STEPS, EBM_STEPS = 1500, 300, 300
ROWS: list[tuple[str, dict]] = [
    ("gan", {"variant": "gan", "train": {"steps": GAN_STEPS}}),
    ("gan-lsgan", {"variant": "gan", "train": {"steps": GAN_STEPS, "loss": "lsgan"}}),
    ("cgan-joint", {"variant": "cgan", "train": {"steps": GAN_STEPS}}),
    ("cgan-split", {"variant": "cgan", "model": {"d_design": "split"}, "train": {"steps": GAN_STEPS}}),
    ("cgan-joint-no-mismatch", {"variant": "cgan", "train": {"steps": GAN_STEPS, "mismatch": False}}),
    ("cgan-joint-text", {"variant": "cgan", "model": {"condition": "text"}, "train": {"steps": GAN_STEPS}}),
    ("cgan-joint-text-no-mismatch", {"variant": "cgan", "model": {"condition": "text"},
                                     "train": {"steps": GAN_STEPS, "mismatch": False}}),
    ("stackgan", {"variant": "stackgan", "train": {"steps": GAN_STEPS},
                  "stackgan": {"stage1_steps": GAN_STEPS // 2}}),
    ("pix2pix", {"variant": "pix2pix", "model": {"conv_width": 16}, "train": {"steps": P2P_STEPS}}),
    ("pix2pix-l1-only", {"variant": "pix2pix", "model": {"conv_width": 16}, "train": {"steps": P2P_STEPS},
                         "pix2pix": {"gan_weight": 0.0}}),
    ("pix2pix-gan-only", {"variant": "pix2pix", "model": {"conv_width": 16}, "train": {"steps": P2P_STEPS},
                          "pix2pix": {"lambda_l1": 0.0}}),
    ("vae", {"variant": "vae", "train": {"steps": GAN_STEPS}}),
    ("energy", {"variant": "energy", "train": {"steps": EBM_STEPS}}),
]


def _fmt(value, digits=1):
    return "" if value is None else f"{value:.{digits}f}"


def _scaled(overrides: dict, scale: float) -> dict:
    out = merge(overrides, {})
    out["train"] = dict(out["train"], steps=max(2, int(out["train"]["steps"] * scale)))
    if "stackgan" in out:
        out["stackgan"] = {"stage1_steps": max(1, out["train"]["steps"] // 2)}
    return out


def run_benchmark(out_dir: Path, runs_dir: Path, scale: float = 1.0) -> list[dict]:
    """Train every row, write ``out_dir/RESULTS.md`` and grids; returns the rows as dicts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    classifier_dir = str(runs_dir / "classifier")
    base = merge(COMMON, {"metrics": {"classifier_dir": classifier_dir}})
    ref_cfg = from_dict(ImageConfig, merge(base, {"output_dir": str(runs_dir / "reference")}))
    data = load_data(ref_cfg)
    t0 = time.perf_counter()
    evaluator = Evaluator(load_classifier(ref_cfg, data), data)
    rows = [{"row": "real data (train vs test)", "cfid": evaluator.fid(data.train_x[:N]),
             "acc": evaluator.test_acc, "seconds": time.perf_counter() - t0,
             "note": f"classifier trained on the {len(data.train_x)} training digits; acc = its test accuracy"}]
    low = F.interpolate(F.avg_pool2d(data.train_x[:N], 2), size=data.shape[1:], mode="bilinear",
                        align_corners=False)
    rows.append({"row": "real data at 4x4 (upsampled)", "cfid": evaluator.fid(low),
                 "acc": evaluator.accuracy(low, data.train_y[:N]), "note": "what a perfect stage I could reach"})
    torch.manual_seed(0)
    untrained = build_variant(from_dict(ImageConfig, merge(base, {"variant": "cgan"})), data)
    labels = torch.arange(N) % data.num_classes
    samples = untrained.sample(N, labels)
    rows.append({"row": "untrained G", "cfid": evaluator.fid(samples), "acc": evaluator.accuracy(samples, labels),
                 "note": "fresh cGAN generator"})
    save_grid(samples[:80], out_dir / "untrained.png", nrow=10)
    for name, overrides in ROWS:
        cfg = from_dict(ImageConfig, merge(merge(base, _scaled(overrides, scale)),
                                           {"output_dir": str(runs_dir / name)}))
        shutil.rmtree(cfg.output_dir, ignore_errors=True)
        start = time.perf_counter()
        result = train(cfg, data=data)
        seconds = time.perf_counter() - start
        run = Path(cfg.output_dir)
        shutil.copyfile(run / "samples.png", out_dir / f"{name}.png")
        steps = f"{cfg.train.steps} steps"
        if name == "stackgan":
            shutil.copyfile(run / "samples_stage1.png", out_dir / "stackgan_stage1.png")
            rows.append({"row": "stackgan stage I (4x4, upsampled)", "cfid": result[f"stage1_cfid{N}"],
                         "acc": result[f"stage1_cond_acc{N}"], "seconds": None,
                         "note": f"{cfg.stackgan.stage1_steps} steps"})
            rows.append({"row": "stackgan stage II (8x8)", "cfid": result[f"cfid{N}"],
                         "acc": result[f"cond_acc{N}"], "seconds": seconds,
                         "note": f"{cfg.train.steps - cfg.stackgan.stage1_steps} more steps, stage I frozen; "
                                 "time of both stages"})
        elif cfg.variant == "pix2pix":
            if name == "pix2pix":
                rows.append({"row": "pix2pix input (blocky 4x4, no model)", "l1": result["input_l1_test"],
                             "psnr": result["input_psnr_test"], "note": "reference for L1/PSNR"})
            rows.append({"row": name, "cfid": result["cfid_test"], "acc": result["cond_acc_test"],
                         "l1": result["l1_test"], "psnr": result["psnr_test"], "seconds": seconds,
                         "note": f"{steps}; lambda_l1={cfg.pix2pix.lambda_l1:g}, gan_weight={cfg.pix2pix.gan_weight:g}"})
        else:
            rows.append({"row": name, "cfid": result[f"cfid{N}"], "acc": result.get(f"cond_acc{N}"),
                         "seconds": seconds, "note": steps})
        print(f"{name}: {result}", flush=True)
    _write_table(out_dir / "RESULTS.md", rows, data, scale)
    return rows


def _write_table(path: Path, rows: list[dict], data, scale: float) -> None:
    threads = torch.get_num_threads()
    lines = [
        "# Image GANs on the 8x8 digits",
        "",
        f"Produced by `python recipes/image_benchmark.py` (seed 0; {len(data.train_x)} train / {len(data.test_x)} "
        f"test digits; step budget scale {scale:g}; torch threads {threads}). cFID = Fréchet distance of the "
        f"evaluation classifier's penultimate features, {N} samples vs the test split (pix2pix: the test "
        "outputs), lower is better. Cond. acc = the classifier's accuracy w.r.t. the requested class (pix2pix: "
        "the source image's class). L1 / PSNR on held-out pairs (images in [-1, 1]). Wall time = training plus "
        "evaluation on this machine, which may have been shared.",
        "",
        "| variant | cFID ↓ | cond. acc | L1 ↓ | PSNR dB ↑ | wall s | notes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        acc = "" if r.get("acc") is None else f"{100 * r['acc']:.1f}%"
        lines.append(f"| {r['row']} | {_fmt(r.get('cfid'))} | {acc} | {_fmt(r.get('l1'), 3)} | "
                     f"{_fmt(r.get('psnr'), 2)} | {_fmt(r.get('seconds'))} | {r.get('note', '')} |")
    lines += ["", "Sample grids: `docs/image/<variant>.png` (conditional: one column per class 0-9; pix2pix: "
              "input / output / target rows)."]
    path.write_text("\n".join(lines) + "\n")
