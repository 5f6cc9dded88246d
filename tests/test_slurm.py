"""Searches on a real SLURM (a single node on this machine, see tests/slurm_fixture.py) through dask-jobqueue.

Each Dask worker is a SLURM job. Checked against what SLURM really does: two job workers finish a search,
``scancel`` of a worker job mid-evaluation, the search left with no worker at all, the driver SIGKILLed and
started again, and (slow) a job killed at its walltime mid-evaluation.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import slurm_fixture
from archtune import SearchInstance, create_search_space
from archtune.execute.dask_executor import NoWorkersError
from archtune.search.instance import search_summary
from archtune.storage.sqlite import SQLiteStorage
from slurm_fixture import squeue, wait_until

# one SLURM for all of them: scripts/test.sh runs pytest-xdist with --dist loadfile, so they run in one
# test process, one after another (the preemption test's urgent job would preempt another test's workers)

slurm = slurm_fixture.slurm  # the session's SLURM (started once, stopped at the end)

TESTS = str(Path(__file__).resolve().parent)
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _options(tmp_path, **extra):
    """Small jobs whose workers import this file (objectives travel by reference) and log to tmp_path."""
    return {
        "cores": 1,
        "memory": "1GB",
        "walltime": "00:10:00",
        "death_timeout": 5,
        "log_directory": str(tmp_path / "jobs"),
        "job_script_prologue": [f"export PYTHONPATH={TESTS}:{SRC}"],
        **extra,
    }


def _space(tmp_path, n=20):
    path = tmp_path / "line.space"
    create_search_space("line", path, [(i,) for i in range(n)])
    return str(path)


def _where():
    """Facts about the worker running this evaluation."""
    from distributed import get_worker

    return {"job": os.environ.get("SLURM_JOB_ID"), "nthreads": get_worker().state.nthreads}


def sleepy(enc):
    time.sleep(1.0)
    return {"value": -abs(enc[0] - 7) / 10, **_where()}


def _our_jobs():
    return squeue("-n", "archtune-worker", "-o", "%i %T")


@pytest.mark.usefixtures("slurm")
def test_search_on_two_slurm_job_workers_finishes_and_status_shows_the_workers(tmp_path):
    path = tmp_path / "two.search"
    s = SearchInstance(
        "two",
        path,
        _space(tmp_path),
        hi_fi_eval=sleepy,
        strategy="random",
        executor="slurm",
        cluster_options=_options(tmp_path),
        progress=False,
    )
    seen: list[list[str]] = []
    stop = threading.Event()

    def watch():  # what `archtune status` shows while the search runs, from another reader
        while not stop.is_set():
            # the file may be mid-write or not created yet: look again
            with contextlib.suppress(Exception):
                seen.append([p["worker"] for p in search_summary(path)["in_flight"] if p["worker"]])
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        s.run_search(eval_budget=8, n_workers=2)
    finally:
        stop.set()
        watcher.join()
    history = s.history()
    s.close()
    assert len(history) == 8 and all(h["status"] == "COMPLETE" for h in history)
    assert len({tuple(h["encoding"]) for h in history}) == 8
    jobs = {h["metrics"]["job"] for h in history}
    assert len(jobs) == 2 and None not in jobs  # two SLURM jobs did the work
    assert {h["metrics"]["nthreads"] for h in history} == {1}  # one evaluation at a time per job
    both = [w for w in seen if len(set(w)) == 2]
    assert both, f"status never showed two evaluations on two workers: {seen[-5:]}"
    assert {label.split("(job ")[1].split(",")[0] for label in both[0]} <= jobs  # labels name the jobs
    assert wait_until(lambda: not _our_jobs(), 60), "the worker jobs were not cancelled after the search"
    out = subprocess.run(
        [sys.executable, "-m", "archtune.cli", "status", str(path)], capture_output=True, text=True
    )
    assert out.returncode == 0 and "trials: 8" in out.stdout


def interrupt_me(enc):
    """Encoding 5 leaves a marker per start (``started-5-<job>-<n>``) and runs long enough to be
    interrupted; the others are quick."""
    if enc[0] == 5:
        folder = Path(os.environ["ARCHTUNE_TEST_DIR"])
        marker = folder / f"started-5-{os.environ['SLURM_JOB_ID']}-{len(list(folder.glob('started-5-*')))}"
        marker.touch()
        time.sleep(4.0)
    else:
        time.sleep(0.5)
    return {"value": -abs(enc[0] - 5) / 10, **_where()}


def _search_interrupted_at_5(tmp_path, interrupt) -> tuple[list[dict], list[str]]:
    """The whole 10-encoding space on 2 job workers, ``interrupt(job)`` called (in a thread) once
    encoding 5 started in that job; returns the history and what ``interrupt`` returned."""
    options = _options(
        tmp_path,
        job_script_prologue=[f"export PYTHONPATH={TESTS}:{SRC}", f"export ARCHTUNE_TEST_DIR={tmp_path}"],
    )
    s = SearchInstance(
        "i",
        tmp_path / "i.search",
        _space(tmp_path, n=10),
        hi_fi_eval=interrupt_me,
        strategy="random",
        executor="slurm",
        cluster_options=options,
        retries=2,
        progress=False,
    )
    done: list[str] = []

    def interrupt_when_5_starts():
        if wait_until(lambda: list(tmp_path.glob("started-5-*")), 120, every=0.05):
            done.append(interrupt(next(tmp_path.glob("started-5-*")).name.split("-")[2]))

    thread = threading.Thread(target=interrupt_when_5_starts, daemon=True)
    thread.start()
    s.run_search(eval_budget=10, n_workers=2)  # the whole space: encoding 5 must be evaluated
    thread.join()
    history = s.history()
    s.close()
    assert done, "encoding 5 never started"
    assert Counter(h["encoding"][0] for h in history) == {i: 1 for i in range(10)}  # none lost, none twice
    assert all(h["status"] == "COMPLETE" for h in history)
    assert len(list(tmp_path.glob("started-5-*"))) >= 2  # it really started again
    return history, done


@pytest.mark.usefixtures("slurm")
def test_scancel_of_a_worker_job_mid_evaluation_is_retried_not_lost_not_duplicated(tmp_path):
    def cancel(job):
        subprocess.run(["scancel", job], check=True)
        return job

    history, cancelled = _search_interrupted_at_5(tmp_path, cancel)
    five = next(h for h in history if h["encoding"][0] == 5)
    assert five["metrics"]["job"] != cancelled[0]  # finished by another job than the cancelled one


@pytest.mark.usefixtures("slurm")
def test_worker_jobs_preempted_by_a_higher_priority_job_are_survived(tmp_path):
    # the test SLURM preempts by partition priority (scripts/start_slurm.sh): a job of partition "urgent"
    # that needs every CPU of the node takes them from both worker jobs mid-evaluation
    cpus = os.environ.get("ARCHTUNE_SLURM_CPUS", "8")

    def preempt(job):
        out = subprocess.run(
            [
                "sbatch",
                "--parsable",
                "-p",
                "urgent",
                "-J",
                "archtune-urgent",
                "-n",
                cpus,
                "-o",
                "/dev/null",
                "--wrap",
                "sleep 3",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip().split(";")[0]

    _, preemptor = _search_interrupted_at_5(tmp_path, preempt)
    log = (Path(slurm_fixture.STATE_DIR) / "slurmctld.log").read_text(errors="replace")
    preempted = [
        line for line in log.splitlines() if f"to reclaim resources for JobId={preemptor[0]}" in line
    ]
    assert preempted, "SLURM never preempted a worker job"  # "preempted JobId=N has been requeued ..."
    assert wait_until(lambda: not _our_jobs(), 60), "worker jobs (requeued ones included) outlived the search"


@pytest.mark.usefixtures("slurm")
def test_every_worker_gone_stops_with_a_clear_error_and_the_search_resumes(tmp_path):
    path = tmp_path / "g.search"
    space = _space(tmp_path, n=12)
    s = SearchInstance(
        "g",
        path,
        space,
        hi_fi_eval=sleepy,
        strategy="random",
        executor="slurm",
        cluster_options=_options(tmp_path, worker_timeout=6),
        progress=False,
    )

    def take_every_worker_away():  # no job may start again, and the running ones are cancelled
        wait_until(lambda: path.exists() and len(SQLiteStorage(path, read_only=True).trials()) >= 2, 120)
        subprocess.run(["scontrol", "update", "partitionname=debug", "state=down"], check=True)
        subprocess.run(["scancel", "--name=archtune-worker"], check=True)

    taker = threading.Thread(target=take_every_worker_away, daemon=True)
    taker.start()
    try:
        with pytest.raises(NoWorkersError, match="no Dask worker for 6 s"):
            s.run_search(eval_budget=8, n_workers=2)
    finally:
        taker.join()
        subprocess.run(["scontrol", "update", "partitionname=debug", "state=up"], check=True)
    done = len(s.history())
    pending = SQLiteStorage(path, read_only=True).pending()
    assert 2 <= done < 8 and pending  # stopped early; what was in flight is still recorded as dispatched
    s.run_search(eval_budget=8, n_workers=2)  # the partition is back: resumed, the rest done
    history = s.history()
    s.close()
    assert len(history) == 8 and len({tuple(h["encoding"]) for h in history}) == 8
    assert (
        all(h["status"] == "COMPLETE" for h in history) and not SQLiteStorage(path, read_only=True).pending()
    )


# No `if __name__ == "__main__":` guard: SLURM workers never import the driver script, so none is needed.
_DRIVER = textwrap.dedent("""
    import json, os, sys, time
    from archtune import SearchInstance

    def objective(enc):
        time.sleep(1.5)
        return {"value": -abs(enc[0] - 7) / 10, "job": os.environ.get("SLURM_JOB_ID")}

    s = SearchInstance("r", sys.argv[1], sys.argv[2], hi_fi_eval=objective, strategy="random", executor="slurm",
                       cluster_options=json.loads(sys.argv[3]), progress=False)
    s.run_search(eval_budget=8, n_workers=2)
    s.close()
