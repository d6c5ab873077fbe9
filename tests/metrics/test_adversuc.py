"""AdverSuc: near 0 for an obviously fake generator, near 0.5 for one that returns the human replies; seeded."""

import pytest
import torch
from datasets import Dataset

from seqgan.metrics.adversuc import adversarial_success
from seqgan.models.discriminator import DiscriminatorConfig
from seqgan.models.policy import Policy, Replies

V, PAD, EOS = 20, 0, 1


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster


def toy_pairs(n, seed):
    """Human reply = the context's first token twice, then eos."""
    g = torch.Generator().manual_seed(seed)
    first = torch.randint(2, V, (n,), generator=g).tolist()
    rest = torch.randint(2, V, (n, 3), generator=g).tolist()
    return Dataset.from_dict({"context_ids": [[f] + r for f, r in zip(first, rest)],
                              "reply_ids": [[f, f, EOS] for f in first]})


class ToyPolicy(Policy):
    """``copy=False``: two uniformly random tokens + eos (obviously fake); ``copy=True``: exactly the human reply."""

    def __init__(self, copy=False):
        super().__init__()
        self.vocab_size, self.pad_id, self.eos_id, self.max_reply_len = V, PAD, EOS, 3
        self.copy = copy
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def sample(self, context, max_len=None, temperature=1.0, greedy=False):
        B = context.batch_size
        first = context.ids[:, :1] if self.copy else torch.randint(2, V, (B, 1))
        second = first if self.copy else torch.randint(2, V, (B, 1))
        ids = torch.cat([first, second, torch.full((B, 1), EOS)], 1)
        return Replies(ids, torch.ones_like(ids), torch.zeros(ids.shape))

    def score(self, context, ids, mask):
        raise NotImplementedError("not needed here")

    def rollout(self, context, replies, n, temperature=1.0):
        raise NotImplementedError("not needed here")


CFG = DiscriminatorConfig(embed_dim=16, filter_sizes=[1, 2], num_filters=[16, 16], dropout=0.0)


def test_fake_generator_almost_never_fools_the_evaluator():
    train, held = toy_pairs(256, 2), toy_pairs(128, 3)
    res = adversarial_success(ToyPolicy(), train, held, CFG, seed=0, steps=120, lr=3e-3)
    assert res["adversuc"] < 0.1
    assert res["evaluator_acc_human"] > 0.9  # not a degenerate "everything is fake" evaluator
    assert res["num_eval"] == 128
    state = torch.get_rng_state()
    again = adversarial_success(ToyPolicy(), train, held, CFG, seed=0, steps=120, lr=3e-3)
    assert again == res  # seeded and deterministic
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG stream is untouched


def test_human_copying_generator_is_indistinguishable():
    train, held = toy_pairs(256, 2), toy_pairs(128, 3)
    res = adversarial_success(ToyPolicy(copy=True), train, held, CFG, seed=0, steps=120, lr=3e-3)
    # identical inputs get identical scores: the evaluator judges G's replies exactly as it judges the human ones
    assert res["adversuc"] == pytest.approx(res["evaluator_acc_human"])
    assert res["evaluator_acc"] == pytest.approx(0.5)
