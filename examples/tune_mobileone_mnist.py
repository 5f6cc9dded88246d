"""Tune the MobileOne-s0 space (paper 000, Table 1) on MNIST-5k with real training on the CPU.

The data are read from an image folder on disk (``WORKDIR/mnist5k_png/{train,test}/<digit>/<i>.png``,
written from the MNIST-5k that ships with archtune on the first run), image by image through DataLoader
workers, as a user's own dataset would be.

Low fidelity = 1 epoch, high fidelity = 3 epochs (28x28 images repeated to 3 channels); deep-ensemble BO
pretrained on each encoding's inference parameter count (computed from the layer shapes, no network
built), then the found architecture and MobileOne-s0 compared at the high fidelity with the same recipe.
About 12 minutes on 2 cores with the defaults.

    python examples/tune_mobileone_mnist.py [--budget 6] [--out benchmarks/results] [--workdir DIR]

The search file is SQLite: kill the script and run it again with the same --workdir to resume.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from archtune import SearchInstance
from archtune.datasets.mnist5k import write_mnist_folder
from archtune.evaluate.image_classification import create_img_class_evaluator
from archtune.spaces.mobileone import S0_ENCODING, inference_parameters, mobileone_space

RECIPE = {"optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.01, "warmup_epochs": 0.5, "batch_size": 64}
LO_EPOCHS, HI_EPOCHS = 1, 3
# MobileOne with its skip blocks starting as the identity: with the reference initialisation a 42-layer
# MobileOne barely learns in 3 epochs (s0: 29% on MNIST-5k), and every candidate looks alike
BUILDER = "archtune.spaces.mobileone:encoding_to_model_zero_init"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget", type=float, default=6.0, help="high-fidelity evaluations' worth (default 6)"
    )
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--builder", default=BUILDER, help=f"config_to_model_file (default {BUILDER})")
    parser.add_argument("--workdir", default=None, help="where the space and search files go (default: temp)")
    parser.add_argument("--out", default=None, help="folder for mobileone_mnist.json and .md")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="archtune-mobileone-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.time()

    folder = workdir / "mnist5k_png"
    if not (folder / "test").is_dir():  # 4,000 train / 1,000 test PNGs at 28x28, as MNIST ships
        write_mnist_folder(folder.with_suffix(".tmp"), 4000, 1000, 28).rename(folder)
    space = mobileone_space(str(workdir / "mobileone.space"))
    params = [inference_parameters(e) / 1e6 for e in space.encodings]
    space.set_pretraining_data({"inference_params_m": params})
    evaluator = create_img_class_evaluator(
        str(folder),
        n_classes=10,
        config_to_model_file=args.builder,
        eval_split="test",
        reparam=True,
        recipe=RECIPE,
        dataset_config={"image_size": args.image_size, "channels": 3},
        seed=args.seed,
    )
    search = SearchInstance(
        "mobileone-mnist",
        str(workdir / "mobileone.search"),
        search_space=space,
        hi_fi_eval=evaluator.at_epochs(HI_EPOCHS),
        hi_fi_cost=HI_EPOCHS,
        lo_fi_eval=evaluator.at_epochs(LO_EPOCHS),
        lo_fi_cost=LO_EPOCHS,
        seed=args.seed,
    )
    search.run_search(eval_budget=args.budget)
    found, found_value = search.best()
    history = search.history()
    search.close()

    baseline = evaluator(S0_ENCODING, HI_EPOCHS)
    result = {
        "space": "mobileone",
        "dataset": "mnist5k as a PNG image folder (4,000 train / 1,000 test)",
        "image_size": args.image_size,
        "builder": args.builder,
        "recipe": RECIPE,
        "lo_fi_epochs": LO_EPOCHS,
        "hi_fi_epochs": HI_EPOCHS,
        "budget": args.budget,
        "seed": args.seed,
        "evaluations": len(history),
        "found": {
            "encoding": list(found),
            "accuracy": found_value,
            "inference_parameters": inference_parameters(found),
        },
        "mobileone_s0": {
            "encoding": list(S0_ENCODING),
            "accuracy": baseline["value"],
            "inference_parameters": baseline["inference_parameters"],
            "train_parameters": baseline["parameters"],
        },
        "seconds": round(time.time() - started, 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "mobileone_mnist.json").write_text(text + "\n")
        (out / "mobileone_mnist.md").write_text(
            f"MobileOne-s0 space on MNIST-5k ({args.image_size}x{args.image_size}), lo-fi {LO_EPOCHS} epoch, hi-fi "
            f"{HI_EPOCHS} epochs, budget {args.budget} hi-fi units, seed {args.seed}, {result['seconds']:.0f} s\n\n"
            "| architecture | encoding (d, m per stage, SE, branches) | inference params | accuracy (%) |\n"
            "|---|---|---|---|\n"
            f"| search result | {tuple(found)} | {inference_parameters(found) / 1e6:.3f}M | {found_value:.2f} |\n"
            f"| MobileOne-s0 | {S0_ENCODING} | {baseline['inference_parameters'] / 1e6:.3f}M | {baseline['value']:.2f} |\n"
        )


if __name__ == "__main__":
    main()
