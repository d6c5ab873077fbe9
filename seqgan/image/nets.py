"""Networks of the image submodule, sized for small images (8x8 digits; they work for any size divisible by 4).

Shapes: images (B, C, H, W) in [-1, 1]; conditions are class ids (B,) or caption token ids (B, L); noise (B, Z).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ConditionEncoder(nn.Module):
    """Class id (B,) -> (B, E) via an embedding table, or caption ids (B, L) -> (B, E) via token embedding + GRU
    (last hidden state averaged with the mean of the non-pad token embeddings)."""

    def __init__(self, kind: str, num_classes: int, vocab_size: int, dim: int):
        super().__init__()
        self.kind = kind
        if kind == "label":
            self.table = nn.Embedding(num_classes, dim)
        else:
            self.tokens = nn.Embedding(vocab_size, dim, padding_idx=0)
            self.gru = nn.GRU(dim, dim, batch_first=True)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        if self.kind == "label":
            return self.table(cond)  # (B, E)
        emb = self.tokens(cond)  # (B, L, E)
        mask = (cond != 0).float().unsqueeze(-1)  # (B, L, 1)
        lengths = mask.sum(1).clamp(min=1)  # (B, 1)
        packed = nn.utils.rnn.pack_padded_sequence(emb, lengths.squeeze(1).long().cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, h = self.gru(packed)  # (1, B, E)
        return 0.5 * (h[0] + (emb * mask).sum(1) / lengths)  # (B, E)


def mlp(sizes: list[int], out_act: nn.Module | None = None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """G(z[, e]) -> image. ``z``: (B, Z), ``e``: (B, E) condition embedding or None -> (B, C, H, W) in [-1, 1]."""

    def __init__(self, shape: tuple[int, int, int], z_dim: int, hidden: int, cond_dim: int = 0):
        super().__init__()
        self.shape, self.z_dim = tuple(shape), z_dim
        c, h, w = shape
        self.net = mlp([z_dim + cond_dim, hidden, hidden, c * h * w], nn.Tanh())

    def forward(self, z: torch.Tensor, e: torch.Tensor | None = None) -> torch.Tensor:
        inp = z if e is None else torch.cat([z, e], dim=1)
        return self.net(inp).view(-1, *self.shape)


class Discriminator(nn.Module):
    """D(x[, e]) -> logits. ``design='joint'``: one score of (condition, image) (B,); ``design='split'``: a realism
    score of the image alone and a match score of (condition, image), returned as a pair of (B,) tensors;
    unconditional when ``cond_dim`` is 0 -> (B,)."""

    def __init__(self, shape: tuple[int, int, int], hidden: int, cond_dim: int = 0, design: str = "joint"):
        super().__init__()
        c, h, w = shape
        self.design, self.cond_dim = design, cond_dim
        self.body = mlp([c * h * w, hidden, hidden])
        self.act = nn.LeakyReLU(0.2)
        if cond_dim and design == "joint":
            self.head = mlp([hidden + cond_dim, hidden, 1])
        else:
            self.head = nn.Linear(hidden, 1)
        if cond_dim and design == "split":
            self.match = mlp([hidden + cond_dim, hidden, 1])

    def forward(self, x: torch.Tensor, e: torch.Tensor | None = None):
        feat = self.act(self.body(x.flatten(1)))  # (B, hidden)
        if not self.cond_dim:
            return self.head(feat).squeeze(1)
        if self.design == "joint":
            return self.head(torch.cat([feat, e], dim=1)).squeeze(1)
        return self.head(feat).squeeze(1), self.match(torch.cat([feat, e], dim=1)).squeeze(1)


class CondAugment(nn.Module):
    """StackGAN conditioning augmentation: e (B, E) -> mean, log-variance (B, Ec); c_hat = mean + exp(logvar/2) * eps.
    ``kl`` is KL(N(mean, diag var) || N(0, I)) averaged over the batch."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.proj = nn.Linear(in_dim, 2 * out_dim)

    def forward(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, logvar = F.leaky_relu(self.proj(e), 0.2).chunk(2, dim=1)
        c_hat = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        return c_hat, mean, logvar


def kl_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) summed over dims, averaged over the batch: 0.5 * sum(mu^2 + s^2 - log s^2 - 1)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1.0).sum(1).mean()


