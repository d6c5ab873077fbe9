"""Networks of the image submodule, in two families chosen by ``model.arch``:

- ``mlp``: fully connected G / D / encoder / energy (the 8x8 digits);
- ``conv``: DCGAN-style nets (strided 4x4 convolutions; G transposed convolutions with batch norm) for 28x28 images
  (any size divisible by 4; 14x14 for StackGAN's stage I works too: sizes divisible by 2 get one resolution step).

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


def resolution_steps(size: int) -> int:
    """How many 2x steps the conv nets take between ``size`` and their coarsest grid (2 if size % 4 == 0, else 1)."""
    if size % 4 == 0 and size >= 8:
        return 2
    if size % 2 == 0:
        return 1
    raise ValueError(f"conv nets need an even image size, got {size}")


class ConvBody(nn.Module):
    """DCGAN discriminator trunk: strided 4x4 convs (width, 2*width, ...) with LeakyReLU, then a linear layer.
    (B, C, H, W) -> (B, out_dim). ``act`` replaces LeakyReLU (the energy model uses SiLU for smooth gradients).
    ``minibatch_std`` appends the batch's mean feature standard deviation as one extra channel before the last
    layer (the minibatch-stddev layer of progressive GANs): D can then see a batch without variety, so G is pushed
    to spread its samples."""

    def __init__(self, shape: tuple[int, int, int], width: int, out_dim: int, act=None,
                 minibatch_std: bool = False):
        super().__init__()
        c, h, w = shape
        steps = resolution_steps(h)
        act = act or (lambda: nn.LeakyReLU(0.2))
        layers: list[nn.Module] = []
        chans = c
        for i in range(steps):
            layers += [nn.Conv2d(chans, width * 2 ** i, 4, stride=2, padding=1), act()]
            chans = width * 2 ** i
        self.convs = nn.Sequential(*layers)
        self.minibatch_std = minibatch_std
        self.fc = nn.Linear((chans + int(minibatch_std)) * (h >> steps) * (w >> steps), out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x)  # (B, F, h', w')
        if self.minibatch_std:
            std = (h.var(0, unbiased=False) + 1e-8).sqrt().mean()  # one scalar over the batch
            h = torch.cat([h, std.expand(h.shape[0], 1, *h.shape[2:])], dim=1)
        return self.fc(h.flatten(1))


class ConvDecoder(nn.Module):
    """DCGAN generator trunk: (B, D) -> linear -> (2*width, h', w') -> [BN, ReLU, 4x4 transposed conv (x2)] per step
    -> BN, ReLU, 3x3 conv -> tanh -> (B, C, H, W)."""

    def __init__(self, shape: tuple[int, int, int], in_dim: int, width: int):
        super().__init__()
        c, h, w = shape
        steps = resolution_steps(h)
        self.start = (width * 2 ** steps, h >> steps, w >> steps)
        self.fc = nn.Linear(in_dim, self.start[0] * self.start[1] * self.start[2])
        layers: list[nn.Module] = []
        chans = self.start[0]
        for _ in range(steps):
            layers += [nn.BatchNorm2d(chans), nn.ReLU(), nn.ConvTranspose2d(chans, chans // 2, 4, stride=2, padding=1)]
            chans //= 2
        layers += [nn.BatchNorm2d(chans), nn.ReLU(), nn.Conv2d(chans, c, 3, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(inp).view(-1, *self.start))


class Generator(nn.Module):
    """G(z[, e]) -> image. ``z``: (B, Z), ``e``: (B, E) condition embedding or None -> (B, C, H, W) in [-1, 1].
    ``arch``: ``mlp`` (two hidden layers of ``hidden``) or ``conv`` (:class:`ConvDecoder` of ``width``)."""

    def __init__(self, shape: tuple[int, int, int], z_dim: int, hidden: int, cond_dim: int = 0, arch: str = "mlp",
                 width: int = 32):
        super().__init__()
        self.shape, self.z_dim = tuple(shape), z_dim
        c, h, w = shape
        if arch == "conv":
            self.net = ConvDecoder(self.shape, z_dim + cond_dim, width)
        else:
            self.net = mlp([z_dim + cond_dim, hidden, hidden, c * h * w], nn.Tanh())

    def forward(self, z: torch.Tensor, e: torch.Tensor | None = None) -> torch.Tensor:
        inp = z if e is None else torch.cat([z, e], dim=1)
        return self.net(inp).view(-1, *self.shape)


def image_body(shape: tuple[int, int, int], hidden: int, arch: str, width: int, minibatch_std: bool = False
               ) -> nn.Module:
    """Image features (B, hidden): a :class:`ConvBody` on (B, C, H, W), or an MLP on the flattened (B, C*H*W)."""
    if arch == "conv":
        return ConvBody(shape, width, hidden, minibatch_std=minibatch_std)
    c, h, w = shape
    return mlp([c * h * w, hidden, hidden])


def _body_input(body: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return x if isinstance(body, ConvBody) else x.flatten(1)


class Discriminator(nn.Module):
    """D(x[, e]) -> logits. ``design='joint'``: one score of (condition, image) (B,); ``design='split'``: a realism
    score of the image alone and a match score of (condition, image), returned as a pair of (B,) tensors;
    unconditional when ``cond_dim`` is 0 -> (B,)."""

    def __init__(self, shape: tuple[int, int, int], hidden: int, cond_dim: int = 0, design: str = "joint",
                 arch: str = "mlp", width: int = 32, minibatch_std: bool = False):
        super().__init__()
        self.design, self.cond_dim = design, cond_dim
        self.body = image_body(shape, hidden, arch, width, minibatch_std)
        self.act = nn.LeakyReLU(0.2)
        if cond_dim and design == "joint":
            self.head = mlp([hidden + cond_dim, hidden, 1])
        else:
            self.head = nn.Linear(hidden, 1)
        if cond_dim and design == "split":
            self.match = mlp([hidden + cond_dim, hidden, 1])

    def forward(self, x: torch.Tensor, e: torch.Tensor | None = None):
        feat = self.act(self.body(_body_input(self.body, x)))  # (B, hidden)
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
        mean, logvar = self.proj(e).chunk(2, dim=1)  # linear, as a VAE encoder: the noise can shrink below 1
        c_hat = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        return c_hat, mean, logvar


def kl_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) summed over dims, averaged over the batch: 0.5 * sum(mu^2 + s^2 - log s^2 - 1)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1.0).sum(1).mean()


class RefineGenerator(nn.Module):
    """StackGAN stage II: low-res image (B, C, h, w) + condition c_hat (B, Ec) -> full-res (B, C, H, W).

    The low-res image is upsampled (nearest) to H x W and encoded by a stride-2 conv to (B, w, H/2, W/2); the
    condition is broadcast as channels there, two residual blocks refine the joint map, and a transposed conv
    brings it back to H x W. The output is a correction added (before the tanh) to the upsampled input, so the
    stage starts close to "stage I, upsampled" and learns the missing detail."""

    def __init__(self, shape: tuple[int, int, int], cond_dim: int, channels: int = 32):
        super().__init__()
        self.shape = tuple(shape)
        c = shape[0]
        self.enc = nn.Conv2d(c, channels, 4, stride=2, padding=1)
        self.join = nn.Conv2d(channels + cond_dim, channels, 3, padding=1)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels),
                                                   nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1),
                                                   nn.BatchNorm2d(channels)) for _ in range(2)])
        self.up = nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1)
        self.out = nn.Conv2d(channels + c, c, 3, padding=1)

    def forward(self, low: torch.Tensor, c_hat: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(low, size=self.shape[1:], mode="nearest")  # (B, C, H, W)
        h = F.leaky_relu(self.enc(up), 0.2)  # (B, w, H/2, W/2)
        cond = c_hat[:, :, None, None].expand(-1, -1, *h.shape[2:])
        h = F.relu(self.join(torch.cat([h, cond], dim=1)))
        for block in self.blocks:
            h = F.relu(h + block(h))
        h = F.relu(self.up(h))  # (B, w, H, W)
        return torch.tanh(self.out(torch.cat([h, up], 1)) + torch.atanh(up.clamp(-0.99, 0.99)))


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
    (B, 1, H/2^s, W/2^s) after ``strides`` stride-2 convs; each logit sees a 6x6 (s=1) or 14x14 (s=2) patch."""

    def __init__(self, channels: int, width: int = 32, strides: int = 1):
        super().__init__()
        layers: list[nn.Module] = []
        chans = 2 * channels
        for i in range(strides):
            layers += [nn.Conv2d(chans, width * 2 ** i, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            chans = width * 2 ** i
        layers += [nn.Conv2d(chans, 2 * chans, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(2 * chans, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, source: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([source, image], dim=1))


class Encoder(nn.Module):
    """VAE encoder q(z|x): (B, C, H, W) -> mean, logvar (B, Z) (the discriminator's trunk, ``arch`` as in D)."""

    def __init__(self, shape: tuple[int, int, int], z_dim: int, hidden: int, arch: str = "mlp", width: int = 32):
        super().__init__()
        if arch == "conv":
            self.net = nn.Sequential(ConvBody(shape, width, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 2 * z_dim))
        else:
            c, h, w = shape
            self.net = mlp([c * h * w, hidden, hidden, 2 * z_dim])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.net(_body_input(self.net[0], x)).chunk(2, dim=1)
        return mean, logvar.clamp(-8, 8)


class EnergyNet(nn.Module):
    """E(x): (B, C, H, W) -> (B,) energy (low = looks like data). Smooth activations so Langevin gradients are
    informative."""

    def __init__(self, shape: tuple[int, int, int], hidden: int, arch: str = "mlp", width: int = 32):
        super().__init__()
        c, h, w = shape
        if arch == "conv":
            self.net = nn.Sequential(ConvBody(shape, width, hidden, act=nn.SiLU), nn.SiLU(), nn.Linear(hidden, 1))
        else:
            self.net = nn.Sequential(nn.Linear(c * h * w, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                     nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(_body_input(self.net[0], x)).squeeze(1)
