"""The reference oracle file (LantaoYu/SeqGAN save/target_params_py3.pkl): its layout, the reference's sampling
equations, and files that are not what they claim to be. The tests write small files of the same layout (the real
one is not shipped: the repository it comes from has no licence)."""

import builtins
import os
import pickle

import numpy as np
import pytest
import torch

from seqgan import cli
from seqgan.errors import DataError
from seqgan.models.lstm import LSTMShape
from seqgan.models.policy import Context
from seqgan.oracle.reference import expected_shapes, load_reference_oracle

SHAPE = LSTMShape(vocab_size=40, embed_dim=6, hidden_dim=5, seq_len=7)


def reference_arrays(shape: LSTMShape, seed: int = 0) -> list[np.ndarray]:
    """15 float32 arrays of the reference layout, every entry ~ N(0, 1) like the reference's oracle."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(dims).astype(np.float32) for _, dims in expected_shapes(shape)]


def write_pickle(path, obj) -> str:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=3)  # the protocol of target_params_py3.pkl
    return str(path)


def reference_logprobs(arrays: list[np.ndarray], ids: np.ndarray) -> np.ndarray:
    """log p(x_t | x_<t) of (B, T) ids by the reference code's equations (target_lstm.py), in float64 numpy:
    h = c = 0, first input E[0], gates sigmoid(x W + h U + b) in the order i, f, o, candidate c."""
    emb, (Wi, Ui, bi, Wf, Uf, bf, Wo, Uo, bo, Wc, Uc, bc), Wout, bout = (
        arrays[0], arrays[1:13], arrays[13], arrays[14])
    B, T = ids.shape
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    h, c = np.zeros((B, Wi.shape[1])), np.zeros((B, Wi.shape[1]))
    x = np.repeat(emb[0:1].astype(np.float64), B, 0)
    out = np.zeros((B, T))
    for t in range(T):
        i, f, o = sig(x @ Wi + h @ Ui + bi), sig(x @ Wf + h @ Uf + bf), sig(x @ Wo + h @ Uo + bo)
        c = f * c + i * np.tanh(x @ Wc + h @ Uc + bc)
        h = o * np.tanh(c)
        logits = h @ Wout + bout
        logp = logits - logits.max(1, keepdims=True)
        logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
        out[:, t] = logp[np.arange(B), ids[:, t]]
        x = emb[ids[:, t]].astype(np.float64)
    return out


def test_the_loaded_oracle_follows_the_reference_equations(tmp_path):
    arrays = reference_arrays(SHAPE)
    oracle = load_reference_oracle(write_pickle(tmp_path / "p.pkl", arrays), SHAPE)
    assert not any(p.requires_grad for p in oracle.parameters()) and not oracle.training
    torch.manual_seed(3)
    samples = oracle.sample(Context.empty(64))  # (B, T), with the log-probabilities of the sampled tokens
    want = reference_logprobs(arrays, samples.ids.numpy())
    got = oracle.score(Context.empty(64), samples.ids, samples.mask).double().numpy()
    np.testing.assert_allclose(got, want, atol=2e-5)
    np.testing.assert_allclose(samples.logprobs.double().numpy(), want, atol=2e-5)  # sampled from the same law


def test_first_tokens_are_drawn_from_the_reference_distribution(tmp_path):
    arrays = reference_arrays(SHAPE, seed=1)
    oracle = load_reference_oracle(write_pickle(tmp_path / "p.pkl", arrays))
    assert oracle.shape == LSTMShape(40, 6, 5, 20)  # sizes read from the file; the reference's length 20
    n = 20000
    first = oracle.sample(Context.empty(n), max_len=1).ids[:, 0]
    probs = np.exp(reference_logprobs(arrays, np.arange(SHAPE.vocab_size)[:, None])[:, 0])  # p(x_1 = v)
    freq = np.bincount(first.numpy(), minlength=SHAPE.vocab_size) / n
    assert np.abs(freq - probs).max() < 4 * np.sqrt(probs.max() / n) + 1e-3


@pytest.mark.parametrize("content, message", [
    ({"embedding": np.zeros((3, 2), np.float32)}, "not the SeqGAN oracle layout .* found a dict"),
    ([np.zeros((40, 6), np.float32)] * 14, "not the SeqGAN oracle layout .* found a list of 14 items"),
    ("hello", "not the SeqGAN oracle layout"),
    ([np.zeros((40, 6), np.int64)] + [np.zeros(1, np.float32)] * 14, "item 0 is ndarray of int64, expected a float"),
    ([[0.0] * 6] * 15, "item 0 is list, expected a float array"),
])
def test_files_that_are_not_the_oracle_layout(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        load_reference_oracle(write_pickle(tmp_path / "p.pkl", content))


def test_wrong_shapes_name_the_array(tmp_path):
    arrays = reference_arrays(SHAPE)
    arrays[4] = np.zeros((6, 4), np.float32)  # W_f (E, H) with the wrong H
    with pytest.raises(DataError, match=r"W_f \(item 4\) has shape \(6, 4\), expected \(6, 5\)"):
        load_reference_oracle(write_pickle(tmp_path / "p.pkl", arrays))
    path = write_pickle(tmp_path / "ok.pkl", reference_arrays(SHAPE))
    with pytest.raises(DataError, match=r"embedding \(item 0\) has shape \(40, 6\), expected \(50, 6\)"):
        load_reference_oracle(path, LSTMShape(50, 6, 5, 7))  # the config's sizes disagree with the file


class _Exploit:
    """Unpickling this object would call ``builtins.open(target, "w")``: a file appears if any code runs."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return builtins.open, (self.target, "w")


