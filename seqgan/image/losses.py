"""Loss terms of the image GANs, each returned by name so the loop can log it.

``criterion(logits, target)`` is the per-kind adversarial criterion: ``ns`` (non-saturating; binary cross-entropy
on logits) or ``lsgan`` (least squares, 0.5 * (logit - target)^2). Targets are 1 for "real", 0 for "fake".

Conditional discriminator loss (matching-aware, GAN-CLS weighting): with mismatch,
``L_D = real + (fake + mismatch) / 2``, without it ``L_D = real + fake``, where for the

- ``joint`` design (one score s(c, x)): real = crit(s(c, x), 1), fake = crit(s(c, G(z, c)), 0),
  mismatch = crit(s(c', x), 0) with c' a condition of another class;
- ``split`` design (realism r(x) and match m(c, x)): real = crit(r(x), 1) + crit(m(c, x), 1),
  fake = crit(r(G), 0) + crit(m(c, G), 0), mismatch = crit(r(x), 1) + crit(m(c', x), 0).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def criterion(logits: torch.Tensor, target: float, kind: str = "ns") -> torch.Tensor:
    """Mean adversarial loss of ``logits`` (any shape) towards ``target`` (1 real, 0 fake)."""
    if kind == "lsgan":
        return 0.5 * (logits - target).pow(2).mean()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)))


def gan_d_terms(real: torch.Tensor, fake: torch.Tensor, kind: str = "ns") -> dict[str, torch.Tensor]:
    """Unconditional D loss: real logits (B,) -> 1, fake logits (B,) -> 0."""
    terms = {"real": criterion(real, 1.0, kind), "fake": criterion(fake, 0.0, kind)}
    terms["loss"] = terms["real"] + terms["fake"]
    return terms


def gan_g_terms(fake: torch.Tensor, kind: str = "ns") -> dict[str, torch.Tensor]:
    """Non-saturating (or least-squares) G loss: D's logits on generated images (B,) -> 1."""
    terms = {"adv": criterion(fake, 1.0, kind)}
    terms["loss"] = terms["adv"]
    return terms


def cgan_d_terms(design: str, real, fake, wrong=None, kind: str = "ns") -> dict[str, torch.Tensor]:
    """Conditional D loss. ``joint``: real/fake/wrong are (B,) logits; ``split``: (realism, match) pairs of (B,)
    logits. ``wrong`` (real images under mismatched conditions) None drops the mismatch term."""
    if design == "joint":
        terms = {"real": criterion(real, 1.0, kind), "fake": criterion(fake, 0.0, kind)}
        if wrong is not None:
            terms["mismatch"] = criterion(wrong, 0.0, kind)
    else:
        terms = {"real": criterion(real[0], 1.0, kind) + criterion(real[1], 1.0, kind),
                 "fake": criterion(fake[0], 0.0, kind) + criterion(fake[1], 0.0, kind)}
        if wrong is not None:
            terms["mismatch"] = criterion(wrong[0], 1.0, kind) + criterion(wrong[1], 0.0, kind)
    if wrong is None:
        terms["loss"] = terms["real"] + terms["fake"]
    else:
        terms["loss"] = terms["real"] + 0.5 * (terms["fake"] + terms["mismatch"])
    return terms


def cgan_g_terms(design: str, fake, kind: str = "ns") -> dict[str, torch.Tensor]:
    """Conditional G loss: generated images scored as real (split: realism and match both -> 1)."""
    if design == "joint":
        return gan_g_terms(fake, kind)
    terms = {"adv": criterion(fake[0], 1.0, kind), "match": criterion(fake[1], 1.0, kind)}
    terms["loss"] = terms["adv"] + terms["match"]
    return terms


def wrong_labels(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """A different class for every label (uniform over the other K-1 classes). (B,) -> (B,)."""
    shift = torch.randint(1, num_classes, labels.shape, device=labels.device)
    return (labels + shift) % num_classes


def psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB for images in [-1, 1] (peak-to-peak range 2): 10 log10(4 / MSE)."""
    mse = (pred - target).pow(2).mean().item()
    return float("inf") if mse == 0 else 10.0 * torch.log10(torch.tensor(4.0 / mse)).item()
