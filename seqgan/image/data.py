"""Image data sets for the image-GAN submodule, as tensors in [-1, 1].

Sources (``ImageDataConfig.source``):

- ``digits`` (default): scikit-learn's 1,797 8x8 handwritten digits (values 0..16), 10 classes, offline.
- ``fashion-mnist``: the 28x28 Fashion-MNIST IDX files of the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist/*-ubyte[.gz]``), parsed here with numpy.
- a folder of MNIST-layout IDX files (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
  ``t10k-*``), e.g. MNIST itself; classes are named ``class 0``, ``class 1``, ...
- a folder of images (class = sub-folder name), read with Pillow and resized to ``image_size``.
- a NumPy ``.npz`` (arrays ``images`` (N, H, W) or (N, C, H, W) and optional ``labels`` (N,)) or ``.npy`` file.

Everything a user can get wrong raises a one-line :class:`~seqgan.errors.DataError` naming the path.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seqgan.errors import DataError, optional_import

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
FASHION_NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                 "ankle boot"]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass
class ImageData:
    """A seeded train/test split. ``train_x``/``test_x``: (N, C, H, W) float in [-1, 1]; ``*_y``: (N,) long
    class ids (all zero for unlabelled data); ``class_names``: one name per class (used by text conditions)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: list[str]
    name: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


def _read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (the MNIST format: magic 0x0000 TT DD, DD big-endian int32 dims, raw data)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read IDX file ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4).astype(np.int64)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: IDX header says {tuple(dims)} but the file holds {data.size} values")
    return data.reshape(tuple(dims))


def _find_idx(root: Path, stem: str) -> Path:
    for name in (f"{stem}-ubyte", f"{stem}-ubyte.gz", f"{stem}.idx3-ubyte", f"{stem}.idx1-ubyte"):
        if (root / name).is_file():
            return root / name
    raise DataError(f"{root}: Fashion-MNIST file {stem}-ubyte[.gz] not found "
                    "(install the Debian package dataset-fashion-mnist or set data.source to another data set)")


def has_idx(root: Path) -> bool:
    """Whether ``root`` holds MNIST-layout training images (``train-images-idx3-ubyte[.gz]``)."""
    return any(Path(root).glob("train-images-idx3-ubyte*"))


