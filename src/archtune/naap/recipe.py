"""NAAP-440's training recipe (paper 001, section 2) as a reusable evaluator.

SGD with momentum 0.9 and weight decay 1e-4, batch 256, cross-entropy; the learning rate starts each
3-epoch cycle at 0.1 and is multiplied by 0.1 after every epoch (warm restarts every 3 epochs). The
seed is set before the weights are initialised and before the shuffled loader is built, so every
architecture sees the same permutation of the training set. After each epoch the recipe logs the
training loss's mean and median over the epoch's batches and the test accuracy: the per-epoch
features NAAP-440's predictors use.

Example:
    >>> [round(learning_rate(e), 4) for e in range(7)]
    [0.1, 0.01, 0.001, 0.1, 0.01, 0.001, 0.1]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from archtune.evaluate.loop import accuracy, train_epoch
from archtune.naap.schemes import Layer, naap_net

BASE_LR, DECAY, CYCLE_EPOCHS = 0.1, 0.1, 3
MOMENTUM, WEIGHT_DECAY, BATCH = 0.9, 1e-4, 256


def learning_rate(epoch: int) -> float:
    """Learning rate of epoch ``epoch`` (0-based): 0.1, 0.01, 0.001, then the cycle restarts."""
    return BASE_LR * DECAY ** (epoch % CYCLE_EPOCHS)


def train_with_recipe(
    scheme: Sequence[Layer],
    images: torch.Tensor,
    labels: torch.Tensor,
    train_idx: torch.Tensor,
    test_idx: torch.Tensor,
    epochs: int,
    seed: int = 0,
    num_classes: int = 10,
) -> list[dict[str, Any]]:
    """Train the scheme's network; one dict per epoch: epoch, lr, loss_mean, loss_median, accuracy."""
    torch.manual_seed(seed)  # the weights
    net = naap_net(scheme, in_channels=images.shape[1], num_classes=num_classes)
    opt = torch.optim.SGD(net.parameters(), lr=BASE_LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    loader_gen = torch.Generator().manual_seed(seed)  # the shuffling, the same for every architecture
    log = []
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = learning_rate(epoch)
        losses = train_epoch(net, opt, images, labels, loader_gen, BATCH, index=train_idx)
        log.append(
            {
                "epoch": epoch + 1,
                "lr": learning_rate(epoch),
                "loss_mean": float(np.mean(losses)),
                "loss_median": float(np.median(losses)),
                "accuracy": accuracy(net, images, labels, test_idx),
            }
        )
    return log
