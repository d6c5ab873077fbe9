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
