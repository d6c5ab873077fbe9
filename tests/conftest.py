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


@pytest.fixture
def one_thread():
    """Tiny models run faster on one thread than on two (and much faster on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
