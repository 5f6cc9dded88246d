"""Metric constraints ("latency at most 20 ms"): which encodings a search may evaluate.

A constraint names a zero-cost metric stored with the space (``params``, ``flops``, ``latency_ms``,
``peak_memory_mb``, or a column of the user's ``pretraining_data``) and its largest allowed value.
Measured values decide. Encodings left unmeasured (``preprocess(sample_size=...)`` on a big space) are
judged by the pretrained surrogate's head for that metric, which was trained on the measured ones: a
sampled space can still be searched under a constraint without profiling every network. A knobs space
(never listed, profiled for a sample) is judged the same way, encoding by encoding as the strategies
ask (:class:`KnobConstraints`).

Example:
    >>> from archtune import create_search_space
    >>> ss = create_search_space("w", None, [(w,) for w in (1, 2, 3, 4)],
    ...                          pretraining_data={"latency_ms": [1.0, 2.0, 3.0, 4.0]})
    >>> feasible_mask(ss, {"latency_ms": 2.5}).tolist()
    [True, True, False, False]
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from archtune.errors import ConfigError
from archtune.search.sampled_metrics import SampledMetrics, listed_metric_values
from archtune.space.product import ProductSpace
from archtune.space.search_space import SearchSpace


def check_constraints(constraints: Mapping[str, float] | None) -> dict[str, float]:
    """Validate ``{metric: maximum}`` and return it as a plain dict of floats."""
    if constraints is None:
        return {}
    if not isinstance(constraints, Mapping):
        raise ConfigError(
            f"constraints must be a mapping {{metric: maximum}}, got {type(constraints).__name__}"
        )
    out = {}
    for name, limit in constraints.items():
        try:
            value = float(limit)
        except (TypeError, ValueError):
            raise ConfigError(f"constraint {name!r}: the maximum must be a number, got {limit!r}") from None
        if math.isnan(value):
            raise ConfigError(f"constraint {name!r}: the maximum is NaN")
        out[str(name)] = value
    return out


def feasible_mask(space: SearchSpace, constraints: Mapping[str, float] | None) -> np.ndarray:
    """Boolean mask of the encodings that satisfy every constraint (all True without constraints).

    Raises:
        ConfigError: a metric the space does not have, or no encoding satisfying the constraints.
    """
    limits = check_constraints(constraints)
    mask = np.ones(len(space), dtype=bool)
    for name, values in listed_metric_values(space, list(limits), "constraint").items():
        mask &= values <= limits[name]
    if not mask.any():
        raise ConfigError(f"no encoding satisfies the constraints {limits}")
    return mask


class KnobConstraints:
    """Constraints on a knobs space's zero-cost metrics, as a test of encoding indices (a product space
    is never listed, so there is no mask): the measured value for an encoding of the profiled sample, the
    pretrained surrogate's prediction for any other (:class:`~archtune.search.sampled_metrics.SampledMetrics`).

    Raises:
        ConfigError: a metric the space does not have, no pretrained surrogate (run ``preprocess``), or
            no encoding of the sample nor of 2,000 uniform draws satisfying the constraints.

    Example:
        >>> from archtune.space.product import ProductSpace
        >>> s = ProductSpace({"w": [8, 16, 32, 64], "d": [1, 2]})
        >>> s.preprocess(pretraining_data=[{"encoding": e, "params": e["w"] * e["d"]} for e in s.encodings], progress=False) and None
        >>> KnobConstraints(s, {"params": 40})(np.arange(8)).tolist()  # all measured: 8, 16, 16, 32, 32, 64, 64, 128
        [True, True, True, True, True, False, False, False]
    """

    def __init__(self, space: ProductSpace, constraints: Mapping[str, float]):
        self.space = space
        self.limits = check_constraints(constraints)
        self.metrics = SampledMetrics(space, list(self.limits), "constraint")
        probe = np.concatenate([space.metric_indices, space.draw(np.random.default_rng(0), 2000)])
        if not self(probe).any():
            raise ConfigError(
                f"no encoding satisfies the constraints {self.limits} (none of the profiled sample nor of "
                "2,000 uniform draws, measured or predicted)"
            )

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        """Which of ``indices`` satisfy every constraint."""
        rows = self.metrics.rows(indices)
        return np.all(rows <= np.array(list(self.limits.values())), axis=1)
