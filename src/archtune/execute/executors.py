"""Turning the ``executor=`` argument of a search into something that runs evaluations.

Accepted forms:

- ``None`` or ``"inline"``: each evaluation runs in the search's own process, one at a time;
- ``"process"``: a local process pool of ``n_workers`` (objectives must be picklable: module-level
  functions or callable objects, not lambdas); a pool broken by a dying worker is rebuilt; workers
  exit within about a second of the driver's death, even a ``SIGKILL`` (see
  ``archtune.execute.isolation.die_with_parent``);
- ``"dask"``: a Dask ``LocalCluster`` of ``n_workers`` single-threaded worker processes, started and
  stopped for the user (with ``resources={"GPU": 1}``: one worker per GPU, each seeing only its own
  device through ``CUDA_VISIBLE_DEVICES``);
- ``"slurm"``, ``"pbs"``, ``"lsf"``: a dask-jobqueue cluster of ``n_workers`` batch jobs, one Dask worker
  each, built from ``cluster_options``, scaled up and cancelled for the user; jobs that end (cancelled,
  preempted, past their walltime) are submitted again (see :mod:`archtune.execute.jobqueue`);
- a Dask scheduler address (``"tcp://host:8786"``), a ``distributed.Client`` or a Dask cluster object
  (a ``SLURMCluster`` the user started; left running at the end): run on that cluster;
- any ``concurrent.futures.Executor`` (thread pool, process pool, ...); for Dask pass the Client itself, not
  ``Client.get_executor()``, whose futures can hang when workers die (see :mod:`archtune.execute.dask_executor`).

Example:
    >>> with open_executor(None, n_workers=1) as handle:
    ...     handle.kind, handle.executor is None
    ('inline', True)
    >>> with open_executor("process", n_workers=2) as handle:
    ...     handle.kind, handle.submit(abs, -3).result()
    ('process', 3)
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from archtune.errors import ConfigError
from archtune.execute.isolation import die_with_parent
from archtune.execute.jobqueue import SYSTEMS
from archtune.execute.main_guard import check_main_guard, guard_message, is_bootstrap_failure

KINDS = ("inline", "process", "dask", *SYSTEMS)


class ExecutorHandle:
    """An executor plus what it takes to repair and close it.

    Attributes:
        executor: the ``concurrent.futures``-style executor (None: evaluations run in-process).
        kind: ``"inline"``, ``"process"``, ``"dask"`` or ``"custom"``.
    """

    def __init__(
        self,
        executor: Executor | None,
        kind: str,
        close: Callable[[], None] | None = None,
        rebuild: Callable[[], Executor] | None = None,
    ):
        self.executor = executor
        self.kind = kind
        self._close = close
        self._rebuild = rebuild

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``fn(*args)``; in-process executors hand back an already finished future.

        A pool this handle owns that broke before the call (a worker died and the pool noticed before
        its failed future was collected) is rebuilt and the call goes to the new pool.
        """
        if self.executor is None:
            future: Future[Any] = Future()
            future.set_result(fn(*args))
            return future
        try:
            return self.executor.submit(fn, *args)
        except BrokenProcessPool as err:
            if self._rebuild is None:
                raise
            self.repair(err, self.executor)
            return self.executor.submit(fn, *args)

    def repair(self, error: BaseException, submitted_to: Executor | None) -> None:
        """After a worker died: rebuild a process pool this handle owns if the death broke it.

        ``submitted_to`` is the executor the failed call went to; when the pool was already rebuilt
        since (several calls fail together when a pool breaks), nothing more is done.
        """
        if (
            self._rebuild is None
            or not isinstance(error, BrokenProcessPool)
            or submitted_to is not self.executor
        ):
            return
        broken = self.executor
        self.executor = self._rebuild()
        broken.shutdown(wait=False, cancel_futures=True)  # type: ignore[union-attr]

    def close(self) -> None:
        """Stop what this handle started (a pool or a cluster); executors the user passed are left alone."""
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> ExecutorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _process_pool(n_workers: int) -> ExecutorHandle:
    # spawn, not fork: a forked child of a process that has run autograd cannot backpropagate.
    # die_with_parent: workers of a driver killed by SIGKILL would otherwise go on (holding GPUs)
    # until their objective returns, and then wait forever for work.
    def make() -> Executor:
        return ProcessPoolExecutor(
            n_workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        )

    handle = ExecutorHandle(make(), "process", rebuild=make)
    handle._close = lambda: handle.executor.shutdown(wait=True, cancel_futures=True)  # type: ignore[union-attr]
    return handle


