"""A BO step on a knobs space costs the same whatever its size (``archtune bench product-step``).

Three product spaces of numeric knobs: 10^4 encodings (4 knobs of 10 options), 10^12 (12 knobs of 10)
and 10^12 again with the knobs of the small one, each of 1,000 options; searched by the default ``bo`` through
:class:`~archtune.search.instance.SearchInstance` (in-memory storage, one fidelity) on a smooth test
function of the knobs. Each strategy call is timed: a step is ``ask`` (the surrogate's refit and the
scoring of the pool of candidates included) plus ``tell``. Reported per space: the median step over the
model-based steps (after the initial design) of every seed, and each 10^12 space's median as a ratio
to the 10^4 one's; the spaces run interleaved, seed by seed, so a busy machine slows all alike.

Example (tiny budget):
    >>> result = run_product_step_benchmark(seeds=1, budget=6)
    >>> list(result["spaces"]), result["spaces"]["1e12"]["steps"] > 0
    (['1e4', '1e12', '1e12-wide'], True)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archtune.space.product import ProductSpace
from archtune.space.search_space import create_search_space
from archtune.strategy.bo import BayesianOptimization
from archtune_experiments.in_memory import search_in_memory, step_seconds, time_steps

#: name -> (knobs, options per knob)
SPACES = {"1e4": (4, 10), "1e12": (12, 10), "1e12-wide": (4, 1000)}


def knob_space(n_knobs: int, n_options: int) -> ProductSpace:
    """``n_knobs`` numeric knobs of ``n_options`` options each (``n_options ** n_knobs`` encodings)."""
    knobs = {f"x{k}": list(range(n_options)) for k in range(n_knobs)}
    return create_search_space(f"knobs{n_knobs}x{n_options}", None, knobs=knobs)


def objective(encoding: dict[str, Any], n_options: int) -> float:
    """A smooth function of the knobs scaled to [0, 1], its maximum at 0.72 in each (neighbours interact)."""
    u = np.array([encoding[f"x{k}"] for k in range(len(encoding))], dtype=np.float64) / (n_options - 1)
    return float(-(((u - 0.72) / 0.3) ** 2).sum() - ((u[1:] - u[:-1]) ** 2).sum())


def run_seed(space: str, seed: int, budget: int) -> dict[str, Any]:
    """One BO search of ``budget`` evaluations on ``space`` (a key of :data:`SPACES`); each step's seconds."""
    torch.set_num_threads(1)
    n_knobs, n_options = SPACES[space]
    strategy = BayesianOptimization(surrogate="ensemble")  # the surrogate the committed timings measured
    asks, tells = time_steps(strategy)
    history = search_in_memory(
        knob_space(n_knobs, n_options), lambda e: objective(e, n_options), strategy, seed, budget
    )
    values = [h["value"] for h in history if h["value"] is not None]
    n_init = strategy.n_init or 0
    steps = step_seconds(asks, tells).tolist()
    return {
        "space": space,
        "seed": seed,
        "model_steps": steps[n_init:budget],  # the initial design's uniform picks fit nothing
        "best": max(values) if values else None,
    }


def run_product_step_benchmark(
    seeds: int = 5,
    budget: int = 60,
    out: str | Path | None = None,
    report: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every space on seeds 0..seeds-1, interleaved; median step per space and the ratios to the 10^4
    space's (writes ``product_step.md``/``.json`` to ``out``)."""
    runs = []
    for seed in range(seeds):
        for space in SPACES:
            runs.append(run_seed(space, seed, budget))
            if report is not None:
                report(f"{space}, seed {seed}: done")
    spaces = {}
    for space, (n_knobs, n_options) in SPACES.items():
        steps = [s for r in runs if r["space"] == space for s in r["model_steps"]]
        spaces[space] = {
            "knobs": n_knobs,
            "options": n_options,
            "encodings": float(n_options) ** n_knobs,
            "steps": len(steps),
            "median_step_s": float(np.median(steps)) if steps else float("nan"),
            "p90_step_s": float(np.percentile(steps, 90)) if steps else float("nan"),
            "mean_best": float(np.mean([r["best"] for r in runs if r["space"] == space])),
        }
    small = spaces["1e4"]["median_step_s"]
    for row in spaces.values():
        row["ratio_to_1e4"] = row["median_step_s"] / small
    result = {"seeds": seeds, "budget": budget, "spaces": spaces}
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "product_step.json").write_text(json.dumps(result, indent=1))
        (Path(out) / "product_step.md").write_text(to_markdown(result))
    return result


def to_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"BO step (ask + tell, refit included) on knobs spaces, {result['seeds']} seeds x {result['budget']} "
        "evaluations each, one fidelity, through SearchInstance (`archtune bench product-step`)",
        "",
        "| space | encodings | knobs x options | model-based steps | median step (s) | p90 step (s) | "
        "median / the 10^4 space's | mean best |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in result["spaces"].items():
        lines.append(
            f"| {name} | {s['encodings']:.0e} | {s['knobs']} x {s['options']} | {s['steps']} | "
            f"{s['median_step_s']:.3f} | {s['p90_step_s']:.3f} | {s['ratio_to_1e4']:.2f}x | {s['mean_best']:.3f} |"
        )
    return "\n".join(lines) + "\n"
