"""SwiftFormer (Shaker et al., ICCV 2023): a conv encoder and efficient additive attention, stage by stage.

The layout follows the authors' reference implementation: a stem of two 3x3 stride-2 convs (BN, ReLU),
four stages separated by 3x3 stride-2 conv embeddings, each stage a run of conv encoders ending in
``attention_blocks`` SwiftFormer encoders (local representation, efficient additive attention, MLP, each
residual with a layer scale), then BN, global average pooling and a linear head (plus the distillation
head of the reference model when ``distillation=True``, which counts in the published 3.5M).

In the hybrid space of paper 000 (section 4.2) each stage's conv blocks are one of three kinds, and an
attention block's leading "mini-conv" is of the same kind: ``"conv-enc"`` (SwiftFormer's conv encoder),
``"mo"`` (a MobileOne depthwise + pointwise pair, residual) or ``"mo-se"`` (the same with SE).

Example:
    >>> import torch
    >>> net = SwiftFormer(n_classes=10)                   # SwiftFormer-XS layout
    >>> net(torch.rand(2, 3, 64, 64)).shape
    torch.Size([2, 10])
    >>> hybrid = SwiftFormer(conv_types=("mo", "mo-se", "conv-enc", "mo"), attention_blocks=(0, 1, 2, 4),
    ...                      n_classes=10)
    >>> hybrid(torch.rand(1, 3, 64, 64)).shape
    torch.Size([1, 10])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from archtune.nets.mobileone import MobileOneBlock

XS = {"depths": (3, 3, 6, 4), "widths": (48, 56, 112, 220)}
CONV_TYPES = ("conv-enc", "mo", "mo-se")


class ConvEncoder(nn.Module):
    """Depthwise 3x3, BN, pointwise expansion (``mlp_ratio``), GELU, pointwise projection, layer-scaled residual.
    With ``mlp_ratio=1`` it is SwiftFormer's "local representation", the mini-conv before attention."""

    def __init__(self, dim: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm = nn.BatchNorm2d(dim)
        self.pwconv1 = nn.Conv2d(dim, hidden, 1)
        self.pwconv2 = nn.Conv2d(hidden, dim, 1)
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pwconv2(nn.functional.gelu(self.pwconv1(self.norm(self.dwconv(x)))))
        return x + self.layer_scale * y


class MobileOneUnit(nn.Module):
    """A MobileOne depthwise 3x3 + pointwise 1x1 pair at constant width with a residual: the ``"mo"`` and
    ``"mo-se"`` conv blocks of the hybrid space (the pair's BN skip branches already carry the identity at
    train time; the outer residual keeps deep stages trainable like the conv encoder's)."""

    def __init__(self, dim: int, use_se: bool, branches: int) -> None:
        super().__init__()
        self.depthwise = MobileOneBlock(dim, dim, 3, 1, groups=dim, use_se=use_se, branches=branches)
        self.pointwise = MobileOneBlock(dim, dim, 1, 1, use_se=use_se, branches=branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pointwise(self.depthwise(x))


class EfficientAdditiveAttention(nn.Module):
    """Query/key projections, a learned global query vector, and no quadratic token-token product."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.to_query = nn.Linear(dim, dim)
        self.to_key = nn.Linear(dim, dim)
        self.w_g = nn.Parameter(torch.randn(dim, 1))
        self.scale = dim**-0.5
        self.proj = nn.Linear(dim, dim)
        self.final = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (B, N, D)
        query = nn.functional.normalize(self.to_query(tokens), dim=-1)
        key = nn.functional.normalize(self.to_key(tokens), dim=-1)
        weights = nn.functional.normalize(query @ self.w_g * self.scale, dim=1)  # (B, N, 1)
        global_query = (weights * query).sum(dim=1, keepdim=True)  # (B, 1, D)
        return self.final(self.proj(global_query * key) + query)


class Mlp(nn.Module):
    """BN, 1x1 conv expansion, GELU, 1x1 conv projection."""

    def __init__(self, dim: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm = nn.BatchNorm2d(dim)
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(nn.functional.gelu(self.fc1(self.norm(x))))


class SwiftFormerEncoder(nn.Module):
    """Mini-conv, then ``x + s1 * attention(x)`` and ``x + s2 * mlp(x)`` (layer scales start at 1e-5)."""

    def __init__(
        self, dim: int, local: nn.Module, mlp_ratio: float = 4.0, layer_scale_init: float = 1e-5
    ) -> None:
        super().__init__()
        self.local = local
        self.attention = EfficientAdditiveAttention(dim)
        self.mlp = Mlp(dim, mlp_ratio)
        self.layer_scale_1 = nn.Parameter(torch.full((dim, 1, 1), layer_scale_init))
        self.layer_scale_2 = nn.Parameter(torch.full((dim, 1, 1), layer_scale_init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.local(x)
        b, c, h, w = x.shape
        attended = self.attention(x.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(b, c, h, w)
        x = x + self.layer_scale_1 * attended
        return x + self.layer_scale_2 * self.mlp(x)


def _conv_block(kind: str, dim: int, mlp_ratio: float, branches: int, mini: bool) -> nn.Module:
    """A stage's conv block of ``kind``; ``mini`` is the one inside an attention block."""
    if kind == "conv-enc":
        return ConvEncoder(dim, 1.0 if mini else mlp_ratio)
    if kind in ("mo", "mo-se"):
        return MobileOneUnit(dim, use_se=kind == "mo-se", branches=branches)
    raise ValueError(f"unknown conv type {kind!r}; expected one of {CONV_TYPES}")


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, 2, 1), nn.BatchNorm2d(out_channels), nn.ReLU()]


