"""Dialogue data: every source format, windows, split by conversation, tokenizer, batches, bad input."""

import json

import pytest
import torch
from datasets import Dataset

from seqgan.data import (
    DataConfig,
    DialogueCollator,
    conversation_pairs,
    encode_context,
    encode_pairs,
    load_tokenizer,
    make_loader,
    prepare_data,
    train_tokenizer,
)
from seqgan.errors import ConfigError, DataError

TURNS = [["hi there", "hello! how are you?", "good, you?", "great thanks"],
         ["what do you do?", "i teach math", "nice"],
         ["any plans?", "going hiking", "sounds fun", "want to come?"],
         ["do you cook?", "sometimes", "what do you make?"],
         ["tea or coffee?", "coffee always", "me too"]]


def cfg(source, **kw):
    return DataConfig(source=str(source), valid_fraction=0.2, test_fraction=0.2, **kw)


def all_pairs(splits):
    return sorted((tuple(r["context"]), r["reply"]) for s in (splits.train, splits.valid, splits.test) for r in s)


def expected_pairs(k=3):
    return sorted((tuple(c), r) for turns in TURNS for c, r in conversation_pairs(turns, k))


def test_conversation_pairs_windows():
    pairs = conversation_pairs(["a", "b", "c", "d"], 2)
    assert pairs == [(["a"], "b"), (["a", "b"], "c"), (["b", "c"], "d")]


