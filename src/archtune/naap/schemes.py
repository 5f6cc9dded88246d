"""NAAP-440's scheme generator and network builder (paper 001, section 2 and Fig. 2).

A scheme is 3 or 4 convolution layers, each {kernel_size, width, stride, residual}. The DFS walks the
layers in order and, at every depth from 3 on, emits the scheme built so far before going deeper:

==========  ===========  ===============  ==========================================
layer       kernel       width            stride
==========  ===========  ===============  ==========================================
1           3            12, 16           2
2           3            16, 24           2
3           1, 3         16, 24, 32       1, 2
4           1, 3         32, 40           1, or 2 if layer 3 has stride 1 (2-3 stages)
==========  ===========  ===============  ==========================================

Options are tried in the order kernel, width, stride, then residual (off, on); a residual connection is
allowed only where the input and output shapes agree (stride 1, width equal to the previous layer's).
This yields the 440 schemes of the dataset, in its order.

The network: each layer is a convolution without bias (padding floor(k/2)), batch norm and ReLU; a
residual layer adds its input to that output; then global average pooling and a linear head.

Example:
    >>> schemes = generate_schemes()
    >>> len(schemes), schemes[0]
    (440, ({'kernel_size': 3, 'width': 12, 'stride': 2, 'residual': False}, {'kernel_size': 3, 'width': 16, 'stride': 2, 'residual': False}, {'kernel_size': 1, 'width': 16, 'stride': 1, 'residual': False}))
    >>> sum(p.numel() for p in naap_net(schemes[0]).parameters())  # the table's NumParams for model 1
    2566
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

Layer = dict[str, Any]

# (kernel sizes, widths, strides) per layer position, in the DFS's order
LAYER_OPTIONS = (
    ((3,), (12, 16), (2,)),
    ((3,), (16, 24), (2,)),
    ((1, 3), (16, 24, 32), (1, 2)),
    ((1, 3), (32, 40), (1, 2)),
)
MIN_LAYERS, MAX_STAGES = 3, 3


def _layers(prefix: tuple[Layer, ...]) -> Iterator[Layer]:
    kernels, widths, strides = LAYER_OPTIONS[len(prefix)]
    stages = sum(layer["stride"] == 2 for layer in prefix)
    for kernel in kernels:
        for width in widths:
            for stride in strides:
                if stride == 2 and stages + 1 > MAX_STAGES:
                    continue
                same_shape = stride == 1 and prefix and prefix[-1]["width"] == width
                for residual in (False, True) if same_shape else (False,):
                    yield {"kernel_size": kernel, "width": width, "stride": stride, "residual": residual}


def _dfs(prefix: tuple[Layer, ...]) -> Iterator[tuple[Layer, ...]]:
    if len(prefix) >= MIN_LAYERS:
        yield prefix
    if len(prefix) < len(LAYER_OPTIONS):
        for layer in _layers(prefix):
            yield from _dfs((*prefix, layer))


def generate_schemes() -> list[tuple[Layer, ...]]:
    """All valid schemes in the DFS order (= NAAP-440's ModelId order)."""
    return list(_dfs(()))


class ConvLayer(nn.Module):
    """Conv (no bias) - BN - ReLU, plus the input when the scheme asks for a residual connection."""

    def __init__(self, c_in: int, layer: Layer):
        super().__init__()
        k = layer["kernel_size"]
        self.body = nn.Sequential(
            nn.Conv2d(c_in, layer["width"], k, layer["stride"], k // 2, bias=False),
            nn.BatchNorm2d(layer["width"]),
            nn.ReLU(),
        )
        self.residual = bool(layer["residual"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + x if self.residual else out


def naap_net(scheme: Sequence[Layer], in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    """The network of one scheme."""
    layers: list[nn.Module] = []
    c = in_channels
    for layer in scheme:
        layers.append(ConvLayer(c, layer))
        c = layer["width"]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)


def count_macs(scheme: Sequence[Layer], image_size: int = 32, table_convention: bool = True) -> int:
    """Multiply-accumulates of one 3 x ``image_size``^2 image through the network of ``scheme``.

    With ``table_convention=False``: convolutions and the linear head only (``torch.utils.flop_counter``
    FLOPs / 2). The NAAP-440 table's NumMACs were counted by the THOP profiler, which adds 4 operations
    per batch-norm output element (normalise, plus scale and shift for an affine BN) and (H*W + 1) per
    channel of the global average pooling (H*W additions and one division); ReLU and the residual
    additions count zero. With ``table_convention=True`` (default) those are added, and the count equals
    the table's NumMACs for every one of the 440 schemes (tested).
    """
    from torch.utils.flop_counter import FlopCounterMode

    net = naap_net(scheme).eval()
    x = torch.zeros(1, 3, image_size, image_size)
    bn_outputs = 0
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        for module in net:  # one pass: the counter sees every module, the loop sees each layer's output
            x = module(x)
            if isinstance(module, ConvLayer):
                bn_outputs += x.numel()
                last = x
    macs = counter.get_total_flops() // 2
    if not table_convention:
        return int(macs)
    _, channels, height, width = last.shape
    # batch norm (affine) at 4 operations per output, as THOP counts it, and the global average pooling
    return int(macs + 4 * bn_outputs + (height * width + 1) * channels)


def scheme_to_encoding(scheme: Sequence[Layer]) -> dict[str, int]:
    """A flat encoding (a space's encodings hold scalars): per layer k{i}, w{i}, s{i}, r{i}; 0 where absent.

    Example:
        >>> enc = scheme_to_encoding(generate_schemes()[0]); enc["layers"], enc["w3"], enc["w4"]
        (3, 16, 0)
        >>> encoding_to_scheme(enc) == generate_schemes()[0]
        True
    """
    enc = {"layers": len(scheme)}
    for i in range(1, len(LAYER_OPTIONS) + 1):
        layer = scheme[i - 1] if i <= len(scheme) else None
        enc[f"k{i}"] = layer["kernel_size"] if layer else 0
        enc[f"w{i}"] = layer["width"] if layer else 0
        enc[f"s{i}"] = layer["stride"] if layer else 0
        enc[f"r{i}"] = int(layer["residual"]) if layer else 0
    return enc


def encoding_to_scheme(encoding: dict[str, int]) -> tuple[Layer, ...]:
    return tuple(
        {
            "kernel_size": encoding[f"k{i}"],
            "width": encoding[f"w{i}"],
            "stride": encoding[f"s{i}"],
            "residual": bool(encoding[f"r{i}"]),
        }
        for i in range(1, int(encoding["layers"]) + 1)
    )


def encoding_to_net(encoding: dict[str, int]) -> nn.Module:
    """``encoding_to_net`` of the built-in ``naap440`` space (CIFAR-10-shaped input, 10 classes)."""
    return naap_net(encoding_to_scheme(encoding))
