"""How much each knob matters: permutation importance of a random forest fitted on the trials.

The standard method scikit-learn documents (``sklearn.inspection.permutation_importance``): a random
forest learns the objective from the knobs, then each knob's column is shuffled in turn and the drop
in the forest's R² is that knob's importance. Unlike a forest's impurity importances it does not
favour knobs with many values. Importances are shown normalised to sum to 1, with the forest's
out-of-bag R² so a reader can tell a ranking from noise.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> rows = [{"depth": int(d), "act": str(a)} for d, a in zip(rng.integers(1, 6, 60), rng.choice(["relu", "gelu"], 60))]
    >>> values = [r["depth"] * 1.0 + rng.normal(0, 0.1) for r in rows]
    >>> result = knob_importance(rows, values)
    >>> max(result.importances, key=result.importances.get)
    'depth'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from archtune.errors import ConfigError
from archtune.report.data import is_number

MIN_TRIALS = 8
MAX_ROWS = 2000  # the forest and the permutations cost grows with rows; 2000 rank knobs well enough


@dataclass(frozen=True)
class Importance:
    """Knob importances (normalised to sum to 1, largest first) and the forest's out-of-bag R²."""

    importances: dict[str, float]
    oob_r2: float
    n_trials: int
    method: str = "permutation importance of a random forest (scikit-learn)"


def _column(values: Sequence[Any]) -> np.ndarray:
    """A knob's values as numbers: numeric knobs as they are, others as codes of their sorted values."""
    if all(is_number(v) for v in values):
        return np.asarray(values, dtype=np.float64)
    labels = sorted({repr(v) for v in values})
    code = {label: i for i, label in enumerate(labels)}
    return np.array([code[repr(v)] for v in values], dtype=np.float64)


def knob_importance(
    knob_rows: Sequence[Mapping[str, Any]], values: Sequence[float], seed: int = 0
) -> Importance | None:
    """Rank the knobs by how much the objective depends on them.

    Args:
        knob_rows: one mapping knob -> value per trial.
        values: the objective of each trial.
        seed: seeds the forest and the permutations (same seed, same ranking).

    Returns:
        None when there are fewer than 8 trials or no knob takes two values.

    Example:
        >>> knob_importance([{"a": 1}] * 3, [1.0, 2.0, 3.0]) is None
        True
    """
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    y = np.asarray(values, dtype=np.float64)
    if len(knob_rows) != len(y):
        raise ConfigError(
            f"knob_rows has {len(knob_rows)} rows but values has {len(y)}; give one value per row"
        )
    keep = np.isfinite(y)
    rows = [r for r, k in zip(knob_rows, keep, strict=True) if k]
    y = y[keep]
    if len(rows) < MIN_TRIALS:
        return None
    if len(rows) > MAX_ROWS:
        pick = np.sort(np.random.default_rng(seed).choice(len(rows), MAX_ROWS, replace=False))
        rows, y = [rows[i] for i in pick], y[pick]
    names = list(dict.fromkeys(k for r in rows for k in r))
    columns = [_column([r.get(k) for r in rows]) for k in names]
    varied = [i for i, c in enumerate(columns) if len(np.unique(c)) > 1]
    if not varied or np.ptp(y) == 0:
        return None
    x = np.stack([columns[i] for i in varied], axis=1)
    names = [names[i] for i in varied]
    forest = RandomForestRegressor(
        n_estimators=100, min_samples_leaf=2, oob_score=True, random_state=seed, n_jobs=1
    )
    forest.fit(x, y)
    result = permutation_importance(forest, x, y, n_repeats=5, random_state=seed, n_jobs=1)
    raw = np.clip(result.importances_mean, 0.0, None)
    total = raw.sum()
    shares = raw / total if total > 0 else np.full(len(raw), 1.0 / len(raw))
    order = np.argsort(-shares, kind="stable")
    return Importance({names[i]: float(shares[i]) for i in order}, float(forest.oob_score_), len(y))
