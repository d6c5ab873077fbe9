"""D-steps and G-steps of the relaxed routes (``adversarial.route: gumbel | continuous``).

G decodes with :meth:`Policy.relaxed_sample` (Gumbel-softmax soft / straight-through, or plain softmax vectors)
at the scheduled temperature, and D reads those (B, T, V) sequences as its fake examples:

- **D-step** (G fixed): human replies vs G's relaxed replies vs human replies under mismatched contexts, with the
  trainer's three-term loss (``critic: gan``) or the WGAN-GP critic loss (``critic: wgan_gp``); the cheating score
  of D's real vs fake inputs is logged.
- **G-step** (D fixed: its parameters get no gradient, eval mode): G's relaxed replies go through D and D's output
  is back-propagated into G (non-saturating / minimax / Wasserstein loss); then the same teacher-forcing MLE step
  as the policy-gradient route.

The temperature follows the schedule at the trainer's G-step counter (part of the resumable state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from seqgan.metrics.cheating import cheating_score
from seqgan.models.policy import Context, Replies, eval_mode
from seqgan.objectives.discriminator_loss import LossWeights, discriminator_loss, mismatch_permutation
from seqgan.objectives.relaxed_gan import discriminator_inputs, fake_input, generator_loss, wgan_gp_critic_loss


class RelaxedRoute:
    """The route's steps for an :class:`~seqgan.train.adversarial_core.AdversarialTrainer` (shares its models,
    optimisers, data stream and counters)."""

    def __init__(self, trainer) -> None:
        self.trainer = trainer
        cfg = trainer.cfg
        self.mode = "softmax" if cfg.route == "continuous" else f"gumbel_{cfg.gumbel_mode}"
        self.schedule = cfg.schedule()
        self.g_loss_kind = "wasserstein" if cfg.critic == "wgan_gp" else cfg.g_loss

    @property
    def tau(self) -> float:
        """The temperature of the next G step."""
        return self.schedule.tau(self.trainer.g_step_count)

    def d_step(self) -> dict[str, float]:
        """One D (critic) update on human vs G's relaxed replies vs mismatched contexts (G fixed)."""
        from seqgan.train.adversarial_core import _batch_to

        tr, cfg = self.trainer, self.trainer.cfg
        tr._set_trainable(g=False, d=True)
        context, human = _batch_to(tr.human.next(), tr.device)
        perm = mismatch_permutation(context.batch_size, tr.perm_gen).to(tr.device)
        return relaxed_discriminator_step(
            tr.policy, tr.disc, tr.d_opt, context, human, self.tau, self.mode, critic=cfg.critic, d_loss=tr.d_loss,
            gp_weight=cfg.gp_weight, critic_mismatch_weight=cfg.critic_mismatch_weight, mismatch_perm=perm,
            mitigation=cfg.mitigation, max_grad_norm=cfg.max_grad_norm, backward=tr.backward,
            cheat_score=cfg.cheat_score)

    def g_step(self) -> dict[str, float]:
        """One update of G through the fixed D, then (every ``teacher_forcing_every`` steps) one MLE update."""
        from seqgan.train.adversarial_core import _batch_to

        tr, cfg = self.trainer, self.trainer.cfg
        tr._set_trainable(g=True, d=False)
        context, _ = _batch_to(tr.human.next(), tr.device)
        out = relaxed_generator_step(tr.policy, tr.disc, context, tr.g_opt, self.tau, self.mode, self.g_loss_kind,
                                     cfg.mitigation, cfg.max_grad_norm, tr.backward)
        tr.g_step_count += 1
        tf = tr.teacher_forcing_step()
        if tf is not None:
            out["tf_nll"] = tf
        return out


