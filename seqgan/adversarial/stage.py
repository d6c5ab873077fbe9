"""Adversarial fine-tuning of an MLE-trained chatbot run: ``train_adversarial(cfg, run_dir, resume=False)``.

Starts from the run's MLE generator (``generator/``, kept unchanged for comparison) and its pretrained
discriminator (``discriminator/``, pretrained here if absent), alternates D and G updates
(:class:`~seqgan.adversarial.trainer.AdversarialTrainer`) and writes into the run directory:

- ``generator_adv/``  the adversarially fine-tuned generator (``save_pretrained``; load with
  :func:`seqgan.models.generators.load_policy`, or plain transformers), ``discriminator_adv/`` the final D,
- ``checkpoints/adversarial/`` everything a resumed run needs (G, D, the rollout policy's lagging copy as
  safetensors; optimisers, baseline, data positions, counters, RNG states in ``state.pt``), also kept as
  ``checkpoints/round-NNNNNN/`` (the newest ``save_total_limit``; ``--resume PATH`` continues any of them),
- ``generator_best/`` G of the best round by ``best_metric`` (with ``best.json``), when one is chosen,
- one ``metrics.jsonl`` line per round (``"stage": "adversarial"``) and ``adversarial.png`` with the curves.

Resuming continues exactly: N rounds + resume to 2N gives the same metrics and weights as 2N rounds straight.
Ctrl-C writes the checkpoint before exiting.

Mixed precision (``adversarial.mixed_precision``, else the launcher's ``--mixed_precision``): each round runs under
the accelerator's autocast (fp16 / bf16 forward passes; the backward pass outside it) and, for fp16, its gradient
scaler (:func:`~seqgan.adversarial.routes.make_update` unscales before clipping and skips inf / NaN steps; the
scale is logged as ``grad_scale`` and saved in the checkpoint). D pretraining runs in fp32.

Several processes (``accelerate launch`` / ``torchrun``): data parallelism. Each rank takes its own shard of the
training pairs and its own sampling seed, gradients are averaged over the ranks after every backward pass
(:func:`data_parallel_backward`), so all ranks take the same optimiser steps and keep identical weights; the
logged metrics are means over the ranks; only the main process writes files. A missing D is pretrained by the
main process alone. The checkpoint holds every rank's data position, baseline and RNG state, so ``--resume`` with
the same number of processes continues exactly; Ctrl-C in a multi-process run keeps the last periodic checkpoint.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from seqgan.data import PairStream, iter_batches
from seqgan.errors import CheckpointError, ConfigError
from seqgan.adversarial.config import AdversarialConfig
from seqgan.adversarial.trainer import AdversarialTrainer
from seqgan.runs.checkpoint import capture_rng, check_complete, load_checkpoint, restore_rng, save_checkpoint
from seqgan.runs.retention import BestTracker, keep_checkpoint, newer_checkpoints, save_best
from seqgan.runs.rundir import RunDir
from seqgan.tracking import Tracker

logger = logging.getLogger(__name__)

GENERATOR_ADV = "generator_adv"
DISCRIMINATOR_ADV = "discriminator_adv"
CHECKPOINT = Path("checkpoints") / "adversarial"
PLOT = "adversarial.png"

__all__ = ["AdversarialConfig", "train_adversarial", "GENERATOR_ADV", "DISCRIMINATOR_ADV"]


def read_adversarial_metrics(run_dir: str | Path) -> list[dict]:
    """The ``stage == "adversarial"`` lines of the run's metrics.jsonl (a resumed run's repeated rounds: last wins)."""
    rounds = {int(rec["round"]): rec for rec in RunDir(run_dir).read_metrics("adversarial") if "round" in rec}
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


def data_parallel_backward(accelerator, modules: list[torch.nn.Module]):
    """The trainer's ``backward``: ``accelerator.backward(loss)`` (which scales the loss under fp16) outside the
    round's autocast, then, with several processes, the gradients of every trainable parameter of ``modules``
    averaged over the processes in one all-reduce. The models stay plain modules (no DDP wrapper), so the Policy's
    own methods (sample, score, rollout) are called as they are."""
    device_type = accelerator.device.type

    def plain(loss: torch.Tensor) -> None:
        with torch.autocast(device_type, enabled=False):  # autocast wraps the forward passes only
            accelerator.backward(loss)

    world = accelerator.num_processes
    if world == 1:
        return plain
    import torch.distributed as dist

    params = [p for m in modules for p in m.parameters()]

    def backward(loss: torch.Tensor) -> None:
        plain(loss)
        grads = [p.grad for p in params if p.requires_grad and p.grad is not None]  # the same set on every rank
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= world
        for g, synced in zip(grads, flat.split([g.numel() for g in grads])):
            g.copy_(synced.view_as(g))

    return backward


def _cpu(obj):
    """``obj`` with every tensor moved to the CPU (before exchanging it between processes)."""
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def _rank_state(trainer: AdversarialTrainer) -> dict:
    """What differs between the ranks of a multi-process run: data position, the route's baseline, RNG streams."""
    return _cpu({"human": trainer.human.state_dict(), "route": trainer.route.state_dict(),
                 "perm_gen": trainer.perm_gen.get_state(), "rng": capture_rng()})


