"""Dask on a batch cluster (SLURM, PBS, LSF) through dask-jobqueue: each batch job is one Dask worker.

``SearchInstance(..., executor="slurm", cluster_options={...})`` builds a ``dask_jobqueue.SLURMCluster``
(``"pbs"``: ``PBSCluster``, ``"lsf"``: ``LSFCluster``) when ``SearchInstance.run_search``
starts, scales it to ``n_workers`` jobs, and cancels the jobs when the search ends. The options archtune
documents and translates (every other key goes to the dask-jobqueue class unchanged, e.g.
``job_script_prologue``, ``python``, ``log_directory``, ``local_directory``, ``interface``,
``death_timeout``, ``scheduler_options``):

=========================  ===========================================================================
``cores``                  CPU cores each job asks for (default 1); the worker still runs one
                           evaluation at a time (one thread): the cores are for data loading
``memory``                 memory per job (default ``"4GB"``), also the worker's memory limit
``gpus_per_evaluation``    GPUs per job (default 0): SLURM ``--gres=gpu:k`` (PBS ``select=...:ngpus=k``, LSF
                           ``-gpu num=k``); the worker owns the Dask resource ``GPU=k`` and every
                           evaluation asks for it. With k > 1 the objective trains on all k, e.g. with
                           ``create_img_class_evaluator(n_gpus=k)``, which runs torchrun inside the job
``walltime``               the job's time limit, ``"HH:MM:SS"`` (dask-jobqueue's default: 30 minutes)
``queue``, ``account``     the partition (queue) and the account to charge
``job_extra_directives``   extra header lines without the prefix, e.g. ``["--constraint=a100"]`` for
                           ``#SBATCH --constraint=a100``
``adapt``                  ``True``: scale between 0 and ``n_workers`` jobs with the load
                           (``cluster.adapt``); or a dict of ``cluster.adapt`` arguments
``worker_timeout``         seconds the search waits while it has work and no worker at all (every job
                           gone or still queued) before it stops with ``NoWorkersError``
                           (default 900)
=========================  ===========================================================================

What SLURM does to jobs: a job cancelled (``scancel``), preempted or past its walltime takes its worker
with it; the evaluation it ran is submitted again (by Dask, or by the search's ``retries`` when Dask
counts the worker as crashed) and a replacement job is submitted (``_correct_state``: the cluster
starts again every job of its spec that is gone). Nothing is recorded until a result comes back to the
driver, so an evaluation is never recorded twice.

Example (no cluster needed: the job script a search with these options would submit)::

    >>> script = job_script("slurm", {"cores": 4, "memory": "16GB", "gpus_per_evaluation": 2,
    ...                                "walltime": "02:00:00", "queue": "gpu"})
    >>> [line for line in script.splitlines() if line.startswith("#SBATCH")]  # doctest: +NORMALIZE_WHITESPACE
    ['#SBATCH -J archtune-worker', '#SBATCH -p gpu', '#SBATCH -n 1', '#SBATCH --cpus-per-task=4',
     '#SBATCH --mem=15G', '#SBATCH -t 02:00:00', '#SBATCH --gres=gpu:2']
    >>> "--resources GPU=2" in script and "--nthreads 1" in script
    True
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Any

from archtune.errors import ConfigError, ConfigTypeError

SYSTEMS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "lsf": "LSFCluster"}
"""``executor=`` names that start a dask-jobqueue cluster, and the class each one builds."""

OWN_OPTIONS = (
    "cores",
    "memory",
    "gpus_per_evaluation",
    "walltime",
    "queue",
    "account",
    "job_extra_directives",
    "adapt",
    "worker_timeout",
)
"""The options archtune documents (and translates where the systems differ)."""

SCHEDULER_CONFIG = {
    # the search's own retries are the whole story: Dask does not re-run a task whose worker crashed
    "distributed.scheduler.allowed-failures": 0,
    # a worker holds only the evaluation it runs: with Dask's default (1.1) a one-thread worker is sent a
    # second task that waits behind the first, while a job that starts later (or is idle) has nothing to do
    "distributed.scheduler.worker-saturation": 1.0,
}
"""Dask settings of the scheduler that archtune starts for a search (here and in ``archtune.execute.dask_cluster``)."""

DEFAULT_WORKER_TIMEOUT = 900.0
"""Seconds without any worker, while evaluations wait, before a search on a batch cluster stops."""

_GPU_DIRECTIVES = {
    "slurm": lambda k: [f"--gres=gpu:{k}"],
    "lsf": lambda k: [f'-gpu "num={k}"'],
}  # PBS asks for GPUs inside its select statement: see cluster_arguments
# options whose meaning archtune fixes: one Dask worker per job, one evaluation at a time
_FIXED = ("processes", "n_workers", "nthreads")


def _cluster_class(system: str) -> Any:
    try:
        import dask_jobqueue
    except ImportError as err:  # a dependency of archtune; missing only in a broken install
        raise ConfigError(f"executor={system!r} needs dask-jobqueue: pip install dask-jobqueue") from err
    return getattr(dask_jobqueue, SYSTEMS[system])


def _accepted(cls: Any) -> set[str]:
    """Every keyword the cluster class takes (its own, its job class's, and the base classes')."""
    from dask_jobqueue.core import Job, JobQueueCluster

    names: set[str] = set()
    for klass in (cls, cls.job_cls, JobQueueCluster, Job):
        names |= {
            p for p in inspect.signature(klass.__init__).parameters if p not in ("self", "scheduler", "name")
        }
    return names - {
        "job_cls",
        "config_name",
        "loop",
        "asynchronous",
        "base_class_kwargs",
        "job_kwargs",
        "kwargs",
    }


def _whole(value: Any, name: str, minimum: int, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigTypeError(
            f"cluster_options[{name!r}] must be an integer, got {value!r}; pass e.g. {example}"
        )
    if value < minimum:
        raise ConfigError(
            f"cluster_options[{name!r}] must be at least {minimum}, got {value!r}; pass e.g. {example}"
        )
    return value


def check_cluster_options(system: str, options: Any) -> dict[str, Any]:
    """Validate ``cluster_options`` for ``executor=system`` and return them as a plain dict.

    Example:
        >>> check_cluster_options("slurm", {"cores": 2, "walltime": "01:00:00"})
        {'cores': 2, 'walltime': '01:00:00'}
        >>> check_cluster_options("slurm", {"gpus": 1})
        Traceback (most recent call last):
        ...
        archtune.errors.ConfigError: unknown cluster_options key 'gpus' for executor='slurm': use gpus_per_evaluation, or one of SLURMCluster's arguments (see docs/parallel.md)
    """
    if system not in SYSTEMS:
        raise ConfigError(f"cluster_options only go with executor= one of {tuple(SYSTEMS)}, not {system!r}")
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ConfigTypeError(
            f'cluster_options must be a dict such as {{"cores": 4, "memory": "16GB"}}, '
            f"got {type(options).__name__}"
        )
    out = dict(options)
    cls = _cluster_class(system)
    accepted = _accepted(cls)
    for key in out:
        if key in _FIXED:
            raise ConfigError(
                f"cluster_options[{key!r}] is fixed by archtune (one worker per job, one evaluation at a "
                "time); use n_workers= of run_search for the number of jobs"
            )
        if key not in OWN_OPTIONS and key not in accepted:
            hint = "gpus_per_evaluation" if "gpu" in str(key).lower() else "one of the documented options"
            raise ConfigError(
                f"unknown cluster_options key {key!r} for executor={system!r}: use {hint}, "
                f"or one of {cls.__name__}'s arguments (see docs/parallel.md)"
            )
    if "cores" in out:
        _whole(out["cores"], "cores", 1, "4")
    if "gpus_per_evaluation" in out:
        _whole(out["gpus_per_evaluation"], "gpus_per_evaluation", 0, "1")
    for key in ("memory", "walltime", "queue", "account"):
        if key in out and out[key] is not None and not isinstance(out[key], str):
            example = {
                "memory": '"16GB"',
                "walltime": '"02:00:00"',
                "queue": '"gpu"',
                "account": '"my-project"',
            }[key]
            raise ConfigTypeError(
                f"cluster_options[{key!r}] must be a string, got {out[key]!r}; pass e.g. {example}"
            )
    directives = out.get("job_extra_directives", [])
    if isinstance(directives, str) or not all(isinstance(d, str) for d in directives):
        raise ConfigTypeError(
            "cluster_options['job_extra_directives'] must be a list of strings, e.g. [\"--constraint=a100\"]"
        )
    adapt = out.get("adapt", False)
    if not isinstance(adapt, (bool, Mapping)):
        raise ConfigTypeError(
            f"cluster_options['adapt'] must be True, False or a dict of cluster.adapt arguments, "
            f"got {adapt!r}"
        )
    timeout = out.get("worker_timeout", DEFAULT_WORKER_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ConfigError(
            f"cluster_options['worker_timeout'] must be a positive number of seconds, got {timeout!r}"
        )
    return out


def gpus_per_evaluation(options: Mapping[str, Any] | None) -> int:
    """The GPUs each evaluation of a search with these ``cluster_options`` asks for."""
    return int((options or {}).get("gpus_per_evaluation", 0))


def cluster_arguments(system: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of the dask-jobqueue class for archtune's ``cluster_options``."""
    kwargs = {k: v for k, v in options.items() if k not in ("gpus_per_evaluation", "adapt", "worker_timeout")}
    kwargs.setdefault("cores", 1)
    kwargs.setdefault("memory", "4GB")
    kwargs.setdefault("job_name", "archtune-worker")
    kwargs["processes"] = 1  # one Dask worker per job ...
    directives = list(kwargs.pop("job_extra_directives", []) or [])
    extra_args = list(kwargs.pop("worker_extra_args", []) or [])
    # ... running one evaluation at a time: the last --nthreads on the command line wins over the
    # "--nthreads <cores>" dask-jobqueue writes, so the job still asks the batch system for every core
    extra_args += ["--nthreads", "1"]
    gpus = gpus_per_evaluation(options)
    if gpus:
        if system == "pbs":
            if "resource_spec" not in kwargs:
                from dask.utils import parse_bytes
                from dask_jobqueue.pbs import pbs_format_bytes_ceil

                kwargs["resource_spec"] = (
                    f"select=1:ncpus={kwargs['cores']}:ngpus={gpus}:"
                    f"mem={pbs_format_bytes_ceil(parse_bytes(kwargs['memory']))}"
                )
        else:
            directives += _GPU_DIRECTIVES[system](gpus)
        extra_args += ["--resources", f"GPU={gpus}"]
    kwargs["job_extra_directives"] = directives
    kwargs["worker_extra_args"] = extra_args
    # archtune has its own dashboard; a user who wants Dask's passes scheduler_options
    kwargs.setdefault("scheduler_options", {"dashboard": False, "dashboard_address": None})
    return kwargs


