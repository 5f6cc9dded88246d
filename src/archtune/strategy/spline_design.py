"""Paper 004's initial design and stopping tolerance (sections 4.1 and Algorithm 1), for the strategy ``spline``.

The spline search itself is :class:`~archtune.strategy.spline.SplineStrategy`, run by
:class:`~archtune.search.instance.SearchInstance` on a listed space or on a knobs space
(``create_search_space(knobs=...)``), with SQLite resume, two fidelities and executors like every strategy.
Here: the 2d+3 support points of section 4.1 (:func:`initial_design`: the max corner, the min corner,
the centre, and for each dimension k the max corner with k at its min and the min corner with k at its
max; fewer for d <= 2, where some coincide) and the default ``epsilon`` of Algorithm 1's loop condition
(:func:`default_epsilon`).

Example:
    >>> initial_design([NumericDimension("x", 0, 20), NumericDimension("y", 0, 20)]).tolist()
    [[20.0, 20.0], [0.0, 0.0], [10.0, 10.0], [0.0, 20.0], [20.0, 0.0]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from archtune.errors import ConfigError


@dataclass(frozen=True)
class NumericDimension:
    """A numeric knob: its name, bounds, and whether only integers are legal."""

    name: str
    low: float
    high: float
    integer: bool = True

    def __post_init__(self) -> None:
        for bound in (self.low, self.high):
            if isinstance(bound, bool) or not isinstance(bound, (int, float, np.integer, np.floating)):
                raise ConfigError(f"dimension {self.name!r}: bounds must be numbers, got {bound!r}")
            if not math.isfinite(bound):
                raise ConfigError(f"dimension {self.name!r}: bounds must be finite, got {bound!r}")
        if not self.low < self.high:
            raise ConfigError(f"dimension {self.name!r}: low ({self.low}) must be below high ({self.high})")
        if self.integer and math.floor(self.high) < math.ceil(self.low) + 1:
            raise ConfigError(
                f"dimension {self.name!r}: fewer than two integers in [{self.low}, {self.high}]"
            )

    def snap(self, values: np.ndarray) -> np.ndarray:
        """Nearest legal values (rounded for integer dimensions, clipped to the bounds)."""
        lo, hi = (math.ceil(self.low), math.floor(self.high)) if self.integer else (self.low, self.high)
        v = np.clip(values, lo, hi)
        return np.round(v) if self.integer else v


def initial_design(dimensions: Sequence[NumericDimension]) -> np.ndarray:
    """The support points of section 4.1 in its order, snapped to legal values, duplicates dropped.

    For d >= 3 these are 2d+3 distinct points; for d = 2 the per-dimension points coincide pairwise
    and the design is the square's 4 corners and its centre ("for two dimensions, these are the
    corners of a square and its center"); for d = 1, the two ends and the middle.

    Example:
        >>> initial_design([NumericDimension("a", 32, 150), NumericDimension("b", 2, 10)]).tolist()
        [[150.0, 10.0], [32.0, 2.0], [91.0, 6.0], [32.0, 10.0], [150.0, 2.0]]
    """
    lows = np.array([d.low for d in dimensions], dtype=np.float64)
    highs = np.array([d.high for d in dimensions], dtype=np.float64)
    points = [highs, lows, (highs + lows) / 2]
    for k in range(len(dimensions)):
        top_but_k = highs.copy()
        top_but_k[k] = lows[k]
        points.append(top_but_k)
    for k in range(len(dimensions)):
        bottom_but_k = lows.copy()
        bottom_but_k[k] = highs[k]
        points.append(bottom_but_k)
    snapped = np.stack([_snap(dimensions, p[None, :])[0] for p in points])
    _, first = np.unique(snapped, axis=0, return_index=True)
    return snapped[np.sort(first)]


def default_epsilon(values: Sequence[float]) -> float:
    """1% of the gap between the best measured value and the median one: the default stopping tolerance.

    Relative to the gap above the median, not the full spread, so one disastrous corner of the box
    (Branin's reaches -308 where its best is -0.4) does not make the tolerance loose.

    Example:
        >>> default_epsilon([52.0, 70.0, 78.0, 79.0, 80.0])
        0.02
    """
    if len(values) < 2:
        return 0.0
    return round(0.01 * (max(values) - float(np.median(values))), 12)


def _snap(dimensions: Sequence[NumericDimension], X: np.ndarray) -> np.ndarray:
    return np.stack([dim.snap(X[:, k]) for k, dim in enumerate(dimensions)], axis=1)
