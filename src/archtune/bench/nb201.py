"""NAS-Bench-201 as tabular objectives: a whole search costs seconds.

High fidelity = 200-epoch test accuracy; low fidelity = 12-epoch validation accuracy, costing 12/200
of the high one.

The space itself is :func:`archtune.spaces.nb201.nb201_space`.

Example:
    >>> from archtune.spaces.nb201 import nb201_space
    >>> space = nb201_space()
    >>> hi, lo = nb201_objectives("cifar10")
    >>> round(hi(space.encodings[6111]), 3)
    94.373
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archtune.datasets.nb201 import DATASETS, HI_EPOCHS, LO_EPOCHS, load_nb201
from archtune.errors import ConfigError
from archtune.space.encoding import encoding_key

LO_FI_COST = LO_EPOCHS / HI_EPOCHS


def nb201_objectives(dataset: str = "cifar10") -> tuple[Callable[[Any], float], Callable[[Any], float]]:
    """(high-fidelity, low-fidelity) objectives for ``dataset`` (cifar10, cifar100, imagenet16)."""
    if dataset not in DATASETS:
        raise ConfigError(f"unknown NB201 dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    table = load_nb201()
    row = {encoding_key(e): i for i, e in enumerate(table.encodings)}
    hi_col, lo_col = (table.column(c) for c in DATASETS[dataset])

    def lookup(column):
        def objective(encoding: Any) -> float:
            return float(column[row[encoding_key(tuple(encoding))]])

        return objective

    return lookup(hi_col), lookup(lo_col)


def nb201_optimum(dataset: str = "cifar10") -> float:
    """Best high-fidelity value in the table."""
    return float(load_nb201().column(DATASETS[dataset][0]).max())
