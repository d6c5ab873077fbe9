"""Evaluation metrics: BLEU / self-BLEU (sacrebleu), distinct-n and length for generated text; the held-out NLL of
human replies; the continuous route's cheating score; adversarial success (AdverSuc)."""

from seqgan.metrics.cheating import cheating_score
from seqgan.metrics.text import corpus_bleu, distinct_n, mean_length, self_bleu

__all__ = ["cheating_score", "corpus_bleu", "distinct_n", "mean_length", "self_bleu"]
