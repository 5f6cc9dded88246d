"""Paper 001's Table 3: off-the-shelf regressors predicting NAAP-440's best accuracy from the scheme and
the first k epochs (``archtune naap baseline``).

Protocol (section 3): features are the scheme's log #params and #stages when no epoch is used, all six
scheme features (log #params, log #MACs, #layers, #stages, first and last width) plus, per epoch, the
training loss mean and median and the test accuracy when k > 0; scale-and-bias normalisation learned on
the 400 training architectures; each regressor fitted with 5 seeds, and the run with the median number
of violations reported (MAE, monotonicity score, violations on the 40 test architectures).

Example:
    >>> X_train, y_train, X_test, y_test = feature_sets(load_naap440(), epochs=0)
    >>> X_train.shape, X_test.shape
    ((400, 2), (40, 2))
    >>> r = evaluate("Random Forest (N=25)", epochs=9)
    >>> r.mae < 0.01 and r.violations < 60
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn import ensemble, linear_model, neighbors, preprocessing, svm, tree

from archtune.naap.data import EPOCH_METRICS, NAAP440, load_naap440
from archtune.naap.metrics import mean_absolute_error, monotonicity_score, monotonicity_violations

SEEDS = tuple(20220905 + i for i in range(5))  # the paper's code's seeds
EPOCH_COUNTS = (0, 3, 6, 9)


class PowerLinearRegression:
    """Linear regression of y = (w.x + 1)^D, fitted as a linear model of y^(1/D) - 1 (Table 3, D < 1)."""

    def __init__(self, degree: float):
        self.degree = degree
        self.linear = linear_model.LinearRegression()

    def fit(self, X: np.ndarray, y: np.ndarray) -> PowerLinearRegression:
        self.linear.fit(X, y ** (1.0 / self.degree) - 1.0)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.linear.predict(X) + 1.0) ** self.degree


def _svr(kernel: str) -> Callable[[], Any]:
    return lambda: svm.SVR(kernel=kernel, epsilon=0.001, C=0.1)


REGRESSORS: dict[str, Callable[[], Any]] = {
    **{
        f"{k}-NN": (lambda k=k: neighbors.KNeighborsRegressor(n_neighbors=k, algorithm="brute"))
        for k in (1, 3, 5, 7, 9)
    },
    "Linear Regression": linear_model.LinearRegression,
    "Linear Regression (D=0.5)": lambda: PowerLinearRegression(0.5),
    "Linear Regression (D=0.25)": lambda: PowerLinearRegression(0.25),
    "Decision Tree": tree.DecisionTreeRegressor,
    **{
        f"Gradient Boosting (N={n})": (lambda n=n: ensemble.GradientBoostingRegressor(n_estimators=n))
        for n in (25, 50, 100, 200)
    },
    **{
        f"AdaBoost (N={n})": (lambda n=n: ensemble.AdaBoostRegressor(n_estimators=n))
        for n in (25, 50, 100, 200)
    },
    "SVR (RBF kernel)": _svr("rbf"),
    "SVR (Polynomial kernel)": _svr("poly"),
    "SVR (Linear kernel)": _svr("linear"),
    **{
        f"Random Forest (N={n})": (lambda n=n: ensemble.RandomForestRegressor(n_estimators=n))
        for n in (25, 50, 100, 200)
    },
}


def feature_matrix(table: NAAP440, epochs: int) -> np.ndarray:
    """The paper's features for every architecture: 2 scheme features at k = 0, else 6 + 3 per epoch."""
    s = table.scheme
    if epochs == 0:
        return np.stack([np.log(s["NumParams"]), s["NumStages"]], axis=1)
    cols = [
        np.log(s["NumParams"]),
        np.log(s["NumMACs"]),
        s["NumLayers"],
        s["NumStages"],
        s["FirstLayerWidth"],
        s["LastLayerWidth"],
    ]
    for e in range(epochs):
        cols += [table.epochs[m][:, e] for m in EPOCH_METRICS]
    return np.stack(cols, axis=1)


def split_rows(table: NAAP440) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test) of the table's split, each sorted by true accuracy.

    The paper's code sorted the table by accuracy before splitting; row order matters where regressors
    break ties by it (nearest neighbours with equal distances) or draw random row subsets (forests).
    """
    order = np.argsort(table.max_accuracy, kind="stable")
    return order[~table.is_test[order]], order[table.is_test[order]]


def feature_sets(table: NAAP440, epochs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test) on the table's split, rows of both sorted by true accuracy."""
    X, y = feature_matrix(table, epochs), table.max_accuracy
    train, test = split_rows(table)
    return X[train], y[train], X[test], y[test]


