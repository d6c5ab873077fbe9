"""Tiny real training runs of every variant on the digits: the objective falls, samples beat an untrained model on
classifier-FID, the cGAN follows its condition, resume equals an uninterrupted run, and the CLI works."""

import json

import pytest
import torch

from seqgan.config import from_dict, merge
from seqgan.image.cli import main
from seqgan.image.config import ImageConfig
from seqgan.image.data import load_image_data
from seqgan.image.loop import evaluate, train
from seqgan.image.metrics import Evaluator, train_classifier
from seqgan.image.variants import build_variant
from seqgan.runs.checkpoint import load_state

TINY = {"model": {"hidden": 64, "z_dim": 8, "cond_dim": 16, "conv_width": 8},
        "train": {"batch_size": 32, "log_every": 1, "save_every": 1000, "lr_g": 1e-3, "lr_d": 1e-3},
        "metrics": {"samples": 300}}


@pytest.fixture(scope="module")
def digits():
    return load_image_data("digits", seed=0)


@pytest.fixture(scope="module")
def evaluator(digits):
    torch.set_num_threads(1)
    return Evaluator(train_classifier(digits, epochs=4, seed=0), digits)


def tiny_cfg(tmp_path, **overrides) -> ImageConfig:
    return from_dict(ImageConfig, merge(TINY, merge({"output_dir": str(tmp_path / "run")}, overrides)))


def losses(run_dir, key):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r[key] for r in rows if key in r]


def untrained_fid(cfg, digits, evaluator):
    torch.manual_seed(cfg.seed)
    variant = build_variant(cfg, digits)
    return evaluate(variant, evaluator, cfg.metrics.samples)


# variant, overrides, loss key that must fall (mean of the last 10 logged values < mean of the first 10)
CASES = [
    ("gan", {"train": {"steps": 250}}, "D/loss"),
    ("pix2pix", {"train": {"steps": 60}}, "G/l1"),
    ("vae", {"train": {"steps": 250}}, "VAE/loss"),
    ("energy", {"train": {"steps": 40}, "energy": {"langevin_steps": 20}}, "E/loss"),
]


@pytest.mark.slow
@pytest.mark.parametrize("variant, overrides, key", CASES, ids=[c[0] for c in CASES])
def test_tiny_run_lowers_objective_and_beats_untrained(tmp_path, digits, evaluator, variant, overrides, key):
    cfg = tiny_cfg(tmp_path, variant=variant, **overrides)
    before = untrained_fid(cfg, digits, evaluator)
    before_params = {k: v.clone() for k, v in build_variant(cfg, digits).net.state_dict().items()}
    train(cfg, data=digits, evaluate_at_end=False)
    curve = losses(tmp_path / "run", key)
    assert sum(curve[-10:]) / 10 < sum(curve[:10]) / 10, curve
    torch.manual_seed(cfg.seed)
    from seqgan.image.loop import load_run

    _, _, trained = load_run(tmp_path / "run")
    after = evaluate(trained, evaluator, cfg.metrics.samples)
    fid_key = "cfid_test" if variant == "pix2pix" else "cfid300"
    assert after[fid_key] < 0.7 * before[fid_key], (before, after)
    changed = [k for k, v in trained.net.state_dict().items() if not torch.equal(v.cpu(), before_params[k])]
    assert len(changed) == len(before_params)  # every parameter moved
    if variant == "pix2pix":
        assert after["l1_test"] < before["l1_test"]


@pytest.mark.slow
@pytest.mark.parametrize("design", ["joint", "split"])
def test_cgan_follows_its_condition(tmp_path, digits, evaluator, design):
    cfg = tiny_cfg(tmp_path, variant="cgan", model={"d_design": design, "hidden": 128}, train={"steps": 300})
    before = untrained_fid(cfg, digits, evaluator)
    train(cfg, data=digits, evaluate_at_end=False)
    from seqgan.image.loop import load_run

    _, _, trained = load_run(tmp_path / "run")
    after = evaluate(trained, evaluator, cfg.metrics.samples)
    assert before["cond_acc300"] < 0.3
    assert after["cond_acc300"] > 0.5, after  # chance is 10%
    assert after["cfid300"] < before["cfid300"]


