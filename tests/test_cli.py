"""The `seqgan` command: subcommand wiring, help, argument parsing, error reporting, and batch generation input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from seqgan import cli
from seqgan.command import Command
from seqgan.errors import DataError
from seqgan.generate import DecodingOptions, read_contexts

CORE_COMMANDS = ("quickstart", "pretrain", "eval", "generate", "chat", "config", "serve")


def test_help_lists_every_registered_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in (*CORE_COMMANDS, *cli.EXTERNAL_COMMANDS):
        assert f"    {name} " in out, name


@pytest.mark.parametrize("name", [*CORE_COMMANDS, *cli.EXTERNAL_COMMANDS])
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: seqgan {name}") and len(out.splitlines()) > 5


@pytest.mark.parametrize("argv, shown, hidden", [
    (["pretrain"], ["  mle.lr=0.001", "peak AdamW learning rate (float > 0)", "discriminator: "], []),
    (["train"], ["  adversarial.rounds=30", "  compare.", "  seed=0"], ["  mle.lr="]),
    (["oracle"], ["  adv.rounds=", "  disc.model.encoder="], []),
    (["image", "train"], ["  train.steps=", "  variant=gan", "one of: gan, cgan"], []),
])
def test_command_help_lists_the_config_keys_from_the_field_metadata(argv, shown, hidden, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        cli.main([*argv, "--help"])
    out = capsys.readouterr().out
    assert "config keys" in out
    for text in shown:
        assert text in out, text
    for text in hidden:
        assert text not in out, text


def test_config_show_prints_the_resolved_config(tmp_path, capsys):
    import yaml

    from seqgan.chatbot import ChatbotConfig
    from seqgan.config import load_config, to_dict

    recipe = str(cli.find_recipe("chat_cpu.yaml"))
    assert cli.main(["config", "show", "--config", recipe, "mle.lr=3e-4", "seed=5"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown == to_dict(load_config(ChatbotConfig, recipe, ["mle.lr=3e-4", "seed=5"]))
    assert shown["mle"]["lr"] == 3e-4 and shown["discriminator"]["encoder"] == "minilm"

    run = tmp_path / "run"  # a run directory stands for its config.yaml; --comments still loads back
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(shown))
    assert cli.main(["config", "show", "--config", str(run), "--comments"]) == 0
    out = capsys.readouterr().out
    assert "  lr: 0.0003  # peak AdamW learning rate (float > 0)" in out and yaml.safe_load(out) == shown

    assert cli.main(["config", "show", "--config", str(cli.find_recipe("oracle_tiny.yaml"))]) == 0  # kind: auto
    assert "adv" in yaml.safe_load(capsys.readouterr().out)
    assert cli.main(["config", "show", "mle.lr=-1"]) == 2
    assert capsys.readouterr().err == "seqgan: error: command line: mle.lr: expected a value > 0, got -1.0\n"


def test_overrides_may_follow_options():
    parser = cli.build_parser()
    args = cli.parse_args(parser, ["pretrain", "--config", "x.yaml", "mle.lr=1e-3", "--resume", "seed=3"])
    assert args.resume and args.config == "x.yaml"
    assert args.overrides == ["mle.lr=1e-3", "seed=3"]


def test_resume_takes_an_optional_checkpoint_and_leaves_overrides_and_run_dirs_alone(tmp_path):
    parser = cli.build_parser()
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("seed: 0\n")
    kept = str(run / "checkpoints" / "round-000002")
    cases = [(["pretrain", "--config", "x.yaml", "--resume"], True, []),
             (["pretrain", "--config", "x.yaml", "--resume", "mle.lr=1e-3", "seed=3"], True, ["mle.lr=1e-3", "seed=3"]),
             (["pretrain", "--config", "x.yaml", "--resume", "runs/x/checkpoints/step-000500"],
              "runs/x/checkpoints/step-000500", []),
             (["train", "--resume", str(run)], True, []),
             (["train", str(run), "--resume", kept, "adversarial.rounds=9"], kept, ["adversarial.rounds=9"]),
             (["pretrain", "--config", "x.yaml"], False, [])]
    for argv, resume, overrides in cases:
        args = cli.parse_args(parser, argv)
        assert (args.resume, args.overrides) == (resume, overrides), argv
    assert cli.parse_args(parser, ["train", "--resume", str(run)]).run_dir == run
    assert cli.parse_args(parser, ["oracle", "--recipe", "r.yaml", "--resume", "adv.rounds=2"]).resume is True


def test_generator_best_is_chosen_by_name_and_missing_ones_say_how_to_get_them(tiny_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    contexts = tmp_path / "in.txt"
    contexts.write_text("hi there\n")
    argv = ["generate", str(run), "--input", str(contexts), "--mode", "greedy", "--generator", "best"]
    assert cli.main(argv) == 2
    assert "no generator_best/ (set mle.best_metric or adversarial.best_metric and train)" in capsys.readouterr().err
    shutil.copytree(run / "generator", run / "generator_best")
    assert cli.main(argv) == 0 and json.loads(capsys.readouterr().out)["reply"] is not None


def test_unknown_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["generate", "run", "--input", "x", "--bogus"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["chat", "run", "a=1"])  # chat takes no config overrides


def test_user_errors_are_one_line_exit_2(capsys, tmp_path):
    status = cli.main(["generate", str(tmp_path), "--input", "x.jsonl", "--mode", "greedy", "-n", "2"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert err.startswith("seqgan: error: n=2: greedy decoding gives one reply")


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    def builder(p):
        p.set_defaults(handler=interrupted)

    monkeypatch.setitem(cli.COMMANDS, "sleepy", Command("sleeps", "Sleeps.", builder))
    assert cli.main(["sleepy"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_registry_accepts_new_commands(monkeypatch, capsys):
    def builder(p):
        p.add_argument("--name", default="world")
        p.set_defaults(handler=lambda args: print(f"hello {args.name}") or 0)

    monkeypatch.setitem(cli.COMMANDS, "hello", Command("say hello", "Says hello.", builder))
    assert cli.main(["hello", "--name", "seqgan"]) == 0
    assert capsys.readouterr().out == "hello seqgan\n"


def test_an_external_command_must_be_a_command(monkeypatch, capsys):
    monkeypatch.setitem(cli.EXTERNAL_COMMANDS, "broken", "seqgan.cli:DEFAULT_RECIPE")
    assert cli.main(["broken"]) == 2
    assert "subcommand broken: seqgan.cli:DEFAULT_RECIPE is not a seqgan.command.Command" in capsys.readouterr().err


def test_default_recipe_lookup(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.find_recipe("no_such_recipe.yaml") is None
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "mine.yaml").write_text("seed: 1\n")
    assert cli.find_recipe("mine.yaml") == tmp_path / "recipes" / "mine.yaml"


def test_console_script_module_runs():
    proc = subprocess.run([sys.executable, "-m", "seqgan.cli", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "usage: seqgan" in proc.stdout


# --------------------------------------------------------------------------- generate: reading contexts
def test_read_contexts_jsonl_and_text(tmp_path):
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"context": "hi  there"}\n\n{"context": ["a", "b"], "id": 7}\n', encoding="utf-8")
    assert list(read_contexts(jsonl)) == [(["hi there"], {}), (["a", "b"], {"id": 7})]
    text = tmp_path / "in.txt"
    text.write_text("\ufeffhello\nfirst ||| second\n\n", encoding="utf-8")
    assert list(read_contexts(text)) == [(["hello"], {}), (["first", "second"], {})]


@pytest.mark.parametrize("content, expected", [
    (b'{"context": "ok"}\n{not json\n', "in.jsonl:2: not valid JSON"),
    (b'{"context": "ok"}\n{"reply": "x"}\n', 'in.jsonl:2: missing "context" key (found: reply)'),
    (b'{"context": 5}\n', 'in.jsonl:1: "context" must be a string or a list of strings'),
    (b'["context"]\n', "in.jsonl:1: expected a JSON object"),
    (b'{"context": "ok"}\n{"context": "caf\xe9"}\n', "in.jsonl:2: not valid UTF-8"),
    (b"\n\n", "in.jsonl: no contexts (the file is empty)"),
])
def test_read_contexts_errors_name_file_and_line(tmp_path, content, expected):
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        list(read_contexts(path))
    assert expected in str(err.value)


def test_missing_input_file(tmp_path):
    with pytest.raises(DataError, match="input file not found"):
        list(read_contexts(tmp_path / "nope.jsonl"))


def test_decoding_options_updated_parses_text():
    opts = DecodingOptions(n=3).updated({"top-k": "40", "max_len": "none", "mode": "BEAM", "beams": "3"})
    assert (opts.top_k, opts.max_len, opts.mode, opts.beams) == (40, None, "beam", 3)  # set together, then checked
    assert json.dumps(opts.describe())  # printable


@pytest.mark.parametrize("opts", [DecodingOptions(), DecodingOptions(mode="greedy", no_repeat_ngram=0),
                                  DecodingOptions(mode="beam", beams=5, n=3, max_len=7),
                                  DecodingOptions(temperature=0.6, top_k=40, top_p=0.95, n=2)])
def test_decoding_options_round_trip_through_a_saved_generation_config(opts, tmp_path):
    from seqgan.generate import load_decoding, save_decoding

    save_decoding(tmp_path, opts)
    assert load_decoding(tmp_path) == opts
    save_decoding(tmp_path)  # an existing file (perhaps edited by the user) is kept
    assert load_decoding(tmp_path) == opts


def test_saved_generation_config_is_the_cli_default_and_flags_override_it(tmp_path):
    from seqgan.errors import ConfigError
    from seqgan.generate import DECODING_FILE, load_decoding, save_decoding

    save_decoding(tmp_path, DecodingOptions(mode="greedy"))
    parser = cli.build_parser()
    args = parser.parse_args(["chat", str(tmp_path)])
    assert cli.decoding_from_args(args) == DecodingOptions(mode="greedy")
    args = parser.parse_args(["chat", str(tmp_path), "-n", "3", "--temperature", "0.5"])
    assert cli.decoding_from_args(args) == DecodingOptions(mode="sample", n=3, temperature=0.5)  # n > 1 samples
    assert load_decoding(tmp_path / "no-such-run") == DecodingOptions()  # a run without the file: the defaults
    (tmp_path / DECODING_FILE).write_text('{"do_sample": true, "temperature": -1}')
    with pytest.raises(ConfigError, match=DECODING_FILE):
        load_decoding(tmp_path)


# --------------------------------------------------------------------------- end to end on a tiny run
FAST = ["mle.eval_every=0", "eval.num_pairs=8"]  # the tiny recipe without its mid-run evaluation

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from pathlib import Path

    out = tmp_path_factory.mktemp("cli") / "run"
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "tiny.yaml"
    assert cli.main(["-q", "pretrain", "--config", str(recipe), f"output_dir={out}", *FAST]) == 0
    return out


def test_generate_jsonl_round_trip(run_dir, tmp_path, capsys):
    from seqgan.generate import load_decoding

    assert load_decoding(run_dir) == DecodingOptions()  # pretraining saved the chat defaults as a GenerationConfig
    contexts = [{"context": "hello there", "id": "a"}, {"context": ["hi", "how are you?"]},
                {"context": "what do you do for fun?"}]
    src = tmp_path / "contexts.jsonl"
    src.write_text("".join(json.dumps(c) + "\n" for c in contexts))
    out = tmp_path / "out" / "replies.jsonl"
    args = ["generate", str(run_dir), "--input", str(src), "--output", str(out), "--batch-size", "2"]
    assert cli.main(["-q", *args, "-n", "2", "--seed", "5"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["context"] for r in rows] == [["hello there"], ["hi", "how are you?"], ["what do you do for fun?"]]
    assert rows[0]["id"] == "a" and "id" not in rows[1]
    assert all(len(r["replies"]) == 2 and all(isinstance(x, str) for x in r["replies"]) for r in rows)
    assert sorted(p.name for p in out.parent.iterdir()) == ["replies.jsonl"]  # no temporary file left
    again = tmp_path / "again.jsonl"
    assert cli.main(["-q", *args[:5], str(again), "--batch-size", "2", "-n", "2", "--seed", "5"]) == 0
    assert again.read_text() == out.read_text()  # seeded

    # Greedy replies do not depend on batching (padding is masked) and match the chat's reply to the same turns.
    greedy = ["--mode", "greedy"]
    assert cli.main(["-q", "generate", str(run_dir), "--input", str(src), "--batch-size", "3", *greedy]) == 0
    batched = [json.loads(line)["reply"] for line in capsys.readouterr().out.splitlines()]
    assert cli.main(["-q", "generate", str(run_dir), "--input", str(src), "--batch-size", "1", *greedy]) == 0
    single = [json.loads(line)["reply"] for line in capsys.readouterr().out.splitlines()]
    assert len(batched) == 3 and batched == single

    text = tmp_path / "contexts.txt"
    text.write_text("hi ||| how are you?\n")
    assert cli.main(["-q", "generate", str(run_dir), "--input", str(text), *greedy]) == 0
    assert json.loads(capsys.readouterr().out)["reply"] == batched[1]


def test_eval_prints_and_writes_metrics(run_dir, capsys):
    assert cli.main(["-q", "eval", str(run_dir), "--split", "valid", "--num", "8"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((run_dir / "eval_valid.json").read_text())
    assert metrics["num_pairs"] == 8 and metrics["split"] == "valid"
    assert metrics["ppl"] > 1 and 0 <= metrics["bleu"] <= 100
    assert f"ppl: {metrics['ppl']:.4g}" in out and "samples:" in out