def _modules(trainer: AdversarialTrainer) -> dict[str, torch.nn.Module]:
    """The modules of an adversarial checkpoint: G, D and the rollout policy's lagging copy (when it has one)."""
    modules = {"generator": trainer.policy, "discriminator": trainer.disc}
    if trainer.rollout_policy is not None and trainer.rollout_policy.copy is not None:
        modules["rollout_policy"] = trainer.rollout_policy.copy
    return modules


def _save_checkpoint(trainer: AdversarialTrainer, path: Path, accelerator=None, keep: int = 0,
                     best: BestTracker | None = None) -> None:
    """Atomic checkpoint of the whole adversarial state (collective when several processes run); ``keep``: the
    ``save_total_limit`` of kept copies ``round-NNNNNN``; ``best``: the best-round tracker, saved with it."""
    world = accelerator.num_processes if accelerator is not None else 1
    ranks = None
    if world > 1:
        from accelerate.utils import gather_object

        ranks = gather_object([_rank_state(trainer)])
        if not accelerator.is_main_process:
            accelerator.wait_for_everyone()
            return

    state = {"trainer": _cpu(trainer.state_dict()), "rng": capture_rng()}
    if ranks is not None:
        state["ranks"] = ranks
    if best is not None:
        state["best"] = best.state_dict()
    if accelerator is not None and accelerator.scaler is not None:
        state["scaler"] = accelerator.scaler.state_dict()  # fp16: the loss scale a resumed run continues with
    label = f"round {trainer.round}"
    save_checkpoint(path, _modules(trainer), state, label=label)
    keep_checkpoint(path, "round", trainer.round, keep, label)
    if world > 1:
        accelerator.wait_for_everyone()


def _load_checkpoint(trainer: AdversarialTrainer, path: Path, accelerator=None,
                     best: BestTracker | None = None) -> None:
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator is not None else (0, 1)
    state = load_checkpoint(path, _modules(trainer))
    if best is not None and "best" in state:
        best.load_state_dict(state["best"])
    if accelerator is not None and accelerator.scaler is not None and "scaler" in state:
        accelerator.scaler.load_state_dict(state["scaler"])
    saved_world = len(state.get("ranks") or [None])
    if saved_world != world:
        raise CheckpointError(f"{path}: written by {saved_world} process(es); resume it with the same number "
                              f"(this run has {world})")
    try:
        trainer.load_state_dict(state["trainer"])
        if world > 1:
            mine = state["ranks"][rank]
            trainer.human.load_state_dict(mine["human"])
            trainer.route.load_state_dict(mine["route"])
            trainer.perm_gen.set_state(mine["perm_gen"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path}: training state does not fit this config ({err})") from None
    restore_rng(state["ranks"][rank]["rng"] if world > 1 else state["rng"])


def _mean_over_ranks(log: dict[str, float], accelerator) -> dict[str, float]:
    """Each metric of a round averaged over the processes (identity for one process)."""
    if accelerator.num_processes == 1:
        return log
    from accelerate.utils import gather_object

    logs = gather_object([log])
    return {k: sum(lg[k] for lg in logs if k in lg) / sum(k in lg for lg in logs) for k in log}


def _write_rank_report(path: str | Path, trainer: AdversarialTrainer, accelerator) -> None:
    """Append ``rank world g_checksum d_checksum shard_checksum`` (the multi-process test reads it)."""
    def checksum(params) -> float:
        return sum(float(p.detach().double().sum()) for p in params)

    shard = sum(sum(r["reply_ids"]) for r in trainer.human.rows[:8])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{accelerator.process_index} {accelerator.num_processes} "
                     f"{checksum(trainer.policy.parameters()):.10e} {checksum(trainer.disc.parameters()):.10e} "
                     f"{shard}\n")


