"""Multi-seed NAS-Bench-201 benchmark: strategies side by side, evaluations to the global optimum.

Every strategy runs through the same ask/tell interface on table lookups; costs are in high-fidelity
units (a 12-epoch evaluation costs 12/200). Seeds run in parallel processes.

Example::

    archtune bench nb201 --dataset cifar10 --strategies bo,random,rea --seeds 30 --budget 300
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archtune.bench.nb201 import LO_FI_COST, PRETRAINING_LATENCIES
from archtune.bench.nb201_data import DATASETS, load_nb201
from archtune.space.search_space import create_search_space
from archtune.strategy.base import Fidelity, Observation, SearchContext
from archtune.strategy.registry import make_strategy
from archtune.surrogate.ensemble import DeepEnsemble, EnsembleConfig

CHECKPOINTS = (10, 25, 50, 100, 200)
MULTI_FIDELITY = {"bo"}  # strategies given the 12-epoch fidelity too


def run_seed(strategy: str, dataset: str, seed: int, budget: float, pretrained: dict[str, Any] | None,
             stop_at_optimum: bool = False) -> dict[str, Any]:
    """One search; returns units spent when the optimum was evaluated (None if never), best-so-far curve, timings."""
    torch.set_num_threads(1)
    table = load_nb201()
    hi, lo = (table.column(c) for c in DATASETS[dataset])
    optimum = hi.max()
    space = create_search_space("nb201", None, table.encodings)
    fidelities = [Fidelity("hi", 1.0)]
    if strategy in MULTI_FIDELITY:
        fidelities.insert(0, Fidelity("lo", LO_FI_COST))
    ctx = SearchContext(space.features, fidelities, seed=seed, pretrained=pretrained, neighbors=space.neighbors)
    s = make_strategy(strategy)
    s.setup(ctx)
    spent, found, best, curve, times = 0.0, None, -np.inf, [], []
    while spent + 1e-9 < budget:
        allowed = [f.name for f in fidelities if spent + f.cost <= budget + 1e-9]
        start = time.perf_counter()
        suggestions = s.ask(1, allowed=allowed)
        if not suggestions:
            break
        sug = suggestions[0]
        value = float((hi if sug.fidelity == "hi" else lo)[sug.index])
        cost = ctx.cost_of(sug.fidelity)
        s.tell(Observation(sug.index, sug.fidelity, value, cost))
        times.append(time.perf_counter() - start)
        spent += cost
        if sug.fidelity == "hi":
            best = max(best, value)
            if found is None and value >= optimum:
                found = spent
        curve.append((spent, best))
        if found is not None and stop_at_optimum:
            break
    return {"strategy": strategy, "seed": seed, "found_at": found, "curve": curve, "time_per_iter": float(np.median(times))}


def _best_at(curve: list[tuple[float, float]], units: float) -> float:
    vals = [b for s, b in curve if s <= units + 1e-9 and np.isfinite(b)]
    return vals[-1] if vals else float("nan")


def summarise(runs: list[dict[str, Any]], budget: float) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r["strategy"] for r in runs):
        mine = [r for r in runs if r["strategy"] == name]
        # a seed that never found the optimum counts as "more than the budget" (inf): medians stay honest
        found = np.array([r["found_at"] if r["found_at"] is not None else np.inf for r in mine])
        out[name] = {
            "seeds": len(mine),
            "median_units_to_optimum": float(np.median(found)),
            "p90_units_to_optimum": float(np.percentile(found, 90, method="higher")),
            "share_found": float(np.isfinite(found).mean()),
            "mean_best_at": {str(u): float(np.nanmean([_best_at(r["curve"], u) for r in mine])) for u in CHECKPOINTS if u <= budget},
            "median_time_per_iter_s": float(np.median([r["time_per_iter"] for r in mine])),
        }
    return out


def to_markdown(summary: dict[str, dict[str, Any]], dataset: str, budget: float) -> str:
    checkpoints = [u for u in CHECKPOINTS if u <= budget]
    head = ["strategy", "seeds", "median units to optimum", "p90", "found within budget"]
    head += [f"mean best @{u}" for u in checkpoints] + ["median s/iter"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in summary.items():
        fmt = lambda v: "> budget" if not np.isfinite(v) else f"{v:.2f}"  # noqa: E731
        row = [name, str(s["seeds"]), fmt(s["median_units_to_optimum"]), fmt(s["p90_units_to_optimum"]),
               f"{100 * s['share_found']:.0f}%"]
        row += [f"{s['mean_best_at'][str(u)]:.3f}" for u in checkpoints] + [f"{s['median_time_per_iter_s']:.3f}"]
        lines.append("| " + " | ".join(row) + " |")
    return f"NAS-Bench-201 {dataset}, budget {budget:g} high-fidelity units\n\n" + "\n".join(lines) + "\n"


def run_benchmark(dataset: str, strategies: list[str], seeds: int, budget: float, workers: int = 2,
                  out_dir: str | None = None, stop_at_optimum: bool = False) -> dict[str, Any]:
    """Run every (strategy, seed), print and optionally write the markdown table and JSON."""
    table = load_nb201()
    space = create_search_space("nb201", None, table.encodings)
    pretrained = None
    if "bo" in strategies:  # pretrain once; every seed starts from the same pretrained ensemble
        ens = DeepEnsemble(space.features.shape[1], list(PRETRAINING_LATENCIES), ["hi"], EnsembleConfig(), seed=0)
        ens.pretrain(space.features, {c: table.column(c) for c in PRETRAINING_LATENCIES})
        pretrained = ens.pretrained_payload()
    jobs = [(s, dataset, seed, budget, pretrained if s == "bo" else None, stop_at_optimum)
            for s in strategies for seed in range(seeds)]
    with ProcessPoolExecutor(workers) as pool:
        runs = []
        for r in pool.map(run_seed, *zip(*jobs, strict=True)):
            print(f"{r['strategy']:>7s} seed {r['seed']:3d}: optimum at {r['found_at']}", flush=True)
            runs.append(r)
    summary = summarise(runs, budget)
    md = to_markdown(summary, dataset, budget)
    if stop_at_optimum:  # best-so-far cannot rise past the optimum, so the curves stay exact
        md += "\nRun with --stop-at-optimum: each search stopped once it evaluated the optimum.\n"
    print(md)
    if out_dir is not None:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"nb201_{dataset}.md").write_text(md)
        (folder / f"nb201_{dataset}.json").write_text(json.dumps({"summary": summary, "runs": runs}, indent=1))
    return summary
