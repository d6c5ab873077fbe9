"""Context rendering: the tokenizer's chat template (or seqgan's default), truncation, and turns read back."""

from __future__ import annotations

import logging

import pytest
from pretrained_toys import CHATML, toy_tokenizer

from seqgan.data import train_tokenizer
from seqgan.errors import ConfigError
from seqgan.models.chat_format import ChatFormat, messages, prepare_tokenizer, roles

CONTEXTS = [["hi there how are you"], ["where do you live", "in a small town near the sea", "do you like music"],
            ["i am fine thanks and you", "what do you do for fun"]]


def test_roles_are_counted_back_from_the_reply():
    assert roles(1) == ["user"]
    assert roles(3) == ["user", "assistant", "user"]
    assert [m["role"] for m in messages(["a", "b"])] == ["assistant", "user"]


@pytest.fixture(scope="module")
def seqgan_tokenizer():
    return train_tokenizer([t for turns in CONTEXTS for t in turns] * 20, vocab_size=300, min_frequency=1)


def test_seqgan_tokenizer_reproduces_the_sep_joined_encoding(seqgan_tokenizer):
    """Runs of earlier versions joined the turns' ids by the sep token and kept the last max_tokens ids: the
    template of a new run and the default for an old tokenizer (no template) give exactly those ids."""
    tok = seqgan_tokenizer
    assert tok.chat_template

    def reference(turns, max_tokens):
        ids = []
        for i, turn in enumerate(turns):
            ids += ([tok.sep_token_id] if i else []) + tok.encode(turn, add_special_tokens=False)
        return ids[-max_tokens:]

    for max_tokens in (5, 12, 1000):
        assert ChatFormat(tok).encode(CONTEXTS, 3, max_tokens) == [reference(c, max_tokens) for c in CONTEXTS]
    old = train_tokenizer([t for turns in CONTEXTS for t in turns] * 20, vocab_size=300, min_frequency=1)
    old.chat_template = None
    assert ChatFormat(old).encode(CONTEXTS, 3, 12) == ChatFormat(tok).encode(CONTEXTS, 3, 12)
    assert ChatFormat(tok).encode([[]], 3, 12) == [[tok.sep_token_id]]


def test_turns_are_read_back(seqgan_tokenizer):
    for tok in (seqgan_tokenizer, prepare_tokenizer(toy_tokenizer("llama"), causal=True),
                prepare_tokenizer(toy_tokenizer("gpt2"), causal=True),
                prepare_tokenizer(toy_tokenizer("bart"), causal=False),
                prepare_tokenizer(toy_tokenizer("t5"), causal=False)):
        fmt = ChatFormat(tok)
        assert [fmt.turns(ids) for ids in fmt.encode(CONTEXTS, 3, 1000)] == CONTEXTS
        assert fmt.turns(fmt.encode([[]], 3, 1000)[0]) == []


def test_chat_template_is_what_plain_transformers_renders():
    tok = prepare_tokenizer(toy_tokenizer("llama"), causal=True)
    assert tok.chat_template == CHATML  # its own template is kept
    ids = ChatFormat(tok).encode(CONTEXTS, 3, 1000)
    for turns, row in zip(CONTEXTS, ids):
        expected = tok.apply_chat_template(messages(turns), add_generation_prompt=True, return_dict=False)
        assert row == list(expected)
    text = tok.decode(ids[1])
    assert text.index("<|im_start|>user\nwhere") < text.index("<|im_start|>assistant\nin a small") \
        < text.index("<|im_start|>user\ndo you like") and text.endswith("<|im_start|>assistant\n")


def test_truncation_keeps_the_fixed_start_and_drops_the_oldest_tokens():
    tok = prepare_tokenizer(toy_tokenizer("llama"), causal=True)
    fmt = ChatFormat(tok)
    full = fmt.encode(CONTEXTS[1:2], 3, 1000)[0]
    start = fmt.fixed_start
    assert tok.decode(full[:start]).startswith("<|im_start|>system\nYou are a friendly chatbot")
    keep = len(full) - start - 8
    cut = fmt.encode(CONTEXTS[1:2], 3, start + keep)[0]
    assert len(cut) == start + keep and cut == full[:start] + full[-keep:]
    assert fmt.turns(cut)[-2:] == CONTEXTS[1][-2:]
    assert fmt.encode(CONTEXTS[1:2], 2, 1000)[0] == fmt.encode([CONTEXTS[1][1:]], 3, 1000)[0]


@pytest.mark.parametrize("kind,first,last", [("bart", "<s>", "</s>"), ("t5", None, "</s>")])
def test_default_template_wraps_like_the_tokenizer(kind, first, last):
    tok = prepare_tokenizer(toy_tokenizer(kind), causal=False)
    ids = ChatFormat(tok).encode([["hi there", "how are you"]], 3, 1000)[0]
    tokens = tok.convert_ids_to_tokens(ids)
    assert tokens[-1] == last and (first is None or tokens[0] == first)
    assert tokens.count("</s>") == 2  # the separator between the turns (sep = eos) and the end
    assert ids == list(tok.apply_chat_template(messages(["hi there", "how are you"]), add_generation_prompt=True,
                                               return_dict=False))


def test_causal_default_template_ends_with_the_separator_and_pad_reuses_eos(caplog):
    with caplog.at_level(logging.INFO):
        tok = prepare_tokenizer(toy_tokenizer("gpt2"), causal=True, source="toy")
    assert tok.pad_token == tok.eos_token == "<|endoftext|>"
    assert "no pad token" in caplog.text and "toy" in caplog.text
    ids = ChatFormat(tok).encode([["hi there", "how are you"]], 3, 1000)[0]
    assert ids[-1] == tok.eos_token_id and ids.count(tok.eos_token_id) == 2


def test_tokenizer_without_eos_is_a_config_error():
    tok = toy_tokenizer("t5")
    tok.eos_token = None
    with pytest.raises(ConfigError, match="no eos token"):
        prepare_tokenizer(tok, causal=False, source="generator.init_from x")