@torch.no_grad()
def sample_rows(policy, tokenizer, batch: dict[str, torch.Tensor], n: int, device) -> list[dict[str, str]]:
    """G's greedy replies to the first ``n`` contexts of a collated held-out ``batch``, next to the human replies
    (``{context, reply, human}`` texts for the trackers; greedy decoding draws no random numbers)."""
    from seqgan.adversarial.trainer import batch_to
    from seqgan.data import decode_ids
    from seqgan.models.policy import eval_mode

    rows = {k: v[:n] for k, v in batch.items()}
    context, human = batch_to(rows, device)
    with eval_mode(policy):
        replies = policy.sample(context, greedy=True)
    return [{"context": c, "reply": r, "human": h} for c, r, h in zip(
        decode_ids(tokenizer, context.ids, context.mask), decode_ids(tokenizer, replies.ids, replies.mask),
        decode_ids(tokenizer, human.ids, human.mask))]


def _load_data(cfg, tokenizer, splits=None):
    """Encoded training pairs and the held-out pairs for G's NLL (deterministic: seeded split)."""
    from seqgan.data import encode_pairs, prepare_data

    splits = splits if splits is not None else prepare_data(cfg.data)
    train = encode_pairs(splits.train, tokenizer, cfg.data)
    valid = splits.valid.select(range(min(cfg.adversarial.eval_pairs, len(splits.valid))))
    return train, encode_pairs(valid, tokenizer, cfg.data)


