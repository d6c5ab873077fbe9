"""`seqgan serve RUN_DIR`: the web chat's logic (every generator side by side, D's scores, notices for bad input)
and the page itself, driven end to end in a real headless browser."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SEQGAN_CHROMIUM", "/usr/bin/chromium")
BROWSER_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def web_run(tiny_run, tmp_path_factory) -> Path:
    """The session's tiny run with an 'adversarial' generator (a copy of the MLE one, enough for side by side) and
    a small discriminator, so that replies carry D's score."""
    from seqgan.data import load_tokenizer
    from seqgan.models.discriminator import Discriminator, DiscriminatorConfig

    run = shutil.copytree(tiny_run, tmp_path_factory.mktemp("web") / "run")
    shutil.copytree(run / "generator", run / "generator_adv")
    tokenizer = load_tokenizer(run / "tokenizer")
    torch.manual_seed(3)
    Discriminator(DiscriminatorConfig(embed_dim=16, filter_sizes=[1, 2], num_filters=[8, 8]), len(tokenizer),
                  tokenizer.pad_token_id).save_pretrained(run / "discriminator")
    return run


@pytest.fixture(scope="module")
def web_chat(web_run):
    from seqgan.chat.web import WebChat

    return WebChat.load(web_run)


def test_one_message_is_answered_by_every_generator_with_d_scores(web_chat, one_thread):
    assert list(web_chat.bots) == ["mle", "adv"] and web_chat.has_scores
    state, note, sent = web_chat.send("hi there! what do you do for fun?", None, {"mode": "greedy"})
    assert sent and note == ""
    for name in ("mle", "adv"):
        user, bot = state["shown"][name]
        assert user == {"role": "user", "content": "hi there! what do you do for fun?"}
        assert bot["role"] == "assistant" and "  [D=0." in bot["content"]
        assert [t.speaker for t in state["turns"][name]] == ["user", "bot"]
    # multi-turn: the second message is answered with the first exchange as context
    state, _, _ = web_chat.send("and on weekends?", state, {"mode": "sample", "n": 2}, show_scores=False)
    assert len(state["shown"]["mle"]) == 4 and state["shown"]["mle"][3]["content"].startswith("1. ")
    assert "[D=" not in state["shown"]["mle"][3]["content"] and len(state["turns"]["adv"]) == 4


def test_bad_input_gets_a_notice_and_keeps_the_conversation(web_chat, one_thread):
    state, _, _ = web_chat.send("hello", None, {"mode": "greedy"})
    before = [dict(m) for m in state["shown"]["mle"]]
    for message, expected in (("   ", "Nothing sent: the message is empty"),
                              ("x" * 20_000, "Not sent: the message has 20,000 characters, over the limit of 4,000"),
                              ("/set temperature=2", "Commands here: /reset")):
        new, note, sent = web_chat.send(message, state, {"mode": "greedy"})
        assert not sent and note.startswith(expected) and new["shown"]["mle"] == before, message
    new, note, sent = web_chat.send("hi", state, {"temperature": 0})
    assert not sent and note.startswith("Settings not applied: temperature: expected a number > 0")
    new, note, sent = web_chat.send("caf\udce9 ok?", state, {"mode": "greedy"})  # a byte that is not UTF-8
    assert sent and note == "1 character(s) that are not valid UTF-8 were replaced by \ufffd"
    assert new["shown"]["adv"][-2]["content"] == "caf\ufffd ok?"
    cleared, note, sent = web_chat.send("/reset", new, {})
    assert sent and cleared["shown"] == {"mle": [], "adv": []}


def test_serve_without_gradio_names_the_extra(web_run, monkeypatch, capsys):
    import builtins

    from seqgan import cli

    real_import = builtins.__import__

    def no_gradio(name, *args, **kwargs):
        if name == "gradio" or name.startswith("gradio."):
            raise ImportError("No module named 'gradio'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gradio)
    assert cli.main(["serve", str(web_run)]) == 2
    assert capsys.readouterr().err == "seqgan: error: seqgan serve needs Gradio: pip install 'seqgan[serve]'\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.mark.slow
def test_the_page_in_a_real_browser(web_run, tmp_path):
    """Start `seqgan serve` on localhost, chat in headless Chromium, read the replies from the page, take a
    screenshot; bad input shows a notice and the page keeps working."""
    pytest.importorskip("gradio", reason="the web chat is the extra seqgan[serve]: pip install 'seqgan[serve]'")
    playwright = pytest.importorskip("playwright.sync_api", reason="the browser test drives Chromium with "
                                                                    "playwright: pip install playwright")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set SEQGAN_CHROMIUM)")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1"}
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed in finally
    server = subprocess.Popen([sys.executable, "-m", "seqgan.cli", "serve", str(web_run), "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        _wait_for(url, server)
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM,
                                                           headless=True, args=BROWSER_FLAGS)
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(url)
            box = page.locator("#message textarea")
            mle_bot = page.locator("#chat-mle .bot")
            adv_bot = page.locator("#chat-adv .bot")
            notice = page.locator("#notice")

            box.fill("hi there! what do you do for fun?")
            box.press("Enter")
            mle_bot.first.wait_for()
            adv_bot.first.wait_for()
            page.wait_for_function("document.querySelector('#chat-adv .bot').innerText.includes('[D=0.')")
            first = mle_bot.first.inner_text()
            assert "[D=0." in first and "hi there! what do you do for fun?" in page.locator("#chat-mle").inner_text()
            page.screenshot(path=str(tmp_path / "web_chat.png"), full_page=True)

            page.locator("#send").click()  # an empty message
            notice.get_by_text("Nothing sent: the message is empty").wait_for()
            box.fill("x" * 20_000)
            box.press("Enter")
            notice.get_by_text("Not sent: the message has 20,000 characters").wait_for()
            assert box.input_value() == "x" * 20_000  # kept for editing
            # what a browser makes of bytes that are not UTF-8: a lone surrogate in the text
            box.evaluate("el => { el.value = 'caf' + String.fromCharCode(0xDCE9) + ' ok?'; "
                         "el.dispatchEvent(new Event('input', {bubbles: true})); }")
            box.press("Enter")
            notice.get_by_text("not valid UTF-8 were replaced").wait_for()
            page.wait_for_function("document.querySelectorAll('#chat-mle .bot').length >= 2")
            page.screenshot(path=str(tmp_path / "web_chat_after_bad_input.png"), full_page=True)
            assert mle_bot.count() == 2 and adv_bot.count() == 2  # the page kept working
            browser.close()
        assert (tmp_path / "web_chat.png").stat().st_size > 10_000
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
