"""Pareto fronts and hypervolumes, for searches with several objectives.

Objectives are named with a sense, ``"max"`` or ``"min"``. Internally every objective is turned into
one to maximise (``"min"`` ones negated), so one dominance rule serves all.

Example:
    >>> import numpy as np
    >>> points = np.array([[0.9, 10.0], [0.8, 5.0], [0.7, 8.0], [0.9, 12.0]])   # accuracy, latency
    >>> non_dominated(points, ["max", "min"]).tolist()
    [True, True, False, False]
    >>> round(hypervolume_2d(points, ["max", "min"], reference=[0.5, 20.0]), 3)
    5.5
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from archtune.errors import ConfigError

SENSES = ("max", "min")


def as_maximised(values: np.ndarray, senses: Sequence[str]) -> np.ndarray:
    """``values`` (rows = points, columns = objectives) with every ``"min"`` column negated."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(senses):
        raise ConfigError(
            f"expected a (points, {len(senses)}) array of objective values, got shape {values.shape}"
        )
    signs = np.array([1.0 if s == "max" else -1.0 for s in senses])
    for s in senses:
        if s not in SENSES:
            raise ConfigError(f"an objective's sense must be 'max' or 'min', got {s!r}")
    return values * signs


def non_dominated(values: np.ndarray, senses: Sequence[str]) -> np.ndarray:
    """Boolean mask of the points no other point dominates (better or equal everywhere, better somewhere).

    Of several identical points only the first is kept. Rows holding NaN are never on the front.
    """
    pts = as_maximised(values, senses)
    n = len(pts)
    keep = ~np.isnan(pts).any(axis=1)
    order = np.lexsort(tuple(-pts[:, j] for j in reversed(range(pts.shape[1]))))  # best first, ties stable
    front: list[int] = []
    for i in order:
        if not keep[i]:
            continue
        p = pts[i]
        if front:
            f = pts[front]
            if (np.all(f >= p, axis=1)).any():  # dominated by, or equal to, a point already kept
                keep[i] = False
                continue
        front.append(int(i))
    mask = np.zeros(n, dtype=bool)
    mask[front] = True
    return mask


def hypervolume_2d(values: np.ndarray, senses: Sequence[str], reference: Sequence[float]) -> float:
    """Area dominated by the points of two objectives and bounded by ``reference`` (in the user's units).

    Points that do not improve on the reference in both objectives add nothing.
    """
    pts = as_maximised(values, senses)
    if pts.shape[1] != 2:
        raise ConfigError("hypervolume_2d needs exactly two objectives")
    ref = as_maximised(np.asarray([reference], dtype=np.float64), senses)[0]
    pts = pts[np.all(pts > ref, axis=1)]
    if not len(pts):
        return 0.0
    pts = pts[non_dominated(pts, ["max", "max"])]
    pts = pts[np.argsort(-pts[:, 0])]  # first objective descending, so the second ascends along the front
    area, last_y = 0.0, ref[1]
    for x, y in pts:
        area += (x - ref[0]) * (y - last_y)
        last_y = y
    return float(area)
