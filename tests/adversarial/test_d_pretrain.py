"""D pretraining on a toy task raises every held-out accuracy well above chance; the negative pool is honoured."""

import pytest
import torch

from seqgan.models.discriminator import Discriminator, DiscriminatorConfig
from seqgan.errors import ConfigError
from seqgan.adversarial.d_pretrain import DPretrainConfig, heldout_metrics, pretrain_discriminator
from toy_dialogue import PAD, V, ToyPolicy, toy_pairs

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster


def test_pretraining_learns_every_term():
    cfg = DiscriminatorConfig(embed_dim=16, filter_sizes=[1, 2], num_filters=[16, 16], dropout=0.0)
    disc = Discriminator(cfg, V, PAD)
    dcfg = DPretrainConfig(steps=200, batch_size=32, lr=3e-3, eval_batches=4)
    before = heldout_metrics(disc, ToyPolicy(), toy_pairs(128, 1), dcfg)
    metrics = pretrain_discriminator(ToyPolicy(), disc, toy_pairs(512, 0), dcfg, valid=toy_pairs(128, 1))
    assert metrics["valid_num_pairs"] == 128
    assert metrics["valid_acc_real"] > 0.75
    assert metrics["valid_acc_fake"] > 0.85
    assert metrics["valid_acc_mismatch"] > 0.65  # chance is 0.5
    for term in ("real", "fake", "mismatch"):
        assert metrics[f"valid_loss_{term}"] < before[f"valid_loss_{term}"]


def test_negative_pool_is_resampled_every_refresh():
    cfg = DiscriminatorConfig(embed_dim=8, filter_sizes=[1], num_filters=[4])
    policy = ToyPolicy()
    pretrain_discriminator(policy, Discriminator(cfg, V, PAD), toy_pairs(64, 0),
                           DPretrainConfig(steps=12, batch_size=8, pool_batches=2, refresh_every=6))
    assert policy.calls == 4  # 2 refreshes x 2 batches, not one sample per update
    with pytest.raises(ConfigError, match="refresh_every"):
        DPretrainConfig(refresh_every=0).validate()


def test_several_mismatch_negatives_train_and_are_validated():
    cfg = DiscriminatorConfig(embed_dim=16, filter_sizes=[1, 2], num_filters=[16, 16], dropout=0.0)
    torch.manual_seed(0)
    disc = Discriminator(cfg, V, PAD)
    dcfg = DPretrainConfig(steps=120, batch_size=32, lr=3e-3, eval_batches=4, mismatch_negatives=4)
    metrics = pretrain_discriminator(ToyPolicy(), disc, toy_pairs(512, 0), dcfg, valid=toy_pairs(128, 1))
    assert metrics["valid_acc_mismatch"] > 0.6  # held-out: one wrong context per reply, as for k = 1
    with pytest.raises(ConfigError, match="mismatch_negatives"):
        DPretrainConfig(mismatch_negatives=0).validate()
