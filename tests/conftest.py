"""Test-wide setup: offline Hugging Face libraries, quiet progress bars, deterministic small thread count."""

from seqgan.offline import enable_offline

enable_offline()

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global RNG state."""
    torch.manual_seed(0)
    yield
