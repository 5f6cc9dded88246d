"""Dask tasks behind a ``concurrent.futures`` face, settled from Dask's own task state.

Why not ``Client.get_executor()``: its futures are completed by a coroutine awaiting the task's result.
When a worker holding a *finished* result dies before the driver fetched it, Dask recomputes the task;
if that recomputation's worker dies too, the task errs inside the gather-and-reschedule path and the
coroutine never returns, so the ``concurrent.futures`` future stays pending forever and a search waiting
on it hangs (seen in tests/test_parallel.py with a worker dying on every attempt). Here the driver polls:
:meth:`DaskExecutor.wait_first` waits on the Dask futures with a short timeout, reads each one's status,
and fetches a finished result with a time limit, so a task Dask gave up on always comes back as an
exception (which the search's dispatcher (``archtune.search.dispatch``) treats as a lost worker and retries).

Each poll also watches the cluster: which worker runs which task (handed to :attr:`DaskExecutor.on_placement`,
so that ``archtune status`` can show it), a ``maintain`` hook (a batch cluster submits jobs again for
workers whose jobs ended), and the time without any worker at all: past ``no_worker_timeout`` seconds
with work waiting, :meth:`DaskExecutor.wait_first` raises ``NoWorkersError`` instead of waiting forever.

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
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future
from typing import Any

from archtune.errors import SearchStoppedError

POLL_SECONDS = 1.0
"""How long one wait on the Dask futures lasts before their states are read again."""

FETCH_SECONDS = 120.0
"""Limit on fetching one finished result; past it the result counts as lost with its worker."""


NO_WORKER_TIMEOUT = 900.0
"""Default for how long evaluations may wait with no worker in the cluster before the search stops."""


class LostTask(RuntimeError):
    """Dask cancelled or lost a task, or its result could not be fetched from its worker."""


class NoWorkersError(SearchStoppedError):
    """The cluster had no worker at all for longer than the time allowed while evaluations waited.

    The search stops; the evaluations in flight stay recorded as dispatched and are sent again by the
    next ``SearchInstance.run_search``.
    """


class DaskExecutor(Executor):
    """Submit to a ``distributed.Client``; every task is new (``pure=False``), so a retry really re-runs.

    Args:
        client: the Dask client.
        resources: Dask worker resources each task needs, e.g. ``{"GPU": 1}`` for one task per GPU.
        no_worker_timeout: seconds :meth:`wait_first` waits while the cluster has no worker at all
            before it raises ``NoWorkersError``.
        maintain: called at every poll (e.g. to submit batch jobs again for workers that are gone).
        describe: ``(address, scheduler's worker info) -> label`` of a worker, for :attr:`on_placement`.

    Attributes:
        on_placement: called as ``on_placement(future, label)`` when a task starts on a worker (label)
            or goes back to waiting (None); set by the search to record where evaluations run.
    """

    def __init__(
        self,
        client: Any,
        resources: Mapping[str, float] | None = None,
        no_worker_timeout: float = NO_WORKER_TIMEOUT,
        maintain: Callable[[], None] | None = None,
        describe: Callable[[str, Mapping[str, Any]], str] | None = None,
    ):
        self.client = client
        self._options: dict[str, Any] = {"pure": False}
        if resources:
            self._options["resources"] = dict(resources)
        self._tasks: dict[Future[Any], Any] = {}  # our future -> its Dask future, until settled
        self.no_worker_timeout = no_worker_timeout
        self.maintain = maintain
        self.describe = describe or (
            lambda address, info: f"{info.get('name', address)} ({info.get('host', '')})"
        )
        self.on_placement: Callable[[Future[Any], str | None], None] | None = None
        self._placed: dict[Future[Any], str | None] = {}
        self._no_workers_since: float | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        task = self.client.submit(fn, *args, **kwargs, **self._options)
        future: Future[Any] = Future()
        self._tasks[future] = task
        future.add_done_callback(self._cancel_task_if_cancelled)
        return future

    def _cancel_task_if_cancelled(self, future: Future[Any]) -> None:
        task = self._tasks.pop(future, None)
        self._placed.pop(future, None)
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
            self._watch(wanted)
            # wakes on the first finished task; the timeout bounds every wait whatever Dask does
            with contextlib.suppress(TimeoutError):
                wait(tasks, timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")

    def _watch(self, wanted: list[Future[Any]]) -> None:
        """One look at the cluster: keep it up, note where tasks run, stop when no worker is left."""
        if self.maintain is not None:
            self.maintain()
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        if workers:
            self._no_workers_since = None
        else:
            now = time.monotonic()
            self._no_workers_since = self._no_workers_since or now
            if now - self._no_workers_since > self.no_worker_timeout:
                raise NoWorkersError(
                    f"no Dask worker for {self.no_worker_timeout:g} s while {len(wanted)} evaluation(s) waited "
                    "(every worker job ended or none started: check the queue, e.g. squeue); the search stopped, "
                    "run_search again to send them again"
                )
        if self.on_placement is None:
            return
        running = {key: address for address, keys in self.client.processing().items() for key in keys}
        for future in wanted:
            task = self._tasks.get(future)
            if task is None:
                continue
            address = running.get(task.key)
            label = None if address is None else self.describe(address, workers.get(address, {}))
            if self._placed.get(future, "") != label:  # the first look is always reported (a label or None)
                self._placed[future] = label
                self.on_placement(future, label)

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
                self._complete(
                    future, error=LostTask(f"result could not be fetched: {type(err).__name__}: {err}")
                )
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
        self._placed.pop(future, None)
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
