"""The conditional discriminator D(c, x): is reply x something a human would say to context c?

Two encoders (config ``encoder``):

- ``cnn``: the SeqGAN discriminator — token embeddings, one convolution per filter width, max-over-time pooling,
  a highway layer and dropout. Convolutions are causal (window ending at position t), so a running max over time
  gives the features of every prefix x_1..x_t in the same pass.
- ``transformer``: a small causal transformer encoder whose hidden states are averaged over each prefix.

Two heads (config ``head``):

- ``joint``: one logit from the interaction features [h_x, h_c, h_x * h_c, |h_x - h_c|].
- ``split``: a realism logit r(x) read from h_x alone and a match logit m(c, x) from the interaction features.
  The combined probability is sigmoid(r) * sigmoid(m) ("human-written *and* an answer to c"); ``logit`` holds its
  log-odds so both designs expose the same reward.

The reply may be token ids (B, T) or a distribution over the vocabulary (B, T, V) (embedded as probs @ E), so the
Gumbel-softmax and continuous routes can push gradients through D. An empty context (``Context.empty(B)``, the
unconditional oracle task) makes D read the reply only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgan.config import field, from_dict, to_dict
from seqgan.errors import CheckpointError, ConfigError
from seqgan.models.policy import Context, eval_mode
from seqgan.train.checkpoint import atomic_directory, load_module, save_module

DISCRIMINATOR_DIR = "discriminator"


@dataclass
class DiscriminatorConfig:
    encoder: str = field("cnn", help="cnn (SeqGAN: filter widths, max-over-time, highway) | transformer")
    head: str = field("joint", help="joint: one logit; split: realism(x) and match(c, x) logits")
    embed_dim: int = field(64, help="token embedding size (shared by the context and reply encoders)")
    filter_sizes: list[int] = field([1, 2, 3, 4, 5, 8], help="CNN filter widths")
    num_filters: list[int] = field([64, 64, 64, 64, 64, 64], help="CNN filters per width")
    highway: bool = field(True, help="CNN: highway layer over the pooled features")
    dropout: float = field(0.25, help="dropout before the heads (SeqGAN: 0.25, i.e. keep 0.75)")
    d_model: int = field(64, help="transformer encoder width")
    layers: int = field(2, help="transformer encoder layers")
    heads: int = field(4, help="transformer attention heads")
    max_len: int = field(128, help="transformer: longest sequence (positions)")
    l2: float = field(0.0, help="L2 penalty on the output layers (SeqGAN: 0.2)")

    def validate(self) -> None:
        if self.encoder not in ("cnn", "transformer"):
            raise ConfigError(f"discriminator.encoder: expected cnn or transformer, got {self.encoder!r}")
        if self.head not in ("joint", "split"):
            raise ConfigError(f"discriminator.head: expected joint or split, got {self.head!r}")
        if self.encoder == "cnn":
            if not self.filter_sizes or len(self.filter_sizes) != len(self.num_filters):
                raise ConfigError("discriminator.filter_sizes and discriminator.num_filters: expected two lists "
                                  f"of the same non-zero length, got {len(self.filter_sizes)} and {len(self.num_filters)}")
            if min(self.filter_sizes) < 1 or min(self.num_filters) < 1:
                raise ConfigError("discriminator.filter_sizes / num_filters: expected positive integers")
        elif self.d_model % self.heads:
            raise ConfigError(f"discriminator.d_model ({self.d_model}) must be divisible by discriminator.heads "
                              f"({self.heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"discriminator.dropout: expected a value in [0, 1), got {self.dropout}")


class DiscOutput(NamedTuple):
    logit: Tensor  # (B,) log-odds that x is a human reply to c
    realism: Tensor | None  # (B,) split head: "x is human-written"
    match: Tensor | None  # (B,) split head: "x answers c"


class CNNEncoder(nn.Module):
    """Causal convolutions + running max over time: (B, T, E) embeddings -> (B, T, F) prefix features.

    All filter widths run as **one** convolution: the weight has the largest width W for every filter and a fixed
    0/1 mask keeps only the last ``w`` taps of a width-``w`` filter. With the input left-padded by W - 1, output t
    is then exactly each filter's window ending at t. One call instead of one per width (about 2.8x faster on CPU
    at the default sizes, even though the zero taps cost extra multiplications).
    """

    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.width = max(cfg.filter_sizes)
        self.out_dim = sum(cfg.num_filters)
        weight = torch.zeros(self.out_dim, cfg.embed_dim, self.width)
        mask = torch.zeros(self.out_dim, 1, self.width)
        bias = torch.zeros(self.out_dim)
        start = 0
        for w, n in zip(cfg.filter_sizes, cfg.num_filters):
            bound = 1.0 / math.sqrt(cfg.embed_dim * w)  # nn.Conv1d's default init for a width-w filter
            nn.init.uniform_(weight[start:start + n, :, self.width - w:], -bound, bound)
            nn.init.uniform_(bias[start:start + n], -bound, bound)
            mask[start:start + n, :, self.width - w:] = 1.0
            start += n
        self.weight = nn.Parameter(weight)  # (F, E, W): filter f's taps, aligned to the right
        self.bias = nn.Parameter(bias)  # (F,)
        self.register_buffer("tap_mask", mask, persistent=False)  # (F, 1, W)
        self.highway = nn.Linear(self.out_dim, 2 * self.out_dim) if cfg.highway else None

    def forward(self, emb: Tensor, mask: Tensor) -> Tensor:
        x = F.pad(emb.transpose(1, 2), (self.width - 1, 0))  # (B, E, W - 1 + T)
        h = F.relu(F.conv1d(x, self.weight * self.tap_mask, self.bias))  # (B, F, T): windows ending at t
        h = h.transpose(1, 2).masked_fill(~mask.bool().unsqueeze(-1), 0.0)  # (B, T, F); ReLU >= 0: 0 is neutral
        h = torch.cummax(h, dim=1).values  # prefix features: max over positions <= t
        if self.highway is not None:
            transform, gate = self.highway(h).chunk(2, dim=-1)
            g = torch.sigmoid(gate)
            h = g * F.relu(transform) + (1 - g) * h
        return h


class TransformerEncoder(nn.Module):
    """Causal transformer + running mean over each prefix: (B, T, E) -> (B, T, d_model)."""

    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.proj = nn.Linear(cfg.embed_dim, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.heads, 4 * cfg.d_model, cfg.dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.out_dim = cfg.d_model
        self.max_len = cfg.max_len

    def forward(self, emb: Tensor, mask: Tensor) -> Tensor:
        B, T, _ = emb.shape
        if T > self.max_len:
            raise ValueError(f"sequence of {T} tokens exceeds discriminator.max_len={self.max_len}")
        h = self.proj(emb) + self.pos(torch.arange(T, device=emb.device))
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool, device=emb.device), diagonal=1)
        h = self.encoder(h, mask=causal)  # causal: position t sees tokens <= t only
        m = mask.to(h.dtype).unsqueeze(-1)
        return (h * m).cumsum(1) / m.cumsum(1).clamp(min=1.0)


class Discriminator(nn.Module):
    """D(c, x) with a joint or split head; see the module docstring."""

    def __init__(self, cfg: DiscriminatorConfig, vocab_size: int, pad_id: int):
        super().__init__()
        cfg.validate()
        self.cfg, self.vocab_size, self.pad_id = cfg, vocab_size, pad_id
        self.embedding = nn.Embedding(vocab_size, cfg.embed_dim, padding_idx=pad_id)
        encoder_cls = CNNEncoder if cfg.encoder == "cnn" else TransformerEncoder
        self.reply_encoder = encoder_cls(cfg)
        self.context_encoder = encoder_cls(cfg)
        dim = self.reply_encoder.out_dim
        self.dropout = nn.Dropout(cfg.dropout)
        self.pair_head = nn.Sequential(nn.Linear(4 * dim, dim), nn.ReLU(), nn.Linear(dim, 1))
        self.realism_head = nn.Linear(dim, 1) if cfg.head == "split" else None

    # -- encoding ----------------------------------------------------------------------------------------------
    def _embed(self, reply: Tensor) -> Tensor:
        if reply.dim() == 2:
            return self.embedding(reply)  # (B, T, E)
        if reply.dim() == 3 and reply.shape[-1] == self.vocab_size:
            return reply.to(self.embedding.weight.dtype) @ self.embedding.weight  # (B, T, V) @ (V, E)
        raise ValueError(f"reply: expected ids (B, T) or probabilities (B, T, {self.vocab_size}), "
                         f"got shape {tuple(reply.shape)}")

    def _context_features(self, context: Context) -> Tensor | None:
        """(B, F) pooled context features, or None for an empty context."""
        if context.is_empty:
            return None
        feats = self.context_encoder(self.embedding(context.ids), context.mask)  # (B, S, F)
        last = (context.mask.sum(1) - 1).clamp(min=0)
        return feats[torch.arange(feats.shape[0], device=feats.device), last]

    def _heads(self, h_x: Tensor, h_c: Tensor | None) -> DiscOutput:
        """h_x (..., F), h_c broadcastable (..., F) or None -> logits of shape (...)."""
        h_x = self.dropout(h_x)
        if h_c is None:
            if self.realism_head is not None:
                realism = self.realism_head(h_x).squeeze(-1)
                return DiscOutput(realism, realism, None)
            h_c = torch.zeros_like(h_x)
        else:
            h_c = self.dropout(h_c).expand_as(h_x)
        pair = self.pair_head(torch.cat([h_x, h_c, h_x * h_c, (h_x - h_c).abs()], -1)).squeeze(-1)
        if self.realism_head is None:
            return DiscOutput(pair, None, None)
        realism = self.realism_head(h_x).squeeze(-1)
        return DiscOutput(_log_odds_of_product(realism, pair), realism, pair)

    def _prefix_features(self, context: Context, reply: Tensor, reply_mask: Tensor):
        h_x = self.reply_encoder(self._embed(reply), reply_mask)  # (B, T, F)
        return h_x, self._context_features(context)

    # -- public API --------------------------------------------------------------------------------------------
    def forward(self, context: Context, reply: Tensor, reply_mask: Tensor) -> DiscOutput:
        """reply: ids (B, T) or probabilities (B, T, V); reply_mask (B, T). Returns logits of shape (B,)."""
        h_x, h_c = self._prefix_features(context, reply, reply_mask)
        last = (reply_mask.sum(1).long() - 1).clamp(min=0)
        h_last = h_x[torch.arange(h_x.shape[0], device=h_x.device), last]  # (B, F): the whole reply
        return self._heads(h_last, h_c)

    def prefix_logits(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B, T): logit of every prefix x_1..x_t in one pass; entry t never looks at tokens after t.

        The entry at the reply's last real position equals ``forward(...).logit``.
        """
        h_x, h_c = self._prefix_features(context, reply_ids, reply_mask)
        return self._heads(h_x, None if h_c is None else h_c.unsqueeze(1)).logit

    @torch.no_grad()
    def reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B,) probability in (0, 1) that each reply is a human reply to its context (eval mode, no grad)."""
        with eval_mode(self):
            return torch.sigmoid(self(context, reply_ids, reply_mask).logit.float())

    @torch.no_grad()
    def prefix_reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B, T) probability per prefix, 0 past each reply's end (eval mode, no grad)."""
        with eval_mode(self):
            return torch.sigmoid(self.prefix_logits(context, reply_ids, reply_mask).float()) * reply_mask

    def l2_penalty(self) -> Tensor:
        """cfg.l2 * squared norm of the output layers' weights (SeqGAN's L2 regularisation)."""
        weights = [self.pair_head[-1].weight] + ([self.realism_head.weight] if self.realism_head is not None else [])
        return self.cfg.l2 * sum((w ** 2).sum() for w in weights)

    # -- persistence -------------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Atomically write ``config.json`` + ``model.safetensors`` to ``directory``."""
        with atomic_directory(Path(directory)) as staging:
            meta = {"config": to_dict(self.cfg), "vocab_size": self.vocab_size, "pad_id": self.pad_id}
            (staging / "config.json").write_text(json.dumps(meta, indent=2))
            save_module(self, staging / "model.safetensors")

    @classmethod
    def load(cls, directory: str | Path) -> Discriminator:
        directory = Path(directory)
        meta_path = directory / "config.json"
        if not meta_path.is_file():
            raise CheckpointError(f"{directory}: not a saved discriminator (no config.json)")
        try:
            meta = json.loads(meta_path.read_text())
            cfg = from_dict(DiscriminatorConfig, meta["config"], source=str(meta_path))
            disc = cls(cfg, int(meta["vocab_size"]), int(meta["pad_id"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, ConfigError) as err:
            raise CheckpointError(f"{meta_path}: corrupt discriminator config ({err})") from None
        load_module(disc, directory / "model.safetensors")
        return disc


def load_discriminator(run_dir: str | Path, name: str = DISCRIMINATOR_DIR) -> Discriminator | None:
    """The discriminator saved in ``run_dir/name``, or None when the run has none."""
    path = Path(run_dir) / name
    return Discriminator.load(path) if path.is_dir() else None


def _log_odds_of_product(a: Tensor, b: Tensor) -> Tensor:
    """log-odds of sigmoid(a) * sigmoid(b), computed stably."""
    log_p = F.logsigmoid(a) + F.logsigmoid(b)  # log p, p = sigmoid(a) sigmoid(b) < 1
    log_1mp = torch.log(-torch.expm1(log_p).clamp(max=-1e-12))  # log(1 - p)
    return log_p - log_1mp

