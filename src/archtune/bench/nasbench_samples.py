"""The NAS-Bench-101 and NAS-Bench-301 samples shipped with archtune (NASLib's zero-cost files).

Two spaces whose structure differs from NAS-Bench-201's six-edge cell, so that a default tuned on
NB201 can be checked on spaces it was not tuned on (see ``archtune/datasets/files/PROVENANCE.md``):

- **NAS-Bench-101**, 500 cells: a 7-node DAG, encoded as its 21 upper-triangular adjacency bits
  (ints 0/1) followed by the operations of the five inner nodes (``conv3x3-bn-relu``,
  ``conv1x1-bn-relu``, ``maxpool3x3``); CIFAR-10 validation accuracy.
- **NAS-Bench-301** (the DARTS space), 725 genotypes: the normal then the reduction cell, each 8
  (input node, operation) pairs, encoded as 32 values (``"in0"``, ``"sep_conv_3x3"``, ...); CIFAR-10
  validation accuracy from the NAS-Bench-301 surrogate.

Each cell comes with FLOPs, parameters and 9-10 zero-cost proxies (synflow, snip, jacov, ...), measured
by NASLib: archtune's BO pretrains on them as it pretrains on NB201's latencies.

Example:
    >>> nb101 = load_sample("nb101")
    >>> len(nb101.encodings), len(nb101.encodings[0]), round(float(nb101.accuracy.max()), 3)
    (500, 26, 94.712)
    >>> nb101.encodings[0][21:]
    ('maxpool3x3', 'maxpool3x3', 'conv3x3-bn-relu', 'conv3x3-bn-relu', 'conv3x3-bn-relu')
    >>> sorted(load_sample("nb301").zero_cost)[:4]
    ['epe_nas', 'fisher', 'flops', 'grad_norm']
"""

from __future__ import annotations

import ast
import gzip
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from archtune.errors import ConfigError

#: NASLib's operation codes of NAS-Bench-101 (0 and 1 are the input and output nodes)
NB101_OPS = ("input", "output", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu")
NB101_NODES = 7
#: NASLib's compact DARTS operation codes
NB301_OPS = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
FILES = {"nb101": "naslib_zc_nasbench101.json.gz", "nb301": "naslib_zc_nasbench301.json.gz"}


@dataclass(frozen=True)
class SampleTable:
    """One sample: encodings, CIFAR-10 validation accuracy, and the zero-cost columns (same row order)."""

    name: str
    encodings: list[tuple[Any, ...]]
    accuracy: np.ndarray
    zero_cost: dict[str, np.ndarray]


def nb101_encoding(key: tuple[int, ...]) -> tuple[Any, ...]:
    """NASLib's NB101 key (flattened 7x7 adjacency, then 7 op codes) as 21 edge bits and 5 op names.

    Example:
        >>> key = tuple([0, 1] + [0] * 47) + (0, 4, 4, 4, 4, 4, 1)
        >>> enc = nb101_encoding(key); enc[:2], enc[21]
        ((1, 0), 'conv3x3-bn-relu')
    """
    n = NB101_NODES
    if len(key) != n * n + n:
        raise ConfigError(f"not a NAS-Bench-101 key of {n * n + n} values: {len(key)} values")
    matrix = np.asarray(key[: n * n]).reshape(n, n)
    edges = tuple(int(matrix[i, j]) for i in range(n) for j in range(i + 1, n))
    ops = tuple(NB101_OPS[code] for code in key[n * n + 1 : n * n + n - 1])  # the inner nodes only
    return edges + ops


def nb301_encoding(genotype: list[list[tuple[int, int]]]) -> tuple[str, ...]:
    """NASLib's compact DARTS genotype (normal, reduction; 8 (input, op) pairs each) as 32 names.

    Example:
        >>> nb301_encoding([[(0, 3)] * 8, [(1, 6)] * 8])[:2]
        ('in0', 'sep_conv_3x3')
    """
    if len(genotype) != 2 or any(len(cell) != 8 for cell in genotype):
        raise ConfigError("not a compact DARTS genotype: two cells of 8 (input, operation) pairs expected")
    return tuple(name for cell in genotype for node, op in cell for name in (f"in{node}", NB301_OPS[op]))


def _score(value: Any) -> float:
    # NB301's proxies are {"score": s, "time": t}; NB101's are plain numbers
    return float(value["score"] if isinstance(value, dict) else value)


@cache
def load_sample(name: str) -> SampleTable:
    """Read the shipped sample ``"nb101"`` or ``"nb301"`` (cached)."""
    if name not in FILES:
        raise ConfigError(f"unknown NASLib sample {name!r}; valid: {', '.join(FILES)}")
    with (
        resources.files("archtune.datasets.files").joinpath(FILES[name]).open("rb") as raw,
        gzip.open(raw, "rt") as fh,
    ):
        data = json.load(fh)
    cells = data["nasbench101"]["cifar10"] if name == "nb101" else data["cifar10"]
    keys = list(cells)
    # the keys are Python literals (tuples, lists of pairs): literal_eval reads them without running code
    parse = nb101_encoding if name == "nb101" else nb301_encoding
    encodings = [parse(ast.literal_eval(k)) for k in keys]
    if len(set(encodings)) != len(encodings):
        raise ConfigError(f"the {name} sample has repeated cells")
    proxies = sorted(set(cells[keys[0]]) - {"val_accuracy", "idx", "arch"})
    zero_cost = {p: np.array([_score(cells[k][p]) for k in keys], dtype=np.float64) for p in proxies}
    accuracy = np.array([float(cells[k]["val_accuracy"]) for k in keys], dtype=np.float64)
    return SampleTable(name, encodings, accuracy, zero_cost)