@pytest.mark.slow
def test_stackgan_stages_train_in_order_and_stage1_is_frozen(tmp_path, digits, evaluator):
    cfg = tiny_cfg(tmp_path, variant="stackgan", train={"steps": 200}, stackgan={"stage1_steps": 120})
    before = untrained_fid(cfg, digits, evaluator)
    cfg1 = tiny_cfg(tmp_path, variant="stackgan", train={"steps": 120}, stackgan={"stage1_steps": 119})
    train(cfg1, data=digits, evaluate_at_end=False)
    from seqgan.image.loop import load_run

    _, _, stage1_only = load_run(tmp_path / "run")
    g1_after_stage1 = {k: v.clone() for k, v in stage1_only.net["G1"].state_dict().items()}
    resumed = tiny_cfg(tmp_path, variant="stackgan", train={"steps": 200}, stackgan={"stage1_steps": 119})
    train(resumed, resume=True, data=digits, evaluate_at_end=False)
    _, _, full = load_run(tmp_path / "run")
    for k, v in full.net["G1"].state_dict().items():
        assert torch.equal(v, g1_after_stage1[k]), k  # stage II leaves stage I untouched
    assert len(losses(tmp_path / "run", "D1/loss")) == 119 and len(losses(tmp_path / "run", "D2/loss")) == 81
    assert "G2/kl" in json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    after = evaluate(full, evaluator, cfg.metrics.samples)
    assert after["cfid300"] < before["cfid300"] and after["stage1_cfid300"] < before["stage1_cfid300"]


def test_resume_equals_uninterrupted_run(tmp_path, digits):
    full = tiny_cfg(tmp_path / "a", variant="cgan", train={"steps": 12})
    train(full, data=digits, evaluate_at_end=False)
    half = tiny_cfg(tmp_path / "b", variant="cgan", train={"steps": 6})
    train(half, data=digits, evaluate_at_end=False)
    torch.manual_seed(123)  # resume must not depend on the global RNG at call time
    rest = tiny_cfg(tmp_path / "b", variant="cgan", train={"steps": 12})
    train(rest, resume=True, data=digits, evaluate_at_end=False)
    a = load_state(tmp_path / "a" / "run" / "checkpoint" / "state.pt")
    b = load_state(tmp_path / "b" / "run" / "checkpoint" / "state.pt")
    assert a["step"] == b["step"] == 12
    from safetensors.torch import load_file

    wa = load_file(str(tmp_path / "a" / "run" / "checkpoint" / "model.safetensors"))
    wb = load_file(str(tmp_path / "b" / "run" / "checkpoint" / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (tmp_path / "a" / "run" / "metrics.jsonl").read_text() == (tmp_path / "b" / "run" / "metrics.jsonl").read_text()


def test_existing_run_needs_resume_and_resume_needs_same_config(tmp_path, digits):
    from seqgan.errors import CheckpointError, ConfigError

    cfg = tiny_cfg(tmp_path, variant="gan", train={"steps": 2})
    with pytest.raises(CheckpointError, match="checkpoint directory not found"):
        train(cfg, resume=True, data=digits, evaluate_at_end=False)
    train(cfg, data=digits, evaluate_at_end=False)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(cfg, data=digits, evaluate_at_end=False)
    with pytest.raises(ConfigError, match="only train"):
        train(tiny_cfg(tmp_path, variant="vae"), resume=True, data=digits, evaluate_at_end=False)


def test_cli_train_sample_and_errors(tmp_path, capsys):
    run = tmp_path / "cli_run"
    status = main(["train", "--variant", "cgan", f"output_dir={run}", "train.steps=3", "model.hidden=32",
                   "metrics.samples=50", "metrics.classifier_epochs=1", "data.limit=200"])
    assert status == 0
    out = capsys.readouterr().out
    assert "cfid50=" in out and "cond_acc50=" in out
    assert (run / "samples.png").is_file() and (run / "config.yaml").is_file()
    assert main(["sample", str(run), "--n", "8", "--label", "7", "--out", str(tmp_path / "g.png")]) == 0
    from PIL import Image

    assert Image.open(tmp_path / "g.png").size[0] > 8
    assert main(["sample", str(run), "--label", "12"]) == 2
    assert "--label" in capsys.readouterr().err
    assert main(["train", "--variant", "gan", "train.stepz=3", f"output_dir={tmp_path / 'x'}"]) == 2
    assert "train.stepz" in capsys.readouterr().err
    assert main(["train", "data.source=/nonexistent.npz", f"output_dir={tmp_path / 'y'}"]) == 2
    assert "/nonexistent.npz" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "nothing")]) == 2


CONV = {"model": {"arch": "conv", "conv_width": 8, "hidden": 32}, "metrics": {"samples": 100, "classifier_epochs": 2}}
CONV_CASES = [
    ("gan", {}), ("cgan", {"model": {"d_design": "split", "minibatch_std": True}}),
    ("stackgan", {"train": {"steps": 4}, "stackgan": {"stage1_steps": 2, "low_size": 14}}),
    ("pix2pix", {"pix2pix": {"factor": 4}}), ("vae", {}), ("energy", {"energy": {"langevin_steps": 3}}),
]


