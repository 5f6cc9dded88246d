"""Simulated parallel workers on a virtual clock: asynchronous search without waiting.

Each submitted call runs at once, in this process, but its result is released only when the virtual
clock reaches its finish time (submission time + ``duration(result)``). The search driver, through
:meth:`VirtualClockExecutor.wait_first`, always receives the evaluation that would have finished first
on real workers, so the order in which results arrive, and hence every decision of an asynchronous
search, is that of k real workers, while a whole search costs only the driver's own time.
The driver's own time (asking, refitting) is not on the virtual clock: this measures the sample
efficiency of asynchronous search; wall-clock speed-ups need real workers.

Example:
    >>> clock = VirtualClockExecutor(duration=lambda result: result)
    >>> slow, fast = clock.submit(lambda: 5.0), clock.submit(lambda: 2.0)
    >>> [f.result() for f in clock.wait_first([slow, fast])], clock.now
    ([2.0], 2.0)
    >>> [f.result() for f in clock.wait_first([slow])], clock.now
    ([5.0], 5.0)
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future
from typing import Any


class VirtualClockExecutor(Executor):
    """Runs calls immediately and releases their results in virtual finish-time order.

    Args:
        duration: seconds of virtual time a call took, computed from its result.
    """

    def __init__(self, duration: Callable[[Any], float]):
        self.duration = duration
        self.now = 0.0
        self._order = itertools.count()  # ties broken by submission order: deterministic
        self._finishing: list[tuple[float, int, Future[Any], Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        result = fn(*args, **kwargs)
        finish = self.now + max(0.0, float(self.duration(result)))
        future: Future[Any] = Future()
        heapq.heappush(self._finishing, (finish, next(self._order), future, result))
        return future

    def wait_first(self, futures: Iterable[Future[Any]]) -> set[Future[Any]]:
        """Advance the clock to the first finish among ``futures`` and complete that one."""
        wanted = set(futures)
        kept: list[tuple[float, int, Future[Any], Any]] = []
        while self._finishing:
            finish, order, future, result = heapq.heappop(self._finishing)
            if future in wanted:
                for item in kept:
                    heapq.heappush(self._finishing, item)
                self.now = max(self.now, finish)
                future.set_result(result)
                return {future}
            kept.append((finish, order, future, result))
        for item in kept:
            heapq.heappush(self._finishing, item)
        raise ValueError("none of these futures was submitted to this executor, or all are already done")
