"""Toy dialogue tasks shared by the tests.

- ``toy_pairs`` / ``ToyPolicy`` (discriminator tests): the human reply is the context's first token twice, then eos,
  so both realism and relevance are learnable by a tiny D in a few hundred steps.
- ``text_pairs`` (evaluation / comparison tests): 8 short English (context, reply) pairs with a trained tokenizer.
"""

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


TEXTS = ["hi there how are you", "i am fine thanks", "what do you do", "i like to read books",
         "where do you live", "in a small town", "do you like music", "yes i play the guitar"]


def text_pairs(max_reply_tokens: int = 8):
    """(tokenizer, encoded dataset of 8 pairs with ``context``/``reply`` text columns, DataConfig)."""
    from seqgan.data import encode_pairs, train_tokenizer
    from seqgan.data.config import DataConfig

    tok = train_tokenizer(TEXTS * 4, vocab_size=120, min_frequency=1)
    pairs = Dataset.from_dict({"conv_id": [str(i) for i in range(8)],
                               "context": [[TEXTS[i]] for i in range(0, 8, 2)] * 2,
                               "reply": [TEXTS[i + 1] for i in range(0, 8, 2)] * 2})
    cfg = DataConfig(max_reply_tokens=max_reply_tokens)
    return tok, encode_pairs(pairs, tok, cfg), cfg
