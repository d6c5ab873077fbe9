"""Loss terms on hand-built logits vs hand-computed values; network output shapes; Fréchet distance."""

import math

import numpy as np
import pytest
import torch

from seqgan.image.losses import cgan_d_terms, cgan_g_terms, criterion, gan_d_terms, psnr, wrong_labels
from seqgan.image.metrics import frechet_distance
from seqgan.image.nets import CondAugment, ConditionEncoder, Discriminator, PatchDiscriminator, UNet, kl_standard_normal
from seqgan.image.variants import make_source


def bce(logit: float, target: float) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def test_joint_three_term_loss_matches_hand_computed_bce():
    real, fake, wrong = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0]), torch.tensor([1.0, 0.0])
    terms = cgan_d_terms("joint", real, fake, wrong)
    exp_real = (bce(2, 1) + bce(-1, 1)) / 2
    exp_fake = (bce(0.5, 0) + bce(-3, 0)) / 2
    exp_wrong = (bce(1, 0) + bce(0, 0)) / 2
    assert terms["real"].item() == pytest.approx(exp_real, rel=1e-6)
    assert terms["fake"].item() == pytest.approx(exp_fake, rel=1e-6)
    assert terms["mismatch"].item() == pytest.approx(exp_wrong, rel=1e-6)
    assert terms["loss"].item() == pytest.approx(exp_real + 0.5 * (exp_fake + exp_wrong), rel=1e-6)
    no_mis = cgan_d_terms("joint", real, fake, None)
    assert "mismatch" not in no_mis
    assert no_mis["loss"].item() == pytest.approx(exp_real + exp_fake, rel=1e-6)


def test_split_three_term_loss_realism_real_match_fake_for_mismatch():
    real = (torch.tensor([1.0]), torch.tensor([2.0]))
    fake = (torch.tensor([-1.0]), torch.tensor([0.5]))
    wrong = (torch.tensor([0.3]), torch.tensor([1.5]))
    terms = cgan_d_terms("split", real, fake, wrong)
    assert terms["real"].item() == pytest.approx(bce(1, 1) + bce(2, 1), rel=1e-6)
    assert terms["fake"].item() == pytest.approx(bce(-1, 0) + bce(0.5, 0), rel=1e-6)
    assert terms["mismatch"].item() == pytest.approx(bce(0.3, 1) + bce(1.5, 0), rel=1e-6)
    g = cgan_g_terms("split", fake)
    assert g["loss"].item() == pytest.approx(bce(-1, 1) + bce(0.5, 1), rel=1e-6)


def test_lsgan_and_unconditional_terms():
    assert criterion(torch.tensor([3.0, -1.0]), 1.0, "lsgan").item() == pytest.approx(0.5 * (4 + 4) / 2)
    terms = gan_d_terms(torch.tensor([0.0]), torch.tensor([0.0]))
    assert terms["loss"].item() == pytest.approx(2 * math.log(2), rel=1e-6)


def test_wrong_labels_always_differ():
    y = torch.arange(10).repeat(500)
    w = wrong_labels(y, 10)
    assert (w != y).all() and w.min() >= 0 and w.max() <= 9
    assert len(set(w[y == 3].tolist())) == 9  # every other class is drawn


def test_conditioning_augmentation_kl_matches_closed_form_and_torch_distributions():
    mean, logvar = torch.randn(5, 4), torch.randn(5, 4)
    ours = kl_standard_normal(mean, logvar)
    q = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(4), torch.ones(4))
    ref = torch.distributions.kl_divergence(q, p).sum(1).mean()
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    assert kl_standard_normal(torch.zeros(2, 3), torch.zeros(2, 3)).item() == 0.0
    c_hat, m, lv = CondAugment(8, 4)(torch.randn(6, 8))
    assert c_hat.shape == m.shape == lv.shape == (6, 4)


def test_patchgan_grid_unet_shape_and_l1_source():
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    assert PatchDiscriminator(1, 8)(make_source(x, "downsample"), x).shape == (3, 1, 4, 4)
    assert UNet(1, 8)(x).shape == (3, 1, 8, 8)
    src = make_source(x, "downsample")
    assert torch.allclose(src[:, :, 0, 0], x[:, :, :2, :2].mean((-1, -2)))
    masked = make_source(x, "mask")
    assert (masked[..., 4:, :] == -1).all() and torch.equal(masked[..., :4, :], x[..., :4, :])
    assert psnr(x, x) == float("inf") and psnr(torch.zeros(1), torch.ones(1)) == pytest.approx(10 * math.log10(4))


