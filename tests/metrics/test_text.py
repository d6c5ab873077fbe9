"""Text metrics against hand-computed values."""

import math
import random

import pytest

from seqgan.metrics.text import corpus_bleu, distinct_n, mean_length, self_bleu


def test_corpus_bleu_hand_computed():
    # clipped n-gram precisions 5/6, 3/5, 2/4, 1/3; equal lengths so no brevity penalty
    expected = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert corpus_bleu(["the cat sat on the mat"], ["the cat sat on a mat"]) == pytest.approx(expected, abs=1e-6)
    assert corpus_bleu(["a b c d e"], ["a b c d e"]) == pytest.approx(100.0)
    assert corpus_bleu(["a b c d"], ["e f g h"]) == 0.0
    assert corpus_bleu([], []) == 0.0
    with pytest.raises(ValueError):
        corpus_bleu(["a"], [])


def test_corpus_bleu_brevity_penalty():
    # hypothesis of 4 tokens, reference of 6: all precisions 1, BP = exp(1 - 6/4)
    assert corpus_bleu(["a b c d"], ["a b c d e f"]) == pytest.approx(100 * math.exp(1 - 6 / 4), abs=1e-6)


def test_self_bleu_hand_computed():
    # two identical texts score 100 against each other; the third matches 2/4 unigrams, 1/3 bigrams and no longer
    # n-grams, which sacrebleu's exp smoothing turns into 100/(2*2) and 100/(4*1)
    third = (100 * 2 / 4 * 100 * 1 / 3 * 100 / 4 * 100 / 4) ** 0.25
    assert self_bleu(["a b c d", "a b c d", "a b x y"]) == pytest.approx((100 + 100 + third) / 3, abs=1e-6)
    # no shared unigram at all scores 0
    assert self_bleu(["a b c d", "e f g h"]) == 0.0
    assert self_bleu(["same words here again"] * 4) == pytest.approx(100.0)
    assert self_bleu(["only one"]) == 0.0


def test_self_bleu_equals_sacrebleu_sentence_scores_against_all_others():
    from sacrebleu.metrics import BLEU

    rng = random.Random(0)
    words = ["i", "am", "not", "sure", "yes", "the", "dog", "."]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 9))) for _ in range(80)]
    texts += ["i am not sure ."] * 3 + ["the dog the dog the dog", "The, dog!", ""]  # ties, repeats, empty
    bleu = BLEU(effective_order=True)
    loop = [bleu.sentence_score(t, texts[:i] + texts[i + 1:]).score for i, t in enumerate(texts)]
    assert self_bleu(texts) == pytest.approx(sum(loop) / len(loop), abs=1e-9)


def test_self_bleu_subsamples_reproducibly():
    texts = [f"w{i} w{i + 1} w{i + 2} common" for i in range(60)]
    a = self_bleu(texts, max_texts=10, seed=1)
    assert a == self_bleu(texts, max_texts=10, seed=1)
    assert a != self_bleu(texts, max_texts=10, seed=2)
    assert self_bleu(["x y z w"] * 3 + texts[:3], max_texts=2, seed=0) >= 0


def test_distinct_n_hand_computed():
    texts = ["a b a b", "A b c"]
    assert distinct_n(texts, 1) == pytest.approx(3 / 7)  # a b a b a b c
    assert distinct_n(texts, 2) == pytest.approx(3 / 5)  # ab ba ab | ab bc
    assert distinct_n(texts, 3) == pytest.approx(1.0)  # aba bab | abc
    assert distinct_n(texts, 5) == 0.0
    assert distinct_n([], 1) == 0.0
    with pytest.raises(ValueError):
        distinct_n(texts, 0)


def test_mean_length():
    assert mean_length(["a b a b", "A b c"]) == pytest.approx(3.5)
    assert mean_length(["", "one"]) == pytest.approx(0.5)
    assert mean_length([]) == 0.0
