"""Standard test functions on legal grids, as search spaces: Branin (2-d) and Hartmann-6 (6-d).

Both are maximised here (the negated Branin, the positive Hartmann-6), so every strategy maximises.
Each knob takes evenly spaced values (the "legal grid"), the way architecture knobs do.

Example:
    >>> round(float(branin(np.array([[np.pi, 2.275]]))[0]), 4)  # one of Branin's three global minima
    0.3979
    >>> round(float(hartmann6(np.array([[0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]]))[0]), 4)
    3.3224
    >>> f = FUNCTIONS["branin"]; f.encodings()[0], round(float(f.maximise(np.array(f.encodings()[:1]))[0]), 2)
    ((-5.0, 0.0), -308.13)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def branin(X: np.ndarray) -> np.ndarray:
    """Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887 at three points."""
    x1, x2 = X[:, 0], X[:, 1]
    b, c, r, s, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 6.0, 10.0, 1 / (8 * np.pi)
    return (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * np.cos(x1) + s


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(X: np.ndarray) -> np.ndarray:
    """Hartmann-6 (positive form) on [0, 1]^6; maximum 3.32237."""
    inner = np.sum(_H_A[None] * (X[:, None, :] - _H_P[None]) ** 2, axis=2)
    return np.sum(_H_ALPHA[None] * np.exp(-inner), axis=1)


@dataclass(frozen=True)
class GridFunction:
    """A function to maximise on a grid of ``points`` values per knob within ``bounds``."""

    name: str
    bounds: list[tuple[float, float]]
    points: int
    maximise: Callable[[np.ndarray], np.ndarray]

    def encodings(self) -> list[tuple[float, ...]]:
        axes = [np.round(np.linspace(lo, hi, self.points), 6).tolist() for lo, hi in self.bounds]
        return list(itertools.product(*axes))


FUNCTIONS = {
    "branin": GridFunction("branin", [(-5.0, 10.0), (0.0, 15.0)], 61, lambda X: -branin(X)),  # 3,721 cells
    "hartmann6": GridFunction("hartmann6", [(0.0, 1.0)] * 6, 7, hartmann6),  # 117,649 cells
}
