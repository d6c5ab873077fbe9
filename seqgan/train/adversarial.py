"""Adversarial fine-tuning of an MLE-trained chatbot run: ``train_adversarial(cfg, run_dir, resume=False)``.

Starts from the run's MLE generator (``generator/``, kept unchanged for comparison) and its pretrained
discriminator (``discriminator/``, pretrained here if absent), alternates D and G updates
(:class:`~seqgan.train.adversarial_core.AdversarialTrainer`) and writes into the run directory:

- ``generator_adv/``  the adversarially fine-tuned generator (``save_pretrained``; load with
  ``Seq2SeqPolicy.from_pretrained``), ``discriminator_adv/`` the final D,
- ``checkpoints/adversarial/`` everything a resumed run needs (G, D, the rollout policy's lagging copy as
  safetensors; optimisers, baseline, data positions, counters, RNG states in ``state.pt``),
- one ``metrics.jsonl`` line per round (``"stage": "adversarial"``) and ``adversarial.png`` with the curves.

Resuming continues exactly: N rounds + resume to 2N gives the same metrics and weights as 2N rounds straight.
Ctrl-C writes the checkpoint before exiting.
"""

from __future__ import annotations

import json
import logging
import time
from functools import partial
from pathlib import Path

import torch

from seqgan.errors import CheckpointError, ConfigError
from seqgan.train.adversarial_core import AdversarialConfig, AdversarialTrainer, PairStream
from seqgan.train.checkpoint import (
    capture_rng,
    check_complete,
    load_module,
    load_state,
    restore_rng,
    save_module,
    save_state,
    write_checkpoint,
    STATE_FILE,
)

logger = logging.getLogger(__name__)

GENERATOR_ADV = "generator_adv"
DISCRIMINATOR_ADV = "discriminator_adv"
CHECKPOINT = Path("checkpoints") / "adversarial"
PLOT = "adversarial.png"

__all__ = ["AdversarialConfig", "train_adversarial", "GENERATOR_ADV", "DISCRIMINATOR_ADV"]


def _append_metrics(run_dir: Path, record: dict) -> None:
    from seqgan.train.run import RunDir

    RunDir(run_dir).append_metrics(record)


def read_adversarial_metrics(run_dir: str | Path) -> list[dict]:
    """The ``stage == "adversarial"`` lines of the run's metrics.jsonl (a resumed run's repeated rounds: last wins)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    rounds: dict[int, dict] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("stage") == "adversarial" and "round" in rec:
            rounds[int(rec["round"])] = rec
    return [rounds[k] for k in sorted(rounds)]


def plot_adversarial(run_dir: str | Path) -> Path | None:
    """PNG of D's accuracy per term (and the relaxed routes' cheating score), mean reward and baseline (relaxed
    routes: D's probability of G's replies and the temperature), G's NLL on held-out human replies, round times."""
    records = read_adversarial_metrics(run_dir)
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    x = [r["round"] for r in records]

    def curve(ax, key, label):
        pts = [(r["round"], r[key]) for r in records if key in r]
        if pts:
            ax.plot(*zip(*pts), marker="." if len(pts) < 30 else None, label=label)

    for key in ("d_acc_real", "d_acc_fake", "d_acc_mismatch", "d_acc_realism", "d_acc_match"):
        curve(axes[0, 0], key, key[2:])
    curve(axes[0, 0], "cheat_auc", "cheating score (max-prob/entropy AUC)")
    axes[0, 0].set_title("D accuracy per term")
    curve(axes[0, 1], "reward_mean", "mean reward")
    curve(axes[0, 1], "baseline", "baseline")
    curve(axes[0, 1], "reward_final", "D(c, x) of the sampled reply")
    curve(axes[0, 1], "g_d_prob", "D(c, G's relaxed reply)")
    curve(axes[0, 1], "tau", "temperature tau")
    axes[0, 1].set_title("reward")
    curve(axes[1, 0], "valid_nll", "held-out NLL")
    curve(axes[1, 0], "tf_nll", "teacher-forcing NLL (train)")
    axes[1, 0].set_title("G negative log-likelihood on human replies")
    curve(axes[1, 1], "round_s", "round")
    curve(axes[1, 1], "reward_time_s", "reward (rollout)")
    curve(axes[1, 1], "d_time_s", "D steps")
    axes[1, 1].set_title("wall time per round (s)")
    for ax in axes.flat:
        ax.set_xlabel("round")
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(run_dir) / PLOT
    fig.savefig(path, dpi=90)
    plt.close(fig)
    del x
    return path


def _save_checkpoint(trainer: AdversarialTrainer, path: Path) -> None:
    def writer(staging: Path) -> None:
        save_module(trainer.policy, staging / "generator.safetensors")
        save_module(trainer.disc, staging / "discriminator.safetensors")
        if trainer.rollout_policy is not None and trainer.rollout_policy.copy is not None:
            save_module(trainer.rollout_policy.copy, staging / "rollout_policy.safetensors")
        save_state(staging / STATE_FILE, {"trainer": trainer.state_dict(), "rng": capture_rng()})

    write_checkpoint(path, writer)


