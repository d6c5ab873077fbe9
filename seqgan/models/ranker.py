"""RankGAN's ranker (Lin et al. 2017, "Adversarial Ranking for Language Generation"): instead of a binary D, a
model that ranks a sentence among a comparison set by its similarity to a reference set of human sentences.

A sentence s is encoded to a feature vector y_s (here SeqGAN's CNN: embedding, one convolution per filter width,
max-over-time pooling, highway, dropout; :class:`~seqgan.models.discriminator.CNNEncoder`). Its relevance to a
reference sentence u is the cosine ``alpha(s | u) = cos(y_s, y_u)``, and its rank probability among the comparison
set C (s itself included, C' = C + {s}) is

    P(s | u, C') = exp(gamma * alpha(s | u)) / sum_{s' in C'} exp(gamma * alpha(s' | u)),

averaged over the reference set U in log space: ``log R(s | U, C) = mean_{u in U} log P(s | u, C')``. Human sentences
are ranked against generated ones (C-) and generated against human ones (C+); the ranker learns to rank human
sentences high (:func:`seqgan.objectives.ranking.ranker_loss`) and G's reward is ``R(s | U, C+)``, the expected rank
score of its sentence among human ones, which plays D's part in the Monte Carlo rollout reward.

As a :class:`~seqgan.rewards.base.Scorer` (``reward``) the ranker scores against the reference and comparison sets
last given to :meth:`Ranker.set_sets` (their features are computed once per set). Unconditional: the context must be
empty.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgan.config import from_dict, to_dict
from seqgan.models.discriminator import CNNEncoder, DiscriminatorConfig
from seqgan.models.policy import Context, eval_mode
from seqgan.runs.pretrained import PretrainedMixin


def log_rank(s: Tensor, reference: Tensor, comparison: Tensor, gamma: float) -> Tensor:
    """``log R(s | U, C)`` of each of B sentences.

    s: (B, F) features of the sentences ranked; reference: (U, F); comparison: (C, F), the same set for every s, or
    (B, C, F), one set per s. Returns (B,) = mean over u of ``log P(s | u, C + {s})`` (<= 0).
    """
    s_n, u_n, c_n = F.normalize(s, dim=-1), F.normalize(reference, dim=-1), F.normalize(comparison, dim=-1)
    own = gamma * s_n @ u_n.T  # (B, U): gamma * cos(s, u)
    others = gamma * (c_n @ u_n.T)  # (C, U) or (B, C, U)
    if others.dim() == 2:
        others = others.unsqueeze(0).expand(s.shape[0], -1, -1)
    scores = torch.cat([own.unsqueeze(1), others], dim=1)  # (B, 1 + C, U)
    return (own - torch.logsumexp(scores, dim=1)).mean(-1)  # (B,)


class Ranker(PretrainedMixin, nn.Module):
    """Sentence features (B, F) from SeqGAN's CNN, the rank score of :func:`log_rank`, and the Scorer API."""

    def __init__(self, cfg: DiscriminatorConfig, vocab_size: int, gamma: float = 1.0) -> None:
        super().__init__()
        cfg.validate()
        if cfg.encoder != "cnn":
            raise ValueError(f"the ranker reads sentences with the CNN encoder, got encoder {cfg.encoder!r}")
        self.cfg, self.vocab_size, self.gamma = cfg, int(vocab_size), float(gamma)
        self.embedding = nn.Embedding(vocab_size, cfg.embed_dim)
        self.encoder = CNNEncoder(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self._sets: tuple[Tensor, Tensor] | None = None  # (reference (U, F), comparison (C, F)) features

    def features(self, ids: Tensor, mask: Tensor | None = None) -> Tensor:
        """(B, T) ids -> (B, F) sentence features (highway output, dropout in train mode)."""
        mask = torch.ones_like(ids) if mask is None else mask
        pooled = self.encoder.encode_ids(ids, mask, self.embedding.weight, prefixes=False)  # (B, F)
        return self.dropout(self.encoder.readout(pooled))

    def log_rank(self, ids: Tensor, reference_ids: Tensor, comparison_ids: Tensor) -> Tensor:
        """(B,) ``log R`` of the (B, T) sentences against a (U, T) reference and a (C, T) comparison set."""
        return log_rank(self.features(ids), self.features(reference_ids), self.features(comparison_ids), self.gamma)

    # -- Scorer API (rewards) ---------------------------------------------------------------------------------
    @torch.no_grad()
    def set_sets(self, reference_ids: Tensor, comparison_ids: Tensor) -> None:
        """Fix the reference set U (U, T) and the comparison set C (C, T) that :meth:`reward` ranks against."""
        with eval_mode(self):
            self._sets = (self.features(reference_ids), self.features(comparison_ids))

    @torch.no_grad()
    def reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B,) rank score ``R(s | U, C)`` in (0, 1) of each sentence (eval mode, no grad)."""
        if self._sets is None:
            raise RuntimeError("Ranker.reward needs a reference and a comparison set: call set_sets first")
        if not context.is_empty:
            raise ValueError("the ranker is unconditional: pass Context.empty(B)")
        with eval_mode(self):
            return torch.exp(log_rank(self.features(reply_ids, reply_mask), *self._sets, self.gamma))

    def prefix_reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        raise NotImplementedError("the ranker scores complete sentences; use it with the rollout reward")

    # -- persistence -------------------------------------------------------------------------------------------
    def pretrained_config(self) -> dict:
        return {"config": to_dict(self.cfg), "vocab_size": self.vocab_size, "gamma": self.gamma}

    @classmethod
    def from_config(cls, config: dict, source: str) -> Ranker:
        return cls(from_dict(DiscriminatorConfig, config["config"], source=source), int(config["vocab_size"]),
                   float(config["gamma"]))
