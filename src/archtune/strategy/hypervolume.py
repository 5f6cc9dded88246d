"""Expected hypervolume improvement for two objectives: one learned, one known.

A multi-objective search in archtune learns the objective the user's code returns (accuracy, say) and
knows the zero-cost one (latency, parameters) for every encoding. The expected hypervolume improvement
of a candidate is then an average over the ensemble's members, each member's prediction taken as one
posterior sample of the learned objective, with the known objective exact. Both objectives are in
maximised form.

In two dimensions the front's dominated region is a staircase, so the improvement of a point (a, b)
is a sum over the staircase's steps: for the step between heights lo and hi, where the front reaches
x = s, the point adds ``max(0, a - s) * max(0, min(b, hi) - lo)``.

Example:
    >>> import numpy as np
    >>> front = np.array([[0.9, -10.0], [0.8, -5.0]])          # (accuracy, -latency)
    >>> samples = np.array([[0.95, 0.85], [0.85, 0.75]])       # 2 members x 2 candidates
    >>> known = np.array([-8.0, -4.0])
    >>> expected_hvi_2d(samples, known, front, reference=np.array([0.5, -20.0])).round(3).tolist()
    [0.45, 0.425]
"""

from __future__ import annotations

import numpy as np


def expected_hvi_2d(
    samples: np.ndarray, known: np.ndarray, front: np.ndarray, reference: np.ndarray
) -> np.ndarray:
    """Mean hypervolume improvement per candidate.

    Args:
        samples: (members, candidates) samples of the learned objective (maximised).
        known: (candidates,) the known objective (maximised).
        front: (points, 2) the current non-dominated points (learned, known); may be empty.
        reference: the reference point (learned, known), worse than every point that counts.
    """
    samples = np.asarray(samples, dtype=np.float64)
    known = np.asarray(known, dtype=np.float64)
    front = np.asarray(front, dtype=np.float64).reshape(-1, 2)
    ref_x, ref_y = float(reference[0]), float(reference[1])
    front = front[(front[:, 0] > ref_x) & (front[:, 1] > ref_y)]
    front = front[np.argsort(front[:, 1])]  # known ascending, so learned descends along a front
    # the staircase: above the front's last point nothing is dominated (s = ref_x)
    lows = np.concatenate([[ref_y], front[:, 1]])
    highs = np.concatenate([front[:, 1], [np.inf]])
    steps = np.concatenate([front[:, 0], [ref_x]])
    # non-dominated fronts have falling x; a running max from the top keeps the staircase right for any input
    steps = np.maximum.accumulate(steps[::-1])[::-1]
    heights = np.clip(np.minimum(known[:, None], highs[None, :]) - lows[None, :], 0.0, None)  # (C, F+1)
    widths = np.clip(samples[:, :, None] - steps[None, None, :], 0.0, None)  # (M, C, F+1)
    return np.einsum("mcf,cf->c", widths, heights) / samples.shape[0]
