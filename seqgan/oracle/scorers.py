"""Scorers that stand in for the discriminator inside the rewards (same ``reward`` / ``prefix_reward`` signature
as :class:`seqgan.rewards.base.Scorer`), so Monte Carlo rollout and prefix rewards run unchanged with them:

- :class:`ConstantScorer`: every reply scores ``value`` (a control: no information about quality at all);
- :class:`UniformScorer`: every reply scores an independent U(0, 1) draw (a control: pure noise);
- :class:`BleuScorer`: sentence BLEU-4 of each reply against a fixed reference set (PG-BLEU of the SeqGAN paper).

:class:`InputFreeRolloutReward` gives what :class:`~seqgan.rewards.MonteCarloReward` would return with the two
controls (which ignore the reply they score) without sampling any rollout.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqgan.models.policy import Context, Replies
from seqgan.rewards.base import Reward, check_replies


class ConstantScorer:
    """Scores every reply ``value``."""

    def __init__(self, value: float = 0.5) -> None:
        self.value = float(value)

    def reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        return torch.full((reply_ids.shape[0],), self.value, device=reply_ids.device)

    def prefix_reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        return torch.full(reply_ids.shape, self.value, device=reply_ids.device) * reply_mask.float()


class UniformScorer:
    """Scores every reply (and every prefix) with an independent U(0, 1) draw from the global torch RNG."""

    def reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        return torch.rand(reply_ids.shape[0], device=reply_ids.device)

    def prefix_reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        return torch.rand(reply_ids.shape, device=reply_ids.device) * reply_mask.float()


class InputFreeRolloutReward(Reward):
    """The Monte Carlo rollout reward of a scorer that ignores its input, computed without rollouts.

    For :class:`ConstantScorer` every entry is ``value`` (the mean of n equal scores); for :class:`UniformScorer`
    each entry before the last is the mean of ``n`` independent U(0, 1) draws and the last one a single draw, which
    is exactly the distribution :class:`~seqgan.rewards.MonteCarloReward` produces with that scorer (its rollouts
    are never looked at). Returns (B, T) like every reward; ``last_timing`` is all zeros.
    """

    name = "rollout"

    def __init__(self, scorer: ConstantScorer | UniformScorer, n: int) -> None:
        if not isinstance(scorer, (ConstantScorer, UniformScorer)):
            raise TypeError(f"expected a ConstantScorer or UniformScorer, got {type(scorer).__name__}")
        if n < 1:
            raise ValueError(f"number of rollouts must be >= 1, got {n}")
        self.scorer, self.n = scorer, int(n)
        self.last_timing = {"rollout_s": 0.0, "disc_s": 0.0}

    def __call__(self, context: Context, replies: Replies) -> Tensor:
        check_replies(context, replies)
        B, T = replies.ids.shape
        dev = replies.ids.device
        if isinstance(self.scorer, ConstantScorer):
            out = torch.full((B, T), self.scorer.value, device=dev)
        else:
            out = torch.rand(B, T, self.n, device=dev).mean(-1)  # (B, T) mean of n draws per prefix
            out[:, -1] = torch.rand(B, device=dev)  # the full reply is scored once
        return out * replies.mask.float()


def _ngram_hashes(ids: Tensor, n: int, base: int) -> Tensor:
    """(M, L) ids -> (M, L-n+1) one int64 per n-gram (exact for base**n < 2**63)."""
    h = torch.zeros(ids.shape[0], ids.shape[1] - n + 1, dtype=torch.long, device=ids.device)
    for i in range(n):
        h = h * base + ids[:, i:ids.shape[1] - n + 1 + i]
    return h


def _occurrence_rank(h: Tensor) -> Tensor:
    """(M, K) hashes -> (M, K): how many earlier positions in the same row hold the same n-gram."""
    same = h.unsqueeze(2) == h.unsqueeze(1)  # (M, K, K)
    earlier = torch.ones(h.shape[1], h.shape[1], dtype=torch.bool, device=h.device).tril(-1)
    return (same & earlier).sum(-1)


class BleuScorer:
    """Smoothed sentence BLEU-4 (uniform weights, add-one smoothing for n > 1, no brevity penalty: fixed-length
    replies) of each full-length reply against ``references`` (R, T), with clipped counts taken as the largest
    count of an n-gram in any one reference (multi-reference BLEU). Vectorised: n-grams are hashed to int64 and
    looked up in a sorted table of reference n-grams built once.

    It equals sacrebleu's ``sentence_bleu(hyp, refs, smooth_method="add-k", smooth_value=1, tokenize="none") / 100``
    on token-id strings (checked in the tests to 1e-5) except when no unigram matches at all (sacrebleu gives 0,
    this scorer a tiny positive value). sacrebleu itself is not used because it re-counts the n-grams of every
    reference for every hypothesis: with 2,000 references of 20 tokens it took ~0.5 s per reply here against
    ~1.5 ms per reply for this scorer, and one rollout reward scores thousands of completions."""

    def __init__(self, references: Tensor, vocab_size: int, max_n: int = 4) -> None:
        if vocab_size ** max_n >= 2**62:
            raise ValueError(f"vocabulary {vocab_size} too large for exact {max_n}-gram hashing")
        self.base, self.max_n = int(vocab_size), int(max_n)
        references = references.cpu()  # scoring runs on the CPU (hash lookups), whatever the device of the model
        self.tables: list[tuple[Tensor, Tensor]] = []
        for n in range(1, max_n + 1):
            h = _ngram_hashes(references, n, self.base)  # (R, K)
            count = _occurrence_rank(h) + 1  # the k-th occurrence in its row: that row holds >= k copies
            keys, inverse = torch.unique(h.flatten(), return_inverse=True)
            best = torch.zeros(keys.shape[0], dtype=torch.long).scatter_reduce(0, inverse, count.flatten(), "amax")
            self.tables.append((keys, best))

    def reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B,) BLEU-4 in (0, 1] of each reply (B, T)."""
        ids = reply_ids.cpu()
        log_p = torch.zeros(ids.shape[0])
        for n, (keys, best) in enumerate(self.tables, start=1):
            h = _ngram_hashes(ids, n, self.base)  # (B, K)
            pos = torch.searchsorted(keys, h).clamp(max=keys.shape[0] - 1)
            allowed = torch.where(keys[pos] == h, best[pos], torch.zeros_like(pos))  # max count in a reference
            matched = (_occurrence_rank(h) < allowed).sum(-1).float()  # clipped matches (B,)
            total = float(h.shape[1])
            smooth = 0.0 if n == 1 else 1.0
            log_p += torch.log((matched + smooth).clamp(min=1e-9) / (total + smooth))
        return torch.exp(log_p / self.max_n).to(reply_ids.device)

    def prefix_reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        raise NotImplementedError("BLEU is defined for complete replies; use it with the rollout reward")
