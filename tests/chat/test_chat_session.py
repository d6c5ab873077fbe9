"""ChatSession logic without a terminal or a model: a responder that reports what it was given."""

from __future__ import annotations

import json

import pytest

from seqgan.chat.session import ChatSession
from seqgan.errors import ConfigError
from seqgan.generate import DecodingOptions


class Recorder:
    """Replies 'r<i>:<last turn>' (n candidates) and remembers every (context, options) call."""

    def __init__(self):
        self.calls = []

    def __call__(self, turns, options):
        self.calls.append((list(turns), options))
        return [f"r{i}:{turns[-1]}" for i in range(options.n)]


def make(k=3, **kw):
    rec = Recorder()
    return ChatSession(rec, context_turns=k, **kw), rec


def test_context_keeps_last_k_turns_including_replies():
    s, rec = make(k=3)
    for msg in ["a", "b", "c"]:
        assert s.handle(msg + "\n").reply == f"r0:{msg}"
    assert rec.calls[0][0] == ["a"]
    assert rec.calls[1][0] == ["a", "r0:a", "b"]
    assert rec.calls[2][0] == ["r0:a", "b", "r0:b", "c"][-3:]
    assert s.context() == ["b", "r0:b", "c", "r0:c"][-3:]


def test_reset_clears_context():
    s, rec = make()
    s.handle("hello")
    out = s.handle("/reset")
    assert out.reply is None and "cleared" in out.messages[0]
    s.handle("again")
    assert rec.calls[-1][0] == ["again"]


def test_set_changes_options_passed_to_responder():
    s, rec = make()
    out = s.handle("/set mode=beam beams=5 n=2 max_len=7")
    assert "beams=5" in out.messages[0]
    reply = s.handle("hi").reply
    opts = rec.calls[-1][1]
    assert (opts.mode, opts.beams, opts.n, opts.max_len) == ("beam", 5, 2, 7)
    assert reply == "r0:hi ||| r1:hi"  # plain mode: one line, candidates joined
    s.handle("/set temperature 0.5")  # "KEY VALUE" form
    assert s.options.temperature == 0.5


@pytest.mark.parametrize("bad", ["/set temperature=abc", "/set top_p=1.5", "/set mode=fancy", "/set n=0",
                                 "/set colour=red", "/set", "/set mode=beam beams=2 n=3"])
def test_bad_set_keeps_options_and_session(bad):
    s, _ = make()
    before = s.options
    out = s.handle(bad)
    assert out.reply is None and len(out.messages) == 1 and "\n" not in out.messages[0]
    assert s.options == before
    assert s.handle("still here").reply == "r0:still here"


def test_n_in_greedy_switches_to_sampling():
    s, _ = make(options=DecodingOptions(mode="greedy"))
    s.handle("/set n=3")
    assert (s.options.mode, s.options.n) == ("sample", 3)


def test_unknown_command_and_slash_escape():
    s, rec = make()
    out = s.handle("/frobnicate now")
    assert out.messages == ["unknown command /frobnicate (try /help)"] and out.reply is None
    assert s.handle("//etc/passwd is a path").reply == "r0:/etc/passwd is a path"
    assert len(rec.calls) == 1


def test_empty_lines_plain_vs_interactive():
    plain, rec = make()
    assert plain.handle("   \n").reply == ""
    inter, _ = make(interactive=True)
    assert inter.handle("\n").reply is None
    assert rec.calls == [] and plain.history == []


def test_long_input_is_refused_not_cut():
    s, rec = make()
    out = s.handle("word " * 1000)  # 4,999 characters after whitespace normalisation
    assert out.reply == "" and rec.calls == [] and s.history == []  # plain mode still answers with one line
    assert out.messages == ["not sent: the message has 4,999 characters, over the limit of 4,000; "
                            "send a shorter one"]
    assert s.handle("word " * 800).reply == "r0:" + ("word " * 800).strip()  # 3,999 characters: sent whole


