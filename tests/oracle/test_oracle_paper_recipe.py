"""recipes/oracle_paper.yaml end to end at tiny sizes: on the GPU accelerate finds (CUDA smoke test) and on the CPU.

Only the sizes are overridden (vocabulary, widths, sample counts, rounds); the schedule's structure, the paper's
12 filter widths up to 20, the frontier temperatures and every row stay as the recipe has them.
"""

import json
import math
from pathlib import Path

import pytest
import torch

from seqgan.config import load_config
from seqgan.oracle.benchmark import run_oracle_benchmark
from seqgan.oracle.config import ROWS, OracleConfig

TINY = ["data.vocab_size=50", "data.embed_dim=8", "data.hidden_dim=16", "data.n_train=256", "data.n_test=128",
        "data.n_valid=64", "data.n_eval=256", "data.bleu_references=256", "mle.epochs=2", "disc.negatives=64",
        "disc.pretrain_refreshes=1", "disc.epochs=1", "disc.model.num_filters=[4,4,4,4,4,4,4,4,4,4,4,4]",
        "adv.rounds=2", "adv.rollouts=2", "adv.d_refreshes=1", "adv.eval_every=2", "adv.curve_samples=64",
        "adv.mle_epochs_per_round=0.1", "frontier.samples=64"]


def _run(tmp_path, *extra):
    cfg = load_config(OracleConfig, "recipes/oracle_paper.yaml", [f"run_dir={tmp_path}", *TINY, *extra])
    result = run_oracle_benchmark(cfg)
    assert all(math.isfinite(r["nll_oracle"]) and math.isfinite(r["nll_test"]) for r in result["rows"])
    assert len(result["frontier"]) == 8 and (tmp_path / "frontier.png").is_file()
    return result


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="needs a CUDA GPU: checks that the paper recipe runs every row on the device accelerate "
                           "picks; the same recipe is checked on the CPU by the test below")
def test_paper_recipe_runs_every_row_on_cuda(tmp_path):
    result = _run(tmp_path)
    assert result["device"].startswith("cuda")
    assert [r["row"] for r in result["rows"]] == list(ROWS)
    assert json.loads((tmp_path / "results.json").read_text())["device"].startswith("cuda")


@pytest.mark.usefixtures("one_thread")
def test_paper_recipe_runs_on_the_cpu(tmp_path):
    result = _run(tmp_path, "cpu=true", "rows=[mle,seqgan,gumbel_st]")
    assert result["device"] == "cpu" and [r["row"] for r in result["rows"]] == ["mle", "seqgan", "gumbel_st"]


@pytest.mark.parametrize("recipe", sorted(str(p) for p in Path("recipes").glob("oracle_*.yaml")))
def test_every_oracle_recipe_loads_and_validates(recipe):
    cfg = load_config(OracleConfig, recipe, [])
    cfg.validate()
    assert len(cfg.frontier.temperatures) >= 3