def job_script(system: str, options: Mapping[str, Any] | None = None) -> str:
    """The batch script each worker job of ``executor=system`` with ``options`` runs (nothing is submitted)."""
    cls = _cluster_class(system)
    kwargs = cluster_arguments(system, check_cluster_options(system, options))
    scheduler_options = kwargs.pop("scheduler_options", {})
    job = cls.job_cls("tcp://scheduler:8786", name="archtune-worker-0", **kwargs)
    del scheduler_options
    return str(job.job_script())


class JobQueueHandle:
    """A dask-jobqueue cluster of ``n_workers`` jobs for one search, and what keeps it at that size.

    Attributes:
        cluster: the ``dask_jobqueue`` cluster.
        client: a ``distributed.Client`` connected to it.
        adaptive: whether the cluster scales itself (``cluster.adapt``).
    """

    def __init__(self, cluster: Any, client: Any, n_workers: int, adaptive: bool, owned: bool):
        self.cluster = cluster
        self.client = client
        self.n_workers = n_workers
        self.adaptive = adaptive
        self.owned = owned

    def maintain(self) -> None:
        """Submit a job again for every worker of the spec whose job is gone (cancelled, preempted, timed out).

        The cluster drops a worker whose job ended (``distributed.deploy.lost-worker-timeout`` after
        the scheduler lost it); its spec entry stays, and ``_correct_state`` starts a job for it again.
        An adaptive cluster does this itself.
        """
        if self.adaptive:
            return
        cluster = self.cluster
        if set(cluster.worker_spec) - set(cluster.workers):
            cluster.loop.add_callback(cluster._correct_state)

    def describe(self, address: str, info: Mapping[str, Any]) -> str:
        """A worker as ``archtune status`` shows it: its name, batch job id and host."""
        name = str(info.get("name", address))
        job = getattr(
            self.cluster.workers.get(name) or self.cluster.workers.get(_spec_name(name)), "job_id", None
        )
        host = info.get("host", "")
        return f"{name} (job {job}, {host})" if job else f"{name} ({host})"

    def close(self) -> None:
        """Close the client; cancel the jobs when archtune started the cluster."""
        self.client.close()
        if self.owned:
            self.cluster.close()


