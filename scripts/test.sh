#!/usr/bin/env bash
# Set up a virtual environment (the CPU build of torch 2.13.0 first, so that archtune's torch range takes it) and run the default test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[dev]"
# the paper reproductions and benchmark drivers (experiments/, a package of its own: the library never
# imports it; its `archtune bench|naap|nss|tnas` commands join the CLI through an entry point)
.venv/bin/pip install -q -e experiments
.venv/bin/ruff check src tests experiments
# formatting: `ruff format src tests examples experiments` fixes what this reports (.pre-commit-config.yaml runs it on commit)
.venv/bin/ruff format --check src tests examples experiments
# type checks: strict for the core packages (pyproject.toml [tool.mypy] says which)
.venv/bin/mypy src/archtune/strategy src/archtune/surrogate src/archtune/space src/archtune/storage src/archtune/search src/archtune/execute
# the documentation site, warnings as errors: a broken page link, heading anchor or Python reference fails here
# -E: a fresh build every time, so warnings of pages left unchanged since a failed build still count
.venv/bin/sphinx-build -E -W --keep-going -q -b html docs docs/_build/html
# two test processes (the CI machine has 2 cores); --dist loadfile sends each test file to one of them, so
# the SLURM tests, which share one SLURM (and preempt its jobs), run one after another in one process.
# (Not --dist loadgroup: pytest-xdist 3.8 tags a test's group by rewriting Node._nodeid, which pytest 9
# no longer reads, so xdist_group marks are silently ignored.) ARCHTUNE_TEST_PROCESSES=0: one process.
.venv/bin/python -m pytest -q -n "${ARCHTUNE_TEST_PROCESSES:-2}" --dist loadfile "$@"
