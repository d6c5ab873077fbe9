"""Test-only helpers for reward tests: a tiny bigram policy and discriminators whose scores are known functions."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqgan.models.policy import Context, Policy, Replies

PAD, BOS, EOS = 0, 1, 2


class BigramPolicy(Policy):
    """p(x_t | x_{t-1}, c) = softmax(table[x_{t-1}] + ctx[c_0]); a real (if small) autoregressive policy."""

    def __init__(self, vocab_size: int = 12, eos_id: int | None = EOS, max_reply_len: int = 6, scale: float = 1.0):
        super().__init__()
        self.vocab_size, self.pad_id, self.eos_id, self.max_reply_len = vocab_size, PAD, eos_id, max_reply_len
        g = torch.Generator().manual_seed(1)
        self.table = nn.Parameter(torch.randn(vocab_size, vocab_size, generator=g) * scale)
        self.ctx = nn.Parameter(torch.randn(vocab_size, vocab_size, generator=g) * 0.1 * scale)

    def _logits(self, context: Context, prev: Tensor) -> Tensor:
        logits = self.table[prev]  # (B, V)
        if not context.is_empty:
            logits = logits + self.ctx[context.ids[:, 0]]
        logits = logits.clone()
        logits[:, PAD] = -1e9
        logits[:, BOS] = -1e9
        if self.eos_id is None:
            logits[:, EOS] = -1e9
        return logits

    def _continue(self, context: Context, ids: Tensor, done: Tensor, start: int, T: int, temperature: float,
                  greedy: bool = False) -> tuple[Tensor, Tensor]:
        """Fill ids[:, start:T] by sampling; rows already done stay padded."""
        lp = torch.zeros(ids.shape, dtype=torch.float32)
        for t in range(start, T):
            prev = ids[:, t - 1] if t > 0 else torch.full((ids.shape[0],), BOS, dtype=torch.long)
            logits = self._logits(context, prev) / (1.0 if greedy else temperature)
            logp = torch.log_softmax(logits, -1)
            tok = logp.argmax(-1) if greedy else torch.multinomial(logp.exp(), 1).squeeze(1)
            tok = torch.where(done, torch.full_like(tok, PAD), tok)
            lp[:, t] = torch.where(done, torch.zeros(()), logp.gather(1, tok[:, None]).squeeze(1))
            ids[:, t] = tok
            if self.eos_id is not None:
                done = done | (tok == self.eos_id)
        return ids, lp

    def _mask(self, ids: Tensor) -> Tensor:
        if self.eos_id is None:
            return torch.ones_like(ids)
        is_eos = (ids == self.eos_id).long()
        after = torch.cumsum(is_eos, 1) - is_eos  # number of eos strictly before t
        return ((after == 0) & (ids != PAD)).long()

    @torch.no_grad()
    def sample(self, context, max_len=None, temperature=1.0, greedy=False) -> Replies:
        T = max_len or self.max_reply_len
        B = context.batch_size
        ids = torch.full((B, T), PAD, dtype=torch.long)
        ids, lp = self._continue(context, ids, torch.zeros(B, dtype=torch.bool), 0, T, temperature, greedy)
        mask = self._mask(ids)
        return Replies(ids * mask + PAD * (1 - mask), mask, lp * mask)

    def score(self, context, ids, mask, temperature=1.0) -> Tensor:
        B, T = ids.shape
        prev = torch.cat([torch.full((B, 1), BOS, dtype=torch.long), ids[:, :-1]], 1)
        rows = [torch.log_softmax(self._logits(context, prev[:, t]) / temperature, -1).gather(1, ids[:, t:t + 1])
                for t in range(T)]
        return torch.cat(rows, 1) * mask

    @torch.no_grad()
    def rollout(self, context, replies, n, temperature=1.0, max_len=None) -> Replies:
        B, T = replies.ids.shape
        L = max(T, max_len or self.max_reply_len) if self.eos_id is not None else T
        out_ids = torch.full((B, T - 1, n, L), PAD, dtype=torch.long)
        ctx = context.repeat_interleave(n)
        for t in range(1, T):
            ids = torch.nn.functional.pad(replies.ids, (0, L - T), value=PAD).repeat_interleave(n, 0)
            ids[:, t:] = PAD
            pm = replies.mask[:, :t].repeat_interleave(n, 0)
            done = pm.sum(1) < t  # prefix already contains eos before position t-1
            if self.eos_id is not None:
                done = done | (ids[:, t - 1] == self.eos_id)
            ids, _ = self._continue(ctx, ids, done, t, L, temperature)
            out_ids[:, t - 1] = ids.view(B, n, L)
        mask = self._mask(out_ids.view(-1, L)).view(out_ids.shape)
        return Replies(out_ids * mask, mask)


class FunctionDisc(nn.Module):
    """D(c, x) = fn(context, ids, mask) -> (B,); prefix_reward applies fn to every prefix. Records its calls."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.calls = 0
        self.rows = 0
        self.dropout = nn.Dropout(0.5)

    @torch.no_grad()
    def reward(self, context, ids, mask):
        self.calls += 1
        self.rows += ids.shape[0]
        return self.fn(context, ids, mask).float()

    @torch.no_grad()
    def prefix_reward(self, context, ids, mask):
        T = ids.shape[1]
        cols = []
        for t in range(1, T + 1):
            m = mask.clone()
            m[:, t:] = 0
            cols.append(self.fn(context, ids * m, m).float())
        return torch.stack(cols, 1) * mask



