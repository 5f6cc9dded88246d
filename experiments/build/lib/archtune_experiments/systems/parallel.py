"""Asynchronous parallel BO on NAS-Bench-201 with simulated training times (``archtune bench parallel``).

Each evaluation is a table lookup that "trains" for a simulated time: ``unit_seconds`` times the
fidelity's cost (1 for 200 epochs, 12/200 for 12 epochs) times the cell's relative training cost,
taken as its measured batch-256 GPU latency (``lat_1080ti_256``) over the mean of all cells (so bigger
cells train longer and workers finish out of order, as in a real search).

Two clocks:

- ``virtual``: the search driver runs k simulated workers on a virtual clock
  (:class:`~archtune.execute.virtual_clock.VirtualClockExecutor`): results arrive in the order k real
  workers would deliver them, with no waiting. Measures units to the optimum and simulated time to it,
  over many seeds. The driver's own time (refitting the surrogate) is not counted here.
- ``real``: k Dask worker processes really sleep for the simulated time; wall-clock time to spend the
  budget is measured with the driver's own time included (the speed-up a user would see).

Example::

    archtune bench parallel --clock virtual --dataset cifar100 --workers 1,2,4 --seeds 30 --budget 40 --stop-at-optimum
    archtune bench parallel --clock real --dataset cifar100 --workers 1,2,4 --seeds 3 --budget 8 --unit-seconds 30
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archtune.bench.nb201 import LO_FI_COST
from archtune.datasets.nb201 import DATASETS, load_nb201
from archtune.errors import ConfigError
from archtune.report.benchmarks import cost_to_target, format_cost
from archtune.space.encoding import encoding_key
from archtune.space.search_space import SearchSpace
from archtune.spaces.nb201 import nb201_space
from archtune_experiments.tabular.runner import recorded_runs

COST_COLUMN = "lat_1080ti_256"
CLOCKS = ("virtual", "real")


@functools.cache
def _lookup() -> tuple[dict[str, int], np.ndarray]:
    """Row of each cell and its relative training cost (mean 1)."""
    table = load_nb201()
    cost = table.column(COST_COLUMN)
    return {encoding_key(e): i for i, e in enumerate(table.encodings)}, cost / cost.mean()


class SimulatedTraining:
    """Objective: the cell's accuracy at one fidelity, after sleeping (real clock) or reporting (virtual) its time.

    Picklable (Dask ships it to worker processes); the table is loaded once per process.

    Example:
        >>> hi = SimulatedTraining("cifar10", "hi", unit_seconds=100.0, sleep=False)
        >>> r = hi(load_nb201().encodings[6111]); round(r["value"], 3), r["seconds"] > 0
        (94.373, True)
    """

    def __init__(self, dataset: str, fidelity: str, unit_seconds: float, sleep: bool):
        self.column = DATASETS[dataset][0 if fidelity == "hi" else 1]
        self.cost = 1.0 if fidelity == "hi" else LO_FI_COST
        self.unit_seconds, self.sleep = unit_seconds, sleep

    def __call__(self, encoding: Any) -> dict[str, float]:
        rows, relative = _lookup()
        row = rows[encoding_key(tuple(encoding))]
        seconds = float(self.unit_seconds * self.cost * relative[row])
        if self.sleep:
            time.sleep(seconds)
        return {"value": float(load_nb201().column(self.column)[row]), "seconds": seconds}


@functools.cache
def _space() -> SearchSpace:
    return nb201_space()  # pretrained once per process, shared by its runs


def run_one(
    dataset: str,
    seed: int,
    workers: int,
    budget: float,
    unit_seconds: float,
    clock: str,
    stop_at_optimum: bool,
    client: Any = None,
) -> dict[str, Any]:
    """One BO search with ``workers`` simulated workers; units and time to the optimum, time to the end."""
    from archtune.execute.virtual_clock import VirtualClockExecutor
    from archtune.search.instance import SearchInstance

    torch.set_num_threads(1)
    optimum = float(load_nb201().column(DATASETS[dataset][0]).max())
    real = clock == "real"
    executor = client if real else VirtualClockExecutor(duration=lambda outcome: outcome.metrics["seconds"])
    with tempfile.TemporaryDirectory() as folder:
        search = SearchInstance(
            "parallel",
            Path(folder) / "s.search",
            search_space=_space(),
            seed=seed,
            strategy="bo",
            hi_fi_eval=SimulatedTraining(dataset, "hi", unit_seconds, real),
            hi_fi_cost=1.0,
            lo_fi_eval=SimulatedTraining(dataset, "lo", unit_seconds, real),
            lo_fi_cost=LO_FI_COST,
            executor=executor,
            progress=False,
        )
        start = time.perf_counter()
        search.run_search(budget, n_workers=workers, target=optimum if stop_at_optimum else None)
        elapsed = time.perf_counter() - start
        history = search.history()
        search.close()
    spent, found_at = 0.0, None
    for trial in history:
        spent += trial["cost"]
        if trial["fidelity"] == "hi" and trial["status"] == "COMPLETE" and trial["value"] >= optimum:
            found_at = spent
            break
    return {
        "workers": workers,
        "seed": seed,
        "found_at": found_at,
        "spent": sum(t["cost"] for t in history),
        "evaluations": len(history),
        # virtual: simulated seconds until the run ended; real: wall-clock seconds of run_search
        "time": elapsed if real else executor.now,
        "busy": float(sum(t["metrics"].get("seconds", 0.0) for t in history)),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per worker count: units to the optimum (median, p90, share found), time and speed-up against 1 worker."""
    out: dict[str, dict[str, Any]] = {}
    base = None
    for workers in sorted({r["workers"] for r in runs}):
        mine = [r for r in runs if r["workers"] == workers]
        found = cost_to_target([r["found_at"] for r in mine])
        times = np.array([r["time"] for r in mine])
        row = {
            "runs": len(mine),
            "median_units_to_optimum": found.median,
            "p90_units_to_optimum": found.p90,
            "share_found": found.share_reached,
            "median_time_s": float(np.median(times)),
            "utilisation": float(
                np.median([r["busy"] / (r["time"] * workers) for r in mine if r["time"] > 0])
            ),
        }
        if base is None:
            base = mine
        by_seed = {r["seed"]: r for r in base}
        pairs = [(by_seed[r["seed"]], r) for r in mine if r["seed"] in by_seed and r["time"] > 0]
        # time ratio: how much sooner the same seed finished; throughput ratio: simulated training done per
        # second, which does not depend on which cells (short or long to train) each run happened to pick
        row["median_speedup"] = (
            float(np.median([b["time"] / r["time"] for b, r in pairs])) if pairs else float("nan")
        )
        row["median_throughput_speedup"] = (
            float(np.median([(r["busy"] / r["time"]) / (b["busy"] / b["time"]) for b, r in pairs]))
            if pairs
            else float("nan")
        )
        out[str(workers)] = row
    return out


