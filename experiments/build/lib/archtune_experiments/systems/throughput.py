"""Training throughput of the image-classification evaluator against a plain PyTorch loop, in one run.

Both read the same image folder through the same DataLoader settings (the same dataset object, batch
sampler, workers and pinned memory), train the same network from the same initial weights with the same
optimiser, per-step schedule and batch size, mixed precision and memory format, and evaluate once per
epoch; the runs alternate (evaluator, plain, evaluator, ...) so that machine noise hits both, and the
median images per second is reported. The evaluator's time includes building the network and its
loaders; the ratio is its overhead.

Example (tiny, to show the shape of the result):
    >>> r = measure_throughput(encoding=(0, 0.25, 0, 0.25, 0, 0.25, 1, 0.25, "no", 1), image_size=8,
    ...                        train_images=64, eval_images=16, batch_size=32, repeats=1, num_workers=0)
    >>> r["train_images"], r["ratio"] > 0
    (64, True)
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archtune.datasets.mnist5k import write_mnist_folder
from archtune.evaluate.image_classification import create_img_class_evaluator
from archtune.evaluate.training import DeviceOptions, Rank, TrainingRecipe, make_loader
from archtune.spaces.mobileone import S0_ENCODING, encoding_to_model


def _plain_loop(
    encoding: Any,
    train: Any,
    test: Any,
    epochs: int,
    recipe: TrainingRecipe,
    seed: int,
    num_workers: int,
    device: torch.device,
    options: DeviceOptions,
) -> float:
    """What a user would write by hand over the same DataLoader: build, SGD with a per-step cosine lr,
    autocast when the evaluator uses it, evaluate each epoch."""
    torch.manual_seed(seed)
    channels_last = options.uses_channels_last(device)
    model = encoding_to_model(encoding, n_classes=10, in_channels=3).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )
    pin = device.type == "cuda"
    train_loader = make_loader(train, recipe.batch_size, Rank(), seed, True, num_workers, pin)
    test_loader = make_loader(test, min(500, 2 * recipe.batch_size), Rank(), seed, False, num_workers, pin)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * len(train_loader))
    dtype = options.amp_dtype(device)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        train_loader.batch_sampler.set_epoch(epoch)
        model.train()
        for x, y in train_loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            scheduler.step()
            float(loss.detach())  # the evaluator reads every loss back too (NaN check)
        model.eval()
        with torch.no_grad():
            for x, y in test_loader:
                with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                    int((model(x.to(device)).argmax(dim=1) == y.to(device)).sum())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure_throughput(
    encoding: Any = S0_ENCODING,
    image_size: int = 64,
    train_images: int = 1024,
    eval_images: int = 256,
    epochs: int = 1,
    repeats: int = 3,
    batch_size: int = 64,
    num_workers: int = 1,
    device: str = "cpu",
    seed: int = 0,
    folder: str | None = None,
) -> dict[str, Any]:
    """Median training images/s of the evaluator and of the plain loop on an MNIST image folder (written
    to a temporary folder unless ``folder`` names one), and their ratio. On CUDA both use AMP and
    channels-last (the evaluator's defaults there)."""
    recipe = TrainingRecipe(batch_size=batch_size)
    with tempfile.TemporaryDirectory(prefix="archtune-throughput-") as tmp:
        root = Path(folder) if folder else write_mnist_folder(tmp, train_images, eval_images, image_size)
        evaluator = create_img_class_evaluator(
            str(root),
            n_classes=10,
            dataset_config={"channels": 3, "num_workers": num_workers},
            recipe=recipe,
            seed=seed,
            progress=False,
            device=device,
            checkpoint=False,
        )
        train, test = evaluator.data()  # the very datasets the evaluator reads
        options = DeviceOptions.from_dict(evaluator.device_options)
        torch_device = torch.device(evaluator.device)
        trained = epochs * (len(train) // batch_size) * batch_size
        ours, plain = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            evaluator(encoding, epochs)
            ours.append(trained / (time.perf_counter() - start))
            plain.append(
                trained
                / _plain_loop(encoding, train, test, epochs, recipe, seed, num_workers, torch_device, options)
            )
    amp = options.amp_dtype(torch_device)
    return {
        "encoding": list(encoding),
        "dataset": f"MNIST-5k image folder ({image_size}x{image_size} PNG, 3 channels)",
        "image_size": image_size,
        "epochs": epochs,
        "repeats": repeats,
        "train_images": len(train),
        "eval_images": len(test),
        "batch_size": batch_size,
        "num_workers": num_workers,
        "device": str(torch_device),
        "amp": None if amp is None else str(amp).replace("torch.", ""),
        "torch_threads": torch.get_num_threads(),
        "evaluator_images_per_s": statistics.median(ours),
        "plain_images_per_s": statistics.median(plain),
        "evaluator_runs": ours,
        "plain_runs": plain,
        "ratio": statistics.median(ours) / statistics.median(plain),
    }


def throughput_markdown(results: list[dict[str, Any]]) -> str:
    """The results as a table (one row per device)."""
    lines = [
        "| device | AMP | network | images | workers | evaluator img/s | plain loop img/s | ratio | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        target = 0.9 if r["device"].startswith("cuda") else 0.95
        lines.append(
            f"| {r['device']} | {r['amp'] or 'off'} | MobileOne-s0 {r['image_size']}x{r['image_size']} | "
            f"{r['train_images']} | {r['num_workers']} | {r['evaluator_images_per_s']:.1f} | "
            f"{r['plain_images_per_s']:.1f} | {r['ratio']:.3f} | >= {target} |"
        )
    return "\n".join(lines) + "\n"