def test_discriminator_designs_and_text_encoder_shapes():
    x, e = torch.randn(4, 1, 8, 8), torch.randn(4, 16)
    assert Discriminator((1, 8, 8), 32, 16, "joint")(x, e).shape == (4,)
    r, m = Discriminator((1, 8, 8), 32, 16, "split")(x, e)
    assert r.shape == m.shape == (4,)
    enc = ConditionEncoder("text", 10, 20, 16)
    ids = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    assert enc(ids).shape == (2, 16)
    padded = torch.tensor([[1, 2, 3, 0, 0, 0]])
    assert torch.allclose(enc(ids[:1]), enc(padded), atol=1e-6)  # padding does not change the encoding


def test_frechet_distance_matches_scipy_reference():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(400, 6, generator=gen, dtype=torch.float64)
    b = torch.randn(300, 6, generator=gen, dtype=torch.float64) @ torch.randn(6, 6, generator=gen,
                                                                                dtype=torch.float64) + 0.5
    ca, cb = np.cov(a.numpy().T), np.cov(b.numpy().T)
    ref = (((a.mean(0) - b.mean(0)) ** 2).sum().item() + np.trace(ca) + np.trace(cb)
           - 2 * np.trace(scipy_linalg.sqrtm(ca @ cb).real))
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("size", [28, 14, 8])
def test_conv_nets_shapes_at_28_14_and_8(size):
    from seqgan.image.nets import ConvBody, Encoder, EnergyNet, Generator

    shape = (1, size, size)
    z, e, x = torch.randn(5, 8), torch.randn(5, 16), torch.rand(5, *shape) * 2 - 1
    out = Generator(shape, 8, 32, 16, arch="conv", width=8)(z, e)
    assert out.shape == (5, *shape) and out.abs().max() <= 1
    assert Discriminator(shape, 32, 16, "joint", arch="conv", width=8)(x, e).shape == (5,)
    r, m = Discriminator(shape, 32, 16, "split", arch="conv", width=8, minibatch_std=True)(x, e)
    assert r.shape == m.shape == (5,)
    mean, logvar = Encoder(shape, 8, 32, arch="conv", width=8)(x)
    assert mean.shape == logvar.shape == (5, 8)
    assert EnergyNet(shape, 32, arch="conv", width=8)(x).shape == (5,)
    assert ConvBody(shape, 8, 32)(x).shape == (5, 32)


def test_minibatch_std_lets_d_tell_a_collapsed_batch_from_a_varied_one():
    from seqgan.image.nets import ConvBody

    body = ConvBody((1, 28, 28), 8, 4, minibatch_std=True)
    varied = torch.rand(16, 1, 28, 28) * 2 - 1
    collapsed = varied[:1].expand(16, -1, -1, -1)
    plain = ConvBody((1, 28, 28), 8, 4)
    plain.load_state_dict({k: v for k, v in body.state_dict().items() if k.startswith("convs")}, strict=False)
    # same image, different batch company: only the minibatch-std body sees the difference
    assert not torch.allclose(body(varied)[:1], body(collapsed)[:1])
    assert torch.allclose(plain(varied)[:1], plain(collapsed)[:1])


def test_stage2_and_patchgan_at_28x28_and_4x_downsampled_source():
    from seqgan.image.nets import RefineGenerator

    low = torch.rand(3, 1, 14, 14) * 2 - 1
    assert RefineGenerator((1, 28, 28), 6, 8)(low, torch.randn(3, 6)).shape == (3, 1, 28, 28)
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    src = make_source(x, "downsample", 4)
    assert torch.allclose(src[:, :, 5, 6], x[:, :, 4:8, 4:8].mean((-1, -2)))  # one 4x4 block
    assert torch.equal(src[..., ::4, ::4].repeat_interleave(4, -1).repeat_interleave(4, -2), src)
    assert PatchDiscriminator(1, 8, strides=2)(src, x).shape == (3, 1, 7, 7)
    assert UNet(1, 8)(src).shape == (3, 1, 28, 28)


def test_within_class_spread_and_sharpness():
    from seqgan.image.metrics import class_spread, sharpness

    feats = torch.tensor([[0.0, 0.0], [3.0, 4.0], [10.0, 10.0], [10.0, 10.0]])
    labels = torch.tensor([0, 0, 1, 1])
    assert class_spread(feats, labels, 2) == pytest.approx((5.0 + 0.0) / 2)  # class 1 collapsed to one point
    assert class_spread(feats, torch.tensor([0, 0, 1, 2]), 3) == pytest.approx(5.0)  # singletons are skipped
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)
    assert sharpness(blurred) < 0.5 * sharpness(x) and sharpness(torch.zeros(2, 1, 8, 8)) == 0.0
    flat = torch.arange(28.0).repeat(28, 1)[None, None] / 28  # a linear ramp has no second difference
    assert sharpness(flat) == pytest.approx(0.0, abs=1e-6)
