"""Evaluations leave nothing running: pool workers die with their driver, time-outs kill for real."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from archtune import ConfigError
from archtune.execute.evaluation import run_objective
from archtune.execute.executors import open_executor


def _alive(proc: psutil.Process) -> bool:
    """Whether ``proc`` (the very process, not a later one with its pid) still runs."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _left_running(procs: list[psutil.Process], within: float = 30.0) -> list[psutil.Process]:
    """The processes of ``procs`` still running after waiting up to ``within`` s for all to end."""
    deadline = time.monotonic() + within
    while any(_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [p for p in procs if _alive(p)]


def _kill(procs: list[psutil.Process]) -> None:
    for p in procs:
        if _alive(p):
            p.kill()


def _wait_for(condition, what: str, within: float = 180.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _marks(folder: Path) -> dict[int, int]:
    """``{objective pid: pid of the program it started}`` from the files the objectives wrote."""
    out = {}
    for f in folder.glob("*.pid"):
        text = f.read_text()
        if text.endswith("\n"):  # written completely
            out[int(f.stem)] = int(text)
    return out


def _runaway(enc):
    """Start a program, record both pids in the folder ``enc[0]``, then overrun any short limit."""
    child = subprocess.Popen(["sleep", "60"])
    Path(enc[0], f"{os.getpid()}.pid").write_text(f"{child.pid}\n")
    time.sleep(60)
    return 1.0


def _half(enc):
    return enc[0] / 2


# -- pool workers and their driver -------------------------------------------------------------------------

_OBJECTIVE_MODULE = """
import os, subprocess, time
from pathlib import Path


def slow(enc):
    child = subprocess.Popen(["sleep", "120"])
    Path(os.environ["MARKS"], f"{os.getpid()}.pid").write_text(f"{child.pid}\\n")
    time.sleep(120)
    return 0.0
"""

_DRIVER = """
import sys

import archtune
from slow_objective import slow

if __name__ == "__main__":  # the spawned workers import this script again
    folder, time_limit = sys.argv[1], None if sys.argv[2] == "none" else float(sys.argv[2])
    space = archtune.create_search_space("line", folder + "/line.space", encodings=[(i,) for i in range(20)])
    s = archtune.SearchInstance("d", folder + "/d.search", folder + "/line.space", hi_fi_eval=slow, hi_fi_cost=1,
                                strategy="random", progress=False, executor="process", time_limit=time_limit)
    s.run_search(eval_budget=4, n_workers=2)
"""


@pytest.mark.parametrize("time_limit", [None, 300.0])
def test_pool_workers_and_their_evaluations_die_with_a_killed_driver(tmp_path, time_limit):
    marks = tmp_path / "marks"
    marks.mkdir()
    (tmp_path / "slow_objective.py").write_text(_OBJECTIVE_MODULE)
    (tmp_path / "driver.py").write_text(textwrap.dedent(_DRIVER))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "MARKS": str(marks),
    }
    driver = subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), str(tmp_path), str(time_limit).lower()], env=env
    )
    started_here: list[psutil.Process] = []  # killed at the end, whatever the outcome
    try:

        def started() -> bool:
            assert driver.poll() is None, "the driver ended before its evaluations started (see its stderr)"
            return len(_marks(marks)) >= 2

        _wait_for(started, "two evaluations to start")
        workers = [p for p in psutil.Process(driver.pid).children() if "spawn_main" in " ".join(p.cmdline())]
        objectives = [psutil.Process(pid) for pid in _marks(marks)]
        programs = [psutil.Process(pid) for pid in _marks(marks).values()]
        started_here += workers + objectives + programs
        assert len(workers) == 2
        if time_limit is None:  # the objectives run in the workers themselves
            assert {p.pid for p in objectives} == {p.pid for p in workers}
            watched = workers
        else:  # each in a child of its worker, which takes what it started down with it
            assert {p.ppid() for p in objectives} == {p.pid for p in workers}
            watched = workers + objectives + programs
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        left = _left_running(watched)
        assert not left, f"still running 30 s after the driver was killed: {[p.cmdline() for p in left]}"
    finally:
        driver.kill()
        driver.wait()
        _kill(started_here)


