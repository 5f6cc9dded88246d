"""Prediction quality as paper 001 measures it: mean absolute error and monotonicity.

A monotonicity violation is a pair of architectures whose predicted accuracies are in the opposite
order of their true ones (strictly: equal predictions break no order). The score is
1 - violations / C(N, 2): 1 for a perfect ranking, 0.5 on average for a random one.

Example (the paper's Fig. 4: seven items, one misplaced by three places):
    >>> truth = [1, 2, 3, 4, 5, 6, 7]
    >>> predicted = [1, 2, 6.5, 3, 4, 5, 7]  # item 3 predicted above items 4, 5 and 6
    >>> monotonicity_violations(truth, predicted), round(monotonicity_score(truth, predicted), 4)
    (3, 0.8571)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def monotonicity_violations(truth: Sequence[float], predicted: Sequence[float]) -> int:
    """Pairs ordered one way by ``truth`` and strictly the other way by ``predicted``.

    Ties in ``truth`` are ordered by position (a stable sort), as a table sorted by accuracy would be.
    """
    t = np.asarray(truth, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"truth and predictions must be 1-D of one length, got {t.shape} and {p.shape}")
    ranked = p[np.argsort(t, kind="stable")]
    # for each item, the earlier (truly worse) items predicted strictly higher: O(N^2) is fine for N ~ 40
    return int(np.sum(np.triu(ranked[:, None] > ranked[None, :], k=1)))


def monotonicity_score(truth: Sequence[float], predicted: Sequence[float]) -> float:
    """1 - violations / C(N, 2)."""
    n = len(truth)
    if n < 2:
        raise ValueError("the monotonicity score needs at least two items")
    return 1.0 - monotonicity_violations(truth, predicted) / (n * (n - 1) / 2)


def mean_absolute_error(truth: Sequence[float], predicted: Sequence[float]) -> float:
    return float(
        np.mean(np.abs(np.asarray(truth, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)))
    )
