"""Regularized evolution (Real et al. 2019): aging population, tournament selection, one-position mutation.

Example:
    >>> import numpy as np
    >>> from archtune.strategy.base import Fidelity, SearchContext
    >>> ctx = SearchContext(np.eye(4, dtype=np.float32), [Fidelity("hi", 1.0)], neighbors=lambda i: [(i + 1) % 4])
    >>> s = RegularizedEvolution(population=2, sample=2); s.setup(ctx)
    >>> len(s.ask(1))
    1
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from archtune.errors import ConfigError
from archtune.strategy.base import Strategy, Suggestion


class RegularizedEvolution(Strategy):
    """Population of the ``population`` most recent evaluations; parent = best of ``sample`` drawn from it."""

    name = "rea"

    def __init__(self, population: int = 20, sample: int = 5):
        if population < 1 or not 1 <= sample <= population:
            raise ConfigError("regularized evolution needs population >= 1 and 1 <= sample <= population")
        self.population = population
        self.sample = sample

    def propose(self, rng: np.random.Generator, pending: Sequence[Suggestion], allowed: Sequence[str]) -> Suggestion | None:
        fidelity = self.top_fidelity(allowed)
        if fidelity is None:
            return None
        done = [o for o in self.history if o.fidelity == fidelity and o.value is not None]
        available = self.available(fidelity, pending)
        if len(done) >= self.population and self.ctx.neighbors is not None:
            alive = done[-self.population :]
            contenders = [alive[i] for i in rng.choice(len(alive), size=self.sample, replace=False)]
            parent = max(contenders, key=lambda o: o.value)  # type: ignore[arg-type, return-value]
            children = [j for j in self.ctx.neighbors(parent.index) if available[j]]
            if children:
                return Suggestion(int(rng.choice(children)), fidelity)
        index = self.random_available(rng, fidelity, pending)
        return None if index is None else Suggestion(index, fidelity)