def to_markdown(summary: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    what = (
        ("simulated time to the optimum" if meta["stop_at_optimum"] else "simulated time to spend the budget")
        if meta["clock"] == "virtual"
        else (
            "wall-clock time to the optimum"
            if meta["stop_at_optimum"]
            else "wall-clock time to spend the budget"
        )
    )
    lines = [
        f"NAS-Bench-201 {meta['dataset']}, asynchronous BO, {meta['clock']} clock, budget {meta['budget']:g} units, "
        f"1 unit = {meta['unit_seconds']:g} s of simulated training",
        "",
        f"| workers | runs | median units to optimum | p90 | found | median {what} (s) | median speed-up vs 1 worker "
        "| median throughput speed-up | worker utilisation |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    fmt = format_cost
    for workers, s in summary.items():
        lines.append(
            f"| {workers} | {s['runs']} | {fmt(s['median_units_to_optimum'])} | {fmt(s['p90_units_to_optimum'])} "
            f"| {100 * s['share_found']:.0f}% | {s['median_time_s']:.1f} | {s['median_speedup']:.2f}x "
            f"| {s['median_throughput_speedup']:.2f}x | {100 * s['utilisation']:.0f}% |"
        )
    lines += [
        "",
        "Speed-up: per seed, the time with 1 worker over the time with k, median over seeds. Throughput "
        "speed-up: simulated training seconds completed per second, with k workers over 1 (runs pick "
        "different cells, some longer to train). Utilisation: simulated training seconds over k times the "
        "elapsed time.",
    ]
    return "\n".join(lines) + "\n"


def run_parallel_benchmark(
    dataset: str,
    workers: list[int],
    seeds: int,
    budget: float,
    clock: str = "virtual",
    unit_seconds: float = 60.0,
    stop_at_optimum: bool = False,
    processes: int = 2,
    out_dir: str | None = None,
) -> dict[str, Any]:
    """Run every (worker count, seed); print the table and write ``parallel_<clock>_<dataset>_b<budget>.{md,json,runs.jsonl}``.

    Virtual-clock runs go ``processes`` at a time; real-clock runs one at a time (they measure wall
    time), each worker count on its own Dask LocalCluster, started before the clock starts.
    Recorded runs with the same settings are skipped, so a killed benchmark resumes.
    """
    if dataset not in DATASETS:
        raise ConfigError(f"unknown NB201 dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    if clock not in CLOCKS:
        raise ConfigError(f"clock must be one of {CLOCKS}, got {clock!r}")
    if not workers or min(workers) < 1:
        raise ConfigError(f"worker counts must be positive integers, got {workers!r}")
    meta = {
        "dataset": dataset,
        "budget": budget,
        "clock": clock,
        "unit_seconds": unit_seconds,
        "stop_at_optimum": stop_at_optimum,
        "cost_column": COST_COLUMN,
    }
    stem = f"parallel_{clock}_{dataset}_b{budget:g}"
    runs_file = Path(out_dir) / f"{stem}.runs.jsonl" if out_dir else None
    finished: dict[tuple[int, int], dict[str, Any]] = {}
    if runs_file is not None:
        runs_file.parent.mkdir(parents=True, exist_ok=True)
        finished = recorded_runs(runs_file, meta, key=lambda run: (run["workers"], run["seed"]))
    todo = [(k, seed) for k in workers for seed in range(seeds) if (k, seed) not in finished]

    def keep(run: dict[str, Any]) -> None:
        finished[(run["workers"], run["seed"])] = run
        print(
            f"workers {run['workers']} seed {run['seed']:3d}: optimum at {run['found_at']} units, "
            f"time {run['time']:.1f} s",
            flush=True,
        )
        if runs_file is not None:
            with open(runs_file, "a") as f:
                f.write(json.dumps({"meta": meta, "run": run}) + "\n")

    args = (budget, unit_seconds, clock, stop_at_optimum)
    if clock == "virtual":
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(run_one, dataset, seed, k, *args) for k, seed in todo]
            for future in as_completed(futures):
                keep(future.result())
    else:
        from archtune.execute.dask_cluster import start_local_cluster, stop_local_cluster

        for k in workers:
            mine = [seed for kk, seed in todo if kk == k]
            if not mine:
                continue
            client = start_local_cluster(k)
            try:
                for seed in mine:
                    keep(run_one(dataset, seed, k, *args, client=client))
            finally:
                stop_local_cluster(client)
    runs = [finished[(k, seed)] for k in workers for seed in range(seeds) if (k, seed) in finished]
    summary = summarise(runs)
    md = to_markdown(summary, meta)
    print(md)
    if out_dir is not None:
        (Path(out_dir) / f"{stem}.md").write_text(md)
        (Path(out_dir) / f"{stem}.json").write_text(
            json.dumps({"meta": {**meta, "seeds": seeds}, "summary": summary}, indent=1)
        )
    return summary
