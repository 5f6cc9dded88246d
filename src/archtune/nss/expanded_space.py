"""The Expanded Search Space of paper 003 (section 3.2, supplementary 6.1) and its network spaces.

A network: a 3x3 stem conv to ``w0`` channels (BN, ReLU), N stages of basic residual blocks (two 3x3 convs
with BN and ReLU, identity shortcut; the first block of a stage has a 1x1 conv + BN projection shortcut,
even where the shapes happen to agree, so that one supernet holds every network exactly), global average
pooling and a linear head. Stage i has depth d_i <= d_max and width w_i <= w_max; stages after the first start
with stride 2 (CIFAR ResNets' layout). A *network space* is a range of depths and a range of widths per
stage: chunk c of depths is ``c*depth_chunk + 1 .. (c+1)*depth_chunk`` and likewise for widths, so the
paper's d_max = 16, w_max = 512, chunks 4 and 32 give (16/4)^3 x (512/32)^3 = 2^18 spaces.

FLOPs are counted as ``torch.utils.flop_counter`` counts them (2 per multiply-add of convolutions and
linear layers; BN, ReLU, additions and pooling are free), analytically: :func:`architecture_flops` for one
network, :func:`expected_flops` for the mean over a space's architectures (uniform inside the space), which
is differentiable in the probabilities of the chunks.

Example:
    >>> cfg = ExpandedSpace(d_max=16, w_max=512, depth_chunk=4, width_chunk=32)
    >>> cfg.n_spaces == 2**18
    True
    >>> small = ExpandedSpace(d_max=4, w_max=16, depth_chunk=2, width_chunk=4, image_size=8)
    >>> arch = ((1, 2, 2), (8, 12, 16))
    >>> architecture_flops(small, arch) == counted_flops(small, arch)
    True
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

Architecture = tuple[tuple[int, ...], tuple[int, ...]]  # (depths per stage, widths per stage)


@dataclass(frozen=True)
class ExpandedSpace:
    """Sizes of the Expanded Search Space (paper: d_max 16, w_max 512, chunks 4 and 32, 3 stages, w0 16)."""

    d_max: int = 16
    w_max: int = 512
    depth_chunk: int = 4
    width_chunk: int = 32
    stages: int = 3
    w0: int = 16
    in_channels: int = 3
    n_classes: int = 10
    image_size: int = 32

    def __post_init__(self) -> None:
        if self.d_max % self.depth_chunk or self.w_max % self.width_chunk:
            raise ValueError("d_max and w_max must be multiples of their chunk sizes")

    @property
    def depth_chunks(self) -> int:
        return self.d_max // self.depth_chunk

    @property
    def width_chunks(self) -> int:
        return self.w_max // self.width_chunk

    @property
    def n_spaces(self) -> int:
        return (self.depth_chunks * self.width_chunks) ** self.stages

    def depth_range(self, chunk: int) -> range:
        return range(chunk * self.depth_chunk + 1, (chunk + 1) * self.depth_chunk + 1)

    def width_range(self, chunk: int) -> range:
        return range(chunk * self.width_chunk + 1, (chunk + 1) * self.width_chunk + 1)

    def stride(self, stage: int) -> int:
        return 1 if stage == 0 else 2

    def resolution(self, stage: int) -> int:
        """Side of the feature maps in ``stage`` (padding 1, so a stride-2 conv gives ceil(side / 2))."""
        side = self.image_size
        for s in range(1, stage + 1):
            side = (side + self.stride(s) - 1) // self.stride(s)
        return side


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN, ReLU between and after, identity or 1x1 projection shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, project: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if project:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ExpandedNet(nn.Module):
    """A stand-alone network of the Expanded Search Space."""

    def __init__(self, space: ExpandedSpace, architecture: Architecture) -> None:
        super().__init__()
        depths, widths = architecture
        _check(space, architecture)
        self.stem = nn.Sequential(
            nn.Conv2d(space.in_channels, space.w0, 3, 1, 1, bias=False), nn.BatchNorm2d(space.w0), nn.ReLU()
        )
        blocks, channels = [], space.w0
        for stage, (depth, width) in enumerate(zip(depths, widths, strict=True)):
            for i in range(depth):
                blocks.append(
                    BasicBlock(channels, width, space.stride(stage) if i == 0 else 1, project=i == 0)
                )
                channels = width
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(channels, space.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)).mean(dim=(2, 3)))


def _check(space: ExpandedSpace, architecture: Architecture) -> None:
    depths, widths = architecture
    if len(depths) != space.stages or len(widths) != space.stages:
        raise ValueError(f"an architecture has {space.stages} depths and {space.stages} widths")
    if not all(1 <= d <= space.d_max for d in depths) or not all(1 <= w <= space.w_max for w in widths):
        raise ValueError(
            f"depths must be in 1..{space.d_max} and widths in 1..{space.w_max}, got {architecture}"
        )


def _conv(cin: torch.Tensor | float, cout: torch.Tensor | float, k: int, side: int) -> torch.Tensor | float:
    return 2 * cin * cout * k * k * side * side


def architecture_flops(space: ExpandedSpace, architecture: Architecture) -> int:
    """FLOPs of one network on one image, as ``torch.utils.flop_counter`` counts them."""
    _check(space, architecture)
    depths, widths = architecture
    total = _conv(space.in_channels, space.w0, 3, space.image_size)
    channels = space.w0
    for stage, (d, w) in enumerate(zip(depths, widths, strict=True)):
        side = space.resolution(stage)
        total += (
            _conv(channels, w, 3, side) + _conv(w, w, 3, side) + _conv(channels, w, 1, side)
        )  # first block
        total += (d - 1) * 2 * _conv(w, w, 3, side)
        channels = w
    return int(total + 2 * channels * space.n_classes)


def counted_flops(space: ExpandedSpace, architecture: Architecture) -> int:
    """FLOPs of the built network measured by ``torch.utils.flop_counter`` (batch of one)."""
    from archtune.profile.zero_cost import count_flops

    net = ExpandedNet(space, architecture).eval()
    return count_flops(net, torch.zeros(1, space.in_channels, space.image_size, space.image_size))


def chunk_moments(space: ExpandedSpace) -> dict[str, torch.Tensor]:
    """Per chunk, under the uniform distribution inside it: mean depth ``d``, mean width ``w`` and mean
    squared width ``w2``."""
    depth = torch.tensor(
        [float(sum(space.depth_range(c))) / space.depth_chunk for c in range(space.depth_chunks)],
        dtype=torch.float64,
    )
    widths = [
        torch.tensor(list(space.width_range(c)), dtype=torch.float64) for c in range(space.width_chunks)
    ]
    return {
        "d": depth,
        "w": torch.stack([w.mean() for w in widths]),
        "w2": torch.stack([(w * w).mean() for w in widths]),
    }


def expected_flops(
    space: ExpandedSpace, depth_probs: torch.Tensor, width_probs: torch.Tensor
) -> torch.Tensor:
    """Mean FLOPs of the architectures of a (soft) network space, differentiable in the probabilities.

    ``depth_probs`` (stages x depth chunks) and ``width_probs`` (stages x width chunks) weigh the chunks
    (one-hot rows: one network space; Gumbel-softmax rows: a relaxed one). Architectures are uniform
    inside a space and stages independent, so every product in the FLOPs formula has the product of the
    factors' means as its mean: E[d w^2] = E[d] E[w^2], E[w_{i-1} w_i] = E[w_{i-1}] E[w_i].

    Example:
        >>> space = ExpandedSpace(d_max=2, w_max=4, depth_chunk=1, width_chunk=2, image_size=4, w0=2)
        >>> one_space = torch.eye(2)[[1, 1, 1]], torch.eye(2)[[0, 1, 0]]   # depth 2 everywhere; widths {1,2},{3,4},{1,2}
        >>> archs = list(space_architectures(space, [1, 1, 1], [0, 1, 0]))
        >>> mean = sum(architecture_flops(space, a) for a in archs) / len(archs)
        >>> float(expected_flops(space, *one_space)), mean
        (8238.0, 8238.0)
    """
    moments = {k: v.to(width_probs) for k, v in chunk_moments(space).items()}
    e_d, e_w, e_w2 = depth_probs @ moments["d"], width_probs @ moments["w"], width_probs @ moments["w2"]
    total = torch.as_tensor(_conv(space.in_channels, space.w0, 3, space.image_size), dtype=e_w.dtype)
    prev_w: torch.Tensor | float = float(space.w0)
    for stage in range(space.stages):
        side = space.resolution(stage)
        total = total + _conv(prev_w, e_w[stage], 3, side) + _conv(1.0, e_w2[stage], 3, side)
        total = total + _conv(prev_w, e_w[stage], 1, side)
        total = total + (e_d[stage] - 1) * 2 * _conv(1.0, e_w2[stage], 3, side)
        prev_w = e_w[stage]
    return total + 2 * prev_w * space.n_classes


def space_architectures(space: ExpandedSpace, depth_chunks: Sequence[int], width_chunks: Sequence[int]):
    """Every architecture of one network space (an iterator: the paper's spaces hold 4^3 x 32^3 each)."""
    depth_sets = [space.depth_range(c) for c in depth_chunks]
    width_sets = [space.width_range(c) for c in width_chunks]
    for depths in itertools.product(*depth_sets):
        for widths in itertools.product(*width_sets):
            yield tuple(depths), tuple(widths)
