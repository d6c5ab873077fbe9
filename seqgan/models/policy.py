"""The generator seen as a policy over tokens: the one interface rewards and objectives are written against.

Both the dialogue generator (a transformers encoder-decoder, :mod:`seqgan.models.seq2seq`) and the LSTM of the
synthetic-oracle benchmark implement :class:`Policy`, so Monte Carlo rollouts, baselines and policy-gradient losses
exist once.

Shapes: ``B`` batch, ``S`` context length, ``T`` reply length, ``V`` vocabulary, ``N`` rollouts per prefix.
Masks are 1 for real tokens (a reply's end-of-sequence token counts as real; padding after it does not).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seqgan.models.relaxed import RelaxedReplies


@dataclass
class Context:
    """What a reply is conditioned on.

    ids:  (B, S) token ids of the (multi-turn) context, right-padded; S may be 0 for unconditional tasks.
    mask: (B, S) 1 for real tokens.
    """

    ids: Tensor
    mask: Tensor

    @classmethod
    def empty(cls, batch_size: int, device: torch.device | str | None = None) -> Context:
        """No context (the unconditional oracle task): ids and mask of shape (B, 0)."""
        ids = torch.zeros(batch_size, 0, dtype=torch.long, device=device)
        return cls(ids=ids, mask=ids.clone())

    @property
    def batch_size(self) -> int:
        return self.ids.shape[0]

    @property
    def is_empty(self) -> bool:
        return self.ids.shape[1] == 0

    def repeat_interleave(self, n: int) -> Context:
        """Each row repeated n times consecutively: (B, S) -> (B*n, S), row b*n+k is a copy of row b."""
        return Context(self.ids.repeat_interleave(n, dim=0), self.mask.repeat_interleave(n, dim=0))

    def index(self, rows: Tensor) -> Context:
        """Select rows (e.g. a shuffled/mismatched context): (B, S) -> (len(rows), S)."""
        return Context(self.ids[rows], self.mask[rows])

    def to(self, device: torch.device | str) -> Context:
        return Context(self.ids.to(device), self.mask.to(device))


@dataclass
class Replies:
    """A batch of replies.

    ids:      (..., T) token ids; after the end-of-sequence token the row holds ``pad_id``.
    mask:     (..., T) 1 for real tokens (the end-of-sequence token included).
    logprobs: (..., T) log-probability of each sampled token under the sampling policy (0 where mask is 0), or None
              when the replies were not sampled by the policy (human replies, rollouts).
    """

    ids: Tensor
    mask: Tensor
    logprobs: Tensor | None = None

    @property
    def lengths(self) -> Tensor:
        """(...,) number of real tokens per reply."""
        return self.mask.sum(-1)


class Policy(nn.Module, ABC):
    """A conditional autoregressive generator ``p(x | c) = prod_t p(x_t | x_<t, c)``.

    Attributes every implementation sets: ``vocab_size``, ``pad_id``, ``eos_id`` (None when replies have a fixed
    length, as in the oracle task) and ``max_reply_len`` (default T for :meth:`sample`).
    """

    vocab_size: int
    pad_id: int
    eos_id: int | None
    max_reply_len: int

    @abstractmethod
    def sample(
        self,
        context: Context,
        max_len: int | None = None,
        temperature: float = 1.0,
        greedy: bool = False,
    ) -> Replies:
        """Draw one reply per context row, without gradient.

        Returns Replies with ids/mask/logprobs of shape (B, T'), T' <= max_len (trailing all-padding columns may be
        trimmed). ``logprobs`` are those of the distribution actually sampled (after temperature); with
        temperature 1 they equal :meth:`score` of the same replies.
        """

    @abstractmethod
    def score(self, context: Context, ids: Tensor, mask: Tensor, temperature: float = 1.0) -> Tensor:
        """Per-token log-probabilities of given replies by teacher forcing, *with* gradient, under the module's
        current mode (dropout on in train mode).

        ids, mask: (B, T). Returns (B, T) with ``log softmax(logits / temperature)[x_t]``, i.e.
        ``log p_T(x_t | x_<t, c)``, where mask is 1 and 0 elsewhere. In eval mode and at the temperature a reply was
        sampled at, this equals that reply's :attr:`Replies.logprobs` (the on-policy log-probabilities a policy
        gradient needs).
        """

    @abstractmethod
    def rollout(self, context: Context, replies: Replies, n: int, temperature: float = 1.0,
                max_len: int | None = None) -> Replies:
        """Monte Carlo completions of every prefix of every reply, without gradient (the SeqGAN rollout primitive).

        For each row b and prefix length t = 1..T-1 the first t tokens of ``replies.ids[b]`` are kept and the rest
        is sampled from the policy, n times, until the end-of-sequence token or ``max_len`` tokens in all (default
        ``max_reply_len``), whatever the batch's longest reply: a completion is what :meth:`sample` would have
        produced from that prefix. Implementations reuse the context encoding and the prefix's cached state
        instead of re-running it per rollout.

        Returns Replies with ids/mask of shape (B, T-1, n, L), ``L = max(T, max_len)``:
        ``out.ids[b, t-1, k, :t] == replies.ids[b, :t]``. A prefix that already ends with the end-of-sequence token
        is returned unchanged (padded to L: nothing to complete).
        """

    def relaxed_sample(
        self,
        context: Context,
        max_len: int | None = None,
        tau: float = 1.0,
        mode: str = "gumbel_soft",
        generator: torch.Generator | None = None,
    ) -> RelaxedReplies:
        """Decode one reply per row *with gradient*, feeding each step's relaxed token vector back as a soft
        embedding (the Gumbel-softmax and continuous-vector routes; see :mod:`seqgan.models.relaxed`).

        mode: ``gumbel_soft`` | ``gumbel_st`` (straight-through: exact one-hot forward) | ``softmax`` (no noise).
        ``generator`` seeds the Gumbel noise (default: the global torch RNG). Runs in the module's current mode.
        Returns :class:`RelaxedReplies` with probs/logits (B, T, V) and ids/mask (B, T), T <= max_len; the mask
        ends at the first hard end-of-sequence token (fixed length for policies without one).
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement relaxed_sample")

    def nll(self, context: Context, ids: Tensor, mask: Tensor) -> Tensor:
        """Mean per-token negative log-likelihood (the MLE loss), a scalar with gradient."""
        logp = self.score(context, ids, mask)
        return -(logp * mask).sum() / mask.sum().clamp(min=1)

    def sequence_nll(self, context: Context, ids: Tensor, mask: Tensor) -> Tensor:
        """(B,) total negative log-likelihood of each reply (sum over its tokens)."""
        return -(self.score(context, ids, mask) * mask).sum(-1)


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` in eval mode (dropout off) for the block, then restore its previous mode."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)
