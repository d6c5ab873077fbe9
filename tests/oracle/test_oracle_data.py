import pytest
import torch

from seqgan.oracle.data import build_oracle, load_data, load_oracle, sample_sequences, save_data
from seqgan.errors import DataError
from seqgan.models.lstm import LSTMShape

SHAPE = LSTMShape(vocab_size=200, embed_dim=8, hidden_dim=8, seq_len=12)


def test_oracle_is_deterministic_given_its_seed_and_parameters_are_standard_normal():
    a, b, c = build_oracle(SHAPE, 7), build_oracle(SHAPE, 7), build_oracle(SHAPE, 8)
    for (name, pa), (_, pb), (_, pc) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        assert torch.equal(pa, pb), name
        assert not torch.equal(pa, pc), name
    flat = torch.cat([p.flatten() for p in a.parameters()])
    assert abs(float(flat.mean())) < 0.1 and abs(float(flat.std()) - 1) < 0.1
    assert torch.equal(sample_sequences(a, 50, seed=3), sample_sequences(b, 50, seed=3))
    assert not torch.equal(sample_sequences(a, 50, seed=3), sample_sequences(a, 50, seed=4))


def test_oracle_and_data_round_trip(tmp_path):
    oracle = build_oracle(SHAPE, 1)
    oracle.save_pretrained(tmp_path / "oracle")
    again = load_oracle(tmp_path / "oracle")
    data = sample_sequences(oracle, 30, batch_size=7, seed=0)
    assert data.shape == (30, 12) and int(data.max()) < 200
    assert torch.equal(sample_sequences(again, 30, batch_size=7, seed=0), data)
    save_data(tmp_path / "d.safetensors", data[:20], data[20:])
    train, test, valid = load_data(tmp_path / "d.safetensors", vocab_size=200)
    assert valid.shape == (0, train.shape[1])
    assert torch.equal(train, data[:20]) and torch.equal(test, data[20:])
    with pytest.raises(DataError, match="outside"):
        load_data(tmp_path / "d.safetensors", vocab_size=5)
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(DataError, match="corrupt"):
        load_data(tmp_path / "bad.safetensors")
    with pytest.raises(DataError, match="not found"):
        load_data(tmp_path / "missing.safetensors")
