"""MLE's temperature frontier: tempered metrics, the envelope and distances, early stopping, the CLI outputs."""

import json

import pytest
import torch

from seqgan.cli import main
from seqgan.config import load_config
from seqgan.models.lstm import LSTMPolicy, LSTMShape
from seqgan.oracle.benchmark import OracleBenchmark
from seqgan.oracle.config import OracleConfig
from seqgan.oracle.data import build_oracle, sample_sequences
from seqgan.oracle.frontier import describe_distance, frontier_at, frontier_distance, temperature_curve
from seqgan.oracle.metrics import mean_nll, nll_oracle, nll_test

pytestmark = pytest.mark.usefixtures("one_thread")
SHAPE = LSTMShape(vocab_size=100, embed_dim=8, hidden_dim=16, seq_len=8)
# a U-shaped curve as MLE traces it: sharpening (t < 1) lowers NLL-oracle and raises NLL-test, t > 1 raises both
POINTS = [{"temperature": 0.5, "nll_test": 9.0, "nll_oracle": 7.0},
          {"temperature": 0.8, "nll_test": 8.0, "nll_oracle": 8.0},
          {"temperature": 1.0, "nll_test": 7.5, "nll_oracle": 9.0},
          {"temperature": 1.2, "nll_test": 7.8, "nll_oracle": 10.0}]


def test_frontier_is_the_lower_left_envelope_of_the_temperature_curve():
    assert frontier_at(POINTS, 7.4) is None  # better NLL-test than MLE at any temperature
    assert frontier_at(POINTS, 7.5) == 9.0  # MLE itself
    assert frontier_at(POINTS, 7.75) == pytest.approx(8.5)  # on the 0.8 .. 1.0 segment, not the t > 1 branch
    assert frontier_at(POINTS, 8.5) == pytest.approx(7.5)
    assert frontier_at(POINTS, 12.0) == 7.0  # past the sharpest point: the best NLL-oracle the curve reaches
    assert frontier_at(list(reversed(POINTS)), 7.75) == pytest.approx(8.5)  # order of the list does not matter
    assert frontier_at(POINTS[:1], 9.5) == 7.0 and frontier_at([], 9.5) is None
    below = frontier_distance(POINTS, {"nll_test": 8.5, "nll_oracle": 7.2})
    above = frontier_distance(POINTS, {"nll_test": 7.75, "nll_oracle": 8.6})
    assert below == pytest.approx(-0.3) and above == pytest.approx(0.1)
    assert frontier_distance(POINTS, {"nll_test": 7.0, "nll_oracle": 8.0}) is None
    assert describe_distance(below) == "below by 0.300" and describe_distance(above) == "above by 0.100"
    assert describe_distance(None) == "left of it"


def test_tempered_nll_test_is_the_hand_computed_value_and_minimal_at_t1_for_the_oracle():
    oracle = build_oracle(SHAPE, 4)
    test = sample_sequences(oracle, 3000, seed=1)
    with torch.no_grad():
        logp = torch.log_softmax(oracle.logits(test[:7]) / 0.6, -1).gather(-1, test[:7, :, None]).squeeze(-1)
    assert mean_nll(oracle, test[:7], batch_size=3, temperature=0.6) == pytest.approx(-float(logp.mean()), abs=1e-5)
    assert nll_test(oracle, test, temperature=1.0) == pytest.approx(mean_nll(oracle, test))
    # the oracle is the data distribution: among its tempered versions, t = 1 has the lowest cross-entropy
    at_1 = nll_test(oracle, test)
    assert nll_test(oracle, test, temperature=0.7) > at_1 + 0.05
    assert nll_test(oracle, test, temperature=1.4) > at_1 + 0.05
    # colder samples are likelier under the oracle
    torch.manual_seed(0)
    assert nll_oracle(oracle, oracle, 1000, temperature=0.5) < nll_oracle(oracle, oracle, 1000) - 0.3
    with pytest.raises(ValueError, match="temperature"):
        mean_nll(oracle, test[:2], temperature=0.0)


def test_temperature_curve_of_an_mle_model_trades_nll_test_for_nll_oracle():
    oracle = build_oracle(SHAPE, 4)
    torch.manual_seed(0)
    model = LSTMPolicy(SHAPE)
    from seqgan.oracle.benchmark import mle_steps
    mle_steps(model, torch.optim.Adam(model.parameters(), lr=0.01), sample_sequences(oracle, 1024, seed=2), 150,
              32, 5.0)
    test = sample_sequences(oracle, 500, seed=3)
    points = temperature_curve(oracle, model, test, [0.5, 0.8, 1.0], 500)
    assert [p["temperature"] for p in points] == [0.5, 0.8, 1.0]
    assert points[0]["nll_oracle"] < points[1]["nll_oracle"] < points[2]["nll_oracle"]
    assert points[0]["nll_test"] > points[1]["nll_test"] > points[2]["nll_test"]


def test_early_stopping_keeps_the_best_epoch_and_reports_the_epochs(tmp_path):
    # 64 training sequences and lr 0.05 overfit within a few epochs: held-out NLL turns up, training stops
    cfg = load_config(OracleConfig, "recipes/oracle_tiny.yaml",
                      [f"run_dir={tmp_path}", "data.n_train=64", "mle.batch_size=16", "mle.lr=0.05", "mle.epochs=60",
                       "mle.patience=3", "frontier.temperatures=[]"])
    bench = OracleBenchmark(cfg)
    bench.prepare()
    bench.pretrain()
    info = bench.progress["mle"]
    assert info["early_stopped"] and info["epochs_run"] < 60
    assert info["best_epoch"] == info["epochs_run"] - 3
    curve = dict(info["valid_curve"])
    assert len(curve) == info["epochs_run"] and min(curve.values()) == curve[info["best_epoch"]]
    assert mean_nll(bench.mle, bench.valid) == pytest.approx(info["best_nll_valid"], abs=1e-5)  # best weights back
    assert "frontier" not in bench.progress


