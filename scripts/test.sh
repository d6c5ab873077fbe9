#!/usr/bin/env bash
# Quickstart, command 2: install (if needed), then run the test suite.  Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec python -m pytest -q "$@"
