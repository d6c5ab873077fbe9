"""A single-layer LSTM language model as a :class:`~seqgan.models.policy.Policy` (the synthetic-oracle benchmark).

Unconditional and fixed-length: every reply has exactly ``seq_len`` tokens, no end-of-sequence token
(``eos_id = None``), masks are all ones and the context must be empty (``Context.empty(B)``). The first token is
predicted from a learned start vector fed as input x_0.

Rollouts are batched: one recurrent pass over the given replies yields the state after every prefix; the first
new token of each prefix is drawn n times from that prefix's distribution; all B*(T-1)*n completions are then
advanced together, rows ordered by prefix length so step j only touches rows whose prefix is shorter than j.
Sampling forms the (rows, V) logits ``SAMPLE_ROWS`` rows at a time, so the output projection, the softmax and the
inverse-CDF search work on a block that stays in cache instead of streaming a (B*n*T, V) tensor through memory;
the draws and their order are those of one call on all rows.

Shapes: ``B`` batch, ``T`` = seq_len, ``V`` vocabulary, ``E`` embedding, ``H`` hidden, ``N`` rollouts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgan.errors import ConfigError
from seqgan.models.policy import Context, Policy, Replies
from seqgan.models.relaxed import RelaxedReplies, check_mode, finish_relaxed, relax
from seqgan.models.sampling import sample_logits
from seqgan.runs.pretrained import PretrainedMixin

SAMPLE_ROWS = 1024  # rows whose (rows, V) logits are formed at once when sampling (4 MB per 1,000 tokens of V)


def token_logprobs(logits: Tensor, ids: Tensor, mask: Tensor, temperature: float = 1.0) -> Tensor:
    """(B, T, V) teacher-forced logits, (B, T) ids / mask -> (B, T) log p_T(ids_t | ids_<t) in float32, 0 where
    ``mask`` is 0 (``log_softmax(logits / temperature)``; the score of every oracle generator)."""
    logits = logits.float()
    logp = torch.log_softmax(logits / temperature if temperature != 1.0 else logits, dim=-1)  # (B, T, V)
    return logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1) * mask.to(logp.dtype)


class PositiveSizes:
    """``validate`` for a dataclass of sizes (this one and the peer GANs' generators): every field a positive int;
    errors name ``where`` (default: the class's ``SECTION``)."""

    SECTION = "lstm"

    def validate(self, where: str | None = None) -> None:
        where = where or self.SECTION
        for name, value in asdict(self).items():
            if int(value) < 1:
                raise ConfigError(f"{where}.{name}: expected a positive integer, got {value}")


class UnconditionalPolicy(PretrainedMixin, Policy):
    """What the oracle benchmark's generators (this LSTM, RelGAN's relational memory, LeakGAN's) share: sentences
    without a context (every call takes ``Context.empty(B)``), scored from the teacher-forced ``logits(ids)``
    (B, T, V), saved as ``config.json`` + ``model.safetensors``."""

    def _check_context(self, context: Context) -> None:
        if not context.is_empty:
            raise ValueError(f"{type(self).__name__} is unconditional: pass Context.empty(B)")

    def score(self, context: Context, ids: Tensor, mask: Tensor, temperature: float = 1.0) -> Tensor:
        """(B, T) ids/mask -> (B, T) log p_T(x_t | x_<t) (``log_softmax(logits / temperature)``), with gradient."""
        self._check_context(context)
        return token_logprobs(self.logits(ids), ids, mask, temperature)


@dataclass
class LSTMShape(PositiveSizes):
    """Sizes of an :class:`LSTMPolicy` (SeqGAN oracle: 5,000 / 32 / 32 / 20)."""

    vocab_size: int = 5000
    embed_dim: int = 32
    hidden_dim: int = 32
    seq_len: int = 20


class LSTMPolicy(UnconditionalPolicy):
    """``p(x) = prod_t softmax(W h_t + b)[x_t]`` with ``h_t = LSTM(E[x_{t-1}], h_{t-1})``, x_0 the start vector."""

    def __init__(self, shape: LSTMShape) -> None:
        super().__init__()
        shape.validate()
        self.shape = shape
        self.vocab_size = shape.vocab_size
        self.pad_id = 0
        self.eos_id = None
        self.max_reply_len = shape.seq_len
        self.embedding = nn.Embedding(shape.vocab_size, shape.embed_dim)
        self.start = nn.Parameter(torch.zeros(shape.embed_dim))
        self.lstm = nn.LSTM(shape.embed_dim, shape.hidden_dim, batch_first=True)
        self.head = nn.Linear(shape.hidden_dim, shape.vocab_size)
        nn.init.normal_(self.start, std=0.1)

    @torch.no_grad()
    def init_normal(self, std: float = 0.1, generator: torch.Generator | None = None) -> LSTMPolicy:
        """Re-draw every parameter from N(0, std) (``bias_hh`` = 0: the recurrent layer then has one bias per gate):
        the SeqGAN reference code's generator initialisation (``init_matrix``, stddev 0.1). Returns self."""
        for name, param in self.named_parameters():
            if name == "lstm.bias_hh_l0":
                param.zero_()
            else:
                param.copy_(torch.randn(param.shape, generator=generator) * std)
        return self

    # ------------------------------------------------------------------ helpers
    def _inputs(self, ids: Tensor) -> Tensor:
        """(B, T) ids -> (B, T, E) inputs [start, x_1 .. x_{T-1}] (teacher forcing)."""
        B = ids.shape[0]
        start = self.start.expand(B, 1, -1)
        return torch.cat([start, self.embedding(ids[:, :-1])], dim=1)

    def _step(self, x: Tensor, state: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One step: x (R, E), state ((R, H), (R, H)) -> logits (R, V), new state."""
        hc = None if state is None else (state[0].unsqueeze(0), state[1].unsqueeze(0))
        out, (h, c) = self.lstm(x.unsqueeze(1), hc)
        return self.head(out[:, 0]), (h[0], c[0])

    def _cell(self, x: Tensor, state: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
        """One LSTM step without the output layer: x (R, E), state ((R, H), (R, H)) or None -> (h, c) (R, H)."""
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.shape.hidden_dim)
            state = (zeros, zeros)
        lstm = self.lstm
        return torch.lstm_cell(x, state, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)

    def _draw(self, h: Tensor, temperature: float = 1.0, greedy: bool = False,
              num_samples: int = 1) -> tuple[Tensor, Tensor]:
        """(R, H) states -> tokens and their log-probabilities (R, num_samples) drawn from ``head(h)``, computed
        ``SAMPLE_ROWS`` rows at a time (same draws as one call on all rows: the uniforms are consumed in row order)."""
        parts = [sample_logits(self.head(rows), temperature=temperature, greedy=greedy, num_samples=num_samples)
                 for rows in h.split(SAMPLE_ROWS)]
        if len(parts) == 1:
            return parts[0]
        return torch.cat([tok for tok, _ in parts]), torch.cat([lp for _, lp in parts])

    def logits(self, ids: Tensor) -> Tensor:
        """(B, T) ids -> (B, T, V) next-token logits by teacher forcing (logits[:, t] predicts ids[:, t])."""
        out, _ = self.lstm(self._inputs(ids))  # (B, T, H)
        return self.head(out)

    # ------------------------------------------------------------------ Policy
    @torch.no_grad()
    def sample(self, context: Context, max_len: int | None = None, temperature: float = 1.0,
               greedy: bool = False) -> Replies:
        """B rows of ``max_len`` (default seq_len) tokens; mask all ones; logprobs (B, T)."""
        self._check_context(context)
        B, T = context.batch_size, int(max_len or self.max_reply_len)
        dev = self.start.device
        ids = torch.empty(B, T, dtype=torch.long, device=dev)
        logps = torch.empty(B, T, dtype=torch.float32, device=dev)
        x, state = self.start.expand(B, -1), None
        for t in range(T):
            state = self._cell(x, state)
            tok, lp = self._draw(state[0], temperature=temperature, greedy=greedy)
            ids[:, t], logps[:, t] = tok[:, 0], lp[:, 0]
            x = self.embedding(ids[:, t])
        return Replies(ids=ids, mask=torch.ones_like(ids), logprobs=logps)

    def relaxed_sample(self, context: Context, max_len: int | None = None, tau: float = 1.0,
                       mode: str = "gumbel_soft", generator: torch.Generator | None = None) -> RelaxedReplies:
        """Differentiable decoding: y_t = relax(logits_t) (B, V) and the next input is ``y_t @ E``.

        Returns probs/logits (B, T, V), ids = argmax y_t (B, T) and an all-ones mask (fixed length).
        """
        self._check_context(context)
        check_mode(mode, tau)
        B, T = context.batch_size, int(max_len or self.max_reply_len)
        x, state, ys, logits_all = self.start.expand(B, -1), None, [], []
        for _ in range(T):
            logits, state = self._step(x, state)  # (B, V)
            y = relax(logits, tau, mode, generator)  # (B, V) with gradient
            ys.append(y)
            logits_all.append(logits)
            x = y.to(self.embedding.weight.dtype) @ self.embedding.weight  # (B, E) soft embedding
        return finish_relaxed(torch.stack(ys, 1), torch.stack(logits_all, 1), None, self.pad_id)

    @torch.no_grad()
    def prefix_states(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """States after every prefix of (B, T) ids: h, c (B, T, H), index t the state after the inputs start,
        x_1..x_t (1-based), i.e. the state that predicts token index t."""
        inputs = self._inputs(ids)  # (B, T, E)
        hs, cs, state = [], [], None
        for t in range(ids.shape[1]):
            state = self._cell(inputs[:, t], state)
            hs.append(state[0])
            cs.append(state[1])
        return torch.stack(hs, 1), torch.stack(cs, 1)

    @torch.no_grad()
    def rollout(self, context: Context, replies: Replies, n: int, temperature: float = 1.0,
                max_len: int | None = None) -> Replies:
        """(B, T) replies -> (B, T-1, N, T) completions; ``out.ids[b, t-1, k, :t] == replies.ids[b, :t]``.

        Replies have a fixed length here (no end-of-sequence token), so completions fill the replies' own T;
        ``max_len`` must not ask for more (sample longer replies instead)."""
        self._check_context(context)
        ids = replies.ids
        B, T = ids.shape
        if max_len is not None and int(max_len) > T:
            raise ValueError(f"the fixed-length LSTM completes prefixes to the replies' length {T}, "
                             f"not to max_len {max_len}")
        if T < 2:
            empty = ids.new_zeros(B, 0, n, T)
            return Replies(ids=empty, mask=torch.ones_like(empty))
        h_all, c_all = self.prefix_states(ids)  # (B, T, H)
        P, H = T - 1, h_all.shape[-1]  # prefix lengths t = 1..T-1; block p = t - 1
        # rows ordered (t, b, k): block t holds B*n rows that keep the first t tokens
        out = ids.unsqueeze(0).unsqueeze(2).expand(P, B, n, T).clone()  # (P, B, N, T)
        h_prefix = h_all[:, 1:].transpose(0, 1).reshape(P * B, H)  # (P*B, H): the state after prefix t
        first, _ = self._draw(h_prefix, temperature=temperature, num_samples=n)  # (P*B, N): token index t
        t_idx = torch.arange(1, T, device=ids.device)
        out[torch.arange(P), :, :, t_idx] = first.view(P, B, n)
        flat = out.view(P * B * n, T)
        h = h_prefix.unsqueeze(1).expand(P * B, n, H).reshape(P * B * n, H)
        c = c_all[:, 1:].transpose(0, 1).unsqueeze(2).expand(P, B, n, H).reshape(P * B * n, H)
        for j in range(2, T):  # generate token index j for rows whose prefix t < j (the first (j-1)*B*n rows)
            k = (j - 1) * B * n
            h_k, c_k = self._cell(self.embedding(flat[:k, j - 1]), (h[:k], c[:k]))  # rows >= k: no token j
            h[:k], c[:k] = h_k, c_k
            flat[:k, j] = self._draw(h_k, temperature=temperature)[0][:, 0]
        out = out.permute(1, 0, 2, 3)  # (B, P, N, T)
        return Replies(ids=out, mask=torch.ones_like(out))

    def scheduled_sampling_nll(self, ids: Tensor, sample_prob: float) -> Tensor:
        """Mean per-token NLL of (B, T) ids where each input token is, with probability ``sample_prob``, replaced
        by a token sampled from the model's previous prediction (scheduled sampling; no gradient through the
        choice). Scalar with gradient."""
        B, T = ids.shape
        x, state, losses = self.start.expand(B, -1), None, []
        for t in range(T):
            logits, state = self._step(x, state)
            losses.append(F.cross_entropy(logits.float(), ids[:, t], reduction="none"))
            nxt = ids[:, t]
            if sample_prob > 0:
                drawn, _ = sample_logits(logits.detach())
                use = torch.rand(B, device=ids.device) < sample_prob
                nxt = torch.where(use, drawn[:, 0], nxt)
            x = self.embedding(nxt)
        return torch.stack(losses, 1).mean()

    # ------------------------------------------------------------------ persistence (seqgan.runs.pretrained)
    def pretrained_config(self) -> dict:
        return asdict(self.shape)

    @classmethod
    def from_config(cls, config: dict, source: str) -> LSTMPolicy:
        return cls(LSTMShape(**config))
