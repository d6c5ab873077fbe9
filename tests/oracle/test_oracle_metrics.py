import math

import torch

from seqgan.oracle.data import build_oracle, sample_sequences
from seqgan.oracle.metrics import mean_nll, nll_oracle, nll_test, oracle_entropy
from seqgan.models.lstm import LSTMPolicy, LSTMShape

SHAPE = LSTMShape(vocab_size=300, embed_dim=8, hidden_dim=8, seq_len=10)


def test_oracle_entropy_matches_exact_first_token_entropy_and_beats_a_random_model():
    torch.manual_seed(0)
    oracle = build_oracle(SHAPE, 3)
    h = oracle_entropy(oracle, n_samples=2000)
    # the first token's distribution is known exactly: its entropy bounds the estimate of position 1
    with torch.no_grad():
        logits, _ = oracle._step(oracle.start.expand(1, -1), None)
        p = torch.softmax(logits[0], -1)
        h1 = float(-(p * p.log()).sum())
    samples = sample_sequences(oracle, 4000, seed=1)
    first = -torch.log_softmax(oracle.logits(samples)[:, 0], -1).gather(1, samples[:, :1]).mean()
    assert abs(float(first) - h1) < 0.15
    assert 0 < h < math.log(SHAPE.vocab_size)
    random_model = LSTMPolicy(SHAPE)
    assert nll_oracle(oracle, random_model, n_samples=500) > h + 1.0
    # the oracle is the best model of its own data: NLL-test of the oracle equals its entropy, a random model is ~log V
    test = sample_sequences(oracle, 1000, seed=2)
    assert abs(nll_test(oracle, test) - h) < 0.2
    assert abs(nll_test(random_model, test) - math.log(SHAPE.vocab_size)) < 0.3


def test_mean_nll_equals_hand_computed_value():
    torch.manual_seed(0)
    model = LSTMPolicy(SHAPE)
    ids = torch.randint(0, SHAPE.vocab_size, (5, SHAPE.seq_len))
    with torch.no_grad():
        logp = torch.log_softmax(model.logits(ids), -1).gather(-1, ids[..., None]).squeeze(-1)
    assert abs(mean_nll(model, ids, batch_size=2) + float(logp.mean())) < 1e-5
