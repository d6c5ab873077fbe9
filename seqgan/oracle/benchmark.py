"""The synthetic-oracle benchmark of SeqGAN (Yu et al., AAAI 2017) on the shared training stack.

One command runs every row from one MLE checkpoint: ``random`` (untrained), ``mle``, ``mle_continued`` (MLE for the
same extra rounds), ``scheduled_sampling``, ``pg_bleu`` (rollout reward with BLEU against oracle samples),
``seqgan`` (rollout reward from D), ``prefix`` (D scoring every prefix) and two controls where D's score is
replaced by a ``constant`` or by ``uniform_random`` numbers; ``gumbel_st`` and ``continuous`` train G through D's
gradient instead (:mod:`seqgan.oracle.relaxed`). Writes ``results.md``, ``results.json``,
``curves.png`` (NLL-oracle vs round), ``frontier.png`` (every row against MLE's temperature frontier,
:mod:`seqgan.oracle.frontier`), ``metrics.jsonl`` and the oracle/data/checkpoints into the run directory.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import time
from pathlib import Path

import torch

from seqgan.config import save_config
from seqgan.oracle.data import (ORACLE_DIR, DATA_FILE, build_oracle, load_data, load_oracle, sample_sequences,
                                save_data)
from seqgan.errors import CheckpointError, ConfigError
from seqgan.oracle.frontier import describe_distance, frontier_distance, plot_frontier, temperature_curve
from seqgan.oracle.metrics import mean_nll, nll_oracle, nll_test, oracle_entropy
from seqgan.oracle.reference import load_reference_oracle
from seqgan.models.discriminator import Discriminator
from seqgan.models.lstm import LSTMPolicy, LSTMShape
from seqgan.rewards import MonteCarloReward, PrefixReward, RolloutPolicy
from seqgan.rewards.maligan import MaliGANReward
from seqgan.oracle.scorers import BleuScorer, ConstantScorer, InputFreeRolloutReward, UniformScorer
from seqgan.runs.checkpoint import atomic_write_text, load_checkpoint, save_checkpoint
from seqgan.runs.rundir import MetricsLog
from seqgan.tracking import Tracker
from seqgan.oracle.config import ALL_ROWS, PEERS, OracleConfig, row_rounds
from seqgan.oracle.peers import PEER_ROWS, run_peer_row
from seqgan.oracle.relaxed import RELAXED_ROWS, run_relaxed_row
from seqgan.oracle.steps import mle_steps, pg_step, train_discriminator

logger = logging.getLogger(__name__)
# --------------------------------------------------------------------------- the benchmark
MLE_CHECKPOINT = "checkpoints/mle"
DISC_CHECKPOINT = "checkpoints/disc_pretrained"
PROGRESS_FILE = "progress.json"
# config keys that do not change any result (a resumed run may differ in them)
_NOT_FINGERPRINTED = ("run_dir", "threads", "cpu", "rows", "tracking")
# what the shared stages (oracle, data, MLE, frontier, D pretraining) depend on: a resumed run must match them
SHARED_SECTIONS = ("seed", "data", "mle", "disc", "frontier")


def row_sections(name: str) -> tuple[str, ...]:
    """The config sections a row depends on besides the shared ones: a finished row whose sections changed is run
    again on resume."""
    if name in ("random", "mle"):
        return ()
    return ("adv", name) if name in PEERS else ("adv",)


def _sections(fingerprint: dict, names: tuple[str, ...]) -> dict:
    return {k: fingerprint.get(k) for k in names}


def config_fingerprint(cfg: OracleConfig) -> dict:
    """The config as a plain dict without the keys that cannot change a result (``run_dir``, ``threads``, ...)."""
    d = dataclasses.asdict(cfg)
    return {k: v for k, v in d.items() if k not in _NOT_FINGERPRINTED}


class OracleBenchmark:
    """Holds the oracle, the data and the shared MLE / D checkpoints; :meth:`run_row` trains and scores one row.

    Every stage leaves an atomic checkpoint in ``run_dir`` (``checkpoints/mle``, ``checkpoints/disc_pretrained``)
    and every finished row is recorded in ``progress.json``, so ``resume=True`` skips whatever is already done.
    Models and data live on ``device`` (``accelerate.Accelerator().device``: a GPU when there is one).
    """

    def __init__(self, cfg: OracleConfig, device: torch.device | str = "cpu", resume: bool = False) -> None:
        cfg.validate()
        self.cfg = cfg
        self.device = torch.device(device)
        self.dir = Path(cfg.run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.shape = LSTMShape(cfg.data.vocab_size, cfg.data.embed_dim, cfg.data.hidden_dim, cfg.data.seq_len)
        self.metrics = MetricsLog(self.dir / "metrics.jsonl")
        self.progress = {"config": config_fingerprint(cfg), "rows": {}}
        self.resume = resume
        self.trackers: dict[str, Tracker] = {}  # one per logged stage (MLE, frontier, D, each row)
        if resume:
            self._load_progress()
        else:
            self.metrics.reset()
        self.disc = None
        self.disc_wall = 0.0

    # ------------------------------------------------------------------ bookkeeping
    def _load_progress(self) -> None:
        path = self.dir / PROGRESS_FILE
        if not path.is_file():
            logger.info("nothing to resume in %s: starting from scratch", self.dir)
            self.metrics.reset()
            return
        try:
            saved = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{path}: corrupt progress file ({err.msg})") from None
        if not (isinstance(saved, dict) and isinstance(saved.get("rows", {}), dict)
                and isinstance(saved.get("config", {}), dict) and isinstance(saved.get("row_configs", {}), dict)):
            raise CheckpointError(f"{path}: corrupt progress file (expected an object whose config, rows and "
                                  "row_configs are objects keyed by name)")
        saved.setdefault("rows", {})
        old = _with_defaults(saved.get("config", {}), config_fingerprint(OracleConfig()))  # keys added since: defaults
        new = self.progress["config"]
        shared_old, shared_new = _sections(old, SHARED_SECTIONS), _sections(new, SHARED_SECTIONS)
        if shared_old != shared_new:
            diff = _first_difference(shared_old, shared_new)
            raise ConfigError(f"{path}: written with a different config ({diff}); "
                              "drop --resume or use another run_dir")
        row_configs = saved.setdefault("row_configs", {})
        for name in list(saved["rows"]):
            ran_with = row_configs.get(name, _sections(old, row_sections(name)))
            if ran_with != _sections(new, row_sections(name)):
                diff = _first_difference(ran_with, _sections(new, row_sections(name)))
                logger.warning("%s: finished with a different config (%s): running it again", name, diff)
                del saved["rows"][name]
        saved["config"] = new
        self.progress = saved
        logger.info("resuming %s: rows done %s", self.dir, sorted(saved["rows"]))

    def save_progress(self) -> None:
        atomic_write_text(self.dir / PROGRESS_FILE, json.dumps(self.progress, indent=1))

    def log(self, **record) -> None:
        """Append ``record`` (its ``stage``: mle, frontier, d_pretrain or a row) to metrics.jsonl and send it to the
        trackers of ``tracking.report_to`` as ``oracle/<stage>/<metric>`` at its round or epoch."""
        stage = str(record.get("stage", "benchmark"))
        tracker = self.trackers.get(stage)
        if tracker is None:  # a row that runs again after --resume replaces what it logged before
            tracker = self.trackers[stage] = Tracker(self.cfg.tracking, self.dir, f"oracle/{stage}",
                                                     self.dir.name, self.cfg,
                                                     resume_step=0 if self.resume else None)
        count = sum(1 for _ in self.metrics.read(stage)) if "round" not in record and "epoch" not in record else 0
        tracker.log(record, step=int(record.get("round", record.get("epoch", count))))

    def finish_tracking(self) -> None:
        """Close every stage's trackers."""
        for tracker in self.trackers.values():
            tracker.finish()
        self.trackers = {}

    def evaluate(self, policy: LSTMPolicy) -> tuple[float, float]:
        return (nll_oracle(self.oracle, policy, self.cfg.data.n_eval),
                nll_test(policy, self.test))

    # ------------------------------------------------------------------ shared stages
    def prepare(self) -> None:
        """The oracle, its train/test samples and its entropy estimate (reloaded when already on disk)."""
        d = self.cfg.data
        data_file, oracle_dir = self.dir / DATA_FILE, self.dir / ORACLE_DIR
        if "entropy" in self.progress and data_file.is_file() and oracle_dir.is_dir():
            self.oracle = load_oracle(oracle_dir).to(self.device)
            self._load_data(data_file)
            self.entropy = self.progress["entropy"]
            return
        oracle = (load_reference_oracle(d.oracle_params, self.shape) if d.oracle_params
                  else build_oracle(self.shape, d.oracle_seed))
        oracle.save_pretrained(oracle_dir)  # the run keeps its own copy (safetensors): resuming needs no pickle
        self.oracle = oracle.to(self.device)
        train = sample_sequences(self.oracle, d.n_train, seed=d.oracle_seed + 1)
        test = sample_sequences(self.oracle, d.n_test, seed=d.oracle_seed + 2)
        # drawn last with its own seed: train and test are the same whether or not a validation split exists
        valid = sample_sequences(self.oracle, d.n_valid, seed=d.oracle_seed + 4) if d.n_valid else None
        save_data(data_file, train.cpu(), test.cpu(), None if valid is None else valid.cpu())
        self._load_data(data_file)
        torch.manual_seed(d.oracle_seed + 3)
        self.entropy = oracle_entropy(self.oracle, d.n_eval)
        self.progress["entropy"] = self.entropy
        self.save_progress()
        logger.info("oracle entropy (NLL-oracle of its own samples): %.3f", self.entropy)

    def _load_data(self, data_file: Path) -> None:
        train, test, valid = load_data(data_file, self.cfg.data.vocab_size)
        self.train, self.test, self.valid = train.to(self.device), test.to(self.device), valid.to(self.device)

    def pretrain(self) -> None:
        """MLE pretraining of the generator, or its checkpoint when resuming."""
        c = self.cfg
        torch.manual_seed(c.seed)
        self.random_policy = LSTMPolicy(self.shape)
        if c.mle.init == "normal":
            self.random_policy.init_normal(0.1)
        self.random_policy.to(self.device)
        self.mle = copy.deepcopy(self.random_policy)
        self.mle_opt = torch.optim.Adam(self.mle.parameters(), lr=c.mle.lr)
        ckpt = self.dir / MLE_CHECKPOINT
        if "mle" in self.progress and (ckpt / "COMPLETE").is_file():
            self.mle_opt.load_state_dict(load_checkpoint(ckpt, {"generator": self.mle})["optimizer"])
            self.mle_curve, self.mle_wall = self.progress["mle"]["curve"], self.progress["mle"]["wall_s"]
            logger.info("MLE checkpoint reused from %s", ckpt)
            return
        steps_per_epoch = max(1, c.data.n_train // c.mle.batch_size)
        t0 = time.perf_counter()
        self.mle_curve, valid_curve = [], []
        best = (math.inf, 0, None)  # (held-out NLL, epoch, (model, optimizer) state) of the best epoch so far
        epoch = 0
        for epoch in range(1, c.mle.epochs + 1):
            loss = mle_steps(self.mle, self.mle_opt, self.train, steps_per_epoch, c.mle.batch_size, c.mle.grad_clip,
                             shuffle=c.mle.shuffle)
            record = {"stage": "mle", "epoch": epoch, "loss": loss}
            if self.valid.numel():
                record["nll_valid"] = mean_nll(self.mle, self.valid)
                valid_curve.append((epoch, record["nll_valid"]))
                if record["nll_valid"] < best[0]:
                    state = (copy.deepcopy(self.mle.state_dict()), copy.deepcopy(self.mle_opt.state_dict()))
                    best = (record["nll_valid"], epoch, state if c.mle.patience else None)
            stop = bool(c.mle.patience) and epoch - best[1] >= c.mle.patience
            if epoch % max(1, c.mle.epochs // 10) == 0 or epoch == c.mle.epochs or stop:
                record["nll_oracle"] = nll_oracle(self.oracle, self.mle, c.adv.curve_samples)
                self.mle_curve.append((epoch, record["nll_oracle"]))
                logger.info("MLE epoch %d: loss %.3f NLL-oracle %.3f held-out NLL %s", epoch, loss,
                            record["nll_oracle"], record.get("nll_valid"))
            self.log(**record)
            if stop:
                break
        if c.mle.patience and best[2] is not None:  # early stopping keeps the best epoch (weights and Adam moments)
            self.mle.load_state_dict(best[2][0])
            self.mle_opt.load_state_dict(best[2][1])
        self.mle_wall = time.perf_counter() - t0
        mle_info = {"epochs_run": epoch, "best_epoch": best[1] if c.mle.patience else epoch,
                    "best_nll_valid": best[0] if math.isfinite(best[0]) else None,
                    "early_stopped": bool(c.mle.patience) and epoch < c.mle.epochs, "valid_curve": valid_curve}
        logger.info("MLE: %d epochs run, kept epoch %d", mle_info["epochs_run"], mle_info["best_epoch"])

        save_checkpoint(ckpt, {"generator": self.mle}, {"optimizer": self.mle_opt.state_dict()})
        self.mle.save_pretrained(self.dir / "generator_mle")
        self.progress["mle"] = {"curve": self.mle_curve, "wall_s": self.mle_wall, **mle_info}
        self.save_progress()

    def temperature_frontier(self) -> None:
        """MLE's (NLL-test, NLL-oracle) at every ``frontier.temperatures`` (reused when resuming)."""
        f = self.cfg.frontier
        if "frontier" in self.progress or not f.temperatures:
            return
        torch.manual_seed(self.cfg.seed + 2)
        t0 = time.perf_counter()
        points = temperature_curve(self.oracle, self.mle, self.test, f.temperatures, f.samples)
        self.progress["frontier"] = {"points": points, "wall_s": time.perf_counter() - t0}
        self.save_progress()
        for p in points:
            self.log(stage="frontier", **p)
        logger.info("temperature frontier: %s", [(p["temperature"], round(p["nll_test"], 3),
                                                  round(p["nll_oracle"], 3)) for p in points])

    def pretrain_discriminator(self) -> None:
        """D pretraining on the MLE generator's samples, or its checkpoint when resuming."""
        c = self.cfg
        torch.manual_seed(c.seed + 1)
        self.disc = Discriminator(c.disc.model, c.data.vocab_size, pad_id=0, conditional=False).to(self.device)
        self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=c.disc.lr)
        ckpt = self.dir / DISC_CHECKPOINT
        if "disc" in self.progress and (ckpt / "COMPLETE").is_file():
            self.disc_opt.load_state_dict(load_checkpoint(ckpt, {"discriminator": self.disc})["optimizer"])
            self.disc.eval()
            self.disc_wall = self.progress["disc"]["wall_s"]
            logger.info("pretrained D reused from %s", ckpt)
            return
        t0 = time.perf_counter()
        terms = train_discriminator(self.disc, self.disc_opt, self.mle, self.train, c.disc.pretrain_refreshes,
                                    c.disc.epochs, c.disc.negatives, c.disc.batch_size, c.disc.composition)
        self.disc_wall = time.perf_counter() - t0
        self.log(stage="d_pretrain", wall_s=self.disc_wall, **terms)
        logger.info("D pretrained in %.1fs: %s", self.disc_wall, terms)

        save_checkpoint(ckpt, {"discriminator": self.disc}, {"optimizer": self.disc_opt.state_dict()})
        self.disc.save_pretrained(self.dir / "discriminator_pretrained")
        self.progress["disc"] = {"wall_s": self.disc_wall}
        self.save_progress()

    # ------------------------------------------------------------------ rows
    def _reward(self, name: str, policy: LSTMPolicy, rollout_policy: RolloutPolicy):
        """The per-token reward of a policy-gradient row and the (D, D optimiser) it trains, if any."""
        c, a = self.cfg, self.cfg.adv
        if name in ("seqgan", "prefix"):
            disc = copy.deepcopy(self.disc)
            disc_opt = torch.optim.Adam(disc.parameters(), lr=c.disc.lr)
            disc_opt.load_state_dict(self.disc_opt.state_dict())
            reward = MonteCarloReward(disc, rollout_policy, a.rollouts) if name == "seqgan" else PrefixReward(disc)
            return reward, disc, disc_opt
        if name == "maligan":  # the seqgan row's D and its training; the reward: normalised D / (1 - D)
            disc = copy.deepcopy(self.disc)
            disc_opt = torch.optim.Adam(disc.parameters(), lr=c.disc.lr)
            disc_opt.load_state_dict(self.disc_opt.state_dict())
            return MaliGANReward(disc, group_size=None, baseline=c.maligan.baseline), disc, disc_opt
        if name == "pg_bleu":
            bleu = BleuScorer(self.train[:c.data.bleu_references], c.data.vocab_size)
            return MonteCarloReward(bleu, rollout_policy, a.rollouts), None, None
        if name == "constant":  # D's score replaced by a constant: no rollout can change it
            return InputFreeRolloutReward(ConstantScorer(a.constant_value), a.rollouts), None, None
        if name == "uniform_random":  # D's score replaced by U(0, 1) noise: rollouts are never looked at
            return InputFreeRolloutReward(UniformScorer(), a.rollouts), None, None
        raise ConfigError(f"rows: no reward defined for row {name!r}")

    def run_row(self, name: str) -> dict:
        c, a = self.cfg, self.cfg.adv
        torch.manual_seed(c.seed + 1000 * (ALL_ROWS.index(name) + 1))  # every row alike whatever ran before it
        if name in RELAXED_ROWS:
            return run_relaxed_row(self, name)
        if name in PEER_ROWS:
            return run_peer_row(self, name)
        if name == "random":
            nll_o, nll_t = self.evaluate(self.random_policy)
            return {"row": name, "nll_oracle": nll_o, "nll_test": nll_t, "wall_s": 0.0, "curve": []}
        if name == "mle":
            nll_o, nll_t = self.evaluate(self.mle)
            return {"row": name, "nll_oracle": nll_o, "nll_test": nll_t, "wall_s": self.mle_wall, "curve": []}
        policy = copy.deepcopy(self.mle)
        opt = torch.optim.Adam(policy.parameters(), lr=c.mle.lr)
        mle_rows = name in ("mle_continued", "scheduled_sampling")
        if mle_rows or not a.fresh_optimizer:  # MLE rows continue MLE's Adam; PG rows get a new one by default
            opt.load_state_dict(self.mle_opt.state_dict())
        rollout_policy = RolloutPolicy(policy, rate=a.rollout_rate)
        reward, disc, disc_opt = (None, None, None) if mle_rows else self._reward(name, policy, rollout_policy)
        mle_steps_per_round = max(1, round(a.mle_epochs_per_round * c.data.n_train / c.mle.batch_size))
        t0 = time.perf_counter()
        eval_s = rollout_s = scorer_s = d_s = 0.0
        curve = [(0, self.curve_point(self.mle))]
        rounds = row_rounds(c, name)
        for rnd in range(1, rounds + 1):
            info: dict[str, float] = {}
            if mle_rows:
                ss = a.ss_max_prob * rnd / a.rounds if name == "scheduled_sampling" else 0.0
                info["loss"] = mle_steps(policy, opt, self.train, mle_steps_per_round, c.mle.batch_size,
                                         c.mle.grad_clip, ss_prob=ss, shuffle=c.mle.shuffle)
            else:
                for _ in range(a.g_steps):
                    info = pg_step(policy, opt, reward, a.batch_size, c.mle.grad_clip, a.pg_reduction)
                    rollout_s += info["rollout_s"]
                    scorer_s += info["disc_s"]
                    rollout_policy.update()
                if disc is not None:
                    t1 = time.perf_counter()
                    info.update(train_discriminator(disc, disc_opt, policy, self.train, a.d_refreshes, c.disc.epochs,
                                                    c.disc.negatives, c.disc.batch_size, c.disc.composition))
                    d_s += time.perf_counter() - t1
            if rnd % a.eval_every == 0 or rnd == rounds:
                t1 = time.perf_counter()
                curve.append((rnd, self.curve_point(policy)))
                test_nll = self.curve_nll_test(policy)
                eval_s += time.perf_counter() - t1
                self.log(stage=name, round=rnd, nll_oracle=curve[-1][1], nll_test=test_nll, **info)
                logger.info("%s round %d: NLL-oracle %.3f", name, rnd, curve[-1][1])
        wall = time.perf_counter() - t0 - eval_s
        nll_o, nll_t = self.evaluate(policy)
        policy.save_pretrained(self.dir / f"generator_{name}")
        return {"row": name, "nll_oracle": nll_o, "nll_test": nll_t, "wall_s": wall, "rollout_s": rollout_s,
                "scorer_s": scorer_s, "d_train_s": d_s, "curve": curve}

    def curve_point(self, policy: LSTMPolicy) -> float:
        """NLL-oracle of ``adv.curve_samples`` samples of ``policy`` (one point of a learning curve)."""
        return nll_oracle(self.oracle, policy, self.cfg.adv.curve_samples)

    def curve_nll_test(self, policy) -> float:
        """NLL-test of ``policy`` on the first ``adv.curve_samples`` test samples (logged with each curve point, so
        a row can be placed against the frontier at any logged round)."""
        return nll_test(policy, self.test[:self.cfg.adv.curve_samples])


def _with_defaults(saved: dict, defaults: dict) -> dict:
    """``saved`` with every (nested) key it lacks taken from ``defaults``: a run written before a config key existed
    ran with that key's default behaviour, so resuming it with the default is no difference."""
    out = dict(saved)
    for key, value in defaults.items():
        if key not in out:
            out[key] = value
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = _with_defaults(out[key], value)
    return out


def _first_difference(old: dict, new: dict, prefix: str = "") -> str:
    """``key: saved X, now Y`` for the first differing (nested) config key."""
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            if a != b:
                return _first_difference(a, b, f"{prefix}{key}.")
        elif a != b:
            return f"{prefix}{key}: saved {a!r}, now {b!r}"
    return "unknown difference"


# --------------------------------------------------------------------------- outputs
def write_results(run_dir: Path, cfg: OracleConfig, rows: list[dict], extra: dict) -> None:
    """``results.json`` (everything) and ``results.md`` (the table)."""
    atomic_write_text(run_dir / "results.json", json.dumps({"seed": cfg.seed, **extra, "rows": rows}, indent=2))
    mle = extra.get("mle", {})
    stopping = (f"early stopping on {cfg.data.n_valid} held-out samples, patience {cfg.mle.patience}: "
                f"{mle.get('epochs_run')} epochs run, epoch {mle.get('best_epoch')} kept"
                if cfg.mle.patience else f"{mle.get('epochs_run', cfg.mle.epochs)} epochs")
    lines = [f"# Synthetic oracle benchmark (seed {cfg.seed})", "",
             f"Oracle entropy (NLL-oracle of {cfg.data.n_eval} oracle samples): {extra['oracle_entropy']:.3f}; "
             f"MLE pretraining {extra['mle_wall_s']:.0f}s ({stopping}), D pretraining "
             f"{extra['d_pretrain_wall_s']:.0f}s.", ""]
    frontier = extra.get("frontier", [])
    if frontier:
        lines += [f"MLE's temperature frontier ({cfg.frontier.samples} samples per temperature; frontier.png):", "",
                  "| temperature | " + " | ".join(f"{p['temperature']:g}" for p in frontier) + " |",
                  "|---|" + "---|" * len(frontier),
                  "| NLL-oracle | " + " | ".join(f"{p['nll_oracle']:.3f}" for p in frontier) + " |",
                  "| NLL-test | " + " | ".join(f"{p['nll_test']:.3f}" for p in frontier) + " |", ""]
    lines += ["| row | NLL-oracle | NLL-test | vs MLE's temperature frontier | wall s (after MLE) | CPU s "
              "| rollout share |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        share = f"{r['rollout_s'] / r['wall_s']:.0%}" if r.get("rollout_s") and r["wall_s"] > 0 else "-"
        where = describe_distance(r.get("frontier_distance")) if frontier else "-"
        cpu = f"{r['cpu_s']:.0f}" if "cpu_s" in r else "-"
        lines.append(f"| {r['row']} | {r['nll_oracle']:.3f} | {r['nll_test']:.3f} | {where} | {r['wall_s']:.0f} "
                     f"| {cpu} | {share} |")
    atomic_write_text(run_dir / "results.md", "\n".join(lines) + "\n")


def plot_curves(run_dir: Path, rows: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        if r["curve"]:
            xs, ys = zip(*r["curve"])
            ax.plot(xs, ys, label=r["row"], lw=2.5 if r["row"] in ("seqgan", "mle_continued") else 1.2)
    ax.set_xlabel("round after MLE pretraining")
    ax.set_ylabel("NLL-oracle")
    if ax.lines:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    path = run_dir / "curves.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summarize_seeds(results: list[dict], details: bool = False) -> str:
    """Markdown table of several seeds' ``results.json`` dicts: one column per seed and mean ± sample std per row
    (NLL-oracle and NLL-test), rows in the order they first appear; a row missing from a seed shows ``-`` there and
    its statistics cover the seeds that have it. ``details`` adds each row's NLL-oracle minus the same seed's MLE
    (mean ± std of the per-seed differences) and its CPU seconds."""
    import statistics

    seeds = [r["seed"] for r in results]
    names: list[str] = []
    for r in results:
        names += [row["row"] for row in r["rows"] if row["row"] not in names]
    by_seed = [{row["row"]: row for row in r["rows"]} for r in results]

    def cell(values: list[float], sign: str = "") -> str:
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.fmean(values):{sign}.3f} ± {sd:.3f}" if values else "-"

    with_frontier = all("frontier_distance" in row for r in results for row in r["rows"])
    head = ["row", *[f"NLL-oracle s{s}" for s in seeds], "NLL-oracle mean ± std", "NLL-test mean ± std",
            "wall s mean", *(["vs frontier mean ± std (< 0: below)"] if with_frontier else []),
            *(["minus MLE mean ± std", "CPU s mean"] if details else [])]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        present = [rows[name] for rows in by_seed if name in rows]
        oracle_v = [row["nll_oracle"] for row in present]
        wall = statistics.fmean(row["wall_s"] for row in present)
        line = (f"| {name} | " + " | ".join(f"{rows[name]['nll_oracle']:.3f}" if name in rows else "-"
                                            for rows in by_seed)
                + f" | {cell(oracle_v)} | {cell([row['nll_test'] for row in present])} | {wall:.0f} |")
        if with_frontier:
            dist = [row["frontier_distance"] for row in present]
            line += f" {cell(dist)} |" if None not in dist else " left of it in " + \
                f"{dist.count(None)} of {len(dist)} seeds |"
        if details:
            minus = [rows[name]["nll_oracle"] - rows["mle"]["nll_oracle"] for rows in by_seed
                     if name in rows and "mle" in rows]
            cpu = [row["cpu_s"] for row in present if "cpu_s" in row]
            line += f" {cell(minus, '+')} | {statistics.fmean(cpu) if cpu else float('nan'):.0f} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def mean_rows(results: list[dict]) -> list[dict]:
    """Every row's mean NLL-oracle and NLL-test over the seeds that have it (for a frontier plot of several seeds)."""
    import statistics

    names: list[str] = []
    for r in results:
        names += [row["row"] for row in r["rows"] if row["row"] not in names]
    out = []
    for name in names:
        present = [row for r in results for row in r["rows"] if row["row"] == name]
        out.append({"row": name, "nll_oracle": statistics.fmean(row["nll_oracle"] for row in present),
                    "nll_test": statistics.fmean(row["nll_test"] for row in present)})
    return out


def plot_seed_curves(results: list[dict], path: Path) -> Path:
    """NLL-oracle vs round of every continued row, mean over seeds (shaded: min..max), one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name in [row["row"] for row in results[0]["rows"]]:
        curves = [dict((int(x), y) for x, y in row["curve"]) for r in results for row in r["rows"] if row["row"] == name]
        if not curves or not curves[0]:
            continue
        xs = sorted(set.intersection(*(set(c) for c in curves)))
        ys = torch.tensor([[c[x] for x in xs] for c in curves])  # (seeds, points)
        line, = ax.plot(xs, ys.mean(0).tolist(), label=name, lw=2.5 if name in ("seqgan", "mle_continued") else 1.2)
        ax.fill_between(xs, ys.min(0).values.tolist(), ys.max(0).values.tolist(), color=line.get_color(), alpha=0.15)
    ax.set_xlabel("round after MLE pretraining")
    ax.set_ylabel(f"NLL-oracle (mean of {len(results)} seeds; band: min..max)")
    if ax.lines:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def pick_device(cfg: OracleConfig) -> torch.device:
    """``accelerate``'s device: the GPU when one is visible (and ``cfg.cpu`` is false), else the CPU."""
    from accelerate import Accelerator

    return Accelerator(cpu=cfg.cpu).device


def run_oracle_benchmark(cfg: OracleConfig, resume: bool = False) -> dict:
    """Run every row of ``cfg.rows``; returns the results dict also written to ``results.json``.

    With ``resume`` the oracle, data, MLE and pretrained-D checkpoints and every finished row recorded in
    ``run_dir/progress.json`` are reused (the config must match the saved one, except run_dir / threads / cpu /
    rows). Results are rewritten after every row, so an interrupted run (Ctrl-C included) keeps all finished rows.
    """
    cfg.tracking.check_installed()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg)
    bench = OracleBenchmark(cfg, device=device, resume=resume)
    save_config(cfg, bench.dir / "config.yaml")
    t0 = time.perf_counter() - bench.progress.get("elapsed_s", 0.0)
    logger.info("oracle benchmark on %s", device)
    try:
        bench.prepare()
        bench.pretrain()
        bench.temperature_frontier()
        if any(r in ("seqgan", "prefix", "maligan", "leakgan", *RELAXED_ROWS) for r in cfg.rows):
            bench.pretrain_discriminator()
        done = bench.progress["rows"]
        for name in cfg.rows:
            if name in done:
                logger.info("%s: done in an earlier run, skipped", name)
                continue
            cpu0 = time.process_time()
            row = bench.run_row(name)
            row["cpu_s"] = time.process_time() - cpu0  # CPU seconds of the row (evaluation included)
            done[name] = row
            bench.progress.setdefault("row_configs", {})[name] = _sections(bench.progress["config"], row_sections(name))
            bench.progress["elapsed_s"] = time.perf_counter() - t0
            bench.save_progress()
            logger.info("%s: NLL-oracle %.3f NLL-test %.3f (%.0fs)", name, row["nll_oracle"], row["nll_test"],
                        row["wall_s"])
            _write_outputs(bench, cfg, t0)
    except KeyboardInterrupt:
        bench.progress["elapsed_s"] = time.perf_counter() - t0
        bench.save_progress()
        logger.warning("interrupted: finished rows are saved in %s; continue with --resume", bench.dir)
        raise
    finally:
        bench.finish_tracking()
    result = _write_outputs(bench, cfg, t0)
    if not math.isfinite(sum(r["nll_oracle"] for r in result["rows"])):
        raise ConfigError("the benchmark produced a non-finite NLL (diverged training: lower mle.lr)")
    return result


def _write_outputs(bench: OracleBenchmark, cfg: OracleConfig, t0: float) -> dict:
    """results.json / results.md / curves.png from the rows finished so far, in ``cfg.rows`` order."""
    frontier = bench.progress.get("frontier", {}).get("points", [])
    rows = [dict(bench.progress["rows"][n]) for n in cfg.rows if n in bench.progress["rows"]]
    for row in rows:
        if frontier:
            row["frontier_distance"] = frontier_distance(frontier, row)
    mle = {k: v for k, v in bench.progress.get("mle", {}).items() if k not in ("curve", "wall_s")}
    extra = {"oracle_entropy": bench.entropy, "mle_wall_s": bench.mle_wall, "d_pretrain_wall_s": bench.disc_wall,
             "mle_curve": bench.mle_curve, "mle": mle, "frontier": frontier,
             "total_wall_s": time.perf_counter() - t0, "device": str(bench.device)}
    write_results(bench.dir, cfg, rows, extra)
    plot_curves(bench.dir, rows)
    if frontier:
        plot_frontier(bench.dir / "frontier.png", frontier, rows, title=f"seed {cfg.seed}")
    return {"seed": cfg.seed, **extra, "rows": rows}