# -- time limits ------------------------------------------------------------------------------------------


def test_an_overrunning_objective_is_killed_with_what_it_started(tmp_path):
    def runaway(enc):  # a closure: sent by cloudpickle, by value
        return _runaway([str(tmp_path)])

    out = run_objective(runaway, (1,), time_limit=1)
    assert not out.ok and out.error == "time limit of 1 s exceeded"
    ((objective, program),) = _marks(tmp_path).items()
    procs = [psutil.Process(pid) for pid in (objective, program) if psutil.pid_exists(pid)]
    try:
        assert objective != os.getpid(), "the objective ran in the caller's process"
        assert not _left_running(procs)
    finally:
        _kill([p for p in procs if p.pid != os.getpid()])


def test_objectives_under_the_limit_return_their_value_and_exceptions_their_traceback():
    offset = 0.5
    assert run_objective(lambda enc: enc[0] + offset, (2,), time_limit=60).value == 2.5
    out = run_objective(lambda enc: {"value": 1.0, "loss": offset}, (2,), time_limit=60)
    assert out.value == 1.0 and out.metrics == {"value": 1.0, "loss": 0.5}

    def boom(enc):
        raise RuntimeError(f"boom at {enc}")

    out = run_objective(boom, (3,), time_limit=60)
    assert not out.ok
    assert "Traceback (most recent call last)" in out.error and "RuntimeError: boom at (3,)" in out.error


def test_a_child_is_reused_after_normal_calls_and_replaced_after_a_time_out():
    def pid(enc):
        return {"value": 1.0, "pid": os.getpid()}

    first = run_objective(pid, (1,), time_limit=60).metrics["pid"]
    assert first != os.getpid(), "the objective ran in the caller's process"
    assert run_objective(lambda enc: 1 / 0, (1,), time_limit=60).error  # an exception keeps the child
    assert run_objective(pid, (1,), time_limit=60).metrics["pid"] == first  # imports are paid once
    assert not run_objective(lambda enc: time.sleep(60), (1,), time_limit=0.5).ok
    with contextlib.suppress(psutil.NoSuchProcess):  # killed (and reaped) at once, not left idle
        assert not _alive(psutil.Process(first))
    assert run_objective(pid, (1,), time_limit=60).metrics["pid"] not in (first, os.getpid())


def test_a_crash_of_the_objective_process_is_a_failed_outcome():
    caller = os.getpid()

    def crash(enc):
        if os.getpid() == caller:  # never take the test process down
            raise AssertionError("the objective ran in the caller's process")
        os._exit(3)

    out = run_objective(crash, (1,), time_limit=60)
    assert not out.ok and "exited with code 3" in out.error


def test_ctrl_c_and_sys_exit_inside_the_objective_are_raised_in_the_caller():
    def interrupted(enc):
        raise KeyboardInterrupt

    def exits(enc):
        sys.exit(3)

    with pytest.raises(KeyboardInterrupt):
        run_objective(interrupted, (1,), time_limit=60)
    with pytest.raises(SystemExit) as stop:
        run_objective(exits, (1,), time_limit=60)
    assert stop.value.code == 3


def test_an_objective_cloudpickle_cannot_send_is_a_config_error():
    lock = threading.Lock()

    def holds_a_lock(enc):
        with lock:
            return 1.0

    with pytest.raises(ConfigError, match="time_limit=1.*cloudpickle") as err:
        run_objective(holds_a_lock, (1,), time_limit=1)
    assert isinstance(err.value, ValueError) and "\n" not in str(err.value)


def test_time_limits_work_inside_process_pool_workers(tmp_path):
    with open_executor("process", 2) as handle:
        quick = handle.submit(run_objective, _half, (3,), "value", 60)
        slow = handle.submit(run_objective, _runaway, (str(tmp_path),), "value", 1)
        assert quick.result().value == 1.5
        out = slow.result()
        assert not out.ok and out.error == "time limit of 1 s exceeded"
        ((objective, program),) = _marks(tmp_path).items()
        procs = [psutil.Process(pid) for pid in (objective, program) if psutil.pid_exists(pid)]
        try:
            assert not _left_running(procs)
        finally:
            _kill(procs)
