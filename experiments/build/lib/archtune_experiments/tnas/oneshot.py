"""``archtune tnas oneshot``: SPOS vs TNAS-sampled supernet training, rated against stand-alone training.

For each sampler: train the supernet, rate ``n_cells`` fixed random cells by supernet accuracy and
compute Kendall tau against their stand-alone test accuracy (the same cells for every sampler; their
stand-alone accuracies are computed once and cached in ``<out>/oneshot_standalone.cache.json``), then
run regularized evolution for ``queries`` supernet ratings and train its best cell alone.

Example::

    archtune tnas oneshot --samplers spos,tnas --cells 24 --out benchmarks/results
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau

from archtune.oneshot.nb201_supernet import NB201Supernet
from archtune.oneshot.spos import (
    ALL_CELLS,
    OneShotData,
    TNASPathSampler,
    standalone_accuracy,
    supernet_accuracy,
    train_supernet,
    uniform_sampler,
)
from archtune.space.search_space import SearchSpace, create_search_space
from archtune.strategy.evolution import RegularizedEvolution


def _standalone_job(
    cell: tuple[str, ...], epochs: int, channels: int, cells_per_stage: int, seed: int
) -> float:
    """One stand-alone training in a worker process (which loads the data itself)."""
    torch.set_num_threads(1)
    return standalone_accuracy(cell, OneShotData.load(seed), epochs, channels, cells_per_stage, seed)


@functools.cache
def _cell_space() -> SearchSpace:
    return create_search_space("nb201-cells", None, ALL_CELLS)


def evolve_on_supernet(
    net: NB201Supernet, data: OneShotData, queries: int, seed: int
) -> tuple[tuple[str, ...], float]:
    """Regularized evolution with supernet validation accuracy as the objective; the best (cell, rating)."""
    from archtune_experiments.in_memory import search_in_memory

    space = _cell_space()
    history = search_in_memory(
        space, lambda cell: supernet_accuracy(net, tuple(cell), data), RegularizedEvolution(), seed, queries
    )
    best = max(history, key=lambda h: h["value"])  # the first of equals, as the search met them
    return tuple(best["encoding"]), float(best["value"])


def run_oneshot(
    samplers: list[str],
    n_cells: int = 24,
    channels: int = 8,
    cells_per_stage: int = 1,
    epochs: int = 10,
    standalone_epochs: int = 10,
    queries: int = 200,
    seed: int = 0,
    eps_inc: float = 0.1,
    out_dir: str | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Run the experiment for each sampler (``spos``, ``tnas``); print and optionally write a table.

    ``workers`` > 1 trains the stand-alone cells in that many processes at once.
    """
    torch.set_num_threads(1)
    data = OneShotData.load(seed)
    rng = np.random.default_rng(seed)
    cells = [ALL_CELLS[i] for i in rng.choice(len(ALL_CELLS), n_cells, replace=False)]
    cache_file = Path(out_dir) / "oneshot_standalone.cache.json" if out_dir else None
    settings = f"C={channels},N={cells_per_stage},epochs={standalone_epochs},seed={seed}"
    cache: dict[str, float] = (
        json.loads(cache_file.read_text()).get(settings, {}) if cache_file and cache_file.exists() else {}
    )

    def key(cell: tuple[str, ...]) -> str:
        return "|".join(cell)

    def record(cell: tuple[str, ...], value: float) -> None:
        cache[key(cell)] = value
        print(f"  stand-alone {key(cell)}: {value:.4f}", flush=True)
        if cache_file is not None:  # after every cell: a killed run keeps what it trained
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            stored = json.loads(cache_file.read_text()) if cache_file.exists() else {}
            stored[settings] = cache
            cache_file.write_text(json.dumps(stored, indent=1))

    def alone(cell: tuple[str, ...]) -> float:
        if key(cell) not in cache:
            record(cell, standalone_accuracy(cell, data, standalone_epochs, channels, cells_per_stage, seed))
        return cache[key(cell)]

    missing = [c for c in cells if key(c) not in cache]
    if workers > 1 and missing:  # the stand-alone trainings are independent: one process each
        # spawn, not fork: a forked child of a process that has run autograd cannot backpropagate
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            jobs = {
                pool.submit(_standalone_job, c, standalone_epochs, channels, cells_per_stage, seed): c
                for c in missing
            }
            for job in as_completed(jobs):
                record(jobs[job], job.result())
    truth = [alone(c) for c in cells]
    results: dict[str, Any] = {}
    for name in samplers:
        if name not in ("spos", "tnas"):
            raise ValueError(f"unknown sampler {name!r}: spos or tnas")
        start = time.perf_counter()
        torch.manual_seed(seed)  # the supernet's initial weights: not whatever the global generator holds now
        net = NB201Supernet(channels, cells_per_stage, in_channels=1)
        sampler = uniform_sampler if name == "spos" else TNASPathSampler(eps_inc=eps_inc, seed=seed)
        train_supernet(
            net,
            data,
            epochs,
            sampler,
            seed=seed,
            on_epoch=lambda e, n=name: print(f"  {n} supernet epoch {e + 1}/{epochs}", flush=True),
        )
        ratings = [supernet_accuracy(net, c, data) for c in cells]
        tau = float(kendalltau(ratings, truth).statistic)
        best_cell, best_rating = evolve_on_supernet(net, data, queries, seed)
        results[name] = {
            "kendall_tau": tau,
            "best_cell": list(best_cell),
            "best_supernet_accuracy": best_rating,
            "best_standalone_accuracy": alone(best_cell),
            "seconds": time.perf_counter() - start,
        }
        print(
            f"{name}: Kendall tau {tau:.3f}; evolution's best {best_cell}: supernet {best_rating:.4f}, "
            f"stand-alone {results[name]['best_standalone_accuracy']:.4f}",
            flush=True,
        )
    meta = {
        "n_cells": n_cells,
        "channels": channels,
        "cells_per_stage": cells_per_stage,
        "epochs": epochs,
        "standalone_epochs": standalone_epochs,
        "queries": queries,
        "seed": seed,
        "eps_inc": eps_inc,
    }
    md = to_markdown(results, meta, truth)
    print(md)
    if out_dir is not None:
        (Path(out_dir) / "tnas_oneshot.md").write_text(md)
        (Path(out_dir) / "tnas_oneshot.json").write_text(
            json.dumps({"meta": meta, "results": results}, indent=1)
        )
    return results


def to_markdown(results: dict[str, Any], meta: dict[str, Any], truth: list[float]) -> str:
    lines = [
        f"One-shot NAS on the NB201 cell space, MNIST-5k (3,000 train / 1,000 validation / 1,000 test digits), "
        f"stem width C={meta['channels']}, {meta['cells_per_stage']} cell(s) per stage, supernet {meta['epochs']} "
        f"epochs, stand-alone {meta['standalone_epochs']} epochs (same recipe), {meta['n_cells']} random cells "
        f"(stand-alone test accuracy {min(truth):.4f} to {max(truth):.4f}), evolution {meta['queries']} queries",
        "",
        "| supernet sampler | Kendall tau (supernet vs stand-alone) | evolution's best: supernet acc | its stand-alone "
        "test acc | best of the random cells, stand-alone | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        label = "SPOS (uniform)" if name == "spos" else f"TNAS (eps_inc {meta['eps_inc']:g})"
        lines.append(
            f"| {label} | {r['kendall_tau']:.3f} | {r['best_supernet_accuracy']:.4f} | "
            f"{r['best_standalone_accuracy']:.4f} | {max(truth):.4f} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"