class _System:
    def __reduce__(self):
        return os.system, ("touch should-never-exist",)


def test_a_pickle_that_would_run_code_is_refused_before_anything_runs(tmp_path):
    target = tmp_path / "created_by_the_pickle"
    for content, name in [(_Exploit(str(target)), "io.open"),
                          ([*reference_arrays(SHAPE)[:14], _Exploit(str(target))], "io.open"),
                          (_System(), "posix.system")]:
        path = write_pickle(tmp_path / "evil.pkl", content)
        with pytest.raises(DataError, match=f"refused: it names {name}; only numpy arrays are accepted"):
            load_reference_oracle(path)
        assert not target.exists()
    assert not (tmp_path / "should-never-exist").exists() and not os.path.exists("should-never-exist")


def test_object_arrays_and_array_subclasses_are_refused(tmp_path):
    with pytest.raises(DataError, match="dtype 'O8'"):
        load_reference_oracle(write_pickle(tmp_path / "obj.pkl", [np.array([1, "a"], dtype=object)]))
    with pytest.raises(DataError, match="names numpy.ma.core"):
        load_reference_oracle(write_pickle(tmp_path / "ma.pkl", [np.ma.masked_array([1.0, 2.0])]))


def test_missing_and_truncated_files(tmp_path):
    with pytest.raises(DataError, match="oracle parameter file not found .*LantaoYu/SeqGAN"):
        load_reference_oracle(tmp_path / "nope.pkl")
    data = pickle.dumps(reference_arrays(SHAPE), protocol=3)
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="not a readable pickle of numpy arrays"):
        load_reference_oracle(tmp_path / "cut.pkl")


