"""The ``accelerate.Accelerator`` every trainer runs on: the device (a GPU when one is visible), the processes of
``accelerate launch`` / ``torchrun``, and mixed precision.

Mixed precision is the launcher's (``accelerate launch --mixed_precision bf16`` sets ``ACCELERATE_MIXED_PRECISION``)
unless the config sets one (``mle.mixed_precision``, ``adversarial.mixed_precision``: ``no`` | ``fp16`` | ``bf16``;
unset, ``null``, defers to the launcher, and without a launcher means ``no``). accelerate keeps one precision per
process; a stage that needs another than the stage before it in the same process (the quickstart runs MLE and the
adversarial stage in one) gets a fresh accelerator state for it.

Several processes are data parallel (DDP for MLE, gradients averaged by the adversarial stage); FSDP, DeepSpeed and
Megatron-LM launches are refused with one line: every trainer evaluates, samples and saves on the main process with
the whole model, which sharded parameters do not allow.
"""

from __future__ import annotations

import logging
import os

from seqgan.errors import ConfigError

logger = logging.getLogger(__name__)

LAUNCHER_ENV = "ACCELERATE_MIXED_PRECISION"
UNSUPPORTED = ("FSDP", "DEEPSPEED", "MEGATRON_LM")
"""accelerate's sharded / model-parallel distributed types, which the trainers refuse (one line, before any work)."""


def wanted_precision(setting: str | None) -> str:
    """The precision a stage runs in: ``setting`` when the config gives one, else the launcher's, else ``no``."""
    return setting or os.environ.get(LAUNCHER_ENV, "no").lower()


def make_accelerator(mixed_precision: str | None = None, where: str = "mixed_precision"):
    """An ``Accelerator`` (CPU when no GPU is visible) in ``mixed_precision`` (None: the launcher's); ``where``
    names the config field in the note that a config setting overrides the launcher's."""
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    launcher = os.environ.get(LAUNCHER_ENV)
    if mixed_precision is not None and launcher and launcher.lower() != mixed_precision:
        logger.warning("%s=%s (the config) overrides the launcher's --mixed_precision %s", where, mixed_precision,
                       launcher)
    want = wanted_precision(mixed_precision)
    current = AcceleratorState._shared_state.get("_mixed_precision")
    if current is not None and current != want:
        AcceleratorState._reset_state()  # an earlier stage of this process ran in another precision
    accelerator = Accelerator(mixed_precision=want, cpu=not torch.cuda.is_available())
    sharded = accelerator.distributed_type.value  # NO, MULTI_GPU, MULTI_CPU ... FSDP, DEEPSPEED, MEGATRON_LM
    if sharded in UNSUPPORTED:
        raise ConfigError(f"accelerate launch: {sharded} is not supported yet (evaluation, sampling and saving run "
                          "on the main process with the whole model); launch with data parallelism, e.g. "
                          "accelerate launch --multi_gpu --num_processes N")
    return accelerator


def fused_adam(params) -> dict:
    """``{"fused": True}`` when torch's fused Adam / AdamW kernel can update ``params`` (tensors, or optimizer
    parameter groups): every parameter a floating-point tensor on the CPU or a CUDA device. One kernel per step then
    replaces several per tensor: for a 135 M-parameter model on one CPU thread a step took 0.80 s instead of 3.4 s
    (``benchmarks/optimizer_step.py``, BENCHMARKS.md). ``{}`` otherwise (torch's default implementation). The
    updates are Adam's either way, equal up to float rounding."""
    tensors = []
    for item in params:
        tensors += list(item["params"]) if isinstance(item, dict) else [item]
    usable = bool(tensors) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in tensors)
    return {"fused": True} if usable else {}
