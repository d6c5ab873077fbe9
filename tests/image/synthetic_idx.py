"""Synthetic MNIST-layout IDX files (28x28, 10 classes): the 28x28 code paths run without the Debian package."""

import gzip
import struct

import numpy as np


def write_idx(path, array, gz=True):
    """Write ``array`` (uint8) as an IDX file (magic 0x0000 08 ndim, big-endian int32 dims, raw bytes)."""
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    with (gzip.open if gz else open)(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def synthetic_images(n, seed):
    """(images (n, 28, 28) uint8, labels (n,)): class k is a bright 6-pixel-wide bar, vertical at column 2k+2 for
    k < 5 and horizontal at row 2(k-5)+4 otherwise, with a random length and pixel noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.int64)
    for i, k in enumerate(labels):
        start, length = rng.integers(2, 8), rng.integers(12, 19)
        if k < 5:
            images[i, start:start + length, 2 * k + 2: 2 * k + 8] += 200
        else:
            images[i, 2 * (k - 5) + 4: 2 * (k - 5) + 10, start:start + length] += 200
    return images.clip(0, 255).astype(np.uint8), labels
