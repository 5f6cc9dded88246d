"""The NAAP-440 table (paper 001) and its train/test split.

440 CNN schemes trained on CIFAR-10 for 90 epochs with one recipe; per scheme the table holds six
scheme features, the best test accuracy over the epochs (``MaxAccuracy``, a fraction) and, per epoch,
test accuracy and the training loss's mean and median.

The split (section 2, Fig. 3): sort by MaxAccuracy, cut into 40 bins of 11, and send the central
architecture of each bin to the test set.

Example:
    >>> t = load_naap440()
    >>> len(t.max_accuracy), int(t.is_test.sum())
    (440, 40)
    >>> bool((paper_split(t.max_accuracy, t.model_id) == t.is_test).all())
    True
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

SCHEME_COLUMNS = ("NumParams", "NumMACs", "NumLayers", "NumStages", "FirstLayerWidth", "LastLayerWidth")
EPOCH_METRICS = ("LossMean", "LossMedian", "Accuracy")  # the order of the per-epoch features too
EPOCHS = 90


@dataclass(frozen=True)
class NAAP440:
    """Columns of the table as arrays, rows in ModelId order."""

    model_id: np.ndarray
    is_test: np.ndarray
    scheme: dict[str, np.ndarray]
    max_accuracy: np.ndarray
    epochs: dict[str, np.ndarray]  # metric -> (440, 90)


@cache
def load_naap440() -> NAAP440:
    """Read the shipped table (see ``archtune/datasets/files/PROVENANCE.md``)."""
    with resources.files("archtune.datasets.files").joinpath("naap440.csv").open("r") as fh:
        rows = list(csv.DictReader(fh))
    col = lambda name, kind=float: np.array([kind(r[name]) for r in rows])  # noqa: E731
    epochs = {m: np.stack([col(f"e{e}{m}") for e in range(1, EPOCHS + 1)], axis=1) for m in EPOCH_METRICS}
    return NAAP440(
        model_id=col("ModelId", int),
        is_test=col("IsTest", int).astype(bool),
        scheme={c: col(c) for c in SCHEME_COLUMNS},
        max_accuracy=col("MaxAccuracy"),
        epochs=epochs,
    )


@cache
def load_schemes() -> list[list[dict[str, Any]]]:
    """The 440 schemes in ModelId order: lists of {kernel_size, width, stride, residual}."""
    with resources.files("archtune.datasets.files").joinpath("naap440_schemes.json").open("r") as fh:
        return json.load(fh)


def paper_split(max_accuracy: np.ndarray, model_id: np.ndarray, bins: int = 40) -> np.ndarray:
    """Test mask: sort by accuracy, ``bins`` equal bins, the central architecture of each to the test set.

    Ties in accuracy keep the order in which the paper's tool met the training logs: file names
    ``scheme_<id>.txt`` in lexicographic order ("scheme_198" before "scheme_56"). With that tie-break
    the split equals the table's ``IsTest`` exactly; with ties in ModelId order models 56 and 198 swap.
    """
    n = len(max_accuracy)
    if n % bins:
        raise ValueError(f"{n} architectures do not fill {bins} equal bins")
    size = n // bins
    order = sorted(range(n), key=lambda i: (float(max_accuracy[i]), f"scheme_{int(model_id[i])}.txt"))
    test = np.zeros(n, dtype=bool)
    test[order[size // 2 :: size]] = True
    return test
