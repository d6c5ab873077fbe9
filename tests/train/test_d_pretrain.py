"""D pretraining on a toy task raises every held-out accuracy well above chance; the negative pool is honoured."""

import pytest
import torch
from datasets import Dataset

from seqgan.models.discriminator import Discriminator, DiscriminatorConfig
from seqgan.models.policy import Policy, Replies
from seqgan.errors import ConfigError
from seqgan.train.d_pretrain import DPretrainConfig, heldout_metrics, pretrain_discriminator

V, PAD, EOS = 20, 0, 1


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster


def toy_pairs(n, seed):
    """Human reply = the context's first token, twice, then eos: relevance and realism are both learnable."""
    g = torch.Generator().manual_seed(seed)
    first = torch.randint(2, V, (n,), generator=g).tolist()
    rest = torch.randint(2, V, (n, 3), generator=g).tolist()
    return Dataset.from_dict({"context_ids": [[f] + r for f, r in zip(first, rest)],
                              "reply_ids": [[f, f, EOS] for f in first]})


class RandomPolicy(Policy):
    """Uniformly random 3-token replies (an obviously fake generator); or, with ``copy``, the human answer."""

    def __init__(self, copy=False):
        super().__init__()
        self.vocab_size, self.pad_id, self.eos_id, self.max_reply_len = V, PAD, EOS, 3
        self.copy = copy
        self.calls = 0
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def sample(self, context, max_len=None, temperature=1.0, greedy=False):
        B = context.batch_size
        self.calls += 1
        if self.copy:
            first = context.ids[:, :1]
            ids = torch.cat([first, first, torch.full((B, 1), EOS)], 1)
        else:
            ids = torch.cat([torch.randint(2, V, (B, 2)), torch.full((B, 1), EOS)], 1)
        return Replies(ids, torch.ones_like(ids), torch.zeros(ids.shape))

    def score(self, context, ids, mask):
        raise NotImplementedError("not needed by these tests")

    def rollout(self, context, replies, n, temperature=1.0):
        raise NotImplementedError("not needed by these tests")


def test_pretraining_learns_every_term():
    cfg = DiscriminatorConfig(embed_dim=16, filter_sizes=[1, 2], num_filters=[16, 16], dropout=0.0)
    disc = Discriminator(cfg, V, PAD)
    dcfg = DPretrainConfig(steps=200, batch_size=32, lr=3e-3, eval_batches=4)
    before = heldout_metrics(disc, RandomPolicy(), toy_pairs(128, 1), dcfg)
    metrics = pretrain_discriminator(RandomPolicy(), disc, toy_pairs(512, 0), dcfg, valid=toy_pairs(128, 1))
    assert metrics["valid_num_pairs"] == 128
    assert metrics["valid_acc_real"] > 0.75
    assert metrics["valid_acc_fake"] > 0.85
    assert metrics["valid_acc_mismatch"] > 0.65  # chance is 0.5
    for term in ("real", "fake", "mismatch"):
        assert metrics[f"valid_loss_{term}"] < before[f"valid_loss_{term}"]


def test_negative_pool_is_resampled_every_refresh():
    cfg = DiscriminatorConfig(embed_dim=8, filter_sizes=[1], num_filters=[4])
    policy = RandomPolicy()
    pretrain_discriminator(policy, Discriminator(cfg, V, PAD), toy_pairs(64, 0),
                           DPretrainConfig(steps=12, batch_size=8, pool_batches=2, refresh_every=6))
    assert policy.calls == 4  # 2 refreshes x 2 batches, not one sample per update
    with pytest.raises(ConfigError, match="refresh_every"):
        DPretrainConfig(refresh_every=0).validate()