@pytest.mark.parametrize("variant, overrides", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_every_variant_runs_with_conv_nets_on_28x28_idx_files(tmp_path, idx_dir, one_thread, variant, overrides):
    cfg = tiny_cfg(tmp_path, variant=variant, data={"source": str(idx_dir)},
                   **merge(merge(CONV, {"train": {"steps": 3}}), overrides))
    result = train(cfg)
    assert all(v == v for v in result.values()), result  # no NaN
    from PIL import Image

    grid = Image.open(tmp_path / "run" / "samples.png")
    assert grid.size[0] > 28 * 4
    if variant in ("cgan", "stackgan"):
        assert 0.0 <= result["diversity100"] and grid.size[0] == 10 * 29 * 4 + 4  # one column per class
    if variant == "pix2pix":
        assert result["input_sharpness_test"] > 0 and result["l1_test"] > 0


@pytest.mark.slow
def test_conv_cgan_learns_the_synthetic_classes_with_varied_samples(tmp_path, idx_dir, one_thread):
    cfg = tiny_cfg(tmp_path, variant="cgan", data={"source": str(idx_dir)},
                   **merge(CONV, {"model": {"conv_width": 16, "hidden": 64}, "train": {"steps": 150},
                                  "metrics": {"classifier_epochs": 6}}))
    result = train(cfg)
    assert result["cond_acc100"] > 0.6, result  # chance is 10 %
    assert result["diversity100"] > 0.2, result  # a generator that ignores z scores 0


def test_cgan_grid_rows_share_their_noise(tmp_path, digits):
    from seqgan.image.loop import write_samples

    cfg = tiny_cfg(tmp_path, variant="cgan")
    variant = build_variant(cfg, digits)
    seen = []
    original = variant.net["G"].forward
    variant.net["G"].forward = lambda z, e=None: seen.append(z.clone()) or original(z, e)
    write_samples(variant, tmp_path / "g.png", n=30)
    z = seen[-1].view(3, 10, -1)
    assert torch.equal(z, z[:, :1].expand_as(z)) and not torch.equal(z[0], z[1])


@pytest.mark.slow
def test_benchmark_command_on_synthetic_fashion_files(tmp_path, idx_dir, monkeypatch, one_thread):
    from seqgan.image import data as image_data

    monkeypatch.setattr(image_data, "FASHION_DIR", idx_dir)
    out = tmp_path / "docs"
    assert main(["benchmark", "--scale", "0.002", "--out-dir", str(out), "--runs", str(tmp_path / "runs"),
                 "--only", "cgan-joint", "stackgan", "pix2pix"]) == 0
    table = (out / "RESULTS.md").read_text()
    assert "28x28 Fashion-MNIST" in table and "300 train / 100 test" in table
    for row in ("real data at 14x14", "cgan-joint", "stackgan stage I (14x14", "stackgan stage II (28x28)",
                "pix2pix input (blocky 1/4"):
        assert f"| {row}" in table, row
    assert "cgan-split" not in table
    for png in ("untrained", "cgan-joint", "stackgan", "stackgan_stage1", "pix2pix"):
        assert (out / f"{png}.png").is_file()
    row = next(line for line in table.splitlines() if line.startswith("| cgan-joint |"))
    (tmp_path / "runs" / "cgan-joint" / "checkpoint" / "model.safetensors").unlink()  # proof it is not retrained
    assert main(["benchmark", "--scale", "0.002", "--out-dir", str(out), "--runs", str(tmp_path / "runs"),
                 "--only", "cgan-joint", "--reuse"]) == 0
    again = (out / "RESULTS.md").read_text()
    assert row in again.splitlines() and "read from earlier runs (cgan-joint)" in again
    assert main(["benchmark", "--only", "cgan-jiont", "--runs", str(tmp_path / "runs")]) == 2


def test_fashion_recipe_configures_every_variant():
    from pathlib import Path

    from seqgan.config import load_config
    from seqgan.image.config import VARIANTS

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "image_fashion.yaml"
    for variant in VARIANTS:
        extra = ["train.steps=3000"] if variant == "stackgan" else []
        cfg = load_config(ImageConfig, recipe, [f"variant={variant}", *extra])
        cfg.validate()
        assert cfg.data.source == "fashion-mnist" and cfg.model.arch == "conv"
