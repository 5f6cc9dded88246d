#!/usr/bin/env bash
# Set up a virtual environment (the CPU build of torch 2.13.0 first, so that archtune's torch range takes it) and run the embedded demo search.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e .
.venv/bin/archtune demo "$@"
