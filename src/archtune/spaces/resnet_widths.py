"""Paper 004's simplified ResNet-18 width search at small scale, trained for real on MNIST-5k.

Five numeric knobs as in the paper's Table 1: the stem's channels (c1) and the width of each of the
four groups (g1..g4). As in the paper the stem has stride 2 and there is no max-pool; at this scale
each group is one basic block (two 3x3 convolutions with a residual connection), groups 2-4 halve the
resolution. The objective trains with SGD (momentum, cosine schedule) on 4,000 images and returns the
accuracy (%) on the 1,000 held out, deterministically for a given seed.

Example:
    >>> net = resnet_widths_net({"c1": 8, "g1": 16, "g2": 16, "g3": 32, "g4": 32})
    >>> net(torch.rand(2, 1, 28, 28)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import nn

from archtune.datasets.mnist5k import load_mnist5k, stratified_split
from archtune.evaluate.loop import accuracy, train_epoch

STEM_WIDTHS = tuple(range(4, 33, 4))  # c1
GROUP_WIDTHS = tuple(range(8, 65, 8))  # g1..g4
KNOBS = ("c1", "g1", "g2", "g3", "g4")


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection (1x1 projection when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet_widths_net(encoding: dict[str, int], num_classes: int = 10) -> nn.Module:
    """The network for ``{"c1": .., "g1": .., "g2": .., "g3": .., "g4": ..}`` on 1-channel images."""
    layers: list[nn.Module] = [
        nn.Conv2d(1, encoding["c1"], 3, 2, 1, bias=False),
        nn.BatchNorm2d(encoding["c1"]),
        nn.ReLU(),
    ]
    c = encoding["c1"]
    for k, group in enumerate(("g1", "g2", "g3", "g4")):
        layers.append(BasicBlock(c, encoding[group], stride=1 if k == 0 else 2))
        c = encoding[group]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)


def resnet_widths_encodings() -> list[dict[str, int]]:
    """The 8^5 = 32,768 width combinations."""
    return [
        dict(zip(KNOBS, combo, strict=True))
        for combo in itertools.product(STEM_WIDTHS, GROUP_WIDTHS, GROUP_WIDTHS, GROUP_WIDTHS, GROUP_WIDTHS)
    ]


def train_and_evaluate(encoding: dict[str, Any], epochs: int = 2, seed: int = 0, batch: int = 100) -> float:
    """Train on 4,000 MNIST-5k images and return accuracy (%) on the other 1,000."""
    torch.manual_seed(seed)
    images, labels = load_mnist5k()
    train_idx, test_idx = stratified_split(labels, test_per_class=100, seed=0)
    net = resnet_widths_net(encoding)
    steps = epochs * math.ceil(len(train_idx) / batch)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        train_epoch(net, opt, images, labels, gen, batch, index=train_idx, scheduler=schedule)
    return accuracy(net, images, labels, test_idx) * 100
