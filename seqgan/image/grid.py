"""Image grids as PNG with Pillow (no torchvision)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from seqgan.errors import optional_import


def make_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 1) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> uint8 array (rows*(H+pad)+pad, cols*(W+pad)+pad, C) on a grey background."""
    images = images.detach().cpu().float().clamp(-1, 1)
    n, c, h, w = images.shape
    cols = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / cols))
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 128, dtype=np.uint8)
    pixels = ((images + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, q = divmod(i, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = pixels[i]
    return grid


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int = 4) -> Path:
    """Write a grid of ``images`` (N, C, H, W) to ``path`` (PNG), each pixel enlarged ``scale`` times."""
    grid = make_grid(images, nrow)
    Image = optional_import("PIL.Image", "pillow", "image", "image grids")  # noqa: N806 - the module's usual name
    img = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
