"""RelGAN's generator (Nie et al. 2019): a relational memory core (Santoro et al. 2018) as a
:class:`~seqgan.models.policy.Policy`.

The memory M holds ``mem_slots`` slots of ``num_heads * head_size`` units. At every step the input embedding is
projected to a slot, multi-head self-attention runs over [M; input] (queries, keys and values from the same rows,
one layer-normalised projection), followed by a residual + layer norm, a two-layer MLP with a residual + layer
norm; the input's row is dropped and LSTM-style gates (input and forget, per unit, from the input and tanh(M))
mix the result into the memory:

    M_t = sigmoid(i_t) * tanh(attend(M_{t-1}, x_t)) + sigmoid(f_t + 1) * M_{t-1}.

The flattened memory (``mem_slots * num_heads * head_size``) goes through the output layer to the next-token logits.
The memory starts as the identity (slot s holds e_s), the first input is a learned start vector.

Unconditional and fixed-length like :class:`~seqgan.models.lstm.LSTMPolicy` (empty contexts, no end-of-sequence
token). :meth:`RelationalPolicy.relaxed_sample` follows RelGAN: each step draws Gumbel noise g, feeds the embedding
of the *hard* token ``argmax(logits + g)`` to the next step and hands D the relaxed vector
``softmax((logits + g) / tau)`` (``tau`` = 1 / RelGAN's inverse temperature beta), so G's gradient reaches every
step's logits but not the recurrence through its inputs.

Shapes: ``B`` batch, ``T`` length, ``V`` vocabulary, ``E`` embedding, ``S`` slots, ``D = num_heads * head_size``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgan.models.lstm import PositiveSizes, UnconditionalPolicy
from seqgan.models.policy import Context, Replies
from seqgan.models.relaxed import RelaxedReplies, check_mode, finish_relaxed, relax
from seqgan.models.sampling import sample_logits


@dataclass
class RelationalShape(PositiveSizes):
    """Sizes of a :class:`RelationalPolicy` (RelGAN's synthetic-data generator: 5,000 / 32 / 1 / 2 / 256 / 20)."""

    SECTION = "relgan"

    vocab_size: int = 5000
    embed_dim: int = 32
    mem_slots: int = 1
    num_heads: int = 2
    head_size: int = 256
    seq_len: int = 20


class RelationalMemory(nn.Module):
    """One step of the relational memory core: (x (B, in), M (B, S, D)) -> M' (B, S, D)."""

    def __init__(self, input_size: int, mem_slots: int, num_heads: int, head_size: int,
                 forget_bias: float = 1.0) -> None:
        super().__init__()
        self.slots, self.heads, self.head_size = mem_slots, num_heads, head_size
        self.size = num_heads * head_size
        self.forget_bias = forget_bias
        self.input_proj = nn.Linear(input_size, self.size)
        self.qkv = nn.Linear(self.size, 3 * self.size, bias=False)
        self.qkv_norm = nn.LayerNorm(3 * self.size)
        self.attn_norm = nn.LayerNorm(self.size)
        self.mlp = nn.Sequential(nn.Linear(self.size, self.size), nn.ReLU(), nn.Linear(self.size, self.size))
        self.mlp_norm = nn.LayerNorm(self.size)
        self.gate_input = nn.Linear(self.size, 2 * self.size)
        self.gate_memory = nn.Linear(self.size, 2 * self.size)

    def initial_state(self, batch_size: int, device=None) -> Tensor:
        """(B, S, D): slot s is the unit vector e_s (zero-padded to D)."""
        eye = torch.eye(self.slots, self.size, device=device)
        return eye.unsqueeze(0).expand(batch_size, -1, -1).contiguous()

    def _attend(self, rows: Tensor) -> Tensor:
        """Multi-head self-attention over (B, S + 1, D) rows, then the residual MLP."""
        B, N, _ = rows.shape
        q, k, v = self.qkv_norm(self.qkv(rows)).view(B, N, 3, self.heads, self.head_size).unbind(2)  # (B, N, h, d)
        att = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))  # (B, h, N, d)
        rows = self.attn_norm(rows + att.transpose(1, 2).reshape(B, N, self.size))
        return self.mlp_norm(rows + self.mlp(rows))

    def forward(self, x: Tensor, memory: Tensor) -> Tensor:
        inp = self.input_proj(x).unsqueeze(1)  # (B, 1, D)
        attended = self._attend(torch.cat([memory, inp], dim=1))[:, :-1]  # (B, S, D): the input row is dropped
        gates = self.gate_input(inp) + self.gate_memory(torch.tanh(memory))  # (B, S, 2D)
        i, f = gates.chunk(2, dim=-1)
        return torch.sigmoid(i) * torch.tanh(attended) + torch.sigmoid(f + self.forget_bias) * memory


