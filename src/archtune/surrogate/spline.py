"""Polyharmonic spline surrogate (paper 004, section 4.1): ``s(x) = sum_j c_j |x - x_j|^3 + p(x)``.

The radial basis is r^3 and p is a linear polynomial: scipy's ``RBFInterpolator`` with kernel
``"cubic"`` and degree 1 solves exactly this system. Coordinates are scaled to the unit d-box, by
default the box spanned by the support points, so a width in [32, 2400] and a depth in [2, 18] weigh
alike. The paper found the system numerically delicate and checked ``Ax - b = 0`` on every solution;
so does :meth:`PolyharmonicSpline.fit`, and point sets that cannot carry a spline (coinciding points,
a flat box, fewer points than the linear part needs) are refused with a :class:`SplineError`.

With these choices the paper's Table 4 predictions come out within 0.12 accuracy points (see the
tests and the README).

Example:
    >>> import numpy as np
    >>> X = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.5]], dtype=float)
    >>> s = PolyharmonicSpline().fit(X, X.sum(axis=1))  # a plane is reproduced exactly
    >>> float(np.round(s.predict([[0.25, 0.5]])[0], 6))
    0.75
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.interpolate import RBFInterpolator

from archtune.errors import ArchtuneError


class SplineError(ArchtuneError, ValueError):
    """The support points cannot carry a well-conditioned spline."""


class PolyharmonicSpline:
    """Cubic polyharmonic spline with a linear polynomial, on box-scaled coordinates.

    Args:
        box: ``(low, high)`` per dimension to scale coordinates by; default: the support points' box.
        tolerance: largest accepted residual of the interpolation conditions, relative to the spread
            of the values (the paper's check of ``Ax - b = 0``).
        min_distance: support points closer than this (in scaled units) count as coinciding.
    """

    def __init__(
        self,
        box: tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray] | None = None,
        tolerance: float = 1e-6,
        min_distance: float = 1e-9,
    ):
        self.box = box
        self.tolerance = tolerance
        self.min_distance = min_distance
        self.low: np.ndarray | None = None
        self.high: np.ndarray | None = None
        self._rbf: RBFInterpolator | None = None

    def scale(self, X: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Coordinates in the unit box of the fitted spline."""
        if self.low is None or self.high is None:
            raise SplineError("the spline is not fitted yet")
        return (np.asarray(X, dtype=np.float64) - self.low) / (self.high - self.low)

    def fit(
        self, X: np.ndarray | Sequence[Sequence[float]], y: np.ndarray | Sequence[float]
    ) -> PolyharmonicSpline:
        """Solve for the spline through the support points ``X`` (n x d) with values ``y``."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] == 0:
            raise SplineError(f"support points must be an (n, d) array with d >= 1, got shape {X.shape}")
        n, d = X.shape
        if y.shape != (n,):
            raise SplineError(f"{n} support points but {y.size} values")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise SplineError("support points and values must be finite numbers")
        if n < d + 2:
            raise SplineError(f"a spline in {d} dimensions needs at least {d + 2} support points, got {n}")
        low, high = (np.min(X, axis=0), np.max(X, axis=0)) if self.box is None else map(np.asarray, self.box)
        self.low, self.high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        if self.low.shape != (d,) or self.high.shape != (d,):
            raise SplineError(f"the box must give {d} lows and {d} highs")
        flat = np.flatnonzero(self.high <= self.low)
        if flat.size:
            raise SplineError(
                f"dimension {int(flat[0])} spans no range (low {self.low[flat[0]]:g} >= high "
                f"{self.high[flat[0]]:g}): every support point has the same value there"
            )
        Z = self.scale(X)
        gaps = np.linalg.norm(Z[:, None, :] - Z[None, :, :], axis=-1)
        np.fill_diagonal(gaps, np.inf)
        i, j = np.unravel_index(int(np.argmin(gaps)), gaps.shape)
        if gaps[i, j] <= self.min_distance:
            raise SplineError(f"support points {min(i, j)} and {max(i, j)} coincide: {X[i].tolist()}")
        if np.linalg.matrix_rank(np.hstack([np.ones((n, 1)), Z])) < d + 1:
            raise SplineError(
                "the support points lie in a lower-dimensional plane: the linear part is undetermined"
            )
        try:
            self._rbf = RBFInterpolator(Z, y, kernel="cubic", degree=1)
        except (np.linalg.LinAlgError, ValueError) as err:
            raise SplineError(f"the spline system cannot be solved: {err}") from err
        residual = float(np.max(np.abs(self._rbf(Z) - y)))
        spread = max(float(np.ptp(y)), 1e-12)
        if not residual <= self.tolerance * spread:
            self._rbf = None
            raise SplineError(
                f"ill-conditioned support points: the solution misses them by {residual:.3g} "
                f"(allowed {self.tolerance * spread:.3g}); drop points that nearly coincide"
            )
        return self

    def predict(self, X: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Spline values at the points ``X`` (m x d), in the units of the fitted values."""
        if self._rbf is None:
            raise SplineError("the spline is not fitted yet")
        Z = self.scale(np.atleast_2d(np.asarray(X, dtype=np.float64)))
        return np.asarray(self._rbf(Z), dtype=np.float64)
