"""The relativistic standard GAN loss (RSGAN; Jolicoeur-Martineau 2019), RelGAN's loss.

D does not say whether x is real but whether a real sample is more real than a fake one:
``D_loss = -log sigmoid(C(x_r) - C(x_f))`` and ``G_loss = -log sigmoid(C(x_f) - C(x_r))`` for paired real and fake
samples, with C the critic's logit. Logits of any shape pair element-wise (RelGAN pairs row i of the real batch with
row i of the fake batch, representation by representation: (B, R)).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def rsgan_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Scalar ``mean softplus(-(real - fake))`` = ``-mean log sigmoid(real - fake)``."""
    return F.softplus(-(real_logits.float() - fake_logits.float())).mean()


def rsgan_generator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Scalar ``mean softplus(-(fake - real))``; the real logits are constants for G."""
    return F.softplus(-(fake_logits.float() - real_logits.detach().float())).mean()
