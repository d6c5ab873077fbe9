"""Data loading: digits split, Fashion-MNIST IDX parsing, folders, npz, and one-line errors on bad input."""

import gzip
import struct

import numpy as np
import pytest
import torch

from seqgan.errors import DataError
from seqgan.image.data import load_fashion_mnist, load_image_data


def test_digits_scaled_and_split_by_seed():
    d = load_image_data("digits", seed=0)
    assert d.train_x.shape[1:] == (1, 8, 8) and len(d.train_x) + len(d.test_x) == 1797
    assert d.train_x.min() == -1 and d.train_x.max() == 1 and d.num_classes == 10
    again, other = load_image_data("digits", seed=0), load_image_data("digits", seed=1)
    assert torch.equal(d.test_x, again.test_x) and not torch.equal(d.test_x, other.test_x)
    assert load_image_data("digits", image_size=4).train_x.shape[1:] == (1, 4, 4)


def _idx(path, array, gz=True):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_fashion_mnist_idx_files_are_parsed(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, (5, 28, 28))
    _idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(5))
    _idx(tmp_path / "t10k-images-idx3-ubyte", imgs[:2], gz=False)
    _idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(2), gz=False)
    tr_x, tr_y, te_x, te_y = load_fashion_mnist(tmp_path)
    assert np.array_equal(tr_x, imgs) and tr_y.tolist() == [0, 1, 2, 3, 4] and te_x.shape == (2, 28, 28)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09\x01")
    with pytest.raises(DataError, match="t10k-labels"):
        load_fashion_mnist(tmp_path)


def test_missing_fashion_mnist_names_the_package(tmp_path):
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)


def test_npz_and_folder_sources(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (20, 8, 8)).astype(np.uint8)
    np.savez(tmp_path / "d.npz", images=images, labels=np.arange(20) % 4)
    d = load_image_data(str(tmp_path / "d.npz"))
    assert d.num_classes == 4 and d.train_x.shape[1:] == (1, 8, 8) and -1 <= d.train_x.min() < d.train_x.max() <= 1
    from PIL import Image

    for cls in ("cat", "dog"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(images[i]).save(tmp_path / "imgs" / cls / f"{i}.png")
    f = load_image_data(str(tmp_path / "imgs"), image_size=4, channels=3)
    assert f.class_names == ["cat", "dog"] and f.train_x.shape[1:] == (3, 4, 4)


@pytest.mark.parametrize("make, match", [
    (lambda p: None, "not found"),
    (lambda p: np.savez(p / "x.npz", pictures=np.zeros((2, 8, 8))), "'images'"),
    (lambda p: np.savez(p / "x.npz", images=np.zeros((2, 8))), "shape"),
    (lambda p: np.savez(p / "x.npz", images=np.zeros((2, 8, 8)), labels=np.array([0.5, 1])), "labels"),
    (lambda p: (p / "x.npz").write_bytes(b"garbage"), "cannot read"),
])
def test_bad_npz_inputs_raise_one_line_data_error(tmp_path, make, match):
    make(tmp_path)
    with pytest.raises(DataError, match=match) as err:
        load_image_data(str(tmp_path / "x.npz"))
    assert "\n" not in str(err.value) and "x.npz" in str(err.value)


def test_folder_with_broken_image(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="bad.png"):
        load_image_data(str(tmp_path), image_size=8)
