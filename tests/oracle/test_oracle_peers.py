"""The peer rows (maligan, rankgan, leakgan, relgan) of the oracle benchmark, end to end at tiny sizes: each trains
(its generator moves), is scored like every row and placed against MLE's frontier."""

import json

import pytest
import torch

from seqgan.config import load_config
from seqgan.models.leakgan import LeakGANPolicy
from seqgan.models.lstm import LSTMPolicy
from seqgan.models.relational import RelationalPolicy
from seqgan.oracle.benchmark import run_oracle_benchmark
from seqgan.oracle.config import OracleConfig

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_PEERS = ["maligan.rounds=2", "leakgan.pretrain_rounds=2", "leakgan.pretrain_epochs=1",
              "leakgan.pretrain_d_refreshes=1",
              "leakgan.hidden_dim=8", "leakgan.embed_dim=8", "leakgan.goal_size=4", "relgan.pretrain_epochs=2",
              "relgan.steps=6", "relgan.eval_every=3", "relgan.head_size=8", "relgan.disc.num_rep=8",
              "relgan.disc.embed_dim=16", "relgan.disc.num_filters=[8,8,8,8]"]


@pytest.fixture(scope="module")
def peers_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("peers")
    cfg = load_config(OracleConfig, "recipes/oracle_tiny.yaml",
                      [f"run_dir={run_dir}", "rows=[mle,maligan,rankgan,leakgan,relgan]", *TINY_PEERS])
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        return run_dir, run_oracle_benchmark(cfg)


def test_every_peer_row_trains_and_is_placed_against_the_frontier(peers_run):
    run_dir, result = peers_run
    rows = {r["row"]: r for r in result["rows"]}
    assert list(rows) == ["mle", "maligan", "rankgan", "leakgan", "relgan"]
    for name in ("maligan", "rankgan", "leakgan", "relgan"):
        row = rows[name]
        assert 0 < row["nll_oracle"] < 10 and 0 < row["nll_test"] < 10, row
        assert "frontier_distance" in row and len(row["curve"]) >= 2
        assert f"| {name} |" in (run_dir / "results.md").read_text()
    mle = LSTMPolicy.from_pretrained(run_dir / "generator_mle")
    for name in ("maligan", "rankgan"):  # continue the MLE generator: every parameter moved
        moved = LSTMPolicy.from_pretrained(run_dir / f"generator_{name}")
        assert all(not torch.equal(a, b) for a, b in zip(mle.parameters(), moved.parameters())), name
    assert rows["leakgan"]["pretrain_s"] > 0 and rows["relgan"]["pretrain_s"] > 0
    assert rows["maligan"]["curve"][-1][0] == 2 and rows["rankgan"]["curve"][-1][0] == 3  # its own rounds / adv's
    LeakGANPolicy.from_pretrained(run_dir / "generator_leakgan")
    RelationalPolicy.from_pretrained(run_dir / "generator_relgan")
    assert (run_dir / "ranker_rankgan").is_dir() and (run_dir / "discriminator_relgan").is_dir()
    logged = [json.loads(line)["stage"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for stage in ("rankgan_pretrain", "rankgan", "leakgan_pretrain", "leakgan", "relgan_pretrain", "relgan"):
        assert stage in logged, stage


def test_leakgan_pretraining_lowers_its_nll(tmp_path):
    """LeakGAN's own pretraining (worker MLE + manager goals) fits the oracle's data."""
    from seqgan.oracle.benchmark import OracleBenchmark
    from seqgan.oracle.peers import leakgan_pretrain_step
    from seqgan.oracle.metrics import mean_nll
    from seqgan.models.leakgan import LeakGANShape

    cfg = load_config(OracleConfig, "recipes/oracle_tiny.yaml", [f"run_dir={tmp_path}", "rows=[mle]"])
    bench = OracleBenchmark(cfg)
    bench.prepare()
    bench.pretrain()
    bench.pretrain_discriminator()
    shape = LeakGANShape(50, 8, 16, 4, 3, 8, bench.disc.reply_encoder.out_dim)
    torch.manual_seed(0)
    policy = LeakGANPolicy(shape).attach(bench.disc)
    opts = (torch.optim.Adam(policy.worker_parameters(), lr=0.01),
            torch.optim.Adam(policy.manager_parameters(), lr=0.01))
    before = mean_nll(policy, bench.test)
    for _ in range(60):
        info = leakgan_pretrain_step(policy, opts, bench.train[torch.randint(0, 256, (32,))], 5.0)
    assert mean_nll(policy, bench.test) < before - 0.3
    assert info["goal"] < 0  # the manager's goals point along the features' moves (cosine > 0)


def test_finished_rows_reload_with_the_scores_of_the_table(peers_run):
    from seqgan.oracle.data import load_data
    from seqgan.oracle.metrics import nll_test
    from seqgan.oracle.peers import load_row_generator

    run_dir, result = peers_run
    _, test, _ = load_data(run_dir / "oracle_data.safetensors")
    for row in result["rows"]:
        policy = load_row_generator(run_dir, row["row"])
        assert nll_test(policy, test) == pytest.approx(row["nll_test"], abs=1e-4), row["row"]
