"""NAS-Bench-201 table shipped with archtune (see ``archtune/datasets/files/PROVENANCE.md``).

Cells are encoded as 6-tuples of operation names, one per edge in NB201's order
(1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2); row i of the table is NB201 index i.

Example:
    >>> enc = arch_str_to_encoding("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|")
    >>> enc
    ('nor_conv_3x3', 'skip_connect', 'none', 'avg_pool_3x3', 'nor_conv_1x1', 'skip_connect')
    >>> encoding_to_arch_str(enc) == "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
    True
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from archtune.errors import ConfigError

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
DATASETS = {
    # dataset -> (high-fidelity column, low-fidelity column)
    "cifar10": ("cifar10_test_200ep", "cifar10valid_val_12ep"),
    "cifar100": ("cifar100_test_200ep", "cifar100_val_12ep"),
    "imagenet16": ("imagenet16_test_200ep", "imagenet16_val_12ep"),
}
HI_EPOCHS, LO_EPOCHS = 200, 12


def arch_str_to_encoding(arch_str: str) -> tuple[str, ...]:
    """Parse NB201's ``arch_str`` into the 6-tuple encoding."""
    nodes = [part for part in arch_str.split("+")]
    ops: list[str] = []
    for node in nodes:
        for token in node.strip("|").split("|"):
            op, _, _ = token.partition("~")
            ops.append(op)
    if len(ops) != 6 or any(op not in OPS for op in ops):
        raise ConfigError(f"not an NB201 arch_str: {arch_str!r}")
    return tuple(ops)


def encoding_to_arch_str(encoding: tuple[str, ...]) -> str:
    """Inverse of :func:`arch_str_to_encoding`."""
    ops = list(encoding)
    parts, k = [], 0
    for node in (1, 2, 3):
        tokens = []
        for src in range(node):
            tokens.append(f"{ops[k]}~{src}")
            k += 1
        parts.append("|" + "|".join(tokens) + "|")
    return "+".join(parts)


@dataclass(frozen=True)
class NB201Table:
    """The whole table: encodings in NB201 index order and one float64 column per name."""

    encodings: list[tuple[str, ...]]
    columns: dict[str, np.ndarray]

    def column(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            raise ConfigError(f"no column {name!r}; valid: {', '.join(sorted(self.columns))}") from None

    @property
    def latency_columns(self) -> list[str]:
        return sorted(c for c in self.columns if c.startswith("lat_"))


@cache
def load_nb201() -> NB201Table:
    """Read the shipped table (about 0.3 s; cached)."""
    with (
        resources.files("archtune.datasets.files").joinpath("nb201.csv.gz").open("rb") as raw,
        gzip.open(raw, "rt") as fh,
    ):
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    encodings = [arch_str_to_encoding(r[1]) for r in rows]
    data = np.array([[float(x) for x in r[2:]] for r in rows], dtype=np.float64)
    columns = {name: data[:, j] for j, name in enumerate(header[2:])}
    return NB201Table(encodings, columns)
