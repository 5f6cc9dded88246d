#!/usr/bin/env bash
# Set up a virtual environment (CPU torch, pinned) and run the embedded demo search.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q -e .
.venv/bin/archtune demo "$@"
