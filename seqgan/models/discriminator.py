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

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgan.config import field, from_dict, to_dict
from seqgan.errors import ConfigError
from seqgan.models.policy import Context, eval_mode
from seqgan.runs.pretrained import PretrainedMixin

DISCRIMINATOR_DIR = "discriminator"
ENCODERS = ("cnn", "transformer", "generator", "minilm")


@dataclass
class DiscriminatorConfig:
    encoder: str = field("cnn", help="cnn (SeqGAN: filter widths, max-over-time, highway) | transformer | "
                                      "generator (a copy of the MLE generator's encoder-decoder, fine-tuned; "
                                      "seqgan.models.generator_discriminator) | minilm (a frozen pretrained "
                                      "sentence encoder reading the detokenised text + a trained head; extra "
                                      "seqgan[minilm]; seqgan.models.sentence_discriminator)")
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
    freeze_generator: bool = field(False, help="encoder generator: train the head only, keep the copy fixed")
    body_lr_scale: float = field(0.1, help="encoder generator: learning rate of the copied encoder-decoder relative "
                                           "to the head's (the D optimiser's lr)")
    cache_size: int = field(200_000, help="encoder minilm: embeddings of distinct texts kept (each text is encoded "
                                           "once while it stays in the cache)")
    fold_table_mb: int = field(256, help="CNN, scoring without gradient (rewards): fold the embedding into the "
                                          "convolution as a per-token lookup table of at most this many MB per "
                                          "encoder (exact, rebuilt after each D update); 0 disables")

    def validate(self) -> None:
        if self.encoder not in ENCODERS:
            raise ConfigError(f"discriminator.encoder: expected one of {', '.join(ENCODERS)}, got {self.encoder!r}")
        if self.encoder in ("generator", "minilm") and self.head != "joint":
            raise ConfigError(f"discriminator.head: the {self.encoder} encoder has a joint head only, got "
                              f"{self.head!r}")
        if self.cache_size < 0:
            raise ConfigError(f"discriminator.cache_size: expected >= 0, got {self.cache_size}")
        if self.head not in ("joint", "split"):
            raise ConfigError(f"discriminator.head: expected joint or split, got {self.head!r}")
        if self.encoder == "cnn":
            if not self.filter_sizes or len(self.filter_sizes) != len(self.num_filters):
                raise ConfigError("discriminator.filter_sizes and discriminator.num_filters: expected two lists "
                                  f"of the same non-zero length, got {len(self.filter_sizes)} and {len(self.num_filters)}")
            if min(self.filter_sizes) < 1 or min(self.num_filters) < 1:
                raise ConfigError("discriminator.filter_sizes / num_filters: expected positive integers")
        elif self.encoder == "transformer" and self.d_model % self.heads:
            raise ConfigError(f"discriminator.d_model ({self.d_model}) must be divisible by discriminator.heads "
                              f"({self.heads})")
        if self.body_lr_scale <= 0:
            raise ConfigError(f"discriminator.body_lr_scale: expected > 0, got {self.body_lr_scale}")
        if self.fold_table_mb < 0:
            raise ConfigError(f"discriminator.fold_table_mb: expected >= 0, got {self.fold_table_mb}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"discriminator.dropout: expected a value in [0, 1), got {self.dropout}")


class DiscOutput(NamedTuple):
    logit: Tensor  # (B,) log-odds that x is a human reply to c
    realism: Tensor | None  # (B,) split head: "x is human-written"
    match: Tensor | None  # (B,) split head: "x answers c"


class DiscriminatorScoring:
    """The reward API every D design shares, from its ``forward`` / ``prefix_logits`` / ``_reward_rows_logits``:
    probabilities in (0, 1), computed in eval mode without gradient (the mode is restored)."""

    @torch.no_grad()
    def reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B,) probability in (0, 1) that each reply is a human reply to its context (eval mode, no grad)."""
        with eval_mode(self):
            return torch.sigmoid(self(context, reply_ids, reply_mask).logit.float())

    @torch.no_grad()
    def reward_rows(self, context: Context, rows: Tensor, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(M,) the same as ``reward(context.index(rows), reply_ids, reply_mask)``, but each of the B contexts is
        encoded once, not once per reply: rows (M,) picks the context row of each reply (M, T). Monte Carlo
        rollouts score n * (T-1) completions per context, so this skips most of D's context encoding there."""
        with eval_mode(self):
            return torch.sigmoid(self._reward_rows_logits(context, rows, reply_ids, reply_mask).float())

    @torch.no_grad()
    def prefix_reward(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B, T) probability per prefix, 0 past each reply's end (eval mode, no grad)."""
        with eval_mode(self):
            logits = self.prefix_logits(context, reply_ids, reply_mask).float()
            return torch.sigmoid(logits) * reply_mask.to(logits.device)


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
        self.fold_bytes = cfg.fold_table_mb * 2**20
        self._table: Tensor | None = None  # (V * W + 1, F) folded embedding x taps; not part of the state
        self._table_key: tuple | None = None

    def encode_ids(self, ids: Tensor, mask: Tensor, embedding: Tensor, prefixes: bool) -> Tensor:
        """Like ``forward(embedding[ids], mask)``; without gradient it uses the folded table when it fits.

        Folding: window output ``sum_k W[:, :, k] @ E[x_{t-W+1+k}]`` becomes a sum of W rows of a table
        ``table[v * W + k] = W[:, :, k] @ E[v]`` (``embedding_bag`` with mode "sum"), so scoring replies costs
        W row additions per position instead of a W x E x F product. ids (B, T) -> (B, T, F) or (B, F).
        """
        V, E = embedding.shape
        if torch.is_grad_enabled() or (V * self.width + 1) * self.out_dim * embedding.element_size() > self.fold_bytes:
            return self(F.embedding(ids, embedding), mask, prefixes)
        table = self._folded_table(embedding)  # (V * W + 1, F)
        B, T = ids.shape
        zero_row = V * self.width
        padded = F.pad(ids * self.width, (self.width - 1, 0), value=zero_row)  # (B, W - 1 + T), left padding
        windows = padded.unfold(1, self.width, 1)  # (B, T, W): the tokens of the window ending at t
        taps = torch.arange(self.width, device=ids.device)
        index = torch.where(windows == zero_row, zero_row, windows + taps)  # row of (token, tap)
        h = F.embedding_bag(index.reshape(B * T, self.width), table, mode="sum").view(B, T, -1)
        # relu(max_t(h_t) + b) == max_t(relu(h_t + b)): bias and ReLU after the pooling touch F numbers per row
        h = h.masked_fill(~mask.bool().unsqueeze(-1), float("-inf"))  # (B, T, F); padding never wins the max
        pooled = running_max(h, fill=float("-inf")) if prefixes else h.amax(1)  # (B, T, F) or (B, F)
        return F.relu(pooled + self.bias)

    def _folded_table(self, embedding: Tensor) -> Tensor:
        key = (embedding.data_ptr(), embedding._version, self.weight.data_ptr(), self.weight._version,
               embedding.dtype, embedding.device)
        if self._table is None or self._table_key != key:
            taps = (self.weight * self.tap_mask).to(embedding.dtype)  # (F, E, W)
            table = torch.einsum("ve,fek->vkf", embedding, taps).reshape(-1, self.out_dim)  # (V * W, F)
            self._table = torch.cat([table, table.new_zeros(1, self.out_dim)])
            self._table_key = key
        return self._table

    def forward(self, emb: Tensor, mask: Tensor, prefixes: bool = True) -> Tensor:
        """(B, T, E), mask (B, T) -> max-pooled conv features (before the highway) of every prefix (B, T, F), or
        of the whole sequence (B, F) when ``prefixes`` is False."""
        x = F.pad(emb.transpose(1, 2), (self.width - 1, 0))  # (B, E, W - 1 + T)
        h = F.relu(F.conv1d(x, self.weight * self.tap_mask, self.bias))  # (B, F, T): windows ending at t
        h = h.transpose(1, 2).masked_fill(~mask.bool().unsqueeze(-1), 0.0)  # (B, T, F); ReLU >= 0: 0 is neutral
        return running_max(h) if prefixes else h.amax(1)  # max over positions <= t, or over all

    def readout(self, h: Tensor) -> Tensor:
        """(..., F) pooled features -> (..., F) after the highway layer. Applied only to the positions that are
        scored (the last one for :meth:`Discriminator.forward`): the highway is most of the CNN's arithmetic."""
        if self.highway is None:
            return h
        transform, gate = self.highway(h).chunk(2, dim=-1)
        g = torch.sigmoid(gate)
        return g * F.relu(transform) + (1 - g) * h


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

    def forward(self, emb: Tensor, mask: Tensor, prefixes: bool = True) -> Tensor:
        """(B, T, E) -> mean hidden state of every prefix (B, T, d_model), or of the whole sequence (B, d_model)."""
        B, T, _ = emb.shape
        if T > self.max_len:
            raise ValueError(f"sequence of {T} tokens exceeds discriminator.max_len={self.max_len}")
        h = self.proj(emb) + self.pos(torch.arange(T, device=emb.device))
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool, device=emb.device), diagonal=1)
        h = self.encoder(h, mask=causal)  # causal: position t sees tokens <= t only
        m = mask.to(h.dtype).unsqueeze(-1)
        if not prefixes:
            return (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        return (h * m).cumsum(1) / m.cumsum(1).clamp(min=1.0)

    def readout(self, h: Tensor) -> Tensor:
        """(..., d_model) -> unchanged (the transformer's layers already mixed the features)."""
        return h


class Discriminator(DiscriminatorScoring, PretrainedMixin, nn.Module):
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

    def _encode(self, encoder: nn.Module, ids: Tensor, mask: Tensor, prefixes: bool) -> Tensor:
        """ids (B, T) -> pooled features (B, T, F) per prefix or (B, F) (the CNN may use its folded table)."""
        if isinstance(encoder, CNNEncoder):
            return encoder.encode_ids(ids, mask, self.embedding.weight, prefixes)
        return encoder(self.embedding(ids), mask, prefixes)

    def _context_features(self, context: Context) -> Tensor | None:
        """(B, F) pooled context features, or None for an empty context."""
        if context.is_empty:
            return None
        pooled = self._encode(self.context_encoder, context.ids, context.mask, prefixes=False)  # (B, F)
        return self.context_encoder.readout(pooled)

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

    def _reply_features(self, reply: Tensor, reply_mask: Tensor, prefixes: bool) -> Tensor:
        """Pooled reply features after ``readout``: of every prefix (B, T, F) or of the whole reply (B, F)."""
        if reply.shape[:2] != reply_mask.shape:
            raise ValueError(f"reply {tuple(reply.shape)} and reply_mask {tuple(reply_mask.shape)} disagree on (B, T)")
        if reply.dim() == 2:
            h_x = self._encode(self.reply_encoder, reply, reply_mask, prefixes)
        else:  # (B, T, V) distributions: embedded as probs @ E
            h_x = self.reply_encoder(self._embed(reply), reply_mask, prefixes)
        return self.reply_encoder.readout(h_x)

    def _features(self, context: Context, reply: Tensor, reply_mask: Tensor,
                  prefixes: bool) -> tuple[Tensor, Tensor | None]:
        """Reply features (see :meth:`_reply_features`) and the context's features (B, F) (None when empty)."""
        if reply.shape[0] != context.batch_size:
            raise ValueError(f"reply {tuple(reply.shape)} and context {tuple(context.ids.shape)} disagree on B")
        return self._reply_features(reply, reply_mask, prefixes), self._context_features(context)

    # -- public API --------------------------------------------------------------------------------------------
    def forward(self, context: Context, reply: Tensor, reply_mask: Tensor) -> DiscOutput:
        """reply: ids (B, T) or probabilities (B, T, V); reply_mask (B, T). Returns logits of shape (B,)."""
        h_x, h_c = self._features(context, reply, reply_mask, prefixes=False)  # (B, F), (B, F) | None
        return self._heads(h_x, h_c)

    def prefix_logits(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B, T): logit of every prefix x_1..x_t in one pass; entry t never looks at tokens after t.

        The entry at the reply's last real position equals ``forward(...).logit``.
        """
        h_x, h_c = self._features(context, reply_ids, reply_mask, prefixes=True)  # (B, T, F), (B, F) | None
        return self._heads(h_x, None if h_c is None else h_c.unsqueeze(1)).logit

    def _reward_rows_logits(self, context: Context, rows: Tensor, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(M,) logits of replies (M, T) whose contexts are rows ``rows`` (M,) of ``context`` (encoded once)."""
        h_x = self._reply_features(reply_ids, reply_mask, prefixes=False)  # (M, F)
        h_c = self._context_features(context)  # (B, F) | None
        return self._heads(h_x, None if h_c is None else h_c[rows]).logit

    def l2_penalty(self) -> Tensor:
        """cfg.l2 * squared norm of the output layers' weights (SeqGAN's L2 regularisation)."""
        weights = [self.pair_head[-1].weight] + ([self.realism_head.weight] if self.realism_head is not None else [])
        return self.cfg.l2 * sum((w ** 2).sum() for w in weights)

    # -- persistence (save_pretrained / from_pretrained: seqgan.runs.pretrained) ------------------------------
    def pretrained_config(self) -> dict:
        return {"config": to_dict(self.cfg), "vocab_size": self.vocab_size, "pad_id": self.pad_id}

    @classmethod
    def from_config(cls, config: dict, source: str) -> Discriminator:
        cfg = from_dict(DiscriminatorConfig, config["config"], source=source)
        return cls(cfg, int(config["vocab_size"]), int(config["pad_id"]))


def optimizer_groups(disc: nn.Module, lr: float) -> list[dict]:
    """Adam parameter groups of a D's trainable parameters: one group at ``lr``, or, for a D with pretrained parts
    (``disc.param_groups``), those parts at ``lr * cfg.body_lr_scale``."""
    groups = getattr(disc, "param_groups", None)
    if groups is not None:
        return groups(lr)
    return [{"params": [p for p in disc.parameters() if p.requires_grad], "lr": lr}]


def running_max(h: Tensor, fill: float = 0.0) -> Tensor:
    """(B, T, F) -> (B, T, F) running max over time: out[:, t] = max of h[:, :t+1].

    log2(T) elementwise maxima with shifted copies; ``fill`` must not exceed any value of h (0 for ReLU outputs,
    -inf in general). Several times faster than ``torch.cummax`` on CPU, which also computes indices.
    """
    out, shift, T = h, 1, h.shape[1]
    while shift < T:
        out = torch.maximum(out, F.pad(out[:, :-shift], (0, 0, shift, 0), value=fill))
        shift *= 2
    return out


def _log_odds_of_product(a: Tensor, b: Tensor) -> Tensor:
    """log-odds of sigmoid(a) * sigmoid(b), computed stably."""
    log_p = F.logsigmoid(a) + F.logsigmoid(b)  # log p, p = sigmoid(a) sigmoid(b) < 1
    log_1mp = torch.log(-torch.expm1(log_p).clamp(max=-1e-12))  # log(1 - p)
    return log_p - log_1mp

