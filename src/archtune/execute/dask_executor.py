"""Dask tasks behind a ``concurrent.futures`` face, settled from Dask's own task state.

Why not ``Client.get_executor()``: its futures are completed by a coroutine awaiting the task's result.
When a worker holding a *finished* result dies before the driver fetched it, Dask recomputes the task;
if that recomputation's worker dies too, the task errs inside the gather-and-reschedule path and the
coroutine never returns, so the ``concurrent.futures`` future stays pending forever and a search waiting
on it hangs (seen in tests/test_parallel.py with a worker dying on every attempt). Here the driver polls:
:meth:`DaskExecutor.wait_first` waits on the Dask futures with a short timeout, reads each one's status,
and fetches a finished result with a time limit, so a task Dask gave up on always comes back as an
exception (which the search's dispatcher (``archtune.search.dispatch``) treats as a lost worker and retries).

Example (a real one-worker cluster; a few seconds)::

    >>> from distributed import Client, LocalCluster
    >>> with LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster, Client(cluster) as client:
    ...     executor = DaskExecutor(client)
    ...     future = executor.submit(pow, 2, 10)
    ...     done = executor.wait_first([future])
    ...     future.result()
    1024
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future
from typing import Any

POLL_SECONDS = 1.0
"""How long one wait on the Dask futures lasts before their states are read again."""

FETCH_SECONDS = 120.0
"""Limit on fetching one finished result; past it the result counts as lost with its worker."""


class LostTask(RuntimeError):
    """Dask cancelled or lost a task, or its result could not be fetched from its worker."""


class DaskExecutor(Executor):
    """Submit to a ``distributed.Client``; every task is new (``pure=False``), so a retry really re-runs.

    Args:
        client: the Dask client.
        resources: Dask worker resources each task needs, e.g. ``{"GPU": 1}`` for one task per GPU.
    """

    def __init__(self, client: Any, resources: Mapping[str, float] | None = None):
        self.client = client
        self._options: dict[str, Any] = {"pure": False}
        if resources:
            self._options["resources"] = dict(resources)
        self._tasks: dict[Future[Any], Any] = {}  # our future -> its Dask future, until settled

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:  # type: ignore[override]
        task = self.client.submit(fn, *args, **kwargs, **self._options)
        future: Future[Any] = Future()
        self._tasks[future] = task
        future.add_done_callback(self._cancel_task_if_cancelled)
        return future

    def _cancel_task_if_cancelled(self, future: Future[Any]) -> None:
        task = self._tasks.pop(future, None)
        if future.cancelled() and task is not None:
            task.cancel()

    def wait_first(self, futures: Iterable[Future[Any]]) -> set[Future[Any]]:
        """Block until at least one of ``futures`` is settled (a result or an exception); return those."""
        from distributed import wait

        wanted = list(futures)
        while True:
            settled = {f for f in wanted if f.done() or self._settle(f)}
            if settled:
                return settled
            tasks = [self._tasks[f] for f in wanted if f in self._tasks]
            if not tasks:
                raise ValueError("none of these futures was submitted to this executor")
            # wakes on the first finished task; the timeout bounds every wait whatever Dask does
            with contextlib.suppress(TimeoutError):
                wait(tasks, timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")

    def _settle(self, future: Future[Any]) -> bool:
        """Complete ``future`` from its Dask task's state; False while the task is still to run or running."""
        task = self._tasks.get(future)
        if task is None:
            return False
        status = task.status
        if status == "finished":
            try:
                value = task.result(timeout=FETCH_SECONDS)
            except Exception as err:  # noqa: BLE001 - the worker holding the result is gone
                self._complete(future, error=LostTask(f"result could not be fetched: {type(err).__name__}: {err}"))
            else:
                self._complete(future, value=value)
            return True
        if status == "error":
            try:
                error = task.exception(timeout=FETCH_SECONDS)
            except Exception as err:  # noqa: BLE001 - as above: count it with the lost workers
                error = LostTask(f"task erred; its error could not be fetched: {type(err).__name__}: {err}")
            self._complete(future, error=error)
            return True
        if status in ("cancelled", "lost"):
            self._complete(future, error=LostTask(f"Dask task {status}"))
            return True
        return False

    def _complete(self, future: Future[Any], value: Any = None, error: BaseException | None = None) -> None:
        self._tasks.pop(future, None)
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for future in list(self._tasks):
                future.cancel()
