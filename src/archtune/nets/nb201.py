"""The NAS-Bench-201 cell network in PyTorch, so ``preprocess`` profiles real parameters and FLOPs.

Macro skeleton of Dong & Yang (2020), the one NB201's accuracies were trained with: a 3x3 conv stem
with C=16 channels, three stages of N=5 cells (C, 2C, 4C channels) joined by residual reduction blocks
(stride 2), then BN-ReLU, global average pooling and a linear classifier. A cell is a 4-node DAG: node
i sums ``op(node j)`` over j < i, one of five operations per edge; node 3 is the cell's output.
Convolutions are ReLU-Conv-BN; ``none`` edges are left out (they contribute zeros, so leaving them out
keeps the function and counts no FLOPs for them, as NB201's own inference cells do).

Example:
    >>> net = nb201_net(("nor_conv_3x3",) * 6)
    >>> round(sum(p.numel() for p in net.parameters()) / 1e6, 2)
    1.53
    >>> net(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from archtune.datasets.nb201 import EDGES, OPS
from archtune.errors import ConfigError

STEM_CHANNELS, CELLS_PER_STAGE = 16, 5


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution without bias, batch norm: NB201's convolution operation."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int):
        super().__init__(
            nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c_out)
        )


def _operation(op: str, channels: int) -> nn.Module:
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1)
    if op == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ConfigError(f"unknown NB201 operation {op!r}; valid: {', '.join(OPS)}")


class Cell(nn.Module):
    """One NB201 cell for a 6-tuple of operations in edge order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)."""

    def __init__(self, ops: Sequence[str], channels: int):
        super().__init__()
        self.edges = [(dst, src) for (dst, src), op in zip(EDGES, ops, strict=True) if op != "none"]
        self.ops = nn.ModuleList(_operation(op, channels) for op in ops if op != "none")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for (dst, src), op in zip(self.edges, self.ops, strict=True):
            if nodes[src] is None:  # an input that is always zero adds nothing
                continue
            out = op(nodes[src])
            current = nodes[dst]
            nodes[dst] = out if current is None else current + out
        return nodes[3] if nodes[3] is not None else torch.zeros_like(x)


class ResidualReduction(nn.Module):
    """NB201's reduction block: two ReLU-Conv-BN 3x3 (the first with stride 2) plus a pooled 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


def nb201_net(
    encoding: Sequence[str],
    num_classes: int = 10,
    channels: int = STEM_CHANNELS,
    cells_per_stage: int = CELLS_PER_STAGE,
    in_channels: int = 3,
) -> nn.Module:
    """The whole network for one cell encoding (6 operation names), for ``in_channels``-channel images."""
    ops = tuple(encoding)
    if len(ops) != len(EDGES):
        raise ConfigError(f"an NB201 cell has {len(EDGES)} edges, got {len(ops)} operations: {ops!r}")
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels),
    ]
    c = channels
    for stage in range(3):
        if stage > 0:
            layers.append(ResidualReduction(c, 2 * c))
            c *= 2
        layers.extend(Cell(ops, c) for _ in range(cells_per_stage))
    layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)
