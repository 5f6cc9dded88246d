"""A weight-sharing supernet for the NAS-Bench-201 cell space (paper 002, section 4.2).

Every edge of every cell holds all five operations; a forward pass takes one cell encoding (the same
cell in every position, as in NB201) and runs only that path, so one set of weights trains every
architecture at once. The macro skeleton is NB201's (:mod:`archtune.nets.nb201`) with the stem
width ``channels`` and ``cells_per_stage`` as parameters, so a path with the same weights computes
exactly what the stand-alone network of its encoding computes.

Batch norm layers keep no running statistics: statistics depend on the path, so every forward pass,
training or evaluation, normalises with its own batch (the usual fix in one-shot NAS; evaluate with
large batches).

Example:
    >>> import torch
    >>> net = NB201Supernet(channels=4, cells_per_stage=1, in_channels=1)
    >>> net(torch.rand(2, 1, 28, 28), ("nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "none")).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from archtune.datasets.nb201 import EDGES, OPS
from archtune.errors import ConfigError
from archtune.nets.nb201 import ResidualReduction, _operation


def _without_running_stats(module: nn.Module) -> nn.Module:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.track_running_stats = False
            m.running_mean = m.running_var = m.num_batches_tracked = None
    return module


class MixedCell(nn.Module):
    """A cell whose every edge holds the four operations that have weights or act (``none`` is absence)."""

    def __init__(self, channels: int):
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleDict({op: _operation(op, channels) for op in OPS if op != "none"}) for _ in EDGES
        )

    def forward(self, x: torch.Tensor, ops: Sequence[str]) -> torch.Tensor:
        # the same evaluation order and zero handling as archtune.nets.nb201.Cell
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for (dst, src), op, choices in zip(EDGES, ops, self.edges, strict=True):
            if op == "none" or nodes[src] is None:
                continue
            out = choices[op](nodes[src])
            current = nodes[dst]
            nodes[dst] = out if current is None else current + out
        return nodes[3] if nodes[3] is not None else torch.zeros_like(x)


class NB201Supernet(nn.Module):
    """NB201 network with a mixed cell in every cell position; ``forward(x, encoding)`` runs one path."""

    def __init__(
        self, channels: int = 16, cells_per_stage: int = 5, in_channels: int = 3, num_classes: int = 10
    ):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )
        self.stages = nn.ModuleList()
        c = channels
        for stage in range(3):
            blocks: list[nn.Module] = []
            if stage > 0:
                blocks.append(ResidualReduction(c, 2 * c))
                c *= 2
            blocks.extend(MixedCell(c) for _ in range(cells_per_stage))
            self.stages.append(nn.ModuleList(blocks))
        self.head = nn.Sequential(
            nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)
        )
        _without_running_stats(self)

    def forward(self, x: torch.Tensor, encoding: Sequence[str]) -> torch.Tensor:
        ops = tuple(encoding)
        if len(ops) != len(EDGES) or any(op not in OPS for op in ops):
            raise ConfigError(f"an NB201 cell is {len(EDGES)} operations from {OPS}, got {ops!r}")
        h = self.stem(x)
        for blocks in self.stages:
            for block in blocks:
                h = block(h, ops) if isinstance(block, MixedCell) else block(h)
        return self.head(h)

    def path_state(self, encoding: Sequence[str]) -> dict[str, torch.Tensor]:
        """The weights of one path, keyed like the stand-alone ``nb201_net`` of the same encoding.

        Used to check that a path is exactly its stand-alone network (and to fine-tune a path alone).
        """
        ops = tuple(encoding)
        state: dict[str, torch.Tensor] = {}
        own = self.state_dict()
        index = 0

        def copy(prefix_from: str, prefix_to: str) -> None:
            for key, value in own.items():
                if key.startswith(prefix_from + "."):
                    state[prefix_to + key[len(prefix_from) :]] = value

        copy("stem.0", "0")
        copy("stem.1", "1")
        index = 2
        for s, blocks in enumerate(self.stages):
            for b, block in enumerate(blocks):
                if isinstance(block, MixedCell):
                    kept = [(e, op) for e, op in enumerate(ops) if op != "none"]
                    for k, (e, op) in enumerate(kept):
                        copy(f"stages.{s}.{b}.edges.{e}.{op}", f"{index}.ops.{k}")
                else:
                    copy(f"stages.{s}.{b}", str(index))
                index += 1
        for h, layer in enumerate(self.head):
            if any(True for _ in layer.parameters()):
                copy(f"head.{h}", str(index + h))
        return state
