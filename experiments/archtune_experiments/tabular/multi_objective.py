"""Multi-objective NAS-Bench-201: accuracy (two fidelities) against a measured latency column.

The true front is computed from the table (200-epoch test accuracy, maximised, against e.g.
``lat_pixel3``, minimised). Every method runs the same protocol, through :class:`SearchInstance` (in
memory), Optuna's samplers too (:class:`~archtune_experiments.tabular.peers.OptunaMultiObjectivePeer`); costs are in high-fidelity units (a 12-epoch evaluation costs 12/200). At
each budget point (25/50/100/200 units) a run is scored by

- **hypervolume regret**: 1 - HV(front found) / HV(true front), reference point at the true front's
  nadir (its worst accuracy and worst latency), fronts built from high-fidelity values only;
- **front recall**: the share of the true front's cells evaluated at high fidelity;
- **units to 50% recall**.

Methods: ``bo`` (archtune's default: two fidelities with a tenth of the budget on screening, random
Chebyshev scalarisations over the deep ensemble with the latency known), its variants (``BO_VARIANTS``:
``bo-ehvi`` by expected hypervolume improvement, other screening shares, high fidelity only),
``random`` and ``rea-mo`` (multi-objective regularized evolution), high fidelity only, and, when Optuna
is installed (``pip install 'archtune[bench]'``), ``nsga2`` and ``motpe`` (Optuna's NSGAIISampler and
TPESampler on two objectives, defaults, six categorical knobs; every proposal is paid for, repeats
included). With ``out``, finished searches are kept in ``records.jsonl`` there and not run again.

Example::

    archtune bench nb201-mo --dataset cifar10,cifar100 --latency lat_pixel3 --seeds 30 --budget 100 \\
        --strategies bo,bo-ehvi,random,rea-mo,nsga2,motpe --out benchmarks/results/nb201_mo_30
"""

from __future__ import annotations

import functools
import json
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archtune.bench.nb201 import LO_FI_COST
from archtune.datasets.nb201 import DATASETS, load_nb201
from archtune.errors import ConfigError
from archtune.space.encoding import encoding_key
from archtune.space.search_space import SearchSpace, create_search_space
from archtune.spaces.nb201 import PRETRAINING_LATENCIES
from archtune.strategy.pareto import hypervolume_2d, non_dominated
from archtune.strategy.registry import make_strategy
from archtune_experiments.tabular.runner import recorded_runs

BUDGET_POINTS = (25, 50, 100, 200)
OURS = ("bo", "random", "rea-mo")
#: BO variants measured against the default (ParEGO, a tenth on screening), name -> (BayesianOptimization's
#: arguments, two fidelities)
BO_VARIANTS: dict[str, tuple[dict[str, Any], bool]] = {
    "bo-ehvi": ({"front_acquisition": "ehvi"}, True),  # expected hypervolume improvement
    "bo-ehvi-lo50": ({"front_acquisition": "ehvi", "lo_fi_share": 0.5}, True),  # a single objective's share
    "bo-ehvi-lo20": ({"front_acquisition": "ehvi", "lo_fi_share": 0.2}, True),
    # high fidelity only; the deep ensemble, as these were recorded (one fidelity now takes the GP)
    "bo-ehvi-hi": ({"front_acquisition": "ehvi", "surrogate": "ensemble"}, False),
    "bo-lo20": ({"lo_fi_share": 0.2}, True),
    "bo-hi": ({"surrogate": "ensemble"}, False),
}
PEERS = ("nsga2", "motpe")
STRATEGIES = OURS + tuple(BO_VARIANTS) + PEERS
#: what the command runs when it is given no --strategies
DEFAULT_STRATEGIES = OURS + PEERS


@functools.cache
def _space() -> SearchSpace:
    """The NB201 space with the latency columns as zero-cost data, pretrained once per process."""
    table = load_nb201()
    space = create_search_space("nb201", None, table.encodings)
    space.preprocess(pretraining_data={c: table.column(c) for c in PRETRAINING_LATENCIES}, progress=False)
    return space


def true_front(dataset: str, latency: str) -> dict[str, Any]:
    """The table's front: its cells' indices, the nadir reference and its hypervolume."""
    table = load_nb201()
    if latency not in table.latency_columns:
        raise ConfigError(f"unknown latency column {latency!r}; valid: {', '.join(table.latency_columns)}")
    acc, lat = table.column(DATASETS[dataset][0]), table.column(latency)
    points = np.stack([acc, lat], axis=1)
    front = np.flatnonzero(non_dominated(points, ["max", "min"]))
    # every cell equal to a front point is on the front too (non_dominated keeps only the first of equals)
    on_front = np.isin(
        [encoding_key((a, b)) for a, b in points], [encoding_key((a, b)) for a, b in points[front]]
    )
    reference = [float(acc[front].min()), float(lat[front].max())]
    return {
        "cells": set(np.flatnonzero(on_front).tolist()),
        "reference": reference,
        "hv": hypervolume_2d(points[front], ["max", "min"], reference),
        "size": int(len(front)),
    }