def test_the_cli_reports_a_bad_oracle_file_in_one_line(tmp_path, capsys):
    target = tmp_path / "created_by_the_pickle"
    evil = write_pickle(tmp_path / "evil.pkl", _Exploit(str(target)))
    status = cli.main(["-q", "oracle", "--recipe", "recipes/oracle_tiny.yaml", f"run_dir={tmp_path / 'run'}",
                       f"data.oracle_params={evil}", "rows=[random]"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert status == 2 and len(err) == 1, err
    assert err[0].startswith("seqgan: error: ") and "evil.pkl: refused" in err[0]
    assert not target.exists()


def test_the_benchmark_runs_on_a_reference_file(tmp_path):
    """The tiny recipe with a reference-layout oracle: the run keeps its own safetensors copy of the oracle."""
    from seqgan.config import load_config
    from seqgan.oracle.benchmark import run_oracle_benchmark
    from seqgan.oracle.config import OracleConfig
    from seqgan.oracle.data import load_oracle

    shape = LSTMShape(50, 8, 16, 8)  # the tiny recipe's sizes
    arrays = reference_arrays(shape, seed=2)
    path = write_pickle(tmp_path / "p.pkl", arrays)
    cfg = load_config(OracleConfig, "recipes/oracle_tiny.yaml",
                      [f"run_dir={tmp_path / 'run'}", f"data.oracle_params={path}", "rows=[random,mle]",
                       "frontier.temperatures=[]"])
    result = run_oracle_benchmark(cfg)
    saved = load_oracle(tmp_path / "run" / "oracle")
    ids = torch.randint(0, 50, (4, 8))
    np.testing.assert_allclose(saved.score(Context.empty(4), ids, torch.ones_like(ids)).double().numpy(),
                               reference_logprobs(arrays, ids.numpy()), atol=2e-5)
    assert result["rows"][1]["nll_oracle"] < result["rows"][0]["nll_oracle"]


def test_the_cpu_schedule_keeps_every_count_of_the_reference_protocol():
    from seqgan.config import load_config
    from seqgan.oracle.config import OracleConfig

    ref = load_config(OracleConfig, "recipes/oracle_reference.yaml")
    cpu = load_config(OracleConfig, "recipes/oracle_reference_cpu.yaml")
    for cfg in (ref, cpu):
        cfg.validate()
        assert (cfg.data.n_train, cfg.data.n_eval, cfg.data.oracle_params) == (9984, 9984, "data/target_params_py3.pkl")
        assert (cfg.mle.epochs, cfg.mle.patience, cfg.mle.shuffle, cfg.mle.init, cfg.mle.lr) == (120, 0, False, "normal",
                                                                                                  0.01)
        assert (cfg.disc.composition, cfg.disc.negatives, cfg.disc.pretrain_refreshes, cfg.disc.epochs,
                cfg.disc.batch_size, cfg.disc.lr) == ("mixed", 9984, 50, 3, 64, 1e-4)
        assert (cfg.adv.rollouts, cfg.adv.rollout_rate, cfg.adv.d_refreshes, cfg.adv.g_steps, cfg.adv.pg_reduction,
                cfg.adv.fresh_optimizer) == (16, 0.0, 5, 1, "sum", True)
    assert ref.adv.rounds == 200 and len(ref.disc.model.num_filters) == 12 and sum(ref.disc.model.num_filters) == 1720
    assert cpu.adv.rounds < 200 and cpu.disc.model.num_filters == [16] * 6


def test_mixed_composition_cuts_one_shuffled_pool_into_full_batches(monkeypatch):
    """The reference's D epoch: every real row and every negative once, in batches of mixed labels, last partial
    batch dropped (9,984 + 9,984 rows -> 312 steps of 64)."""
    from seqgan.models.discriminator import Discriminator, DiscriminatorConfig
    from seqgan.models.lstm import LSTMPolicy
    from seqgan.oracle import steps

    torch.manual_seed(0)
    disc = Discriminator(DiscriminatorConfig(filter_sizes=[1, 2], num_filters=[4, 4], embed_dim=8), 40, 0,
                         conditional=False)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3)
    seen = []
    real_forward = disc.forward

    def spy(context, reply, mask):
        seen.append(reply.clone())
        return real_forward(context, reply, mask)

    monkeypatch.setattr(disc, "forward", spy)
    real = torch.randint(0, 20, (100, 7))  # real rows use tokens < 20; the policy below samples 20..39 only
    policy = LSTMPolicy(LSTMShape(40, 6, 5, 7))
    with torch.no_grad():
        policy.head.bias[:20] = -1e4
    terms = steps.train_discriminator(disc, opt, policy, real, refreshes=1, epochs=2, negatives=60, batch_size=32,
                                      composition="mixed")
    assert len(seen) == 2 * (160 // 32)  # 5 full batches per epoch, the last 0 rows dropped
    batches = torch.stack(seen)  # (10, 32, 7)
    is_real = (batches < 20).all(-1)  # (10, 32)
    assert all(0 < int(b.sum()) < 32 for b in is_real)  # every batch mixes both kinds
    assert int(is_real[:5].sum()) == 100 and int((~is_real[:5]).sum()) == 60  # each row once per epoch
    assert set(terms) == {"loss", "acc_real", "acc_fake"}


def test_python2_pickles_of_the_layout_load_too(tmp_path):
    """Protocol-2 pickles (the reference also has a Python 2 file, save/target_params.pkl, with the same arrays)."""
    arrays = reference_arrays(SHAPE, seed=4)
    path = tmp_path / "py2.pkl"
    with open(path, "wb") as f:
        pickle.dump(arrays, f, protocol=2)
    data = path.read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")  # what numpy 1.x wrote
    path.write_bytes(data)
    oracle = load_reference_oracle(path, SHAPE)
    ids = torch.randint(0, SHAPE.vocab_size, (3, SHAPE.seq_len))
    np.testing.assert_allclose(oracle.score(Context.empty(3), ids, torch.ones_like(ids)).double().numpy(),
                               reference_logprobs(arrays, ids.numpy()), atol=2e-5)
