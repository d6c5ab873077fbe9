"""Text-quality and diversity metrics over generated replies (BLEU by sacrebleu; nothing reimplemented).

All functions take plain strings. ``distinct_n`` and ``mean_length`` split on whitespace after lower-casing;
BLEU uses sacrebleu's default ``13a`` tokenizer. Scores are on sacrebleu's 0-100 scale.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from sacrebleu.metrics import BLEU


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU-4 (0-100) of ``hypotheses`` against one reference each (``references[i]`` for ``hypotheses[i]``)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"corpus_bleu: {len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        return 0.0
    return float(BLEU().corpus_score(list(hypotheses), [list(references)]).score)


def self_bleu(texts: Sequence[str], max_texts: int = 500, seed: int = 0) -> float:
    """Mean sentence BLEU-4 (0-100) of each text against all the others as references; higher = less diverse.

    The cost grows with the square of the number of texts (about 8 s for 500 short replies on one CPU core), so
    when there are more than ``max_texts`` a random subset of that size (drawn with ``seed``) is scored, and each of
    its texts is compared with the other texts of the subset. Sentence BLEU uses sacrebleu's effective n-gram order
    and its default ``exp`` smoothing. Fewer than two texts give 0.
    """
    texts = list(texts)
    if len(texts) > max_texts:
        texts = random.Random(seed).sample(texts, max_texts)
    if len(texts) < 2:
        return 0.0
    bleu = BLEU(effective_order=True)
    scores = [bleu.sentence_score(t, texts[:i] + texts[i + 1 :]).score for i, t in enumerate(texts)]
    return float(sum(scores) / len(scores))


def _tokens(text: str) -> list[str]:
    return text.lower().split()


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique n-grams / total n-grams over the whole set (n-grams do not cross texts); 0 when there are none."""
    if n < 1:
        raise ValueError(f"distinct_n: n must be >= 1, got {n}")
    grams = []
    for text in texts:
        toks = _tokens(text)
        grams.extend(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))
    return len(set(grams)) / len(grams) if grams else 0.0


def mean_length(texts: Sequence[str]) -> float:
    """Mean number of whitespace tokens per text (0 for no texts)."""
    texts = list(texts)
    return sum(len(_tokens(t)) for t in texts) / len(texts) if texts else 0.0
