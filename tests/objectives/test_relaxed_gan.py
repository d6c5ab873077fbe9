"""Losses of the relaxed routes: G's adversarial losses, the WGAN-GP critic and its gradient penalty."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from seqgan.models.discriminator import DiscOutput
from seqgan.models.policy import Context
from seqgan.objectives.relaxed_gan import generator_loss, gradient_penalty, wgan_gp_critic_loss

B, T, V = 4, 5, 7


class LinearCritic(torch.nn.Module):
    """logit = sum(x * W * mask) (+ a context term): its input gradient is W on real positions, so the gradient
    penalty has a closed form."""

    def __init__(self, scale: float):
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((T, V), scale))

    def forward(self, context, reply, mask):
        x = reply if reply.dim() == 3 else F.one_hot(reply, V).float()
        logit = (x * self.w * mask.unsqueeze(-1)).sum((1, 2))
        if not context.is_empty:
            logit = logit + context.ids[:, 0].float()
        return DiscOutput(logit, None, None)


def test_generator_losses():
    logit = torch.tensor([0.0, 2.0])
    assert generator_loss(logit, "non_saturating").item() == pytest.approx(
        (math.log(2) + math.log(1 + math.exp(-2))) / 2)
    assert generator_loss(logit, "minimax").item() == pytest.approx(-(math.log(2) + math.log(1 + math.exp(2))) / 2)
    assert generator_loss(logit, "wasserstein").item() == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="generator loss"):
        generator_loss(logit, "hinge")


def test_gradient_penalty_matches_the_closed_form_and_trains_the_critic():
    critic = LinearCritic(0.3)
    real = F.one_hot(torch.randint(0, V, (B, T)), V).float()
    fake = torch.softmax(torch.randn(B, T, V), -1)
    mask = torch.ones(B, T)
    mask[0, 3:] = 0
    gp = gradient_penalty(critic, Context.empty(B), real, fake, mask)
    norms = torch.tensor([0.3 * math.sqrt(V * int(m.sum())) for m in mask])
    assert gp.item() == pytest.approx(float(((norms - 1) ** 2).mean()), rel=1e-5)
    gp.backward()
    assert critic.w.grad is not None and critic.w.grad.abs().sum() > 0  # double backprop reaches the critic


def test_wgan_gp_critic_loss_terms_and_padding_to_a_common_length():
    critic = LinearCritic(0.1)
    ctx = Context(torch.tensor([[1], [2], [3], [4]]), torch.ones(4, 1, dtype=torch.long))
    real = F.one_hot(torch.randint(0, V, (B, T)), V).float()
    fake = torch.softmax(torch.randn(B, T - 2, V), -1)  # shorter: padded inside the loss
    perm = torch.tensor([1, 2, 3, 0])
    loss, terms = wgan_gp_critic_loss(critic, ctx, real, torch.ones(B, T), fake, torch.ones(B, T - 2),
                                      gp_weight=10.0, mismatch_weight=0.5, mismatch_perm=perm)
    d_real = critic(ctx, real, torch.ones(B, T)).logit.mean()
    assert terms["critic_real"] == pytest.approx(float(d_real.detach()))
    assert terms["wdist"] == pytest.approx(terms["critic_real"] - terms["critic_fake"])
    expected = (terms["critic_fake"] - terms["critic_real"] + 10.0 * terms["gp"]
                + 0.5 * (terms["critic_mismatch"] - terms["critic_real"]))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_straight_through_mitigation_is_hard_forward_with_the_soft_gradient():
    from seqgan.objectives.relaxed_gan import fake_input

    logits = torch.randn(3, 4, V, requires_grad=True)
    probs = torch.softmax(logits, -1)
    hard = fake_input(probs, "straight_through")
    assert torch.equal(hard.detach().sum(-1), torch.ones(3, 4)) and set(hard.detach().unique().tolist()) == {0.0, 1.0}
    weights = torch.randn(3, 4, V)
    (g_hard,) = torch.autograd.grad((hard * weights).sum(), logits, retain_graph=True)
    (g_soft,) = torch.autograd.grad((probs * weights).sum(), logits)
    assert torch.allclose(g_hard, g_soft)
    assert fake_input(probs, "none") is probs
