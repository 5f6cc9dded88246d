"""How much full training a NAAP predictor saves inside a search (``archtune naap search``).

NAAP-440 as a lookup objective: high fidelity = an architecture's best accuracy over 90 epochs (cost
90), low fidelity = :class:`~archtune.naap.fidelity.PredictedFidelity` on its first k epochs (cost k):
the curve is looked up, our predictor turns it into an estimate of the final accuracy. For each seed the
440 architectures are split in two halves at random: the predictor learns from one half, the search runs
on the other (so it never predicts an architecture it was trained on). Compared, through
:class:`~archtune.search.instance.SearchInstance`: BO with the predicted fidelity, BO with full training
only, random search. Reported: full-training units until the half's best architecture is evaluated.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import preprocessing

from archtune.naap.data import EPOCH_METRICS, load_naap440
from archtune.naap.fidelity import PredictedFidelity
from archtune.naap.schemes import generate_schemes, scheme_to_encoding
from archtune.report.benchmarks import cost_to_target, format_cost
from archtune.search.instance import SearchInstance
from archtune.space.encoding import encoding_key
from archtune.space.search_space import create_search_space
from archtune.strategy.bo import BayesianOptimization
from archtune_experiments.naap.baseline import feature_matrix
from archtune_experiments.naap.predictor import AveragedRegressor, scheme_features

VARIANTS = ("bo + predicted fidelity", "bo, full training only", "random")


def _run(seed: int, budget: float, epochs: int, variant: str, workdir: Path) -> float | None:
    table = load_naap440()
    half = np.random.default_rng(seed).permutation(440)
    learn, search = np.sort(half[:220]), np.sort(half[220:])
    schemes = generate_schemes()
    encodings = [scheme_to_encoding(schemes[i]) for i in search]
    row = {encoding_key(e): int(i) for e, i in zip(encodings, search, strict=True)}
    space = create_search_space(
        "naap-half",
        None,
        encodings,
        pretraining_data={
            "params": table.scheme["NumParams"][search],
            "macs": table.scheme["NumMACs"][search],
        },
    )

    def full_training(encoding: Any) -> float:
        return float(table.max_accuracy[row[encoding_key(encoding)]])

    def first_epochs(encoding: Any) -> list[dict[str, float]]:
        i = row[encoding_key(encoding)]
        return [{m: float(table.epochs[m][i, e]) for m in EPOCH_METRICS} for e in range(epochs)]

    kwargs: dict[str, Any] = {
        "hi_fi_eval": full_training,
        "hi_fi_cost": 90.0,
        "seed": seed,
        "progress": False,
        # BO on the deep ensemble, as the committed table was recorded (at one fidelity the default
        # surrogate is the GP now)
        "strategy": "random" if variant == "random" else BayesianOptimization(surrogate="ensemble"),
    }
    if variant == "bo + predicted fidelity":  # the predictor learns from the other half only
        X = np.column_stack([scheme_features(table), feature_matrix(table, epochs)[:, 6:]])
        scaler = preprocessing.StandardScaler().fit(X[learn])
        predictor = AveragedRegressor(seed).fit(scaler.transform(X[learn]), table.max_accuracy[learn])

        def features(encoding: Any, curve: list[dict[str, float]]) -> np.ndarray:
            return scaler.transform(X[[row[encoding_key(encoding)]]])[
                0
            ]  # the curve's values are these columns

        kwargs.update(
            lo_fi_eval=PredictedFidelity(first_epochs, predictor, features), lo_fi_cost=float(epochs)
        )
    with SearchInstance(
        "naap", workdir / f"{variant[:6].strip()}-{seed}.search", search_space=space, **kwargs
    ) as s:
        s.run_search(eval_budget=budget)
        best = float(table.max_accuracy[search].max())
        spent = 0.0
        for h in s.history():
            spent += h["cost"] / 90.0
            if h["fidelity"] == "hi" and h["value"] is not None and h["value"] >= best:
                return spent
    return None


def run_naap_search_benchmark(
    seeds: int = 10, budget: float = 40.0, epochs: int = 9, out_dir: str | None = None
) -> dict[str, Any]:
    """Every (variant, seed); prints and optionally writes a markdown table and JSON."""
    found: dict[str, list[float | None]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in VARIANTS:
            for seed in range(seeds):
                found[variant].append(_run(seed, budget, epochs, variant, Path(tmp)))
            print(f"{variant}: {found[variant]}", flush=True)
    lines = [
        f"NAAP-440 halves (220 architectures), full-training units until the half's best is found "
        f"(budget {budget:g}, predicted fidelity from {epochs} epochs costs {epochs}/90)",
        "",
        "| strategy | seeds | median units | p90 | found within budget |",
        "|---|---|---|---|---|",
    ]
    summary = {}
    for variant, values in found.items():
        found = cost_to_target(values)
        summary[variant] = {
            "median_units": found.median,
            "p90_units": found.p90,
            "share_found": found.share_reached,
            "runs": values,
        }
        lines.append(
            f"| {variant} | {len(values)} | {format_cost(found.median, 1)} | {format_cost(found.p90, 1)} "
            f"| {100 * found.share_reached:.0f}% |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "naap440_search.md").write_text(text)
        (Path(out_dir) / "naap440_search.json").write_text(json.dumps(summary, indent=1))
    return summary
