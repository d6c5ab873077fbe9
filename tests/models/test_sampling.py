"""The shared inverse-CDF sampler: right distribution, zero-probability tokens never drawn, greedy path."""

import pytest
import torch
from scipy.stats import chisquare

from seqgan.models.sampling import inverse_cdf_sample, sample_logits


def test_inverse_cdf_matches_known_probabilities():
    probs = torch.tensor([[0.1, 0.2, 0.0, 0.3, 0.4], [0.7, 0.0, 0.1, 0.1, 0.1]])
    n = 20_000
    draws = inverse_cdf_sample(probs, n)
    assert draws.shape == (2, n) and draws.dtype == torch.long
    for row in range(2):
        counts = torch.bincount(draws[row], minlength=5)
        assert counts[probs[row] == 0].sum() == 0, "zero-probability tokens are never drawn"
        keep = probs[row] > 0
        pvalue = chisquare(counts[keep].numpy(), (probs[row][keep] * n).numpy()).pvalue
        assert pvalue > 1e-3


def test_unnormalised_rows_and_last_token():
    probs = torch.tensor([[0.0, 0.0, 3.0]])  # all mass on the last token, not normalised
    assert (inverse_cdf_sample(probs, 1000) == 2).all()


def test_sample_logits_temperature_and_greedy():
    logits = torch.tensor([[0.0, 1.0, 2.0], [3.0, 0.0, 0.0]])
    tok, lp = sample_logits(logits, greedy=True)
    assert tok.squeeze(1).tolist() == [2, 0]
    torch.testing.assert_close(lp.squeeze(1), torch.log_softmax(logits, -1).max(-1).values)
    torch.manual_seed(0)
    tok, lp = sample_logits(logits, temperature=0.5, num_samples=4000)
    expected = torch.log_softmax(logits / 0.5, -1)
    torch.testing.assert_close(lp, expected.gather(1, tok))
    freq = torch.bincount(tok[0], minlength=3).float() / 4000
    torch.testing.assert_close(freq, expected[0].exp(), atol=0.03, rtol=0)
    with pytest.raises(ValueError):
        sample_logits(logits, temperature=0.0)
