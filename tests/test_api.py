"""The Python API: the main objects import from ``seqgan`` (lazily: ``import seqgan`` loads neither torch nor
transformers), and the example under examples/ runs end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_seqgan_stays_light():
    code = ("import sys, seqgan; heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_every_export_resolves_to_the_object_of_its_module():
    import seqgan
    from seqgan.chat.bot import Chatbot
    from seqgan.chatbot import ChatbotConfig
    from seqgan.mle.trainer import train_mle

    for name in seqgan.__all__:
        assert getattr(seqgan, name) is not None, name
    assert seqgan.Chatbot is Chatbot and seqgan.ChatbotConfig is ChatbotConfig and seqgan.train_mle is train_mle
    assert set(seqgan.__all__) <= set(dir(seqgan))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        seqgan.nope  # noqa: B018


@pytest.mark.slow
def test_the_train_and_chat_example_runs(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "train_and_chat.py"), str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert re.fullmatch(r"MLE: 30 steps, valid perplexity \d+\.\d", lines[0]), lines[0]
    assert lines[1] == "adversarial: 2 rounds"
    scored = [line for line in lines if re.search(r"^  (mle|adv): .*  \[D=0\.\d\d\]$", line)]
    assert len(scored) == 4, out.stdout
    for name in ("generator", "generator_adv", "discriminator_adv", "metrics.jsonl"):
        assert (tmp_path / "run" / name).exists(), name
