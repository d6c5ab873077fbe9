"""Resuming the oracle benchmark: finished rows and the MLE / D checkpoints are reused, results match a straight run."""

import json

import pytest

from seqgan.cli import main
from seqgan.config import load_config
from seqgan.errors import ConfigError
from seqgan.oracle import benchmark as oracle_mod
from seqgan.oracle.benchmark import run_oracle_benchmark
from seqgan.oracle.config import OracleConfig

pytestmark = pytest.mark.usefixtures("one_thread")
ROWS = "rows=[random,mle,mle_continued,seqgan,constant]"


def _cfg(run_dir, *extra):
    return load_config(OracleConfig, "recipes/oracle_tiny.yaml", [f"run_dir={run_dir}", "seed=2", ROWS, *extra])


def _nll(result):
    return {r["row"]: (r["nll_oracle"], r["nll_test"]) for r in result["rows"]}


def test_interrupted_run_resumes_without_redoing_finished_work(tmp_path, monkeypatch):
    straight = run_oracle_benchmark(_cfg(tmp_path / "straight"))

    run_dir = tmp_path / "cut"
    real_run_row = oracle_mod.OracleBenchmark.run_row

    def interrupt_at_seqgan(self, name):
        if name == "seqgan":
            raise KeyboardInterrupt
        return real_run_row(self, name)

    monkeypatch.setattr(oracle_mod.OracleBenchmark, "run_row", interrupt_at_seqgan)
    with pytest.raises(KeyboardInterrupt):
        run_oracle_benchmark(_cfg(run_dir))
    progress = json.loads((run_dir / "progress.json").read_text())
    assert sorted(progress["rows"]) == ["mle", "mle_continued", "random"]
    assert "| mle_continued |" in (run_dir / "results.md").read_text()  # finished rows are already reported
    assert (run_dir / "checkpoints/mle/COMPLETE").is_file() and (run_dir / "checkpoints/disc_pretrained/COMPLETE").is_file()

    ran, pretrained = [], []
    monkeypatch.setattr(oracle_mod.OracleBenchmark, "run_row", lambda self, name: ran.append(name) or real_run_row(self, name))
    monkeypatch.setattr(oracle_mod, "mle_steps", lambda *a, **k: pretrained.append(1) or 0.0)
    monkeypatch.setattr(oracle_mod, "train_discriminator", _fail_unless_adversarial(oracle_mod.train_discriminator))
    monkeypatch.setattr(oracle_mod, "temperature_curve", lambda *a, **k: pytest.fail("frontier recomputed"))
    resumed = run_oracle_benchmark(_cfg(run_dir), resume=True)
    assert ran == ["seqgan", "constant"] and not pretrained  # no MLE step at all: only PG rows were left
    assert [r["row"] for r in resumed["rows"]] == ["random", "mle", "mle_continued", "seqgan", "constant"]
    assert _nll(resumed) == _nll(straight)  # the same numbers as the uninterrupted run (CPU is deterministic)
    assert resumed["frontier"] == straight["frontier"] and len(resumed["frontier"]) == 8
    assert [r["frontier_distance"] for r in resumed["rows"]] == [r["frontier_distance"] for r in straight["rows"]]


def _fail_unless_adversarial(train_discriminator):
    """D pretraining must come from the checkpoint: only the per-round updates (d_refreshes) may train D."""
    def wrapper(disc, opt, policy, real, refreshes, *args):
        assert refreshes != 2, "D pretraining was redone"  # tiny recipe: pretrain_refreshes 2, d_refreshes 1
        return train_discriminator(disc, opt, policy, real, refreshes, *args)
    return wrapper


def test_resume_refuses_a_different_config(tmp_path):
    cfg = _cfg(tmp_path, "rows=[random,mle]")
    run_oracle_benchmark(cfg)
    with pytest.raises(ConfigError, match="mle.epochs: saved 3, now 4"):
        run_oracle_benchmark(_cfg(tmp_path, "rows=[random,mle]", "mle.epochs=4"), resume=True)
    # run_dir / threads / rows may differ: a finished run asked for one more row only runs that row
    again = run_oracle_benchmark(_cfg(tmp_path, "rows=[random,mle,constant]", "threads=1"), resume=True)
    assert [r["row"] for r in again["rows"]] == ["random", "mle", "constant"]


def test_cli_resume_flag(tmp_path, capsys):
    args = ["oracle", "--recipe", "recipes/oracle_tiny.yaml", f"run_dir={tmp_path}", "rows=[random,mle]"]
    assert main(args) == 0
    before = (tmp_path / "checkpoints/mle/generator.safetensors").stat().st_mtime_ns
    assert main([*args, "--resume"]) == 0
    assert (tmp_path / "checkpoints/mle/generator.safetensors").stat().st_mtime_ns == before
    assert "| mle |" in capsys.readouterr().out
    from accelerate import Accelerator

    assert json.loads((tmp_path / "results.json").read_text())["device"] == str(Accelerator().device)


def test_resume_runs_again_only_the_rows_whose_settings_changed(tmp_path, monkeypatch, caplog):
    first = run_oracle_benchmark(_cfg(tmp_path, "rows=[random,mle,constant]"))
    ran = []
    real_run_row = oracle_mod.OracleBenchmark.run_row
    monkeypatch.setattr(oracle_mod.OracleBenchmark, "run_row",
                        lambda self, name: ran.append(name) or real_run_row(self, name))
    monkeypatch.setattr(oracle_mod, "mle_steps", lambda *a, **k: pytest.fail("MLE retrained"))
    again = run_oracle_benchmark(_cfg(tmp_path, "rows=[random,mle,constant]", "adv.rounds=2"), resume=True)
    assert ran == ["constant"]  # random / mle depend on the shared stages only
    assert "constant: finished with a different config (adv.rounds: saved 3, now 2)" in caplog.text
    assert _nll(again)["mle"] == _nll(first)["mle"] and _nll(again)["constant"] != _nll(first)["constant"]
    ran.clear()
    run_oracle_benchmark(_cfg(tmp_path, "rows=[random,mle,constant]", "adv.rounds=2"), resume=True)
    assert ran == []  # the re-run row was recorded with its new settings


@pytest.mark.parametrize("broken", [{"rows": ["random", "mle"]}, {"rows": {}, "row_configs": []}, ["rows"]])
def test_a_hand_edited_progress_file_of_the_wrong_shape_is_one_line_not_a_traceback(tmp_path, capsys, broken):
    (tmp_path / "progress.json").write_text(json.dumps(broken))
    args = ["oracle", "--recipe", "recipes/oracle_tiny.yaml", f"run_dir={tmp_path}", "rows=[random]", "--resume"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "progress.json: corrupt progress file" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_a_row_run_again_on_resume_replaces_its_earlier_curve(tmp_path):
    """A finished row whose settings changed runs again on --resume; its learning curve in metrics.jsonl must be
    the new run's alone, not the old points with the new ones appended."""
    run_oracle_benchmark(_cfg(tmp_path, "rows=[random,mle,constant]", "adv.rounds=2"))
    first = [r["round"] for r in oracle_mod.MetricsLog(tmp_path / "metrics.jsonl").read("constant")]
    run_oracle_benchmark(_cfg(tmp_path, "rows=[random,mle,constant]", "adv.rounds=3"), resume=True)
    again = [r["round"] for r in oracle_mod.MetricsLog(tmp_path / "metrics.jsonl").read("constant")]
    assert first and again and len(again) == len(set(again)), again
    assert max(again) == 3 and max(first) == 2
