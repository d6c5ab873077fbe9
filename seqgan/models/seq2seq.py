"""The dialogue generator: a transformers encoder-decoder (BART or T5, built from a config) seen as a :class:`Policy`.

Conventions: reply ids are the reply tokens followed by ``eos`` (no ``bos``), ``pad_id`` after it; masks are 1 on
real tokens including ``eos``. The decoder starts from ``bos``. Sampling and rollouts run their own incremental decode
loop on the HF decoder with its KV cache (the encoder runs once) and draw tokens with the inverse CDF
(:mod:`seqgan.models.sampling`). :meth:`Seq2SeqPolicy.generate_replies` wraps HF ``generate`` for beam search and
top-k/top-p in chat.

``sample``, ``rollout`` and ``generate_replies`` run the model in eval mode (dropout off) and restore its mode after;
``score`` and ``logits`` use the module's current mode.

Shapes: ``B`` batch, ``S`` context length, ``T`` reply length, ``V`` vocabulary, ``N`` rollouts per prefix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    GenerationConfig,
    PreTrainedModel,
    T5Config,
    T5ForConditionalGeneration,
)
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutput

from seqgan.config import check_fields, field
from seqgan.errors import CheckpointError, ConfigError
from seqgan.models.policy import Context, Policy, Replies, eval_mode
from seqgan.models.relaxed import RelaxedReplies, check_mode, finish_relaxed, relax
from seqgan.models.sampling import sample_logits
from seqgan.runs.checkpoint import atomic_directory

POLICY_FILE = "seqgan_policy.json"
_ARCHS = {"bart": BartForConditionalGeneration, "t5": T5ForConditionalGeneration}


@dataclass
class GeneratorConfig:
    """Size and kind of the encoder-decoder generator (randomly initialised; no hub weights)."""

    arch: str = field("bart", choices=sorted(_ARCHS), help="encoder-decoder architecture: 'bart' or 't5'")
    d_model: int = field(128, ge=1, help="hidden size of encoder and decoder")
    encoder_layers: int = field(2, ge=1, help="number of encoder layers")
    decoder_layers: int = field(2, ge=1, help="number of decoder layers")
    attention_heads: int = field(4, ge=1, help="attention heads per layer (must divide d_model)")
    ffn_dim: int = field(512, ge=1, help="inner size of the feed-forward blocks")
    dropout: float = field(0.1, ge=0, lt=1, help="dropout probability during training")
    max_positions: int = field(128, ge=1, help="longest context / reply (+1 for the start token) the model accepts")
    init_std: float = field(0.02, gt=0, help="BART: std of the normal weight init (HF's 0.02 suits d_model ~1,000; "
                                             "small models learn to read the context faster with ~0.05); T5 ignores it")

    def validate(self) -> None:
        """Raise :class:`ConfigError` on an unknown arch or inconsistent sizes."""
        check_fields(self, "generator")
        if self.d_model % self.attention_heads:
            raise ConfigError(
                f"generator.d_model: {self.d_model} is not divisible by generator.attention_heads "
                f"({self.attention_heads})"
            )


def _hf_config(cfg: GeneratorConfig, vocab_size: int, pad_id: int, bos_id: int, eos_id: int):
    ids = dict(pad_token_id=pad_id, bos_token_id=bos_id, eos_token_id=eos_id, decoder_start_token_id=bos_id)
    if cfg.arch == "bart":
        return BartConfig(
            vocab_size=vocab_size,
            d_model=cfg.d_model,
            encoder_layers=cfg.encoder_layers,
            decoder_layers=cfg.decoder_layers,
            encoder_attention_heads=cfg.attention_heads,
            decoder_attention_heads=cfg.attention_heads,
            encoder_ffn_dim=cfg.ffn_dim,
            decoder_ffn_dim=cfg.ffn_dim,
            dropout=cfg.dropout,
            attention_dropout=cfg.dropout,
            activation_dropout=0.0,
            max_position_embeddings=cfg.max_positions,
            init_std=cfg.init_std,
            forced_eos_token_id=None,
            forced_bos_token_id=None,
            **ids,
        )
    return T5Config(
        vocab_size=vocab_size,
        d_model=cfg.d_model,
        d_kv=cfg.d_model // cfg.attention_heads,
        d_ff=cfg.ffn_dim,
        num_layers=cfg.encoder_layers,
        num_decoder_layers=cfg.decoder_layers,
        num_heads=cfg.attention_heads,
        dropout_rate=cfg.dropout,
        relative_attention_max_distance=cfg.max_positions,
        **ids,
    )


def _select_cache(cache: EncoderDecoderCache, rows: Tensor, length: int | None = None) -> EncoderDecoderCache:
    """A new cache holding ``rows`` of ``cache`` (self-attention cut to its first ``length`` positions)."""
    self_kv = [
        (layer.keys[rows, :, :length], layer.values[rows, :, :length]) for layer in cache.self_attention_cache.layers
    ]
    cross_kv = [(layer.keys[rows], layer.values[rows]) for layer in cache.cross_attention_cache.layers]
    return EncoderDecoderCache(DynamicCache(self_kv), DynamicCache(cross_kv))


def _finish(ids: Tensor, pad_id: int, eos_id: int) -> tuple[Tensor, Tensor]:
    """Pad everything after the first eos of each row; return (ids, mask) of the same shape (..., T)."""
    is_eos = ids == eos_id
    after = (is_eos.long().cumsum(-1) - is_eos.long()) > 0  # strictly after the first eos
    mask = (~after).long()
    return ids.masked_fill(after, pad_id), mask


class Seq2SeqPolicy(Policy):
    """A transformers encoder-decoder as a policy ``p(reply | context)``; ``model`` is public (hand it to accelerate).

    Args:
        model: a ``BartForConditionalGeneration`` / ``T5ForConditionalGeneration`` (any seq2seq LM with a KV cache).
        pad_id, bos_id, eos_id: special ids (``bos`` is the decoder start token).
        max_reply_len: default number of reply tokens (eos included) that :meth:`sample` produces at most.
    """

    def __init__(self, model: PreTrainedModel, pad_id: int, bos_id: int, eos_id: int, max_reply_len: int):
        super().__init__()
        self.model = model
        self.vocab_size = int(model.config.vocab_size)
        self.pad_id, self.bos_id, self.eos_id = int(pad_id), int(bos_id), int(eos_id)
        self.max_reply_len = int(max_reply_len)
        for cfg in (model.config, model.generation_config):
            cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id = self.pad_id, self.bos_id, self.eos_id
            cfg.decoder_start_token_id = self.bos_id
        model.generation_config.forced_eos_token_id = None
        model.generation_config.forced_bos_token_id = None

    # ------------------------------------------------------------------ construction / persistence
    @classmethod
    def build(
        cls, cfg: GeneratorConfig, vocab_size: int, pad_id: int, bos_id: int, eos_id: int, max_reply_len: int
    ) -> Seq2SeqPolicy:
        """A randomly initialised policy of the configured size (seeded by the global torch RNG)."""
        cfg.validate()
        if max_reply_len + 1 > cfg.max_positions:
            raise ConfigError(
                f"generator.max_positions: {cfg.max_positions} is too small for replies of {max_reply_len} tokens "
                f"(needs at least {max_reply_len + 1})"
            )
        for name, value in (("pad_id", pad_id), ("bos_id", bos_id), ("eos_id", eos_id)):
            if not 0 <= value < vocab_size:
                raise ConfigError(f"generator {name}: {value} is outside the vocabulary of size {vocab_size}")
        model = _ARCHS[cfg.arch](_hf_config(cfg, vocab_size, pad_id, bos_id, eos_id))
        model.generation_config = GenerationConfig(
            pad_token_id=pad_id, bos_token_id=bos_id, eos_token_id=eos_id, decoder_start_token_id=bos_id
        )
        return cls(model, pad_id, bos_id, eos_id, max_reply_len)

    def save_pretrained(self, directory: str | Path) -> None:
        """Atomically write the model (``model.safetensors`` + ``config.json``) and ``seqgan_policy.json`` into
        ``directory`` (the convention of :mod:`seqgan.runs.pretrained`)."""
        meta = {
            "arch": self.model.config.model_type,
            "pad_id": self.pad_id,
            "bos_id": self.bos_id,
            "eos_id": self.eos_id,
            "max_reply_len": self.max_reply_len,
        }
        with atomic_directory(Path(directory)) as staging:
            self.model.save_pretrained(staging, safe_serialization=True)
            (staging / POLICY_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> Seq2SeqPolicy:
        """Load a policy written by :meth:`save_pretrained` (local files only; problems -> :class:`CheckpointError`)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise CheckpointError(f"{directory}: generator directory not found")
        meta_path = directory / POLICY_FILE
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            arch = meta["arch"]
            ids = {k: int(meta[k]) for k in ("pad_id", "bos_id", "eos_id", "max_reply_len")}
        except FileNotFoundError:
            raise CheckpointError(f"{meta_path}: missing (not a directory written by save_pretrained)") from None
        except (ValueError, KeyError, TypeError):
            raise CheckpointError(
                f"{meta_path}: corrupt (expected JSON with arch, pad/bos/eos ids, max_reply_len)"
            ) from None
        if arch not in _ARCHS:
            raise CheckpointError(f"{meta_path}: unknown arch {arch!r} (expected one of {sorted(_ARCHS)})")
        weights = directory / "model.safetensors"
        if not weights.is_file():
            raise CheckpointError(f"{weights}: missing generator weights")
        try:
            model = _ARCHS[arch].from_pretrained(directory, local_files_only=True, use_safetensors=True)
        except Exception as err:  # safetensors / json / shape errors all mean an unusable checkpoint
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"{directory}: cannot load generator weights ({reason[:200]})") from None
        return cls(model, ids["pad_id"], ids["bos_id"], ids["eos_id"], ids["max_reply_len"])

    # ------------------------------------------------------------------ model calls
    def _context_inputs(self, context: Context) -> tuple[Tensor, Tensor]:
        """(B, S) ids and mask for the encoder; an empty context becomes one ``bos`` token per row."""
        device = self.model.device
        ids, mask = context.ids.to(device), context.mask.to(device)
        if ids.shape[1] == 0:
            ids = torch.full((ids.shape[0], 1), self.bos_id, dtype=torch.long, device=device)
            mask = torch.ones_like(ids)
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if self.model.config.model_type == "bart" and limit is not None and ids.shape[1] > limit:
            raise ConfigError(
                f"context of {ids.shape[1]} tokens exceeds generator.max_positions ({limit}); "
                "shorten the data's context window or raise max_positions"
            )
        return ids, mask

    def _encode(self, context: Context) -> tuple[Tensor, Tensor]:
        """Run the encoder once: returns hidden states (B, S, d) and the encoder mask (B, S)."""
        ids, mask = self._context_inputs(context)
        hidden = self.model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        return hidden, mask

    def teacher_forcing_inputs(self, context: Context, human: Replies) -> dict[str, Tensor]:
        """Keyword arguments of the HF model's forward whose ``.loss`` is the mean token NLL of the replies
        ``human`` (B, T) given ``context``: encoder ids/mask, decoder inputs ``[bos, x_1 .. x_{T-1}]`` and labels
        (-100 past each reply). The MLE trainer calls the (possibly DDP-wrapped) model with them."""
        ids = human.ids.masked_fill(human.mask == 0, self.pad_id)
        ctx_ids, ctx_mask = self._context_inputs(context)
        return {"input_ids": ctx_ids, "attention_mask": ctx_mask, "decoder_input_ids": self._decoder_inputs(ids),
                "labels": ids.masked_fill(human.mask == 0, -100)}

    def _decoder_inputs(self, ids: Tensor) -> Tensor:
        """(B, T) reply ids -> (B, T) decoder inputs ``[bos, x_1 .. x_{T-1}]``."""
        start = torch.full_like(ids[:, :1], self.bos_id)
        return torch.cat([start, ids[:, :-1]], dim=1)

    def _forward(
        self, enc: Tensor, enc_mask: Tensor, dec_in: Tensor, cache: EncoderDecoderCache | None, use_cache: bool
    ):
        return self.model(
            encoder_outputs=BaseModelOutput(last_hidden_state=enc),
            attention_mask=enc_mask,
            decoder_input_ids=dec_in,
            cache=cache,
            use_cache=use_cache,
        )

    def logits(self, context: Context, ids: Tensor, mask: Tensor) -> Tensor:
        """Teacher-forced next-token logits (B, T, V), with gradient: ``logits[b, t]`` scores ``ids[b, t]``."""
        device = self.model.device
        enc, enc_mask = self._encode(context)
        ids = ids.to(device).masked_fill(mask.to(device) == 0, self.pad_id)
        return self._forward(enc, enc_mask, self._decoder_inputs(ids), None, use_cache=False).logits

    def score(self, context: Context, ids: Tensor, mask: Tensor, temperature: float = 1.0) -> Tensor:
        """Per-token ``log p_T(x_t | x_<t, c)`` (B, T) with gradient (``log_softmax(logits / temperature)``);
        0 where ``mask`` is 0."""
        mask = mask.to(self.model.device)
        logits = self.logits(context, ids, mask).float()
        logp = torch.log_softmax(logits / temperature if temperature != 1.0 else logits, dim=-1)  # (B, T, V)
        ids = ids.to(logp.device).masked_fill(mask == 0, 0)
        return logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1) * mask

    # ------------------------------------------------------------------ incremental decoding
    @torch.no_grad()
    def _decode(
        self,
        enc: Tensor,
        enc_mask: Tensor,
        cache: EncoderDecoderCache,
        last: Tensor,
        steps: int,
        temperature: float,
        greedy: bool,
    ) -> tuple[Tensor, Tensor]:
        """Continue N rows for up to ``steps`` tokens from ``cache`` (state before ``last``, (N,), is fed).

        Rows stop at eos; finished rows are dropped from the batch (cache included), so each step costs only the
        rows still generating. Returns ids (N, steps) padded with ``pad_id`` and their log-probs (N, steps).
        """
        n = last.shape[0]
        ids = torch.full((n, steps), self.pad_id, dtype=torch.long, device=last.device)
        logps = torch.zeros(n, steps, device=last.device)
        alive = torch.arange(n, device=last.device)
        for step in range(steps):
            out = self._forward(enc, enc_mask, last.unsqueeze(1), cache, use_cache=True)
            cache = out.cache
            tok, lp = sample_logits(out.logits[:, -1], temperature, greedy)  # (A, 1)
            tok, lp = tok.squeeze(1), lp.squeeze(1)
            ids[alive, step] = tok
            logps[alive, step] = lp
            going = tok != self.eos_id
            if not bool(going.all()):
                if not bool(going.any()):
                    break
                keep = going.nonzero().squeeze(1)
                alive, tok, enc, enc_mask = alive[keep], tok[keep], enc[keep], enc_mask[keep]
                cache = _select_cache(cache, keep)
            last = tok
        return ids, logps

    def _empty_cache(self) -> EncoderDecoderCache:
        return EncoderDecoderCache(DynamicCache(), DynamicCache())

    @torch.no_grad()
    def sample(
        self, context: Context, max_len: int | None = None, temperature: float = 1.0, greedy: bool = False
    ) -> Replies:
        """One reply per context row (no gradient): Replies with ids/mask/logprobs (B, T'), T' <= max_len.

        Rows stop at eos (padding after it); trailing all-padding columns are trimmed. ``logprobs`` are those of the
        sampled distribution ``softmax(logits / temperature)``.
        """
        max_len = self.max_reply_len if max_len is None else int(max_len)
        with eval_mode(self.model):
            enc, enc_mask = self._encode(context)
            start = torch.full((enc.shape[0],), self.bos_id, dtype=torch.long, device=enc.device)
            ids, logps = self._decode(enc, enc_mask, self._empty_cache(), start, max_len, temperature, greedy)
        ids, mask = _finish(ids, self.pad_id, self.eos_id)
        width = int(mask.sum(-1).max()) if mask.numel() else 0
        return Replies(ids[:, :width], mask[:, :width], (logps * mask)[:, :width])

    @torch.no_grad()
    def rollout(self, context: Context, replies: Replies, n: int, temperature: float = 1.0,
                max_len: int | None = None) -> Replies:
        """Complete every prefix t = 1..T-1 of every reply n times (no gradient): ids/mask (B, T-1, n, L) with
        ``L = max(T, max_len)`` (default ``max_reply_len``): completions stop at eos or at L tokens, as
        :meth:`sample` would, however short the batch's replies are.

        ``out.ids[b, t-1, k, :t] == replies.ids[b, :t]``; prefixes that already hold eos (or padding) are copied.

        Cost: one encoder pass over the contexts and one teacher-forced decoder pass over the full replies (B, T).
        Causal attention makes the first t+1 cache positions of that pass the cache of prefix t, and its logits at
        position t the distribution of the first new token, so the n first tokens of each prefix are drawn at once
        from one shared distribution. Then, per prefix length t (all its rows share cache length and position), the
        A_t * n unfinished rows decode at most L-t-1 single-token steps together, dropping rows at eos. About L^2/2
        batched decoder calls in all, touching about B * n * L^2 / 2 token positions: the work of plainly sampling
        the completions, with no re-encoding and no re-reading of prefixes.
        """
        if n < 1:
            raise ValueError(f"rollout needs n >= 1, got {n}")
        device = self.model.device
        mask = replies.mask.to(device)
        ids = replies.ids.to(device).masked_fill(mask == 0, self.pad_id)
        b, t_len = ids.shape
        width = max(t_len, self.max_reply_len if max_len is None else int(max_len))
        padded_ids = torch.nn.functional.pad(ids, (0, width - t_len), value=self.pad_id)  # (B, L)
        padded_mask = torch.nn.functional.pad(mask, (0, width - t_len), value=0)
        out_ids = padded_ids[:, None, None, :].expand(b, max(t_len - 1, 0), n, width).clone()
        out_mask = padded_mask[:, None, None, :].expand(b, max(t_len - 1, 0), n, width).clone()
        if t_len < 2:
            return Replies(out_ids, out_mask)
        with eval_mode(self.model):
            enc, enc_mask = self._encode(context)
            full = self._forward(enc, enc_mask, self._decoder_inputs(ids), self._empty_cache(), use_cache=True)
            cache, logits = full.cache, full.logits  # logits (B, T, V): position t predicts ids[:, t]
            open_prefix = (mask == 1) & ((ids == self.eos_id).long().cumsum(-1) == 0)  # (B, T): prefix t+1 open
            for t in range(1, t_len):
                rows = open_prefix[:, t - 1].nonzero().squeeze(1)  # (A,)
                if rows.numel() == 0:
                    continue
                first, _ = sample_logits(logits[rows, t], temperature, num_samples=n)  # (A, n)
                first = first.reshape(-1)  # (A*n,), row a*n+k is rollout k of rows[a]
                src = rows.repeat_interleave(n)
                tail = torch.full((first.shape[0], width - t - 1), self.pad_id, dtype=torch.long, device=device)
                going = (first != self.eos_id).nonzero().squeeze(1)
                if tail.shape[1] > 0 and going.numel() > 0:
                    g_src = src[going]
                    tail[going], _ = self._decode(
                        enc[g_src], enc_mask[g_src], _select_cache(cache, g_src, t + 1), first[going],
                        tail.shape[1], temperature, False,
                    )
                comp_ids, comp_mask = _finish(torch.cat([first[:, None], tail], dim=1), self.pad_id, self.eos_id)
                out_ids[rows, t - 1, :, t:] = comp_ids.view(rows.shape[0], n, width - t)
                out_mask[rows, t - 1, :, t:] = comp_mask.view(rows.shape[0], n, width - t)
        return Replies(out_ids, out_mask)

    # ------------------------------------------------------------------ relaxed (differentiable) decoding
    def relaxed_sample(self, context: Context, max_len: int | None = None, tau: float = 1.0,
                       mode: str = "gumbel_soft", generator: torch.Generator | None = None) -> RelaxedReplies:
        """Differentiable decoding with the KV cache: y_t = relax(logits_t) (B, V); the next decoder input is the
        soft embedding ``y_t @ E`` (times BART's ``embed_scale``; T5 uses its shared embedding unscaled).

        All rows decode until every row has produced a hard eos (or ``max_len`` steps); the result is trimmed to
        the longest reply. Returns probs/logits (B, T, V), ids (B, T) (argmax y_t, ``pad_id`` after the first
        eos) and mask (B, T) (1 up to and including the first eos). Uses the module's current mode (dropout).
        """
        check_mode(mode, tau)
        max_len = self.max_reply_len if max_len is None else int(max_len)
        embed = self.model.get_decoder().embed_tokens
        scale = float(getattr(embed, "embed_scale", None) or 1.0)
        enc, enc_mask = self._encode(context)
        B = enc.shape[0]
        x = embed(torch.full((B, 1), self.bos_id, dtype=torch.long, device=enc.device))  # (B, 1, d), scaled
        cache, ys, logits_all = self._empty_cache(), [], []
        done = torch.zeros(B, dtype=torch.bool, device=enc.device)
        for _ in range(max_len):
            out = self.model(encoder_outputs=BaseModelOutput(last_hidden_state=enc), attention_mask=enc_mask,
                             decoder_inputs_embeds=x, cache=cache, use_cache=True)
            cache, logits = out.cache, out.logits[:, -1]  # (B, V)
            y = relax(logits, tau, mode, generator)  # (B, V) with gradient
            ys.append(y)
            logits_all.append(logits)
            done |= y.detach().argmax(-1) == self.eos_id
            if bool(done.all()):
                break
            x = ((y.to(embed.weight.dtype) @ embed.weight) * scale).unsqueeze(1)  # (B, 1, d) soft embedding
        return finish_relaxed(torch.stack(ys, 1), torch.stack(logits_all, 1), self.eos_id, self.pad_id)

    # ------------------------------------------------------------------ chat convenience (HF generate)
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
        ctx_ids, ctx_mask = self._context_inputs(context)
        gen = GenerationConfig(
            pad_token_id=self.pad_id,
            bos_token_id=self.bos_id,
            eos_token_id=self.eos_id,
            decoder_start_token_id=self.bos_id,
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
            out = self.model.generate(input_ids=ctx_ids, attention_mask=ctx_mask, generation_config=gen)
        ids, mask = _finish(out[:, 1:], self.pad_id, self.eos_id)  # drop the decoder start token
        width = int(mask.sum(-1).max()) if mask.numel() else 0
        return Replies(ids[:, :width], mask[:, :width])
