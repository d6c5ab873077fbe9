"""The image-GAN variants as loss objects over one shared alternating loop (:mod:`seqgan.image.loop`).

A variant owns its networks (``net``, a ModuleDict saved as one safetensors file), its optimisers, the list of
phases of an iteration (``phases(step)``: name, optimiser, repeats — k D-steps then g G-steps), the loss of each
phase (``loss(phase, x, y)`` -> named terms with the total under ``"loss"``) and a sampler. Batches: images ``x``
(B, C, H, W) in [-1, 1], labels ``y`` (B,).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from seqgan.image.config import ImageConfig
from seqgan.image.data import ImageData
from seqgan.image.losses import cgan_d_terms, cgan_g_terms, criterion, gan_d_terms, gan_g_terms, wrong_labels
from seqgan.image.nets import (CondAugment, ConditionEncoder, Discriminator, Encoder, EnergyNet, Generator,
                               PatchDiscriminator, RefineGenerator, UNet, kl_standard_normal)
from seqgan.image.text import CaptionBank


@dataclass(frozen=True)
class Phase:
    name: str
    optimizer: str
    repeats: int


class Variant:
    """Base: subclasses fill ``self.net`` and ``self.groups`` (optimiser name -> (module names, lr))."""

    conditional = False

    def __init__(self, cfg: ImageConfig, data: ImageData):
        self.cfg, self.data = cfg, data
        self.shape = data.shape
        self.num_classes = data.num_classes
        self.net = nn.ModuleDict()
        self.groups: dict[str, tuple[list[str], float]] = {}
        self.captions = CaptionBank(data.class_names)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = {}
        for name, (modules, lr) in self.groups.items():
            params = [p for m in modules for p in self.net[m].parameters()]
            opts[name] = torch.optim.Adam(params, lr=lr, betas=(self.cfg.train.beta1, 0.999))
        return opts

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.model.z_dim, device=self.device)

    def condition(self, labels: torch.Tensor) -> torch.Tensor:
        """Class ids (B,) -> the network input: the ids themselves, or a random caption per id (B, L)."""
        return labels if self.cfg.model.condition == "label" else self.captions.sample(labels)

    def default_labels(self, n: int) -> torch.Tensor:
        return torch.arange(n, device=self.device) % self.num_classes

    def phases(self, step: int) -> list[Phase]:
        t = self.cfg.train
        return [Phase("D", "D", t.d_steps), Phase("G", "G", t.g_steps)]

    def loss(self, phase: str, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def sample(self, n: int, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(n, C, H, W) images; conditional variants use ``labels`` (n,) (default: 0, 1, ..., K-1, 0, ...)."""
        raise NotImplementedError


class GAN(Variant):
    """Unconditional GAN: MLP G and D, non-saturating or least-squares loss."""

    def __init__(self, cfg: ImageConfig, data: ImageData):
        super().__init__(cfg, data)
        m = cfg.model
        self.net["G"] = Generator(self.shape, m.z_dim, m.hidden, 0, m.arch, m.conv_width)
        self.net["D"] = Discriminator(self.shape, m.hidden, 0, "joint", m.arch, m.conv_width, m.minibatch_std)
        self.groups = {"G": (["G"], cfg.train.lr_g), "D": (["D"], cfg.train.lr_d)}

    def loss(self, phase, x, y):
        G, D, kind = self.net["G"], self.net["D"], self.cfg.train.loss
        if phase == "D":
            with torch.no_grad():
                fake = G(self.noise(len(x)))
            return gan_d_terms(D(x), D(fake), kind)
        return gan_g_terms(D(G(self.noise(len(x)))), kind)

    @torch.no_grad()
    def sample(self, n, labels=None):
        return self.net["G"](self.noise(n))


