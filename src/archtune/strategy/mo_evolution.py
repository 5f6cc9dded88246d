"""Multi-objective regularized evolution: aging evolution whose tournament picks among the non-dominated.

The baseline a multi-objective search is compared with. Like :class:`~archtune.strategy.evolution.RegularizedEvolution` it keeps
the last ``population`` high-fidelity results, samples ``sample`` of them, and mutates a winner at one
position; the winner is drawn uniformly among the sample's non-dominated members (learned objective
and the known zero-cost ones, see :class:`~archtune.strategy.base.SearchContext`), so selection pushes towards the whole front
rather than the most accurate corner. High fidelity only.

Example:
    >>> import numpy as np
    >>> from archtune import create_search_space
    >>> from archtune.strategy.base import Fidelity, Observation, SearchContext
    >>> ss = create_search_space("g", None, [(a, b) for a in range(4) for b in range(4)])
    >>> known = -np.array([[a + b] for a in range(4) for b in range(4)], dtype=float)
    >>> mo = MultiObjectiveEvolution(population=8, sample=4, n_init=4)
    >>> mo.setup(SearchContext(ss.features, [Fidelity("hi", 1.0)], seed=0, neighbors=ss.neighbors,
    ...                        known_objectives=known))
    >>> for _ in range(10):
    ...     s = mo.ask(1)[0]; mo.tell(Observation(s.index, "hi", float(ss.encodings[s.index][0]), 1.0))
    >>> len(mo.tried["hi"])
    10
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from archtune.errors import ConfigError
from archtune.strategy.base import SearchContext, Strategy, Suggestion
from archtune.strategy.pareto import non_dominated


class MultiObjectiveEvolution(Strategy):
    """Aging evolution with Pareto tournaments (see the module doc)."""

    name = "rea-mo"

    def __init__(self, population: int = 50, sample: int = 10, n_init: int = 10):
        if not 1 <= sample <= population:
            raise ConfigError(f"sample must be between 1 and population ({population}), got {sample}")
        self.population, self.sample, self.n_init = population, sample, n_init

    def setup(self, context: SearchContext) -> None:
        if context.neighbors is None:
            raise ConfigError("multi-objective evolution needs a space that lists each encoding's neighbours")
        super().setup(context)
        self.known = (
            context.known_objectives if context.known_objectives is not None else np.zeros((context.n, 0))
        )

    def propose(
        self, rng: np.random.Generator, pending: Sequence[Suggestion], allowed: Sequence[str]
    ) -> Suggestion | None:
        fidelity = self.top_fidelity(allowed)
        if fidelity is None:
            return None
        available = self.available(fidelity, pending)
        if not available.any():
            return None
        alive = [o for o in self.history if o.fidelity == fidelity and o.value is not None][
            -self.population :
        ]
        if len(alive) < self.n_init:
            return Suggestion(self.pick_uniform(rng, available), fidelity)  # type: ignore[arg-type]
        picks = rng.choice(len(alive), size=min(self.sample, len(alive)), replace=False)
        members = [alive[i] for i in picks]
        points = np.array([[m.value, *self.known[m.index]] for m in members], dtype=np.float64)
        winners = np.flatnonzero(non_dominated(points, ["max"] * points.shape[1]))
        parent = members[int(rng.choice(winners))].index
        children = [j for j in self.ctx.neighbors(parent) if available[j]]  # type: ignore[misc]
        if not children:
            return Suggestion(self.pick_uniform(rng, available), fidelity)  # type: ignore[arg-type]
        return Suggestion(int(rng.choice(children)), fidelity)
