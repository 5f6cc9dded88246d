"""Parallel and distributed evaluation: Dask LocalCluster, process pool, virtual clock, crashes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from archtune import ConfigError, SearchInstance, create_search_space
from archtune.bench.nb201 import LO_FI_COST, nb201_objectives
from archtune.execute.executors import open_executor
from archtune.execute.virtual_clock import VirtualClockExecutor
from archtune.storage.sqlite import SQLiteStorage


def _line_space(tmp_path, n=30):
    path = tmp_path / "line.space"
    create_search_space("line", path, [(i,) for i in range(n)])
    return str(path)


def _peak(enc):
    return -abs(enc[0] - 17) / 10


def _with_pid(enc):
    time.sleep(0.2)  # long enough that both workers get work
    return {"value": _peak(enc), "pid": os.getpid()}


def _keys(history):
    return [(tuple(h["encoding"]), h["fidelity"]) for h in history]


def test_dask_local_cluster_search_completes_on_two_workers(tmp_path):
    s = SearchInstance(
        "d",
        tmp_path / "d.search",
        _line_space(tmp_path),
        hi_fi_eval=_with_pid,
        strategy="random",
        executor="dask",
        progress=False,
    )
    s.run_search(eval_budget=10, n_workers=2)
    history = s.history()
    s.close()
    assert len(history) == 10 and all(h["status"] == "COMPLETE" for h in history)
    assert len(set(_keys(history))) == 10
    assert len({h["metrics"]["pid"] for h in history}) == 2  # really two worker processes
    assert os.getpid() not in {h["metrics"]["pid"] for h in history}


def _kill_own_worker_once(marker_dir):
    def objective(enc):
        marker = os.path.join(marker_dir, f"killed-{enc[0]}")
        if enc[0] == 17 and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies mid-evaluation
        return _peak(enc)

    return objective


def _kill_own_worker_always(enc):
    if enc[0] == 17:
        os.kill(os.getpid(), signal.SIGKILL)
    return _peak(enc)


# This test once hung: a finished result lost with its worker made Client.get_executor()'s future
# wait forever (see archtune.execute.dask_executor). The timeout turns a regression into a failure.
@pytest.mark.timeout(300)
def test_dask_worker_killed_mid_evaluation_does_not_lose_the_trial(tmp_path):
    space = _line_space(tmp_path, n=20)
    s = SearchInstance(
        "k",
        tmp_path / "k.search",
        space,
        hi_fi_eval=_kill_own_worker_once(str(tmp_path)),
        strategy="random",
        executor="dask",
        progress=False,
    )
    s.run_search(eval_budget=20, n_workers=2)  # the whole space: encoding 17 must be evaluated
    history = s.history()
    s.close()
    assert (tmp_path / "killed-17").exists()  # the worker did die
    assert Counter(h["encoding"][0] for h in history)[17] == 1
    assert all(h["status"] == "COMPLETE" for h in history) and s.best() == ((17,), 0.0)

    # a worker that dies every time: retried twice, then recorded as failed; the search goes on
    s = SearchInstance(
        "a",
        tmp_path / "a.search",
        space,
        hi_fi_eval=_kill_own_worker_always,
        strategy="random",
        executor="dask",
        retries=2,
        progress=False,
    )
    s.run_search(eval_budget=20, n_workers=2)
    failed = [h for h in s.history() if h["status"] == "FAILED"]
    s.close()
    assert [h["encoding"][0] for h in failed] == [17] and "worker lost 3 times" in failed[0]["error"]
    assert len(s.history()) == 20


def _kill_once_in_pool(enc, marker_dir):
    marker = os.path.join(marker_dir, "pool-killed")
    if enc[0] == 5 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return _peak(enc)


class _PoolObjective:
    """Picklable for a process pool (a lambda is not)."""

    def __init__(self, marker_dir):
        self.marker_dir = marker_dir

    def __call__(self, enc):
        return _kill_once_in_pool(enc, self.marker_dir)


def test_process_pool_rebuilt_after_a_worker_dies(tmp_path):
    s = SearchInstance(
        "p",
        tmp_path / "p.search",
        _line_space(tmp_path, n=12),
        hi_fi_eval=_PoolObjective(str(tmp_path)),
        strategy="random",
        executor="process",
        progress=False,
    )
    s.run_search(eval_budget=12, n_workers=2)
    history = s.history()
    s.close()
    assert (tmp_path / "pool-killed").exists()
    assert sorted(h["encoding"][0] for h in history) == list(range(12))
    assert all(h["status"] == "COMPLETE" for h in history)


def test_submit_to_a_pool_that_broke_before_the_call_rebuilds_it():
    # The race behind a CI failure: one worker dies, the pool marks itself broken, and the search submits
    # its next evaluation before collecting the dead worker's future. That submit must not raise.
    with open_executor("process", n_workers=1) as handle:
        broken = handle.executor
        with pytest.raises(BrokenProcessPool):
            handle.submit(os._exit, 1).result(timeout=60)
        assert handle.submit(abs, -3).result(timeout=60) == 3
        assert handle.executor is not broken


_DRIVER = textwrap.dedent("""
    import sys, time
    from archtune import SearchInstance

    def objective(enc):
        time.sleep(0.4)
        return -abs(enc[0] - 17) / 10

    if __name__ == "__main__":
        s = SearchInstance("r", sys.argv[1], sys.argv[2], hi_fi_eval=objective, strategy="random",
                           executor="dask", progress=False)
        s.run_search(eval_budget=16, n_workers=2)
        s.close()
