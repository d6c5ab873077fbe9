"""RelGAN's discriminator (Nie et al. 2019): a CNN over *multiple embedded representations* of a sentence.

The token vectors (ids, or the generator's relaxed (B, T, V) distributions) are embedded by one matrix
V -> ``num_rep * rep_dim``, read as ``num_rep`` separate representations of ``rep_dim`` units each. The same CNN
reads every representation: per filter height f, ``num_filters`` filters of f tokens x ``rep_dim`` units ("valid"
windows), ReLU, max over time, a highway layer, dropout, a 100-unit linear layer and a linear logit. D returns one
logit per representation (B, R); RelGAN's losses pair them element-wise (:mod:`seqgan.objectives.relativistic`).
Each representation sees the sentence through a different embedding, so G gets ``num_rep`` different signals
per sentence. RelGAN's synthetic-data D: 64 representations of 1 unit (embedding 64 in all), heights 2-5 with 300
filters each, dropout 0.25.

As a D of the shared API (``forward(context, reply, mask).logit``, ``reward``) the logit is the mean over the
representations. Unconditional: the context must be empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgan.config import check_fields, field, from_dict, to_dict
from seqgan.errors import ConfigError
from seqgan.models.discriminator import DiscOutput, DiscriminatorScoring
from seqgan.models.policy import Context
from seqgan.runs.pretrained import PretrainedMixin


@dataclass
class MultiRepConfig:
    embed_dim: int = field(64, ge=1, help="embedding units in all (num_rep representations of embed_dim / num_rep)")
    num_rep: int = field(64, ge=1, help="embedded representations")
    filter_sizes: list[int] = field([2, 3, 4, 5], ge=1, help="filter heights (tokens)")
    num_filters: list[int] = field([300, 300, 300, 300], ge=1, help="filters per height")
    hidden: int = field(100, ge=1, help="units of the linear layer before the logit")
    dropout: float = field(0.25, ge=0, lt=1, help="dropout after the highway layer")

    def validate(self) -> None:
        check_fields(self, "relgan.disc")
        if self.embed_dim % self.num_rep:
            raise ConfigError(f"relgan.disc.embed_dim: {self.embed_dim} does not split into {self.num_rep} "
                              "representations")
        if len(self.filter_sizes) != len(self.num_filters) or not self.filter_sizes:
            raise ConfigError("relgan.disc.filter_sizes and relgan.disc.num_filters: expected two lists of the same "
                              "non-zero length")


class MultiRepDiscriminator(DiscriminatorScoring, PretrainedMixin, nn.Module):
    """D(x) = num_rep logits, one per embedded representation; see the module docstring."""

    def __init__(self, cfg: MultiRepConfig, vocab_size: int) -> None:
        super().__init__()
        cfg.validate()
        self.cfg, self.vocab_size = cfg, int(vocab_size)
        self.rep_dim = cfg.embed_dim // cfg.num_rep
        self.embedding = nn.Embedding(vocab_size, cfg.embed_dim)
        self.convs = nn.ModuleList(nn.Linear(f * self.rep_dim, n) for f, n in zip(cfg.filter_sizes, cfg.num_filters))
        total = sum(cfg.num_filters)
        self.highway = nn.Linear(total, 2 * total)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(total, cfg.hidden)
        self.out = nn.Linear(cfg.hidden, 1)

    def rep_logits(self, reply: Tensor) -> Tensor:
        """ids (B, T) or distributions (B, T, V) -> (B, R) logits."""
        if reply.dim() == 2:
            emb = self.embedding(reply)  # (B, T, R * e)
        elif reply.dim() == 3 and reply.shape[-1] == self.vocab_size:
            emb = reply.to(self.embedding.weight.dtype) @ self.embedding.weight
        else:
            raise ValueError(f"reply: expected ids (B, T) or probabilities (B, T, {self.vocab_size}), "
                             f"got shape {tuple(reply.shape)}")
        B, T, _ = emb.shape
        if T < max(self.cfg.filter_sizes):
            raise ValueError(f"a sentence of {T} tokens is shorter than the tallest filter "
                             f"{max(self.cfg.filter_sizes)}")
        reps = emb.view(B, T, self.cfg.num_rep, self.rep_dim).transpose(1, 2)  # (B, R, T, e)
        pooled = []
        for f, conv in zip(self.cfg.filter_sizes, self.convs):
            windows = reps.unfold(2, f, 1).transpose(-1, -2).reshape(B, self.cfg.num_rep, T - f + 1, f * self.rep_dim)
            pooled.append(F.relu(conv(windows)).amax(2))  # (B, R, n_f): max over the T - f + 1 windows
        h = torch.cat(pooled, -1)  # (B, R, F)
        transform, gate = self.highway(h).chunk(2, dim=-1)
        g = torch.sigmoid(gate)
        h = self.dropout(g * F.relu(transform) + (1 - g) * h)
        return self.out(self.fc(h)).squeeze(-1)  # (B, R)

    def forward(self, context: Context, reply: Tensor, reply_mask: Tensor) -> DiscOutput:
        """The mean of the representations' logits (B,) as the shared D output (the mask is all ones here)."""
        if not context.is_empty:
            raise ValueError("RelGAN's discriminator is unconditional: pass Context.empty(B)")
        logit = self.rep_logits(reply).mean(-1)
        return DiscOutput(logit, logit, None)

    def l2_penalty(self) -> Tensor:
        return self.out.weight.new_zeros(())

    # -- persistence -------------------------------------------------------------------------------------------
    def pretrained_config(self) -> dict:
        return {"config": to_dict(self.cfg), "vocab_size": self.vocab_size}

    @classmethod
    def from_config(cls, config: dict, source: str) -> MultiRepDiscriminator:
        return cls(from_dict(MultiRepConfig, config["config"], source=source), int(config["vocab_size"]))