def _load_checkpoint(trainer: AdversarialTrainer, path: Path) -> None:
    check_complete(path)
    load_module(trainer.policy, path / "generator.safetensors")
    load_module(trainer.disc, path / "discriminator.safetensors")
    if trainer.rollout_policy is not None and trainer.rollout_policy.copy is not None:
        load_module(trainer.rollout_policy.copy, path / "rollout_policy.safetensors")
    state = load_state(path / STATE_FILE)
    try:
        trainer.load_state_dict(state["trainer"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path}: training state does not fit this config ({err})") from None
    restore_rng(state["rng"])


def _load_data(cfg, tokenizer):
    """Encoded training pairs and the held-out pairs for G's NLL (deterministic: seeded split)."""
    from seqgan.data import encode_pairs, prepare_data

    splits = prepare_data(cfg.data)
    train = encode_pairs(splits.train, tokenizer, cfg.data)
    valid = splits.valid.select(range(min(cfg.adversarial.eval_pairs, len(splits.valid))))
    return splits, train, encode_pairs(valid, tokenizer, cfg.data)


def _discriminator(cfg, run_dir: Path, policy, tokenizer, train, valid, device):
    """The run's pretrained D; pretrained (and saved as ``discriminator/``) when the run has none."""
    from seqgan.models.discriminator import Discriminator, load_discriminator

    disc = load_discriminator(run_dir)
    if disc is not None:
        saved, wanted = (disc.cfg.encoder, disc.cfg.head), (cfg.discriminator.encoder, cfg.discriminator.head)
        if saved != wanted:
            raise ConfigError(
                f"discriminator: {run_dir / 'discriminator'} holds a {saved[0]}/{saved[1]} D but the config asks for "
                f"{wanted[0]}/{wanted[1]}; use a copy of the MLE run without discriminator/ (or matching settings)")
        return disc.to(device)
    from seqgan.train.d_pretrain import pretrain_discriminator

    logger.info("no discriminator in %s: pretraining one", run_dir)
    disc = Discriminator(cfg.discriminator, len(tokenizer), tokenizer.pad_token_id).to(device)
    metrics = pretrain_discriminator(policy, disc, train, cfg.d_pretrain, device, valid=valid)
    disc.save(run_dir / "discriminator")
    _append_metrics(run_dir, {"stage": "d_pretrain", **{k: v for k, v in dict(metrics).items()
                                                         if isinstance(v, (int, float, str))}})
    return disc


def _d_loss(cfg):
    from seqgan.objectives.discriminator_loss import discriminator_loss

    return lambda disc, context, human, generated, perm: discriminator_loss(
        disc, context, human, generated, cfg.d_pretrain, mismatch_perm=perm)


def train_adversarial(cfg, run_dir: str | Path, resume: bool = False) -> Path:
    """Adversarial fine-tuning of the MLE generator in ``run_dir`` with ``cfg.adversarial``; returns the path of
    ``generator_adv/``. ``resume`` continues from ``checkpoints/adversarial`` (exactly); without it an existing
    adversarial checkpoint is ignored and the stage starts again from the MLE generator."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from seqgan.data import load_tokenizer
    from seqgan.models.seq2seq import Seq2SeqPolicy
    from seqgan.train.run import RunDir

    run_dir = Path(run_dir)
    acfg: AdversarialConfig = cfg.adversarial
    acfg.validate()
    if not (run_dir / "generator").is_dir():
        raise CheckpointError(f"{run_dir}: no MLE generator (generator/) to fine-tune; run `seqgan pretrain` first")
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    device = accelerator.device
    set_seed(cfg.seed)
    tokenizer = load_tokenizer(run_dir / "tokenizer")
    policy = Seq2SeqPolicy.from_pretrained(run_dir / "generator").to(device)
    _, train, valid = _load_data(cfg, tokenizer)
    disc = _discriminator(cfg, run_dir, policy, tokenizer, train, valid, device)

    set_seed(cfg.seed + 1)
    stream = PairStream.from_dataset(train, tokenizer.pad_token_id, acfg.batch_size, seed=cfg.seed)
    trainer = AdversarialTrainer(policy, disc, acfg, _d_loss(cfg), stream, seed=cfg.seed, device=device,
                                 backward=accelerator.backward)
    rows = PairStream.from_dataset(valid, tokenizer.pad_token_id, 64, 0).rows
    valid_batches = [stream.collate(rows[i:i + 64]) for i in range(0, len(rows), 64)]
    ckpt = run_dir / CHECKPOINT
    run = RunDir(run_dir)
    if resume and ckpt.exists():
        _load_checkpoint(trainer, ckpt)
        run.truncate_metrics_after("adversarial", trainer.round)  # lines written after that checkpoint
        logger.info("resumed adversarial training at round %d", trainer.round)
    else:
        run.truncate_metrics_after("adversarial", -1)  # a fresh start replaces an earlier attempt's lines
        _append_metrics(run_dir, {"stage": "adversarial", "round": 0, "step": 0,
                                  "valid_nll": trainer.held_out_nll(valid_batches)})

    start = time.perf_counter()
    try:
        while trainer.round < acfg.rounds:
            log = trainer.run_round()
            r = trainer.round
            if (acfg.eval_every and r % acfg.eval_every == 0) or r == acfg.rounds:
                log["valid_nll"] = trainer.held_out_nll(valid_batches)
            _append_metrics(run_dir, {"stage": "adversarial", "step": r, **log})
            logger.info("adversarial round %d/%d: %s", r, acfg.rounds,
                        ", ".join(f"{k} {v:.3g}" for k, v in log.items() if k != "round"))
            if acfg.save_every and r % acfg.save_every == 0 and r < acfg.rounds:
                _save_checkpoint(trainer, ckpt)
    except KeyboardInterrupt:
        _save_checkpoint(trainer, ckpt)
        logger.warning("interrupted: adversarial checkpoint saved at round %d (resume with --resume)", trainer.round)
        raise
    _save_checkpoint(trainer, ckpt)
    out = run_dir / GENERATOR_ADV
    write_checkpoint(out, lambda staging: policy.save_pretrained(staging))
    disc.save(run_dir / DISCRIMINATOR_ADV)
    plot_adversarial(run_dir)
    logger.info("adversarial stage: %d rounds in %.1f s; generator saved to %s", trainer.round,
                time.perf_counter() - start, out)
    return out
