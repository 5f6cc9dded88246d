"""MNIST-5k: 5,000 MNIST digits (500 per class) shipped with archtune (see ``archtune/datasets/files/PROVENANCE.md``).

Example:
    >>> images, labels = load_mnist5k()
    >>> tuple(images.shape), images.dtype, int(labels.bincount().min())
    ((5000, 1, 28, 28), torch.float32, 500)
    >>> train, test = stratified_split(labels, test_per_class=100, seed=0)
    >>> len(train), len(test)
    (4000, 1000)
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch


@cache
def load_mnist5k() -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float32 (N, 1, 28, 28) scaled to [0, 1], and int64 labels."""
    with (
        resources.files("archtune.datasets.files").joinpath("mnist_5k.csv.gz").open("rb") as raw,
        gzip.open(raw) as fh,
    ):
        table = np.loadtxt(fh, delimiter=",", dtype=np.uint8)
    images = torch.from_numpy(table[:, :784].astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return images, torch.from_numpy(table[:, 784].astype(np.int64))


def stratified_split(
    labels: torch.Tensor, test_per_class: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, test) with ``test_per_class`` test examples of every class, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    test = []
    y = labels.numpy()
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        test.extend(rng.choice(members, size=test_per_class, replace=False).tolist())
    mask = np.zeros(len(y), dtype=bool)
    mask[test] = True
    return torch.from_numpy(np.flatnonzero(~mask)), torch.from_numpy(np.flatnonzero(mask))


def write_mnist_folder(root: str | Path, train_images: int, eval_images: int, image_size: int) -> Path:
    """MNIST-5k digits as an image folder ``root/{train,test}/<digit>/<i>.png`` at ``image_size``
    (bilinear), the first ``train_images`` of the training split and ``eval_images`` of the test split."""
    from PIL import Image

    images, labels = load_mnist5k()
    train, test = stratified_split(labels, test_per_class=100, seed=0)
    root = Path(root)
    for split, index in (("train", train[:train_images]), ("test", test[:eval_images])):
        for i in index.tolist():
            folder = root / split / str(int(labels[i]))
            folder.mkdir(parents=True, exist_ok=True)
            pixels = (images[i, 0].numpy() * 255).round().astype(np.uint8)
            Image.fromarray(pixels).resize((image_size, image_size), Image.BILINEAR).save(
                folder / f"{i:05d}.png"
            )
    return root
