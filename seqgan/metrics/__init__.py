"""Evaluation metrics: BLEU / self-BLEU (sacrebleu), distinct-n and length for generated text."""

from seqgan.metrics.text import corpus_bleu, distinct_n, mean_length, self_bleu

__all__ = ["corpus_bleu", "distinct_n", "mean_length", "self_bleu"]