""")


def test_driver_killed_then_resumed_redispatches_in_flight_and_pays_nothing_twice(tmp_path):
    space = _line_space(tmp_path)
    search = tmp_path / "r.search"
    (tmp_path / "driver.py").write_text(_DRIVER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # its own session: the kill takes the driver and its Dask workers at once, like a lost machine
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), str(search), space], env=env, start_new_session=True
    )
    pending_at_kill, n_done = [], 0
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.1)
        if not search.exists():
            continue
        try:
            with sqlite3.connect(f"file:{search}?mode=ro", uri=True) as conn:
                n_done = conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
                pending_at_kill = [r[0] for r in conn.execute("SELECT encoding FROM pending")]
        except sqlite3.OperationalError:
            continue
        if n_done >= 4 and pending_at_kill:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the driver finished before it could be killed"
    storage = SQLiteStorage(search, read_only=True)
    pending_at_kill = [p.key for p in storage.pending()]
    done_at_kill = [t.key for t in storage.trials()]
    storage.close()
    assert pending_at_kill and not set(pending_at_kill) & set(done_at_kill)
    from archtune.search.instance import search_summary

    assert len(search_summary(search)["in_flight"]) == len(pending_at_kill)  # what `archtune status` shows

    from_driver = {}
    exec(compile(_DRIVER.replace('if __name__ == "__main__":', "if False:"), "driver", "exec"), from_driver)
    s = SearchInstance(
        "r",
        search,
        space,
        hi_fi_eval=from_driver["objective"],
        strategy="random",
        executor="dask",
        progress=False,
    )
    s.run_search(eval_budget=16, n_workers=2)
    history = s.history()
    s.close()
    keys = [str(list(h["encoding"])).replace(" ", "") for h in history]
    assert len(history) == 16 and len(set(keys)) == 16  # no duplicates, budget spent exactly
    assert keys[: len(done_at_kill)] == [k.replace(" ", "") for k in done_at_kill]
    assert set(k.replace(" ", "") for k in pending_at_kill) <= set(keys[len(done_at_kill) :])
    assert SQLiteStorage(search, read_only=True).pending() == []


@pytest.mark.parametrize("strategy", ["random", "rea", "ls", "bo", "spline"])
def test_every_strategy_keeps_k_in_flight_without_duplicates(strategy, nb201_small, tmp_path):
    encodings, metrics = nb201_small
    space = create_search_space("nb", None, encodings, pretraining_data=metrics)
    hi, lo = nb201_objectives("cifar10")
    if strategy == "spline":  # the spline needs numeric knobs: a 12 x 12 grid
        space = create_search_space("grid", None, [(a, b) for a in range(12) for b in range(12)])
        hi = lambda enc: -((enc[0] - 7) ** 2) - (enc[1] - 3) ** 2  # noqa: E731
    in_flight, peak = [0], [0]
    changed = threading.Condition()

    def counted(fn):
        # each evaluation waits (up to 2 s) for two others to be in flight beside it: on a busy machine a
        # fixed sleep can end before the next thread starts, so overlap is waited for, not hoped for; a
        # dispatcher that kept fewer in flight leaves every wait to time out and the peak below 3
        def objective(enc):
            with changed:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
                changed.notify_all()
                changed.wait_for(lambda: in_flight[0] >= 3, timeout=2.0)
            time.sleep(0.01)
            with changed:
                in_flight[0] -= 1
            return fn(enc)

        return objective

    two_fidelities = strategy == "bo"
    with ThreadPoolExecutor(4) as pool:
        s = SearchInstance(
            "t",
            tmp_path / "t.search",
            search_space=space,
            hi_fi_eval=counted(hi),
            strategy=strategy,
            lo_fi_eval=counted(lo) if two_fidelities else None,
            lo_fi_cost=LO_FI_COST if two_fidelities else None,
            executor=pool,
            progress=False,
        )
        s.run_search(eval_budget=8 if two_fidelities else 24, n_workers=4)
        history = s.history()
        s.close()
    keys = _keys(history)
    assert (
        len(keys) == len(set(keys))
        and sum(h["cost"] for h in history) <= (8 if two_fidelities else 24) + 1e-9
    )
    assert peak[0] >= 3  # evaluations overlapped (4 slots; a thread may start late)


def test_virtual_clock_releases_results_in_finish_order(tmp_path):
    space = _line_space(tmp_path, n=40)
    durations = {i: 1.0 + (i * 7) % 5 for i in range(40)}
    starts = {}
    clock = VirtualClockExecutor(duration=lambda outcome: outcome.metrics["seconds"])

    def objective(enc):
        starts[enc[0]] = clock.now
        return {"value": _peak(enc), "seconds": durations[enc[0]]}

    s = SearchInstance(
        "v",
        tmp_path / "v.search",
        space,
        hi_fi_eval=objective,
        strategy="random",
        executor=clock,
        progress=False,
    )
    s.run_search(eval_budget=20, n_workers=4)
    history = s.history()
    s.close()
    finish = [starts[h["encoding"][0]] + durations[h["encoding"][0]] for h in history]
    assert finish == sorted(finish)  # completion order is virtual finish order
    busy = sum(durations[h["encoding"][0]] for h in history)
    assert busy / 4 <= clock.now < busy / 4 + max(durations.values())  # four workers kept busy
    assert sorted(starts.values())[:4] == [0.0] * 4


def test_unknown_executor_and_negative_retries_are_refused(tmp_path):
    space = _line_space(tmp_path)
    with pytest.raises(ConfigError, match="unknown executor 'threads'"):
        open_executor("threads")
    with pytest.raises(ConfigError, match="retries"):
        SearchInstance("x", tmp_path / "x.search", space, hi_fi_eval=_peak, retries=-1, progress=False)
    assert np.isfinite(_peak((3,)))


def _fail(_):
    raise ValueError("boom")


def test_dask_executor_settles_from_task_state_and_cancels_tasks():
    from distributed import Client, LocalCluster

    from archtune.execute.dask_executor import DaskExecutor

    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster,
        Client(cluster) as client,
    ):
        executor = DaskExecutor(client)
        ok, bad = executor.submit(pow, 3, 2), executor.submit(_fail, 0)
        settled: set = set()
        while len(settled) < 2:
            settled |= executor.wait_first([f for f in (ok, bad) if f not in settled])
        assert ok.result() == 9 and isinstance(bad.exception(), ValueError)
        # a cancelled future cancels its Dask task (run_search cancels abandoned evaluations this way)
        slow = executor.submit(time.sleep, 3)
        task = executor._tasks[slow]
        assert slow.cancel()
        deadline = time.time() + 120  # a wait, not a speed check: it ends as soon as the task is cancelled
        while task.status != "cancelled" and time.time() < deadline:
            time.sleep(0.05)
        assert task.status == "cancelled"
        assert executor.wait_first([slow]) == {slow} and not executor._tasks  # settled, nothing left tracked