def score_trajectory(
    evaluated: list[tuple[float, int]], dataset: str, latency: str, budget: float = max(BUDGET_POINTS)
) -> dict[str, Any]:
    """HV regret and recall at each budget point up to ``budget``, from ``[(units spent, cell)]`` at high fidelity."""
    table = load_nb201()
    acc, lat = table.column(DATASETS[dataset][0]), table.column(latency)
    truth = true_front(dataset, latency)
    out: dict[str, Any] = {"hv_regret": {}, "recall": {}, "units_to_half_recall": None}
    for units in (u for u in BUDGET_POINTS if u <= budget + 1e-9):
        cells = sorted({i for spent, i in evaluated if spent <= units + 1e-9})
        pts = np.stack([acc[cells], lat[cells]], axis=1) if cells else np.zeros((0, 2))
        hv = hypervolume_2d(pts, ["max", "min"], truth["reference"]) if cells else 0.0
        out["hv_regret"][str(units)] = 1.0 - hv / truth["hv"]
        out["recall"][str(units)] = len(truth["cells"] & set(cells)) / len(truth["cells"])
    found: set[int] = set()
    for spent, i in evaluated:
        if i in truth["cells"]:
            found.add(i)
            if len(found) >= 0.5 * len(truth["cells"]):
                out["units_to_half_recall"] = spent
                break
    return out


def _search(
    name: str, dataset: str, latency: str, seed: int, budget: float
) -> tuple[list[tuple[float, int]], float]:
    """One search through SearchInstance (in memory): the cells evaluated at high fidelity with the units
    spent by then, and the median step (the strategy's ask + tell)."""
    from archtune.bench.nb201 import nb201_objectives
    from archtune.datasets.nb201 import OPS
    from archtune.strategy.bo import BayesianOptimization
    from archtune.strategy.mo_evolution import MultiObjectiveEvolution
    from archtune_experiments.in_memory import search_in_memory, step_seconds, time_steps
    from archtune_experiments.tabular.peers import OptunaMultiObjectivePeer

    hi, lo = nb201_objectives(dataset)
    space = _space()
    strategy: Any
    if name in PEERS:  # NB201's operations in table order: the order the recorded runs gave Optuna
        strategy = OptunaMultiObjectivePeer("nsga2" if name == "nsga2" else "tpe", choices=[OPS] * 6)
    elif name == "rea-mo":
        strategy = MultiObjectiveEvolution()
    elif name in BO_VARIANTS:
        strategy = BayesianOptimization(**BO_VARIANTS[name][0])
    else:
        strategy = make_strategy(name)
    two_fidelities = BO_VARIANTS[name][1] if name in BO_VARIANTS else name == "bo"
    asks, tells = time_steps(strategy)
    history = search_in_memory(
        space, hi, strategy, seed, budget, lo_objective=lo if two_fidelities else None, lo_cost=LO_FI_COST,
        objectives={"value": "max", latency: "min"},
    )  # fmt: skip
    spent, evaluated = 0.0, []
    for h in history:
        spent += h["cost"]
        if h["fidelity"] == "hi" and h["status"] == "COMPLETE":
            evaluated.append((spent, space.index_of(h["encoding"])))
    steps = step_seconds(asks, tells)
    return evaluated, float(np.median(steps)) if len(steps) else 0.0


def run_one(name: str, dataset: str, latency: str, seed: int, budget: float) -> dict[str, Any]:
    """One seed of one method, scored."""
    torch.set_num_threads(1)
    evaluated, per_step = _search(name, dataset, latency, seed, budget)
    scores = score_trajectory(evaluated, dataset, latency, budget)
    cells = [i for _, i in evaluated]
    return {
        "strategy": name,
        "dataset": dataset,
        "latency": latency,
        "seed": seed,
        "budget": budget,
        "hi_evaluations": len(cells),
        "repeats": len(cells) - len(set(cells)),
        "s_per_step": per_step,
        **scores,
    }


