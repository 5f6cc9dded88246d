"""A space too large to enumerate, with a known optimum: three NAS-Bench-201 cells (``archtune bench open-space``).

An encoding picks three NB201 cells (18 edges, 5 operations each: 5^18 = 3.8 * 10^12 encodings); its value
is the mean of the first cell's CIFAR-10, the second's CIFAR-100 and the third's ImageNet16-120 test
accuracy (200 epochs, looked up). The optimum is the mean of the three datasets' optima, and nothing
can list the space: :class:`~archtune.strategy.open_space.OpenSpaceBO` (VAE proposes, ensemble ranks;
pretrained on the summed latencies of the three cells on the six devices the NB201 benchmark pretrains
on, for 2,000 uniform draws), the same without the VAE (``open-bo-novae``) and without pretraining
(``open-bo-nopre``), regularized evolution on one-edge mutations and random search run side by side,
each for ``budget`` evaluations per seed.

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

from archtune.datasets.nb201 import DATASETS, OPS, load_nb201
from archtune.errors import UnknownNameError
from archtune.progress import progress_bar
from archtune.spaces.nb201 import PRETRAINING_LATENCIES
from archtune.strategy.evolution import tournament_winner
from archtune.strategy.open_space import OpenSpaceBO, ProductSpace

CELL_DATASETS = ("cifar10", "cifar100", "imagenet16")
STRATEGIES = ("open-bo", "open-bo-novae", "open-bo-nopre", "rea", "random")
CHECKPOINTS = (25, 50, 100, 200, 400)


def three_cell_space() -> ProductSpace:
    return ProductSpace({f"{d}/edge{e}": OPS for d in CELL_DATASETS for e in range(6)})


class ThreeCellObjective:
    """Mean test accuracy of cell k on dataset k, looked up in the NB201 table."""

    def __init__(self) -> None:
        table = load_nb201()
        self.row = {enc: i for i, enc in enumerate(table.encodings)}
        self.columns = [table.column(DATASETS[d][0]) for d in CELL_DATASETS]
        self.optimum = float(np.mean([c.max() for c in self.columns]))
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


def _evolution(
    space: ProductSpace,
    objective: ThreeCellObjective,
    budget: int,
    seed: int,
    population: int = 20,
    sample: int = 5,
) -> list[float]:
    """Regularized evolution on token rows: aging population, tournament, one-knob mutation."""
    rng = np.random.default_rng(seed)
    seen: set[bytes] = set()
    alive: list[tuple[np.ndarray, float]] = []
    values: list[float] = []
    while len(values) < budget:
        if len(alive) < population:
            row = space.sample(rng, 1)[0]
        else:
            row = tournament_winner(rng, alive, sample, lambda rv: rv[1])[0].copy()
            k = int(rng.integers(len(row)))
            row[k] = (row[k] + 1 + rng.integers(space.vocab_sizes[k] - 1)) % space.vocab_sizes[k]
        if row.tobytes() in seen:
            continue
        seen.add(row.tobytes())
        value = objective(space.decode(row))
        values.append(value)
        alive = (alive + [(row, value)])[-population:]
    return values


def run_seed(strategy: str, seed: int, budget: int) -> dict[str, Any]:
    torch.set_num_threads(1)  # seeds run in parallel processes; one thread each avoids oversubscription
    space, objective = three_cell_space(), ThreeCellObjective()
    start = time.perf_counter()
    if strategy == "random":
        rng = np.random.default_rng(seed)
        values = [objective(space.decode(row)) for row in space.sample(rng, budget)]
    elif strategy == "rea":
        values = _evolution(space, objective, budget, seed)
    elif strategy.startswith("open-bo"):
        search = OpenSpaceBO(
            space,
            n_vae=0 if strategy == "open-bo-novae" else 500,
            seed=seed,
            zero_cost=None if strategy == "open-bo-nopre" else objective.zero_cost,
        )
        values = []
        for _ in range(budget):
            encoding = search.ask()
            values.append(objective(encoding))
            search.tell(encoding, values[-1])
    else:
        raise UnknownNameError(f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    best = np.maximum.accumulate(values)
    hits = np.flatnonzero(best >= objective.optimum - 1e-9)
    return {
        "strategy": strategy,
        "seed": seed,
        "best_curve": best.tolist(),
        "optimum": objective.optimum,
        "found_at": int(hits[0]) + 1 if len(hits) else None,
        "seconds_per_step": (time.perf_counter() - start) / budget,
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
    """Every strategy on seeds 0..seeds-1; returns per-strategy summaries (and writes .md/.json to ``out``)."""
    for name in strategies:
        if name not in STRATEGIES:
            raise UnknownNameError(f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    jobs = [(name, seed, budget) for seed in range(seeds) for name in strategies]
    runs: list[dict[str, Any]] = []
    with progress_bar("open-space searches", total=len(jobs), enabled=progress) as advance:
        if workers > 1:
            with ProcessPoolExecutor(workers) as pool:
                for run in pool.map(_job, jobs):
                    runs.append(run)
                    advance(1)
        else:
            for job in jobs:
                runs.append(_job(job))
                advance(1)
    optimum = runs[0]["optimum"]
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
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "open_space.json").write_text(
            json.dumps({"budget": budget, "optimum": optimum, "rows": rows, "runs": runs}, indent=1)
        )
        (Path(out) / "open_space.md").write_text(to_markdown(rows, budget, optimum))
    return rows


def to_markdown(rows: dict[str, dict[str, Any]], budget: int, optimum: float) -> str:
    checkpoints = [c for c in CHECKPOINTS if c <= budget]
    head = (
        ["strategy", "seeds"]
        + [f"mean regret @{c}" for c in checkpoints]
        + ["found optimum", "median evaluations to optimum", "s/step"]
    )
    lines = [
        f"Three NB201 cells (5^18 = 3.8e12 encodings), optimum {optimum:.3f} (mean test accuracy), "
        f"budget {budget} evaluations",
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
