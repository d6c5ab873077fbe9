"""Fixtures of the image tests: a folder of synthetic 28x28 IDX files (see synthetic_idx.py)."""

import pytest
from synthetic_idx import synthetic_images, write_idx


@pytest.fixture(scope="session")
def idx_dir(tmp_path_factory):
    """A folder with train (300) and t10k (100) synthetic IDX files, as the Debian package lays them out."""
    root = tmp_path_factory.mktemp("idx")
    tr_x, tr_y = synthetic_images(300, 0)
    te_x, te_y = synthetic_images(100, 1)
    write_idx(root / "train-images-idx3-ubyte.gz", tr_x)
    write_idx(root / "train-labels-idx1-ubyte.gz", tr_y)
    write_idx(root / "t10k-images-idx3-ubyte.gz", te_x)
    write_idx(root / "t10k-labels-idx1-ubyte.gz", te_y)
    return root
