"""D(c, x) initialised from the MLE generator's own encoder-decoder (as MaskGAN initialises its discriminator).

A copy of the pretrained encoder reads the context; a copy of the pretrained decoder reads the reply teacher-forced
(decoder input ``[bos, x_1 .. x_T]``, so the state at position t has read x_1..x_t). Every reply token t gets the
features

- ``h_t``: the decoder's last hidden state after reading x_t (it attends to the context through cross-attention),
- ``log p(x_t | x_<t, c)`` and the entropy ``H_t`` of the generator copy's next-token distribution at t.

Why the language-model features carry signal from the first step: a reply sampled from G at temperature 1 has an
expected per-token log-probability of ``-H_t`` under G, while a human reply has ``-cross-entropy <= -H_t``; and
under a wrong context a human reply is less likely than under its own (the generator's context gain). A randomly
initialised D has to discover both from a few thousand pairs, which is what a CNN D failed to do.

The features are averaged over each prefix (causal: entry t never looks past x_t) and a small MLP on
``[h_t, mean_{<=t} features]`` gives the logit of every prefix in one pass, so the prefix reward costs one decoder
pass. The whole copy is fine-tuned with the head (``freeze_generator`` trains the head alone).

Replies may be ids (B, T) or distributions (B, T, V) (soft embeddings ``probs @ E``; the log-probability feature is
then the expected one, ``sum_v probs_v log p_v``), so the relaxed routes can push gradients through it.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgan.config import from_dict, to_dict
from seqgan.errors import ConfigError
from seqgan.models.discriminator import DiscOutput, DiscriminatorConfig, DiscriminatorScoring
from seqgan.models.policy import Context
from seqgan.runs.pretrained import PretrainedMixin

KIND = "generator"


class GeneratorDiscriminator(DiscriminatorScoring, PretrainedMixin, nn.Module):
    """D(c, x) on a copy of a seq2seq generator; see the module docstring.

    Args:
        cfg: the ``discriminator`` section (``encoder: generator``; ``dropout``, ``l2``, ``freeze_generator``).
        model: a transformers encoder-decoder LM (``BartForConditionalGeneration`` / ``T5ForConditionalGeneration``),
            used as it is (pass a copy; :meth:`from_policy` copies).
        pad_id, bos_id: padding and decoder start tokens of the generator's tokenizer.
    """

    def __init__(self, cfg: DiscriminatorConfig, model: nn.Module, pad_id: int, bos_id: int):
        super().__init__()
        cfg.validate()
        if cfg.encoder != KIND:
            raise ConfigError(f"discriminator.encoder: GeneratorDiscriminator needs 'generator', got {cfg.encoder!r}")
        self.cfg, self.model = cfg, model
        self.vocab_size, self.pad_id, self.bos_id = int(model.config.vocab_size), int(pad_id), int(bos_id)
        d = int(model.config.d_model)
        self.token_features = nn.Linear(d + 2, d)  # [h_t, log p_t, H_t] -> d
        self.norm = nn.LayerNorm(2 * d)
        self.dropout = nn.Dropout(cfg.dropout)
        self.pair_head = nn.Sequential(nn.Linear(2 * d, d), nn.GELU(), nn.Linear(d, 1))
        self.realism_head = None
        self.model.requires_grad_(not cfg.freeze_generator)

    @classmethod
    def from_policy(cls, cfg: DiscriminatorConfig, policy) -> GeneratorDiscriminator:
        """A D whose encoder-decoder is a copy of ``policy.model`` (an encoder-decoder generator), weights included
        (LoRA adapters merged)."""
        model = policy.merged_model() if hasattr(policy, "merged_model") else copy.deepcopy(policy.model)
        model.train()
        return cls(cfg, model, policy.pad_id, policy.bos_id)

    # -- features ----------------------------------------------------------------------------------------------
    def _encode_context(self, context: Context) -> tuple[Tensor, Tensor]:
        """(B, S) context -> encoder states (B, S, d) and mask (B, S); an empty context reads one bos token."""
        device = self.pair_head[0].weight.device
        ids, mask = context.ids.to(device), context.mask.to(device)
        if ids.shape[1] == 0:
            ids = torch.full((ids.shape[0], 1), self.bos_id, dtype=torch.long, device=device)
            mask = torch.ones_like(ids)
        return self.model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state, mask

    def _decoder_embeds(self, reply: Tensor) -> Tensor:
        """ids (B, T) or probabilities (B, T, V) -> decoder input embeddings (B, T+1, d) of ``[bos, x_1..x_T]``."""
        embed = self.model.get_decoder().embed_tokens
        start = embed(torch.full((reply.shape[0], 1), self.bos_id, dtype=torch.long, device=reply.device))
        if reply.dim() == 2:
            rest = embed(reply)
        elif reply.dim() == 3 and reply.shape[-1] == self.vocab_size:
            scale = float(getattr(embed, "embed_scale", None) or 1.0)
            rest = (reply.to(embed.weight.dtype) @ embed.weight) * scale
        else:
            raise ValueError(f"reply: expected ids (B, T) or probabilities (B, T, {self.vocab_size}), "
                             f"got shape {tuple(reply.shape)}")
        return torch.cat([start, rest], dim=1)

    def _token_features(self, enc: Tensor, enc_mask: Tensor, reply: Tensor, reply_mask: Tensor) -> Tensor:
        """(B, T, d) per-token features ``token_features([h_t, log p(x_t), H_t])`` (see the module docstring)."""
        if reply.shape[:2] != reply_mask.shape:
            raise ValueError(f"reply {tuple(reply.shape)} and reply_mask {tuple(reply_mask.shape)} disagree on (B, T)")
        mask = reply_mask.to(enc.device)
        if reply.dim() == 2:
            reply = reply.to(enc.device).masked_fill(mask == 0, self.pad_id)
        out = self.model(encoder_outputs=(enc,), attention_mask=enc_mask,
                         decoder_inputs_embeds=self._decoder_embeds(reply),
                         use_cache=False, output_hidden_states=True)
        hidden = out.decoder_hidden_states[-1][:, 1:]  # (B, T, d): state after reading x_t
        logp_all = torch.log_softmax(out.logits[:, :-1].float(), dim=-1)  # (B, T, V): p(x_t | x_<t, c)
        if reply.dim() == 2:
            logp = logp_all.gather(-1, reply.unsqueeze(-1)).squeeze(-1)  # (B, T)
        else:
            logp = (reply.float() * logp_all).sum(-1)
        entropy = -(logp_all.exp() * logp_all).sum(-1)  # (B, T)
        lm = torch.stack([logp, entropy], dim=-1).to(hidden.dtype)  # (B, T, 2)
        return F.gelu(self.token_features(torch.cat([hidden, lm], dim=-1)))

    def _logits(self, feats: Tensor, reply_mask: Tensor, prefixes: bool) -> Tensor:
        """(B, T, d) token features -> logit of every prefix (B, T) or of the whole reply (B,)."""
        m = reply_mask.to(feats.dtype).unsqueeze(-1)  # (B, T, 1)
        mean = (feats * m).cumsum(1) / m.cumsum(1).clamp(min=1.0)  # (B, T, d) running mean over real tokens
        pooled = torch.cat([feats, mean], dim=-1)  # (B, T, 2d): the state at t and the prefix mean
        if not prefixes:
            last = (reply_mask.long().sum(1) - 1).clamp(min=0)  # (B,)
            pooled = pooled[torch.arange(pooled.shape[0], device=pooled.device), last]  # (B, 2d)
        return self.pair_head(self.dropout(self.norm(pooled))).squeeze(-1)

    # -- public API (the same as Discriminator's) --------------------------------------------------------------
    def forward(self, context: Context, reply: Tensor, reply_mask: Tensor) -> DiscOutput:
        """reply: ids (B, T) or probabilities (B, T, V); reply_mask (B, T). Returns logits of shape (B,)."""
        if reply.shape[0] != context.batch_size:
            raise ValueError(f"reply {tuple(reply.shape)} and context {tuple(context.ids.shape)} disagree on B")
        enc, enc_mask = self._encode_context(context)
        feats = self._token_features(enc, enc_mask, reply, reply_mask)
        return DiscOutput(self._logits(feats, reply_mask.to(feats.device), prefixes=False), None, None)

    def prefix_logits(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B, T): logit of every prefix x_1..x_t in one pass; entry t never looks at tokens after t."""
        enc, enc_mask = self._encode_context(context)
        feats = self._token_features(enc, enc_mask, reply_ids, reply_mask)
        return self._logits(feats, reply_mask.to(feats.device), prefixes=True)

    def _reward_rows_logits(self, context: Context, rows: Tensor, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        enc, enc_mask = self._encode_context(context)  # each context encoded once
        rows = rows.to(enc.device)
        feats = self._token_features(enc[rows], enc_mask[rows], reply_ids, reply_mask)
        return self._logits(feats, reply_mask.to(feats.device), prefixes=False)

    def param_groups(self, lr: float) -> list[dict]:
        """Adam groups: the head at ``lr``, the copied encoder-decoder at ``lr * cfg.body_lr_scale`` (a pretrained
        body needs small steps, a fresh head large ones); frozen parameters are left out."""
        body = [p for p in self.model.parameters() if p.requires_grad]
        head = [p for n, p in self.named_parameters() if not n.startswith("model.") and p.requires_grad]
        return [g for g in ({"params": head, "lr": lr}, {"params": body, "lr": lr * self.cfg.body_lr_scale})
                if g["params"]]

    def l2_penalty(self) -> Tensor:
        """cfg.l2 * squared norm of the output layer's weight."""
        return self.cfg.l2 * (self.pair_head[-1].weight ** 2).sum()

    # -- persistence (save_pretrained / from_pretrained: seqgan.runs.pretrained) ------------------------------
    def pretrained_config(self) -> dict:
        return {"config": to_dict(self.cfg), "vocab_size": self.vocab_size, "pad_id": self.pad_id,
                "bos_id": self.bos_id, "model_config": self.model.config.to_dict()}

    @classmethod
    def from_config(cls, config: dict, source: str) -> GeneratorDiscriminator:
        """An untrained D of the saved shape: the encoder-decoder is rebuilt from its transformers config."""
        from transformers import AutoConfig, AutoModelForSeq2SeqLM

        cfg = from_dict(DiscriminatorConfig, config["config"], source=source)
        model_cfg = dict(config["model_config"])
        model = AutoModelForSeq2SeqLM.from_config(AutoConfig.for_model(model_cfg.pop("model_type"), **model_cfg))
        return cls(cfg, model, int(config["pad_id"]), int(config["bos_id"]))
