"""Atomic checkpoint directories, safetensors weights, RNG capture, weights_only state."""

import random

import numpy as np
import pytest
import torch

from seqgan.errors import CheckpointError
from seqgan.runs.checkpoint import (
    atomic_directory,
    capture_rng,
    check_complete,
    load_module,
    load_state,
    restore_rng,
    save_module,
    save_state,
)


def test_rng_roundtrip_restores_every_generator():
    state = capture_rng()
    first = (random.random(), np.random.rand(), torch.rand(3))
    restore_rng(state)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1] and torch.equal(first[2], second[2])


def test_state_file_loads_with_weights_only(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_state(tmp_path / "state.pt", {"optimizer": opt.state_dict(), "step": 7, "rng": capture_rng()})
    loaded = load_state(tmp_path / "state.pt")
    assert loaded["step"] == 7
    fresh = torch.optim.AdamW(model.parameters(), lr=0.1)
    fresh.load_state_dict(loaded["optimizer"])
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_module_roundtrip_and_corruption(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    save_module(model, tmp_path / "m.safetensors")
    other = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    load_module(other, tmp_path / "m.safetensors")
    x = torch.randn(2, 3)
    assert torch.equal(model(x), other(x))
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "m.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_module(other, tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="do not fit"):
        save_module(torch.nn.Linear(5, 5), tmp_path / "n.safetensors")
        load_module(other, tmp_path / "n.safetensors")


def test_truncated_state_is_a_checkpoint_error(tmp_path):
    save_state(tmp_path / "state.pt", {"x": torch.arange(1000)})
    data = (tmp_path / "state.pt").read_bytes()
    (tmp_path / "state.pt").write_bytes(data[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_state(tmp_path / "state.pt")


def test_atomic_directory_keeps_old_checkpoint_on_failure(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_directory(target) as staging:
        (staging / "a.txt").write_text("v1")
    check_complete(target)
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as staging:
            (staging / "a.txt").write_text("v2-partial")
            raise RuntimeError("crash mid-write")
    assert (target / "a.txt").read_text() == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no staging debris left behind
    with atomic_directory(target) as staging:
        (staging / "a.txt").write_text("v2")
    assert (target / "a.txt").read_text() == "v2"


def test_incomplete_directory_is_rejected(tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(CheckpointError, match="incomplete checkpoint"):
        check_complete(tmp_path / "half")
    with pytest.raises(CheckpointError, match="not found"):
        check_complete(tmp_path / "nope")
