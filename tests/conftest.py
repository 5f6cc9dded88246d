from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def nb201_small():
    """800 NB201 cells (fixed draw) that include the CIFAR-10 optimum, with their latencies."""
    from archtune.datasets.nb201 import load_nb201
    from archtune.spaces.nb201 import PRETRAINING_LATENCIES

    table = load_nb201()
    rows = np.sort(
        np.unique(np.concatenate([[6111], np.random.default_rng(0).choice(15625, 800, replace=False)]))
    )
    encodings = [table.encodings[i] for i in rows]
    metrics = {c: table.column(c)[rows] for c in PRETRAINING_LATENCIES}
    return encodings, metrics


_ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def pytest_sessionstart(session):
    session.config._archtune_started = time.time()


def pytest_terminal_summary(terminalreporter, config):
    """Name the folder of the screenshots this run saved (the report tests), for a person to look at."""
    started = getattr(config, "_archtune_started", 0)
    shots = (
        [p for p in _ARTIFACTS.rglob("*.png") if p.stat().st_mtime >= started] if _ARTIFACTS.is_dir() else []
    )
    if shots:
        terminalreporter.write_line(
            f"{len(shots)} screenshots saved under {_ARTIFACTS} (open them to look at the reports)"
        )
