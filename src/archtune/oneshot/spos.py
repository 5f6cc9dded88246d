"""One-shot NAS on the NB201 cell space (paper 002, section 4.2), at CPU scale on MNIST-5k.

1. Train the weight-sharing supernet (:class:`NB201Supernet`), one path per step, the path drawn
   uniformly (SPOS, Guo et al. 2019) or from the TNAS sampler (eq. 11: the VAE is retrained every
   round on the paths the supernet currently rates best, and eps rises by ``eps_inc``).
2. Rate architectures by their supernet accuracy on a validation split, and search with regularized
   evolution on that rating.
3. Check the rating against stand-alone training: Kendall tau between supernet accuracy and the test
   accuracy of the same cells trained alone with the same recipe.

Scale (stated, as the issue asks): MNIST-5k (4,000 training digits split 3,000 train / 1,000 validation,
1,000 test digits), stem width ``channels`` = 8 and ``cells_per_stage`` = 1 by default (NB201 uses 16 and
5 on 32x32 colour images), SGD with momentum 0.9, cosine learning rate from 0.05, batch 128.

Example:
    >>> data = OneShotData.load(seed=0, limit=600)
    >>> net = NB201Supernet(channels=4, cells_per_stage=1, in_channels=1)
    >>> _ = train_supernet(net, data, epochs=1, sampler=uniform_sampler, seed=0)
    >>> 0.0 <= supernet_accuracy(net, ("nor_conv_3x3",) * 6, data) <= 1.0
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from archtune.datasets.mnist5k import load_mnist5k, stratified_split
from archtune.datasets.nb201 import OPS
from archtune.evaluate.loop import accuracy, train_epoch
from archtune.nets.nb201 import nb201_net
from archtune.oneshot.nb201_supernet import NB201Supernet

Encoding = tuple[str, ...]
ALL_CELLS: list[Encoding] = [tuple(OPS[(i // 5**e) % 5] for e in range(6)) for i in range(5**6)]
CELL_INDEX = {cell: i for i, cell in enumerate(ALL_CELLS)}


@dataclass
class OneShotData:
    """MNIST-5k split three ways: supernet training, validation (supernet rating), test (stand-alone)."""

    images: torch.Tensor
    labels: torch.Tensor
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor

    @classmethod
    def load(cls, seed: int = 0, limit: int | None = None) -> OneShotData:
        """``limit``: keep only that many digits (for quick examples and tests)."""
        images, labels = load_mnist5k()
        if limit is not None:
            keep = stratified_split(labels, test_per_class=limit // 10, seed=seed)[1]
            images, labels = images[keep], labels[keep]
        per_class = int(labels.bincount().min())
        rest, test = stratified_split(labels, test_per_class=per_class // 5, seed=seed)
        # validation: a fifth of the rest, drawn per class as well
        val_mask = torch.zeros(len(labels), dtype=torch.bool)
        val_local = stratified_split(labels[rest], test_per_class=per_class // 5, seed=seed + 1)[1]
        val_mask[rest[val_local]] = True
        train = rest[~val_mask[rest]]
        return cls(images, labels, train, rest[val_local], test)


Sampler = Callable[[np.random.Generator], Encoding]


class _Path(nn.Module):
    """The supernet as a plain ``net(x)`` module (what the shared training loop calls), one path per call."""

    def __init__(self, net: NB201Supernet, path: Callable[[], Sequence[str]]):
        super().__init__()
        self.net = net
        self.path = path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.path())


def uniform_sampler(rng: np.random.Generator) -> Encoding:
    """SPOS: every cell equally likely."""
    return ALL_CELLS[int(rng.integers(len(ALL_CELLS)))]


def train_supernet(
    net: NB201Supernet,
    data: OneShotData,
    epochs: int,
    sampler: Sampler | Any,
    seed: int = 0,
    lr: float = 0.05,
    batch: int = 128,
    on_epoch: Callable[[int], None] | None = None,
) -> list[float]:
    """Train ``net`` with one sampled path per minibatch; returns the mean loss per epoch.

    ``sampler`` is a function ``rng -> encoding`` or an object with ``draw(rng)`` and, optionally,
    ``end_epoch(net, data, epoch)`` (the TNAS sampler retrains its VAE there).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    draw = sampler.draw if hasattr(sampler, "draw") else sampler
    optimiser = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    steps = epochs * -(-len(data.train) // batch)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    generator = torch.Generator().manual_seed(seed)

    losses = []
    for epoch in range(epochs):
        batch_losses = train_epoch(
            _Path(net, lambda: draw(rng)),
            optimiser,
            data.images,
            data.labels,
            generator,
            batch,
            index=data.train,
            scheduler=schedule,
        )
        losses.append(float(np.mean(batch_losses)))
        if hasattr(sampler, "end_epoch"):
            sampler.end_epoch(net, data, epoch)
        if on_epoch is not None:
            on_epoch(epoch)
    return losses


@torch.no_grad()
def supernet_accuracy(
    net: NB201Supernet, encoding: Sequence[str], data: OneShotData, index: torch.Tensor | None = None
) -> float:
    """Validation accuracy of one path (batch statistics: evaluated in chunks of 1,000)."""

    return accuracy(
        _Path(net, lambda: tuple(encoding)), data.images, data.labels, data.val if index is None else index
    )


def standalone_accuracy(
    encoding: Sequence[str],
    data: OneShotData,
    epochs: int,
    channels: int,
    cells_per_stage: int,
    seed: int = 0,
    lr: float = 0.05,
    batch: int = 128,
) -> float:
    """Test accuracy of the cell's own network trained alone on train + validation, same recipe as the supernet."""
    torch.manual_seed(seed)
    net = nb201_net(encoding, channels=channels, cells_per_stage=cells_per_stage, in_channels=1)
    optimiser = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    both = torch.cat([data.train, data.val])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, epochs * -(-len(both) // batch))
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        train_epoch(
            net, optimiser, data.images, data.labels, generator, batch, index=both, scheduler=schedule
        )
    return accuracy(net, data.images, data.labels, data.test)


class TNASPathSampler:
    """Paths for supernet training from the TNAS sampler (eq. 11).

    After every epoch, ``pool`` paths drawn from the current mixture are rated by supernet accuracy on
    ``rate_on`` validation digits, the VAE is retrained on the ``top_k`` best of them, and eps rises by
    ``eps_inc`` (starting from ``eps_start``).
    """

    def __init__(
        self,
        eps_inc: float = 0.1,
        eps_start: float = 0.0,
        pool: int = 50,
        top_k: int = 10,
        rate_on: int = 500,
        vae_epochs: int = 60,
        seed: int = 0,
    ):
        from archtune.strategy.tnas import TNASSampler

        tokens = np.array([[OPS.index(op) for op in cell] for cell in ALL_CELLS])
        self.sampler = TNASSampler(tokens, [len(OPS)] * 6, vae_epochs, seed)
        self.everything = np.ones(len(ALL_CELLS), dtype=bool)
        self.eps, self.eps_inc = eps_start, eps_inc
        self.pool, self.top_k, self.rate_on, self.seed = pool, top_k, rate_on, seed
        self.rounds = 0

    def draw(self, rng: np.random.Generator) -> Encoding:
        index, _ = self.sampler.draw(rng, self.everything, self.eps)
        return ALL_CELLS[int(index)]  # type: ignore[arg-type]

    def end_epoch(self, net: NB201Supernet, data: OneShotData, epoch: int) -> None:
        rng = np.random.default_rng([self.seed, epoch])
        candidates = {CELL_INDEX[self.draw(rng)] for _ in range(self.pool)}
        subset = data.val[: self.rate_on]
        rated = sorted(candidates, key=lambda i: (-supernet_accuracy(net, ALL_CELLS[i], data, subset), i))
        self.rounds += 1
        self.sampler.retrain(rated[: self.top_k], self.rounds)
        self.eps = min(1.0, self.eps + self.eps_inc)
