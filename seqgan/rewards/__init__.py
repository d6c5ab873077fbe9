"""Rewards for policy-gradient training of the generator: per-token rewards (B, T) from a discriminator
(sequence, Monte Carlo rollout, prefix), the rollout policy, and baselines."""

from seqgan.rewards.base import Reward, Scorer
from seqgan.rewards.baselines import (
    ADVANTAGE_NORMS,
    BASELINES,
    AdvantageScaler,
    Baseline,
    BatchMeanBaseline,
    GroupBaseline,
    LengthMovingAverageBaseline,
    MovingAverageBaseline,
    NoBaseline,
    PrefixValueBaseline,
    SelfCriticBaseline,
    best_in_group,
    build_baseline,
    leave_one_out_mean,
    sequence_values,
)
from seqgan.rewards.length import remove_length_trend
from seqgan.rewards.maligan import MaliGANReward
from seqgan.rewards.prefix import PrefixReward
from seqgan.rewards.rollout import MonteCarloReward, RolloutPolicy
from seqgan.rewards.sequence import SequenceReward
from seqgan.rewards.transform import REWARD_TRANSFORMS, TransformedScorer, inverse_transform, transform_probability

REWARDS = ("sequence", "rollout", "prefix", "maligan")


def build_reward(kind: str, disc: Scorer, rollout_policy: RolloutPolicy | None = None, n: int = 8,
                 temperature: float = 1.0, chunk_size: int = 4096, group_size: int = 1) -> Reward:
    """Reward by config name: ``sequence | rollout | prefix | maligan`` (rollout needs ``rollout_policy``;
    maligan normalises D/(1-D) over each context's ``group_size`` replies, over the whole batch when that is 1, and
    subtracts its own baseline 1/K)."""
    if kind == "maligan":
        return MaliGANReward(disc, group_size=group_size if group_size > 1 else None)
    if kind == "sequence":
        return SequenceReward(disc)
    if kind == "prefix":
        return PrefixReward(disc)
    if kind == "rollout":
        if rollout_policy is None:
            raise ValueError("the rollout reward needs a rollout policy")
        return MonteCarloReward(disc, rollout_policy, n, temperature=temperature, chunk_size=chunk_size)
    raise ValueError(f"unknown reward {kind!r}; expected one of {list(REWARDS)}")


__all__ = [
    "ADVANTAGE_NORMS", "BASELINES", "REWARDS", "REWARD_TRANSFORMS", "AdvantageScaler", "Baseline", "BatchMeanBaseline",
    "GroupBaseline", "LengthMovingAverageBaseline", "MaliGANReward", "MonteCarloReward", "MovingAverageBaseline",
    "NoBaseline", "PrefixReward", "PrefixValueBaseline", "Reward", "RolloutPolicy", "Scorer", "SelfCriticBaseline",
    "SequenceReward", "TransformedScorer", "best_in_group", "build_baseline", "build_reward",
    "inverse_transform", "leave_one_out_mean", "remove_length_trend", "sequence_values", "transform_probability",
]