class RefineGenerator(nn.Module):
    """StackGAN stage II: low-res image (B, C, h, w) + condition c_hat (B, Ec) -> full-res (B, C, H, W).
    The low-res image is upsampled, the condition broadcast as channels, then residual conv blocks refine it."""

    def __init__(self, shape: tuple[int, int, int], cond_dim: int, channels: int = 32):
        super().__init__()
        self.shape = tuple(shape)
        c = shape[0]
        self.inp = nn.Conv2d(c + cond_dim, channels, 3, padding=1)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2),
                                                   nn.Conv2d(channels, channels, 3, padding=1)) for _ in range(2)])
        self.out = nn.Conv2d(channels, c, 3, padding=1)

    def forward(self, low: torch.Tensor, c_hat: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(low, size=self.shape[1:], mode="nearest")  # (B, C, H, W)
        cond = c_hat[:, :, None, None].expand(-1, -1, *self.shape[1:])
        h = F.leaky_relu(self.inp(torch.cat([up, cond], dim=1)), 0.2)
        for block in self.blocks:
            h = F.leaky_relu(h + block(h), 0.2)
        return torch.tanh(self.out(h) + torch.atanh(up.clamp(-0.999, 0.999)))


class UNet(nn.Module):
    """pix2pix generator: two stride-2 downsamplings, two upsamplings with skip connections (concat).
    (B, C, H, W) -> (B, C, H, W); H and W must be divisible by 4."""

    def __init__(self, channels: int, width: int = 32):
        super().__init__()
        self.d1 = nn.Conv2d(channels, width, 3, padding=1)
        self.d2 = nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)
        self.d3 = nn.Conv2d(2 * width, 4 * width, 4, stride=2, padding=1)
        self.u3 = nn.ConvTranspose2d(4 * width, 2 * width, 4, stride=2, padding=1)
        self.u2 = nn.ConvTranspose2d(4 * width, width, 4, stride=2, padding=1)
        self.out = nn.Conv2d(2 * width, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h1 = F.leaky_relu(self.d1(x), 0.2)  # (B, w, H, W)
        h2 = F.leaky_relu(self.d2(h1), 0.2)  # (B, 2w, H/2, W/2)
        h3 = F.leaky_relu(self.d3(h2), 0.2)  # (B, 4w, H/4, W/4)
        u2 = F.relu(self.u3(h3))  # (B, 2w, H/2, W/2)
        u1 = F.relu(self.u2(torch.cat([u2, h2], 1)))  # (B, w, H, W)
        return torch.tanh(self.out(torch.cat([u1, h1], 1)))


class PatchDiscriminator(nn.Module):
    """PatchGAN: (input, output) pair concatenated on channels (B, 2C, H, W) -> one logit per patch
    (B, 1, H/2, W/2); each logit sees a 6x6 receptive field (for 8x8 images)."""

    def __init__(self, channels: int, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2 * channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 1),
        )

    def forward(self, source: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([source, image], dim=1))


class Encoder(nn.Module):
    """VAE encoder q(z|x): (B, C, H, W) -> mean, logvar (B, Z)."""

    def __init__(self, shape: tuple[int, int, int], z_dim: int, hidden: int):
        super().__init__()
        c, h, w = shape
        self.net = mlp([c * h * w, hidden, hidden, 2 * z_dim])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.net(x.flatten(1)).chunk(2, dim=1)
        return mean, logvar.clamp(-8, 8)


class EnergyNet(nn.Module):
    """E(x): (B, C, H, W) -> (B,) energy (low = looks like data). Smooth activations so Langevin gradients are
    informative."""

    def __init__(self, shape: tuple[int, int, int], hidden: int):
        super().__init__()
        c, h, w = shape
        self.net = nn.Sequential(nn.Linear(c * h * w, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)
