"""What the transformers-backed policies share (:class:`~seqgan.models.seq2seq.Seq2SeqPolicy` for encoder-decoders,
:class:`~seqgan.models.causal.CausalLMPolicy` for decoder-only LMs): the HF model, its special ids and position
limit, the one incremental decode loop behind ``sample``, ``rollout`` and ``relaxed_sample`` (each family says how
to start, feed one token and cut its KV cache to some rows or prefixes), HF ``generate`` for beams / top-k / top-p,
and saving a self-contained ``generator/`` directory.

Decoding runs the model in eval mode (dropout off) and restores its mode after; ``score``, ``logits`` and
``relaxed_sample`` use the module's current mode. Tokens are drawn with the inverse CDF
(:mod:`seqgan.models.sampling`).

A saved generator is a plain transformers model directory (``config.json``, ``model.safetensors``,
``generation_config.json`` holding the run's decoding defaults, and the tokenizer files with the chat template when
a tokenizer is given) plus ``seqgan_policy.json`` (family, special ids, reply length). LoRA adapters
(:mod:`seqgan.models.lora`) are merged into the saved weights.

Shapes: ``B`` batch, ``T`` reply length, ``V`` vocabulary, ``N`` rows being decoded, ``R`` replies per context.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor
from transformers import GenerationConfig, PreTrainedModel
from transformers.cache_utils import DynamicCache, DynamicLayer

from seqgan.errors import CheckpointError, ConfigError
from seqgan.models.policy import Context, Policy, Replies, eval_mode
from seqgan.models.relaxed import RelaxedReplies, check_mode, finish_relaxed, relax
from seqgan.models.sampling import sample_logits
from seqgan.runs.checkpoint import atomic_directory

POLICY_FILE = "seqgan_policy.json"
WEIGHTS_FILE = "model.safetensors"
FAMILY_NAMES = ("seq2seq", "causal")


def finish_replies(ids: Tensor, pad_id: int, eos_id: int) -> tuple[Tensor, Tensor]:
    """Pad everything after the first eos of each row; return (ids, mask) of the same shape (..., T)."""
    is_eos = ids == eos_id
    after = (is_eos.long().cumsum(-1) - is_eos.long()) > 0  # strictly after the first eos
    mask = (~after).long()
    return ids.masked_fill(after, pad_id), mask


def trim(ids: Tensor, mask: Tensor, logprobs: Tensor | None = None) -> Replies:
    """Replies without their trailing all-padding columns."""
    width = int(mask.sum(-1).max()) if mask.numel() else 0
    return Replies(ids[:, :width], mask[:, :width], None if logprobs is None else (logprobs * mask)[:, :width])


def distinct_rows(context: Context) -> tuple[Context, Tensor] | None:
    """When some rows of ``context`` (B, S) are equal (K replies per context: :meth:`Context.repeat_interleave`),
    the distinct rows (U, S), each the first row of its kind, and the index of each row's distinct row (B,); None
    when every row differs. The families read each distinct context once and share its encoding."""
    b = context.batch_size
    if b < 2 or context.is_empty:
        return None
    key = context.ids.masked_fill(context.mask == 0, -1)  # padding ids do not count
    kinds, inverse = torch.unique(key, dim=0, return_inverse=True)
    if kinds.shape[0] == b:
        return None
    first = torch.full((kinds.shape[0],), b, dtype=torch.long, device=key.device)
    first = first.scatter_reduce(0, inverse, torch.arange(b, device=key.device), reduce="amin")  # (U,)
    order = first.argsort()  # distinct rows in the order they first appear
    return context.index(first[order]), order.argsort()[inverse]


def select_rows(cache: DynamicCache, rows: Tensor, length: int | None = None) -> DynamicCache:
    """A new cache holding ``rows`` of ``cache``, each layer cut to its first ``length`` positions."""
    return DynamicCache([(layer.keys[rows, :, :length], layer.values[rows, :, :length]) for layer in cache.layers])


class AppendLayer(DynamicLayer):
    """A cache layer for decoding without gradient: new keys / values are written into spare columns of a buffer
    (N, H, capacity, D), which grows ``spare`` columns at a time. transformers' ``DynamicLayer`` concatenates
    instead, copying the whole cache at every step: with hundreds of rows of a 135 M model that halved a Monte Carlo
    rollout's time (``benchmarks/rollout.py --family causal``, BENCHMARKS.md)."""

    spare = 32

    def __init__(self, keys: Tensor, values: Tensor) -> None:
        super().__init__()
        self.lazy_initialization(keys, values)
        self.length = keys.shape[-2]
        self._keys, self._values = keys, values
        self._set_views()

    def _set_views(self) -> None:
        self.keys, self.values = self._keys[..., :self.length, :], self._values[..., :self.length, :]

    def update(self, key_states: Tensor, value_states: Tensor, *args, **kwargs) -> tuple[Tensor, Tensor]:
        end = self.length + key_states.shape[-2]
        if end > self._keys.shape[-2]:
            room = (*self.keys.shape[:2], end - self.length + self.spare, self.keys.shape[-1])
            self._keys = torch.cat([self.keys, self.keys.new_empty(room)], -2)
            self._values = torch.cat([self.values, self.values.new_empty(room)], -2)
        self._keys[..., self.length:end, :] = key_states
        self._values[..., self.length:end, :] = value_states
        self.length = end
        self._set_views()
        return self.keys, self.values

    def rows(self, rows: Tensor | int) -> AppendLayer:
        """The layer of ``rows`` only (an int k: the first k rows, a view: nothing is copied)."""
        pick = slice(0, rows) if isinstance(rows, int) else rows
        out = AppendLayer(self._keys[pick], self._values[pick])
        out.length = self.length
        out._set_views()
        return out


