"""Held-out evaluation of a generator: NLL / perplexity, BLEU of decoded replies, distinct-n, length, samples."""

from __future__ import annotations

import math
from typing import Any

import torch

from seqgan.errors import ConfigError


def held_out_pairs(cfg, tokenizer, splits, split: str = "valid", num: int | None = None):
    """The first ``num`` (default ``cfg.eval.num_pairs``) pairs of the ``split`` ("valid"/"test") of ``splits``
    (:func:`seqgan.data.prepare_data` output for the run's ``cfg.data``), encoded with the run's tokenizer."""
    from seqgan.data import encode_pairs

    if split not in ("valid", "test"):
        raise ConfigError(f"split: expected 'valid' or 'test', got {split!r}")
    ds = getattr(splits, split)
    n = min(num or cfg.eval.num_pairs, len(ds))
    return encode_pairs(ds.select(range(n)), tokenizer, cfg.data)


@torch.no_grad()
def evaluate_generator(policy, tokenizer, data: Any, eval_cfg, device: Any = None, *, split: str = "valid",
                       num: int | None = None) -> dict:
    """Evaluate ``policy`` on the first ``num`` (default ``eval_cfg.num_pairs``) pairs of ``data``, an encoded
    dataset (columns ``context``, ``reply``, ``context_ids``, ``reply_ids``; :func:`held_out_pairs`) of the held-out
    ``split``. ``device`` may be a torch device or an ``accelerate.Accelerator`` (default: the policy's device).

    Returns ``nll`` (mean per reply token), ``ppl`` = exp(nll), ``context_gain`` (how much the context helps: the
    NLL of the same human replies under another pair's context minus ``nll``, in nats per token; about 0 means the
    generator ignores its context), ``bleu`` (sacrebleu corpus BLEU of decoded replies
    against the human replies), ``distinct1``/``distinct2``, ``mean_len`` (words), ``num_pairs``, ``split``,
    ``tag`` (e.g. ``valid500``; metric files name BLEU ``bleu_<tag>``) and ``samples`` (list of
    ``{context, reply, human}``). The global RNGs are left untouched.
    """
    from seqgan.data import decode_ids, make_loader, to_context, to_replies
    from seqgan.generate import DecodingOptions
    from seqgan.metrics.text import corpus_bleu, distinct_n, mean_length

    data = data.select(range(min(num or eval_cfg.num_pairs, len(data))))
    if len(data) == 0:
        raise ConfigError(f"{split} split: no pairs to evaluate on")
    if device is not None and hasattr(device, "device") and not isinstance(device, torch.device):
        device = device.device  # an Accelerator
    if device is not None:
        policy = policy.to(device)

    # the eval section's decoding, without the chat defaults' top-p and n-gram blocking (plain greedy / beam /
    # temperature sampling, so BLEU and distinct-n measure the model itself)
    decoding = DecodingOptions(mode=eval_cfg.decoding, temperature=eval_cfg.temperature, top_k=0, top_p=1.0,
                               beams=eval_cfg.num_beams, no_repeat_ngram=0)
    was_training = policy.training
    policy.eval()
    total_nll, total_tokens = 0.0, 0
    wrong_nll, wrong_tokens = 0.0, 0
    hyps: list[str] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(eval_cfg.seed)
        for batch in make_loader(data, tokenizer.pad_token_id, eval_cfg.batch_size, shuffle=False):
            context, gold = to_context(batch), to_replies(batch)
            total_nll += float(policy.sequence_nll(context, gold.ids, gold.mask).sum())
            total_tokens += int(gold.mask.sum())
            if context.batch_size > 1:  # the same replies under the neighbouring pair's context
                other = context.index(torch.roll(torch.arange(context.batch_size), 1))
                wrong_nll += float(policy.sequence_nll(other, gold.ids, gold.mask).sum())
                wrong_tokens += int(gold.mask.sum())
            out = policy.generate_replies(context, **decoding.generate_kwargs())
            hyps.extend(decode_ids(tokenizer, out.ids, out.mask))
    policy.train(was_training)

    refs = [str(r) for r in data["reply"]]
    nll = total_nll / max(total_tokens, 1)
    contexts = data["context"]
    samples = [{"context": list(c) if not isinstance(c, str) else [c], "reply": h, "human": r}
               for c, h, r in list(zip(contexts, hyps, refs))[: eval_cfg.num_samples]]
    return {
        "split": split, "num_pairs": len(data), "tag": f"{split}{len(data)}",
        "nll": nll, "ppl": math.exp(min(nll, 50.0)),
        "context_gain": wrong_nll / wrong_tokens - nll if wrong_tokens else float("nan"),
        "bleu": corpus_bleu(hyps, refs), "distinct1": distinct_n(hyps, 1), "distinct2": distinct_n(hyps, 2),
        "mean_len": mean_length(hyps), "samples": samples,
    }


def format_samples(samples: list[dict]) -> str:
    """Human-readable block of sample replies (context turns, model reply, human reply)."""
    lines = []
    for s in samples:
        for turn in s["context"]:
            lines.append(f"  > {turn}")
        lines.append(f"  model: {s['reply']}")
        lines.append(f"  human: {s['human']}")
        lines.append("")
    return "\n".join(lines)