""")


def _counts(path):
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return (
                conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0],
            )
    except sqlite3.Error:
        return 0, 0


@pytest.mark.usefixtures("slurm")
def test_driver_sigkilled_then_restarted_reconnects_to_new_jobs_and_pays_nothing_twice(tmp_path):
    space = _space(tmp_path)
    path = tmp_path / "r.search"
    (tmp_path / "driver.py").write_text(_DRIVER)
    options = json.dumps(_options(tmp_path))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, str(tmp_path / "driver.py"), str(path), space, options]
    proc = subprocess.Popen(command, env=env)
    assert wait_until(lambda: _counts(path)[0] >= 2 and _counts(path)[1] > 0 or proc.poll() is not None, 180)
    proc.send_signal(signal.SIGKILL)  # the driver only: its worker jobs live on in SLURM, without a scheduler
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the driver finished before it could be killed"
    storage = SQLiteStorage(path, read_only=True)
    done_at_kill = [t.key for t in storage.trials()]
    pending_at_kill = [p.key for p in storage.pending()]
    old_jobs = {t.metrics["job"] for t in storage.trials()}
    storage.close()
    assert pending_at_kill and not set(pending_at_kill) & set(done_at_kill)

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    storage = SQLiteStorage(path, read_only=True)
    trials = storage.trials()
    assert not storage.pending()
    storage.close()
    keys = [t.key for t in trials]
    assert len(keys) == 8 and len(set(keys)) == 8  # budget spent exactly, nothing recorded twice
    assert keys[: len(done_at_kill)] == done_at_kill and set(pending_at_kill) <= set(keys)
    assert {t.metrics["job"] for t in trials[len(done_at_kill) :]}.isdisjoint(old_jobs)  # new worker jobs
    # the orphaned jobs of the killed driver end by themselves (their workers' death_timeout)
    assert wait_until(lambda: not _our_jobs(), 120), f"jobs left behind: {_our_jobs()}"


def checkpointed(enc):
    """50 s of 'training' that saves its progress every second and continues from it when run again."""
    state = Path(os.environ["ARCHTUNE_TEST_DIR"]) / f"ckpt-{enc[0]}.json"
    done = json.loads(state.read_text())["seconds"] if state.exists() else 0
    resumed_from = done
    while done < 50:
        time.sleep(1.0)
        done += 1
        state.write_text(json.dumps({"seconds": done, "job": os.environ["SLURM_JOB_ID"]}))
    return {"value": float(enc[0]), "resumed_from": resumed_from, **_where()}


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.usefixtures("slurm")
def test_a_job_past_its_walltime_mid_evaluation_is_retried_from_its_checkpoint(tmp_path):
    # SLURM counts walltime in minutes: a 1-minute job running 50-s evaluations is killed during its second
    options = _options(
        tmp_path,
        walltime="00:01:00",
        job_script_prologue=[f"export PYTHONPATH={TESTS}:{SRC}", f"export ARCHTUNE_TEST_DIR={tmp_path}"],
    )
    s = SearchInstance(
        "w",
        tmp_path / "w.search",
        _space(tmp_path, n=4),
        hi_fi_eval=checkpointed,
        strategy="random",
        executor="slurm",
        cluster_options=options,
        retries=2,
        progress=False,
    )
    s.run_search(eval_budget=2, n_workers=1)
    history = s.history()
    s.close()
    assert len(history) == 2 and all(h["status"] == "COMPLETE" for h in history)
    assert len({tuple(h["encoding"]) for h in history}) == 2
    first, second = history
    assert first["metrics"]["resumed_from"] == 0
    assert second["metrics"]["resumed_from"] > 0  # continued from its checkpoint ...
    assert second["metrics"]["job"] != first["metrics"]["job"]  # ... in a new job
    state = subprocess.run(
        ["scontrol", "show", "job", first["metrics"]["job"]], capture_output=True, text=True
    ).stdout
    assert "JobState=TIMEOUT" in state, state


def test_bad_cluster_options_are_refused_before_the_search_file_is_written(tmp_path):
    from archtune import ConfigError
    from archtune.execute.jobqueue import job_script

    space = _space(tmp_path)
    for executor, options, message in [
        ("slurm", {"gpus": 1}, "unknown cluster_options key 'gpus'.*gpus_per_evaluation"),
        ("slurm", {"cores": 0}, r"cluster_options\['cores'\] must be at least 1"),
        ("slurm", {"processes": 4}, "fixed by archtune"),
        ("slurm", {"walltime": 60}, "must be a string"),
        ("dask", {"cores": 2}, "cluster_options go with executor= one of"),
    ]:
        with pytest.raises(ConfigError, match=message):
            SearchInstance(
                "b",
                tmp_path / "b.search",
                space,
                hi_fi_eval=sleepy,
                executor=executor,
                cluster_options=options,
                progress=False,
            )
        assert not (tmp_path / "b.search").exists()
    # dask-jobqueue's own arguments pass through, archtune's are translated into the job script
    script = job_script(
        "slurm",
        {
            "gpus_per_evaluation": 2,
            "job_script_prologue": ["module load cuda"],
            "job_extra_directives": ["--constraint=a100"],
        },
    )
    assert "#SBATCH --gres=gpu:2" in script and "#SBATCH --constraint=a100" in script
    assert "module load cuda" in script and "--resources GPU=2" in script


@pytest.mark.slow
@pytest.mark.usefixtures("slurm")
def test_adaptive_cluster_scales_jobs_with_the_load(tmp_path):
    s = SearchInstance(
        "a",
        tmp_path / "a.search",
        _space(tmp_path),
        hi_fi_eval=sleepy,
        strategy="random",
        executor="slurm",
        cluster_options=_options(tmp_path, adapt=True),
        progress=False,
    )
    s.run_search(eval_budget=6, n_workers=2)
    history = s.history()
    s.close()
    assert len(history) == 6 and all(h["status"] == "COMPLETE" for h in history)
    assert {h["metrics"]["job"] for h in history} - {None}  # adaptive jobs did the work
    assert wait_until(lambda: not _our_jobs(), 60)
