"""Relaxed decoding: the Gumbel-softmax / straight-through / softmax step, and ``relaxed_sample`` on every policy."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqgan.models.relaxed import RELAXED_MODES, relax
from test_policy_contract import FACTORIES

pytestmark = pytest.mark.usefixtures("one_thread")


def test_straight_through_forward_is_one_hot_and_backward_equals_the_soft_gradient():
    logits = torch.randn(6, 11, requires_grad=True)
    weights = torch.randn(6, 11)
    st = relax(logits, 0.7, "gumbel_st", torch.Generator().manual_seed(3))
    soft = relax(logits, 0.7, "gumbel_soft", torch.Generator().manual_seed(3))  # same noise
    assert torch.equal(st.detach(), F.one_hot(soft.detach().argmax(-1), 11).float())
    (g_st,) = torch.autograd.grad((st * weights).sum(), logits)
    (g_soft,) = torch.autograd.grad((soft * weights).sum(), logits)
    assert torch.allclose(g_st, g_soft) and g_soft.abs().sum() > 0


def test_soft_rows_sum_to_one_noise_is_seeded_and_softmax_mode_has_none():
    logits = torch.randn(5, 9)
    for mode in RELAXED_MODES:
        y = relax(logits, 0.5, mode, torch.Generator().manual_seed(1))
        assert torch.allclose(y.sum(-1), torch.ones(5)) and (y >= 0).all()
    a = relax(logits, 0.5, "gumbel_soft", torch.Generator().manual_seed(1))
    assert torch.equal(a, relax(logits, 0.5, "gumbel_soft", torch.Generator().manual_seed(1)))
    assert not torch.allclose(a, relax(logits, 0.5, "gumbel_soft", torch.Generator().manual_seed(2)))
    assert torch.allclose(relax(logits, 0.5, "softmax"), torch.softmax(logits / 0.5, -1))
    torch.manual_seed(0)
    b = relax(logits, 0.5, "gumbel_st")  # the torch F.gumbel_softmax path (global RNG)
    torch.manual_seed(0)
    assert torch.equal(b, F.gumbel_softmax(logits, tau=0.5, hard=True))


def test_gumbel_samples_follow_the_softmax_distribution():
    logits = torch.tensor([[1.0, 0.0, -1.0, 0.5]]).expand(20000, 4)
    y = relax(logits, 1.0, "gumbel_st", torch.Generator().manual_seed(0))
    freq = y.mean(0)
    assert torch.allclose(freq, torch.softmax(logits[0], -1), atol=0.015), freq


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("mode", RELAXED_MODES)
def test_relaxed_sample_contract(name, mode):
    policy, context = FACTORIES[name]()
    B = context.batch_size
    out = policy.relaxed_sample(context, max_len=8, tau=0.8, mode=mode, generator=torch.Generator().manual_seed(0))
    T = out.ids.shape[1]
    V = policy.vocab_size
    assert out.probs.shape == (B, T, V) and out.logits.shape == (B, T, V) and out.mask.shape == (B, T)
    assert T <= 8 and out.probs.requires_grad
    assert torch.allclose(out.probs.sum(-1), torch.ones(B, T), atol=1e-5)
    m = out.mask.bool()
    assert torch.equal(out.ids[m], out.probs.detach().argmax(-1)[m])  # hard ids are the argmax
    if policy.eos_id is None:
        assert m.all() and T == 8  # fixed length
    else:
        for b in range(B):
            row = out.probs[b].detach().argmax(-1).tolist()
            end = row.index(policy.eos_id) + 1 if policy.eos_id in row else T
            assert out.mask[b].tolist() == [1] * end + [0] * (T - end)  # ends at the first hard eos
            assert (out.ids[b, end:] == policy.pad_id).all()
        assert int(out.mask.sum(1).max()) == T  # trimmed to the longest reply
    if mode == "gumbel_st":  # exact one-hot inputs: the soft-embedding decoder reproduces teacher forcing
        assert torch.equal(out.probs.detach(), F.one_hot(out.probs.detach().argmax(-1), V).float())
        ids = out.probs.detach().argmax(-1)
        tf = policy.logits(ids) if context.is_empty else policy.logits(context, ids, torch.ones_like(ids))
        assert torch.allclose(tf[m], out.logits[m], atol=1e-4)
    # gradient reaches every parameter group of the decoder
    (out.probs * torch.randn_like(out.probs)).sum().backward()
    grads = [p.grad for p in policy.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0


def test_relaxed_sample_soft_embedding_is_what_the_decoder_reads():
    """A soft input differs from its argmax's embedding: the logits of step 2 must change with the step-1 vector."""
    policy, context = FACTORIES["bart"]()
    hard = policy.relaxed_sample(context, max_len=3, tau=1.0, mode="gumbel_st",
                                 generator=torch.Generator().manual_seed(5))
    soft = policy.relaxed_sample(context, max_len=3, tau=1.0, mode="gumbel_soft",
                                 generator=torch.Generator().manual_seed(5))
    assert torch.allclose(hard.logits[:, 0], soft.logits[:, 0], atol=1e-6)  # same first step
    assert not torch.allclose(hard.logits[:, 1], soft.logits[:, 1], atol=1e-4)
