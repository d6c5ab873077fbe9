"""Mistakes a user can make reach them as ONE clear line and a non-zero exit through the real CLI: no traceback,
no half-written run directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqgan import cli

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "recipes" / "tiny.yaml"


def run_cli(capsys, *args: str) -> str:
    """Run ``seqgan ARGS`` in process; assert a one-line user error (status 2) and return that line."""
    status = cli.main(["-q", *args])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith("seqgan: error: "), err
    return lines[0]


def pretrain_error(capsys, tmp_path: Path, *overrides: str) -> str:
    out = tmp_path / "run"
    line = run_cli(capsys, "pretrain", "--config", str(TINY), f"output_dir={out}", *overrides)
    assert not (out / "generator").exists() and not (out / "checkpoints").exists(), "half-written run directory"
    return line


FAST = ["mle.eval_every=0", "eval.num_pairs=8"]  # the tiny recipe without its mid-run evaluation

@pytest.fixture
def run_dir(tiny_run) -> Path:
    """The session's tiny MLE run (conftest.py); tests that change it work on a copy."""
    return tiny_run


# --------------------------------------------------------------------------- data
def test_missing_data_file(capsys, tmp_path):
    line = pretrain_error(capsys, tmp_path, f"data.source={tmp_path / 'nope.jsonl'}")
    assert "nope.jsonl: data file not found" in line


def test_empty_data_file(capsys, tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    line = pretrain_error(capsys, tmp_path, f"data.source={tmp_path / 'empty.jsonl'}")
    assert "empty.jsonl: data file is empty" in line


def test_missing_column(capsys, tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"context": f"hello {i}", "answer": "hi"}) + "\n" for i in range(20)))
    line = pretrain_error(capsys, tmp_path, f"data.source={path}")
    assert "missing column 'reply'" in line and "answer" in line


