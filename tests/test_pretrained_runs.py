"""A local pretrained model of every family through the whole pipeline (``generator.init_from``): MLE, the
adversarial stage with its comparison, ``seqgan generate``, and the exported ``generator_adv/`` loaded by plain
transformers (AutoTokenizer + AutoModelFor... + apply_chat_template + generate) giving the same replies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from pretrained_toys import KINDS, save_toy
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from seqgan import cli

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "tiny.yaml"
CONTEXTS = [["hi there how are you"], ["i like to read books", "where do you live"],
            ["do you like music", "yes i play the guitar"]]
FAST = ["mle.max_steps=3", "mle.eval_every=0", "eval.num_pairs=8", "data.max_train_pairs=64",
        "data.max_eval_pairs=32", "data.max_context_tokens=96", "d_pretrain.steps=2", "adversarial.rounds=1",
        "adversarial.batch_size=4", "adversarial.eval_pairs=8", "compare.num_pairs=8", "compare.adversuc=false",
        "compare.temperatures=[]", "compare.include_pretrained=true"]


def plain_transformers_replies(generator: Path, contexts: list[list[str]], seed: int, **generate) -> list[str]:
    """Replies of an exported generator as a transformers user would get them, one context at a time
    (``generate``: keyword arguments over the saved generation config)."""
    tokenizer = AutoTokenizer.from_pretrained(generator)
    encoder_decoder = AutoConfig.from_pretrained(generator).is_encoder_decoder
    model = (AutoModelForSeq2SeqLM if encoder_decoder else AutoModelForCausalLM).from_pretrained(generator).eval()
    torch.manual_seed(seed)
    replies = []
    for turns in contexts:
        roles = ["user" if (len(turns) - 1 - i) % 2 == 0 else "assistant" for i in range(len(turns))]  # user last
        messages = [{"role": role, "content": text} for role, text in zip(roles, turns)]
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                               return_dict=True)
        out = model.generate(**inputs, **generate)[0]
        new = out if encoder_decoder else out[inputs["input_ids"].shape[1]:]
        replies.append(" ".join(tokenizer.decode(new, skip_special_tokens=True).split()))
    return replies


def seqgan_replies(run: Path, tmp_path: Path, seed: int, *options: str) -> list[str]:
    contexts = tmp_path / "contexts.jsonl"
    contexts.write_text("".join(json.dumps({"context": turns}) + "\n" for turns in CONTEXTS))
    out = tmp_path / "replies.jsonl"
    assert cli.main(["-q", "generate", str(run), "-i", str(contexts), "-o", str(out), "--seed", str(seed),
                     "--batch-size", "1", *options]) == 0
    return [json.loads(line)["reply"] for line in out.read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_pretrained_model_through_the_pipeline_and_back_to_plain_transformers(kind, tmp_path, one_thread):
    model_dir = save_toy(kind, tmp_path / "model")
    run = tmp_path / "run"
    assert cli.main(["-q", "pretrain", "--config", str(RECIPE), f"output_dir={run}",
                     f"generator.init_from={model_dir}", *FAST]) == 0
    meta = json.loads((run / "generator" / "seqgan_policy.json").read_text())
    assert meta["family"] == ("causal" if kind in ("gpt2", "llama") else "seq2seq")
    tokenizer = AutoTokenizer.from_pretrained(run / "tokenizer")
    assert len(tokenizer) == len(AutoTokenizer.from_pretrained(model_dir))  # the model's own, not a trained one
    assert cli.main(["-q", "train", str(run), *FAST]) == 0
    assert (run / "generator_adv" / "model.safetensors").is_file()
    table = json.loads((run / "comparison.json").read_text())
    assert table["models"] == ["mle", "adversarial", "pretrained"]  # the zero-shot model as a third column
    # the exported generator reproduces seqgan's replies in plain transformers: sampling with the run's defaults
    # (generation_config.json) and greedy decoding
    sampled = seqgan_replies(run, tmp_path, 7)
    assert sampled == plain_transformers_replies(run / "generator_adv", CONTEXTS, 7) and any(sampled)
    greedy = seqgan_replies(run, tmp_path, 7, "--mode", "greedy")
    assert greedy == plain_transformers_replies(run / "generator_adv", CONTEXTS, 7, do_sample=False)


def test_from_scratch_run_exports_a_plain_transformers_chatbot(tiny_run, tmp_path):
    """The seq2seq chatbot trained from scratch carries its tokenizer, the sep-joined context format as a chat
    template and its decoding defaults: plain transformers gives `seqgan generate`'s replies."""
    assert (tiny_run / "generator" / "tokenizer.json").is_file()
    assert seqgan_replies(tiny_run, tmp_path, 5) == plain_transformers_replies(tiny_run / "generator", CONTEXTS, 5)


@pytest.mark.slow
def test_lora_runs_resume_exactly_and_export_merged_weights(tmp_path, one_thread):
    """generator.lora in MLE and in the adversarial stage: Ctrl-C + --resume gives the uninterrupted run's weights,
    only the adapters move, and generator/ / generator_adv/ hold plain merged weights."""
    pytest.importorskip("peft", reason="the lora extra (pip install 'seqgan[lora]') is not installed")
    import shutil

    from safetensors.torch import load_file

    from seqgan.adversarial.stage import train_adversarial
    from seqgan.chatbot import ChatbotConfig
    from seqgan.config import load_config
    from seqgan.mle.trainer import train_mle

    model = save_toy("llama", tmp_path / "model", layers=2)

    def cfg(out: Path, *extra: str):
        return load_config(ChatbotConfig, RECIPE, [f"output_dir={out}", f"generator.init_from={model}", *FAST,
                                                   "generator.lora.rank=4", "mle.max_steps=4", "mle.save_every=2",
                                                   *extra])

    straight = train_mle(cfg(tmp_path / "straight")).path

    def interrupt(step, _counters):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_mle(cfg(tmp_path / "resumed"), callback=interrupt)
    resumed = train_mle(cfg(tmp_path / "resumed"), resume=True).path
    weights = [load_file(str(run / "generator" / "model.safetensors")) for run in (straight, resumed)]
    assert weights[0].keys() == weights[1].keys() and all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not any("lora" in k for k in weights[0])
    base = load_file(str(model / "model.safetensors"))
    changed = {k for k in base if not torch.equal(base[k], weights[0][k])}
    assert changed and all(k.endswith(("q_proj.weight", "v_proj.weight")) for k in changed)  # PEFT's Llama targets

    adv = [shutil.copytree(straight, tmp_path / name) for name in ("adv_straight", "adv_resumed")]
    train_adversarial(cfg(adv[0], "adversarial.rounds=2", "adversarial.save_every=1"), adv[0])
    train_adversarial(cfg(adv[1], "adversarial.rounds=1", "adversarial.save_every=1"), adv[1])
    train_adversarial(cfg(adv[1], "adversarial.rounds=2", "adversarial.save_every=1"), adv[1], resume=True)
    final = [load_file(str(run / "generator_adv" / "model.safetensors")) for run in adv]
    assert all(torch.equal(final[0][k], final[1][k]) for k in final[0])
    assert any(not torch.equal(final[0][k], weights[0][k]) for k in final[0])
