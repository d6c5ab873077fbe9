"""Chatbot: a trained run loaded for replies (the Python API, the terminal chat and the web chat use it)."""

from __future__ import annotations

import shutil

import pytest
import torch

from seqgan.chat.bot import Chatbot
from seqgan.errors import CheckpointError, ConfigError
from seqgan.generate import DecodingOptions, save_decoding


def test_replies_follow_the_run_defaults_and_the_changes_asked_for(tiny_run, tmp_path, one_thread):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    save_decoding(run, DecodingOptions(mode="greedy"), overwrite=True)
    bot = Chatbot.load(run, scores=True)
    assert bot.generator == "auto" and bot.options.mode == "greedy" and bot.scorer is None  # no D in this run
    first = bot.reply("hi there")
    assert isinstance(first, str) and first == bot.reply(["hi there"])  # greedy: the same reply each time
    three = bot.reply(["hi", "how are you?"], n=3, temperature=1.5)  # n > 1 switches greedy to sampling
    assert isinstance(three, list) and len(three) == 3
    batch = bot.replies(["hi there", ["a", "b"]], DecodingOptions(mode="beam", beams=2, n=2))
    assert [len(r) for r in batch] == [2, 2]
    assert bot.score("hi", ["hello"]) is None
    with pytest.raises(ConfigError, match="temperature"):
        bot.reply("hi", temperature=0)


def test_the_same_seed_gives_the_same_sampled_replies(tiny_run, one_thread):
    replies = []
    for _ in range(2):
        bot = Chatbot.load(tiny_run, seed=3)
        replies.append(bot.replies(["hi there", "what's up?"], DecodingOptions(mode="sample", n=2)))
    assert replies[0] == replies[1]


def test_with_generator_and_sessions_share_the_run(tiny_run, tmp_path, one_thread):
    bot = Chatbot.load(tiny_run, generator="mle")
    with pytest.raises(CheckpointError, match="generator_adv"):
        bot.with_generator("adv")
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    shutil.copytree(run / "generator", run / "generator_adv")
    adv = Chatbot.load(run, generator="mle").with_generator("adv")
    assert adv.generator == "adv" and adv.tokenizer is not None
    assert all(torch.equal(a, b) for a, b in zip(adv.policy.parameters(), bot.policy.parameters()))
    session = adv.session(DecodingOptions(mode="greedy"))
    out = session.handle("hello there")
    assert out.reply and session.context() == ["hello there", out.reply]
