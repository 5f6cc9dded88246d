"""Random Chebyshev scalarisations (ParEGO): a front of any number of objectives, one learned.

Each step draws a weight vector from the simplex and turns the objectives into one number, the
augmented Chebyshev distance of a point from the ideal (Knowles 2006, ParEGO): with every objective
scaled to [0, 1] over what is known (1 best),

    s(y) = max_j w_j (1 - y_j) + rho * sum_j w_j (1 - y_j)        (smaller is better)

A different weight each step aims at a different part of the front, so over many steps the whole front
is searched; the max term reaches the front's concave parts that a weighted sum cannot. The learned
objective is uncertain: each ensemble member's prediction is one posterior sample, the zero-cost ones
are exact, and a candidate's score is its expected improvement of ``s`` over the best result so far (a
mean over the members). Unlike hypervolume improvement it costs the same for any number of objectives.

Example:
    >>> import numpy as np
    >>> samples = np.array([[0.9, 0.5], [0.7, 0.5]])       # 2 members x 2 candidates (accuracy)
    >>> known = np.array([[-1.0], [-3.0]])                  # -latency, maximised form
    >>> seen = np.array([[0.6, -2.0]])                      # one result: (accuracy, -latency)
    >>> scores = chebyshev_improvement(samples, known, seen, np.array([0.5, 0.5]))
    >>> bool(scores[0] > 0), bool(scores[1] > 0)            # faster and likely more accurate; neither
    (True, False)
"""

from __future__ import annotations

import numpy as np

#: weight of the sum term of the augmented Chebyshev scalarisation (ParEGO's value)
RHO = 0.05


def draw_weights(rng: np.random.Generator, n_objectives: int) -> np.ndarray:
    """A weight vector drawn uniformly from the simplex."""
    return rng.dirichlet(np.ones(n_objectives))


def chebyshev(scaled: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The augmented Chebyshev distance from the ideal of points scaled to [0, 1] (last axis: objectives)."""
    gap = weights * (1.0 - scaled)
    return gap.max(axis=-1) + RHO * gap.sum(axis=-1)


def chebyshev_improvement(
    samples: np.ndarray, known: np.ndarray, seen: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Expected improvement of the scalarised value over the best of ``seen``, per candidate.

    Args:
        samples: (members, candidates) samples of the learned objective (maximised).
        known: (candidates, k) the zero-cost objectives (maximised).
        seen: (results, 1 + k) the results so far, learned objective first (maximised); may be empty.
        weights: (1 + k,) from :func:`draw_weights`.
    """
    samples = np.asarray(samples, dtype=np.float64)
    known = np.asarray(known, dtype=np.float64).reshape(samples.shape[1], -1)
    seen = np.asarray(seen, dtype=np.float64).reshape(-1, 1 + known.shape[1])
    # each objective scaled by its range over the candidates and the results (the samples for the learned)
    learned_all = np.concatenate([samples.ravel(), seen[:, 0]])
    known_all = np.concatenate([known, seen[:, 1:]])
    low = np.concatenate([[learned_all.min()], known_all.min(axis=0)])
    span = np.concatenate([[np.ptp(learned_all)], np.ptp(known_all, axis=0)])
    span = np.where(span > 1e-12, span, 1.0)
    scaled_known = (known - low[1:]) / span[1:]
    scaled_samples = (samples - low[0]) / span[0]
    points = np.concatenate(
        [scaled_samples[:, :, None], np.broadcast_to(scaled_known, (*samples.shape, known.shape[1]))], axis=2
    )
    s = chebyshev(points, weights)  # (members, candidates)
    if not len(seen):
        return -s.mean(axis=0)  # nothing to improve on yet: the nearest to the ideal in expectation
    best = float(chebyshev((seen - low) / span, weights).min())
    return np.clip(best - s, 0.0, None).mean(axis=0)
