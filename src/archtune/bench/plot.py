"""Best-so-far curves over seeds (median and quartiles), like paper 000's Fig. 3.

Example:
    >>> runs = [{"strategy": "bo", "curve": [(1.0, 90.0), (2.0, 94.0)]},
    ...         {"strategy": "bo", "curve": [(1.0, 92.0), (3.0, 94.0)]}]
    >>> grid, q = quantile_curves(runs, "bo", budget=3.0, points=3)
    >>> q[1].tolist()  # medians at units 0.05, 0.39, 3
    [nan, nan, 94.0]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


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