def relaxed_discriminator_step(policy, disc, d_opt: torch.optim.Optimizer, context: Context, human: Replies,
                               tau: float, mode: str, *, critic: str = "gan", d_loss=None, gp_weight: float = 10.0,
                               critic_mismatch_weight: float = 0.5, mismatch_perm: Tensor | None = None,
                               mitigation: str = "none", max_grad_norm: float = 1.0,
                               backward: Callable[[Tensor], None] | None = None,
                               cheat_score: bool = True) -> dict[str, float]:
    """One D (critic) update: human replies (B, T) vs G's relaxed replies to ``context`` (drawn here without
    gradient, G in eval mode) vs human replies under the contexts ``mismatch_perm`` (B,) points to.

    critic ``gan``: ``d_loss(disc, context, human, generated, perm)`` (default: the three-term
    :func:`~seqgan.objectives.discriminator_loss.discriminator_loss` with its default weights) with the
    generated replies' ``ids`` holding (B, T, V) vectors, which D reads as it reads ids; ``wgan_gp``:
    :func:`wgan_gp_critic_loss`. Conditional or unconditional (``Context.empty(B)``: no mismatch term).
    Returns ``d_loss`` and the loss's named terms prefixed ``d_`` (+ ``cheat_auc`` / ``cheat_acc``).
    """
    with torch.no_grad(), eval_mode(policy):
        rel = policy.relaxed_sample(context, tau=tau, mode=mode)
    real, fake = discriminator_inputs(rel.probs, human.ids, mitigation)
    if mismatch_perm is None:
        mismatch_perm = mismatch_permutation(context.batch_size).to(human.ids.device)
    disc.train()
    if critic == "wgan_gp":
        real_vec = torch.nn.functional.one_hot(real, fake.shape[-1]).float()  # (B, T, V)
        loss, terms = wgan_gp_critic_loss(disc, context, real_vec, human.mask, fake, rel.mask, gp_weight,
                                          critic_mismatch_weight, mismatch_perm)
    else:  # D accepts (B, T, V) vectors wherever it accepts ids: the three-term loss reads them as they are
        if d_loss is None:
            loss, terms = discriminator_loss(disc, context, Replies(real, human.mask), Replies(fake, rel.mask),
                                             LossWeights(), mismatch_perm=mismatch_perm)
        else:
            loss, terms = d_loss(disc, context, Replies(real, human.mask), Replies(fake, rel.mask), mismatch_perm)
    d_opt.zero_grad(set_to_none=True)
    (backward or (lambda x: x.backward()))(loss)
    if max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_([p for p in disc.parameters() if p.requires_grad], max_grad_norm)
    d_opt.step()
    out = {"d_loss": float(loss.detach()), **{f"d_{k}": float(v) for k, v in terms.items()}}
    if cheat_score and context.batch_size >= 2:
        out.update(cheating_score(real, human.mask, fake, rel.mask))
    return out


@contextmanager
def frozen(module: torch.nn.Module) -> Iterator[None]:
    """``module`` in eval mode with no parameter requiring grad for the block; both restored after."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        with eval_mode(module):
            yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def relaxed_generator_step(policy, disc, context: Context, opt: torch.optim.Optimizer, tau: float, mode: str,
                           loss_kind: str = "non_saturating", mitigation: str = "none", max_grad_norm: float = 1.0,
                           backward: Callable[[Tensor], None] | None = None) -> dict[str, float]:
    """One optimiser step of G through a frozen D (no gradient reaches D; eval mode): G's relaxed replies to
    ``context`` (:meth:`Policy.relaxed_sample` with ``tau`` / ``mode``, G in train mode), D's logits on what it
    reads (:func:`fake_input` with ``mitigation``), :func:`generator_loss` of kind ``loss_kind``. Works for
    conditional and unconditional (``Context.empty(B)``) tasks. Returns ``tau``, ``g_loss``, ``g_d_logit`` (+
    ``g_d_prob`` for the GAN losses), ``g_max_prob`` (of D's input), ``g_entropy`` (of the policy) and
    ``sample_len``."""
    params = [p for p in policy.parameters() if p.requires_grad]
    policy.train()
    rel = policy.relaxed_sample(context, tau=tau, mode=mode)  # (B, T, V) with gradient
    with frozen(disc):
        logit = disc(context, fake_input(rel.probs, mitigation), rel.mask).logit  # (B,)
    loss = generator_loss(logit, loss_kind)
    opt.zero_grad(set_to_none=True)
    (backward or (lambda x: x.backward()))(loss)
    if max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    opt.step()
    m = rel.mask.float()
    logp = torch.log_softmax(rel.logits.detach().float(), -1)  # (B, T, V) the policy itself (no noise / tau)
    entropy = -(logp.exp() * logp).sum(-1)  # (B, T)
    out = {
        "tau": tau,
        "g_loss": float(loss.detach()),
        "g_d_logit": float(logit.detach().float().mean()),
        "g_max_prob": float((rel.probs.detach().amax(-1) * m).sum() / m.sum().clamp(min=1)),  # of what D read
        "g_entropy": float((entropy * m).sum() / m.sum().clamp(min=1)),
        "sample_len": float(m.sum(1).mean()),
    }
    if loss_kind != "wasserstein":
        out["g_d_prob"] = float(torch.sigmoid(logit.detach().float()).mean())
    return out