class CGAN(Variant):
    """Conditional GAN: condition = class id or caption, D joint or split, optional mismatch term."""

    conditional = True

    def __init__(self, cfg: ImageConfig, data: ImageData):
        super().__init__(cfg, data)
        m = cfg.model
        enc = lambda: ConditionEncoder(m.condition, self.num_classes, self.captions.vocab_size, m.cond_dim)  # noqa
        self.net["G_cond"], self.net["D_cond"] = enc(), enc()
        self.net["G"] = Generator(self.shape, m.z_dim, m.hidden, m.cond_dim, m.arch, m.conv_width)
        self.net["D"] = Discriminator(self.shape, m.hidden, m.cond_dim, m.d_design, m.arch, m.conv_width,
                                      m.minibatch_std)
        self.groups = {"G": (["G", "G_cond"], cfg.train.lr_g), "D": (["D", "D_cond"], cfg.train.lr_d)}

    def generate(self, labels: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Images (B, C, H, W) for class ids (B,); noise ``z`` (B, Z) drawn fresh unless given."""
        z = self.noise(len(labels)) if z is None else z.to(self.device)
        return self.net["G"](z, self.net["G_cond"](self.condition(labels)))

    def loss(self, phase, x, y):
        D, D_cond, t, design = self.net["D"], self.net["D_cond"], self.cfg.train, self.cfg.model.d_design
        e = D_cond(self.condition(y))
        if phase == "D":
            with torch.no_grad():
                fake = self.generate(y)
            wrong = D(x, D_cond(self.condition(wrong_labels(y, self.num_classes)))) if t.mismatch else None
            return cgan_d_terms(design, D(x, e), D(fake, e), wrong, t.loss)
        return cgan_g_terms(design, D(self.generate(y), e), t.loss)

    @torch.no_grad()
    def sample(self, n, labels=None, z=None):
        return self.generate(self.default_labels(n) if labels is None else labels.to(self.device), z)


class StackGAN(Variant):
    """Two stages: stage I draws a low-res image from (z, CA(c)); stage II refines it to full size from CA(c) again.
    Stage I trains for ``stackgan.stage1_steps`` iterations, then stage II with stage I frozen."""

    conditional = True

    def __init__(self, cfg: ImageConfig, data: ImageData):
        super().__init__(cfg, data)
        m, s = cfg.model, cfg.stackgan
        c, h, w = self.shape
        if h % s.low_size or w % s.low_size:
            from seqgan.errors import ConfigError

            raise ConfigError(f"stackgan.low_size: {s.low_size} must divide the image size {h}x{w}")
        self.factor = h // s.low_size
        low = (c, s.low_size, s.low_size)
        enc = lambda: ConditionEncoder(m.condition, self.num_classes, self.captions.vocab_size, m.cond_dim)  # noqa
        for stage in ("1", "2"):
            self.net[f"G{stage}_cond"], self.net[f"D{stage}_cond"] = enc(), enc()
            self.net[f"CA{stage}"] = CondAugment(m.cond_dim, s.ca_dim)
        self.net["G1"] = Generator(low, m.z_dim, m.hidden, s.ca_dim, m.arch, m.conv_width)
        self.net["D1"] = Discriminator(low, m.hidden, m.cond_dim, m.d_design, m.arch, m.conv_width, m.minibatch_std)
        self.net["G2"] = RefineGenerator(self.shape, s.ca_dim, m.conv_width)
        self.net["D2"] = Discriminator(self.shape, m.hidden, m.cond_dim, m.d_design, m.arch, m.conv_width,
                                       m.minibatch_std)
        lr_g, lr_d = cfg.train.lr_g, cfg.train.lr_d
        self.groups = {"G1": (["G1", "G1_cond", "CA1"], lr_g), "D1": (["D1", "D1_cond"], lr_d),
                       "G2": (["G2", "G2_cond", "CA2"], lr_g), "D2": (["D2", "D2_cond"], lr_d)}

    def stage(self, step: int) -> int:
        return 1 if step < self.cfg.stackgan.stage1_steps else 2

    def phases(self, step):
        t, s = self.cfg.train, str(self.stage(step))
        return [Phase(f"D{s}", f"D{s}", t.d_steps), Phase(f"G{s}", f"G{s}", t.g_steps)]

    def stage1(self, z, cond):
        """Low-res images (B, C, h, w) and the CA KL term."""
        c_hat, mean, logvar = self.net["CA1"](self.net["G1_cond"](cond))
        return self.net["G1"](z, c_hat), kl_standard_normal(mean, logvar)

    def stage2(self, low, cond):
        """Full-res images (B, C, H, W) from stage-I output (B, C, h, w) and the CA KL term."""
        c_hat, mean, logvar = self.net["CA2"](self.net["G2_cond"](cond))
        return self.net["G2"](low, c_hat), kl_standard_normal(mean, logvar)

    def loss(self, phase, x, y):
        t, design, s = self.cfg.train, self.cfg.model.d_design, phase[1]
        D, D_cond = self.net[f"D{s}"], self.net[f"D{s}_cond"]
        real = F.avg_pool2d(x, self.factor) if s == "1" else x
        cond = self.condition(y)
        e = D_cond(cond)

        def generate():
            if s == "1":
                return self.stage1(self.noise(len(y)), cond)
            with torch.no_grad():  # stage I is frozen
                low, _ = self.stage1(self.noise(len(y)), cond)
            return self.stage2(low, cond)

        if phase[0] == "D":
            with torch.no_grad():
                fake, _ = generate()
            wrong = D(real, D_cond(self.condition(wrong_labels(y, self.num_classes)))) if t.mismatch else None
            return cgan_d_terms(design, D(real, e), D(fake, e), wrong, t.loss)
        fake, kl = generate()
        terms = cgan_g_terms(design, D(fake, e), t.loss)
        terms["kl"] = kl
        terms["loss"] = terms["loss"] + self.cfg.stackgan.kl_weight * kl
        return terms

    @torch.no_grad()
    def sample_stages(self, n, labels=None, z=None):
        """(stage-I output upsampled to full size (bilinear), stage-II output), each (n, C, H, W)."""
        labels = self.default_labels(n) if labels is None else labels.to(self.device)
        cond = self.condition(labels)
        low, _ = self.stage1(self.noise(n) if z is None else z.to(self.device), cond)
        high, _ = self.stage2(low, cond)
        up = F.interpolate(low, size=self.shape[1:], mode="bilinear", align_corners=False)
        return up, high

    def sample(self, n, labels=None, z=None):
        return self.sample_stages(n, labels, z)[1]


def make_source(x: torch.Tensor, task: str, factor: int = 2) -> torch.Tensor:
    """pix2pix input built from the target image (B, C, H, W): ``downsample`` = factor x factor block average
    repeated (a blocky 1/factor-resolution image: 28x28 -> 7x7 with factor 4), ``mask`` = bottom half set to -1
    (background)."""
    if task == "downsample":
        return F.interpolate(F.avg_pool2d(x, factor), scale_factor=factor, mode="nearest")
    out = x.clone()
    out[..., x.shape[-2] // 2:, :] = -1.0
    return out


class Pix2Pix(Variant):
    """Paired translation source -> image: U-Net G, PatchGAN D on (source, image), loss gan_weight * GAN +
    lambda_l1 * L1."""

    def __init__(self, cfg: ImageConfig, data: ImageData):
        super().__init__(cfg, data)
        c, h, w = self.shape
        if h % 4 or w % 4:
            from seqgan.errors import ConfigError

            raise ConfigError(f"pix2pix: image size {h}x{w} must be divisible by 4 (set data.image_size)")
        self.net["G"] = UNet(c, cfg.model.conv_width)
        self.net["D"] = PatchDiscriminator(c, cfg.model.conv_width, strides=2 if h >= 16 else 1)
        self.groups = {"G": (["G"], cfg.train.lr_g), "D": (["D"], cfg.train.lr_d)}

    def phases(self, step):
        t = self.cfg.train
        if self.cfg.pix2pix.gan_weight <= 0:
            return [Phase("G", "G", t.g_steps)]
        return super().phases(step)

    def loss(self, phase, x, y):
        G, D, p, kind = self.net["G"], self.net["D"], self.cfg.pix2pix, self.cfg.train.loss
        src = make_source(x, p.task, p.factor)
        if phase == "D":
            with torch.no_grad():
                fake = G(src)
            return gan_d_terms(D(src, x), D(src, fake), kind)
        fake = G(src)
        terms = {"l1": (fake - x).abs().mean()}
        terms["loss"] = p.lambda_l1 * terms["l1"]
        if p.gan_weight > 0:
            terms["adv"] = criterion(D(src, fake), 1.0, kind)
            terms["loss"] = terms["loss"] + p.gan_weight * terms["adv"]
        return terms

    @torch.no_grad()
    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs (B, C, H, W) for the sources built from images ``x``."""
        p = self.cfg.pix2pix
        return self.net["G"](make_source(x.to(self.device), p.task, p.factor))

    def sample(self, n, labels=None):
        x = self.data.test_x if labels is None else self.data.test_x[self.data.test_y == labels[0].item()]
        return self.translate(x[:n])


class VAE(Variant):
    """Generator alone: encoder q(z|x) and decoder p(x|z) (the GAN generator's architecture) trained on the ELBO;
    samples decode z ~ N(0, I)."""

    def __init__(self, cfg: ImageConfig, data: ImageData):
        super().__init__(cfg, data)
        m = cfg.model
        self.net["enc"] = Encoder(self.shape, m.z_dim, m.hidden, m.arch, m.conv_width)
        self.net["G"] = Generator(self.shape, m.z_dim, m.hidden, 0, m.arch, m.conv_width)
        self.groups = {"VAE": (["enc", "G"], cfg.train.lr_g)}

    def phases(self, step):
        return [Phase("VAE", "VAE", 1)]

    def loss(self, phase, x, y):
        v = self.cfg.vae
        mean, logvar = self.net["enc"](x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        recon = self.net["G"](z)
        terms = {"recon": (recon - x).pow(2).flatten(1).sum(1).mean() / (2 * v.recon_sigma ** 2),
                 "kl": kl_standard_normal(mean, logvar)}
        terms["loss"] = terms["recon"] + v.kl_weight * terms["kl"]
        return terms

    @torch.no_grad()
    def sample(self, n, labels=None):
        return self.net["G"](self.noise(n))


class Energy(Variant):
    """Discriminator alone: an energy E(x); generation is a search (Langevin gradient steps on the input, from
    uniform noise), training pushes E down on data and up on the search's own results (contrastive loss)."""

    def __init__(self, cfg: ImageConfig, data: ImageData):
        super().__init__(cfg, data)
        self.net["E"] = EnergyNet(self.shape, cfg.model.hidden, cfg.model.arch, cfg.model.conv_width)
        self.groups = {"E": (["E"], cfg.train.lr_g)}

    def phases(self, step):
        return [Phase("E", "E", 1)]

    def search(self, n: int) -> torch.Tensor:
        """Langevin from U(-1, 1): x <- clamp(x - step/2 * dE/dx + noise * eps, -1, 1). -> (n, C, H, W)."""
        e = self.cfg.energy
        x = torch.rand(n, *self.shape, device=self.device) * 2 - 1
        with torch.enable_grad():
            for _ in range(e.langevin_steps):
                x = x.detach().requires_grad_(True)
                grad, = torch.autograd.grad(self.net["E"](x).sum(), x)
                x = (x - 0.5 * e.step_size * grad + e.noise * torch.randn_like(x)).clamp(-1, 1)
        return x.detach()

    def loss(self, phase, x, y):
        neg = self.search(len(x))
        e_real, e_neg = self.net["E"](x), self.net["E"](neg)
        terms = {"real": e_real.mean(), "fake": e_neg.mean(),
                 "reg": (e_real.pow(2) + e_neg.pow(2)).mean()}
        terms["loss"] = terms["real"] - terms["fake"] + self.cfg.energy.reg * terms["reg"]
        return terms

    def sample(self, n, labels=None):
        return self.search(n)


VARIANT_CLASSES = {"gan": GAN, "cgan": CGAN, "stackgan": StackGAN, "pix2pix": Pix2Pix, "vae": VAE,
                   "energy": Energy}


def build_variant(cfg: ImageConfig, data: ImageData) -> Variant:
    """The variant object named by ``cfg.variant`` (networks initialised from the current torch seed)."""
    return VARIANT_CLASSES[cfg.variant](cfg, data)
