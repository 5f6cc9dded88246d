"""How many of NB201's true front cells can 100 high-fidelity evaluations find? A bound behind issue 20's
recall target (front_bound.md). Run from the repository root: ``python benchmarks/results/nb201_mo/front_bound.py``.

Each row ranks all 15,625 cells at once by a score known for *every* cell (no search, no budget spent
on it), least dominated first (by score against the latency column), and counts the true front's cells
(200-epoch test accuracy against ``lat_pixel3``) among the first K: the recall of K high-fidelity
evaluations that followed that ranking. Scores: the 12-epoch validation accuracy (what two-fidelity
screening measures: here measured for every cell, which would cost 937 units), and the 200-epoch
accuracy itself plus Gaussian noise of standard deviation sigma (a predictor that good everywhere;
10 noise draws, mean). Two orderings, both reported as the better of the two: by how many cells dominate
a cell, and by non-dominated sorting (the front of the rest, layer by layer).
"""

import numpy as np

from archtune.datasets.nb201 import DATASETS, load_nb201
from archtune_experiments.tabular.multi_objective import true_front

KS = (25, 50, 100, 200)
LATENCY = "lat_pixel3"


def domination_count(score: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """For each cell, the cells with a lower latency and a higher score (O(n^2) in sorted order)."""
    order = np.argsort(lat, kind="stable")
    s = score[order]
    count = np.empty(len(s), dtype=np.int64)
    for k in range(len(s)):
        count[k] = int((s[:k] > s[k]).sum())
    out = np.empty_like(count)
    out[order] = count
    return out


def layers(score: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Non-dominated sorting layer of each cell (0: the front of all cells)."""
    order = np.argsort(lat, kind="stable")
    layer = np.full(len(score), -1)
    tops: list[
        float
    ] = []  # best score seen so far in each layer (latency ascending): a cell joins the first it beats
    for i in order:
        k = next((j for j, top in enumerate(tops) if score[i] > top), len(tops))
        if k == len(tops):
            tops.append(score[i])
        else:
            tops[k] = score[i]
        layer[i] = k
    return layer


def recall_at(score: np.ndarray, lat: np.ndarray, front: set[int]) -> dict[int, float]:
    best = {}
    for key in (domination_count(score, lat), layers(score, lat)):
        rank = np.lexsort((lat, key))
        for k in KS:
            best[k] = max(best.get(k, 0.0), len(front & set(rank[:k].tolist())) / len(front))
    return best


def main() -> None:
    table = load_nb201()
    lat = table.column(LATENCY)
    print(
        f"NB201 accuracy against {LATENCY}: share of the true front among the first K cells of one ranking\n"
    )
    print("| dataset | front cells | ranked by | " + " | ".join(f"K = {k}" for k in KS) + " |")
    print("|---|---|---|" + "---|" * len(KS))
    for dataset in ("cifar10", "cifar100"):
        front = true_front(dataset, LATENCY)["cells"]
        hi, lo = table.column(DATASETS[dataset][0]), table.column(DATASETS[dataset][1])
        rows = {"12-epoch accuracy of every cell": recall_at(lo, lat, front)}
        for sigma in (0.1, 0.3, 1.0):
            draws = [
                recall_at(hi + np.random.default_rng(r).normal(0, sigma, len(hi)), lat, front)
                for r in range(10)
            ]
            rows[f"200-epoch accuracy + noise sd {sigma}"] = {
                k: float(np.mean([d[k] for d in draws])) for k in KS
            }
        for name, rec in rows.items():
            print(
                f"| {dataset} | {len(front)} | {name} | "
                + " | ".join(f"{100 * rec[k]:.0f}%" for k in KS)
                + " |"
            )


if __name__ == "__main__":
    main()
