"""A toy dialogue task shared by the discriminator tests: the human reply is the context's first token twice, then
eos, so both realism and relevance are learnable by a tiny D in a few hundred steps."""

import torch
from datasets import Dataset

from seqgan.models.policy import Policy, Replies

V, PAD, EOS = 20, 0, 1


def toy_pairs(n: int, seed: int) -> Dataset:
    """n encoded pairs: context = 4 random tokens, reply = [first, first, eos]."""
    g = torch.Generator().manual_seed(seed)
    first = torch.randint(2, V, (n,), generator=g).tolist()
    rest = torch.randint(2, V, (n, 3), generator=g).tolist()
    return Dataset.from_dict({"context_ids": [[f] + r for f, r in zip(first, rest)],
                              "reply_ids": [[f, f, EOS] for f in first]})


class ToyPolicy(Policy):
    """``copy=False``: two uniformly random tokens + eos (obviously fake); ``copy=True``: exactly the human reply.
    Only ``sample`` is used by the discriminator code; ``calls`` counts it."""

    def __init__(self, copy: bool = False):
        super().__init__()
        self.vocab_size, self.pad_id, self.eos_id, self.max_reply_len = V, PAD, EOS, 3
        self.copy = copy
        self.calls = 0
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def sample(self, context, max_len=None, temperature=1.0, greedy=False):
        B = context.batch_size
        self.calls += 1
        if self.copy:
            first = context.ids[:, :1]
            ids = torch.cat([first, first, torch.full((B, 1), EOS)], 1)
        else:
            ids = torch.cat([torch.randint(2, V, (B, 2)), torch.full((B, 1), EOS)], 1)
        return Replies(ids, torch.ones_like(ids), torch.zeros(ids.shape))

    def score(self, context, ids, mask):
        raise NotImplementedError("the toy policy only samples")

    def rollout(self, context, replies, n, temperature=1.0):
        raise NotImplementedError("the toy policy only samples")
