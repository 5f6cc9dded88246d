"""Random search at the highest fidelity: the baseline every strategy must beat.

Example:
    >>> import numpy as np
    >>> from archtune.strategy.base import Fidelity, SearchContext
    >>> s = RandomSearch(); s.setup(SearchContext(np.eye(5, dtype=np.float32), [Fidelity("hi", 1.0)], seed=1))
    >>> len({sug.index for sug in s.ask(5)})
    5
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from archtune.strategy.base import Strategy, Suggestion


class RandomSearch(Strategy):
    """Uniform sampling without replacement."""

    name = "random"

    def propose(
        self, rng: np.random.Generator, pending: Sequence[Suggestion], allowed: Sequence[str]
    ) -> Suggestion | None:
        fidelity = self.top_fidelity(allowed)
        if fidelity is None:
            return None
        index = self.random_available(rng, fidelity, pending)
        return None if index is None else Suggestion(index, fidelity)
