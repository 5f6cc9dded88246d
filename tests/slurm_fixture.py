"""A real single-node SLURM for the tests: scripts/start_slurm.sh installs (when missing) and starts it.

The session fixture :func:`slurm` starts munged, slurmctld and slurmd once (or reuses a SLURM the script
already started in the same state folder), points ``SLURM_CONF`` at it for the test process and what it
starts (sbatch, squeue, scancel, dask-jobqueue), and stops the daemons at the end when it started them.
Tests skip, saying why, only where the packages are missing and cannot be installed (not root, no apt).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "start_slurm.sh"
STATE_DIR = os.environ.get("ARCHTUNE_SLURM_DIR", "/tmp/archtune-slurm")


def _installable() -> str | None:
    """Why SLURM cannot be had here, or None."""
    if all(shutil.which(p) for p in ("slurmctld", "slurmd", "munged", "sbatch")):
        return None if os.geteuid() == 0 else "the SLURM tests start slurmctld/slurmd/munged and need root"
    if os.geteuid() != 0:
        return (
            "slurm-wlm and munge are not installed and this is not root (apt-get install -y slurm-wlm munge)"
        )
    if not shutil.which("apt-get"):
        return "slurm-wlm and munge are not installed and there is no apt-get to install them"
    return None


def squeue(*args: str) -> list[str]:
    """Lines of ``squeue -h`` (job id and state by default) for this cluster."""
    out = subprocess.run(
        ["squeue", "-h", *(args or ("-o", "%i %T %j"))], capture_output=True, text=True, check=True
    )
    return [line for line in out.stdout.splitlines() if line.strip()]


def wait_until(predicate, timeout: float, every: float = 0.2) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False). Not a speed check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


@pytest.fixture(scope="session")
def slurm():
    """The state folder of a running single-node SLURM (partition ``debug``, node ``archtune``)."""
    reason = _installable()
    if reason:
        pytest.skip(f"no SLURM for the SLURM tests: {reason}")
    env = {**os.environ, "ARCHTUNE_SLURM_CPUS": os.environ.get("ARCHTUNE_SLURM_CPUS", "8")}
    was_running = (
        subprocess.run(["bash", str(SCRIPT), "status", STATE_DIR], env=env, capture_output=True).returncode
        == 0
    )
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", STATE_DIR], env=env, capture_output=True, text=True, timeout=900
    )
    if started.returncode != 0:
        if "cannot install" in started.stderr or "no apt-get" in started.stderr:
            pytest.skip(f"no SLURM for the SLURM tests: {started.stderr.strip()}")
        pytest.fail(f"scripts/start_slurm.sh could not start SLURM:\n{started.stdout}\n{started.stderr}")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = os.path.join(STATE_DIR, "slurm.conf")
    try:
        yield STATE_DIR
    finally:
        subprocess.run(["scancel", "--quiet", "--name=archtune-worker"], check=False)
        if not was_running:
            subprocess.run(
                ["bash", str(SCRIPT), "stop", STATE_DIR], env=env, capture_output=True, check=False
            )
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
