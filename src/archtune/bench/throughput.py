"""Training throughput of the image-classification evaluator against a plain PyTorch loop, in one run.

Both train the same network (same seed, same initial weights) on the same in-memory tensors with the
same optimiser, schedule and batch size, and evaluate once per epoch; the runs alternate (evaluator,
plain, evaluator, ...) so that machine noise hits both, and the median images per second is reported.

Example (tiny, to show the shape of the result):
    >>> r = measure_throughput(encoding=(0, 0.25, 0, 0.25, 0, 0.25, 1, 0.25, "no", 1), dataset="digits",
    ...                        image_size=8, repeats=1)
    >>> r["train_images"], r["ratio"] > 0
    (1257, True)
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch import nn

from archtune.evaluate.image_classification import create_img_class_evaluator
from archtune.evaluate.training import TrainingRecipe
from archtune.spaces.mobileone import S0_ENCODING, encoding_to_model


def _plain_loop(encoding: Any, train: Any, test: Any, epochs: int, recipe: TrainingRecipe, seed: int) -> float:
    """What a user would write by hand: build, SGD with a per-step cosine lr, evaluate each epoch."""
    torch.manual_seed(seed)
    model = encoding_to_model(encoding, n_classes=10, in_channels=3)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    steps = epochs * (len(train.labels) // recipe.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(train.labels), generator=generator)
        for i in range(0, len(order) - recipe.batch_size + 1, recipe.batch_size):
            idx = order[i:i + recipe.batch_size]
            loss = nn.functional.cross_entropy(model(train.images[idx]), train.labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        with torch.no_grad():
            for i in range(0, len(test.labels), 500):
                model(test.images[i:i + 500]).argmax(dim=1)
    return time.perf_counter() - start


def measure_throughput(encoding: Any = S0_ENCODING, dataset: str = "mnist5k", image_size: int = 32, epochs: int = 1,
                       repeats: int = 3, batch_size: int = 64, seed: int = 0) -> dict[str, Any]:
    """Median training images/s of the evaluator and of the plain loop, and their ratio."""
    recipe = TrainingRecipe(batch_size=batch_size)
    evaluator = create_img_class_evaluator(dataset, dataset_config={"image_size": image_size, "channels": 3},
                                           recipe=recipe, seed=seed, progress=False)
    train, test = evaluator.data()  # the very tensors the evaluator trains on
    images = epochs * (len(train.labels) // batch_size) * batch_size
    ours, plain = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        evaluator(encoding, epochs)
        ours.append(images / (time.perf_counter() - start))
        plain.append(images / _plain_loop(encoding, train, test, epochs, recipe, seed))
    return {"encoding": list(encoding), "dataset": dataset, "image_size": image_size, "epochs": epochs,
            "repeats": repeats, "train_images": len(train.labels), "torch_threads": torch.get_num_threads(),
            "evaluator_images_per_s": statistics.median(ours), "plain_images_per_s": statistics.median(plain),
            "ratio": statistics.median(ours) / statistics.median(plain)}
