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

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from archtune.errors import ConfigError
from archtune.strategy.base import Observation, Strategy, Suggestion

T = TypeVar("T")


def tournament_winner(
    rng: np.random.Generator, alive: Sequence[T], sample: int, value: Callable[[T], float]
) -> T:
    """The best by ``value`` of ``sample`` members drawn without replacement from ``alive`` (the
    population of aging evolution); shared so every evolution in archtune selects parents one way.

    Example:
        >>> tournament_winner(np.random.default_rng(0), [3, 9, 4], sample=3, value=float)
        9
    """
    contenders = [alive[i] for i in rng.choice(len(alive), size=sample, replace=False)]
    return max(contenders, key=value)


def mutate_tournament_winner(
    rng: np.random.Generator,
    done: Sequence[Observation],
    population: int,
    sample: int,
    neighbors: Callable[[int], Sequence[int]] | None,
    available: np.ndarray,
) -> int | None:
    """An available one-mutation neighbour of the best of ``sample`` results drawn from the latest
    ``population`` ones (aging evolution's step); None before ``population`` results or without one."""
    if len(done) < population or neighbors is None:
        return None
    parent = tournament_winner(rng, done[-population:], sample, lambda o: o.value)  # type: ignore[arg-type, return-value]
    children = [j for j in neighbors(parent.index) if available[j]]
    return int(rng.choice(children)) if children else None


class RegularizedEvolution(Strategy):
    """Population of the ``population`` most recent evaluations; parent = best of ``sample`` drawn from it."""

    name = "rea"

    def __init__(self, population: int = 20, sample: int = 5):
        if population < 1 or not 1 <= sample <= population:
            raise ConfigError("regularized evolution needs population >= 1 and 1 <= sample <= population")
        self.population = population
        self.sample = sample

    def propose(
        self, rng: np.random.Generator, pending: Sequence[Suggestion], allowed: Sequence[str]
    ) -> Suggestion | None:
        fidelity = self.top_fidelity(allowed)
        if fidelity is None:
            return None
        done = [o for o in self.history if o.fidelity == fidelity and o.value is not None]
        child = mutate_tournament_winner(
            rng, done, self.population, self.sample, self.ctx.neighbors, self.available(fidelity, pending)
        )
        if child is not None:
            return Suggestion(child, fidelity)
        index = self.random_available(rng, fidelity, pending)
        return None if index is None else Suggestion(index, fidelity)