class SwiftFormer(nn.Module):
    """SwiftFormer with a conv type and a number of trailing attention blocks per stage (XS by default).

    Args:
        depths, widths: blocks and channels per stage (SwiftFormer-XS: 3, 3, 6, 4 and 48, 56, 112, 220).
        conv_types: per stage ``"conv-enc"``, ``"mo"`` or ``"mo-se"``.
        attention_blocks: per stage how many of the last blocks are attention blocks (0 to its depth).
        branches: train-time conv branches of MobileOne blocks.
        distillation: add the reference model's distillation head (averaged with the main head in eval).
    """

    def __init__(
        self,
        depths: Sequence[int] = XS["depths"],
        widths: Sequence[int] = XS["widths"],
        conv_types: Sequence[str] = ("conv-enc",) * 4,
        attention_blocks: Sequence[int] = (1, 1, 1, 1),
        branches: int = 4,
        n_classes: int = 1000,
        in_channels: int = 3,
        mlp_ratio: float = 4.0,
        distillation: bool = False,
    ) -> None:
        super().__init__()
        if not len(depths) == len(widths) == len(conv_types) == len(attention_blocks):
            raise ValueError("depths, widths, conv_types and attention_blocks need one entry per stage")
        self.stem = nn.Sequential(
            *_conv_bn_relu(in_channels, widths[0] // 2), *_conv_bn_relu(widths[0] // 2, widths[0])
        )
        layers: list[nn.Module] = []
        for i, (depth, dim, kind, n_attn) in enumerate(
            zip(depths, widths, conv_types, attention_blocks, strict=True)
        ):
            if not 0 <= n_attn <= depth:
                raise ValueError(f"stage {i + 1}: {n_attn} attention blocks in a stage of depth {depth}")
            if i > 0:  # downsampling embedding between stages
                layers += [nn.Conv2d(widths[i - 1], dim, 3, 2, 1), nn.BatchNorm2d(dim)]
            for block in range(depth):
                if block >= depth - n_attn:
                    layers.append(
                        SwiftFormerEncoder(
                            dim, _conv_block(kind, dim, mlp_ratio, branches, mini=True), mlp_ratio
                        )
                    )
                else:
                    layers.append(_conv_block(kind, dim, mlp_ratio, branches, mini=False))
        self.network = nn.Sequential(*layers)
        self.norm = nn.BatchNorm2d(widths[-1])
        self.head = nn.Linear(widths[-1], n_classes)
        self.dist_head = nn.Linear(widths[-1], n_classes) if distillation else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.norm(self.network(self.stem(x))).mean(dim=(2, 3))
        out = self.head(features)
        if self.dist_head is not None and not self.training:
            out = (out + self.dist_head(features)) / 2
        return out
