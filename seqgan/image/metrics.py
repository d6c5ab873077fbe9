"""Evaluation of image generators with a small classifier trained on the real training data.

- conditional accuracy: the classifier's accuracy on conditional samples w.r.t. the class they were asked for;
- within-class diversity: the mean pairwise Euclidean distance between the classifier's penultimate features of
  images of one class, averaged over classes; reported as the ratio of generated to real test images (1.0: as
  varied as the data; near 0: the generator draws one image per class whatever its noise);
- sharpness: the mean absolute 4-neighbour Laplacian of the pixels (blurry images have small second
  differences), reported as the ratio to the real images it is compared with;
- classifier-FID: the Fréchet distance between Gaussians fitted to the classifier's penultimate features of real
  test images and of generated images:

      FD = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^{1/2}).

  ``Tr((S_r S_g)^{1/2})`` is computed without scipy: with ``A = S_r^{1/2}`` (eigendecomposition of the symmetric
  S_r, negative eigenvalues clipped to 0), ``S_r S_g`` is similar to the symmetric PSD ``M = A S_g A``, so the
  trace equals ``sum_i sqrt(lambda_i(M))``. All in float64.

The classifier is trained once and cached (safetensors + meta.json keyed by the data) and reused by later runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from seqgan.image.data import ImageData
from seqgan.runs.checkpoint import load_module, save_module, write_checkpoint


CLASSIFIER_VERSION = 2  # part of the cache key: a cached classifier of another architecture is retrained


class Classifier(nn.Module):
    """Small CNN: (B, C, H, W) -> logits (B, K); ``features`` gives the penultimate activations (B, 128).
    Images of 16 pixels or more are max-pooled 2x after each conv (28x28: 14x14, then 7x7)."""

    def __init__(self, shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        c, h, w = shape
        pool = (lambda: nn.MaxPool2d(2)) if h >= 16 else nn.Identity
        self.conv = nn.Sequential(nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), pool(), nn.Conv2d(32, 32, 3, padding=1),
                                  nn.ReLU(), pool(), nn.AdaptiveAvgPool2d(4))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(32 * 16, 128), nn.ReLU())
        self.out = nn.Linear(128, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


def _data_key(data: ImageData) -> dict:
    return {"name": data.name, "shape": list(data.shape), "n_train": len(data.train_x),
            "checksum": round(float(data.train_x.double().sum()), 3), "classes": data.class_names}


def train_classifier(data: ImageData, epochs: int = 40, seed: int = 0, batch_size: int = 64) -> Classifier:
    """Fit the evaluation classifier on the training split (Adam, cross-entropy, small shift augmentation)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        clf = Classifier(data.shape, data.num_classes)
    opt = torch.optim.Adam(clf.parameters(), lr=1e-3)
    x, y = data.train_x, data.train_y
    clf.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            xb = x[idx]
            if torch.rand((), generator=gen) < 0.5:  # one-pixel shift augmentation
                xb = torch.roll(xb, shifts=int(torch.randint(-1, 2, (), generator=gen)), dims=-1)
            loss = F.cross_entropy(clf(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return clf.eval()


def load_or_train_classifier(data: ImageData, cache_dir: str | Path, epochs: int = 40, seed: int = 0) -> Classifier:
    """The cached classifier for ``data`` under ``cache_dir``, trained and saved first if absent or stale."""
    cache = Path(cache_dir)
    key = _data_key(data) | {"epochs": epochs, "seed": seed, "arch": CLASSIFIER_VERSION}
    meta = cache / "meta.json"
    clf = Classifier(data.shape, data.num_classes)
    if meta.is_file() and (cache / "classifier.safetensors").is_file():
        try:
            if json.loads(meta.read_text()) == key:
                load_module(clf, cache / "classifier.safetensors")
                return clf.eval()
        except (ValueError, OSError):
            pass
    clf = train_classifier(data, epochs, seed)

    def write(staging: Path) -> None:
        save_module(clf, staging / "classifier.safetensors")
        (staging / "meta.json").write_text(json.dumps(key))

    write_checkpoint(cache, write)
    return clf


@torch.no_grad()
def classifier_outputs(clf: Classifier, images: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, 128), predicted classes (N,)) for images (N, C, H, W)."""
    device = next(clf.parameters()).device
    feats, preds = [], []
    for i in range(0, len(images), batch):
        f = clf.features(images[i:i + batch].to(device).float())
        feats.append(f.cpu())
        preds.append(clf.out(f).argmax(1).cpu())
    return torch.cat(feats), torch.cat(preds)


def _sqrtm_psd(mat: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(mat)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(feat_a: torch.Tensor, feat_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, F) and (M, F) (see module docstring)."""
    a, b = feat_a.double(), feat_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    root_a = _sqrtm_psd(cov_a)
    m = root_a @ cov_b @ root_a
    tr_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    value = (mu_a - mu_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * tr_sqrt
    return float(value.clamp(min=0))


def class_spread(feats: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """Mean pairwise distance of features (N, F) within each class of ``labels`` (N,), averaged over the classes
    present with at least two members."""
    spreads = []
    for k in range(num_classes):
        f = feats[labels == k].double()
        if len(f) >= 2:
            d = torch.cdist(f, f)
            spreads.append(d.sum() / (len(f) * (len(f) - 1)))
    return float(torch.stack(spreads).mean()) if spreads else 0.0


def sharpness(images: torch.Tensor) -> float:
    """Mean absolute 4-neighbour Laplacian of images (N, C, H, W) (interior pixels)."""
    x = images.double()
    lap = (x[..., 1:-1, :-2] + x[..., 1:-1, 2:] + x[..., :-2, 1:-1] + x[..., 2:, 1:-1] - 4 * x[..., 1:-1, 1:-1])
    return float(lap.abs().mean())


class Evaluator:
    """Classifier-FID against the test split, conditional accuracy and within-class diversity, with the test
    features computed once."""

    def __init__(self, clf: Classifier, data: ImageData):
        self.clf, self.data = clf, data
        self.test_feats, test_pred = classifier_outputs(clf, data.test_x)
        self.test_acc = float((test_pred == data.test_y).float().mean())
        self.test_spread = class_spread(self.test_feats, data.test_y, data.num_classes)

    def diversity(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """Within-class feature spread of ``images`` generated for ``labels`` / that of the real test images."""
        feats = classifier_outputs(self.clf, images)[0]
        return class_spread(feats, labels.cpu(), self.data.num_classes) / self.test_spread

    def fid(self, images: torch.Tensor) -> float:
        return frechet_distance(self.test_feats, classifier_outputs(self.clf, images)[0])

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        return float((classifier_outputs(self.clf, images)[1] == labels.cpu()).float().mean())
