"""Acquisition functions over ensemble predictions (higher is better).

Example:
    >>> import numpy as np
    >>> members = np.array([[1.0, 2.0], [3.0, 2.0]])
    >>> score("ucb", members, best=2.0, rng=np.random.default_rng(0), beta=1.0).tolist()
    [3.0, 2.0]
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

ACQUISITIONS = ("ucb", "ei", "ts", "mean")


def score(
    kind: str, members: np.ndarray, best: float | None, rng: np.random.Generator, beta: float = 1.0
) -> np.ndarray:
    """Score candidates from per-member predictions ``members`` (shape (M, n)).

    ``ucb``: mean + beta * std. ``ei``: expected improvement over ``best`` under a Gaussian with the
    ensemble's mean and spread. ``ts``: Thompson sampling, one member drawn at random as a posterior
    sample. ``mean``: pure exploitation.
    """
    mean, std = members.mean(axis=0), members.std(axis=0)
    if kind == "ucb":
        return mean + beta * std
    if kind == "mean":
        return mean
    if kind == "ts":
        return members[rng.integers(len(members))]
    if kind == "ei":
        if best is None:
            return mean + std
        std = np.maximum(std, 1e-9)
        z = (mean - best) / std
        return (mean - best) * norm.cdf(z) + std * norm.pdf(z)
    raise ValueError(f"unknown acquisition {kind!r}; choose one of {ACQUISITIONS}")
