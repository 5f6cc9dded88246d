"""Accuracy against size: the Pareto front of the MobileOne-s0 space on MNIST-5k, with real training on the CPU.

Two objectives: the accuracy the training returns (maximised, learned by the deep ensemble) and the
inference parameter count of the re-parameterized network (minimised, known exactly for every encoding
from its layer shapes, so no network is built for it). BO picks by expected hypervolume improvement,
screening at 1 epoch and confirming at 3; the front is made of 3-epoch results only.

    python examples/pareto_mobileone_mnist.py [--budget 10] [--image-size 16] [--out benchmarks/results/mobileone_pareto]

Writes ``mobileone_pareto.json`` (every high-fidelity trial and the front), ``.md`` (the front as a
table) and ``.png`` (every high-fidelity trial, the front, and MobileOne-s0 trained with the same recipe).
The search file is SQLite: kill the script and run it again with the same --workdir to resume.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from archtune import SearchInstance
from archtune.evaluate.image_classification import create_img_class_evaluator
from archtune.spaces.mobileone import S0_ENCODING, inference_parameters, mobileone_space

RECIPE = {"optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.01, "warmup_epochs": 0.5, "batch_size": 64}
LO_EPOCHS, HI_EPOCHS = 1, 3
# skip blocks start as the identity, so that a deep MobileOne learns within 3 epochs (see tune_mobileone_mnist.py)
BUILDER = "archtune.spaces.mobileone:encoding_to_model_zero_init"
SIZE = "inference_params_m"


def plot_front(trials: list[dict], front: list[dict], baseline: dict, path: Path) -> None:
    """Every high-fidelity trial, the front as a staircase, and MobileOne-s0 as a reference point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.scatter(
        [t[SIZE] for t in trials],
        [t["value"] for t in trials],
        s=18,
        color="0.6",
        label="evaluated (3 epochs)",
    )
    pts = sorted((p[SIZE], p["value"]) for p in front)
    ax.step([x for x, _ in pts], [y for _, y in pts], where="post", color="C0")
    ax.scatter([x for x, _ in pts], [y for _, y in pts], s=30, color="C0", label="Pareto front", zorder=3)
    ax.scatter(
        [baseline[SIZE]], [baseline["value"]], marker="*", s=140, color="C3", label="MobileOne-s0", zorder=4
    )
    ax.set_xlabel("inference parameters (millions)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("MobileOne space on MNIST-5k: accuracy against size")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget", type=float, default=10.0, help="high-fidelity evaluations' worth (default 10)"
    )
    parser.add_argument(
        "--image-size", type=int, default=16, help="MNIST resized to this (default 16: faster)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="where the space and search files go (default: temp)")
    parser.add_argument("--out", default=None, help="folder for mobileone_pareto.json, .md and .png")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="archtune-pareto-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.time()

    space = mobileone_space(str(workdir / "mobileone.space"))
    space.set_pretraining_data({SIZE: [inference_parameters(e) / 1e6 for e in space.encodings]})
    evaluator = create_img_class_evaluator(
        "mnist5k",
        n_classes=10,
        config_to_model_file=BUILDER,
        eval_split="test",
        reparam=True,
        recipe=RECIPE,
        dataset_config={"image_size": args.image_size, "channels": 3},
        seed=args.seed,
    )
    search = SearchInstance(
        "mobileone-pareto",
        str(workdir / "mobileone.search"),
        search_space=space,
        hi_fi_eval=evaluator.at_epochs(HI_EPOCHS),
        hi_fi_cost=HI_EPOCHS,
        lo_fi_eval=evaluator.at_epochs(LO_EPOCHS),
        lo_fi_cost=LO_EPOCHS,
        seed=args.seed,
        objectives={"value": "max", SIZE: "min"},
    )
    search.run_search(eval_budget=args.budget)
    front = [{"encoding": list(e), **v} for e, v in search.pareto()]
    trials = [
        {
            "encoding": list(h["encoding"]),
            "value": h["value"],
            SIZE: inference_parameters(tuple(h["encoding"])) / 1e6,
        }
        for h in search.history()
        if h["fidelity"] == "hi" and h["value"] is not None
    ]
    n_lo = sum(1 for h in search.history() if h["fidelity"] == "lo")
    search.close()

    reference = evaluator(S0_ENCODING, HI_EPOCHS)
    baseline = {
        "encoding": list(S0_ENCODING),
        "value": reference["value"],
        SIZE: inference_parameters(S0_ENCODING) / 1e6,
    }
    dominated_by = [p for p in front if p["value"] >= baseline["value"] and p[SIZE] <= baseline[SIZE]]
    result = {
        "space": "mobileone",
        "dataset": "mnist5k (4,000 train / 1,000 test)",
        "image_size": args.image_size,
        "recipe": RECIPE,
        "lo_fi_epochs": LO_EPOCHS,
        "hi_fi_epochs": HI_EPOCHS,
        "budget": args.budget,
        "seed": args.seed,
        "objectives": {"value": "max", SIZE: "min"},
        "low_fidelity_evaluations": n_lo,
        "high_fidelity_trials": trials,
        "front": front,
        "mobileone_s0": baseline,
        "front_points_dominating_s0": len(dominated_by),
        "seconds": round(time.time() - started, 1),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "mobileone_pareto.json").write_text(json.dumps(result, indent=2) + "\n")
        rows = "".join(f"| {tuple(p['encoding'])} | {p[SIZE]:.3f}M | {p['value']:.2f} |\n" for p in front)
        (out / "mobileone_pareto.md").write_text(
            f"MobileOne space on MNIST-5k ({args.image_size}x{args.image_size}): accuracy against inference "
            f"parameters; lo-fi {LO_EPOCHS} epoch ({n_lo} evaluations), hi-fi {HI_EPOCHS} epochs "
            f"({len(trials)} trials), budget {args.budget:g} hi-fi units, seed {args.seed}, {result['seconds']:.0f} s. "
            f"Produced by `python examples/pareto_mobileone_mnist.py --budget {args.budget:g} --image-size "
            f"{args.image_size} --seed {args.seed} --out {args.out}`.\n\n"
            "| front point: encoding (d, m per stage, SE, branches) | inference params | accuracy (%) |\n|---|---|---|\n"
            + rows
            + f"| MobileOne-s0 (reference, same recipe) {tuple(S0_ENCODING)} | {baseline[SIZE]:.3f}M | {baseline['value']:.2f} |\n\n"
            f"{len(dominated_by)} front point(s) are at least as accurate as MobileOne-s0 with at most its parameters.\n"
        )
        plot_front(trials, front, baseline, out / "mobileone_pareto.png")


if __name__ == "__main__":
    main()
