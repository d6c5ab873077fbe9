"""Temperature schedules of the relaxed routes: values at chosen steps, N following the run, bad settings."""

from __future__ import annotations

import math

import pytest

from seqgan.errors import ConfigError
from seqgan.objectives.temperature import TemperatureSchedule
from seqgan.adversarial.config import AdversarialConfig


def test_schedule_values_at_chosen_steps():
    const = TemperatureSchedule("constant", tau_start=0.7, steps=11)
    assert const.tau(0) == const.tau(10) == 0.7
    lin = TemperatureSchedule("linear", tau_start=1.0, tau_end=0.2, steps=11)
    assert lin.tau(0) == 1.0 and lin.tau(5) == pytest.approx(0.6) and lin.tau(10) == pytest.approx(0.2)
    exp = TemperatureSchedule("exponential", tau_start=1.0, tau_end=0.01, steps=5)
    assert [exp.tau(i) for i in (0, 2, 4)] == pytest.approx([1.0, 0.1, 0.01])
    rel = TemperatureSchedule("relgan_exp", beta_max=1000.0, steps=4)
    assert [rel.beta(i) for i in range(4)] == pytest.approx([1.0, 10.0, 100.0, 1000.0])
    rlin = TemperatureSchedule("relgan_linear", beta_max=101.0, steps=3)
    assert [rlin.beta(i) for i in range(3)] == pytest.approx([1.0, 51.0, 101.0])
    sig = TemperatureSchedule("relgan_sigmoid", beta_max=100.0, steps=101)
    assert sig.beta(50) == pytest.approx(50.5)  # the midpoint of the sigmoid
    assert sig.beta(0) == pytest.approx(1.0 + 99.0 / (1.0 + math.exp(10.0)))
    assert sig.beta(100) > 99.9
    # clamped outside the run
    assert rel.beta(-3) == 1.0 and rel.beta(99) == pytest.approx(1000.0)


def test_n_follows_the_configured_number_of_g_steps():
    cfg = AdversarialConfig(route="gumbel", tau_schedule="relgan_exp", beta_max=100.0, rounds=5, g_steps=2)
    sched = cfg.schedule()
    assert sched.steps == 10
    assert sched.beta(9) == pytest.approx(100.0)  # the last G step reaches the nominal maximum
    assert sched.beta(0) == 1.0
    fixed = AdversarialConfig(route="gumbel", tau_schedule="relgan_exp", beta_max=100.0, rounds=5, g_steps=2,
                              tau_steps=5000).schedule()
    assert fixed.beta(9) == pytest.approx(100.0 ** (9 / 4999))  # RelGAN's fixed N: far below beta_max


def test_bad_schedule_settings_are_config_errors():
    with pytest.raises(ConfigError, match="tau_schedule"):
        AdversarialConfig(route="gumbel", tau_schedule="cosine").validate()
    with pytest.raises(ConfigError, match="beta_max"):
        AdversarialConfig(route="gumbel", tau_schedule="relgan_exp", beta_max=0.5).validate()
    with pytest.raises(ConfigError, match="tau_start"):
        AdversarialConfig(route="gumbel", tau_start=0.0).validate()