class RelationalPolicy(UnconditionalPolicy):
    """``p(x) = prod_t softmax(W vec(M_t) + b)[x_t]`` with ``M_t = RMC(E[x_{t-1}], M_{t-1})``."""

    def __init__(self, shape: RelationalShape) -> None:
        super().__init__()
        shape.validate()
        self.shape = shape
        self.vocab_size, self.pad_id, self.eos_id, self.max_reply_len = shape.vocab_size, 0, None, shape.seq_len
        self.embedding = nn.Embedding(shape.vocab_size, shape.embed_dim)
        self.start = nn.Parameter(torch.randn(shape.embed_dim) * 0.1)
        self.core = RelationalMemory(shape.embed_dim, shape.mem_slots, shape.num_heads, shape.head_size)
        self.head = nn.Linear(shape.mem_slots * self.core.size, shape.vocab_size)

    def _step(self, x: Tensor, memory: Tensor) -> tuple[Tensor, Tensor]:
        """x (R, E), memory (R, S, D) -> logits (R, V), new memory."""
        memory = self.core(x, memory)
        return self.head(memory.flatten(1)), memory

    def logits(self, ids: Tensor) -> Tensor:
        """(B, T) ids -> (B, T, V) teacher-forced next-token logits (logits[:, t] predicts ids[:, t])."""
        B, T = ids.shape
        x, memory, out = self.start.expand(B, -1), self.core.initial_state(B, ids.device), []
        for t in range(T):
            logits, memory = self._step(x, memory)
            out.append(logits)
            x = self.embedding(ids[:, t])
        return torch.stack(out, 1)

    # ------------------------------------------------------------------ Policy
    @torch.no_grad()
    def sample(self, context: Context, max_len: int | None = None, temperature: float = 1.0,
               greedy: bool = False) -> Replies:
        self._check_context(context)
        B, T = context.batch_size, int(max_len or self.max_reply_len)
        memory = self.core.initial_state(B, self.start.device)
        x, ids, logps = self.start.expand(B, -1), [], []
        for _ in range(T):
            logits, memory = self._step(x, memory)
            tok, lp = sample_logits(logits, temperature=temperature, greedy=greedy)
            ids.append(tok[:, 0])
            logps.append(lp[:, 0])
            x = self.embedding(tok[:, 0])
        ids_t = torch.stack(ids, 1)
        return Replies(ids=ids_t, mask=torch.ones_like(ids_t), logprobs=torch.stack(logps, 1))

    @torch.no_grad()
    def rollout(self, context: Context, replies: Replies, n: int, temperature: float = 1.0,
                max_len: int | None = None) -> Replies:
        """(B, T) -> (B, T-1, N, T): all B*(T-1)*N completions advance together; a row keeps its given token while
        j < its prefix length and samples after."""
        self._check_context(context)
        ids = replies.ids
        B, T = ids.shape
        if max_len is not None and int(max_len) > T:  # fixed length: completions fill the replies' own T
            raise ValueError(f"a fixed-length policy completes prefixes to the replies' length {T}, not to {max_len}")
        if T < 2:
            empty = ids.new_zeros(B, 0, n, T)
            return Replies(ids=empty, mask=torch.ones_like(empty))
        out = ids.unsqueeze(1).unsqueeze(2).expand(B, T - 1, n, T).reshape(-1, T).clone()  # (R, T)
        keep = torch.arange(1, T, device=ids.device).view(1, T - 1, 1).expand(B, T - 1, n).reshape(-1)  # (R,)
        memory = self.core.initial_state(out.shape[0], ids.device)
        x = self.start.expand(out.shape[0], -1)
        for j in range(T):
            logits, memory = self._step(x, memory)
            drawn = sample_logits(logits, temperature=temperature)[0][:, 0]
            out[:, j] = torch.where(keep > j, out[:, j], drawn)
            x = self.embedding(out[:, j])
        out = out.view(B, T - 1, n, T)
        return Replies(ids=out, mask=torch.ones_like(out))

    def relaxed_sample(self, context: Context, max_len: int | None = None, tau: float = 1.0,
                       mode: str = "gumbel_soft", generator: torch.Generator | None = None) -> RelaxedReplies:
        """RelGAN's decoding: y_t = relax(logits_t) (B, V) for D, the hard token argmax y_t fed back (no gradient
        through the recurrence's inputs). Returns probs/logits (B, T, V), ids (B, T), an all-ones mask."""
        self._check_context(context)
        check_mode(mode, tau)
        B, T = context.batch_size, int(max_len or self.max_reply_len)
        memory = self.core.initial_state(B, self.start.device)
        x, ys, logits_all = self.start.expand(B, -1), [], []
        for _ in range(T):
            logits, memory = self._step(x, memory)
            y = relax(logits, tau, mode, generator)  # (B, V) with gradient
            ys.append(y)
            logits_all.append(logits)
            x = self.embedding(y.detach().argmax(-1))
        return finish_relaxed(torch.stack(ys, 1), torch.stack(logits_all, 1), None, self.pad_id)

    # ------------------------------------------------------------------ persistence
    def pretrained_config(self) -> dict:
        return asdict(self.shape)

    @classmethod
    def from_config(cls, config: dict, source: str) -> RelationalPolicy:
        return cls(RelationalShape(**config))
