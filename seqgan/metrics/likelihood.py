"""Held-out likelihood of human replies under a generator."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from seqgan.models.policy import Context, Policy, eval_mode


@torch.no_grad()
def held_out_nll(policy: Policy, batches: Iterable[dict[str, torch.Tensor]], device="cpu") -> float:
    """Mean per-token NLL (nats) of the human replies of collated ``batches`` (``context_ids``/``context_mask``
    (B, S), ``reply_ids``/``reply_mask`` (B, T)) under ``policy``, in eval mode without gradient."""
    total, count = 0.0, 0
    with eval_mode(policy):
        for batch in batches:
            context = Context(batch["context_ids"].to(device), batch["context_mask"].to(device))
            mask = batch["reply_mask"].to(device)
            total += float(policy.sequence_nll(context, batch["reply_ids"].to(device), mask).sum())
            count += int(mask.sum())
    return total / max(count, 1)
