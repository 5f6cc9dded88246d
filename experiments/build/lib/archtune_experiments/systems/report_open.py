"""``archtune bench report-open``: how long a 10,000-trial HTML report takes to open in headless Chromium.

The search is a real one (``SearchInstance``, random strategy) over a 12,800-encoding space with a
cheap formula objective that returns a 10-epoch learning curve like the image-classification
evaluator's and fails on 1 encoding in 64; the benchmark writes its report and opens it in a fresh tab
several times, from navigation to the drawn page (``body[data-ready="1"]``). :func:`write_synthetic_search`
writes the same trials straight through ``SQLiteStorage`` (seconds instead of a minute), for tests.

Example:
    >>> len(SPACE), objective(SPACE[0])["value"] > 0
    (12800, True)
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

BLOCKS = ("conv", "res", "mbconv", "attn")
SPACE = [
    (d, w, b, k)
    for d in range(1, 9)
    for w in (8, 16, 24, 32, 48, 64, 96, 128)
    for b in BLOCKS
    for k in range(3, 102, 2)
]
EPOCHS = 10


def objective(encoding: tuple[Any, ...], epochs: int = EPOCHS) -> dict[str, Any]:
    """A cheap stand-in for training: accuracy (%) of a formula, with a per-epoch ``curve``.

    Raises:
        RuntimeError: for the widest, deepest attention networks with the largest kernels (1 in 64):
            a stand-in for running out of memory.
    """
    depth, width, block, kernel = encoding
    if block == "attn" and depth == 8 and kernel > 50:
        raise RuntimeError(f"CUDA out of memory (simulated) for depth {depth}, width {width}")
    final = (
        0.55
        + 0.04 * min(depth, 6)
        - 0.01 * max(0, depth - 6)
        + 0.05 * np.log2(width / 8) / 4
        + {"conv": 0.0, "res": 0.04, "mbconv": 0.06, "attn": 0.02}[block]
        - 0.0004 * abs(kernel - 41)
    )
    rate = 0.25 + 0.02 * depth
    curve = [
        {"epoch": e, "eval_accuracy": float(final * (1 - np.exp(-rate * e * EPOCHS / epochs))), "lr": 0.1}
        for e in range(1, epochs + 1)
    ]
    return {"value": 100 * curve[-1]["eval_accuracy"], "curve": curve}


def run_real_search(path: str | os.PathLike[str], n_trials: int, seed: int = 0) -> Path:
    """A real random search of ``n_trials`` evaluations written to ``path``."""
    from archtune import SearchInstance, create_search_space

    space = create_search_space("report-bench", None, encodings=SPACE)
    with SearchInstance(
        "report-bench",
        path,
        search_space=space,
        hi_fi_eval=objective,
        hi_fi_cost=1.0,
        strategy="random",
        seed=seed,
        progress=False,
        max_consecutive_failures=50,
    ) as search:
        search.run_search(eval_budget=n_trials)
    return Path(path)


def write_synthetic_search(
    path: str | os.PathLike[str], n_trials: int, seed: int = 0, lo_share: float = 0.3
) -> Path:
    """The same kind of trials as :func:`run_real_search`, written straight through ``SQLiteStorage``.

    A share ``lo_share`` of them are low-fidelity (2 epochs, cost 0.2).
    """
    from archtune.storage.base import COMPLETE, FAILED, Trial
    from archtune.storage.sqlite import SQLiteStorage

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(SPACE))[:n_trials]
    storage = SQLiteStorage(path)
    try:
        storage.set_meta(
            {
                "name": "report-bench",
                "seed": str(seed),
                "hi_fi_cost": "1.0",
                "lo_fi_cost": "0.2",
                "strategy": "synthetic",
                "constraints": "{}",
                "space_file": "",
                "space_fingerprint": json.dumps({"n_encodings": len(SPACE)}),
                "format": "archtune.search/1",
            }
        )
        for number, index in enumerate(order):
            encoding = SPACE[int(index)]
            lo = rng.random() < lo_share
            key = json.dumps(list(encoding), separators=(",", ":"))
            try:
                result = objective(encoding, epochs=2 if lo else EPOCHS)
            except RuntimeError:
                storage.append(
                    Trial(
                        number,
                        key,
                        "lo" if lo else "hi",
                        0.2 if lo else 1.0,
                        FAILED,
                        error=traceback.format_exc(),
                    )
                )
                continue
            storage.append(
                Trial(
                    number,
                    key,
                    "lo" if lo else "hi",
                    0.2 if lo else 1.0,
                    COMPLETE,
                    result["value"],
                    result,
                    duration=0.01,
                )
            )
    finally:
        storage.close()
    return Path(path)


def fast_folder() -> str:
    """A temporary folder in memory (/dev/shm) when there is one: SQLite's fsync per trial is free there."""
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    return tempfile.mkdtemp(prefix="archtune-report-", dir=base)


def run_report_open_benchmark(
    n_trials: int = 10_000, repeats: int = 5, out: str | None = None, synthetic: bool = False
) -> dict[str, Any]:
    """Build the search, write its report, time opening it in Chromium; writes ``report_open.json`` to ``out``."""
    import shutil

    from archtune.report.browser import chromium_path, time_report_open
    from archtune.report.html import write_report

    folder = fast_folder()
    try:
        search = Path(folder) / "bench.search"
        start = time.perf_counter()
        (write_synthetic_search if synthetic else run_real_search)(search, n_trials)
        built = time.perf_counter() - start
        start = time.perf_counter()
        html = write_report(search, Path(folder) / "report.html")
        rendered = time.perf_counter() - start
        opened = time_report_open(html, repeats)
        version = subprocess.run(
            [chromium_path() or "chromium", "--version"], capture_output=True, text=True
        ).stdout.strip()
        result = {
            "trials": n_trials,
            "search": "synthetic (SQLiteStorage)" if synthetic else "real (SearchInstance, random)",
            "search_seconds": round(built, 2),
            "write_report_seconds": round(rendered, 2),
            "report_bytes": opened["bytes"],
            "open_warmup_s": opened["warmup_s"],
            "open_runs_s": opened["runs_s"],
            "open_median_s": opened["median_s"],
            "chromium": version,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "report_open.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