def _spec_name(worker_name: str) -> str:
    return worker_name.rsplit("-", 1)[0] if worker_name.rsplit("-", 1)[-1].isdigit() else worker_name


def start_jobqueue_cluster(system: str, options: Mapping[str, Any] | None, n_workers: int) -> JobQueueHandle:
    """Start a dask-jobqueue cluster of ``n_workers`` jobs (submitted, not waited for) and a client to it.

    The scheduler runs in this process: when the driver dies the workers lose it and their jobs end
    after dask-jobqueue's ``death_timeout`` (60 s by default).
    """
    import dask
    from distributed import Client

    checked = check_cluster_options(system, options)
    cls = _cluster_class(system)
    with dask.config.set(SCHEDULER_CONFIG):
        cluster = cls(silence_logs=logging.ERROR, **cluster_arguments(system, checked))
    try:
        adapt = checked.get("adapt", False)
        if adapt:
            arguments = (
                dict(adapt) if isinstance(adapt, Mapping) else {"minimum_jobs": 0, "maximum_jobs": n_workers}
            )
            cluster.adapt(**arguments)
        else:
            cluster.scale(jobs=n_workers)
        client = Client(cluster)
    except BaseException:
        cluster.close()
        raise
    return JobQueueHandle(cluster, client, n_workers, adaptive=bool(adapt), owned=True)


def connect_cluster(cluster: Any) -> JobQueueHandle:
    """A client to a cluster the user started (a ``SLURMCluster`` ...); the cluster is left running at the end."""
    from distributed import Client

    adaptive = getattr(cluster, "_adaptive", None) is not None
    return JobQueueHandle(
        cluster, Client(cluster), len(getattr(cluster, "worker_spec", {})), adaptive, owned=False
    )
