"""MLE pretraining: config loading, a tiny run's outputs, save/load, exact resume after Ctrl-C, bad checkpoints."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from seqgan.config import load_config
from seqgan.errors import CheckpointError, ConfigError
from seqgan.chatbot import ChatbotConfig

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes" / "tiny.yaml"


def tiny_cfg(out: Path, *overrides: str) -> ChatbotConfig:
    return load_config(ChatbotConfig, TINY, [f"output_dir={out}", "mle.max_steps=20", "mle.eval_every=10",
                                             "mle.save_every=10", *overrides])


def final_eval(run) -> dict:
    return [r for r in run.read_metrics("mle") if "valid_nll" in r][-1]


def weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


# ---------------------------------------------------------------------------------------------- config
def test_config_loads_recipe_with_overrides():
    cfg = load_config(ChatbotConfig, TINY, ["mle.lr=1e-4", "eval.num_pairs=7", "seed=3"])
    assert cfg.mle.lr == pytest.approx(1e-4) and cfg.eval.num_pairs == 7 and cfg.seed == 3
    assert cfg.generator.d_model == 32 and cfg.data.max_train_pairs == 320
    cfg.validate()


@pytest.mark.parametrize("recipe", ["chat_cpu.yaml", "chat_gpu.yaml"])
def test_shipped_recipes_validate(recipe):
    load_config(ChatbotConfig, ROOT / "recipes" / recipe).validate()


def test_config_rejects_unknown_key_and_bad_combinations():
    with pytest.raises(ConfigError, match="mle.lrr"):
        load_config(ChatbotConfig, TINY, ["mle.lrr=1"])
    with pytest.raises(ConfigError, match="mle.mixed_precision"):
        load_config(ChatbotConfig, TINY, ["mle.mixed_precision=fp8"]).validate()
    with pytest.raises(ConfigError, match="generator.max_positions"):
        load_config(ChatbotConfig, TINY, ["data.max_reply_tokens=60"]).validate()
    with pytest.raises(ConfigError, match="mle.max_steps"):
        load_config(ChatbotConfig, TINY, ["mle.max_steps=0", "mle.epochs=0"]).validate()


# ---------------------------------------------------------------------------------------------- a tiny run
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from seqgan.mle.trainer import train_mle

    out = tmp_path_factory.mktemp("mle") / "run"
    torch.manual_seed(0)
    return train_mle(tiny_cfg(out))


def test_tiny_run_writes_every_file_and_learns(tiny_run):
    run = tiny_run
    for path in (run.config, run.tokenizer / "tokenizer.json", run.generator / "model.safetensors",
                 run.last_checkpoint / "model.safetensors", run.last_checkpoint / "state.pt",
                 run.last_checkpoint / "COMPLETE", run.metrics, run.curves, run.samples):
        assert path.exists(), path
    assert run.curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    evals = [r for r in records if "valid_nll" in r]
    losses = [r["train_loss"] for r in records if "train_loss" in r]
    assert [r["step"] for r in evals] == [10, 20]
    assert evals[-1]["valid_nll"] < evals[0]["valid_nll"]
    assert evals[-1]["valid_nll"] < math.log(400) - 0.5  # far below a uniform guess over the vocabulary
    assert losses[-1] < losses[0] - 0.3
    assert "bleu_valid32" in evals[-1] and 0 < evals[-1]["distinct1"] <= 1
    assert "model:" in run.samples.read_text()
    saved = load_config(ChatbotConfig, run.config)
    assert saved.mle.max_steps == 20 and saved.output_dir == str(run.path)


def test_load_run_round_trip_gives_identical_outputs(tiny_run):
    from seqgan.data import load_tokenizer
    from seqgan.models.policy import Context
    from seqgan.models.seq2seq import Seq2SeqPolicy
    from seqgan.runs.checkpoint import load_module
    from seqgan.chatbot import load_run

    policy, tokenizer, cfg = load_run(tiny_run.path)
    assert cfg.generator.d_model == 32 and len(tokenizer) == len(load_tokenizer(tiny_run.tokenizer))
    fresh = Seq2SeqPolicy.build(cfg.generator, len(tokenizer), tokenizer.pad_token_id, tokenizer.bos_token_id,
                                tokenizer.eos_token_id, cfg.data.max_reply_tokens)
    load_module(fresh.model, tiny_run.last_checkpoint / "model.safetensors")
    fresh.eval()
    ctx = Context(ids=torch.randint(5, len(tokenizer), (3, 7)), mask=torch.ones(3, 7, dtype=torch.long))
    ids = torch.randint(5, len(tokenizer), (3, 6))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        assert torch.equal(policy.score(ctx, ids, mask), fresh.score(ctx, ids, mask))
        a = policy.sample(ctx, greedy=True)
        b = fresh.sample(ctx, greedy=True)
    assert torch.equal(a.ids, b.ids)


def test_existing_run_needs_resume_and_bad_dirs_fail_cleanly(tiny_run, tmp_path):
    from seqgan.mle.trainer import train_mle
    from seqgan.chatbot import load_run

    with pytest.raises(ConfigError, match="--resume"):
        train_mle(load_config(ChatbotConfig, tiny_run.config))
    with pytest.raises(CheckpointError, match="no config.yaml"):
        load_run(tmp_path)
    (tmp_path / "config.yaml").write_text((tiny_run.config).read_text())
    with pytest.raises(CheckpointError, match="no trained model"):
        load_run(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        train_mle(tiny_cfg(tmp_path / "fresh"), resume=True)


def test_corrupt_or_incomplete_checkpoint_is_a_checkpoint_error(tiny_run, tmp_path):
    from seqgan.mle.trainer import train_mle

    copy = tmp_path / "run"
    shutil.copytree(tiny_run.path, copy)
    cfg = load_config(ChatbotConfig, copy / "config.yaml", [f"output_dir={copy}"])
    weights_file = copy / "checkpoints" / "last" / "model.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        train_mle(cfg, resume=True)
    state = copy / "checkpoints" / "last" / "state.pt"
    shutil.copy(tiny_run.last_checkpoint / "model.safetensors", weights_file)
    state.write_bytes(state.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="state"):
        train_mle(cfg, resume=True)
    (copy / "checkpoints" / "last" / "COMPLETE").unlink()
    with pytest.raises(CheckpointError, match="incomplete"):
        train_mle(cfg, resume=True)


# ---------------------------------------------------------------------------------------------- resume
@pytest.mark.slow
def test_ctrl_c_saves_and_resume_matches_an_uninterrupted_run(tmp_path):
    from seqgan.mle.trainer import train_mle

    extra = ("mle.grad_accum_steps=2", "mle.save_every=5", "mle.eval_every=5", "mle.save_total_limit=2",
             "mle.best_metric=valid_nll")
    straight = train_mle(tiny_cfg(tmp_path / "straight", *extra))

    def interrupt(step, _counters):
        if step == 13:  # between two checkpoints: Ctrl-C must save step 13 itself
            raise KeyboardInterrupt

    cfg = tiny_cfg(tmp_path / "resumed", *extra)
    with pytest.raises(KeyboardInterrupt):
        train_mle(cfg, callback=interrupt)
    from seqgan.runs.checkpoint import load_state

    assert load_state(tmp_path / "resumed" / "checkpoints" / "last" / "state.pt")["counters"]["step"] == 13
    assert not (tmp_path / "resumed" / "generator").exists()
    resumed = train_mle(cfg, resume=True)

    a, b = straight.read_metrics("mle"), resumed.read_metrics("mle")
    strip = lambda recs: [{k: v for k, v in r.items() if not k.endswith("_s")} for r in recs]  # noqa: E731
    assert strip(a) == strip(b)
    assert final_eval(straight)["valid_nll"] == final_eval(resumed)["valid_nll"]
    wa, wb = weights(straight.generator / "model.safetensors"), weights(resumed.generator / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)

    # the newest two checkpoints are kept beside last/ and resume exactly too; the best evaluation is kept
    kept = sorted(p.name for p in (straight.checkpoints).iterdir())
    assert kept == ["last", "step-000015", "step-000020"], kept
    evals = [r for r in a if "valid_nll" in r]
    best = min(evals, key=lambda r: r["valid_nll"])
    info = json.loads((straight.path / "generator_best" / "best.json").read_text())
    assert (info["stage"], info["metric"], info["step"], info["value"]) == ("mle", "valid_nll", best["step"],
                                                                             best["valid_nll"])
    again = tmp_path / "again"
    shutil.copytree(straight.path, again)
    shutil.rmtree(again / "generator")
    rerun = train_mle(tiny_cfg(again, *extra), resume=again / "checkpoints" / "step-000015")
    assert strip(rerun.read_metrics("mle")) == strip(a)
    wc = weights(rerun.generator / "model.safetensors")
    assert all(torch.equal(wa[k], wc[k]) for k in wa)
