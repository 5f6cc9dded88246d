"""One search of a benchmark through the one search loop, kept in memory: no second budget loop.

Benchmarks run many short searches; each goes through :class:`~archtune.search.instance.SearchInstance`
like a user's, with a :class:`~archtune.storage.memory.MemoryStorage` (nothing on disk but a temporary
work directory) so that thousands of them cost no file traffic.

Example:
    >>> from archtune import create_search_space
    >>> space = create_search_space("w", None, [(w,) for w in range(10)])
    >>> history = search_in_memory(space, lambda e: -abs(e[0] - 6), "rea", seed=0, budget=5)
    >>> len(history), sorted(h["fidelity"] for h in history)[0]
    (5, 'hi')
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from archtune.search.instance import SearchInstance
from archtune.space.product import ProductSpace
from archtune.space.search_space import SearchSpace
from archtune.storage.memory import MemoryStorage
from archtune.strategy.base import Strategy


def search_in_memory(
    space: SearchSpace | ProductSpace,
    objective: Callable[[Any], float],
    strategy: str | Strategy,
    seed: int,
    budget: float,
    lo_objective: Callable[[Any], float] | None = None,
    lo_cost: float | None = None,
    target: float | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Run one search of ``budget`` high-fidelity units and return its history (``SearchInstance.history``).

    ``lo_objective`` and ``lo_cost`` add the low fidelity; ``target`` stops at the first high-fidelity
    value reaching it; ``options`` go to ``SearchInstance`` (``objectives=``, ``constraints=``, ...).
    """
    low = {"lo_fi_eval": lo_objective, "lo_fi_cost": lo_cost} if lo_objective is not None else {}
    with tempfile.TemporaryDirectory() as work:  # the work directory only; trials stay in memory
        search = SearchInstance(
            space.name, Path(work) / "bench.search", space, hi_fi_eval=objective, strategy=strategy,
            seed=seed, progress=False, storage=MemoryStorage(), **low, **options,
        )  # fmt: skip
        try:
            search.run_search(eval_budget=budget, target=target)
            return search.history()
        finally:
            search.close()


def time_steps(strategy: Strategy) -> tuple[list[float], list[float]]:
    """Time ``strategy``'s ask and tell calls from now on (wrapped on the instance): the two lists of
    seconds returned grow by one per call, ask's and tell's apart (a step is one of each)."""
    asks: list[float] = []
    tells: list[float] = []
    ask, tell = strategy.ask, strategy.tell

    def timed_ask(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = ask(*args, **kwargs)
        asks.append(time.perf_counter() - start)
        return out

    def timed_tell(*args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        tell(*args, **kwargs)
        tells.append(time.perf_counter() - start)

    strategy.ask = timed_ask  # type: ignore[method-assign]
    strategy.tell = timed_tell  # type: ignore[method-assign]
    return asks, tells


def step_seconds(asks: list[float], tells: list[float]) -> np.ndarray:
    """Seconds per step (ask + tell) from :func:`time_steps`'s lists: a last ask that found nothing to
    propose has no tell, and is no step."""
    return np.add(asks[: len(tells)], tells)
