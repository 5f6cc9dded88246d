"""MobileOne (Vasu et al., CVPR 2023): blocks with k train-time conv branches fused into one conv for inference.

At train time a block sums k conv+BN branches, a 1x1 conv+BN "scale" branch (when the kernel is larger
than 1) and a BN "skip" branch (when the shapes allow), then applies SE (optional) and ReLU. Every branch
is linear once BN uses its running statistics, so in eval mode the sum is one conv with a bias:
:func:`reparameterize` builds that network, which computes the same function with fewer parameters.

The layout follows Apple's reference implementation (ml-mobileone): a stem block (3x3, stride 2, one
branch), then four stages; each stage step is a depthwise 3x3 block followed by a pointwise 1x1 block, the
first step of a stage with stride 2; with ``use_se`` the last half of stage 3 and all of stage 4 use SE.

Example:
    >>> import torch
    >>> from archtune.profile.zero_cost import count_parameters
    >>> net = MobileOne(depths=(1, 1, 1, 1), width_multipliers=(0.25, 0.25, 0.25, 0.25), branches=2,
    ...                 n_classes=10).eval()
    >>> fused = reparameterize(net)
    >>> x = torch.rand(2, 3, 32, 32)
    >>> bool((net(x) - fused(x)).abs().max() < 1e-4), count_parameters(fused) < count_parameters(net)
    (True, True)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

BASE_WIDTHS = (64, 128, 256, 512)
S0 = {"depths": (2, 8, 10, 1), "width_multipliers": (0.75, 1.0, 1.0, 2.0), "use_se": False, "branches": 4}
SE_RATIO = 0.0625


def se_blocks(stage: int, depth: int, use_se: bool) -> int:
    """How many of a stage's last blocks use SE (ml-mobileone: the last half of stage 3, all of stage 4)."""
    if not use_se:
        return 0
    return depth // 2 if stage == 2 else depth if stage == 3 else 0


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation as in ml-mobileone: global average, 1x1 reduce (ratio 1/16), ReLU, 1x1 expand,
    sigmoid, channel-wise scale."""

    def __init__(self, channels: int, ratio: float = SE_RATIO) -> None:
        super().__init__()
        hidden = int(channels * ratio)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.expand = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.expand(torch.relu(self.reduce(x.mean(dim=(2, 3), keepdim=True)))))
        return x * w


def _conv_bn(
    in_channels: int, out_channels: int, kernel_size: int, stride: int, groups: int
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False
        ),
        nn.BatchNorm2d(out_channels),
    )


def _fuse_bn(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel and bias of ``bn(conv(x))`` in eval mode, for a bias-free conv with ``kernel``."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return kernel * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale


class MobileOneBlock(nn.Module):
    """One MobileOne block; ``fuse()`` turns it, in place, into its single-conv inference form.

    Example:
        >>> import torch
        >>> block = MobileOneBlock(8, 8, 3, groups=8, branches=4).eval()
        >>> x = torch.rand(1, 8, 6, 6)
        >>> before = block(x)
        >>> block.fuse()
        >>> bool(torch.allclose(before, block(x), atol=1e-5)), block.fused
        (True, True)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        use_se: bool = False,
        branches: int = 1,
    ) -> None:
        super().__init__()
        if branches < 1:
            raise ValueError(f"a MobileOne block needs at least one conv branch, got {branches}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.groups = stride, groups
        self.se: nn.Module = SqueezeExcite(out_channels) if use_se else nn.Identity()
        self.skip = nn.BatchNorm2d(in_channels) if in_channels == out_channels and stride == 1 else None
        self.convs = nn.ModuleList(
            _conv_bn(in_channels, out_channels, kernel_size, stride, groups) for _ in range(branches)
        )
        self.scale = _conv_bn(in_channels, out_channels, 1, stride, groups) if kernel_size > 1 else None
        self.fused_conv: nn.Conv2d | None = None

    @torch.no_grad()
    def zero_init_branches(self) -> None:
        """Start a block that has a skip branch as (BN of) the identity: the conv and scale branches' BN
        scales at 0, as ResNets zero-initialise their last BN (Goyal et al., 2017). A deep MobileOne then
        learns within a few epochs, where the reference initialisation barely moves (the README's MobileOne
        example compares the two)."""
        if self.skip is None or self.fused_conv is not None:
            return
        for branch in [*self.convs, *([self.scale] if self.scale is not None else [])]:
            nn.init.zeros_(branch[1].weight)

    @property
    def fused(self) -> bool:
        return self.fused_conv is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused_conv is not None:
            return torch.relu(self.se(self.fused_conv(x)))
        out = sum(branch(x) for branch in self.convs)
        if self.scale is not None:
            out = out + self.scale(x)
        if self.skip is not None:
            out = out + self.skip(x)
        return torch.relu(self.se(out))

    @torch.no_grad()
    def fuse(self) -> None:
        """Replace the branches by one conv with bias computing the same eval-mode function."""
        if self.fused_conv is not None:
            return
        k = self.kernel_size
        like = {"dtype": self.convs[0][0].weight.dtype, "device": self.convs[0][0].weight.device}
        kernel = torch.zeros(self.out_channels, self.in_channels // self.groups, k, k, **like)
        bias = torch.zeros(self.out_channels, **like)
        for branch in self.convs:
            w, b = _fuse_bn(branch[0].weight, branch[1])
            kernel, bias = kernel + w, bias + b
        if self.scale is not None:
            w, b = _fuse_bn(self.scale[0].weight, self.scale[1])
            pad = k // 2
            kernel, bias = kernel + nn.functional.pad(w, [pad, pad, pad, pad]), bias + b
        if self.skip is not None:
            # the skip is a BN of the input: as a conv, a kernel with 1 at the centre for each channel itself
            per_group = self.in_channels // self.groups
            identity = torch.zeros(self.in_channels, per_group, k, k, **like)
            channels = torch.arange(self.in_channels)
            identity[channels, channels % per_group, k // 2, k // 2] = 1.0
            w, b = _fuse_bn(identity, self.skip)
            kernel, bias = kernel + w, bias + b
        conv = nn.Conv2d(
            self.in_channels, self.out_channels, k, self.stride, k // 2, groups=self.groups, bias=True, **like
        )
        conv.weight.copy_(kernel)
        conv.bias.copy_(bias)
        self.fused_conv = conv
        del self.convs, self.scale, self.skip
        self.convs, self.scale, self.skip = nn.ModuleList(), None, None


class MobileOne(nn.Module):
    """MobileOne with per-stage depth (0 skips a stage) and width multiplier; MobileOne-s0 by default.

    Args:
        depths: blocks per stage (each a depthwise + a pointwise MobileOne block).
        width_multipliers: stage widths are ``int(base * m)`` for bases 64, 128, 256, 512.
        use_se: squeeze-and-excitation in the last half of stage 3 and all of stage 4.
        branches: train-time conv branches per block (the stem has one, as in ml-mobileone).
        zero_init: blocks with a skip branch start as the identity (see ``MobileOneBlock.zero_init_branches``);
            off by default, as in ml-mobileone; on, short trainings learn much faster.
    """

    def __init__(
        self,
        depths: Sequence[int] = S0["depths"],
        width_multipliers: Sequence[float] = S0["width_multipliers"],
        use_se: bool = False,
        branches: int = 4,
        n_classes: int = 1000,
        in_channels: int = 3,
        zero_init: bool = False,
    ) -> None:
        super().__init__()
        if len(depths) != 4 or len(width_multipliers) != 4:
            raise ValueError("MobileOne has 4 stages: give 4 depths and 4 width multipliers")
        if sum(depths) == 0:
            raise ValueError("MobileOne needs at least one block in some stage")
        channels = min(64, int(64 * width_multipliers[0]))
        self.stem = MobileOneBlock(in_channels, channels, 3, stride=2)
        stages = []
        for stage, (depth, base, mult) in enumerate(zip(depths, BASE_WIDTHS, width_multipliers, strict=True)):
            width = int(base * mult)
            n_se = se_blocks(stage, depth, use_se)
            blocks: list[nn.Module] = []
            for i in range(depth):
                se = i >= depth - n_se
                stride = 2 if i == 0 else 1
                blocks.append(
                    MobileOneBlock(
                        channels, channels, 3, stride, groups=channels, use_se=se, branches=branches
                    )
                )
                blocks.append(MobileOneBlock(channels, width, 1, 1, use_se=se, branches=branches))
                channels = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(channels, n_classes)
        if zero_init:
            for module in self.modules():
                if isinstance(module, MobileOneBlock):
                    module.zero_init_branches()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.head(x.mean(dim=(2, 3)))


def reparameterize(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every MobileOne block fused (the inference network)."""
    fused = copy.deepcopy(model).eval()
    for module in fused.modules():
        if isinstance(module, MobileOneBlock):
            module.fuse()
    return fused
