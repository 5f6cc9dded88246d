"""Turning encodings into numeric feature vectors for the surrogates.

Numeric positions (ints and floats, not booleans) are scaled to [0, 1] by their range in the space;
every other position is one-hot encoded over the values it takes. The plan of each position is a small
JSON-serializable dict, so a saved space refeaturizes identically without running user code.

Example:
    >>> f = Featurizer.fit([(1, "a"), (3, "b"), (2, "a")])
    >>> f.transform([(2, "b")]).tolist()
    [[0.5, 0.0, 1.0]]
    >>> f.n_features
    3
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from archtune.errors import SpaceError
from archtune.space.encoding import Encoding, position_values


def _is_numeric(values: Sequence[Any]) -> bool:
    types = set(map(type, values))  # one C pass; subclasses (numpy scalars) take the careful test
    if types <= {int, float}:
        return True
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


class Featurizer:
    """Automatic featurizer: one plan per position ("numeric" with bounds, or "onehot" with categories)."""

    def __init__(self, plans: list[dict[str, Any]]):
        self.plans = plans
        self._lookup: list[dict[tuple[str, Any], int] | None] = [
            {self._category_key(c): i for i, c in enumerate(p["categories"])}
            if p["kind"] == "onehot"
            else None
            for p in plans
        ]

    @staticmethod
    def _category_key(value: Any) -> tuple[str, Any]:
        # True == 1 in Python; keep booleans and numbers apart.
        return (type(value).__name__, value)

    @classmethod
    def fit(cls, encodings: Sequence[Encoding], columns: dict[str, list[Any]] | None = None) -> Featurizer:
        """Plan the features from the values each position takes (``columns``: their precomputed
        :func:`~archtune.space.encoding.position_values`, to save a pass over a big space)."""
        plans = []
        for name, values in (columns if columns is not None else position_values(encodings)).items():
            if _is_numeric(values):
                arr = np.asarray(values, dtype=np.float64)
                plans.append(
                    {"position": name, "kind": "numeric", "low": float(arr.min()), "high": float(arr.max())}
                )
            else:
                seen: dict[tuple[str, Any], Any] = {}
                if len(set(map(type, values))) == 1:  # one type: equal values are the same category
                    uniques = dict.fromkeys(values)
                    seen = {cls._category_key(v): v for v in uniques}
                else:
                    for v in values:
                        seen.setdefault(cls._category_key(v), v)
                plans.append({"position": name, "kind": "onehot", "categories": list(seen.values())})
        return cls(plans)

    @property
    def n_features(self) -> int:
        return sum(1 if p["kind"] == "numeric" else len(p["categories"]) for p in self.plans)

    def transform(
        self, encodings: Sequence[Encoding], columns: dict[str, list[Any]] | None = None
    ) -> np.ndarray:
        """Feature matrix (float32, one row per encoding); ``columns`` as in :meth:`fit`."""
        n = len(encodings)
        out = np.zeros((n, self.n_features), dtype=np.float32)
        if columns is None:
            columns = position_values(encodings) if n else {}
        col = 0
        for plan, lookup in zip(self.plans, self._lookup, strict=True):
            values = columns.get(plan["position"], [])
            if plan["kind"] == "numeric":
                span = plan["high"] - plan["low"]
                arr = np.asarray(values, dtype=np.float64)
                out[:, col] = (arr - plan["low"]) / span if span > 0 else 0.0
                col += 1
            else:
                assert lookup is not None  # a one-hot plan always has its lookup
                key = self._category_key
                try:
                    types = set(map(type, values))
                    if len(types) == 1:  # one type: look the values up directly, in a C loop
                        t = next(iter(types)).__name__
                        plain = {c: i for (tn, c), i in lookup.items() if tn == t}
                        try:
                            idx = np.fromiter(map(plain.__getitem__, values), dtype=np.int64, count=n)
                        except KeyError as err:
                            raise KeyError(key(err.args[0])) from None
                    else:
                        idx = np.fromiter((lookup[key(v)] for v in values), dtype=np.int64, count=n)
                except KeyError as err:
                    raise SpaceError(
                        f"position {plan['position']!r} has a value the featurizer has not seen: {err.args[0][1]!r}"
                    ) from None
                out[np.arange(n), col + idx] = 1.0
                col += len(plan["categories"])
        return out

    def to_json(self) -> list[dict[str, Any]]:
        return self.plans


def featurize(
    encodings: Sequence[Encoding], featurizer: Callable[[Sequence[Encoding]], Any] | None
) -> np.ndarray:
    """Features of ``encodings`` with a custom featurizer (a callable on the list) or the automatic one.

    Example:
        >>> featurize(["a", "b"], None).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    if featurizer is None:
        return Featurizer.fit(encodings).transform(encodings)
    try:
        feats = np.asarray(featurizer(encodings), dtype=np.float32)
    except Exception as err:  # the user's code: report where it came from
        raise SpaceError(f"the custom featurizer raised {type(err).__name__}: {err}") from err
    if feats.ndim != 2 or feats.shape[0] != len(encodings):
        raise SpaceError(
            f"the custom featurizer must return a 2-D array with one row per encoding "
            f"({len(encodings)} rows); got shape {feats.shape}"
        )
    if not np.isfinite(feats).all():
        raise SpaceError("the custom featurizer returned NaN or infinite features")
    return feats
