"""Resident memory of the evaluator against dataset size: one epoch over generated image folders of
2,000 and 20,000 PNG images (64x64), each in a fresh child process; the streaming pipeline should keep the
peak within 1.25x when the data grow tenfold.

The child samples the resident set size (RSS) of itself and of its DataLoader workers every 20 ms and
reports the peak of the sum (shared pages count once per process, so this overstates rather than hides),
with its own ``ru_maxrss``.

Example (tiny):
    >>> import tempfile
    >>> root = write_image_folder(tempfile.mkdtemp(), 40, eval_images=10, image_size=16)
    >>> r = peak_training_rss(root, image_size=16, batch_size=8, num_workers=0)
    >>> r["train_images"], r["peak_rss_mb"] > 0
    (40, True)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

SMALL_CNN = "archtune_experiments.systems.memory:small_cnn"


def small_cnn(encoding: Any, n_classes: int, in_channels: int = 3) -> nn.Module:
    """A small CNN (``encoding`` = width): the benchmark measures the data pipeline, not the network."""
    w = int(encoding)
    return nn.Sequential(
        nn.Conv2d(in_channels, w, 3, stride=2, padding=1),
        nn.BatchNorm2d(w),
        nn.ReLU(),
        nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),
        nn.BatchNorm2d(2 * w),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * w, n_classes),
    )


def write_image_folder(
    root: str | Path,
    train_images: int,
    eval_images: int = 200,
    image_size: int = 64,
    classes: int = 10,
    seed: int = 0,
) -> Path:
    """``root/{train,test}/<class>/<i>.png``: RGB images whose colour says the class, with noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (classes, 3))
    root = Path(root)
    for split, n in (("train", train_images), ("test", eval_images)):
        for c in range(classes):
            (root / split / f"c{c}").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            c = i % classes
            noise = rng.normal(0, 40, (image_size, image_size, 3))
            pixels = np.clip(palette[c] + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / split / f"c{c}" / f"{i:06d}.png")
    return root


_CHILD = r"""
import json, os, resource, sys, threading, time
import psutil
root, image_size, batch_size, workers, builder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
me, peak, done = psutil.Process(), [0], threading.Event()
def sample():
    while not done.is_set():
        try:
            total = me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))
        except psutil.Error:
            continue
        peak[0] = max(peak[0], total)
        time.sleep(0.02)
threading.Thread(target=sample, daemon=True).start()
from archtune.evaluate.image_classification import create_img_class_evaluator
ev = create_img_class_evaluator(root, n_classes=10, config_to_model_file=builder, progress=False, checkpoint=False,
                                dataset_config={"image_size": image_size, "channels": 3, "num_workers": workers},
                                recipe={"batch_size": batch_size})
start = time.perf_counter()
result = ev(16, 1)
seconds = time.perf_counter() - start
done.set()
print(json.dumps({"peak_rss_mb": peak[0] / 2**20, "main_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "train_images": len(ev.data()[0]), "seconds": seconds, "accuracy": result["value"]}))
"""


def peak_training_rss(
    root: str | Path, image_size: int = 64, batch_size: int = 64, num_workers: int = 2
) -> dict[str, Any]:
    """Train one epoch on the folder in a fresh Python process; its peak memory and time."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(root),
            str(image_size),
            str(batch_size),
            str(num_workers),
            SMALL_CNN,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_memory(
    sizes: tuple[int, ...] = (2000, 20000),
    image_size: int = 64,
    batch_size: int = 64,
    num_workers: int = 2,
    workdir: str | None = None,
) -> dict[str, Any]:
    """Peak memory of one training epoch per dataset size, and the largest over the smallest."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="archtune-memory-", dir=workdir) as tmp:
        for n in sizes:
            root = write_image_folder(Path(tmp) / f"n{n}", n, image_size=image_size)
            rows.append({"images": n, **peak_training_rss(root, image_size, batch_size, num_workers)})
    return {
        "image_size": image_size,
        "batch_size": batch_size,
        "num_workers": num_workers,
        "network": SMALL_CNN,
        "rows": rows,
        "ratio": rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"],
        "main_ratio": rows[-1]["main_maxrss_mb"] / rows[0]["main_maxrss_mb"],
        "bound": 1.25,
    }


def memory_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"One training epoch over a generated {result['image_size']}x{result['image_size']} PNG folder, "
        f"{result['num_workers']} loader workers, batch {result['batch_size']}, `{result['network']}`.",
        "",
        "| training images | peak RSS, process + workers (MiB) | main process ru_maxrss (MiB) | seconds |",
        "|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['images']:,} | {r['peak_rss_mb']:.0f} | {r['main_maxrss_mb']:.0f} | {r['seconds']:.1f} |"
        )
    lines += [
        "",
        f"Ratio largest/smallest: {result['ratio']:.3f} (process + workers), {result['main_ratio']:.3f} "
        f"(main process); bound {result['bound']}.",
    ]
    return "\n".join(lines) + "\n"
