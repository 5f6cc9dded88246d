"""Zero-cost metrics of a knobs space, encoding by encoding: measured for the profiled sample, predicted elsewhere.

A :class:`~archtune.space.product.ProductSpace` is never listed, so its zero-cost metrics cannot be a
column per encoding as a listed space's are. :class:`SampledMetrics` answers for any encodings asked:
the measurement where the sample has one, the pretrained surrogate's head otherwise (the head was
trained on the sample). Each encoding is computed once and remembered, up to :attr:`SampledMetrics.CACHE`.
Constraints (:class:`~archtune.search.constraints.KnobConstraints`) and zero-cost objectives on a knobs
space both read it.

Example:
    >>> import numpy as np
    >>> from archtune.space.product import ProductSpace
    >>> s = ProductSpace({"w": [8, 16, 32, 64]})
    >>> s.preprocess(pretraining_data=[{"encoding": {"w": w}, "params": float(w)} for w in (8, 16, 64)], progress=False) and None
    >>> m = SampledMetrics(s, ["params"], "constraint")
    >>> m(np.array([0, 3]))["params"].tolist()  # measured, so exact
    [8.0, 64.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from archtune.errors import ConfigError
from archtune.space.product import ProductSpace
from archtune.space.search_space import SearchSpace
from archtune.surrogate.ensemble import DeepEnsemble


def check_metric_names(space: SearchSpace | ProductSpace, names: Sequence[str], purpose: str) -> None:
    """Raise a ConfigError naming the space's metrics when one of ``names`` is not among them."""
    for name in names:
        if name not in space.metrics:
            have = ", ".join(sorted(space.metrics)) or "none (run preprocess or pass pretraining_data)"
            raise ConfigError(f"unknown {purpose} metric {name!r}; this space has: {have}")


def metric_predictor(
    space: SearchSpace | ProductSpace, names: Sequence[str], purpose: str, unmeasured: int | None = None
) -> DeepEnsemble:
    """The space's pretrained surrogate, to predict the zero-cost metrics ``names`` where unmeasured
    (the one rule of both space forms: measured, else the pretrained head's prediction).

    Raises:
        ConfigError: the space has no pretrained head for one of ``names`` (``unmeasured``: how many
            encodings of a listed space lack a value, for the message).
    """
    if space.surrogate is None or not set(names) <= set(space.surrogate["metric_names"]):
        missing = ", ".join(repr(n) for n in names)
        if unmeasured:
            raise ConfigError(
                f"{unmeasured} encodings have no {missing} value and the space has no pretrained surrogate "
                "to predict it: profile every encoding, or run space.preprocess(...) first"
            )
        raise ConfigError(
            f"{purpose}s on a knobs space judge the encodings not profiled by the pretrained surrogate, and "
            f"this space has none for {missing}: run space.preprocess(...) first"
        )
    return DeepEnsemble.from_pretrained(space.surrogate, ["hi"])


def listed_metric_values(space: SearchSpace, names: Sequence[str], purpose: str) -> dict[str, np.ndarray]:
    """Zero-cost metrics ``names`` of a listed space for every encoding: measured where they were, the
    pretrained surrogate's prediction elsewhere (the surrogate loaded once, only when needed).

    Example:
        >>> from archtune import create_search_space
        >>> ss = create_search_space("w", None, [(w,) for w in (1, 2)], pretraining_data={"ms": [1.0, 2.0]})
        >>> listed_metric_values(ss, ["ms"], "constraint")["ms"].tolist()
        [1.0, 2.0]
    """
    check_metric_names(space, names, purpose)
    values = {name: np.asarray(space.metrics[name], dtype=np.float64).copy() for name in names}
    unknown = {name: ~np.isfinite(v) for name, v in values.items() if not np.isfinite(v).all()}
    if unknown:
        most = max(int(u.sum()) for u in unknown.values())
        model = metric_predictor(space, list(unknown), purpose, unmeasured=most)
        for name, where in unknown.items():
            values[name][where] = model.predict_metric(space.features[where], name)
    return values


class SampledMetrics:
    """``names`` of ``space``'s zero-cost metrics for any encoding indices (module doc).

    Args:
        space: a preprocessed knobs space (profiled, or given ``pretraining_data``).
        names: metric names.
        purpose: what asks (``"constraint"``, ``"zero-cost objective"``), for the error messages.

    Raises:
        ConfigError: a metric the space does not have, or no pretrained surrogate for it.
    """

    #: encodings remembered at most (a cache, not a table of the space)
    CACHE = 1_000_000

    def __init__(self, space: ProductSpace, names: Sequence[str], purpose: str):
        self.space = space
        self.names = list(names)
        check_metric_names(space, self.names, purpose)
        self.model = metric_predictor(space, self.names, purpose)
        self.measured = {
            name: {
                int(i): float(v)
                for i, v in zip(space.metric_indices, space.metrics[name], strict=True)
                if math.isfinite(v)
            }
            for name in self.names
        }
        self._rows: dict[int, np.ndarray] = {}

    def rows(self, indices: np.ndarray) -> np.ndarray:
        """The metrics of ``indices`` as an (n, names) float array, in the order of ``names``."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        new = np.array(sorted({i for i in indices.tolist() if i not in self._rows}), dtype=np.int64)
        fresh: dict[int, np.ndarray] = {}
        if len(new):
            features = self.space.features_of(new)
            columns = []
            for name in self.names:
                predicted = self.model.predict_metric(features, name).astype(np.float64).tolist()
                measured = self.measured[name]
                columns.append([measured.get(i, p) for i, p in zip(new.tolist(), predicted, strict=True)])
            table = np.array(columns, dtype=np.float64).T.reshape(len(new), len(self.names))
            fresh = dict(zip(new.tolist(), table, strict=True))
            if len(self._rows) + len(fresh) <= self.CACHE:
                self._rows.update(fresh)
        out = np.empty((len(indices), len(self.names)), dtype=np.float64)
        for k, i in enumerate(indices.tolist()):
            out[k] = self._rows[i] if i in self._rows else fresh[i]
        return out

    def __call__(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """The metrics of ``indices`` by name."""
        rows = self.rows(indices)
        return {name: rows[:, k] for k, name in enumerate(self.names)}
