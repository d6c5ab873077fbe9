"""Reward tests use tiny models: one thread is faster than two, and much faster on a busy machine."""

import pytest


@pytest.fixture(autouse=True)
def _tiny_models(one_thread):
    """Every reward test uses tiny models: one thread."""
    yield
