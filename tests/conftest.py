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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A tiny MLE run trained once per session through the real CLI (tests copy it before changing anything),
    tracked to TensorBoard when it is installed (the dev extra)."""
    from pathlib import Path

    from seqgan import cli

    import importlib.util

    out = tmp_path_factory.mktemp("tiny") / "run"
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "tiny.yaml"
    tracking = ["tracking.report_to=[tensorboard]"] if importlib.util.find_spec("tensorboard") else []
    assert cli.main(["-q", "pretrain", "--config", str(recipe), f"output_dir={out}", "mle.eval_every=0",
                     "eval.num_pairs=8", *tracking]) == 0
    return out
