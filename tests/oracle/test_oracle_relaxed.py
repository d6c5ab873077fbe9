"""The relaxed rows of the oracle benchmark (gumbel_st, continuous) on the tiny recipe."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_thread")
RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "oracle_tiny.yaml"


def test_relaxed_rows_train_g_through_d_and_log_tau_and_the_cheating_score(tmp_path):
    from seqgan.config import load_config
    from seqgan.oracle.benchmark import OracleBenchmark
    from seqgan.oracle.config import OracleConfig
    from seqgan.oracle.relaxed import BETA_MAX, RELAXED_ROWS, run_relaxed_row

    cfg = load_config(OracleConfig, str(RECIPE), [f"run_dir={tmp_path}", "rows=[mle]", "adv.rounds=4",
                                                 "adv.eval_every=2"])
    bench = OracleBenchmark(cfg)
    bench.prepare()
    bench.pretrain()
    bench.pretrain_discriminator()
    d0 = {k: v.clone() for k, v in bench.disc.state_dict().items()}
    for name in RELAXED_ROWS:
        row = run_relaxed_row(bench, name)
        assert row["row"] == name and math.isfinite(row["nll_oracle"]) and math.isfinite(row["nll_test"])
        assert [r for r, _ in row["curve"]] == [0, 2, 4]
        from seqgan.models.lstm import LSTMPolicy

        trained = LSTMPolicy.from_pretrained(tmp_path / f"generator_{name}")
        mle = bench.mle.state_dict().values()
        assert any(not torch.equal(a, b) for a, b in zip(trained.state_dict().values(), mle))
    assert all(torch.equal(v, d0[k]) for k, v in bench.disc.state_dict().items())  # rows train their own copy of D
    logs = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    last = {rec["stage"]: rec for rec in logs if rec.get("stage") in RELAXED_ROWS}
    assert last["gumbel_st"]["tau"] == pytest.approx(1 / BETA_MAX) and last["continuous"]["tau"] == 1.0
    assert last["gumbel_st"]["cheat_auc"] == 0.5  # one-hots on both sides
    assert last["continuous"]["cheat_auc"] > 0.9  # softmax vectors vs one-hots
