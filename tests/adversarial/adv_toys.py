"""Test-only pieces for the adversarial trainer: a small trainable discriminator and its BCE loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqgan.models.policy import Context, Replies


class BagDisc(nn.Module):
    """logit = w . mean(embed(reply tokens)) + u . embed(context first token); reward = sigmoid(logit)."""

    def __init__(self, vocab_size: int, dim: int = 8):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.ctx = nn.Embedding(vocab_size, dim)
        self.out = nn.Linear(dim, 1)
        self.drop = nn.Dropout(0.1)

    def forward(self, context: Context, ids, mask):
        m = mask.float().unsqueeze(-1)
        h = (self.embed(ids) * m).sum(1) / m.sum(1).clamp(min=1)
        if not context.is_empty:
            h = h * torch.tanh(self.ctx(context.ids[:, 0]))
        return self.out(self.drop(h)).squeeze(-1)

    def save(self, directory):
        from pathlib import Path

        from seqgan.runs.checkpoint import save_module

        Path(directory).mkdir(parents=True, exist_ok=True)
        save_module(self, Path(directory) / "model.safetensors")

    @torch.no_grad()
    def reward(self, context, ids, mask):
        was = self.training
        self.eval()
        out = torch.sigmoid(self(context, ids, mask))
        self.train(was)
        return out

    @torch.no_grad()
    def prefix_reward(self, context, ids, mask):
        cols = []
        for t in range(1, ids.shape[1] + 1):
            m = mask.clone()
            m[:, t:] = 0
            cols.append(self.reward(context, ids, m))
        return torch.stack(cols, 1) * mask


def bag_loss(disc, context: Context, human: Replies, generated: Replies, perm):
    real = disc(context, human.ids, human.mask)
    fake = disc(context, generated.ids, generated.mask)
    mis = disc(context.index(perm), human.ids, human.mask)
    loss = (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
            + F.binary_cross_entropy_with_logits(mis, torch.zeros_like(mis)))
    terms = {"acc_real": float((real > 0).float().mean()), "acc_fake": float((fake < 0).float().mean()),
             "acc_mismatch": float((mis < 0).float().mean())}
    return loss, terms
