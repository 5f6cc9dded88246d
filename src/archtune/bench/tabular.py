"""The tabular benchmarks ``archtune bench`` searches, as one shape: encodings, columns, fidelities.

=======  =====================================  ==============  ===================  =========================
table    space                                  datasets        fidelities           zero-cost data (pretraining)
=======  =====================================  ==============  ===================  =========================
nb201    NAS-Bench-201, all 15,625 cells        cifar10,        200-epoch test,      six measured latencies
                                                cifar100,       12-epoch validation
                                                imagenet16      (cost 12/200)
nb101    NAS-Bench-101, NASLib's 500-cell       cifar10         validation accuracy  FLOPs, params and 9
         sample                                                 (one fidelity)       zero-cost proxies
nb301    NAS-Bench-301 (DARTS), NASLib's        cifar10         validation accuracy  FLOPs, params and 10
         725-genotype sample                                    (one fidelity)       zero-cost proxies
=======  =====================================  ==============  ===================  =========================

Example:
    >>> b = tabular_benchmark("nb101", "cifar10")
    >>> len(b.encodings), b.lo is None, b.title
    (500, True, 'NAS-Bench-101 (NASLib sample) cifar10')
    >>> tabular_benchmark("nb201", "cifar100").lo_cost
    0.06
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from archtune.errors import ConfigError

TABLES: dict[str, tuple[str, ...]] = {
    "nb201": ("cifar10", "cifar100", "imagenet16"),
    "nb101": ("cifar10",),
    "nb301": ("cifar10",),
}
TITLES = {
    "nb201": "NAS-Bench-201",
    "nb101": "NAS-Bench-101 (NASLib sample)",
    "nb301": "NAS-Bench-301 (NASLib sample)",
}


@dataclass(frozen=True)
class TabularBenchmark:
    """One table and dataset: row i is encoding i of the space.

    ``hi`` is the objective (maximised) at cost 1; ``lo`` an optional cheap fidelity at ``lo_cost``;
    ``pretraining`` the zero-cost columns a pretrained BO is given; ``constraints`` the columns a
    ``--constraint`` may name.
    """

    table: str
    dataset: str
    encodings: list[tuple[Any, ...]]
    hi: np.ndarray
    lo: np.ndarray | None
    lo_cost: float
    pretraining: dict[str, np.ndarray]
    constraints: dict[str, np.ndarray]

    @property
    def title(self) -> str:
        return f"{TITLES[self.table]} {self.dataset}"

    @property
    def stem(self) -> str:
        """File-name stem of its results: ``nb201_cifar10``, ``nb101_cifar10``."""
        return f"{self.table}_{self.dataset}"


def check_table(table: str, dataset: str) -> None:
    """A ConfigError naming the valid choices for an unknown table or dataset."""
    if table not in TABLES:
        raise ConfigError(f"unknown tabular benchmark {table!r}; valid: {', '.join(TABLES)}")
    if dataset not in TABLES[table]:
        raise ConfigError(f"unknown {table} dataset {dataset!r}; valid: {', '.join(TABLES[table])}")


@cache
def tabular_benchmark(table: str, dataset: str) -> TabularBenchmark:
    """The benchmark ``table`` on ``dataset`` (cached per process)."""
    check_table(table, dataset)
    if table == "nb201":
        from archtune.bench.nb201 import LO_FI_COST
        from archtune.datasets.nb201 import DATASETS, load_nb201
        from archtune.spaces.nb201 import PRETRAINING_LATENCIES

        t = load_nb201()
        hi_col, lo_col = DATASETS[dataset]
        return TabularBenchmark(
            table,
            dataset,
            t.encodings,
            t.column(hi_col),
            t.column(lo_col),
            LO_FI_COST,
            {c: t.column(c) for c in PRETRAINING_LATENCIES},
            {c: t.column(c) for c in t.latency_columns},
        )
    from archtune.bench.nasbench_samples import load_sample

    s = load_sample(table)
    return TabularBenchmark(
        table,
        dataset,
        s.encodings,
        s.accuracy,
        None,
        1.0,
        dict(s.zero_cost),
        {c: s.zero_cost[c] for c in ("flops", "params")},
    )