def test_non_utf8_data(capsys, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("bonjour\nça va ?\n\noui\nmerci\n".encode("latin-1"))
    line = pretrain_error(capsys, tmp_path, f"data.source={path}")
    assert "latin1.txt: not valid UTF-8 (line 2" in line


def test_conversations_of_one_turn(capsys, tmp_path):
    path = tmp_path / "monologue.jsonl"
    path.write_text("".join(json.dumps({"turns": [f"only turn {i}"]}) + "\n" for i in range(20)))
    line = pretrain_error(capsys, tmp_path, f"data.source={path}")
    assert "every conversation needs at least two turns" in line


# --------------------------------------------------------------------------- config
def test_unknown_config_key(capsys, tmp_path):
    line = pretrain_error(capsys, tmp_path, "mle.learning_rate_typo=1")
    assert "unknown config key mle.learning_rate_typo" in line


def test_wrong_value_type(capsys, tmp_path):
    line = pretrain_error(capsys, tmp_path, "mle.lr=abc")
    assert "mle.lr: expected a number, got 'abc'" in line


def test_missing_config_file(capsys, tmp_path):
    line = run_cli(capsys, "pretrain", "--config", str(tmp_path / "nope.yaml"), f"output_dir={tmp_path / 'r'}")
    assert "nope.yaml: config file not found" in line
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------- runs and checkpoints
def test_run_dir_without_model(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in (["chat", str(empty)], ["eval", str(empty)],
                    ["generate", str(empty), "--input", str(ROOT / "pyproject.toml")]):
        line = run_cli(capsys, *command)
        assert str(empty) in line, line


def _truncate(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)


def test_truncated_generator_weights(capsys, tmp_path, run_dir):
    broken = shutil.copytree(run_dir, tmp_path / "broken")
    weights = sorted(broken.rglob("model.safetensors"))
    assert weights, "the run has no safetensors weights"
    for path in weights:
        _truncate(path)
    for command in (["chat", str(broken)], ["eval", str(broken)]):
        line = run_cli(capsys, *command)
        assert "broken" in line and ("corrupt" in line or "cannot load" in line or "truncated" in line), line


def test_resume_with_truncated_state(capsys, tmp_path, run_dir):
    broken = shutil.copytree(run_dir, tmp_path / "broken")
    states = sorted((broken / "checkpoints").rglob("*.pt")) + sorted((broken / "checkpoints").rglob("*.safetensors"))
    assert states, "the run has no checkpoint to resume from"
    for path in states:
        _truncate(path)
    line = run_cli(capsys, "pretrain", "--config", str(TINY), f"output_dir={broken}", "--resume")
    assert "checkpoints" in line, line


def test_bad_generate_input_names_file_and_line(capsys, tmp_path, run_dir):
    path = tmp_path / "contexts.jsonl"
    path.write_text('{"context": "hi"}\n{"context": "ok"\n')
    out = tmp_path / "replies.jsonl"
    line = run_cli(capsys, "generate", str(run_dir), "--input", str(path), "--output", str(out))
    assert "contexts.jsonl:2: not valid JSON" in line
    assert not out.exists() and not list(tmp_path.glob(".replies.jsonl*")), "partial output left behind"


def test_real_entry_point_prints_no_traceback(tmp_path):
    """The console entry point itself (a fresh interpreter), not only main() in process."""
    proc = subprocess.run([sys.executable, "-m", "seqgan.cli", "chat", str(tmp_path), "--top-p", "2"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    assert proc.stderr == "seqgan: error: top_p: expected a number in (0, 1], got 2.0\n"
    assert proc.stdout == ""


# --------------------------------------------------------------------------- config files and overrides
def test_empty_config_file_is_not_the_defaults(capsys, tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing here yet\n")
    line = run_cli(capsys, "pretrain", "--config", str(empty), f"output_dir={tmp_path / 'r'}")
    assert line == f"seqgan: error: {empty}: config file is empty; expected a mapping of config keys"
    assert not (tmp_path / "r").exists()


def test_empty_config_yaml_in_a_run_directory(capsys, tmp_path, run_dir):
    broken = shutil.copytree(run_dir, tmp_path / "broken")
    (broken / "config.yaml").write_text("")
    for command in (["eval", str(broken)], ["train", str(broken)],
                    ["generate", str(broken), "--input", str(ROOT / "pyproject.toml")]):
        line = run_cli(capsys, *command)
        assert line.endswith(f"{broken / 'config.yaml'}: config file is empty; expected a mapping of config keys")
    assert not (broken / "discriminator").exists()


@pytest.mark.parametrize("text, line", [("seed: 1\nrun_name: a\nseed: 2\n", 3),
                                        ("mle:\n  lr: 0.1\n  max_steps: 3\n  lr: 0.2\n", 4)])
def test_duplicate_yaml_key(capsys, tmp_path, text, line):
    path = tmp_path / "dup.yaml"
    path.write_text(f"base: {TINY}\n" + text)
    key = "seed" if text.startswith("seed") else "lr"
    got = pretrain_error(capsys, tmp_path, "--config", str(path))
    assert got == f"seqgan: error: {path}: line {line + 1}: key '{key}' is given twice; keep one of them"


def test_override_errors_name_the_command_line_not_the_recipe(capsys, tmp_path):
    line = pretrain_error(capsys, tmp_path, "mle.max_steps=banana")
    assert line == "seqgan: error: command line: mle.max_steps: expected an integer, got 'banana'"
    line = pretrain_error(capsys, tmp_path, "mle.max_steps=-3")  # caught by validate(), still the command line
    assert line.startswith("seqgan: error: command line: mle.max_steps: ")
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"base: {TINY}\nmle:\n  max_steps: banana\n")
    line = run_cli(capsys, "pretrain", "--config", str(bad), f"output_dir={tmp_path / 'r'}", "seed=3")
    assert line == f"seqgan: error: {bad}: mle.max_steps: expected an integer, got 'banana'"  # the file's value


# --------------------------------------------------------------------------- data options
def test_hf_disk_format_on_a_plain_file(capsys, tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"context": "hi", "reply": "hello"}) + "\n")
    line = pretrain_error(capsys, tmp_path, f"data.source={path}", "data.format=hf_disk")
    assert line == (f"seqgan: error: {path}: data.format=hf_disk expects a directory written by "
                    "Dataset.save_to_disk, not a file; set data.format to auto, jsonl, csv, tsv or text for a file")


def test_generate_refuses_binary_input(capsys, tmp_path, run_dir):
    path = tmp_path / "blob.txt"
    path.write_bytes(b"hello\n\x00\x01\x02binary\x00\n")
    out = tmp_path / "replies.jsonl"
    line = run_cli(capsys, "generate", str(run_dir), "--input", str(path), "--output", str(out))
    assert line == (f"seqgan: error: {path}:2: contains NUL bytes (a binary file?); expected UTF-8 text or JSONL "
                    "contexts")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["blob.txt"]


# --------------------------------------------------------------------------- checkpoints
def test_malicious_training_state_is_refused_by_name(capsys, tmp_path, run_dir):
    broken = shutil.copytree(run_dir, tmp_path / "broken")
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    import torch

    torch.save({"counters": Payload()}, broken / "checkpoints" / "last" / "state.pt")
    line = run_cli(capsys, "pretrain", "--config", str(TINY), f"output_dir={broken}", "--resume")  # one line: no warning
    assert line == (f"seqgan: error: {broken / 'checkpoints' / 'last' / 'state.pt'}: not a seqgan training state; "
                    "refusing to unpickle it")
    assert not marker.exists()


# --------------------------------------------------------------------------- chat
def test_chat_refuses_an_over_long_message_and_save_writes_what_was_used(tmp_path, run_dir):
    transcript = tmp_path / "talk" / "t.txt"
    script = b"hi there\n" + b"x" * 5000 + b"\n" + f"/save {transcript}\n".encode()
    proc = subprocess.run([sys.executable, "-m", "seqgan.cli", "chat", str(run_dir), "--mode", "greedy"],
                          input=script, capture_output=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    replies = proc.stdout.decode().split("\n")
    assert len(replies) == 3 and replies[0].strip() and replies[1] == "" and replies[2] == ""  # one line per line
    assert "not sent: the message has 5,000 characters, over the limit of 4,000; send a shorter one" in err
    assert f"saved 2 turns to {transcript} (created the directory {transcript.parent})" in err
    assert transcript.read_text().splitlines() == ["user: hi there", f"bot: {replies[0]}"]


# --------------------------------------------------------------------------- optional extras
def test_a_missing_optional_extra_names_itself(tmp_path, monkeypatch):
    """scikit-learn is a core dependency; Pillow (the image extra) comes with matplotlib, but were it missing the
    image grids say which extra brings it."""
    import torch

    from seqgan.errors import MissingDependencyError
    from seqgan.image.grid import save_grid

    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(MissingDependencyError, match=r"^pillow is not installed \(needed for image grids\); "
                                                     r"pip install 'seqgan\[image\]'$"):
        save_grid(torch.zeros(4, 1, 8, 8), tmp_path / "grid.png")
    assert not (tmp_path / "grid.png").exists()


# --------------------------------------------------------------------------- pretrained generators: generator.init_from
def init_from_error(capsys, tmp_path: Path, model: Path, *overrides: str) -> str:
    return pretrain_error(capsys, tmp_path, f"generator.init_from={model}", *overrides)


def test_init_from_a_path_that_is_not_a_model(capsys, tmp_path):
    line = init_from_error(capsys, tmp_path, tmp_path / "nope")
    assert "generator.init_from:" in line and "nope not found" in line and "never downloads" in line
    (tmp_path / "notes.txt").write_text("hello")
    assert "notes.txt is not a model" in init_from_error(capsys, tmp_path, tmp_path / "notes.txt")
    (tmp_path / "folder").mkdir()
    assert "folder is not a model directory (no config.json" in init_from_error(capsys, tmp_path, tmp_path / "folder")


def test_init_from_an_encoder_only_model(capsys, tmp_path):
    from pretrained_toys import toy_tokenizer
    from transformers import BertConfig, BertForMaskedLM

    BertForMaskedLM(BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32)).save_pretrained(tmp_path / "bert")
    toy_tokenizer("bart").save_pretrained(str(tmp_path / "bert"))
    line = init_from_error(capsys, tmp_path, tmp_path / "bert")
    assert "holds a 'bert' model, an encoder-only model" in line and "AutoModelForCausalLM" in line


def test_init_from_corrupt_truncated_or_pickled_weights(capsys, tmp_path):
    from pretrained_toys import save_toy

    model = save_toy("llama", tmp_path / "model")
    weights = model / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    assert "cannot read the weights of" in init_from_error(capsys, tmp_path, model)
    weights.write_bytes(b"not safetensors at all")
    assert "cannot read the weights of" in init_from_error(capsys, tmp_path, model)
    weights.unlink()
    (model / "pytorch_model.bin").write_bytes(b"pickle")
    line = init_from_error(capsys, tmp_path, model)
    assert "only pytorch_model.bin (a pickle, which seqgan does not load)" in line


def test_init_from_a_corrupt_gguf(capsys, tmp_path):
    pytest.importorskip("gguf", reason="the gguf extra (pip install 'seqgan[gguf]') is not installed")
    (tmp_path / "model.gguf").write_bytes(b"GGUF" + bytes(range(256)) * 8)
    line = init_from_error(capsys, tmp_path, tmp_path / "model.gguf")
    assert "generator.init_from: cannot read the config of" in line and "model.gguf" in line


def test_init_from_a_tokenizer_without_eos(capsys, tmp_path):
    from pretrained_toys import save_toy

    model = save_toy("t5", tmp_path / "model")
    config = json.loads((model / "tokenizer_config.json").read_text())
    (model / "tokenizer_config.json").write_text(json.dumps({**config, "eos_token": None}))
    assert "the tokenizer has no eos token" in init_from_error(capsys, tmp_path, model)


def test_lora_on_modules_the_model_lacks(capsys, tmp_path):
    pytest.importorskip("peft", reason="the lora extra (pip install 'seqgan[lora]') is not installed")
    from pretrained_toys import save_toy

    model = save_toy("llama", tmp_path / "model")
    line = init_from_error(capsys, tmp_path, model, "generator.lora.rank=4", "generator.lora.target_modules=[wq]")
    assert "generator.lora.target_modules: ['wq'] not in the llama model" in line and "q_proj" in line


def test_lora_without_its_extra(capsys, tmp_path, monkeypatch):
    from pretrained_toys import save_toy

    model = save_toy("gpt2", tmp_path / "model")
    monkeypatch.setitem(sys.modules, "peft", None)  # as if peft were not installed
    line = init_from_error(capsys, tmp_path, model, "generator.lora.rank=4")
    assert "peft is not installed (needed for generator.lora (LoRA adapters)); pip install 'seqgan[lora]'" in line


def test_gguf_without_its_extra(capsys, tmp_path, monkeypatch):
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "gguf", None)
    line = init_from_error(capsys, tmp_path, tmp_path / "model.gguf")
    assert "gguf is not installed" in line and "pip install 'seqgan[gguf]'" in line


def test_decoding_length_beyond_the_model_positions(capsys, tmp_path, run_dir):
    contexts = tmp_path / "contexts.txt"
    contexts.write_text("hi there\n")
    line = run_cli(capsys, "generate", str(run_dir), "-i", str(contexts), "--max-len", "100000")
    assert "max_len: a reply of 100000 tokens" in line and "the generator has 48" in line
