"""Typed config of an image-GAN run (one dataclass, a section per concern; recipes/image_<variant>.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from seqgan.config import check_fields, field
from seqgan.errors import ConfigError

VARIANTS = ("gan", "cgan", "stackgan", "pix2pix", "vae", "energy")


@dataclass
class ImageDataConfig:
    source: str = field("digits", help="'digits' (sklearn 8x8), 'fashion-mnist' (Debian package files), a folder "
                                       "of MNIST-layout IDX files, an image folder (class = sub-folder) or a "
                                       ".npz/.npy file")
    image_size: Optional[int] = field(None, help="resize images to this square size (required for folders)")
    channels: int = field(1, choices=(1, 3), help="1 grayscale or 3 RGB (image folders)")
    test_fraction: float = field(0.2, help="held-out fraction for the seeded train/test split")
    limit: Optional[int] = field(None, help="keep only this many training images (quick tests)")


@dataclass
class ImageModelConfig:
    z_dim: int = field(16, ge=1, help="noise dimension")
    hidden: int = field(256, ge=1, help="width of the MLP generator/discriminator layers")
    cond_dim: int = field(32, help="condition embedding width")
    condition: Literal["label", "text"] = field("label", help="condition as class id or as a short caption")
    d_design: Literal["joint", "split"] = field("joint", help="conditional D: one joint score or realism + match")
    conv_width: int = field(32, help="channels of conv nets (DCGAN G/D with arch=conv, U-Net, PatchGAN, stage II)")
    arch: Literal["mlp", "conv"] = field("mlp", help="G / D / encoder / energy nets: fully connected (8x8) or "
                                                     "DCGAN-style convolutional (28x28)")
    minibatch_std: bool = field(False, help="conv D: append the batch's feature spread as a channel (against "
                                            "mode collapse)")


@dataclass
class ImageTrainConfig:
    steps: int = field(2000, ge=1, help="training iterations (one iteration = every phase once)")
    batch_size: int = field(64, ge=1, help="images per step")
    lr_g: float = field(2e-4, help="Adam learning rate of generators / the VAE / the energy model")
    lr_d: float = field(2e-4, help="Adam learning rate of discriminators")
    beta1: float = field(0.5, help="Adam beta1")
    d_steps: int = field(1, ge=1, help="k: D-steps per iteration")
    g_steps: int = field(1, ge=1, help="g: G-steps per iteration")
    loss: Literal["ns", "lsgan"] = field("ns", help="adversarial criterion: non-saturating BCE or least squares")
    mismatch: bool = field(True, help="cGAN/StackGAN: real image under a wrong condition counts as fake")
    log_every: int = field(50, ge=1, help="write losses to metrics.jsonl every N steps")
    save_every: int = field(500, ge=1, help="checkpoint every N steps (and at the end / on Ctrl-C)")


@dataclass
class StackGANConfig:
    stage1_steps: int = field(1000, help="steps of stage I; the remaining train.steps train stage II (I frozen)")
    low_size: int = field(4, help="stage I resolution (the full size must be a multiple)")
    ca_dim: int = field(16, help="conditioning augmentation output width")
    kl_weight: float = field(1.0, help="weight of the CA KL term in the generator losses")


@dataclass
class Pix2PixConfig:
    task: Literal["downsample", "mask"] = field("downsample", help="input built from the image: block "
                                                                   "downsampled (by factor), or bottom half masked")
    factor: int = field(2, ge=2, help="downsample task: block size of the averaging (28x28 with 4: a 7x7 input)")
    lambda_l1: float = field(100.0, help="weight of the L1 term")
    gan_weight: float = field(1.0, help="weight of the adversarial term (0: L1 alone)")


@dataclass
class VAEConfig:
    recon_sigma: float = field(0.3, gt=0, help="std of the Gaussian likelihood p(x|z) (images in [-1, 1])")
    kl_weight: float = field(1.0, help="weight of KL(q(z|x) || p(z)) in the ELBO")


@dataclass
class EnergyConfig:
    langevin_steps: int = field(40, help="gradient steps of the sample search, from uniform noise")
    step_size: float = field(1.0, help="Langevin step: x -= step_size/2 * dE/dx + noise * N(0, I)")
    noise: float = field(0.01, help="Langevin noise std")
    reg: float = field(0.1, help="weight of the energy-magnitude regulariser E(x)^2")


@dataclass
class ImageMetricsConfig:
    samples: int = field(1000, ge=1, help="generated images for classifier-FID and conditional accuracy")
    classifier_dir: Optional[str] = field(None, help="cache of the evaluation classifier (default: "
                                                     "<output_dir>/classifier)")
    classifier_epochs: int = field(40, help="training epochs of the evaluation classifier")


@dataclass
class ImageConfig:
    variant: Literal["gan", "cgan", "stackgan", "pix2pix", "vae", "energy"] = field("gan", help="model family")
    output_dir: str = field("runs/image", help="run directory")
    seed: int = field(0, help="seeds data split, init, noise")
    cpu: bool = field(False, help="force CPU even when a GPU is visible")
    data: ImageDataConfig = field(ImageDataConfig, help="data set")
    model: ImageModelConfig = field(ImageModelConfig, help="network sizes and conditioning")
    train: ImageTrainConfig = field(ImageTrainConfig, help="alternating schedule and optimisers")
    stackgan: StackGANConfig = field(StackGANConfig, help="StackGAN stages and conditioning augmentation")
    pix2pix: Pix2PixConfig = field(Pix2PixConfig, help="paired translation")
    vae: VAEConfig = field(VAEConfig, help="VAE baseline")
    energy: EnergyConfig = field(EnergyConfig, help="energy-model (discriminator-only) baseline")
    metrics: ImageMetricsConfig = field(ImageMetricsConfig, help="evaluation")

    def validate(self) -> None:
        """Reject incompatible or out-of-range settings (one place)."""
        check_fields(self)
        t = self.train
        if self.variant == "stackgan" and not 0 < self.stackgan.stage1_steps < t.steps:
            raise ConfigError(f"stackgan.stage1_steps: expected 0 < stage1_steps < train.steps ({t.steps}), "
                              f"got {self.stackgan.stage1_steps}")
        if self.variant == "pix2pix" and self.pix2pix.lambda_l1 <= 0 and self.pix2pix.gan_weight <= 0:
            raise ConfigError("pix2pix: lambda_l1 and gan_weight cannot both be 0")
