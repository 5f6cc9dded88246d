"""Strategy ``spline``: paper 004's Algorithm 1 on a search space of numeric knobs, through ask/tell.

The numeric positions of the encodings are the spline's dimensions, in the unit box the default
featurizer already scales them to; categorical positions split the space into combinations, each with
its own spline (paper 004, section 3). The space's encodings are the legal grid, so where
:class:`~archtune.strategy.spline_search.SplineSearch` samples a continuous box, this strategy snaps
each initial-design point to the nearest encoding and takes the exact argmax of the spline over every
untried encoding that keeps ``min_distance`` from the support points.

Algorithm 1 stops once a measured argmax agrees with its prediction within ``epsilon``: the strategy
then proposes nothing more and ``run_search`` returns with budget left. Its state is a function of
the observations only, so a resumed search proposes exactly what an uninterrupted one would.

Example:
    >>> import itertools
    >>> from archtune import create_search_space
    >>> from archtune.strategy.base import Fidelity, Observation, SearchContext
    >>> ss = create_search_space("g", None, list(itertools.product(range(0, 21), range(0, 21))))
    >>> s = SplineStrategy(); s.setup(SearchContext(ss.features, [Fidelity("hi", 1.0)], feature_plans=ss.featurizer_plans))
    >>> f = lambda e: -((e[0] - 13) ** 2 + (e[1] - 6) ** 2) / 10
    >>> while (sug := s.ask(1)) and len(s.history) < 30:
    ...     s.tell(Observation(sug[0].index, "hi", f(ss.encodings[sug[0].index]), 1.0))
    >>> best = max(s.values["hi"], key=s.values["hi"].get)  # the maximum is f(13, 6) = 0 among 441 cells
    >>> ss.encodings[best], round(f(ss.encodings[best]), 2), len(s.history) <= 20, s.converged
    ((13, 6), 0.0, True, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from archtune.errors import ConfigError
from archtune.strategy.base import Observation, SearchContext, Strategy, Suggestion
from archtune.strategy.spline_search import NumericDimension, default_epsilon, initial_design
from archtune.surrogate.spline import PolyharmonicSpline, SplineError


class SplineStrategy(Strategy):
    """Polyharmonic-spline search (paper 004) at the top fidelity.

    Args:
        epsilon: stop once ``|measured - predicted| <= epsilon`` at an argmax; default:
            :func:`~archtune.strategy.spline_search.default_epsilon` of the values measured so far.
        min_distance: an argmax keeps at least this distance (unit box) from every support point.
    """

    name = "spline"

    uses_seed = False  # paper 004: a fixed initial design and the exact argmax of the spline
    serves_product_spaces = False  # its combinations and unit box come from a listed space

    def __init__(self, epsilon: float | None = None, min_distance: float = 0.02):
        if epsilon is not None and not epsilon > 0:
            raise ConfigError(f"epsilon must be positive, got {epsilon!r}")
        self.epsilon = epsilon
        self.min_distance = min_distance

    def setup(self, context: SearchContext) -> None:
        super().setup(context)
        plans = context.feature_plans
        if plans is None:
            raise ConfigError("the spline strategy needs a space featurized by archtune's default featurizer")
        numeric, groups, col = [], [], 0
        for plan in plans:
            if plan["kind"] == "numeric":
                if plan["high"] > plan["low"]:  # a knob with one value is no dimension
                    numeric.append(col)
                col += 1
            else:
                groups.append(slice(col, col + len(plan["categories"])))
                col += len(plan["categories"])
        if not numeric:
            raise ConfigError("the spline strategy needs at least one numeric knob with two or more values")
        self.X = np.asarray(context.features[:, numeric], dtype=np.float64)
        combo_keys = (
            np.stack([context.features[:, g].argmax(axis=1) for g in groups], axis=1)
            if groups
            else np.zeros((context.n, 1), dtype=np.int64)
        )
        _, self.combo = np.unique(combo_keys, axis=0, return_inverse=True)
        self.combo = self.combo.reshape(-1)
        self.design = self._initial_design()
        self._design_set = set(self.design)
        self.converged = False

    def _initial_design(self) -> list[int]:
        """Per combination, the encoding nearest each point of section 4.1's design (unit box)."""
        d = self.X.shape[1]
        targets = initial_design([NumericDimension(f"x{k}", 0.0, 1.0, integer=False) for k in range(d)])
        chosen: list[int] = []
        for combo in range(int(self.combo.max()) + 1):
            members = np.flatnonzero((self.combo == combo) & self.searchable)
            free = np.ones(len(members), dtype=bool)
            for target in targets[: len(members)]:
                gaps = np.linalg.norm(self.X[members] - target, axis=1)
                gaps[~free] = np.inf  # one encoding serves one design point
                k = int(np.argmin(gaps))
                free[k] = False
                chosen.append(int(members[k]))
        return chosen

    # -- Algorithm 1 -------------------------------------------------------------------------------
    def _spline(self, combo: int) -> tuple[PolyharmonicSpline, np.ndarray] | None:
        values = self.values[self.ctx.top]
        support = np.array(sorted(i for i in values if self.combo[i] == combo), dtype=np.int64)
        if len(support) < self.X.shape[1] + 2:
            return None
        try:
            box = (np.zeros(self.X.shape[1]), np.ones(self.X.shape[1]))
            spline = PolyharmonicSpline(box=box).fit(self.X[support], [values[i] for i in support])
        except SplineError:
            return None
        return spline, support

    def _epsilon(self) -> float:
        if self.epsilon is not None:
            return self.epsilon
        return default_epsilon(list(self.values[self.ctx.top].values()))

    def tell(self, observation: Observation) -> None:
        predicted = None
        argmax = observation.index not in self._design_set and observation.fidelity == self.ctx.top
        if argmax and observation.value is not None and not self.converged:
            # the spline it was proposed from: the support before this observation joins it
            fitted = self._spline(int(self.combo[observation.index]))
            if fitted is not None:
                predicted = float(fitted[0].predict(self.X[[observation.index]])[0])
        super().tell(observation)
        if predicted is not None:
            self.converged = abs(observation.value - predicted) <= self._epsilon()  # type: ignore[operator]

    def propose(
        self, rng: np.random.Generator, pending: Sequence[Suggestion], allowed: Sequence[str]
    ) -> Suggestion | None:
        fidelity = self.top_fidelity(allowed)
        if fidelity is None or self.converged:
            return None
        available = self.available(fidelity, pending)
        for i in self.design:
            if available[i]:
                return Suggestion(i, fidelity)
        best: tuple[float, int] | None = None
        for combo in range(int(self.combo.max()) + 1):
            fitted = self._spline(combo)
            if fitted is None:
                continue
            spline, support = fitted
            candidates = np.flatnonzero(available & (self.combo == combo))
            if not len(candidates):
                continue
            gaps, _ = cKDTree(self.X[support]).query(self.X[candidates])  # memory stays O(candidates)
            candidates = candidates[gaps >= self.min_distance]
            if not len(candidates):
                continue
            predicted = spline.predict(self.X[candidates])
            top = int(np.argmax(predicted))
            if best is None or predicted[top] > best[0]:
                best = (float(predicted[top]), int(candidates[top]))
        return None if best is None else Suggestion(best[1], fidelity)
