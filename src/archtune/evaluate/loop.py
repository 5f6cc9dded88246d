"""The minibatch loop every real-training objective in archtune shares: one shuffled epoch, and accuracy.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x, y = torch.rand(8, 1, 2, 2), torch.tensor([0, 1] * 4)
    >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
    >>> losses = train_epoch(net, opt, x, y, torch.Generator().manual_seed(0), batch=4)
    >>> len(losses), 0.0 <= accuracy(net, x, y) <= 1.0
    (2, True)
"""

from __future__ import annotations

import torch
from torch import nn


def train_epoch(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    batch: int,
    index: torch.Tensor | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> list[float]:
    """One epoch of cross-entropy SGD over ``index`` (default: every example) in an order drawn from
    ``generator``; ``scheduler`` steps after every batch. Returns the batch losses."""
    permutation = torch.randperm(len(labels) if index is None else len(index), generator=generator)
    order = permutation if index is None else index[permutation]
    net.train()
    losses = []
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        loss = nn.functional.cross_entropy(net(images[idx]), labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def count_correct(
    net: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    index: torch.Tensor | None = None,
    chunk: int = 1000,
    device: torch.device | str | None = None,
) -> int:
    """How many of ``images[index]`` are classified correctly, in eval mode, ``chunk`` images at a time
    (moved to ``device`` when given; labels stay where they are)."""
    net.eval()
    idx = torch.arange(len(labels)) if index is None else index
    correct = 0
    for start in range(0, len(idx), chunk):
        part = idx[start : start + chunk]
        batch = images[part] if device is None else images[part].to(device)
        correct += int((net(batch).argmax(dim=1).to(labels.device) == labels[part]).sum())
    return correct


def accuracy(
    net: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    index: torch.Tensor | None = None,
    chunk: int = 1000,
) -> float:
    """Share of ``images[index]`` classified correctly (see :func:`count_correct`)."""
    return count_correct(net, images, labels, index, chunk) / (len(labels) if index is None else len(index))
