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
Gumbel-softmax and continuous routes can push gradients through D. An empty context (``Context.empty(B)``) makes D
read the reply only. An unconditional D (``conditional=False``, the synthetic-oracle task) has no context encoder
and no pair head: embedding, encoder, dropout and one realism logit -- with the CNN encoder exactly the SeqGAN
paper's discriminator.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgan.config import check_fields, field, from_dict, to_dict
from seqgan.errors import ConfigError
from seqgan.models.policy import Context, eval_mode
from seqgan.runs.pretrained import PretrainedMixin

DISCRIMINATOR_DIR = "discriminator"
SCORE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
AUTO_FOLD_SHARE = 8  # fold_table_mb -1: the tables may take up to 1/8 of the memory free on their device
ENCODERS = ("cnn", "transformer", "generator", "minilm")


@dataclass
class DiscriminatorConfig:
    encoder: str = field("cnn", choices=ENCODERS, help="cnn (SeqGAN: filter widths, max-over-time, highway) | "
                                                       "transformer | generator (a copy of the MLE generator's "
                                                       "encoder-decoder, fine-tuned; "
                                                       "seqgan.models.generator_discriminator) | minilm (a frozen "
                                                       "pretrained sentence encoder reading the detokenised text + a "
                                                       "trained head; extra seqgan[minilm]; "
                                                       "seqgan.models.sentence_discriminator)")
    head: str = field("joint", choices=("joint", "split"), help="joint: one logit; split: realism(x) and match(c, x) "
                                                                "logits")
    embed_dim: int = field(64, help="token embedding size (shared by the context and reply encoders)")
    filter_sizes: list[int] = field([1, 2, 3, 4, 5, 8], ge=1, help="CNN filter widths")
    num_filters: list[int] = field([64, 64, 64, 64, 64, 64], ge=1, help="CNN filters per width")
    highway: bool = field(True, help="CNN: highway layer over the pooled features")
    dropout: float = field(0.25, ge=0, lt=1, help="dropout before the heads (SeqGAN: 0.25, i.e. keep 0.75)")
    d_model: int = field(64, help="transformer encoder width")
    layers: int = field(2, help="transformer encoder layers")
    heads: int = field(4, help="transformer attention heads")
    max_len: int = field(128, help="transformer: longest sequence (positions)")
    l2: float = field(0.0, help="L2 penalty on the output layers (SeqGAN: 0.2)")
    freeze_generator: bool = field(False, help="encoder generator: train the head only, keep the copy fixed")
    body_lr_scale: float = field(0.1, gt=0, help="encoder generator: learning rate of the copied encoder-decoder "
                                                 "relative to the head's (the D optimiser's lr)")
    cache_size: int = field(200_000, ge=0, help="encoder minilm: embeddings of distinct texts kept (each text is "
                                                "encoded once while it stays in the cache)")
    minilm_layers: list[int] = field([6], ge=0, help="encoder minilm: the encoder layers whose mean-pooled, "
                                                     "normalised outputs are concatenated into a text's features (0 = "
                                                     "the embedding layer, 6 = the last); lower layers keep more of "
                                                     "the surface form a generator gives itself away by "
                                                     "(BENCHMARKS.md)")
    minilm_train_layers: int = field(0, ge=0, help="encoder minilm: fine-tune the top k encoder layers at "
                                                   "body_lr_scale x the head's lr (their input, a text's token "
                                                   "states below them, is cached, so a D step runs k layers); 0 = "
                                                   "frozen encoder, only the head trains")
    fold_table_mb: int = field(-1, ge=-1, help="CNN, scoring without gradient (rewards): fold the embedding into each "
                                               "convolution as per-token lookup tables of at most this many MB per "
                                               "encoder (exact in float32, rebuilt after each D update); 0 disables; "
                                               "-1 adapts to the machine (up to 1/8 of the memory free when built)")
    score_dtype: str = field("float32", choices=sorted(SCORE_DTYPES), help="CNN, scoring without gradient: float32 "
                                                                           "(exact) | bfloat16 | float16: dtype of the "
                                                                           "folded tables and of the highway layer's "
                                                                           "matrix product (half the memory traffic; "
                                                                           "bfloat16 products are fast on CPUs with "
                                                                           "AVX-512 BF16, float16 ones only on GPUs)")

    def validate(self) -> None:
        check_fields(self, "discriminator")
        if self.encoder in ("generator", "minilm") and self.head != "joint":
            raise ConfigError(f"discriminator.head: the {self.encoder} encoder has a joint head only, got "
                              f"{self.head!r}")
        if not self.minilm_layers or len(set(self.minilm_layers)) != len(self.minilm_layers):
            raise ConfigError(f"discriminator.minilm_layers: expected distinct layer numbers >= 0, got "
                              f"{self.minilm_layers}")
        if self.encoder == "cnn" and (not self.filter_sizes or len(self.filter_sizes) != len(self.num_filters)):
            raise ConfigError("discriminator.filter_sizes and discriminator.num_filters: expected two lists of the "
                              f"same non-zero length, got {len(self.filter_sizes)} and {len(self.num_filters)}")
        if self.encoder == "transformer" and self.d_model % self.heads:
            raise ConfigError(f"discriminator.d_model ({self.d_model}) must be divisible by discriminator.heads "
                              f"({self.heads})")


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
    """Causal convolutions, one per filter width, + running max over time: (B, T, E) embeddings -> (B, T, F).

    A width-``w`` filter has ``w`` taps; its output at position t reads the window x_{t-w+1}..x_t (zero embeddings
    before the start), so a running max over time gives the features of every prefix x_1..x_t in the same pass.
    Each width is its own convolution with its own taps (no padding of narrow filters to the widest).

    Scoring without gradient folds the embedding into the convolution (:meth:`encode_ids`): with D's weights fixed,
    ``W_w[:, :, k] @ E[v]`` is tabulated once per (token v, tap k) for every width w, and each window becomes a sum of
    ``w`` table rows (``embedding_bag`` with mode "sum"), the bias added after the max-pool.
    """

    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.widths = [int(w) for w in cfg.filter_sizes]
        self.counts = [int(n) for n in cfg.num_filters]
        self.width = max(self.widths)
        self.out_dim = sum(self.counts)
        self.weights = nn.ParameterList()  # width w: (n_w, E, w), taps oldest first
        self.biases = nn.ParameterList()  # width w: (n_w,)
        for w, n in zip(self.widths, self.counts):
            bound = 1.0 / math.sqrt(cfg.embed_dim * w)  # nn.Conv1d's default init for a width-w filter
            self.weights.append(nn.Parameter(torch.empty(n, cfg.embed_dim, w).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n).uniform_(-bound, bound)))
        self.highway = nn.Linear(self.out_dim, 2 * self.out_dim) if cfg.highway else None
        self.fold_mb = cfg.fold_table_mb
        self.score_dtype = SCORE_DTYPES[cfg.score_dtype]
        self._tables: list[Tensor] | None = None  # per width ((V + 1) * w, n_w) folded tables; not in the state
        self._tables_key: tuple | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()  # copies (deepcopy, pickling) rebuild their tables instead of copying them
        state["_tables"] = state["_tables_key"] = None
        return state

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before the per-width layout hold one (F, E, W) weight, narrow filters right-aligned
        packed, bias = state_dict.pop(prefix + "weight", None), state_dict.pop(prefix + "bias", None)
        if packed is not None and bias is not None and packed.dim() == 3 and packed.shape[-1] == self.width:
            start = 0
            for i, (w, n) in enumerate(zip(self.widths, self.counts)):
                state_dict[f"{prefix}weights.{i}"] = packed[start:start + n, :, self.width - w:]
                state_dict[f"{prefix}biases.{i}"] = bias[start:start + n]
                start += n
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- plain path (with gradient, or distributions as input) ------------------------------------------------
    def forward(self, emb: Tensor, mask: Tensor, prefixes: bool = True) -> Tensor:
        """(B, T, E), mask (B, T) -> max-pooled conv features (before the highway) of every prefix (B, T, F), or
        of the whole sequence (B, F) when ``prefixes`` is False."""
        x = emb.transpose(1, 2)  # (B, E, T)
        h = torch.cat([F.conv1d(F.pad(x, (w - 1, 0)), weight, bias)  # (B, n_w, T): windows ending at t
                       for w, weight, bias in zip(self.widths, self.weights, self.biases)], 1)
        h = F.relu(h).transpose(1, 2).masked_fill(~mask.bool().unsqueeze(-1), 0.0)  # (B, T, F); 0 is neutral
        return running_max(h) if prefixes else h.amax(1)  # max over positions <= t, or over all

    # -- folded path (scoring without gradient) ----------------------------------------------------------------
    def table_bytes(self, vocab_size: int) -> int:
        """Size of the folded tables for a vocabulary of ``vocab_size`` tokens."""
        elements = sum((vocab_size + 1) * w * n for w, n in zip(self.widths, self.counts))
        return elements * torch.empty(0, dtype=self.score_dtype).element_size()

    def encode_ids(self, ids: Tensor, mask: Tensor, embedding: Tensor, prefixes: bool) -> Tensor:
        """Like ``forward(embedding[ids], mask)``; without gradient it uses the folded tables when they fit.

        Window output ``sum_k W_w[:, :, k] @ E[x_{t-w+1+k}]`` becomes the sum of ``w`` rows
        ``table_w[x_{t-w+1+k} * w + k]``; positions before the start read token V, whose rows are zero. ids (B, T)
        -> (B, T, F) or (B, F). With a half-precision table the window sums are rounded to that precision.
        """
        tables = None if torch.is_grad_enabled() else self._folded_tables(embedding)
        if tables is None:
            return self(F.embedding(ids, embedding), mask, prefixes)
        B, T = ids.shape
        padded = F.pad(ids, (self.width - 1, 0), value=embedding.shape[0])  # (B, W - 1 + T)
        masked = not bool(mask.all())
        out = []
        for w, table in zip(self.widths, tables):
            windows = padded[:, self.width - w:].unfold(1, w, 1)  # (B, T, w): tokens of the window ending at t
            index = windows * w + torch.arange(w, device=ids.device)  # (B, T, w): row of (token, tap)
            h = F.embedding_bag(index.reshape(B * T, w), table, mode="sum").view(B, T, -1)  # (B, T, n_w)
            # relu(max_t(h_t) + b) == max_t(relu(h_t + b)): bias and ReLU after the pooling touch n_w numbers/row
            if masked:
                h = h.masked_fill(~mask.bool().unsqueeze(-1), float("-inf"))  # padding never wins the max
            out.append(running_max(h, fill=float("-inf")) if prefixes else h.amax(1))
        pooled = torch.cat(out, -1).to(embedding.dtype)  # (B, T, F) or (B, F)
        return F.relu(pooled + torch.cat(list(self.biases)))

    def _folded_tables(self, embedding: Tensor) -> list[Tensor] | None:
        """The per-width tables for these weights (rebuilt when any of them changed), or None when off / too big.

        Table w is (V + 1) * w rows of n_w: row v * w + k = W_w[:, :, k] @ E[v], and zero rows for v = V."""
        key = (embedding.data_ptr(), embedding._version, embedding.dtype, embedding.device,
               *((p.data_ptr(), p._version) for p in self.weights))
        if self._tables_key == key:
            return self._tables
        self._tables = None  # free the old tables before deciding on new ones
        need = self.table_bytes(embedding.shape[0])
        cap = self.fold_mb * 2**20 if self.fold_mb >= 0 else available_memory(embedding.device) // AUTO_FOLD_SHARE
        if 0 < need <= cap:
            padded = torch.cat([embedding, embedding.new_zeros(1, embedding.shape[1])])  # (V + 1, E)
            self._tables = [torch.einsum("ve,nek->vkn", padded, weight.to(embedding.dtype))
                            .reshape(-1, weight.shape[0]).to(self.score_dtype) for weight in self.weights]
        self._tables_key = key
        return self._tables

    def readout(self, h: Tensor) -> Tensor:
        """(..., F) pooled features -> (..., F) after the highway layer. Applied only to the positions that are
        scored (the last one for :meth:`Discriminator.forward`): the highway is most of the CNN's arithmetic."""
        if self.highway is None:
            return h
        if torch.is_grad_enabled() or self.score_dtype == h.dtype:
            transform, gate = self.highway(h).chunk(2, dim=-1)
        else:  # scoring in half precision: the product in score_dtype, the gating in h's dtype
            dt = self.score_dtype
            out = F.linear(h.to(dt), self.highway.weight.to(dt), self.highway.bias.to(dt))
            transform, gate = out.to(h.dtype).chunk(2, dim=-1)
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
    """D(c, x) with a joint or split head, or D(x) with one realism logit when ``conditional`` is False (then every
    context must be empty and ``cfg.head`` is not used); see the module docstring."""

    def __init__(self, cfg: DiscriminatorConfig, vocab_size: int, pad_id: int, conditional: bool = True):
        super().__init__()
        cfg.validate()
        self.cfg, self.vocab_size, self.pad_id, self.conditional = cfg, vocab_size, pad_id, bool(conditional)
        self.embedding = nn.Embedding(vocab_size, cfg.embed_dim, padding_idx=pad_id)
        encoder_cls = CNNEncoder if cfg.encoder == "cnn" else TransformerEncoder
        self.reply_encoder = encoder_cls(cfg)
        self.context_encoder = encoder_cls(cfg) if self.conditional else None
        dim = self.reply_encoder.out_dim
        self.dropout = nn.Dropout(cfg.dropout)
        self.pair_head = (nn.Sequential(nn.Linear(4 * dim, dim), nn.ReLU(), nn.Linear(dim, 1)) if self.conditional
                          else None)
        self.realism_head = nn.Linear(dim, 1) if cfg.head == "split" or not self.conditional else None

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
        if self.context_encoder is None:
            raise ValueError(f"an unconditional discriminator reads no context: pass Context.empty(B), got context "
                             f"{tuple(context.ids.shape)}")
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

    def prefix_features(self, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B, T) -> (B, T, F): the reply features of every prefix x_1..x_t after the readout (the highway layer),
        before dropout and the heads: what LeakGAN's D leaks to its generator (:mod:`seqgan.models.leakgan`)."""
        return self._reply_features(reply_ids, reply_mask, prefixes=True)

    def _reward_rows_logits(self, context: Context, rows: Tensor, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(M,) logits of replies (M, T) whose contexts are rows ``rows`` (M,) of ``context`` (encoded once)."""
        h_x = self._reply_features(reply_ids, reply_mask, prefixes=False)  # (M, F)
        h_c = self._context_features(context)  # (B, F) | None
        return self._heads(h_x, None if h_c is None else h_c[rows]).logit

    def l2_penalty(self) -> Tensor:
        """cfg.l2 * squared norm of the output layers' weights (SeqGAN's L2 regularisation)."""
        heads = ([self.pair_head[-1]] if self.pair_head is not None else []) + [self.realism_head]
        weights = [head.weight for head in heads if head is not None]
        return self.cfg.l2 * sum((w ** 2).sum() for w in weights)

    # -- persistence (save_pretrained / from_pretrained: seqgan.runs.pretrained) ------------------------------
    def pretrained_config(self) -> dict:
        return {"config": to_dict(self.cfg), "vocab_size": self.vocab_size, "pad_id": self.pad_id,
                "conditional": self.conditional}

    @classmethod
    def from_config(cls, config: dict, source: str) -> Discriminator:
        cfg = from_dict(DiscriminatorConfig, config["config"], source=source)
        return cls(cfg, int(config["vocab_size"]), int(config["pad_id"]), bool(config.get("conditional", True)))


def available_memory(device: torch.device) -> int:
    """Bytes free for new tensors on ``device``: the accelerator's free memory, or the host's available memory."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 0  # unknown: no folded tables


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