def _discriminator(cfg, run_dir: Path, policy, tokenizer, train, valid, device):
    """The run's pretrained D; pretrained (and saved as ``discriminator/``, tracked as the ``d_pretrain`` stage)
    when the run has none."""
    from seqgan.models.discriminators import build_discriminator, load_discriminator

    disc = load_discriminator(run_dir)
    if disc is not None:
        saved, wanted = (disc.cfg.encoder, disc.cfg.head), (cfg.discriminator.encoder, cfg.discriminator.head)
        if saved != wanted:
            raise ConfigError(
                f"discriminator: {run_dir / 'discriminator'} holds a {saved[0]}/{saved[1]} D but the config asks for "
                f"{wanted[0]}/{wanted[1]}; use a copy of the MLE run without discriminator/ (or matching settings)")
        differ = [f"{k} {v!r} (config: {getattr(cfg.discriminator, k)!r})" for k, v in vars(disc.cfg).items()
                  if getattr(cfg.discriminator, k, v) != v]
        if differ:
            logger.warning("discriminator: the saved D in %s is used as it was built: %s; remove discriminator/ to "
                           "pretrain one with the config's settings", run_dir / "discriminator", ", ".join(differ))
        return disc.to(device)
    from seqgan.adversarial.d_pretrain import pretrain_discriminator

    logger.info("no discriminator in %s: pretraining one", run_dir)
    disc = build_discriminator(cfg.discriminator, policy.vocab_size, tokenizer.pad_token_id, policy, tokenizer)
    disc = disc.to(device)
    tracker = Tracker(cfg.tracking, run_dir, "d_pretrain", cfg.run_name, cfg)
    every = max(1, cfg.d_pretrain.steps // 100)  # at most ~100 lines

    def log(step: int, terms: dict[str, float]) -> None:
        if step % every == 0 and step < cfg.d_pretrain.steps:
            tracker.log({"stage": "d_pretrain", "step": step, **{f"train_{k}": v for k, v in terms.items()}})

    metrics = pretrain_discriminator(policy, disc, train, cfg.d_pretrain, device, valid=valid, callback=log)
    disc.save_pretrained(run_dir / "discriminator")
    tracker.log({"stage": "d_pretrain", "step": cfg.d_pretrain.steps,
                 **{k: v for k, v in dict(metrics).items() if isinstance(v, (int, float, str))}})
    tracker.finish()
    return disc


def _heldout_d(disc, policy, valid, cfg, device) -> dict[str, float]:
    """D's held-out accuracy per term against G's current replies (``d_valid_acc_real`` ...), with the global RNG
    left as it was, so logging it does not change the run."""
    from seqgan.adversarial.d_pretrain import heldout_metrics

    with torch.random.fork_rng(devices=[]):
        metrics = heldout_metrics(disc, policy, valid, cfg.d_pretrain, device)
    return {f"d_{k}": float(v) for k, v in metrics.items() if k.startswith("valid_acc")}


def _d_loss(cfg):
    from seqgan.objectives.discriminator_loss import discriminator_loss

    return lambda disc, context, human, generated, perm, generated_context=None: discriminator_loss(
        disc, context, human, generated, cfg.d_pretrain, mismatch_perm=perm, generated_context=generated_context)


D_REWARD = ("reward_final", "g_d_prob")
"""What ``best_metric: d_reward`` reads: D's probability of G's sampled reply (policy gradient) or of G's relaxed
reply (the relaxed routes)."""


def round_metric(log: dict[str, float], metric: str) -> float | None:
    """The value of ``metric`` in a round's log (``d_reward``: see :data:`D_REWARD`), or None when the round has
    none."""
    if metric == "d_reward":
        return next((log[k] for k in D_REWARD if k in log), None)
    return log.get(metric)


def train_adversarial(cfg, run_dir: str | Path, resume: bool | str | Path = False,
                      rank_report: str | Path | None = None, splits=None) -> Path:
    """Adversarial fine-tuning of the MLE generator in ``run_dir`` with ``cfg.adversarial``; returns the path of
    ``generator_adv/``. ``resume=True`` continues from ``checkpoints/adversarial`` (exactly) when it exists,
    ``resume=PATH`` from that checkpoint (e.g. ``checkpoints/round-000200``, kept by ``save_total_limit``);
    without it an existing adversarial checkpoint is ignored and the stage starts again from the MLE generator.
    ``adversarial.best_metric`` saves G of the best round as ``generator_best/``. ``rank_report``: each
    process appends its rank, the number of processes and checksums of its final weights to that file.
    ``splits``: the run's :func:`~seqgan.data.prepare_data` output (prepared here when not given)."""
    from accelerate.utils import set_seed

    from seqgan.data import load_tokenizer
    from seqgan.generate import export_decoding
    from seqgan.models.generators import load_policy
    from seqgan.runs.devices import make_accelerator
    from seqgan.runs.interrupts import between_steps
    from seqgan.runs.paths import check_output_dir

    run_dir = Path(run_dir)
    acfg: AdversarialConfig = cfg.adversarial
    acfg.validate()
    if not (run_dir / "generator").is_dir():
        raise CheckpointError(f"{run_dir}: no MLE generator (generator/) to fine-tune; run `seqgan pretrain` first")
    ckpt = run_dir / CHECKPOINT
    start = (ckpt if ckpt.exists() else None) if resume is True else Path(resume) if resume else None
    if start is not None and resume is not True:
        if not start.is_dir():
            raise CheckpointError(f"{start}: no checkpoint to resume from")
        check_complete(start)
    check_output_dir(run_dir, "RUN_DIR")
    accelerator = make_accelerator(acfg.mixed_precision, "adversarial.mixed_precision")
    device, rank, world, main = (accelerator.device, accelerator.process_index, accelerator.num_processes,
                                 accelerator.is_main_process)
    set_seed(cfg.seed)
    tokenizer = load_tokenizer(run_dir / "tokenizer")
    policy = load_policy(run_dir / "generator", lora=cfg.generator.lora).to(device)
    train, valid = _load_data(cfg, tokenizer, splits)
    if main:  # pretrains and saves D when the run has none; the other ranks then load that D
        disc = _discriminator(cfg, run_dir, policy, tokenizer, train, valid, device)
    accelerator.wait_for_everyone()
    if not main:
        disc = _discriminator(cfg, run_dir, policy, tokenizer, train, valid, device)

    set_seed(cfg.seed + 1 + 1000 * rank)  # each rank samples its own replies
    shard = train.shard(num_shards=world, index=rank, contiguous=False) if world > 1 else train
    stream = PairStream.from_dataset(shard, tokenizer.pad_token_id, acfg.batch_size, seed=cfg.seed)
    trainer = AdversarialTrainer(policy, disc, acfg, _d_loss(cfg), stream, seed=cfg.seed, device=device,
                                 backward=data_parallel_backward(accelerator, [policy, disc]),
                                 mismatch_negatives=cfg.d_pretrain.mismatch_negatives, scaler=accelerator.scaler)
    valid_batches = list(iter_batches(valid, tokenizer.pad_token_id, 64))
    run = RunDir(run_dir)
    best = BestTracker(acfg.best_metric, acfg.greater_is_better) if acfg.best_metric else None
    if start is not None:
        _load_checkpoint(trainer, start, accelerator, best)
    tracker = Tracker(cfg.tracking, run_dir, "adversarial", cfg.run_name, cfg,
                      resume_step=trainer.round if start is not None else None, main=main)

    def track_best(log: dict[str, float], r: int) -> None:
        if best is not None and best.update(round_metric(log, acfg.best_metric), r) and main:
            save_best(policy, run_dir, best, "adversarial", "round")

    def log_round(record: dict[str, float], r: int) -> None:
        tracker.log({"stage": "adversarial", "step": r, **record})
        if "valid_nll" in record and tracker.trackers and cfg.tracking.log_samples and valid_batches:
            tracker.text("samples", sample_rows(policy, tokenizer, valid_batches[0], cfg.eval.num_samples, device),
                         r)

    if start is not None:
        if main:
            run.truncate_metrics_after("adversarial", trainer.round)  # lines written after that checkpoint
        logger.info("resumed adversarial training at round %d from %s", trainer.round, start)
    else:
        valid_nll = trainer.held_out_nll(valid_batches)
        if main:
            run.truncate_metrics_after("adversarial", -1)  # a fresh start replaces an earlier attempt's lines
            log_round({"round": 0, "valid_nll": valid_nll}, 0)
        track_best({"valid_nll": valid_nll}, 0)  # the MLE generator is round 0's candidate
    later = newer_checkpoints(ckpt, "round", trainer.round) if main else []
    if later:
        logger.warning("starting at round %d: the kept checkpoints after it (%s) are replaced as training reaches "
                       "them", trainer.round, ", ".join(p.name for p in later))

    start = time.perf_counter()
    with between_steps("round", enabled=world == 1) as pending:
        try:
            while trainer.round < acfg.rounds:
                with accelerator.autocast():  # fp16 / bf16 forward passes under mixed precision
                    log = _mean_over_ranks(trainer.run_round(), accelerator)
                if accelerator.scaler is not None:
                    log["grad_scale"] = float(accelerator.scaler.get_scale())
                r = trainer.round
                if (acfg.eval_every and r % acfg.eval_every == 0) or r == acfg.rounds:
                    log["valid_nll"] = trainer.held_out_nll(valid_batches)
                    if acfg.d_steps and cfg.d_pretrain.eval_batches and main:
                        log.update(_heldout_d(disc, policy, valid, cfg, device))
                if main:
                    log_round(log, r)
                    logger.info("adversarial round %d/%d: %s", r, acfg.rounds,
                                ", ".join(f"{k} {v:.3g}" for k, v in log.items() if k != "round"))
                track_best(log, r)
                if acfg.save_every and r % acfg.save_every == 0 and r < acfg.rounds:
                    _save_checkpoint(trainer, ckpt, accelerator, acfg.save_total_limit, best)
                pending.check()  # Ctrl-C / SIGTERM stop here, between two complete rounds
        except KeyboardInterrupt as err:
            if not getattr(err, "clean", True):  # a second Ctrl-C, mid-round: that state must not be saved
                logger.warning("stopped mid-round: nothing saved; --resume continues from the last checkpoint "
                               "(adversarial.save_every)")
                raise
            if world == 1:
                _save_checkpoint(trainer, ckpt, accelerator, acfg.save_total_limit, best)
                logger.warning("interrupted: adversarial checkpoint saved at round %d (resume with --resume)",
                               trainer.round)
            elif main:
                logger.warning("interrupted: a multi-process run resumes from its last periodic checkpoint "
                               "(adversarial.save_every)")
            raise
    _save_checkpoint(trainer, ckpt, accelerator, acfg.save_total_limit, best)
    tracker.finish()
    if main and best is not None and best.value is None:
        logger.warning("adversarial.best_metric %r was never logged: no generator_best/ (round metrics: %s)",
                       acfg.best_metric, ", ".join(sorted(read_adversarial_metrics(run_dir)[-1])))
    out = run_dir / GENERATOR_ADV
    if main:
        policy.save_pretrained(out, tokenizer, export_decoding(run_dir, policy.max_reply_len))
        disc.save_pretrained(run_dir / DISCRIMINATOR_ADV)
        plot_adversarial(run_dir)
        logger.info("adversarial stage: %d rounds in %.1f s on %d process(es); generator saved to %s",
                    trainer.round, time.perf_counter() - start, world, out)
    if rank_report:
        _write_rank_report(rank_report, trainer, accelerator)
    accelerator.wait_for_everyone()
    return out
