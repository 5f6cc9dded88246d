"""Polyharmonic-spline search over numeric knobs (paper 004, sections 3, 4.1, 4.2 and Algorithm 1).

1. Measure the 2d+3 initial points of section 4.1 (fewer for d <= 2, where some coincide): the max corner, the min corner, the centre, and for
   each dimension k the max corner with k at its min and the min corner with k at its max.
2. Fit a cubic polyharmonic spline through every measured point and find its argmax by hierarchical
   Monte Carlo over a Halton sequence: sample the box, shrink it around the best sample, sample again.
   The argmax is snapped to legal values (integers where a dimension is integer) and kept a minimum
   distance away from the support points, so the spline system stays well conditioned.
3. Measure the argmax. Stop once the measurement agrees with the prediction within ``epsilon``
   (Algorithm 1's loop condition); otherwise add it to the support points and go back to 2.

Categorical knobs get one spline per combination of their values (section 3: "for parameters with only
a few choices, using separate splines for the discrete cases can be more effective"); each combination
gets its own initial design, and each step measures the combination whose spline promises the most.

The result is the best *measured* point. Use :class:`SplineSearch` through ``ask``/``tell``:

Example:
    >>> dims = [NumericDimension("x", 0, 20), NumericDimension("y", 0, 20)]
    >>> search = SplineSearch(dims, epsilon=0.05, seed=0)
    >>> f = lambda p: -((p["x"] - 13) ** 2 + (p["y"] - 6) ** 2) / 10
    >>> while (point := search.ask()) is not None and search.n_measured < 30:
    ...     search.tell(point, f(point))
    >>> search.n_measured <= 20, search.best()[0]
    (True, {'x': 13, 'y': 6})
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import qmc

from archtune.errors import ConfigError
from archtune.surrogate.spline import PolyharmonicSpline, SplineError

Point = dict[str, Any]


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


def spline_argmax(
    spline: PolyharmonicSpline,
    dimensions: Sequence[NumericDimension],
    support: np.ndarray,
    rng: np.random.Generator,
    samples: int = 1024,
    rounds: int = 8,
    shrink: float = 0.5,
    min_distance: float = 0.02,
) -> tuple[np.ndarray, float] | None:
    """Hierarchical Monte Carlo argmax of ``spline`` over the dimensions' box (section 4.2).

    Each round draws ``samples`` Halton points in the current box (unit coordinates), then shrinks the
    box by ``shrink`` around the best point found so far. Every sample is snapped to legal values;
    the best one at least ``min_distance`` (unit coordinates) from every support point wins. Returns
    (point, predicted value), or None when no legal point is far enough from the support points.
    """
    d = len(dimensions)
    lows = np.array([dim.low for dim in dimensions], dtype=np.float64)
    widths = np.array([dim.high - dim.low for dim in dimensions], dtype=np.float64)
    halton = qmc.Halton(d, scramble=True, seed=rng)
    centre, half = np.full(d, 0.5), np.full(d, 0.5)
    found: list[np.ndarray] = []
    best_value = -np.inf
    for _ in range(rounds):
        box_lo, box_hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
        U = box_lo + halton.random(samples) * (box_hi - box_lo)
        X = _snap(dimensions, lows + U * widths)
        found.append(X)
        values = spline.predict(X)
        top = int(np.argmax(values))
        if values[top] > best_value:
            best_value, centre = float(values[top]), (X[top] - lows) / widths
        half = half * shrink
    X = np.unique(np.concatenate(found), axis=0)
    U = (X - lows) / widths
    S = (support - lows) / widths
    far = np.min(np.linalg.norm(U[:, None, :] - S[None, :, :], axis=-1), axis=1) >= min_distance
    if not far.any():
        return None
    X = X[far]
    values = spline.predict(X)
    top = int(np.argmax(values))
    return X[top], float(values[top])


class SplineSearch:
    """Algorithm 1 of paper 004 with ask/tell, for numeric knobs and optional categorical ones.

    Args:
        dimensions: the numeric knobs.
        categorical: ``{name: values}`` knobs with a few choices; one spline per combination.
        epsilon: stop once ``|measured - predicted| <= epsilon`` at a spline argmax (objective units);
            default: :func:`default_epsilon` of the values measured so far.
        seed: seeds the Halton sampling.
        samples, rounds, shrink, min_distance: the argmax search (see :func:`spline_argmax`).
        expand: ``{name: (lowest, highest)}``: how far the box may widen in each named dimension
            (section 5.3). Once the search converges with its best point on the box's edge in such a
            dimension, that side of the box moves out by the box's width (up to the limit), the initial
            design of the wider box is measured (points already measured are not paid again), and the
            search goes on; without ``expand`` the box is fixed.
    """

    def __init__(
        self,
        dimensions: Sequence[NumericDimension],
        categorical: Mapping[str, Sequence[Any]] | None = None,
        epsilon: float | None = None,
        seed: int = 0,
        samples: int = 1024,
        rounds: int = 8,
        shrink: float = 0.5,
        min_distance: float = 0.02,
        expand: Mapping[str, tuple[float, float]] | None = None,
    ):
        if not dimensions:
            raise ConfigError("spline search needs at least one numeric dimension (d >= 1)")
        names = [d.name for d in dimensions] + list(categorical or {})
        if len(set(names)) != len(names):
            raise ConfigError(f"dimension names must be unique, got {names}")
        for name, values in (categorical or {}).items():
            if len(values) < 1 or len(set(map(repr, values))) != len(values):
                raise ConfigError(f"categorical knob {name!r} needs distinct values, got {list(values)!r}")
        if epsilon is not None and not epsilon > 0:
            raise ConfigError(f"epsilon must be positive, got {epsilon!r}")
        self.dimensions = list(dimensions)
        self.expand = {k: (float(lo), float(hi)) for k, (lo, hi) in (expand or {}).items()}
        unknown = set(self.expand) - {d.name for d in self.dimensions}
        if unknown:
            raise ConfigError(f"expand names no numeric dimension: {sorted(unknown)}")
        for dim in self.dimensions:
            lo, hi = self.expand.get(dim.name, (dim.low, dim.high))
            if lo > dim.low or hi < dim.high:
                raise ConfigError(f"dimension {dim.name!r}: expand limits ({lo}, {hi}) must contain its box")
        self.expansions = 0
        self.categorical = {k: list(v) for k, v in (categorical or {}).items()}
        self.combos = [
            dict(zip(self.categorical, c, strict=True)) for c in itertools.product(*self.categorical.values())
        ]
        self.epsilon = epsilon
        self.rng = np.random.default_rng(seed)
        self.argmax_options: dict[str, Any] = {
            "samples": samples,
            "rounds": rounds,
            "shrink": shrink,
            "min_distance": min_distance,
        }
        self.support: list[list[np.ndarray]] = [[] for _ in self.combos]
        self.values: list[list[float]] = [[] for _ in self.combos]
        self.history: list[tuple[Point, float | None, float | None]] = []  # (point, measured, predicted)
        self.converged = False
        self._queue: list[tuple[int, np.ndarray, float | None]] = []
        self._queue_design()

    # -- points <-> arrays -----------------------------------------------------------------------
    def _point(self, combo: int, x: np.ndarray) -> Point:
        point: Point = {}
        for dim, v in zip(self.dimensions, x, strict=True):
            point[dim.name] = int(v) if dim.integer else float(v)
        point.update(self.combos[combo])
        return point

    def _locate(self, point: Mapping[str, Any]) -> tuple[int, np.ndarray]:
        try:
            x = np.array([float(point[d.name]) for d in self.dimensions])
            combo = self.combos.index({k: point[k] for k in self.categorical})
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"not a point of this search: {dict(point)!r} ({err})") from None
        return combo, x

    # -- ask/tell --------------------------------------------------------------------------------
    @property
    def n_measured(self) -> int:
        return len(self.history)

    def ask(self) -> Point | None:
        """The next point to measure, or None once the search has converged (or cannot go on)."""
        if self._queue:
            combo, x, _ = self._queue[0]
            return self._point(combo, x)
        proposal = None if self.converged else self._propose()
        if proposal is None:
            self.converged = True
            return self.ask() if self._widen_box() else None
        self._queue.append(proposal)
        return self._point(proposal[0], proposal[1])

    def tell(self, point: Mapping[str, Any], value: float | None) -> None:
        """Record a measurement; ``None`` or NaN marks a failed evaluation (kept out of the spline)."""
        combo, x = self._locate(point)
        predicted = None
        for i, (c, q, p) in enumerate(self._queue):
            if c == combo and np.array_equal(q, x):
                predicted = p
                del self._queue[i]
                break
        if value is None or not math.isfinite(float(value)):
            self.history.append((self._point(combo, x), None, predicted))
            return
        self.history.append((self._point(combo, x), float(value), predicted))
        self.support[combo].append(x)
        self.values[combo].append(float(value))
        if predicted is not None and abs(float(value) - predicted) <= self._epsilon():
            self.converged = True  # Algorithm 1: the spline agrees with the measurement at its argmax

    def best(self) -> tuple[Point, float] | None:
        """The best measured point and its value."""
        measured = [(p, v) for p, v, _ in self.history if v is not None]
        return max(measured, key=lambda pv: pv[1]) if measured else None

    # -- internals -------------------------------------------------------------------------------
    def _epsilon(self) -> float:
        if self.epsilon is not None:
            return self.epsilon
        return default_epsilon([v for vs in self.values for v in vs])

    def _propose(self) -> tuple[int, np.ndarray, float] | None:
        best: tuple[int, np.ndarray, float] | None = None
        for combo in range(len(self.combos)):
            if len(self.support[combo]) < len(self.dimensions) + 2:
                continue  # too many failures in this combination's design to carry a spline
            support = np.stack(self.support[combo])
            try:
                spline = PolyharmonicSpline(box=self._box()).fit(support, self.values[combo])
            except SplineError:
                continue
            found = spline_argmax(spline, self.dimensions, support, self.rng, **self.argmax_options)
            if found is not None and (best is None or found[1] > best[2]):
                best = (combo, found[0], found[1])
        return best

    def _queue_design(self) -> None:
        """Queue the initial design of the current box for every combination, minus measured points."""
        design = initial_design(self.dimensions)
        for c in range(len(self.combos)):
            for x in design:
                if not any(np.array_equal(x, m) for m in self._measured_in(c)):
                    self._queue.append((c, x, None))

    def _measured_in(self, combo: int) -> list[np.ndarray]:
        """Every point measured in ``combo``, failed ones included, so none is paid for twice."""
        located = [self._locate(p) for p, _, _ in self.history]
        return [x for c, x in located if c == combo]

    def _widen_box(self) -> bool:
        """Section 5.3: move each box side the best point sits on outwards, within ``expand``."""
        best = self.best()
        if best is None or not self.expand:
            return False
        point, _ = best
        widened, changed = [], False
        for dim in self.dimensions:
            lo, hi = dim.low, dim.high
            if dim.name in self.expand:
                limit_lo, limit_hi = self.expand[dim.name]
                width = hi - lo
                if point[dim.name] >= dim.snap(np.array([hi]))[0] and hi < limit_hi:
                    hi = min(limit_hi, hi + width)
                if point[dim.name] <= dim.snap(np.array([lo]))[0] and lo > limit_lo:
                    lo = max(limit_lo, lo - width)
            changed |= (lo, hi) != (dim.low, dim.high)
            widened.append(NumericDimension(dim.name, lo, hi, dim.integer))
        if not changed:
            return False
        self.dimensions = widened
        self.expansions += 1
        self.converged = False
        self._queue_design()
        return True

    def _box(self) -> tuple[list[float], list[float]]:
        return [d.low for d in self.dimensions], [d.high for d in self.dimensions]
