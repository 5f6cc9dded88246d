"""What a search optimises: one objective or several, each maximised or minimised.

``SearchInstance(..., objectives={"value": "max", "latency_ms": "min"})`` names the objectives. A name
is read from the objective's result dict when it returns it, otherwise from the space's zero-cost data
(profiled, or given as ``pretraining_data``); encodings whose zero-cost value was not measured (sampled
profiling) get the pretrained surrogate's prediction; on a knobs space, never listed, they are
computed for the encodings a strategy asks about (:class:`KnownOnDemand`). The objectives the user's code returns are the
*expensive* ones (the surrogate learns them); zero-cost ones are *known* for every encoding before
anything is trained, so a strategy needs no model for them.

Example:
    >>> from archtune import create_search_space
    >>> ss = create_search_space("w", None, [(w,) for w in (1, 2, 3)], pretraining_data={"latency_ms": [1.0, 2.0, 3.0]})
    >>> objs = Objectives.parse({"value": "max", "latency_ms": "min"}, ss, objective_key="value")
    >>> objs.primary, objs.known_names, objs.multi
    ('value', ['latency_ms'], True)
    >>> objs.known_matrix(objs.known_values(ss)).tolist()   # maximised form: latencies negated
    [[-1.0], [-2.0], [-3.0]]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from archtune.errors import ConfigError, ConfigTypeError
from archtune.search.sampled_metrics import SampledMetrics, listed_metric_values
from archtune.space.encoding import decode_key
from archtune.space.product import ProductSpace
from archtune.space.search_space import SearchSpace
from archtune.storage.base import Trial
from archtune.strategy.pareto import non_dominated

SENSES = ("max", "min")


@dataclass(frozen=True)
class Objectives:
    """The objectives of one search.

    Attributes:
        senses: name -> ``"max"`` or ``"min"``, in the user's order.
        primary: the objective the user's code returns as its value (``objective_key``); stored as the
            trial's value and learned by the surrogate.
        known_names: objectives taken from the space's zero-cost data (known before any training).
    """

    senses: dict[str, str]
    primary: str
    known_names: list[str]

    @property
    def multi(self) -> bool:
        return len(self.senses) > 1

    @property
    def sign(self) -> float:
        """+1 when the primary objective is maximised, -1 when minimised (strategies always maximise)."""
        return 1.0 if self.senses[self.primary] == "max" else -1.0

    def to_json(self) -> str:
        return json.dumps(self.senses)

    @classmethod
    def parse(
        cls, objectives: Any, space: SearchSpace | ProductSpace, objective_key: str | None
    ) -> Objectives:
        """Check ``objectives=`` against the space; ``objective_key`` None means "the first returned one".

        Raises:
            ConfigError: a sense other than max/min, no objective the user's code returns, or an
                ``objective_key`` that is not among the objectives.
        """
        if objectives is None:
            key = objective_key or "value"
            return cls({key: "max"}, key, [])
        if not isinstance(objectives, Mapping) or not objectives:
            raise ConfigTypeError(
                "objectives must be a non-empty dict {name: 'max' or 'min'}, e.g. "
                f"objectives={{'value': 'max', 'latency_ms': 'min'}}; got {objectives!r}"
            )
        senses: dict[str, str] = {}
        for name, sense in objectives.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(f"objective names must be non-empty strings, got {name!r}")
            if sense not in SENSES:
                raise ConfigError(f"objective {name!r}: the sense must be 'max' or 'min', got {sense!r}")
            senses[name] = sense
        returned = [n for n in senses if n not in space.metrics]
        if objective_key is None:
            if not returned:
                valid = ", ".join(sorted(space.metrics)) or "none"
                raise ConfigError(
                    f"every objective in {list(senses)} is a zero-cost metric of the space ({valid}): name the "
                    "one your objective returns too, e.g. objectives={'value': 'max', ...}"
                )
            primary = returned[0]
        else:
            if objective_key not in senses:
                raise ConfigError(
                    f"objective_key {objective_key!r} is not one of the objectives {list(senses)}"
                )
            primary = objective_key
        others = [n for n in returned if n != primary]
        if others:
            valid = ", ".join(sorted(space.metrics)) or "none (run preprocess or pass pretraining_data)"
            raise ConfigError(
                f"objective {others[0]!r} is not a zero-cost metric of the space (it has: {valid}); a search "
                f"learns one objective returned by your code ({primary!r}) beside any number of zero-cost ones"
            )
        return cls(senses, primary, [n for n in senses if n != primary])

    def known_values(self, space: SearchSpace) -> dict[str, np.ndarray]:
        """Known objectives per encoding in the user's units (unmeasured ones predicted)."""
        return listed_metric_values(space, self.known_names, "zero-cost objective")

    def known_matrix(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """:meth:`known_values` as one (encodings, known objectives) matrix, maximised form (``"min"`` negated)."""
        columns = [
            np.asarray(values[name]) * (1.0 if self.senses[name] == "max" else -1.0)
            for name in self.known_names
        ]
        n = len(next(iter(values.values()))) if values else 0
        return np.stack(columns, axis=1) if columns else np.zeros((n, 0))


class KnownOnDemand:
    """The zero-cost objectives of a knobs space as the rows of a matrix never built: ``known[i]`` (one
    row) and ``known[indices]`` (rows) in the maximised form of :meth:`Objectives.known_matrix`, measured
    for the profiled sample and predicted elsewhere (:class:`~archtune.search.sampled_metrics.SampledMetrics`).

    Example:
        >>> from archtune.space.product import ProductSpace
        >>> s = ProductSpace({"w": [8, 16, 32]})
        >>> s.preprocess(pretraining_data=[{"encoding": {"w": w}, "ms": w / 8} for w in (8, 16, 32)], progress=False) and None
        >>> goal = Objectives.parse({"value": "max", "ms": "min"}, s, None)
        >>> known = KnownOnDemand(goal, s)
        >>> known.shape, known[np.array([0, 2])].tolist(), known.values(1)
        ((3, 1), [[-1.0], [-4.0]], {'ms': 2.0})
    """

    def __init__(self, goal: Objectives, space: ProductSpace):
        self.metrics = SampledMetrics(space, goal.known_names, "zero-cost objective")
        self.signs = np.array([1.0 if goal.senses[n] == "max" else -1.0 for n in goal.known_names])
        self.shape = (space.size, len(goal.known_names))

    def __getitem__(self, index: Any) -> np.ndarray:
        if np.ndim(index) == 0:
            return self.metrics.rows(np.array([int(index)]))[0] * self.signs
        return self.metrics.rows(np.asarray(index, dtype=np.int64)) * self.signs

    def values(self, index: int) -> dict[str, float]:
        """The known objectives of encoding ``index`` in the user's units."""
        row = self.metrics.rows(np.array([index]))[0]
        return {name: float(v) for name, v in zip(self.metrics.names, row, strict=True)}


def pareto_front(trials: Sequence[Trial], senses: Mapping[str, str]) -> list[tuple[Any, dict[str, float]]]:
    """Non-dominated completed high-fidelity trials as ``(encoding, {objective: value})``, best first.

    The first objective is the trial's value; the others are read from its metrics (a search records
    the zero-cost ones there too). Trials missing an objective are left out.
    """
    names = list(senses)
    rows, encodings = [], []
    for t in trials:
        if not t.ok or t.fidelity != "hi" or t.value is None:
            continue
        try:
            rows.append([float(t.value)] + [float(t.metrics[n]) for n in names[1:]])
        except (KeyError, TypeError, ValueError):
            continue
        encodings.append(decode_key(t.key))
    if not rows:
        return []
    values = np.asarray(rows)
    keep = np.flatnonzero(non_dominated(values, [senses[n] for n in names]))
    sign = 1.0 if senses[names[0]] == "max" else -1.0
    keep = keep[np.argsort(-sign * values[keep, 0], kind="stable")]
    return [(encodings[i], {n: float(values[i, j]) for j, n in enumerate(names)}) for i in keep]
