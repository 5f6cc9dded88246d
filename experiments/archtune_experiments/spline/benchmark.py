"""Spline vs BO vs random at equal evaluations (``archtune bench spline``).

Objectives: Branin and Hartmann-6 on grids (:mod:`archtune.bench.functions`), and ``mnist_widths``,
paper 004's ResNet width search at small scale with real training on MNIST-5k
(:mod:`archtune.spaces.resnet_widths`; each accuracy is cached in ``<out>/spline_mnist_widths.cache.json``
so strategies and seeds that meet the same network pay for it once, and a killed run resumes).

Each strategy runs through :class:`~archtune.search.instance.SearchInstance` (in memory) for ``budget``
evaluations (the spline may stop earlier: Algorithm 1 converged). Reported per strategy: evaluations until a value within 1% of the best found by any
strategy in the run (1% of the gap between that best and a typical value: the grid's median for the
test functions, the median of random search's results for the trained networks), median and 90th
percentile over seeds, and the mean best value at the end.

Example::

    archtune bench spline --functions branin,hartmann6 --strategies spline,bo,random --seeds 10 --budget 40
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archtune.bench.functions import FUNCTIONS
from archtune.errors import ConfigError
from archtune.report.benchmarks import cost_to_target, format_cost
from archtune.space.search_space import SearchSpace, create_search_space
from archtune.strategy.bo import BayesianOptimization
from archtune.strategy.registry import make_strategy
from archtune_experiments.in_memory import search_in_memory

OBJECTIVES = (*FUNCTIONS, "mnist_widths")


@functools.cache
def _grid(function: str) -> tuple[SearchSpace, np.ndarray]:
    f = FUNCTIONS[function]
    encodings = f.encodings()
    space = create_search_space(function, None, encodings)
    return space, f.maximise(np.asarray(encodings, dtype=np.float64))


class TrainedObjective:
    """Accuracy of a trained network per encoding, computed once and kept in a JSON cache file."""

    def __init__(self, space: SearchSpace, cache_file: Path | None):
        self.space, self.cache_file = space, cache_file
        self.cache: dict[str, float] = {}
        if cache_file is not None and cache_file.exists():
            self.cache = json.loads(cache_file.read_text())

    def __getitem__(self, index: int) -> float:
        from archtune.spaces.resnet_widths import train_and_evaluate

        key = self.space.keys[index]
        if key not in self.cache:
            self.cache[key] = train_and_evaluate(self.space.encodings[index])
            print(f"  trained {self.space.encodings[index]}: {self.cache[key]:.2f}%", flush=True)
            if self.cache_file is not None:  # written whole and renamed: a kill never leaves half a file
                tmp = self.cache_file.with_name(self.cache_file.name + ".tmp")
                tmp.write_text(json.dumps(self.cache, indent=0))
                tmp.replace(self.cache_file)
        return self.cache[key]


@functools.cache
def _widths_space() -> SearchSpace:
    from archtune.spaces.resnet_widths import resnet_widths_encodings

    return create_search_space("mnist_widths", None, resnet_widths_encodings())


def run_function_seed(
    strategy: str, function: str, seed: int, budget: int, objective: TrainedObjective | None = None
) -> dict[str, Any]:
    """One search through SearchInstance (in memory); returns the value of every evaluation in order."""
    torch.set_num_threads(1)
    if function == "mnist_widths":
        space, values = _widths_space(), objective or TrainedObjective(_widths_space(), None)
    else:
        space, values = _grid(function)
    # BO on the deep ensemble, as the committed tables were recorded (at one fidelity the default is the GP now)
    chosen = BayesianOptimization(surrogate="ensemble") if strategy == "bo" else strategy
    history = search_in_memory(space, lambda e: float(values[space.index_of(e)]), chosen, seed, budget)
    return {"strategy": strategy, "seed": seed, "values": [h["value"] for h in history]}


def summarise(runs: list[dict[str, Any]], typical: float) -> dict[str, dict[str, Any]]:
    """Per strategy: evaluations to within 1% of (best found by any strategy - ``typical``) of that best."""
    best_any = max(max(r["values"]) for r in runs if r["values"])
    target = best_any - 0.01 * (best_any - typical)
    out = {}
    for name in dict.fromkeys(r["strategy"] for r in runs):
        mine = [r for r in runs if r["strategy"] == name]
        hits = cost_to_target(
            [next((k + 1 for k, v in enumerate(r["values"]) if v >= target), None) for r in mine]
        )
        out[name] = {
            "seeds": len(mine),
            "median_evals_to_target": hits.median,
            "p90_evals_to_target": hits.p90,
            "share_reached": hits.share_reached,
            "mean_best": float(np.mean([max(r["values"]) for r in mine])),
            "mean_evals_used": float(np.mean([len(r["values"]) for r in mine])),
        }
    return out


def to_markdown(function: str, summary: dict[str, dict[str, Any]], budget: int) -> str:
    fmt = lambda v: format_cost(v, digits=0, beyond=f"> {budget}")  # noqa: E731
    lines = [
        f"{function}: evaluations to within 1% of the best found (budget {budget})",
        "",
        "| strategy | seeds | median evals to target | p90 | reached | mean best | mean evals used |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        lines.append(
            f"| {name} | {s['seeds']} | {fmt(s['median_evals_to_target'])} | {fmt(s['p90_evals_to_target'])} | "
            f"{100 * s['share_reached']:.0f}% | {s['mean_best']:.4f} | {s['mean_evals_used']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def run_spline_benchmark(
    functions: list[str], strategies: list[str], seeds: int, budget: int, out_dir: str | None = None
) -> dict[str, Any]:
    """Every (function, strategy, seed); prints a markdown table per function, optionally writes them."""
    unknown = [f for f in functions if f not in OBJECTIVES]
    if unknown:
        raise ConfigError(f"unknown function {unknown[0]!r}; valid: {', '.join(OBJECTIVES)}")
    for name in strategies:
        make_strategy(name)  # unknown names fail before any work
    results = {}
    for function in functions:
        trained = None
        if function == "mnist_widths":
            cache = Path(out_dir) / "spline_mnist_widths.cache.json" if out_dir is not None else None
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
            trained = TrainedObjective(_widths_space(), cache)
        runs = []
        for name in strategies:
            for seed in range(seeds):
                runs.append(run_function_seed(name, function, seed, budget, trained))
            print(f"{function}: {name} done", flush=True)
        if trained is None:
            typical = float(np.median(_grid(function)[1]))
        else:  # random search samples the grid uniformly: its median estimates the grid's
            sample = [v for r in runs if r["strategy"] == "random" for v in r["values"]] or [
                v for r in runs for v in r["values"]
            ]
            typical = float(np.median(sample))
        summary = summarise(runs, typical)
        md = to_markdown(function, summary, budget)
        print(md)
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            (Path(out_dir) / f"spline_{function}.md").write_text(md)
            (Path(out_dir) / f"spline_{function}.json").write_text(
                json.dumps({"summary": summary, "runs": runs})
            )
        results[function] = summary
    return results
