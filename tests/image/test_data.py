"""Data loading: digits split, Fashion-MNIST IDX parsing, folders, npz, and one-line errors on bad input."""

import numpy as np
import pytest
import torch

from seqgan.errors import DataError
from seqgan.image import data as image_data
from seqgan.image.data import load_fashion_mnist, load_image_data

from synthetic_idx import write_idx


def test_digits_scaled_and_split_by_seed():
    d = load_image_data("digits", seed=0)
    assert d.train_x.shape[1:] == (1, 8, 8) and len(d.train_x) + len(d.test_x) == 1797
    assert d.train_x.min() == -1 and d.train_x.max() == 1 and d.num_classes == 10
    again, other = load_image_data("digits", seed=0), load_image_data("digits", seed=1)
    assert torch.equal(d.test_x, again.test_x) and not torch.equal(d.test_x, other.test_x)
    assert load_image_data("digits", image_size=4).train_x.shape[1:] == (1, 4, 4)


def test_fashion_mnist_idx_files_are_parsed(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, (5, 28, 28))
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(5))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", imgs[:2], gz=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(2), gz=False)
    tr_x, tr_y, te_x, te_y = load_fashion_mnist(tmp_path)
    assert np.array_equal(tr_x, imgs) and tr_y.tolist() == [0, 1, 2, 3, 4] and te_x.shape == (2, 28, 28)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09\x01")
    with pytest.raises(DataError, match="t10k-labels"):
        load_fashion_mnist(tmp_path)


def test_idx_folder_and_fashion_mnist_sources_keep_the_fixed_test_split(idx_dir, monkeypatch):
    d = load_image_data(str(idx_dir), seed=0)
    assert d.shape == (1, 28, 28) and len(d.train_x) == 300 and len(d.test_x) == 100
    assert d.class_names == [f"class {i}" for i in range(10)] and -1 <= d.train_x.min() < d.train_x.max() <= 1
    raw_x, raw_y, _, te_y = load_fashion_mnist(idx_dir)
    # the training shuffle keeps every image with its own label
    first = torch.from_numpy(raw_x.astype(np.float32) / 255 * 2 - 1)
    match = (first[:, None] == d.train_x[0, 0][None]).flatten(1).all(1).nonzero()[0, 0]
    assert d.train_y[0] == int(raw_y[match]) and torch.equal(d.test_y, torch.from_numpy(te_y.astype(np.int64)))
    assert not torch.equal(d.train_x, load_image_data(str(idx_dir), seed=1).train_x)
    monkeypatch.setattr(image_data, "FASHION_DIR", idx_dir)
    f = load_image_data("fashion-mnist", image_size=14, limit=50)
    assert f.class_names[0] == "t-shirt" and f.shape == (1, 14, 14) and len(f.train_x) == 50


def test_idx_labels_beyond_the_class_names_are_rejected(tmp_path, monkeypatch):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28)), gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([0, 12]), gz=False)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((1, 28, 28)), gz=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([3]), gz=False)
    monkeypatch.setattr(image_data, "FASHION_DIR", tmp_path)
    with pytest.raises(DataError, match="labels go up to 12"):
        load_image_data("fashion-mnist")


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
