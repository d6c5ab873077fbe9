"""Losses of the relaxed routes, where D reads G's (B, T, V) token distributions and G trains through D.

- :func:`generator_loss`: G's adversarial loss from D's logits on its relaxed replies (non-saturating, minimax,
  or the Wasserstein generator loss).
- :func:`wgan_gp_critic_loss`: a Wasserstein critic with gradient penalty (Gulrajani et al. 2017, whose
  character-level language model feeds the critic G's softmax directly): ``E[D(fake)] - E[D(real)]`` (+ the
  mismatched-context term for a conditional critic) + ``gp_weight * E[(||grad D(x_hat)|| - 1)^2]`` with
  ``x_hat`` interpolated between real one-hots and G's distributions in (B, T, V) space.
- :func:`discriminator_inputs`: what D is shown for real and generated replies, with the optional mitigation of
  the continuous route's "cheating" problem (real one-hots are trivially told apart from soft vectors by their
  maximum probability / entropy alone; see :mod:`seqgan.metrics.cheating`).

Shapes: ``B`` batch, ``T`` reply length, ``V`` vocabulary.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from seqgan.models.policy import Context
from seqgan.models.sampling import inverse_cdf_sample

GENERATOR_LOSSES = ("non_saturating", "minimax", "wasserstein")
MITIGATIONS = ("none", "straight_through")


def generator_loss(fake_logit: Tensor, kind: str) -> Tensor:
    """Scalar G loss from D's logits (B,) on G's relaxed replies (D fixed).

    non_saturating: ``-log D`` = softplus(-l); minimax: ``log(1 - D)`` = -softplus(l) (saturates when D wins);
    wasserstein: ``-l`` (with a WGAN critic).
    """
    logit = fake_logit.float()
    if kind == "non_saturating":
        return F.softplus(-logit).mean()
    if kind == "minimax":
        return -F.softplus(logit).mean()
    if kind == "wasserstein":
        return -logit.mean()
    raise ValueError(f"generator loss: expected one of {list(GENERATOR_LOSSES)}, got {kind!r}")


def pad_time(x: Tensor, length: int) -> Tensor:
    """Right-pad dim 1 of (B, T, ...) with zeros to ``length``."""
    extra = length - x.shape[1]
    if extra <= 0:
        return x
    return torch.cat([x, x.new_zeros(x.shape[0], extra, *x.shape[2:])], dim=1)


def gradient_penalty(disc, context: Context, real: Tensor, fake: Tensor, mask: Tensor) -> Tensor:
    """E[(||dD/dx_hat|| - 1)^2], x_hat = e * real + (1 - e) * fake, e ~ U(0, 1) per row (global torch RNG).

    real, fake: (B, T, V) distributions of the same T; mask (B, T) (the union of both masks). The gradient norm is
    taken over the whole (T, V) input of each row; the penalty is differentiable w.r.t. D's parameters.
    """
    e = torch.rand(real.shape[0], 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    out = disc(context, x_hat, mask).logit
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(dim=1)  # (B,)
    return ((norm - 1.0) ** 2).mean()


def wgan_gp_critic_loss(disc, context: Context, real: Tensor, real_mask: Tensor, fake: Tensor, fake_mask: Tensor,
                        gp_weight: float = 10.0, mismatch_weight: float = 0.5,
                        mismatch_perm: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
    """WGAN-GP critic loss (to minimise) and its named terms.

    real: (B, T, V) (one-hots of human replies), fake: (B, T', V) G's relaxed replies, masks
    (B, T) / (B, T'). ``mismatch_perm`` (B,) pairs human replies with other rows' contexts: for a conditional critic
    ``mismatch_weight * (E[D(c', x_real)] - E[D(c, x_real)])`` is added, so the critic also learns to match c.
    Terms: ``critic_real``, ``critic_fake``, ``wdist`` (real - fake), ``gp`` (+ ``critic_mismatch``).
    """
    length = max(real.shape[1], fake.shape[1])
    real, fake = pad_time(real, length), pad_time(fake, length)
    real_mask, fake_mask = pad_time(real_mask, length), pad_time(fake_mask, length)
    d_real = disc(context, real, real_mask).logit.float()
    d_fake = disc(context, fake, fake_mask).logit.float()
    gp = gradient_penalty(disc, context, real, fake, torch.maximum(real_mask, fake_mask))
    loss = d_fake.mean() - d_real.mean() + gp_weight * gp
    r, f = float(d_real.detach().mean()), float(d_fake.detach().mean())
    terms = {"critic_real": r, "critic_fake": f, "wdist": r - f, "gp": float(gp.detach())}
    if mismatch_weight > 0 and mismatch_perm is not None and not context.is_empty and context.batch_size > 1:
        d_wrong = disc(context.index(mismatch_perm.to(context.ids.device)), real, real_mask).logit.float()
        loss = loss + mismatch_weight * (d_wrong.mean() - d_real.mean())
        terms["critic_mismatch"] = float(d_wrong.detach().mean())
    return loss, terms


def fake_input(probs: Tensor, mitigation: str = "none") -> Tensor:
    """What D reads for G's relaxed replies (B, T, V): ``probs`` itself, or with ``straight_through`` a hard
    one-hot of a token drawn from ``probs`` in the forward pass and the gradient of ``probs`` in the backward
    pass (``one_hot - probs.detach() + probs``), so D sees one-hots on both sides. Draws use the global RNG."""
    if mitigation != "straight_through":
        return probs
    V = probs.shape[-1]
    flat = probs.detach().reshape(-1, V).float().clamp(min=0)
    tokens = inverse_cdf_sample(flat).view(probs.shape[:-1])  # (B, T) drawn from probs
    one_hot = F.one_hot(tokens, V).to(probs.dtype)
    return one_hot - probs.detach() + probs


def discriminator_inputs(probs: Tensor, human_ids: Tensor, mitigation: str = "none") -> tuple[Tensor, Tensor]:
    """``(real, fake)`` as D reads them: human ids (B, T) (exact one-hots) and G's vectors (B, T, V) after
    :func:`fake_input`; ``mitigation`` is ``none`` (raw vectors) or ``straight_through`` (hard on both sides).

    (Mixing real one-hots with flat Dirichlet noise is not offered: on a constructed batch the max-prob/entropy
    classifier still separated such vectors from softmax outputs with AUC >= 0.99.)
    """
    if mitigation not in MITIGATIONS:
        raise ValueError(f"mitigation: expected one of {list(MITIGATIONS)}, got {mitigation!r}")
    return human_ids, fake_input(probs, mitigation)
