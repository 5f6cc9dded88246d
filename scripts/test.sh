#!/usr/bin/env bash
# Set up a virtual environment (the CPU build of torch 2.13.0 first, so that archtune's torch range takes it) and run the default test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[dev]"
.venv/bin/ruff check src tests
.venv/bin/python -m pytest -q "$@"
