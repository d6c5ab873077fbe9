#!/usr/bin/env bash
# Quickstart, command 1: install (if needed), then train the default chatbot on the embedded corpus,
# evaluate it and show what it says.  Extra arguments are passed on as config overrides.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec seqgan quickstart "$@"
