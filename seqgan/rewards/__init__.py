"""Rewards for policy-gradient training of the generator: per-token rewards (B, T) from a discriminator
(sequence, Monte Carlo rollout, prefix), the rollout policy, and baselines."""

from seqgan.rewards.base import Reward, Scorer
from seqgan.rewards.baselines import (
    BASELINES,
    Baseline,
    BatchMeanBaseline,
    LengthMovingAverageBaseline,
    MovingAverageBaseline,
    NoBaseline,
    SelfCriticBaseline,
    build_baseline,
    compute_advantages,
)
from seqgan.rewards.maligan import MaliGANReward
from seqgan.rewards.prefix import PrefixReward
from seqgan.rewards.rollout import MonteCarloReward, RolloutPolicy
from seqgan.rewards.sequence import SequenceReward

REWARDS = ("sequence", "rollout", "prefix", "maligan")


def build_reward(kind: str, disc: Scorer, rollout_policy: RolloutPolicy | None = None, n: int = 8,
                 temperature: float = 1.0, chunk_size: int = 4096) -> Reward:
    """Reward by config name: ``sequence | rollout | prefix | maligan`` (rollout needs ``rollout_policy``;
    maligan normalises D/(1-D) over the batch and subtracts its own baseline 1/B)."""
    if kind == "maligan":
        return MaliGANReward(disc)
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
    "BASELINES", "REWARDS", "Baseline", "BatchMeanBaseline", "LengthMovingAverageBaseline", "MaliGANReward",
    "MonteCarloReward", "MovingAverageBaseline", "NoBaseline", "PrefixReward", "Reward", "RolloutPolicy", "Scorer", "SelfCriticBaseline",
    "SequenceReward", "build_baseline", "build_reward", "compute_advantages",
]
