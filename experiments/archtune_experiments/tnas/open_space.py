"""A space too large to enumerate, with a known optimum: three NAS-Bench-201 cells (``archtune bench open-space``).

An encoding picks three NB201 cells (18 edges, 5 operations each: 5^18 = 3.8 * 10^12 encodings); its value
is the mean of the first cell's CIFAR-10, the second's CIFAR-100 and the third's ImageNet16-120 test
accuracy (200 epochs, looked up), its low-fidelity value the same mean of the 12-epoch validation
columns. The optimum is the mean of the three datasets' optima, and nothing can list the space.

Every strategy runs through :class:`~archtune.search.instance.SearchInstance` on the space made by
``create_search_space(knobs=...)``, with an in-memory storage (:class:`~archtune.storage.memory.MemoryStorage`):

* ``bo``: deep-ensemble BO scoring, at each step, 500 TNAS-VAE draws, 500 uniform draws and every
  one-edge mutation of the 5 best results, pretrained on the summed latencies of the three cells on the
  six devices the NB201 benchmark pretrains on, measured for 2,000 uniform draws;
* ``bo-novae`` (no VAE draws), ``bo-nopre`` (no pretraining);
* ``bo-mf``: ``bo`` with two fidelities, the 12-epoch columns costing 12/200 of a 200-epoch evaluation;
* ``rea`` (regularized evolution, one-edge mutations) and ``random``, the registry's strategies.

Regret at a budget is the optimum minus the best 200-epoch value found within that many units (one
unit: one 200-epoch evaluation). The strategies ``open-bo*`` of earlier tables were a separate ask/tell
class with its own loop; their results stay in ``open_space.json`` as they were measured.

Example (tiny budget):
    >>> rows = run_open_space_benchmark(seeds=1, budget=12, strategies=("random", "rea"), workers=1, progress=False)
    >>> sorted(rows), rows["rea"]["seeds"]
    (['random', 'rea'], 1)
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archtune.datasets.nb201 import DATASETS, HI_EPOCHS, LO_EPOCHS, OPS, load_nb201
from archtune.errors import UnknownNameError
from archtune.progress import progress_bar
from archtune.space.product import ProductSpace
from archtune.space.search_space import create_search_space
from archtune.spaces.nb201 import PRETRAINING_LATENCIES
from archtune.strategy.base import Strategy
from archtune.strategy.bo import BayesianOptimization
from archtune.strategy.registry import make_strategy
from archtune.strategy.tnas import VAECandidates
from archtune_experiments.in_memory import search_in_memory

CELL_DATASETS = ("cifar10", "cifar100", "imagenet16")
STRATEGIES = ("bo", "bo-novae", "bo-nopre", "bo-mf", "rea", "random")
CHECKPOINTS = (25, 50, 100, 200, 400)
PRETRAIN_SAMPLES = 2000


def three_cell_space() -> ProductSpace:
    return create_search_space(
        "three-cells", None, knobs={f"{d}/edge{e}": list(OPS) for d in CELL_DATASETS for e in range(6)}
    )


class ThreeCellObjective:
    """Mean test accuracy of cell k on dataset k, looked up in the NB201 table (``low=True``: the 12-epoch
    validation accuracy instead)."""

    def __init__(self, low: bool = False) -> None:
        table = load_nb201()
        self.row = {enc: i for i, enc in enumerate(table.encodings)}
        self.columns = [table.column(DATASETS[d][1 if low else 0]) for d in CELL_DATASETS]
        hi = [table.column(DATASETS[d][0]) for d in CELL_DATASETS]
        self.optimum = float(np.mean([c.max() for c in hi]))
        self.latencies = {name: table.column(name) for name in PRETRAINING_LATENCIES}

    def cells(self, encoding: dict[str, Any]) -> list[int]:
        return [self.row[tuple(encoding[f"{d}/edge{e}"] for e in range(6))] for d in CELL_DATASETS]

    def __call__(self, encoding: dict[str, Any]) -> float:
        return float(
            np.mean([column[i] for column, i in zip(self.columns, self.cells(encoding), strict=True)])
        )

    def zero_cost(self, encoding: dict[str, Any]) -> dict[str, float]:
        """The network's latency on the devices the NB201 benchmark pretrains on: the three cells' sum."""
        cells = self.cells(encoding)
        return {name: float(sum(column[i] for i in cells)) for name, column in self.latencies.items()}


def _strategy(name: str) -> Strategy:
    if name in ("rea", "random"):
        return make_strategy(name)
    vae = None if name == "bo-novae" else VAECandidates(n_vae=500, n_uniform=0, round_size=10, top_k=20)
    # the deep ensemble, as the committed tables were recorded (bo-nopre, with no zero-cost data at one
    # fidelity, would take the GP by default now)
    return BayesianOptimization(
        n_init=10, candidates=vae, pool_uniform=500, pool_parents=5, surrogate="ensemble"
    )


def run_seed(strategy: str, seed: int, budget: int) -> dict[str, Any]:
    """One search through SearchInstance; the best 200-epoch value after each unit spent."""
    if strategy not in STRATEGIES:
        raise UnknownNameError(f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    torch.set_num_threads(1)  # seeds run in parallel processes; one thread each avoids oversubscription
    space, objective = three_cell_space(), ThreeCellObjective()
    if strategy.startswith("bo") and strategy != "bo-nopre":
        rows = space.draw(np.random.default_rng([seed, 2**31]), PRETRAIN_SAMPLES)
        space.set_pretraining_data(
            [{"encoding": space.encodings[i], **objective.zero_cost(space.encodings[i])} for i in rows]
        )
    low = ThreeCellObjective(low=True) if strategy == "bo-mf" else None
    start = time.perf_counter()
    history = search_in_memory(
        space, objective, _strategy(strategy), seed, budget, lo_objective=low,
        lo_cost=LO_EPOCHS / HI_EPOCHS, target=objective.optimum - 1e-9,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    spent, best, curve = 0.0, -np.inf, []
    for trial in history:  # the best 200-epoch value known after each whole unit spent
        spent += trial["cost"]
        while len(curve) < min(budget, int(spent + 1e-9)):
            curve.append(best)
        if trial["fidelity"] == "hi" and trial["value"] is not None:
            best = max(best, trial["value"])
            while len(curve) < min(budget, int(np.ceil(spent - 1e-9))):
                curve.append(best)
    curve += [best] * (budget - len(curve))
    best_curve = np.array(curve, dtype=float)
    hits = np.flatnonzero(best_curve >= objective.optimum - 1e-9)
    return {
        "strategy": strategy,
        "seed": seed,
        "best_curve": best_curve.tolist(),
        "optimum": objective.optimum,
        "found_at": int(hits[0]) + 1 if len(hits) else None,
        "evaluations": len(history),
        "seconds_per_step": seconds / max(1, len(history)),
    }


def _job(args: tuple[str, int, int]) -> dict[str, Any]:
    return run_seed(*args)


def run_open_space_benchmark(
    seeds: int = 10,
    budget: int = 200,
    strategies: Sequence[str] = STRATEGIES,
    workers: int = 2,
    out: str | Path | None = None,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Every strategy on seeds 0..seeds-1; returns per-strategy summaries (and writes .md/.json to ``out``).

    With ``out``, each finished search is appended to ``open_space.runs.jsonl`` there, and searches
    already in that file are not run again: a killed benchmark resumes where it stopped.
    """
    for name in strategies:
        if name not in STRATEGIES:
            raise UnknownNameError(f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    log = Path(out) / "open_space.runs.jsonl" if out is not None else None
    runs: list[dict[str, Any]] = []
    if log is not None and log.exists():
        for line in log.read_text().splitlines():
            run = json.loads(line)
            if run["strategy"] in strategies and run["seed"] < seeds and len(run["best_curve"]) == budget:
                runs.append(run)
    done = {(r["strategy"], r["seed"]) for r in runs}
    jobs = [(name, seed, budget) for seed in range(seeds) for name in strategies if (name, seed) not in done]
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)

    def keep(run: dict[str, Any]) -> None:
        runs.append(run)
        if log is not None:
            with log.open("a") as fh:
                fh.write(json.dumps(run) + "\n")

    with progress_bar("open-space searches", total=len(jobs), enabled=progress) as advance:
        if workers > 1:
            with ProcessPoolExecutor(workers) as pool:
                for run in pool.map(_job, jobs):
                    keep(run)
                    advance(1)
        else:
            for job in jobs:
                keep(_job(job))
                advance(1)
    optimum = ThreeCellObjective().optimum
    rows: dict[str, dict[str, Any]] = {}
    for name in strategies:
        mine = [r for r in runs if r["strategy"] == name]
        curves = np.array([r["best_curve"] for r in mine])
        found = [r["found_at"] for r in mine]
        rows[name] = {
            "seeds": len(mine),
            "mean_regret": {c: float(optimum - curves[:, c - 1].mean()) for c in CHECKPOINTS if c <= budget},
            "found_optimum": sum(f is not None for f in found),
            "median_evaluations_to_optimum": float(
                np.median([f if f is not None else np.inf for f in found])
            ),
            "seconds_per_step": float(np.median([r["seconds_per_step"] for r in mine])),
        }
    if out is not None:
        (Path(out) / "open_space_instance.json").write_text(
            json.dumps({"budget": budget, "optimum": optimum, "rows": rows}, indent=1)
        )
        (Path(out) / "open_space_instance.md").write_text(to_markdown(rows, budget, optimum))
    return rows


def to_markdown(rows: dict[str, dict[str, Any]], budget: int, optimum: float) -> str:
    checkpoints = [c for c in CHECKPOINTS if c <= budget]
    head = (
        ["strategy", "seeds"]
        + [f"mean regret @{c}" for c in checkpoints]
        + ["found optimum", "median units to optimum", "s/step"]
    )
    lines = [
        f"Three NB201 cells (5^18 = 3.8e12 encodings), optimum {optimum:.3f} (mean test accuracy), "
        f"budget {budget} units (200-epoch evaluations), every strategy through SearchInstance",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name, r in rows.items():
        median = r["median_evaluations_to_optimum"]
        lines.append(
            "| "
            + " | ".join(
                [name, str(r["seeds"])]
                + [f"{r['mean_regret'][c]:.3f}" for c in checkpoints]
                + [
                    f"{r['found_optimum']}/{r['seeds']}",
                    f"{median:.0f}" if np.isfinite(median) else f"> {budget}",
                    f"{r['seconds_per_step']:.3f}",
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"