def test_jsonl_conversations_and_pairs(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = [json.dumps({"turns": t}) for t in TURNS[:4]]
    lines.append(json.dumps({"context": ["tea or coffee?"], "reply": "coffee always"}))
    lines.append(json.dumps({"context": "tea or coffee? ||| coffee always", "reply": "me too"}))
    path.write_text("\n".join(lines) + "\n")
    assert all_pairs(prepare_data(cfg(path))) == expected_pairs()


def test_csv_tsv_with_custom_columns_and_grouping(tmp_path):
    rows = [(i, " ||| ".join(c), r) for i, t in enumerate(TURNS) for c, r in conversation_pairs(t, 3)]
    for sep, name in ((",", "d.csv"), ("\t", "d.tsv")):
        path = tmp_path / name
        body = [sep.join(["conv", "ctx", "resp"])]
        body += [sep.join([str(i), f'"{c}"' if sep == "," else c, r if sep == "\t" else f'"{r}"']) for i, c, r in rows]
        path.write_text("\n".join(body) + "\n")
        splits = prepare_data(cfg(path, context_column="ctx", reply_column="resp", conversation_column="conv"))
        assert all_pairs(splits) == expected_pairs()
        assert sum(s["conversations"] for s in splits.sizes.values()) == len(TURNS)


def test_conversation_column_without_context_column_reads_one_turn_per_row(tmp_path):
    """A chat log (conversation id, utterance): rows of one conversation, in file order, are its turns, even
    when the conversations are interleaved."""
    longest = max(len(t) for t in TURNS)
    interleaved = [(i, t[k]) for k in range(longest) for i, t in enumerate(TURNS) if k < len(t)]  # round robin
    path = tmp_path / "log.csv"
    path.write_text("conv_id,text\n" + "".join(f'{i},"{t}"\n' for i, t in interleaved))
    splits = prepare_data(cfg(path, reply_column="text", conversation_column="conv_id"))
    assert all_pairs(splits) == expected_pairs()
    assert sum(s["conversations"] for s in splits.sizes.values()) == len(TURNS)


def test_plain_text(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("\n\n".join("\n".join(t) for t in TURNS) + "\n")
    assert all_pairs(prepare_data(cfg(path))) == expected_pairs()


def test_saved_dataset_dir(tmp_path):
    Dataset.from_dict({"turns": TURNS}).save_to_disk(str(tmp_path / "ds"))
    assert all_pairs(prepare_data(cfg(tmp_path / "ds"))) == expected_pairs()


def test_split_is_by_conversation_and_seeded(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps({"turns": [f"q{i}", f"a{i}", f"b{i}"]}) for i in range(40)) + "\n")
    first = prepare_data(cfg(path))
    ids = [set(s["conv_id"]) for s in (first.train, first.valid, first.test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert first.sizes["valid"]["conversations"] == 8 and first.sizes["train"]["pairs"] == 2 * 24
    again = prepare_data(cfg(path))
    assert again.valid["conv_id"] == first.valid["conv_id"]
    other = prepare_data(cfg(path, split_seed=1))
    assert other.valid["conv_id"] != first.valid["conv_id"]
    assert "conversations" in first.summary()


@pytest.fixture(scope="module")
def tokenizer():
    texts = [t for conv in TURNS for t in conv] * 20 + ["The quick brown fox, naïve café 😀!"]
    return train_tokenizer(texts, vocab_size=300, min_frequency=1)


def test_tokenizer_roundtrip_and_specials(tokenizer, tmp_path):
    text = "Hello, World! it's 5 o'clock... naïve café 😀"
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids) == text
    specials = [tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id,
                tokenizer.sep_token_id]
    assert len(set(specials)) == 5 and None not in specials
    tokenizer.save_pretrained(str(tmp_path / "tok"))
    again = load_tokenizer(tmp_path / "tok")
    assert again.encode(text, add_special_tokens=False) == ids and again.sep_token_id == tokenizer.sep_token_id
    with pytest.raises(Exception, match="no tokenizer"):
        load_tokenizer(tmp_path / "missing")


def test_tokenizer_is_deterministic():
    texts = ["one two three", "two three four"] * 10
    a, b = train_tokenizer(texts, 280, 1), train_tokenizer(texts, 280, 1)
    assert a.get_vocab() == b.get_vocab()


def test_context_left_truncation_and_reply_cap(tokenizer):
    c = DataConfig(max_context_turns=2, max_context_tokens=6, max_reply_tokens=4)
    turns = ["first turn is dropped", "hello there how are you", "great thanks"]
    ids = encode_context(turns, tokenizer, c)
    full = encode_context(turns, tokenizer, DataConfig(max_context_turns=2, max_context_tokens=1000))
    assert ids == full[-6:] and len(ids) == 6
    assert tokenizer.sep_token_id in full
    assert encode_context([], tokenizer, c) == [tokenizer.sep_token_id]
    ds = encode_pairs(Dataset.from_dict({"context": [["hi"]], "reply": ["a rather long reply indeed"]}), tokenizer, c)
    reply = ds[0]["reply_ids"]
    assert len(reply) == 4 and reply[-1] == tokenizer.eos_token_id


def test_collator_and_loader(tokenizer):
    c = DataConfig()
    ds = encode_pairs(Dataset.from_dict({"context": [["hi"], ["how are you doing today"]],
                                         "reply": ["hello there friend", "ok"]}), tokenizer, c)
    batch = DialogueCollator(tokenizer.pad_token_id)([ds[0], ds[1]])
    assert batch["context_ids"].shape == batch["context_mask"].shape
    assert batch["reply_mask"].sum(1).tolist() == [len(ds[0]["reply_ids"]), len(ds[1]["reply_ids"])]
    assert (batch["reply_ids"][batch["reply_mask"] == 0] == tokenizer.pad_token_id).all()
    order = lambda seed: [b["reply_ids"][0, 0].item() for b in make_loader(ds, tokenizer, 1, True, seed)]
    assert order(3) == order(3)
    assert isinstance(next(iter(make_loader(ds, tokenizer.pad_token_id, 2, False)))["reply_ids"], torch.Tensor)


def test_embedded_corpus():
    splits = prepare_data(DataConfig())
    total = sum(s["pairs"] for s in splits.sizes.values())
    assert total > 130_000 and splits.sizes["train"]["pairs"] > 120_000
    assert splits.sizes["valid"]["pairs"] > 1000 and splits.sizes["test"]["pairs"] > 1000
    row = splits.train[0]
    assert isinstance(row["context"], list) and row["reply"]


@pytest.mark.parametrize("name, content, message", [
    ("missing.jsonl", None, "data file not found"),
    ("empty.jsonl", b"", "data file is empty"),
    ("blank.txt", b"\n\n  \n", "data file is empty"),
    ("bad.jsonl", b'{"turns": ["a", "b"]}\n{"turns": ["\xff\xfe"]}\n', r"not valid UTF-8 \(line 2"),
    ("col.jsonl", b'{"prompt": "a", "answer": "b"}\n', "missing column 'reply'"),
    ("ctx.csv", b"reply\nhello\n", "missing column 'context'"),
    ("notobj.jsonl", b'["a", "b"]\n', "line 1: expected a JSON object"),
    ("broken.jsonl", b'{"turns": [\n', "line 1 is not valid JSON"),
    ("single.jsonl", b'{"turns": ["only one turn"]}\n', r"no \(context, reply\) pairs"),
    ("few.jsonl", b'{"turns": ["a", "b"]}\n{"turns": ["c", "d"]}\n', "only 2 conversation"),
    ("data.xyz", b"hello\n", "cannot tell the format"),
])
def test_bad_input_is_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        prepare_data(cfg(path))
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_config_validation():
    with pytest.raises(ConfigError, match="data.format"):
        DataConfig(format="xml").validate()
    with pytest.raises(ConfigError, match="data.valid_fraction"):
        DataConfig(valid_fraction=0.7).validate()


def test_chat_template_encoding_of_real_pairs_is_the_earlier_sep_join():
    """The from-scratch pipeline's contexts are unchanged by the chat-template path: on 1,000 real chit-chat pairs
    (emoji, odd spacing, contexts over the token budget) the ids equal the earlier encoding: the turns' ids joined by
    the sep token, left-truncated (measured on the quickstart's 90,000 pairs too: identical)."""
    cfg = DataConfig(max_context_turns=2, max_context_tokens=24, max_train_pairs=1000)
    train = prepare_data(cfg).train
    tok = train_tokenizer([r for r in train["reply"]], vocab_size=600)
    encoded = encode_pairs(train, tok, cfg)

    def earlier(turns):
        ids = []
        for i, turn in enumerate([t for t in turns if t.strip()][-cfg.max_context_turns:]):
            ids += ([tok.sep_token_id] if i else []) + tok.encode(turn, add_special_tokens=False)
        return ids[-cfg.max_context_tokens:] or [tok.sep_token_id]

    assert encoded["context_ids"] == [earlier(list(turns)) for turns in train["context"]]
    assert sum(len(ids) == cfg.max_context_tokens for ids in encoded["context_ids"]) > 100  # truncation exercised
