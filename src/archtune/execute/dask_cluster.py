"""A local Dask cluster for a search: single-threaded worker processes, optionally one per GPU.

Workers are Dask nannies (a worker that dies is restarted by its nanny). With ``gpus=True`` worker i
gets the resource ``GPU=1`` and ``CUDA_VISIBLE_DEVICES=i``, so an evaluation submitted with
``resources={"GPU": 1}`` runs alone on its own device and sees it as ``cuda:0``.

The scheduler is told not to re-run a task whose worker died (``allowed-failures = 0``): the search
driver does the retrying itself (``SearchInstance(retries=...)``), so the retry count a user sets is
the one that happens. On a cluster the user started, Dask's own setting applies as well.
Each worker is sent only the evaluation it runs (``worker-saturation = 1.0``), so a free worker never
waits while another holds a second evaluation in its queue.

Example:
    >>> client = start_local_cluster(2, gpus=True)
    >>> import os
    >>> sorted(client.run(lambda: os.environ["CUDA_VISIBLE_DEVICES"]).values())
    ['0', '1']
    >>> stop_local_cluster(client)
"""

from __future__ import annotations

import logging
from typing import Any


def start_local_cluster(n_workers: int, gpus: bool = False) -> Any:
    """Start ``n_workers`` worker processes on this machine and return a connected ``distributed.Client``."""
    import dask
    from distributed import Client, Nanny, Scheduler, SpecCluster

    def worker(i: int) -> dict[str, Any]:
        options: dict[str, Any] = {"nthreads": 1, "host": "127.0.0.1", "silence_logs": logging.ERROR}
        if gpus:
            options["resources"] = {"GPU": 1}
            options["env"] = {"CUDA_VISIBLE_DEVICES": str(i)}
        return {"cls": Nanny, "options": options}

    scheduler = {
        "cls": Scheduler,
        "options": {"host": "127.0.0.1", "dashboard": False, "dashboard_address": None},
    }
    from archtune.execute.jobqueue import SCHEDULER_CONFIG

    with dask.config.set(SCHEDULER_CONFIG):
        cluster = SpecCluster(
            workers={f"archtune-worker-{i}": worker(i) for i in range(n_workers)},
            scheduler=scheduler,
            silence_logs=logging.ERROR,
            name="archtune",
        )
    client = Client(cluster)
    client.wait_for_workers(n_workers)
    return client


def stop_local_cluster(client: Any) -> None:
    """Close ``client`` and the cluster it was started with (if any)."""
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()
