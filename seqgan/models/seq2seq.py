"""An encoder-decoder generator seen as a :class:`Policy`: BART or T5 built from a config, or any local pretrained
``AutoModelForSeq2SeqLM`` (:mod:`seqgan.models.generators`).

Conventions: reply ids are the reply tokens followed by ``eos`` (no ``bos``), ``pad_id`` after it; masks are 1 on
real tokens including ``eos``. The decoder starts from ``bos`` (the model's decoder start token). Sampling, rollouts
and relaxed decoding are :class:`~seqgan.models.hf_policy.HFPolicy`'s loops on the HF decoder with its KV cache; the
encoder runs once per call.

Shapes: ``B`` batch, ``S`` context length, ``T`` reply length, ``V`` vocabulary, ``N`` rollouts per prefix.
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import (
    AutoModelForSeq2SeqLM,
    BartConfig,
    BartForConditionalGeneration,
    GenerationConfig,
    PreTrainedModel,
    T5Config,
    T5ForConditionalGeneration,
)
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutput

from seqgan.errors import ConfigError
from seqgan.models.generator_config import GeneratorConfig
from seqgan.models.hf_policy import POLICY_FILE, HFPolicy, distinct_rows, select_rows
from seqgan.models.policy import Context, Replies

_ARCHS = {"bart": BartForConditionalGeneration, "t5": T5ForConditionalGeneration}

__all__ = ["POLICY_FILE", "GeneratorConfig", "Seq2SeqPolicy"]


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
    return EncoderDecoderCache(select_rows(cache.self_attention_cache, rows, length),
                               select_rows(cache.cross_attention_cache, rows))


class Seq2SeqPolicy(HFPolicy):
    """A transformers encoder-decoder as a policy ``p(reply | context)``; ``model`` is public (hand it to accelerate).

    Args:
        model: any ``AutoModelForSeq2SeqLM`` with a KV cache (BART, T5/mT5, ...).
        pad_id, eos_id: special ids; bos_id: the decoder start token (``config.decoder_start_token_id``).
        max_reply_len: default number of reply tokens (eos included) that :meth:`sample` produces at most.
    """

    family = "seq2seq"
    auto_class = AutoModelForSeq2SeqLM

    def __init__(self, model: PreTrainedModel, pad_id: int, eos_id: int, max_reply_len: int, bos_id: int):
        super().__init__(model, pad_id, eos_id, max_reply_len, bos_id)
        for cfg in (model.config, model.generation_config):
            cfg.pad_token_id, cfg.eos_token_id = self.pad_id, self.eos_id
            cfg.decoder_start_token_id = self.bos_id
        model.generation_config.forced_eos_token_id = None
        model.generation_config.forced_bos_token_id = None

    # ------------------------------------------------------------------ construction
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
        return cls(model, pad_id, eos_id, max_reply_len, bos_id)

    def positions_needed(self, context_len: int, reply_len: int) -> int:
        """The encoder reads the context, the decoder the start token and the reply: the longer of the two."""
        return max(context_len, reply_len + 1)

    # ------------------------------------------------------------------ model calls
    def _context_inputs(self, context: Context) -> tuple[Tensor, Tensor]:
        """(B, S) ids and mask for the encoder; an empty context becomes one ``bos`` token per row."""
        device = self.model.device
        ids, mask = context.ids.to(device), context.mask.to(device)
        if ids.shape[1] == 0:
            ids = torch.full((ids.shape[0], 1), self.bos_id, dtype=torch.long, device=device)
            mask = torch.ones_like(ids)
        limit = self.max_positions
        if limit is not None and ids.shape[1] > limit:
            raise ConfigError(
                f"context of {ids.shape[1]} tokens exceeds the generator's {limit} positions; "
                "shorten the data's context window (data.max_context_tokens)"
            )
        return ids, mask

    def _encode(self, context: Context) -> tuple[Tensor, Tensor]:
        """Run the encoder once per distinct context (K replies per context share one encoding; gradients flow
        back through the copies): returns hidden states (B, S, d) and the encoder mask (B, S)."""
        shared = distinct_rows(context)
        ids, mask = self._context_inputs(context if shared is None else shared[0])
        hidden = self.model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        if shared is not None:
            hidden, mask = hidden[shared[1]], mask[shared[1]]
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

    # ------------------------------------------------------------------ decoding (the loops are HFPolicy's)
    # state: (encoder states (N, S, d), encoder mask (N, S), KV cache)
    def _empty_cache(self) -> EncoderDecoderCache:
        return EncoderDecoderCache(DynamicCache(), DynamicCache())

    def _start(self, context: Context):
        """The encoder runs once; the decoder starts from ``bos``."""
        enc, enc_mask = self._encode(context)
        start = torch.full((enc.shape[0],), self.bos_id, dtype=torch.long, device=enc.device)
        return (enc, enc_mask, self._empty_cache()), start

    def _step(self, state, last: Tensor):
        enc, enc_mask, cache = state
        out = self._forward(enc, enc_mask, last.unsqueeze(1), cache, use_cache=True)
        return out.logits[:, -1], (enc, enc_mask, out.cache)

    def _keep(self, state, rows: Tensor):
        enc, enc_mask, cache = state
        return enc[rows], enc_mask[rows], _select_cache(cache, rows)

    def _prefixes(self, context: Context, ids: Tensor, mask: Tensor):
        """One encoder pass and one decoder pass over ``[bos, x_1 .. x_{T-1}]``: position t's logits follow prefix t,
        and the first t+1 cache positions are prefix t's."""
        enc, enc_mask = self._encode(context)
        full = self._forward(enc, enc_mask, self._decoder_inputs(ids), self._empty_cache(), use_cache=True)

        def state_after(rows: Tensor, t: int):
            return enc[rows], enc_mask[rows], _select_cache(full.cache, rows, t + 1)

        return full.logits[:, 1:], state_after

    def _input_embedding(self) -> torch.nn.Module:
        """The decoder's token embedding (BART's scales by ``embed_scale``; T5 uses its shared one unscaled)."""
        return self.model.get_decoder().embed_tokens

    def _relaxed_start(self, context: Context):
        enc, enc_mask = self._encode(context)
        bos = torch.full((enc.shape[0], 1), self.bos_id, dtype=torch.long, device=enc.device)
        logits, state = self._relaxed_step((enc, enc_mask, self._empty_cache()), self._input_embedding()(bos))
        return state, logits

    def _relaxed_step(self, state, embeds: Tensor):
        enc, enc_mask, cache = state
        out = self.model(encoder_outputs=BaseModelOutput(last_hidden_state=enc), attention_mask=enc_mask,
                         decoder_inputs_embeds=embeds, cache=cache, use_cache=True)
        return out.logits[:, -1], (enc, enc_mask, out.cache)

    # ------------------------------------------------------------------ HF generate
    def _generate(self, context: Context, gen: GenerationConfig) -> Tensor:
        """New tokens (B*R, T') of HF ``generate``: the encoder reads the context (the decoder start is dropped)."""
        ctx_ids, ctx_mask = self._context_inputs(context)
        return self.model.generate(input_ids=ctx_ids, attention_mask=ctx_mask, generation_config=gen)[:, 1:]
