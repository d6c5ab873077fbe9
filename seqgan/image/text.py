"""Short text descriptions of classes ("a handwritten seven") and their word-level vocabulary.

Each class gets several templated captions; training draws one at random per image, so the text encoder must learn
that different wordings name the same class (the image analogue of the dialogue context c in D(c, x)).
"""

from __future__ import annotations

import torch

TEMPLATES = (
    "a handwritten {name}",
    "the digit {name}",
    "a {name} written by hand",
    "an image of a {name}",
    "this is a {name}",
    "a small picture showing {name}",
)
PAD = 0


class CaptionBank:
    """All captions of all classes as padded token ids. ``ids``: (K, M, L) for K classes, M templates, L tokens."""

    def __init__(self, class_names: list[str]):
        captions = [[t.format(name=name).lower().split() for t in TEMPLATES] for name in class_names]
        words = sorted({w for per_class in captions for cap in per_class for w in cap})
        self.vocab = {w: i + 1 for i, w in enumerate(words)}  # 0 is padding
        self.max_len = max(len(c) for per_class in captions for c in per_class)
        ids = torch.zeros(len(class_names), len(TEMPLATES), self.max_len, dtype=torch.long)
        for k, per_class in enumerate(captions):
            for m, cap in enumerate(per_class):
                ids[k, m, : len(cap)] = torch.tensor([self.vocab[w] for w in cap])
        self.ids = ids
        self.texts = [[" ".join(c) for c in per_class] for per_class in captions]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + 1

    def sample(self, labels: torch.Tensor) -> torch.Tensor:
        """A random caption per label (global torch RNG). ``labels`` (B,) -> token ids (B, L)."""
        which = torch.randint(0, self.ids.shape[1], labels.shape)
        return self.ids.to(labels.device)[labels, which.to(labels.device)]

    def encode(self, text: str) -> torch.Tensor:
        """Token ids (L,) of a free text (unknown words are dropped; at least one token is kept)."""
        ids = [self.vocab[w] for w in text.lower().split() if w in self.vocab][: self.max_len]
        out = torch.zeros(self.max_len, dtype=torch.long)
        out[: len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out
