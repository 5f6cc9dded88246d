"""NAS-Bench-201 as tabular objectives: a whole search costs seconds.

High fidelity = 200-epoch test accuracy; low fidelity = 12-epoch validation accuracy, costing 12/200
of the high one. Zero-cost pretraining data are the table's measured latencies.

Example:
    >>> space = nb201_space()
    >>> hi, lo = nb201_objectives("cifar10")
    >>> round(hi(space.encodings[6111]), 3)
    94.373
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archtune.bench.nb201_data import DATASETS, HI_EPOCHS, LO_EPOCHS, load_nb201
from archtune.errors import ConfigError
from archtune.space.encoding import encoding_key
from archtune.space.search_space import SearchSpace, create_search_space

PRETRAINING_LATENCIES = ("lat_1080ti_1", "lat_eyeriss", "lat_fpga", "lat_gold_6226", "lat_pixel3", "lat_raspi4")
LO_FI_COST = LO_EPOCHS / HI_EPOCHS


def nb201_space(save_filename: str | None = None, pretraining: bool = True) -> SearchSpace:
    """The 15,625 NB201 cells as a space, with measured latencies as pretraining data.

    Its ``encoding_to_net`` is the real NB201 network (:func:`archtune.spaces.nb201_net.nb201_net`), so
    ``space.preprocess(torch.rand(1, 3, 32, 32))`` profiles parameters, FLOPs, latency and memory.
    """
    from archtune.spaces.nb201_net import nb201_net

    table = load_nb201()
    data = {c: table.column(c) for c in PRETRAINING_LATENCIES} if pretraining else None
    return create_search_space("nb201", save_filename, table.encodings, encoding_to_net=nb201_net, pretraining_data=data)


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