def test_oracle_command_reports_every_row_against_the_frontier(tmp_path):
    run_dir = tmp_path / "run"
    assert main(["oracle", "--recipe", "recipes/oracle_tiny.yaml", f"run_dir={run_dir}",
                 "rows=[mle,seqgan,constant]"]) == 0
    result = json.loads((run_dir / "results.json").read_text())
    assert [p["temperature"] for p in result["frontier"]] == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2]
    assert result["mle"]["epochs_run"] >= 1 and result["mle"]["best_epoch"] >= 1
    t1 = next(p for p in result["frontier"] if p["temperature"] == 1.0)
    for row in result["rows"]:
        expected = frontier_distance(result["frontier"], row)
        assert row["frontier_distance"] == expected
    mle = result["rows"][0]
    assert mle["nll_test"] == pytest.approx(t1["nll_test"], abs=1e-6)  # the same model, the same test set
    md = (run_dir / "results.md").read_text()
    assert "vs MLE's temperature frontier" in md and "| NLL-oracle |" in md
    assert (run_dir / "frontier.png").stat().st_size > 1000


@pytest.mark.parametrize("override, message", [("frontier.temperatures=[0.5,0]", "frontier.temperatures"),
                                               ("mle.patience=-1", "mle.patience"),
                                               ("data.n_valid=0", "data.n_valid")])
def test_bad_frontier_and_early_stopping_settings_are_refused(tmp_path, capsys, override, message):
    assert main(["oracle", "--recipe", "recipes/oracle_tiny.yaml", f"run_dir={tmp_path}", override]) == 2
    assert message in capsys.readouterr().err


def test_seed_summary_has_the_frontier_distance_column():
    from seqgan.oracle.benchmark import summarize_seeds

    def result(seed, dist, left):
        return {"seed": seed, "rows": [
            {"row": "seqgan", "nll_oracle": 9.0, "nll_test": 7.9, "wall_s": 50.0, "curve": [], "frontier_distance": dist},
            {"row": "mle_continued", "nll_oracle": 9.2, "nll_test": 7.6, "wall_s": 9.0, "curve": [],
             "frontier_distance": left}]}

    table = summarize_seeds([result(0, 0.2, None), result(1, 0.4, 0.1)])
    assert "vs frontier mean ± std (< 0: below)" in table.splitlines()[0]
    assert "| seqgan | 9.000 | 9.000 | 9.000 ± 0.000 | 7.900 ± 0.000 | 50 | 0.300 ± 0.141 |" in table
    assert "| mle_continued |" in table and "left of it in 1 of 2 seeds |" in table


def test_frontier_plot_keeps_its_view_on_the_frontier_and_names_far_off_rows(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seqgan.oracle.frontier import plot_frontier

    points = [{"temperature": t, "nll_test": 7.6 + (1 - t) ** 2, "nll_oracle": 9.7 - 2 * (1 - t)}
              for t in (0.5, 0.8, 1.0, 1.2)]
    rows = [{"row": "random", "nll_test": 8.5, "nll_oracle": 11.4},
            {"row": "seqgan", "nll_test": 7.8, "nll_oracle": 9.6},
            {"row": "continuous", "nll_test": 11.8, "nll_oracle": 13.3}]
    figures = []
    savefig = plt.Figure.savefig
    monkeypatch.setattr(plt.Figure, "savefig", lambda fig, *a, **k: figures.append(fig) or savefig(fig, *a, **k))
    plot_frontier(tmp_path / "f.png", points, rows)
    ax = figures[0].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["MLE at temperature t", "seqgan", "continuous (off the plot: 11.80, 13.30)"]  # random left out
    assert ax.get_xlim()[1] < 9.0 and ax.get_ylim()[1] < 11.0  # the diverged row does not stretch the axes
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_seed_summary_details_and_rows_missing_from_a_seed():
    from seqgan.oracle.benchmark import mean_rows, summarize_seeds
    from seqgan.oracle.frontier import mean_curve

    def row(name, oracle, cpu):
        return {"row": name, "nll_oracle": oracle, "nll_test": 7.5, "wall_s": 10.0, "cpu_s": cpu, "curve": []}

    results = [{"seed": 0, "rows": [row("mle", 9.1, 100), row("seqgan", 8.9, 300), row("relgan", 8.0, 50)]},
               {"seed": 1, "rows": [row("mle", 9.0, 120), row("seqgan", 8.7, 500)]}]
    table = summarize_seeds(results, details=True)
    assert "| seqgan | 8.900 | 8.700 | 8.800 ± 0.141 | 7.500 ± 0.000 | 10 | -0.250 ± 0.071 | 400 |" in table
    assert "| relgan | 8.000 | - | 8.000 ± 0.000 | 7.500 ± 0.000 | 10 | -1.100 ± 0.000 | 50 |" in table
    assert [r["nll_oracle"] for r in mean_rows(results)] == [9.05, 8.8, 8.0]
    a = [{"temperature": 0.5, "nll_test": 9.0, "nll_oracle": 7.0},
         {"temperature": 1.0, "nll_test": 7.0, "nll_oracle": 9.0}]
    b = [{"temperature": 0.5, "nll_test": 8.0, "nll_oracle": 8.0},
         {"temperature": 1.0, "nll_test": 7.2, "nll_oracle": 9.2}]
    assert mean_curve([a, b]) == [{"temperature": 0.5, "nll_test": 8.5, "nll_oracle": 7.5},
                                  {"temperature": 1.0, "nll_test": 7.1, "nll_oracle": 9.1}]