@dataclass(frozen=True)
class Result:
    """One cell of Table 3: the median-by-violations run over the seeds."""

    regressor: str
    epochs: int
    mae: float
    score: float
    violations: int
    chosen: str = ""  # for a predictor that picks its own model and features: what it picked


def median_run(
    y_test: np.ndarray, predict: Callable[[int], np.ndarray], seeds: tuple[int, ...] = SEEDS
) -> tuple[int, float, float]:
    """(violations, MAE, score) of the seed whose run has the median number of violations (the paper's
    report); ``predict(seed)`` fits and predicts the test rows."""
    runs = []
    for seed in seeds:
        predicted = predict(seed)
        runs.append(
            (
                monotonicity_violations(y_test, predicted),
                mean_absolute_error(y_test, predicted),
                monotonicity_score(y_test, predicted),
            )
        )
    return sorted(runs, key=lambda r: r[0])[len(runs) // 2]


def evaluate(name: str, epochs: int, seeds: tuple[int, ...] = SEEDS, table: NAAP440 | None = None) -> Result:
    """Fit regressor ``name`` on the training split with each seed; the run with the median violations."""
    X_train, y_train, X_test, y_test = feature_sets(table or load_naap440(), epochs)
    scaler = preprocessing.StandardScaler().fit(X_train)

    def predict(seed: int) -> np.ndarray:
        np.random.seed(seed)  # the regressors draw from NumPy's global generator, as in the paper's runs
        return REGRESSORS[name]().fit(scaler.transform(X_train), y_train).predict(scaler.transform(X_test))

    violations, mae, score = median_run(y_test, predict, seeds)
    return Result(name, epochs, mae, score, violations)


def table3(regressors: list[str] | None = None, epoch_counts: tuple[int, ...] = EPOCH_COUNTS) -> list[Result]:
    """Every requested cell of Table 3."""
    names = regressors or list(REGRESSORS)
    return [evaluate(name, k) for name in names for k in epoch_counts]


def agreement(results: list[Result], paper: dict[str, list[tuple[float, float, int]]]) -> dict[str, int]:
    """How many cells match the paper: same violation count, and within 0.003 MAE and 10 violations.

    Example:
        >>> agreement([Result("1-NN", 0, 0.0072, 0.93, 52), Result("1-NN", 3, 0.02, 0.9, 55)],
        ...           {"1-NN": [(0.007, 0.933, 52), (0.009, 0.929, 55), (0, 0, 0), (0, 0, 0)]})
        {'cells': 2, 'same_violations': 2, 'within_tolerance': 1}
    """
    cells = [(r, paper[r.regressor][EPOCH_COUNTS.index(r.epochs)]) for r in results if r.regressor in paper]
    return {
        "cells": len(cells),
        "same_violations": sum(r.violations == v for r, (_, _, v) in cells),
        "within_tolerance": sum(
            abs(round(r.mae, 3) - m) <= 0.003 + 1e-9 and abs(r.violations - v) <= 10 for r, (m, _, v) in cells
        ),
    }


def to_markdown(results: list[Result], paper: dict[str, list[tuple[float, float, int]]] | None = None) -> str:
    """Table 3 in the paper's layout: MAE / score / violations per epoch count; the paper's beside ours."""
    counts = sorted({r.epochs for r in results})
    head = (
        ["regressor"]
        + [f"{k} epochs (ours)" for k in counts]
        + ([f"{k} epochs (paper)" for k in counts] if paper else [])
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    fmt = lambda mae, score, v: f"{mae:.3f} / {score:.3f} / {v}"  # noqa: E731
    for name in dict.fromkeys(r.regressor for r in results):
        mine = {r.epochs: r for r in results if r.regressor == name}
        row = [name] + [fmt(mine[k].mae, mine[k].score, mine[k].violations) for k in counts]
        if paper:
            row += [fmt(*paper[name][EPOCH_COUNTS.index(k)]) if name in paper else "-" for k in counts]
        lines.append("| " + " | ".join(row) + " |")
    if paper:
        a = agreement(results, paper)
        lines += [
            "",
            f"Cells with the paper's violation count: {a['same_violations']} of {a['cells']}; within 0.003 MAE "
            f"and 10 violations of the paper: {a['within_tolerance']} of {a['cells']}.",
        ]
    return "\n".join(lines) + "\n"


def to_json(results: list[Result]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