def summarise(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Medians over seeds per (dataset, strategy)."""
    out: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys((r["dataset"], r["strategy"]) for r in records):
        mine = [r for r in records if (r["dataset"], r["strategy"]) == key]
        half = [r["units_to_half_recall"] if r["units_to_half_recall"] is not None else np.inf for r in mine]
        out[f"{key[0]}/{key[1]}"] = {
            "seeds": len(mine),
            "hv_regret": {
                u: float(np.median([r["hv_regret"][u] for r in mine])) for u in mine[0]["hv_regret"]
            },
            "recall": {u: float(np.median([r["recall"][u] for r in mine])) for u in mine[0]["recall"]},
            "median_units_to_half_recall": float(np.median(half)),
            "repeats": int(sum(r["repeats"] for r in mine)),
            "median_s_per_step": float(np.median([r["s_per_step"] for r in mine])),
        }
    return out


def to_markdown(summary: dict[str, dict[str, Any]], latency: str) -> str:
    """The table the README shows."""
    points = list(next(iter(summary.values()))["hv_regret"]) if summary else []
    head = (
        "| dataset / method | seeds | HV regret at "
        + " / ".join(points)
        + " | front recall at "
        + " / ".join(points)
        + " | units to 50% recall | repeats | s per step |\n"
    )
    lines = [head, "|---|---|---|---|---|---|---|\n"]
    for name, s in summary.items():
        regret = " / ".join(f"{s['hv_regret'][u]:.4f}" for u in points)
        recall = " / ".join(f"{100 * s['recall'][u]:.0f}%" for u in points)
        half = s["median_units_to_half_recall"]
        lines.append(
            f"| {name} | {s['seeds']} | {regret} | {recall} | {'> budget' if not np.isfinite(half) else f'{half:.1f}'}"
            f" | {s['repeats']} | {s['median_s_per_step']:.3f} |\n"
        )
    return f"NB201 accuracy (max) against {latency} (min)\n\n" + "".join(lines)


def _finished(jobs: list[tuple[str, str, str, int, float]], workers: int) -> Iterator[dict[str, Any]]:
    """The jobs' records as they finish: in ``workers`` processes, or here, one after another, for one."""
    if workers <= 1:
        threads = torch.get_num_threads()  # run_one pins one thread, as in a worker process; put it back
        try:
            for job in jobs:
                yield run_one(*job)
        finally:
            torch.set_num_threads(threads)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_one, *job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def run_nb201_mo(
    datasets: list[str],
    latency: str,
    strategies: list[str],
    seeds: int,
    budget: float,
    workers: int,
    out: str | Path | None,
) -> dict[str, dict[str, Any]]:
    """Run every (dataset, method, seed), in ``workers`` processes; records go to ``out`` as they finish
    (``records.jsonl``), and the searches already recorded there are not run again."""
    for name in strategies:
        if name not in STRATEGIES:
            raise ConfigError(f"unknown strategy {name!r} for nb201-mo; valid: {', '.join(STRATEGIES)}")
    for dataset in datasets:
        if dataset not in DATASETS:
            raise ConfigError(f"unknown NB201 dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    jobs = [(n, d, latency, s, budget) for d in datasets for n in strategies for s in range(seeds)]
    # one file holds every dataset and method of one latency and budget; a record is {"meta", "run"}
    meta = {"latency": latency, "budget": budget}
    log = Path(out) / "records.jsonl" if out else None
    finished: dict[tuple[str, str, int], dict[str, Any]] = {}
    if log is not None:  # searches already recorded there are kept, not run again: a killed run resumes
        log.parent.mkdir(parents=True, exist_ok=True)
        finished = recorded_runs(log, meta, key=lambda r: (r["strategy"], r["dataset"], r["seed"]))
    records = [finished[(n, d, s)] for n, d, _, s, _ in jobs if (n, d, s) in finished]
    jobs = [job for job in jobs if (job[0], job[1], job[3]) not in finished]
    for done, record in enumerate(_finished(jobs, workers), 1):
        records.append(record)
        print(
            f"[{done}/{len(jobs)}] {record['dataset']} {record['strategy']} seed {record['seed']}: "
            f"HV regret at 100 {record['hv_regret'].get('100', float('nan')):.4f}, "
            f"recall {100 * record['recall'].get('100', 0):.0f}%",
            flush=True,
        )
        if log is not None:  # one write call per record, in append mode, as the NB201 runner does
            with open(log, "ab") as f:
                f.write((json.dumps({"meta": meta, "run": record}) + "\n").encode())
    summary = summarise(
        sorted(records, key=lambda r: (r["dataset"], STRATEGIES.index(r["strategy"]), r["seed"]))
    )
    if log is not None:
        (log.parent / "summary.json").write_text(json.dumps(summary, indent=2))
        (log.parent / "summary.md").write_text(to_markdown(summary, latency))
    return summary