def _dask_client_handle(
    client: Any, resources: Mapping[str, float] | None, owned: Callable[[], None] | None, kind: str
) -> ExecutorHandle:
    from archtune.execute.dask_executor import DaskExecutor

    return ExecutorHandle(DaskExecutor(client, resources), kind, close=owned)


def _jobqueue_handle(
    jobs: Any, resources: Mapping[str, float] | None, kind: str, options: Mapping[str, Any] | None
) -> ExecutorHandle:
    from archtune.execute.dask_executor import NO_WORKER_TIMEOUT, DaskExecutor
    from archtune.execute.jobqueue import gpus_per_evaluation

    needs = dict(resources or {})
    gpus = gpus_per_evaluation(options)
    if gpus:
        needs["GPU"] = gpus  # the worker of each job owns GPU=k: one evaluation per job
    timeout = float((options or {}).get("worker_timeout", NO_WORKER_TIMEOUT))
    executor = DaskExecutor(
        jobs.client, needs or None, no_worker_timeout=timeout, maintain=jobs.maintain, describe=jobs.describe
    )
    return ExecutorHandle(executor, kind, close=jobs.close)


def _is_dask_cluster(spec: Any) -> bool:
    return hasattr(spec, "scheduler_address") and callable(getattr(spec, "scale", None))


def open_executor(
    spec: Any,
    n_workers: int = 1,
    resources: Mapping[str, float] | None = None,
    cluster_options: Mapping[str, Any] | None = None,
) -> ExecutorHandle:
    """Build an :class:`ExecutorHandle` from any accepted form of ``executor=`` (see the module doc).

    ``cluster_options`` go with ``"slurm"``, ``"pbs"`` and ``"lsf"`` (see :mod:`archtune.execute.jobqueue`).
    """
    if cluster_options and spec not in SYSTEMS:
        raise ConfigError(f"cluster_options go with executor= one of {tuple(SYSTEMS)}, not {spec!r}")
    if spec is None or spec == "inline":
        return ExecutorHandle(None, "inline")
    if spec == "process":
        check_main_guard("process")
        return _process_pool(n_workers)
    if spec == "dask":
        import dask

        from archtune.execute.dask_cluster import start_local_cluster, stop_local_cluster

        if dask.config.get("distributed.worker.multiprocessing-method", default="spawn") != "fork":
            check_main_guard("dask")
        try:
            client = start_local_cluster(n_workers, gpus=bool(resources and resources.get("GPU")))
        except Exception as err:
            if is_bootstrap_failure(err):
                raise ConfigError(guard_message("dask")) from err
            raise
        return _dask_client_handle(client, resources, owned=lambda: stop_local_cluster(client), kind="dask")
    if isinstance(spec, str) and spec in SYSTEMS:
        from archtune.execute.jobqueue import start_jobqueue_cluster

        return _jobqueue_handle(
            start_jobqueue_cluster(spec, cluster_options, n_workers), resources, spec, cluster_options
        )
    if _is_dask_cluster(spec):  # a cluster object the user started (SLURMCluster, LocalCluster, ...)
        from archtune.execute.jobqueue import connect_cluster

        return _jobqueue_handle(connect_cluster(spec), resources, "dask", None)
    if isinstance(spec, str):
        if "://" not in spec:
            raise ConfigError(
                f"unknown executor {spec!r}: use one of {KINDS}, a Dask scheduler address (tcp://host:8786), "
                "a distributed.Client or a concurrent.futures.Executor"
            )
        from distributed import Client

        client = Client(spec)
        return _dask_client_handle(client, resources, owned=client.close, kind="dask")
    if type(spec).__name__ == "Client" and hasattr(spec, "get_executor"):  # a distributed.Client
        return _dask_client_handle(spec, resources, owned=None, kind="dask")
    if isinstance(spec, Executor) or callable(getattr(spec, "submit", None)):
        return ExecutorHandle(spec, "custom")
    raise ConfigError(
        f"executor must be None, one of {KINDS}, an address, a Client or an Executor; got {spec!r}"
    )