def load_fashion_mnist(root: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images (N, H, W) uint8, train labels, test images, test labels) from the IDX files in ``root``
    (default: the Debian package's folder)."""
    root = Path(root) if root is not None else FASHION_DIR
    parts = [_read_idx(_find_idx(root, stem)) for stem in
             ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")]
    for images, labels in ((parts[0], parts[1]), (parts[2], parts[3])):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{root}: Fashion-MNIST images and labels do not match in length/shape")
    return parts[0], parts[1], parts[2], parts[3]


def _resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    if size is None or images.shape[-1] == size and images.shape[-2] == size:
        return images
    return torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                                           antialias=True)


def _load_folder(root: Path, size: int | None, channels: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    optional_import("PIL", "pillow", "image", "image folders")
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root}: expected one sub-folder of images per class, found none")
    if size is None:
        raise DataError(f"{root}: image folders need data.image_size (the size images are resized to)")
    images, labels = [], []
    mode = "L" if channels == 1 else "RGB"
    for label, name in enumerate(classes):
        for file in sorted((root / name).iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as img:
                    arr = np.asarray(img.convert(mode).resize((size, size), Image.BILINEAR), dtype=np.float32)
            except (UnidentifiedImageError, OSError) as err:
                raise DataError(f"{file}: cannot read image ({type(err).__name__})") from None
            images.append(arr if channels == 3 else arr[..., None])
            labels.append(label)
    if not images:
        raise DataError(f"{root}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in the class folders")
    return np.stack(images).transpose(0, 3, 1, 2) / 255.0, np.asarray(labels), classes


def _load_array(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read NumPy file ({err})") from None
    if isinstance(loaded, np.ndarray):
        images, labels = loaded, None
    else:
        with loaded:
            if "images" not in loaded.files:
                raise DataError(f"{path}: expected an array named 'images' (found: {', '.join(loaded.files)})")
            images = loaded["images"]
            labels = loaded["labels"] if "labels" in loaded.files else None
    if images.ndim not in (3, 4) or images.shape[0] == 0:
        raise DataError(f"{path}: 'images' must have shape (N, H, W) or (N, C, H, W) with N > 0, "
                        f"got {images.shape}")
    if not np.issubdtype(images.dtype, np.number):
        raise DataError(f"{path}: 'images' must be numeric, got dtype {images.dtype}")
    if labels is not None and (labels.shape != (images.shape[0],) or not np.issubdtype(labels.dtype, np.integer)
                               or labels.min() < 0):
        raise DataError(f"{path}: 'labels' must be non-negative integers of shape ({images.shape[0]},), "
                        f"got {labels.dtype} {labels.shape}")
    if images.ndim == 3:
        images = images[:, None]
    if images.shape[1] not in (1, 3):
        raise DataError(f"{path}: expected 1 or 3 channels, got shape {images.shape}")
    return images.astype(np.float32), labels


def _to_unit(images: np.ndarray, path: str) -> np.ndarray:
    """Scale to [0, 1]: [0, 1] stays, [0, 255] (or any max > 1) is divided by its max, [-1, 1] is shifted."""
    lo, hi = float(images.min()), float(images.max())
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise DataError(f"{path}: images contain NaN or infinite values")
    if lo < -1.0 - 1e-6:
        raise DataError(f"{path}: image values must be >= -1 (got minimum {lo})")
    if lo < 0:
        return (images + 1.0) / 2.0
    return images / hi if hi > 1.0 else images


def load_image_data(source: str = "digits", image_size: int | None = None, channels: int = 1,
                    test_fraction: float = 0.2, seed: int = 0, limit: int | None = None) -> ImageData:
    """Load a data set and make a seeded, class-stratified-by-chance train/test split.

    Returns tensors scaled to [-1, 1]. ``image_size`` resizes (square); ``limit`` keeps the first N training
    images after shuffling (small tests); ``channels`` applies to image folders (1 grayscale, 3 RGB).
    """
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"data.test_fraction: expected a number in (0, 1), got {test_fraction}")
    fixed_test = None
    if source == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images, labels, names = bunch.images.astype(np.float32)[:, None] / 16.0, bunch.target, DIGIT_NAMES
    elif source == "fashion-mnist" or has_idx(Path(source)):
        tr_x, tr_y, te_x, te_y = load_fashion_mnist(None if source == "fashion-mnist" else Path(source))
        images, labels = tr_x.astype(np.float32)[:, None] / 255.0, tr_y
        names = FASHION_NAMES if source == "fashion-mnist" else [f"class {i}" for i in range(int(tr_y.max()) + 1)]
        if int(max(tr_y.max(), te_y.max())) >= len(names):
            raise DataError(f"{source}: labels go up to {int(max(tr_y.max(), te_y.max()))}, expected fewer than "
                            f"{len(names)} classes")
        fixed_test = (te_x.astype(np.float32)[:, None] / 255.0, te_y)
    else:
        path = Path(source)
        if not path.exists():
            raise DataError(f"{path}: data source not found (expected 'digits', 'fashion-mnist', an IDX or image "
                            "folder or a .npz/.npy file)")
        if path.is_dir():
            images, labels, names = _load_folder(path, image_size, channels)
        elif path.suffix in (".npz", ".npy"):
            images, labels = _load_array(path)
            images = _to_unit(images, str(path))
            if labels is None:
                labels, names = np.zeros(len(images), dtype=np.int64), ["image"]
            else:
                names = [f"class {i}" for i in range(int(labels.max()) + 1)]
        else:
            raise DataError(f"{path}: unsupported data file (expected a folder, .npz or .npy)")
    x = torch.from_numpy(np.ascontiguousarray(images)).float() * 2.0 - 1.0
    y = torch.from_numpy(np.asarray(labels).astype(np.int64))
    gen = torch.Generator().manual_seed(seed)
    if fixed_test is None:
        if len(x) < 2:
            raise DataError(f"{source}: need at least 2 images for a train/test split, got {len(x)}")
        perm = torch.randperm(len(x), generator=gen)
        n_test = max(1, int(round(len(x) * test_fraction)))
        test_idx, train_idx = perm[:n_test], perm[n_test:]
        train_x, train_y, test_x, test_y = x[train_idx], y[train_idx], x[test_idx], y[test_idx]
    else:
        perm = torch.randperm(len(x), generator=gen)
        train_x, train_y = x[perm], y[perm]
        test_x = torch.from_numpy(fixed_test[0]).float() * 2.0 - 1.0
        test_y = torch.from_numpy(fixed_test[1].astype(np.int64))
    if limit is not None:
        train_x, train_y = train_x[:limit], train_y[:limit]
    train_x, test_x = _resize(train_x, image_size).clamp(-1, 1), _resize(test_x, image_size).clamp(-1, 1)
    return ImageData(train_x.contiguous(), train_y, test_x.contiguous(), test_y, list(names), source)
