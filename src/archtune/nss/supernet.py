"""The weight-sharing supernet of the Expanded Search Space (paper 003, supplementary 6.3).

Every stage holds ``d_max`` blocks of ``w_max`` channels. A width is simulated by *channel masking*: a
stage's convolutions keep their first w output channels and zero the rest (after BN, so a zeroed channel
stays zero and the next convolution sees exactly the narrower input). A depth is simulated by taking the
output of the stage's d-th block. Masks and depth weights may be soft (a Gumbel-softmax mixture of
several widths or depths), which is how the search's gradient reaches the space distribution.

Warm-up (6.3.2): ``warmup_probability`` p enables, besides the sampled channels and blocks, every other
channel and every deeper block with probability p (annealed linearly to 0 over the first 25% of epochs by
the search), so the right-most channels and the deepest blocks are trained too.

Example:
    >>> import torch
    >>> from archtune.nss.expanded_space import ExpandedSpace
    >>> space = ExpandedSpace(d_max=3, w_max=8, depth_chunk=1, width_chunk=4, image_size=8)
    >>> net = Supernet(space)
    >>> arch = ((2, 1, 3), (5, 8, 3))
    >>> net.forward_architecture(torch.rand(2, 3, 8, 8), arch).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import torch
from torch import nn

from archtune.nss.expanded_space import Architecture, BasicBlock, ExpandedNet, ExpandedSpace, _check


def width_mask(width: int, w_max: int) -> torch.Tensor:
    """1 for the first ``width`` channels, 0 after."""
    return (torch.arange(w_max) < width).float()


def depth_weights(depth: int, d_max: int) -> torch.Tensor:
    """One-hot over the d_max block outputs: the output of block ``depth``."""
    return nn.functional.one_hot(torch.tensor(depth - 1), d_max).float()


class Supernet(nn.Module):
    """Stem, ``stages`` x ``d_max`` basic blocks of ``w_max`` channels, head; see the module docstring."""

    def __init__(self, space: ExpandedSpace) -> None:
        super().__init__()
        self.space = space
        self.stem = nn.Sequential(
            nn.Conv2d(space.in_channels, space.w0, 3, 1, 1, bias=False), nn.BatchNorm2d(space.w0), nn.ReLU()
        )
        self.stages = nn.ModuleList()
        channels = space.w0
        for stage in range(space.stages):
            blocks = [
                BasicBlock(
                    channels if i == 0 else space.w_max,
                    space.w_max,
                    space.stride(stage) if i == 0 else 1,
                    project=i == 0,
                )
                for i in range(space.d_max)
            ]
            self.stages.append(nn.ModuleList(blocks))
            channels = space.w_max
        self.head = nn.Linear(space.w_max, space.n_classes)

    @staticmethod
    def _block(block: BasicBlock, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.view(1, -1, 1, 1)
        out = torch.relu(block.bn1(block.conv1(x)) * m)
        out = block.bn2(block.conv2(out)) * m
        shortcut = block.shortcut(x)
        if not isinstance(block.shortcut, nn.Identity):
            shortcut = shortcut * m
        return torch.relu(out + shortcut)

    def forward(
        self,
        x: torch.Tensor,
        masks: list[torch.Tensor],
        depths: list[torch.Tensor],
        warmup_probability: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``masks[i]``: (w_max,) channel weights of stage i; ``depths[i]``: (d_max,) weights of its block
        outputs (one-hot: one depth; soft: a mixture). With a warm-up probability p, each other channel
        and each block past the deepest weighted one is also enabled with probability p."""
        x = self.stem(x)
        for stage, blocks in enumerate(self.stages):
            mask, weights = masks[stage], depths[stage]
            if warmup_probability > 0:
                extra = (torch.rand(mask.shape, generator=generator) < warmup_probability).to(mask)
                mask = torch.maximum(mask, extra)
            last = int(torch.nonzero(weights).max()) + 1
            run = [
                i < last
                or (warmup_probability > 0 and float(torch.rand(1, generator=generator)) < warmup_probability)
                for i in range(len(blocks))
            ]
            out = 0.0
            for i, block in enumerate(blocks):
                if not run[i]:
                    continue  # a skipped residual block is the identity
                x = self._block(block, x, mask)
                if i < last and float(weights[i].detach()) != 0.0:
                    out = out + weights[i] * x
            # with warm-up, blocks past the sampled depth feed the next stage when they ran
            x = x if warmup_probability > 0 else out
        return self.head(x.mean(dim=(2, 3)) * masks[-1].view(1, -1))

    def forward_architecture(
        self,
        x: torch.Tensor,
        architecture: Architecture,
        warmup_probability: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The supernet's output for one architecture (hard masks, one-hot depths), with warm-up as in
        :meth:`forward`."""
        _check(self.space, architecture)
        depths, widths = architecture
        return self(
            x,
            [width_mask(w, self.space.w_max) for w in widths],
            [depth_weights(d, self.space.d_max) for d in depths],
            warmup_probability,
            generator,
        )

    @torch.no_grad()
    def extract(self, architecture: Architecture) -> ExpandedNet:
        """A stand-alone network with this architecture and the supernet's shared weights (sliced)."""
        net = ExpandedNet(self.space, architecture)
        depths, widths = architecture
        _copy_conv_bn(
            self.stem[0], self.stem[1], net.stem[0], net.stem[1], self.space.w0, self.space.in_channels
        )
        target = iter(net.body)
        channels = self.space.w0
        for stage, (d, w) in enumerate(zip(depths, widths, strict=True)):
            for i in range(d):
                source, block = self.stages[stage][i], next(target)
                _copy_conv_bn(source.conv1, source.bn1, block.conv1, block.bn1, w, channels)
                _copy_conv_bn(source.conv2, source.bn2, block.conv2, block.bn2, w, w)
                if i == 0:
                    _copy_conv_bn(
                        source.shortcut[0],
                        source.shortcut[1],
                        block.shortcut[0],
                        block.shortcut[1],
                        w,
                        channels,
                    )
                channels = w
        net.head.weight.copy_(self.head.weight[:, :channels])
        net.head.bias.copy_(self.head.bias)
        return net


def _copy_conv_bn(
    conv: nn.Conv2d, bn: nn.BatchNorm2d, to_conv: nn.Conv2d, to_bn: nn.BatchNorm2d, out: int, inp: int
) -> None:
    to_conv.weight.copy_(conv.weight[:out, :inp])
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(to_bn, name).copy_(getattr(bn, name)[:out])
    to_bn.num_batches_tracked.copy_(bn.num_batches_tracked)