def decoding_cache(cache: DynamicCache, rows: Tensor | None = None, length: int | None = None) -> DynamicCache:
    """:func:`select_rows` for decoding without gradient (``rows`` None: all of them, not copied): the layers
    append in place (:class:`AppendLayer`), and when ``rows`` are 0 .. k-1 of a cache built this way (the decode
    loop dropping its last rows) nothing is copied."""
    layers = cache.layers
    if rows is None:
        picked = [AppendLayer(layer.keys[:, :, :length], layer.values[:, :, :length]) for layer in layers]
    elif all(isinstance(layer, AppendLayer) for layer in layers) and length is None:
        k = rows.numel()
        first = k > 0 and int(rows[-1]) == k - 1 and bool((rows[1:] > rows[:-1]).all())  # rows == arange(k)
        picked = [layer.rows(k if first else rows) for layer in layers]
    else:
        picked = [AppendLayer(layer.keys[rows, :, :length], layer.values[rows, :, :length]) for layer in layers]
    out = DynamicCache()
    out.layers = picked
    return out


class HFPolicy(Policy):
    """A transformers LM as a policy; ``model`` is public (hand it to accelerate).

    Args:
        model: the HF model (possibly with LoRA layers, :mod:`seqgan.models.lora`).
        pad_id, eos_id: padding and end-of-reply tokens (they may be equal: masks tell them apart).
        bos_id: the start token (the decoder start of an encoder-decoder; a causal LM's prompt for an empty
            context), or None.
        max_reply_len: default number of reply tokens (eos included) that :meth:`sample` produces at most.
    """

    family: ClassVar[str]
    auto_class: ClassVar[Any]  # AutoModelForSeq2SeqLM / AutoModelForCausalLM
    # rollouts decode the completions of all prefix lengths together (needs per-row positions; see rollout), at
    # most rollout_rows rows at a time (each holds a cache of the whole teacher-forced pass)
    joint_prefixes: ClassVar[bool] = False
    rollout_rows: ClassVar[int] = 512

    def __init__(self, model: PreTrainedModel, pad_id: int, eos_id: int, max_reply_len: int,
                 bos_id: int | None = None):
        super().__init__()
        self.model = model
        self.vocab_size = int(model.config.vocab_size)
        self.pad_id, self.eos_id = int(pad_id), int(eos_id)
        self.bos_id = None if bos_id is None else int(bos_id)
        self.max_reply_len = int(max_reply_len)
        self.peft_model = None  # set by seqgan.models.lora.add_lora
        for name, value in (("pad_id", self.pad_id), ("eos_id", self.eos_id), ("bos_id", self.bos_id)):
            if value is not None and not 0 <= value < self.vocab_size:
                raise ConfigError(f"generator {name}: {value} is outside the vocabulary of size {self.vocab_size}")
        # only the special ids: transformers fills whatever an explicit GenerationConfig leaves unset from the
        # model's own (a saved generator's decoding defaults, a checkpoint's beams or n-gram blocking)
        model.generation_config = self.generation_config()

    # ------------------------------------------------------------------ limits
    @property
    def max_positions(self) -> int | None:
        """Longest sequence the model's position embeddings allow (None: no limit, e.g. T5's relative positions)."""
        config = self.model.config
        if getattr(config, "model_type", "") in ("t5", "mt5", "umt5"):
            return None
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        return int(limit) if limit else None

    def check_length(self, context_len: int, reply_len: int) -> None:
        """Raise :class:`ConfigError` when a context of ``context_len`` tokens and a reply of ``reply_len`` tokens
        do not fit the model's positions (see :meth:`positions_needed`)."""
        limit = self.max_positions
        if limit is None:
            return
        if self.positions_needed(context_len, 0) > limit:
            raise ConfigError(f"a context of {context_len} tokens exceeds the generator's {limit} positions; "
                              "shorten data.max_context_tokens")
        need = self.positions_needed(context_len, reply_len)
        if need > limit:
            raise ConfigError(f"max_len: a reply of {reply_len} tokens after a context of {context_len} tokens needs "
                              f"{need} positions, the generator has {limit}; use a smaller max_len (at most "
                              f"{reply_len - need + limit} here)")

    @abstractmethod
    def positions_needed(self, context_len: int, reply_len: int) -> int:
        """Positions a context and a reply occupy in the model (family-specific)."""

    # ------------------------------------------------------------------ what each family provides
    @abstractmethod
    def logits(self, context: Context, ids: Tensor, mask: Tensor) -> Tensor:
        """Teacher-forced next-token logits (B, T, V), with gradient: ``logits[b, t]`` scores ``ids[b, t]``."""

    @abstractmethod
    def _start(self, context: Context) -> tuple[Any, Tensor]:
        """The decode state before the first reply token and the token (B,) to feed first."""

    @abstractmethod
    def _step(self, state: Any, last: Tensor) -> tuple[Tensor, Any]:
        """Feed ``last`` (N,): next-token logits (N, V) and the state after it."""

    @abstractmethod
    def _keep(self, state: Any, rows: Tensor) -> Any:
        """The state of ``rows`` (A,) only."""

    @abstractmethod
    def _prefixes(self, context: Context, ids: Tensor, mask: Tensor) -> tuple[Tensor, Callable[[Tensor, int], Any]]:
        """One teacher-forced pass over the replies (B, T): next-token logits (B, T-1, V) after each prefix t =
        1..T-1 (column t-1), and ``state_after(rows, t)``: the decode state of ``rows`` after prefix t, cut from
        that pass's KV cache (causal attention: its first positions are the prefix's cache)."""

    @abstractmethod
    def _input_embedding(self) -> torch.nn.Module:
        """The embedding that reply tokens are fed through (for soft embeddings ``y @ E``)."""

    @abstractmethod
    def _relaxed_start(self, context: Context) -> tuple[Any, Tensor]:
        """With gradient: the state after the context and the logits (B, V) of the first reply token."""

    @abstractmethod
    def _relaxed_step(self, state: Any, embeds: Tensor) -> tuple[Tensor, Any]:
        """With gradient: feed soft embeddings (B, 1, d); next-token logits (B, V) and the new state."""

    # ------------------------------------------------------------------ the Policy contract
    def score(self, context: Context, ids: Tensor, mask: Tensor, temperature: float = 1.0) -> Tensor:
        """Per-token ``log p_T(x_t | x_<t, c)`` (B, T) with gradient (``log_softmax(logits / temperature)``);
        0 where ``mask`` is 0."""
        mask = mask.to(self.model.device)
        logits = self.logits(context, ids, mask).float()
        logp = torch.log_softmax(logits / temperature if temperature != 1.0 else logits, dim=-1)  # (B, T, V)
        ids = ids.to(logp.device).masked_fill(mask == 0, 0)
        return logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1) * mask

    @torch.no_grad()
    def _decode(self, state: Any, last: Tensor, steps: int, temperature: float, greedy: bool,
                limits: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Continue N rows for up to ``steps`` tokens from ``state``, feeding ``last`` (N,) first; ``limits`` (N,)
        caps each row's tokens further (None: ``steps`` for every row).

        Rows stop at eos or at their limit; finished rows are dropped from the batch (state and cache included),
        so each step costs only the rows still generating. Returns ids (N, steps) padded with ``pad_id`` and their
        log-probs."""
        n = last.shape[0]
        ids = torch.full((n, steps), self.pad_id, dtype=torch.long, device=last.device)
        logps = torch.zeros(n, steps, device=last.device)
        alive = torch.arange(n, device=last.device)
        for step in range(steps):
            logits, state = self._step(state, last)
            tok, lp = sample_logits(logits, temperature, greedy)  # (A, 1)
            tok, lp = tok.squeeze(1), lp.squeeze(1)
            ids[alive, step] = tok
            logps[alive, step] = lp
            going = tok != self.eos_id
            if limits is not None:
                going &= limits[alive] > step + 1
            if not bool(going.all()):
                if not bool(going.any()):
                    break
                keep = going.nonzero().squeeze(1)
                alive, tok = alive[keep], tok[keep]
                state = self._keep(state, keep)
            last = tok
        return ids, logps

    @torch.no_grad()
    def sample(self, context: Context, max_len: int | None = None, temperature: float = 1.0,
               greedy: bool = False) -> Replies:
        """One reply per context row (no gradient): Replies with ids/mask/logprobs (B, T'), T' <= max_len.

        Rows stop at eos (padding after it); trailing all-padding columns are trimmed. ``logprobs`` are those of the
        sampled distribution ``softmax(logits / temperature)``."""
        max_len = self.max_reply_len if max_len is None else int(max_len)
        self.check_length(context.ids.shape[1], max_len)
        with eval_mode(self.model):
            state, first = self._start(context)
            ids, logps = self._decode(state, first, max_len, temperature, greedy)
        return trim(*finish_replies(ids, self.pad_id, self.eos_id), logps)

    @torch.no_grad()
    def rollout(self, context: Context, replies: Replies, n: int, temperature: float = 1.0,
                max_len: int | None = None) -> Replies:
        """Complete every prefix t = 1..T-1 of every reply n times (no gradient): ids/mask (B, T-1, n, L) with
        ``L = max(T, max_len)`` (default ``max_reply_len``): completions stop at eos or at L tokens, as
        :meth:`sample` would, however short the batch's replies are.

        ``out.ids[b, t-1, k, :t] == replies.ids[b, :t]``; prefixes that already hold eos (or padding) are copied.

        Cost: one teacher-forced pass over the replies (:meth:`_prefixes`) gives every prefix's KV cache and the
        distribution of its first new token, so the n first tokens of each prefix are drawn at once from one shared
        distribution. Families whose rows may sit at different positions (``joint_prefixes``: causal LMs, whose
        position ids are per row) then decode the completions of every prefix length together: each row keeps the
        whole pass's cache with the reply tokens after its prefix masked out, so about L single-token steps over
        up to ``rollout_rows`` rows at a time complete everything (dropping rows at eos or at L tokens). The others
        (positions shared by the batch: BART, T5) decode per prefix length t, the A_t * n unfinished rows at most
        L-t-1 steps together: about L^2/2 smaller calls. Either way no context or prefix is read again.
        """
        if n < 1:
            raise ValueError(f"rollout needs n >= 1, got {n}")
        device = self.model.device
        mask = replies.mask.to(device).long()
        ids = replies.ids.to(device).masked_fill(mask == 0, self.pad_id)
        b, t_len = ids.shape
        width = max(t_len, self.max_reply_len if max_len is None else int(max_len))
        self.check_length(context.ids.shape[1], width)
        out_ids = F.pad(ids, (0, width - t_len), value=self.pad_id)[:, None, None, :]
        out_ids = out_ids.expand(b, max(t_len - 1, 0), n, width).clone()
        out_mask = F.pad(mask, (0, width - t_len), value=0)[:, None, None, :]
        out_mask = out_mask.expand(b, max(t_len - 1, 0), n, width).clone()
        if t_len < 2:
            return Replies(out_ids, out_mask)
        with eval_mode(self.model):
            logits, state_after = self._prefixes(context, ids, mask)  # logits (B, T-1, V)
            open_prefix = (mask == 1) & ((ids == self.eos_id).long().cumsum(-1) == 0)  # (B, T): prefix t+1 open
            if self.joint_prefixes:
                self._complete_jointly(logits, state_after, open_prefix[:, :t_len - 1], ids, n, temperature,
                                       width, out_ids, out_mask)
                return Replies(out_ids, out_mask)
            for t in range(1, t_len):
                rows = open_prefix[:, t - 1].nonzero().squeeze(1)  # (A,)
                if rows.numel() == 0:
                    continue
                first, _ = sample_logits(logits[rows, t - 1], temperature, num_samples=n)  # (A, n)
                first = first.reshape(-1)  # (A*n,), row a*n+k is rollout k of rows[a]
                src = rows.repeat_interleave(n)
                tail = torch.full((first.shape[0], width - t - 1), self.pad_id, dtype=torch.long, device=device)
                going = (first != self.eos_id).nonzero().squeeze(1)
                if tail.shape[1] > 0 and going.numel() > 0:
                    tail[going], _ = self._decode(state_after(src[going], t), first[going], tail.shape[1],
                                                  temperature, False)
                comp_ids, comp_mask = finish_replies(torch.cat([first[:, None], tail], dim=1), self.pad_id,
                                                     self.eos_id)
                out_ids[rows, t - 1, :, t:] = comp_ids.view(rows.shape[0], n, width - t)
                out_mask[rows, t - 1, :, t:] = comp_mask.view(rows.shape[0], n, width - t)
        return Replies(out_ids, out_mask)

    def _complete_jointly(self, logits: Tensor, state_after: Callable, open_prefix: Tensor, ids: Tensor, n: int,
                          temperature: float, width: int, out_ids: Tensor, out_mask: Tensor) -> None:
        """:meth:`rollout`'s completions of every open prefix at once, written into ``out_ids`` / ``out_mask``
        (B, T-1, n, L) in place. ``logits`` (B, T-1, V) follow each prefix; ``open_prefix`` (B, T-1) marks the
        prefixes to complete; ``state_after(rows, t)`` with ``t`` a tensor (M,) gives rows at prefix lengths t."""
        pairs = open_prefix.nonzero()  # (P, 2): reply row, prefix length - 1
        # shortest prefixes first: the rows that reach their length limit are then the last ones (a cheap cut)
        pairs = pairs[pairs[:, 1].argsort(stable=True)]
        for part in torch.split(pairs, max(1, self.rollout_rows // n)):
            rows, t = part[:, 0], part[:, 1] + 1
            first, _ = sample_logits(logits[rows, t - 1], temperature, num_samples=n)  # (P', n)
            first = first.reshape(-1)  # row p*n+k is rollout k of pair p
            src, t_n = rows.repeat_interleave(n), t.repeat_interleave(n)
            limits = width - t_n - 1  # tokens each row may still add after its first
            tail = torch.full((first.shape[0], max(width - 2, 0)), self.pad_id, dtype=torch.long, device=ids.device)
            going = ((first != self.eos_id) & (limits > 0)).nonzero().squeeze(1)
            if going.numel() > 0:
                steps = int(limits[going].max())
                tail[going, :steps], _ = self._decode(state_after(src[going], t_n[going]), first[going], steps,
                                                      temperature, False, limits=limits[going])
            # row of pair (b, t): the reply's first t tokens, then its completion from column t on
            cols = torch.arange(width, device=ids.device)
            comp = torch.cat([first[:, None], tail], 1).gather(1, (cols - t_n[:, None]).clamp(min=0, max=width - 2))
            full = torch.where(cols < t_n[:, None], out_ids[src, t_n - 1, 0], comp)
            done_ids, done_mask = finish_replies(full, self.pad_id, self.eos_id)
            k = torch.arange(n, device=ids.device).repeat(rows.shape[0])
            out_ids[src, t_n - 1, k] = done_ids
            out_mask[src, t_n - 1, k] = done_mask

    def relaxed_sample(self, context: Context, max_len: int | None = None, tau: float = 1.0,
                       mode: str = "gumbel_soft", generator: torch.Generator | None = None) -> RelaxedReplies:
        """Differentiable decoding with the KV cache: y_t = relax(logits_t) (B, V); the next input is the soft
        embedding ``y_t @ E`` (times the embedding's ``embed_scale`` when it has one, as BART's).

        All rows decode until every row has produced a hard eos (or ``max_len`` steps); the result is trimmed to
        the longest reply. Returns probs/logits (B, T, V), ids (B, T) (argmax y_t, ``pad_id`` after the first eos)
        and mask (B, T) (1 up to and including the first eos). Uses the module's current mode (dropout)."""
        check_mode(mode, tau)
        max_len = self.max_reply_len if max_len is None else int(max_len)
        self.check_length(context.ids.shape[1], max_len)
        embed = self._input_embedding()
        scale = float(getattr(embed, "embed_scale", None) or 1.0)
        state, logits = self._relaxed_start(context)
        ys, logits_all = [], []
        done = torch.zeros(logits.shape[0], dtype=torch.bool, device=logits.device)
        for _ in range(max_len):
            y = relax(logits, tau, mode, generator)  # (B, V) with gradient
            ys.append(y)
            logits_all.append(logits)
            done |= y.detach().argmax(-1) == self.eos_id
            if bool(done.all()) or len(ys) == max_len:
                break
            x = ((y.to(embed.weight.dtype) @ embed.weight) * scale).unsqueeze(1)  # (B, 1, d) soft embedding
            logits, state = self._relaxed_step(state, x)
        return finish_relaxed(torch.stack(ys, 1), torch.stack(logits_all, 1), self.eos_id, self.pad_id)

    # ------------------------------------------------------------------ HF generate
    def generation_config(self, **options: Any) -> GenerationConfig:
        """A ``GenerationConfig`` with ``options`` (HF names) and this policy's special ids (over any in
        ``options``)."""
        ids = {"pad_token_id": self.pad_id, "eos_token_id": self.eos_id}
        if self.bos_id is not None:
            ids["bos_token_id"] = self.bos_id
        if self.model.config.is_encoder_decoder:
            ids["decoder_start_token_id"] = self.bos_id
        return GenerationConfig(**{**options, **ids})

    @abstractmethod
    def _generate(self, context: Context, gen: GenerationConfig) -> Tensor:
        """New tokens (B*R, T') of HF ``generate`` for ``context`` (family-specific inputs)."""

    @torch.no_grad()
    def generate_replies(
        self,
        context: Context,
        *,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        num_beams: int = 1,
        num_return_sequences: int = 1,
        max_len: int | None = None,
        no_repeat_ngram_size: int = 0,
        repetition_penalty: float = 1.0,
    ) -> Replies:
        """Replies by HF ``generate`` (greedy, beam search, top-k / top-p sampling); ids/mask (B*R, T'), R =
        ``num_return_sequences`` (rows b*R .. b*R+R-1 answer context row b); ``logprobs`` is None.

        ``no_repeat_ngram_size`` (0 = off) and ``repetition_penalty`` (1 = off) are HF's n-gram blocking and
        repetition penalty, the usual guards against a small model looping on one phrase."""
        if num_return_sequences > num_beams and not do_sample:
            raise ConfigError(
                f"num_return_sequences ({num_return_sequences}) must be <= num_beams ({num_beams}) without sampling"
            )
        max_len = self.max_reply_len if max_len is None else int(max_len)
        self.check_length(context.ids.shape[1], max_len)
        gen = self.generation_config(
            max_new_tokens=max_len,
            do_sample=do_sample,
            temperature=temperature if do_sample else None,
            top_k=top_k if do_sample else None,
            top_p=top_p if do_sample else None,
            num_beams=num_beams,
            num_return_sequences=num_return_sequences,
            no_repeat_ngram_size=no_repeat_ngram_size or None,
            repetition_penalty=repetition_penalty if repetition_penalty != 1.0 else None,
        )
        with eval_mode(self.model):
            new = self._generate(context, gen)
        return trim(*finish_replies(new, self.pad_id, self.eos_id))

    # ------------------------------------------------------------------ persistence
    def meta(self) -> dict[str, Any]:
        """What ``seqgan_policy.json`` records besides the model: family, special ids, reply length."""
        return {"family": self.family, "pad_id": self.pad_id, "bos_id": self.bos_id, "eos_id": self.eos_id,
                "max_reply_len": self.max_reply_len}

    def merged_model(self) -> PreTrainedModel:
        """A plain copy of the HF model (LoRA adapters merged into its weights)."""
        if self.peft_model is None:
            return copy.deepcopy(self.model)
        return copy.deepcopy(self.peft_model).merge_and_unload()

    def save_pretrained(self, directory: str | Path, tokenizer=None,
                        generation: GenerationConfig | None = None) -> None:
        """Atomically write a self-contained generator directory: the model (LoRA merged; safetensors), its
        ``generation_config.json`` (``generation``'s decoding settings with this policy's special ids; ids only
        when None), the ``tokenizer``'s files when given, and ``seqgan_policy.json``."""
        model = self.merged_model() if self.peft_model is not None else self.model
        previous = model.generation_config
        settings = generation.to_diff_dict() if generation is not None else {}
        settings.pop("transformers_version", None)
        model.generation_config = self.generation_config(**settings)
        try:
            with atomic_directory(Path(directory)) as staging:
                model.save_pretrained(staging, safe_serialization=True)
                if tokenizer is not None:
                    tokenizer.save_pretrained(str(staging))
                (staging / POLICY_FILE).write_text(json.dumps(self.meta(), indent=2) + "\n", encoding="utf-8")
        finally:
            model.generation_config = previous

    @classmethod
    def from_pretrained(cls, directory: str | Path, meta: dict[str, Any] | None = None) -> HFPolicy:
        """The policy saved in ``directory`` (``meta``: its ``seqgan_policy.json``, read when None; local
        safetensors only; problems -> :class:`CheckpointError`)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise CheckpointError(f"{directory}: generator directory not found")
        meta = read_policy_meta(directory) if meta is None else meta
        if meta["family"] != cls.family:
            raise CheckpointError(f"{directory}: holds a {meta['family']} generator, not a {cls.family} one")
        weights = directory / WEIGHTS_FILE
        if not weights.is_file() and not (directory / f"{WEIGHTS_FILE}.index.json").is_file():
            raise CheckpointError(f"{weights}: missing generator weights")
        try:
            model = cls.auto_class.from_pretrained(directory, local_files_only=True, use_safetensors=True)
        except Exception as err:  # safetensors / json / shape errors all mean an unusable checkpoint
            raise CheckpointError(f"{directory}: cannot load generator weights ({first_line(err)})") from None
        try:
            bos = meta.get("bos_id")
            return cls(model, int(meta["pad_id"]), int(meta["eos_id"]), int(meta["max_reply_len"]),
                       None if bos is None else int(bos))
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{directory / POLICY_FILE}: corrupt (expected pad/eos ids and max_reply_len)"
                                  ) from None


def read_policy_meta(directory: str | Path) -> dict[str, Any]:
    """The ``seqgan_policy.json`` of a saved generator (family, special ids, reply length); generators of earlier
    versions (``arch``: bart / t5, no family) are encoder-decoders."""
    meta_path = Path(directory) / POLICY_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        family = meta.get("family") or ("seq2seq" if meta["arch"] in ("bart", "t5") else None)
    except FileNotFoundError:
        raise CheckpointError(f"{meta_path}: missing (not a directory written by save_pretrained)") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CheckpointError(f"{meta_path}: corrupt (expected JSON with the family, pad/eos ids, max_reply_len)"
                              ) from None
    if family not in FAMILY_NAMES:
        raise CheckpointError(f"{meta_path}: unknown generator family {family!r} (expected one of "
                              f"{list(FAMILY_NAMES)})")
    return {**meta, "family": family}


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type name when empty), at most ``limit`` characters."""
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:limit]
