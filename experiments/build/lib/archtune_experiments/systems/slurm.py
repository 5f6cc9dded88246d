"""Wall-clock speed-up of SLURM-job workers (``archtune bench slurm``).

A search with ``executor="slurm"`` on a sleep-costed objective (each evaluation sleeps ``unit_seconds``:
a stand-in for training that leaves the CPU free) is run with 1, 2 and 4 SLURM-job workers, and the
wall-clock time of each :meth:`~archtune.SearchInstance.run_search` is measured from the call to its
return: the jobs' submission and start-up, the driver's decisions and the cancelling of the jobs are
all included. The speed-up of k workers is the 1-worker time over the k-worker time, in one run of the
command on one machine.

It needs a SLURM that ``sbatch`` reaches: on a single machine, ``scripts/start_slurm.sh start`` and
``export SLURM_CONF=/tmp/archtune-slurm/slurm.conf`` (its node has 8 CPUs by default, so 4 one-core jobs
run side by side).

Example::

    archtune bench slurm --parallel-workers 1,2,4 --budget 16 --unit-seconds 10 --out benchmarks/results/slurm
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from archtune.errors import ConfigError


class SleepObjective:
    """An evaluation that sleeps ``seconds`` and reports which SLURM job ran it (picklable, importable on workers)."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __call__(self, encoding: Any) -> dict[str, Any]:
        time.sleep(self.seconds)
        return {"value": -abs(encoding[0] - 23) / 10, "job": os.environ.get("SLURM_JOB_ID")}


def _one_run(
    workers: int, budget: float, unit_seconds: float, folder: Path, options: dict[str, Any]
) -> dict[str, Any]:
    from archtune import SearchInstance, create_search_space

    space = folder / "line.space"
    if not space.exists():
        create_search_space("line", space, [(i,) for i in range(64)])
    search = SearchInstance(
        f"slurm{workers}",
        folder / f"w{workers}.search",
        str(space),
        hi_fi_eval=SleepObjective(unit_seconds),
        strategy="random",
        executor="slurm",
        cluster_options=options,
        progress=False,
    )
    epoch = time.time()
    start = time.perf_counter()
    search.run_search(eval_budget=budget, n_workers=workers)
    wall = time.perf_counter() - start
    history = search.history()
    search.close()
    busy = sum(h["duration"] for h in history)
    return {
        "workers": workers,
        "wall_s": wall,
        "evaluations": len(history),
        "failed": sum(h["status"] != "COMPLETE" for h in history),
        "jobs": len({h["metrics"].get("job") for h in history}),
        "utilisation": busy / (workers * wall),
        "slowest_job_start_s": _slowest_job_start(folder / f"w{workers}.search", epoch),
    }


def _slowest_job_start(path: Path, epoch: float) -> float:
    """Seconds from run_search's call to the start of the first evaluation of the job that started last.

    A job's first evaluation starts once the job runs, its worker has connected and has imported what
    the objective needs (archtune, torch): the job start-up a batch cluster costs.
    """
    from datetime import datetime

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT finished_at, duration, metrics FROM trials").fetchall()
    first: dict[str, float] = {}
    for finished_at, duration, metrics in rows:
        began = datetime.fromisoformat(finished_at.replace("Z", "+00:00")).timestamp() - duration
        job = str(json.loads(metrics).get("job"))
        first[job] = min(first.get(job, began), began)
    return max(first.values()) - epoch


def to_markdown(result: dict[str, Any]) -> str:
    """The table of a :func:`run_slurm_benchmark` result."""
    lines = [
        f"# SLURM-job workers: wall-clock speed-up (budget {result['budget']:g}, {result['unit_seconds']:g} s per "
        "evaluation)",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}; SLURM {result['slurm']} (single node, scripts/start_slurm.sh).  ",
        "Wall-clock from run_search's call to its return: job submission and start-up, the driver's decisions and "
        "the cancelling of the jobs included.",
        "",
        "| workers (SLURM jobs) | wall-clock | speed-up | evaluations | jobs used | worker utilisation | "
        "slowest job's first evaluation began after |",
        "|---|---|---|---|---|---|---|",
    ]
    base = next(
        r["wall_s"] for r in result["runs"] if r["workers"] == min(r["workers"] for r in result["runs"])
    )
    for r in result["runs"]:
        lines.append(
            f"| {r['workers']} | {r['wall_s']:.1f} s | {base / r['wall_s']:.2f}x | {r['evaluations']} | "
            f"{r['jobs']} | {100 * r['utilisation']:.0f}% | {r['slowest_job_start_s']:.1f} s |"
        )
    return "\n".join(lines) + "\n"


def run_slurm_benchmark(
    workers: list[int],
    budget: float,
    unit_seconds: float,
    out_dir: str | None,
    cores: int = 1,
    memory: str = "1GB",
) -> dict[str, Any]:
    """Run the search once per worker count; print the table and write ``slurm_speedup_b<budget>_u<unit_seconds>.{json,md}``."""
    if not shutil.which("sbatch"):
        raise ConfigError(
            "archtune bench slurm needs a SLURM (sbatch on PATH): on one machine run "
            "scripts/start_slurm.sh start and export SLURM_CONF=/tmp/archtune-slurm/slurm.conf"
        )
    import subprocess

    version = subprocess.run(["sbatch", "--version"], capture_output=True, text=True).stdout.strip()
    runs = []
    with tempfile.TemporaryDirectory(prefix="archtune-slurm-bench-") as tmp:
        options = {
            "cores": cores,
            "memory": memory,
            "walltime": "01:00:00",
            "death_timeout": 10,
            "log_directory": str(Path(tmp) / "jobs"),
        }
        for k in workers:
            runs.append(_one_run(k, budget, unit_seconds, Path(tmp), options))
            print(f"{k} worker(s): {runs[-1]['wall_s']:.1f} s", flush=True)
    base = next(r["wall_s"] for r in runs if r["workers"] == min(workers))
    for r in runs:
        r["speedup"] = base / r["wall_s"]
    result = {
        "budget": budget,
        "unit_seconds": unit_seconds,
        "runs": runs,
        "slurm": version,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "command": (
            f"archtune bench slurm --parallel-workers {','.join(map(str, workers))} --budget {budget:g} "
            f"--unit-seconds {unit_seconds:g}" + (f" --out {out_dir}" if out_dir else "")
        ),
    }
    table = to_markdown(result)
    print(table)
    if out_dir:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"slurm_speedup_b{budget:g}_u{unit_seconds:g}"
        (folder / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
        (folder / f"{stem}.md").write_text(table)
    return result
