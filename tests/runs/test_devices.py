"""The accelerator of every trainer: mixed precision is the launcher's unless the config sets one; sharded
launches are refused with one line."""

from __future__ import annotations

import logging

import pytest

from seqgan.errors import ConfigError
from seqgan.runs.devices import LAUNCHER_ENV, make_accelerator


@pytest.fixture
def fresh_state():
    """Leave accelerate's process-wide state as the other tests expect it (fp32)."""
    yield
    make_accelerator("no")


def test_the_launchers_precision_is_used_unless_the_config_sets_one(fresh_state, monkeypatch, caplog):
    from seqgan.chatbot import ChatbotConfig
    from seqgan.mle.trainer import make_accelerator as mle_accelerator

    monkeypatch.setenv(LAUNCHER_ENV, "bf16")  # what `accelerate launch --mixed_precision bf16` sets
    cfg = ChatbotConfig()
    assert cfg.mle.mixed_precision is None and mle_accelerator(cfg).mixed_precision == "bf16"
    cfg.mle.mixed_precision = "no"
    with caplog.at_level(logging.WARNING, logger="seqgan.runs.devices"):
        assert mle_accelerator(cfg).mixed_precision == "no"  # the config wins, and says so
    assert "mle.mixed_precision=no (the config) overrides the launcher's --mixed_precision bf16" in caplog.text
    assert make_accelerator(None).mixed_precision == "bf16"  # a later stage of the same process: its own again
    monkeypatch.delenv(LAUNCHER_ENV)
    assert make_accelerator(None).mixed_precision == "no"


def test_sharded_launches_are_refused_in_one_line(fresh_state, monkeypatch):
    from accelerate import Accelerator
    from accelerate.utils import DistributedType

    monkeypatch.setattr(Accelerator, "distributed_type", property(lambda self: DistributedType.FSDP))
    with pytest.raises(ConfigError, match=r"accelerate launch: FSDP is not supported yet .* --multi_gpu"):
        make_accelerator(None)


def test_fused_adam_where_the_kernel_applies_and_the_same_updates():
    import torch

    from seqgan.runs.devices import fused_adam

    torch.manual_seed(0)
    net = torch.nn.Linear(8, 4)
    assert fused_adam(net.parameters()) == {"fused": True}
    assert fused_adam([{"params": list(net.parameters()), "lr": 0.1}]) == {"fused": True}  # parameter groups
    assert fused_adam([]) == {} and fused_adam([torch.zeros(3, dtype=torch.long)]) == {}
    twins = [torch.nn.Linear(8, 4), torch.nn.Linear(8, 4)]
    twins[1].load_state_dict(twins[0].state_dict())
    opts = [torch.optim.AdamW(twins[0].parameters(), lr=0.01, **fused_adam(twins[0].parameters())),
            torch.optim.AdamW(twins[1].parameters(), lr=0.01, foreach=False)]
    x = torch.randn(16, 8)
    for _ in range(5):
        for net, opt in zip(twins, opts):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
    for a, b in zip(twins[0].parameters(), twins[1].parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    assert not torch.equal(twins[0].weight, torch.nn.Linear(8, 4).weight)
