"""Text-quality and diversity metrics over generated replies (BLEU by sacrebleu; nothing reimplemented).

All functions take plain strings. ``distinct_n`` and ``mean_length`` split on whitespace after lower-casing;
BLEU uses sacrebleu's default ``13a`` tokenizer. Scores are on sacrebleu's 0-100 scale.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence

from sacrebleu.metrics import BLEU
from sacrebleu.metrics.helpers import extract_all_word_ngrams


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU-4 (0-100) of ``hypotheses`` against one reference each (``references[i]`` for ``hypotheses[i]``)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"corpus_bleu: {len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        return 0.0
    return float(BLEU().corpus_score(list(hypotheses), [list(references)]).score)


def self_bleu(texts: Sequence[str], max_texts: int = 10_000, seed: int = 0) -> float:
    """Mean sentence BLEU-4 (0-100) of each text against all the others as references; higher = less diverse.

    Exactly sacrebleu's ``BLEU(effective_order=True).sentence_score(text, others)`` averaged over the texts
    (its ``13a`` tokenizer, effective n-gram order, ``exp`` smoothing, closest reference length), computed in one
    pass: each text's n-grams are counted once, and the highest count of an n-gram among the *other* texts is read
    from the top two counts over all texts. That is linear in the number of texts where calling sacrebleu once per
    text re-reads all the others (quadratic: ~230x slower for 1,000 replies, ``benchmarks/self_bleu.py``). Above
    ``max_texts`` texts a random subset of that size (drawn with ``seed``) is scored. Fewer than two texts give 0.
    """
    texts = list(texts)
    if len(texts) > max_texts:
        texts = random.Random(seed).sample(texts, max_texts)
    if len(texts) < 2:
        return 0.0
    bleu = BLEU(effective_order=True)
    order = bleu.max_ngram_order
    counted = [extract_all_word_ngrams(bleu.tokenizer(t.rstrip()), 1, order) for t in texts]
    top: dict[tuple, list[int]] = {}  # n-gram -> [highest count, texts with it, second highest count]
    for grams, _ in counted:
        for gram, c in grams.items():
            t = top.setdefault(gram, [0, 0, 0])
            if c > t[0]:
                t[:] = [c, 1, t[0]]
            elif c == t[0]:
                t[1] += 1
            elif c > t[2]:
                t[2] = c
    lengths = sorted(n for _, n in counted)
    total = 0.0
    for grams, hyp_len in counted:
        correct, seen = [0] * order, [0] * order
        for gram, c in grams.items():
            best, with_best, second = top[gram]
            others = best if c < best or with_best > 1 else second
            seen[len(gram) - 1] += c
            correct[len(gram) - 1] += min(c, others)
        total += BLEU.compute_bleu(correct, seen, hyp_len, _closest_other_length(lengths, hyp_len),
                                   smooth_method=bleu.smooth_method, smooth_value=bleu.smooth_value,
                                   effective_order=True, max_ngram_order=order).score
    return float(total / len(texts))


def _closest_other_length(lengths: list[int], own: int) -> int:
    """sacrebleu's closest reference length (ties: the shorter) among ``lengths`` (sorted, holding ``own`` once
    for the text itself) without that one occurrence."""
    lo, hi = bisect.bisect_left(lengths, own), bisect.bisect_right(lengths, own)
    if hi - lo > 1:
        return own
    below = lengths[lo - 1] if lo > 0 else None
    above = lengths[hi] if hi < len(lengths) else None
    if above is None or (below is not None and own - below <= above - own):
        return below
    return above


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
