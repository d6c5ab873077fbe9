"""MaliGAN on dialogue: ``adversarial.reward: maligan`` in the shared trainer (D's D/(1-D) normalised over the
batch of (context, reply) pairs, minus 1/B) teaches the seq2seq generator a fixed D's preference."""

from __future__ import annotations

import pytest

from seqgan.adversarial.config import AdversarialConfig
from seqgan.adversarial.trainer import AdversarialTrainer
from seqgan.data import PairStream
from seqgan.rewards import MaliGANReward, build_reward
from test_adversarial import PAD, TokenDisc, pairs, target_rate, tiny_policy

pytestmark = pytest.mark.usefixtures("one_thread")


def test_maligan_reward_is_selectable_and_learns_a_fixed_discriminators_preference():
    assert isinstance(build_reward("maligan", TokenDisc()), MaliGANReward)
    policy = tiny_policy()
    before = target_rate(policy)
    cfg = AdversarialConfig(rounds=8, d_steps=0, g_steps=2, reward="maligan", g_lr=1e-2, teacher_forcing_every=0,
                            batch_size=16, baseline="none")
    trainer = AdversarialTrainer(policy, TokenDisc(), cfg, d_loss=None, human=PairStream(pairs(), PAD, 16, 0))
    logs = [trainer.run_round() for _ in range(cfg.rounds)]
    assert target_rate(policy) > before + 0.1, (before, target_rate(policy))
    assert abs(logs[-1]["reward_mean"]) < 0.05  # advantages w_i - 1/B average to ~0 over the batch's tokens


def test_maligan_groups_follow_group_size_and_refuse_a_transformed_d():
    from seqgan.errors import ConfigError

    assert build_reward("maligan", TokenDisc(), group_size=4).group_size == 4
    assert build_reward("maligan", TokenDisc()).group_size is None  # one reply per context: the whole batch
    with pytest.raises(ConfigError, match="reward_transform: maligan"):
        AdversarialConfig(reward="maligan", reward_transform="logit").validate()
