from __future__ import annotations

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def nb201_small():
    """800 NB201 cells (fixed draw) that include the CIFAR-10 optimum, with their latencies."""
    from archtune.bench.nb201 import PRETRAINING_LATENCIES
    from archtune.bench.nb201_data import load_nb201

    table = load_nb201()
    rows = np.sort(np.unique(np.concatenate([[6111], np.random.default_rng(0).choice(15625, 800, replace=False)])))
    encodings = [table.encodings[i] for i in rows]
    metrics = {c: table.column(c)[rows] for c in PRETRAINING_LATENCIES}
    return encodings, metrics
