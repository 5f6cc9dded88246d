"""The kill campaign: drivers SIGKILLed at random moments (in-process, process pool, Dask), a worker killed
too; after each kill the search is started again. Checked: no committed trial is lost or changed, no
evaluation is recorded (paid) twice, the budget is spent exactly, and the dead worker's evaluation is
retried, not lost.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from archtune import create_search_space
from search_files import stored_trials

DRIVER = """
import json, os, signal, sys, time
from archtune import SearchInstance

def objective(enc):
    time.sleep(0.05 + 0.01 * (enc[0] % 5))
    marker = os.path.join(os.path.dirname(sys.argv[1]), "worker-killed")
    if os.environ.get("KILL_WORKER") and not os.path.exists(marker):  # the first evaluation of the campaign
        with open(marker, "w") as f:
            f.write(json.dumps(list(enc), separators=(",", ":")))
        os.kill(os.getpid(), signal.SIGKILL)   # the worker running this evaluation dies
    return float(enc[0] % 11)

if __name__ == "__main__":
    search, space, executor, budget = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    s = SearchInstance("k", search, space, hi_fi_eval=objective, strategy="random", seed=5, progress=False,
                       executor=None if executor == "inline" else executor, retries=3)
    s.run_search(eval_budget=budget, n_workers=1 if executor == "inline" else 2)
"""


def _campaign(tmp_path, executor, kills, budget, kill_worker):
    tmp_path.mkdir()
    space = tmp_path / "line.space"
    create_search_space("line", space, [(i,) for i in range(40)])
    search = tmp_path / f"{executor}.search"
    (tmp_path / "driver.py").write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    if kill_worker:
        env["KILL_WORKER"] = "1"
    rng = random.Random(hash(executor) % 1000)
    seen: list = []
    killed = 0
    for attempt in range(kills + 1):
        # its own session: the kill takes the driver and everything it started, like a lost machine
        proc = subprocess.Popen(
            [sys.executable, str(tmp_path / "driver.py"), str(search), str(space), executor, str(budget)],
            env=env,
            start_new_session=True,
        )
        if attempt < kills:
            stored = len(stored_trials(search) or [])
            wait_for = stored + rng.randint(
                1, 3
            )  # a random moment: after 1-3 more trials, plus a random delay
            deadline = time.monotonic() + 240
            while (
                proc.poll() is None
                and time.monotonic() < deadline
                and len(stored_trials(search) or []) < wait_for
            ):
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 0.15))
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                killed += 1
        proc.wait(timeout=300)
        now = stored_trials(search) or []
        assert now[: len(seen)] == seen, "a committed trial was lost or changed"
        seen = now
        if proc.returncode == 0:
            break
    assert proc.returncode == 0
    keys = [(t[1], t[2]) for t in seen]
    assert len(keys) == budget and len(set(keys)) == len(keys), "an evaluation was recorded twice"
    assert all(t[3] == "COMPLETE" for t in seen)
    if kill_worker:
        assert (tmp_path / "worker-killed").exists()
        assert (tmp_path / "worker-killed").read_text() in [k for k, _ in keys]  # retried, not lost
    return killed


@pytest.mark.timeout(900)
def test_kill_campaign_in_process_pool_and_dask(tmp_path):
    kills = 0
    kills += _campaign(tmp_path / "inline", "inline", kills=4, budget=14, kill_worker=False)
    kills += _campaign(tmp_path / "process", "process", kills=4, budget=16, kill_worker=True)
    kills += _campaign(tmp_path / "dask", "dask", kills=3, budget=16, kill_worker=True)
    assert kills >= 10
