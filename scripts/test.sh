#!/usr/bin/env bash
# Quickstart, command 2: install (if needed), then run the test suite.  Extra arguments go to pytest.
# Besides the dev extra it installs what the web chat's browser test needs (gradio, playwright); the browser is the
# system's Chromium (Debian: apt-get install chromium; .ci/run installs it when missing).
export SEQGAN_EXTRAS="dev,browser-tests" SEQGAN_EXTRA_MODULES="gradio, playwright"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec python -m pytest -q "$@"
