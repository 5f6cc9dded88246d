"""Local search (White et al. 2020, "Local search is state of the art for NAS benchmarks").

Start from the best of ``n_init`` random encodings; evaluate the neighbours of the current encoding
(one position changed) that are not evaluated yet, in random order; once all of them are known, move
to the best neighbour if it beats the current encoding (neighbours evaluated earlier, in the random
start or another climb, count with their known values), otherwise the climb has reached a local
optimum and a new climb starts from a random encoding.

The climb's state (the current encoding) changes only in ``tell``, as a function of the
observations, so replaying a stored history rebuilds it exactly.

Example:
    >>> import numpy as np
    >>> from archtune.strategy.base import Fidelity, Observation, SearchContext
    >>> ring = lambda i: [(i - 1) % 8, (i + 1) % 8]
    >>> ls = LocalSearch(n_init=1); ls.setup(SearchContext(np.eye(8, dtype=np.float32), [Fidelity("hi", 1.0)], neighbors=ring))
    >>> ls.tell(Observation(3, "hi", 0.5, 1.0))
    >>> sorted({ls.ask(1)[0].index for _ in range(5)}) in ([2], [4])
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from archtune.errors import ConfigError
from archtune.strategy.base import Observation, SearchContext, Strategy, Suggestion

__all__ = ["LocalSearch"]


class LocalSearch(Strategy):
    """Best-improvement hill climbing with random restarts, at the top fidelity.

    Args:
        n_init: random evaluations before the first climb starts from the best of them.
    """

    name = "ls"

    def __init__(self, n_init: int = 10):
        if n_init < 1:
            raise ConfigError("local search needs n_init >= 1")
        self.n_init = n_init

    def setup(self, context: SearchContext) -> None:
        super().setup(context)
        if context.neighbors is None:
            raise ConfigError("local search needs a space with neighbours (SearchContext.neighbors)")
        self.current: int | None = None  # encoding the climb stands on
        self._neighbour_sets: dict[int, set[int]] = {}

    def _neighbours(self, index: int) -> set[int]:
        if index not in self._neighbour_sets:
            # only searchable neighbours count: a constrained-out one can never be evaluated
            self._neighbour_sets[index] = {j for j in self.ctx.neighbors(index) if self.is_allowed(j)}  # type: ignore[misc]
        return self._neighbour_sets[index]

    def _value(self, index: int | None) -> float:
        return self.values[self.ctx.top].get(index, -np.inf) if index is not None else -np.inf

    def tell(self, observation: Observation) -> None:
        super().tell(observation)
        if observation.fidelity != self.ctx.top:
            return
        done = self.values[self.ctx.top]
        if self.current is None:
            if len(done) >= self.n_init:  # the first climb starts from the best random encoding
                self.current = max(done, key=done.__getitem__)
        elif observation.index not in self._neighbours(self.current) and self._neighbours_known():
            self.current = observation.index  # proposed at a local optimum: a new climb starts here
        self._settle()

    def _neighbours_known(self) -> bool:
        return self.current is not None and self._neighbours(self.current) <= self.tried[self.ctx.top]

    def _settle(self) -> None:
        """Move to the best neighbour, as long as every neighbour of the current encoding is known."""
        while self._neighbours_known():
            best = max(sorted(self._neighbours(self.current)), key=self._value, default=None)  # type: ignore[arg-type]
            if best is not None and self._value(best) > self._value(self.current):
                self.current = best
            else:
                return  # a local optimum: propose() restarts

    def propose(
        self, rng: np.random.Generator, pending: Sequence[Suggestion], allowed: Sequence[str]
    ) -> Suggestion | None:
        fidelity = self.top_fidelity(allowed)
        if fidelity is None:
            return None
        available = self.available(fidelity, pending)
        if self.current is not None:
            options = sorted(j for j in self._neighbours(self.current) if available[j])
            if options:
                return Suggestion(int(rng.choice(options)), fidelity)
        index = self.random_available(rng, fidelity, pending)
        return None if index is None else Suggestion(index, fidelity)
