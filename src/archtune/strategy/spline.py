"""Strategy ``spline``: paper 004's Algorithm 1 on a search space of numeric knobs, through ask/tell.

On a listed space, the numeric positions of the encodings are the spline's dimensions, in the unit box
the default featurizer already scales them to; categorical positions split the space into
combinations, each with its own spline (paper 004, section 3). The space's encodings are the legal
grid: each initial-design point snaps to the nearest encoding and the argmax is exact, over every
untried encoding that keeps ``min_distance`` from the support points.

On a product space (``create_search_space(knobs=...)``, never listed) the numeric knobs are the
dimensions and the other knobs the combinations (:class:`~archtune.strategy.spline_box.KnobBox`); the
argmax is section 4.2's hierarchical Monte Carlo over the box, each sample snapped to the knobs'
options, and the box may start narrow and widen (``box=``, section 5.3).

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

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from archtune.errors import ConfigError
from archtune.strategy.base import Observation, SearchContext, Strategy, Suggestion
from archtune.strategy.spline_box import KnobBox
from archtune.strategy.spline_design import NumericDimension, default_epsilon, initial_design
from archtune.surrogate.spline import PolyharmonicSpline, SplineError


class SplineStrategy(Strategy):
    """Polyharmonic-spline search (paper 004) at the top fidelity, on a listed or a product space.

    Args:
        epsilon: stop once ``|measured - predicted| <= epsilon`` at an argmax; default:
            :func:`~archtune.strategy.spline_design.default_epsilon` of the values measured so far.
        min_distance: an argmax keeps at least this distance (unit box) from every support point.
        box: product spaces only: ``{numeric knob: (low, high)}``, where the search starts; once it
            converges on an edge of this box, the box widens within the knob's range (paper 004,
            section 5.3; see :class:`~archtune.strategy.spline_box.KnobBox`).
        samples, rounds, shrink: product spaces only: the hierarchical Monte Carlo argmax (section
            4.2): ``rounds`` rounds of ``samples`` Halton points, the box shrunk by ``shrink`` around
            the best point after each.
    """

    name = "spline"

    uses_seed = False  # paper 004: a fixed initial design and a deterministic argmax

    def __init__(
        self,
        epsilon: float | None = None,
        min_distance: float = 0.02,
        box: Mapping[str, tuple[float, float]] | None = None,
        samples: int = 1024,
        rounds: int = 8,
        shrink: float = 0.5,
    ):
        if epsilon is not None and not epsilon > 0:
            raise ConfigError(f"epsilon must be positive, got {epsilon!r}")
        if not 0 < shrink < 1:
            raise ConfigError(f"shrink must lie in (0, 1), got {shrink!r}")
        for name, value in (("samples", samples), ("rounds", rounds)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        self.epsilon = epsilon
        self.min_distance = min_distance
        self.box = dict(box or {})
        self.samples, self.rounds, self.shrink = samples, rounds, shrink

    def setup(self, context: SearchContext) -> None:
        super().setup(context)
        self.converged = False
        self.view: KnobBox | None = None
        if context.product is not None:
            self.view = KnobBox(context.product, self.box)
            self.design = [i for i in self.view.design() if self.is_allowed(i)]
            self._design_set = set(self.design)
            return
        if self.box:
            raise ConfigError(
                "box= is for a knobs space (create_search_space(knobs=...)); a listed space's box is its encodings"
            )
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

    # -- the two space forms behind one set of helpers ---------------------------------------------
    def _coordinates(self, indices: np.ndarray) -> np.ndarray:
        return self.view.coordinates(indices) if self.view is not None else self.X[indices]

    def _combos(self, indices: np.ndarray) -> np.ndarray:
        return self.view.combos_of(indices) if self.view is not None else self.combo[indices]

    def _box(self) -> tuple[np.ndarray, np.ndarray]:
        if self.view is not None:
            return self.view.lo.copy(), self.view.hi.copy()
        d = self.X.shape[1]
        return np.zeros(d), np.ones(d)

    # -- Algorithm 1 -------------------------------------------------------------------------------
    def _supports(self) -> dict[int, np.ndarray]:
        """Combination -> the encodings measured in it at the top fidelity (ascending), computed at once."""
        values = self.values[self.ctx.top]
        measured = np.fromiter(sorted(values), dtype=np.int64, count=len(values))
        if not len(measured):
            return {}
        combos = self._combos(measured)
        return {int(c): measured[combos == c] for c in np.unique(combos)}

    def _spline(self, support: np.ndarray | None) -> tuple[PolyharmonicSpline, np.ndarray] | None:
        """The spline through ``support`` (one combination's measured encodings), or None when too few."""
        values = self.values[self.ctx.top]
        if support is None or len(support) < len(self._box()[0]) + 2:
            return None
        try:
            X = self._coordinates(support)
            spline = PolyharmonicSpline(box=self._box()).fit(X, [values[int(i)] for i in support])
        except SplineError:
            return None
        return spline, X

    def _epsilon(self) -> float:
        if self.epsilon is not None:
            return self.epsilon
        return default_epsilon(list(self.values[self.ctx.top].values()))

    def tell(self, observation: Observation) -> None:
        predicted = None
        argmax = observation.index not in self._design_set and observation.fidelity == self.ctx.top
        if argmax and observation.value is not None and not self.converged:
            # the spline it was proposed from: the support before this observation joins it
            combo = int(self._combos(np.array([observation.index]))[0])
            fitted = self._spline(self._supports().get(combo))
            if fitted is not None:
                predicted = float(fitted[0].predict(self._coordinates(np.array([observation.index])))[0])
        super().tell(observation)
        if predicted is not None:
            self.converged = abs(observation.value - predicted) <= self._epsilon()  # type: ignore[operator]
        if self.converged and self.view is not None and self.view.boxed:
            self._widen()

    def _widen(self) -> None:
        """Section 5.3: converged on an edge of the box: widen it and measure the wider box's design."""
        values = self.values[self.ctx.top]
        best = max(values, key=lambda i: (values[i], -i))
        if self.view is None or not self.view.widen(best):
            return
        new = [i for i in self.view.design() if i not in self._design_set and self.is_allowed(i)]
        self.design += new
        self._design_set.update(new)
        self.converged = False

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
        lo, hi = self._box()
        for combo, support in sorted(
            self._supports().items()
        ):  # a combination measured in none has no spline
            fitted = self._spline(support)
            if fitted is None:
                continue
            spline, support_x = fitted
            candidates, X = self._candidates(combo, spline, available)
            if not len(candidates):
                continue
            # distances in the box's unit coordinates; memory stays O(candidates)
            gaps, _ = cKDTree((support_x - lo) / (hi - lo)).query((X - lo) / (hi - lo))
            far = gaps >= self.min_distance
            if not far.any():
                continue
            candidates, X = candidates[far], X[far]
            predicted = spline.predict(X)
            top = int(np.argmax(predicted))
            if best is None or predicted[top] > best[0]:
                best = (float(predicted[top]), int(candidates[top]))
        return None if best is None else Suggestion(best[1], fidelity)

    def _candidates(
        self, combo: int, spline: PolyharmonicSpline, available: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """The free encodings of ``combo`` the argmax chooses among, and their coordinates: every one
        for a listed space, the hierarchical Monte Carlo's samples for a product space."""
        if self.view is None:
            candidates = np.flatnonzero(available & (self.combo == combo))
            return candidates, self.X[candidates]
        tokens = self.view.samples(spline.predict, self.samples, self.rounds, self.shrink)
        indices = self.view.indices(combo, tokens)
        X = self.view.token_coordinates(tokens)
        free = available[indices] & self.view.in_box(X)
        return indices[free], X[free]