def test_responder_error_is_a_message_and_history_unchanged():
    def failing(turns, options):
        raise ConfigError("context too long")

    s = ChatSession(failing, context_turns=2)
    out = s.handle("hi")
    assert out.reply == "" and out.messages == ["error: context too long"]
    assert s.history == []


def test_pick_history_help_quit():
    s, rec = make(options=DecodingOptions(mode="sample", n=3), interactive=True)
    out = s.handle("hey")
    assert out.reply.splitlines() == ["1. r0:hey", "2. r1:hey", "3. r2:hey"]
    assert "continuing with: r2:hey" in s.handle("/pick 3").messages[0]
    assert s.context() == ["hey", "r2:hey"]
    assert "usage" in s.handle("/pick 9").messages[0]
    hist = s.handle("/history").messages[0]
    assert "user: hey" in hist and "bot: r2:hey" in hist
    assert "/save FILE" in s.handle("/help").messages[0]
    assert s.handle("/show").messages[0].startswith("mode=sample")
    assert s.handle("/quit").quit


def test_save_writes_transcript(tmp_path):
    s, _ = make()
    s.handle("one")
    s.handle("two")
    out = s.handle(f"/save {tmp_path / 'sub' / 'chat.txt'}")
    assert "saved 4 turns" in out.messages[0] and f"(created the directory {tmp_path / 'sub'})" in out.messages[0]
    assert (tmp_path / "sub" / "chat.txt").read_text().splitlines() == [
        "user: one", "bot: r0:one", "user: two", "bot: r0:two"]
    s.handle(f"/save {tmp_path / 'chat.jsonl'}")
    rows = [json.loads(line) for line in (tmp_path / "chat.jsonl").read_text().splitlines()]
    assert rows[1] == {"speaker": "bot", "text": "r0:one"}
    (tmp_path / "blocker").write_text("x")
    bad = s.handle(f"/save {tmp_path / 'blocker' / 'y.txt'}")  # a file is in the way: a message, no crash
    assert bad.messages[0].startswith("not saved: /save ") and "blocker is not a directory" in bad.messages[0]


def test_scores_shown_when_scorer_present():
    seen = []

    def scorer(turns, replies):
        seen.append((list(turns), list(replies)))
        return [0.25] * len(replies)

    s = ChatSession(Recorder(), context_turns=2, scorer=scorer, interactive=True)
    assert s.handle("hi").reply == "r0:hi  [D=0.25]"
    assert seen == [(["hi"], ["r0:hi"])]
    s.handle("/set scores=off")
    assert s.handle("yo").reply == "r0:yo"
    plain = ChatSession(Recorder(), context_turns=2, scorer=scorer)
    assert plain.handle("hi").reply == "r0:hi"  # plain output stays plain unless asked


def test_decoding_options_generate_kwargs():
    assert DecodingOptions(mode="greedy").generate_kwargs()["do_sample"] is False
    beam = DecodingOptions(mode="beam", beams=3, n=2).generate_kwargs()
    assert (beam["num_beams"], beam["num_return_sequences"], beam["do_sample"]) == (3, 2, False)
    sample = DecodingOptions(mode="sample", top_k=5, top_p=0.8, temperature=0.7).generate_kwargs()
    assert (sample["do_sample"], sample["top_k"], sample["top_p"], sample["temperature"], sample["num_beams"]) == (
        True, 5, 0.8, 0.7, 1)


def test_no_repeat_ngram_option():
    assert DecodingOptions().generate_kwargs()["no_repeat_ngram_size"] == 3  # on by default
    opts = DecodingOptions().updated({"no-repeat-ngram": "0"})
    assert opts.no_repeat_ngram == 0 and opts.generate_kwargs()["no_repeat_ngram_size"] == 0
    with pytest.raises(ConfigError, match="no_repeat_ngram"):
        DecodingOptions().updated({"no_repeat_ngram": "-1"})
