"""Benchmark summaries, once for every benchmark: the cost until a target over seeds (median, 90th
percentile, share that reached it), its cell in a markdown table, and best-so-far curves over seeds
(median and quartiles, like paper 000's Fig. 3).

Example:
    >>> s = cost_to_target([5.0, None, 7.0, 3.0], runs_asked=5)
    >>> s.median, s.p90, s.share_reached, s.runs
    (7.0, inf, 0.6, 5)
    >>> format_cost(s.p90), format_cost(s.median, digits=1)
    ('> budget', '7.0')
    >>> runs = [{"strategy": "bo", "curve": [(1.0, 90.0), (2.0, 94.0)]},
    ...         {"strategy": "bo", "curve": [(1.0, 92.0), (3.0, 94.0)]}]
    >>> grid, q = quantile_curves(runs, "bo", budget=3.0, points=3)
    >>> q[1].tolist()  # medians at units 0.05, 0.39, 3
    [nan, nan, 94.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CostToTarget:
    """The cost (units or evaluations) until a target, over runs: a run that never reached it is ``inf``,
    so the median and the 90th percentile are upper bounds, never flattered by the runs that failed."""

    median: float
    p90: float
    share_reached: float
    runs: int


def cost_to_target(costs: Sequence[float | None], runs_asked: int | None = None) -> CostToTarget:
    """Summarise per-run costs until a target (``None`` or ``inf``: not reached within the budget).

    ``runs_asked``: the runs asked for; those not (yet) recorded count as not reached, so a partial
    report's median and p90 are upper bounds. The 90th percentile is the ``"higher"`` one: a value
    some run really took.
    """
    found = [np.inf if c is None else float(c) for c in costs]
    found += [np.inf] * max(0, (runs_asked or 0) - len(found))
    arr = np.array(found, dtype=float)
    if not len(arr):
        return CostToTarget(np.inf, np.inf, 0.0, 0)
    return CostToTarget(
        median=float(np.median(arr)),
        p90=float(np.percentile(arr, 90, method="higher")),
        share_reached=float(np.isfinite(arr).mean()),
        runs=len(arr),
    )


def format_cost(value: float, digits: int = 2, beyond: str = "> budget") -> str:
    """A table cell for a cost: ``beyond`` where it was not reached (``inf``)."""
    return beyond if not np.isfinite(value) else f"{value:.{digits}f}"


def best_at(curve: list[tuple[float, float]], units: float) -> float:
    """Best high-fidelity value found with at most ``units`` spent (NaN before the first one)."""
    vals = [b for s, b in curve if s <= units + 1e-9 and np.isfinite(b)]
    return vals[-1] if vals else float("nan")


def quantile_curves(
    runs: list[dict[str, Any]], strategy: str, budget: float, points: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Unit grid (log-spaced from 0.05 to ``budget``) and the 25/50/75% quantiles of best-so-far."""
    grid = np.geomspace(0.05, budget, points)
    curves = np.array([[best_at(r["curve"], u) for u in grid] for r in runs if r["strategy"] == strategy])
    if not len(curves):
        return grid, np.full((3, points), np.nan)
    # np.quantile gives NaN where any seed has no value yet: the band starts once every seed has one
    return grid, np.quantile(curves, [0.25, 0.5, 0.75], axis=0)


def plot_best_so_far(
    runs: list[dict[str, Any]], budget: float, optimum: float, title: str, path: str | Path
) -> Path:
    """Write a PNG: one median line and interquartile band per strategy, the optimum dashed."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed on a server
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in dict.fromkeys(r["strategy"] for r in runs):
        grid, (q25, q50, q75) = quantile_curves(runs, name, budget)
        (line,) = ax.plot(grid, q50, label=name)
        ax.fill_between(grid, q25, q75, color=line.get_color(), alpha=0.2)
    ax.axhline(optimum, color="black", linestyle="--", linewidth=1, label="global optimum")
    ax.set_xscale("log")
    ax.set_ylim(optimum - 4, optimum + 0.5)
    ax.set_xlabel("cost spent (high-fidelity evaluations)")
    ax.set_ylabel("best high-fidelity accuracy found (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
