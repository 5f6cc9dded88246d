"""``archtune bench checkpoint-reuse``: what continuing the low fidelity's training saves on the MobileOne
example (examples/tune_mobileone_mnist.py): the same search twice, with and without the continuation.

Both runs: the MobileOne-s0 space, MNIST-5k at ``image_size``, the example's recipe and builder, low
fidelity 1 epoch (cost 1), high fidelity 3 epochs (cost 3), deep-ensemble BO (not pretrained: unlike the
example, no zero-cost data), the same seed and budget.
The recipe's cosine schedule spans the high fidelity's 3 epochs (``schedule_epochs=3``), so the low
fidelity is the first epoch of a high-fidelity run and continuing it is exact; the example itself gives
each run its own cosine, for which continuation is off by default. With it on, each high-fidelity
confirmation of a screened encoding trains 2 more epochs and is charged 2 instead of 3.

Reported: the high-fidelity evaluations the budget bought, the charge and seconds of each, the spent
budget, the best value, and, for the first encoding both runs confirmed, the continued and the
from-scratch high-fidelity values (equal when continuation is exact).

Example:
    >>> from archtune_experiments.systems.checkpoint_reuse import to_markdown
    >>> to_markdown({"runs": {}, "setting": {"budget": 1, "image_size": 8}, "same_result": None}).splitlines()[0]
    '# Low fidelity reused by high fidelity: MobileOne on MNIST-5k (8x8), budget 1 high-fidelity units'
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

LO_EPOCHS, HI_EPOCHS = 1, 3
RECIPE = {"optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.01, "warmup_epochs": 0.5, "batch_size": 64}
BUILDER = "archtune.spaces.mobileone:encoding_to_model_zero_init"


def _run(reuse: bool, budget: float, image_size: int, seed: int, folder: Path) -> dict[str, Any]:
    from archtune import SearchInstance
    from archtune.evaluate.image_classification import create_img_class_evaluator
    from archtune.spaces.mobileone import mobileone_space

    # no pretraining data: the example pretrains the ensemble on inference parameters, which takes longer
    # than the training measured here on a busy 2-core machine and has nothing to do with checkpoints
    space = mobileone_space(str(folder / "mobileone.space"))
    evaluator = create_img_class_evaluator(
        "mnist5k",
        n_classes=10,
        config_to_model_file=BUILDER,
        eval_split="test",
        reparam=True,
        recipe=RECIPE,
        dataset_config={"image_size": image_size, "channels": 3},
        seed=seed,
        progress=False,
        schedule_epochs=HI_EPOCHS,
        continue_lo_fi=None if reuse else False,
    )
    started = time.perf_counter()
    search = SearchInstance(
        "reuse" if reuse else "plain",
        str(folder / "run.search"),
        search_space=space,
        hi_fi_eval=evaluator.at_epochs(HI_EPOCHS),
        hi_fi_cost=HI_EPOCHS,
        lo_fi_eval=evaluator.at_epochs(LO_EPOCHS),
        lo_fi_cost=LO_EPOCHS,
        seed=seed,
        progress=False,
    )
    search.run_search(eval_budget=budget)
    seconds = time.perf_counter() - started
    history = search.history()
    best = search.best()
    model = search.best_model_path()
    search.close()
    hi = [h for h in history if h["fidelity"] == "hi" and h["status"] == "COMPLETE"]
    lo = [h for h in history if h["fidelity"] == "lo" and h["status"] == "COMPLETE"]
    return {
        "continuation": search.work.reuse,
        "evaluations": len(history),
        "lo_evaluations": len(lo),
        "hi_evaluations": len(hi),
        "hi_continued": sum(1 for h in hi if h["metrics"].get("continued_from_epoch")),
        "spent": sum(h["cost"] for h in history),
        "hi_charges": [h["cost"] for h in hi],
        "hi_seconds": [round(h["duration"], 2) for h in hi],
        "lo_seconds_mean": round(statistics.fmean(h["duration"] for h in lo), 2) if lo else None,
        "hi_seconds_mean": round(statistics.fmean(h["duration"] for h in hi), 2) if hi else None,
        "hi_values": {json.dumps(list(h["encoding"])): h["value"] for h in hi},
        "best": None if best is None else {"encoding": list(best[0]), "value": best[1]},
        "best_model_kept": model is not None,
        "seconds": round(seconds, 1),
    }


def run_checkpoint_reuse(
    budget: float = 6.0, image_size: int = 8, out: str | None = None, seed: int = 0
) -> dict[str, Any]:
    """Run both searches (in temporary folders) and write ``checkpoint_reuse.json`` and ``.md`` to ``out``."""
    runs = {}
    for name, reuse in (("continued", True), ("from_scratch", False)):
        with tempfile.TemporaryDirectory(prefix=f"archtune-reuse-{name}-") as folder:
            runs[name] = _run(reuse, budget, image_size, seed, Path(folder))
    both = [k for k in runs["continued"]["hi_values"] if k in runs["from_scratch"]["hi_values"]]
    same = None
    if both:
        a, b = runs["continued"]["hi_values"][both[0]], runs["from_scratch"]["hi_values"][both[0]]
        same = {"encoding": json.loads(both[0]), "continued": a, "from_scratch": b, "difference": abs(a - b)}
    result = {
        "benchmark": "checkpoint-reuse",
        "command": f"archtune bench checkpoint-reuse --budget {budget:g} --image-size {image_size}"
        + (f" --out {out}" if out else ""),
        "setting": {
            "space": "mobileone (no pretraining data)",
            "dataset": "mnist5k",
            "image_size": image_size,
            "builder": BUILDER,
            "recipe": {**RECIPE, "schedule_epochs": HI_EPOCHS},
            "lo_fi": {"epochs": LO_EPOCHS, "cost": LO_EPOCHS},
            "hi_fi": {"epochs": HI_EPOCHS, "cost": HI_EPOCHS},
            "strategy": "bo",
            "budget": budget,
            "seed": seed,
        },
        "runs": runs,
        "same_result": same,
    }
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "checkpoint_reuse.json").write_text(json.dumps(result, indent=2) + "\n")
        (folder / "checkpoint_reuse.md").write_text(to_markdown(result))
    return result


def to_markdown(result: dict[str, Any]) -> str:
    """The two runs side by side."""
    setting = result["setting"]
    lines = [
        f"# Low fidelity reused by high fidelity: MobileOne on MNIST-5k ({setting['image_size']}x"
        f"{setting['image_size']}), budget {setting['budget']:g} high-fidelity units",
        "",
    ]
    if result.get("command"):
        lines += [f"Command: `{result['command']}`", ""]
    if result["runs"]:
        lines += [
            "| run | continuation | lo evals | hi evals | hi continued | hi charges | mean hi s | mean lo s | "
            "spent | best (%) | wall s |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, r in result["runs"].items():
            best = "-" if r["best"] is None else f"{r['best']['value']:.2f}"
            lines.append(
                f"| {name} | {'on' if r['continuation'] else 'off'} | {r['lo_evaluations']} | "
                f"{r['hi_evaluations']} | {r['hi_continued']} | {', '.join(f'{c:g}' for c in r['hi_charges'])} | "
                f"{r['hi_seconds_mean']} | {r['lo_seconds_mean']} | {r['spent']:g} | {best} | {r['seconds']} |"
            )
    same = result.get("same_result")
    if same:
        lines += [
            "",
            f"First encoding confirmed by both runs {tuple(same['encoding'])}: continued "
            f"{same['continued']:.4f}%, from scratch {same['from_scratch']:.4f}% (difference "
            f"{same['difference']:.2e}).",
        ]
    return "\n".join(lines) + "\n"
