"""The ``mobileone`` space (paper 000, Table 1): per-stage depth and width multiplier of MobileOne-s0,
SE yes/no and 1 or 4 train-time branches, filtered to 19 <= total depth <= 22 and 0.86M to 1.26M
inference parameters (10 classes).

How we read Table 1: its depth set "{0.1,2,5,8,10}" is {0, 1, 2, 5, 8, 10} (a lost comma: MobileOne-s0
itself has depth 1 in stage 4, and 0.1 is no depth); "[0.25..4] in steps of 0.25 (>= Stage k)" means a
stage's width *multiplier* is at least the previous stage's, so multipliers never decrease. That gives
37,447 (depths, multipliers, SE) combinations within the filters, 74,894 encodings with the branch
choice (branches change training, not the inference network). The paper reports 55,870; no reading we
tried gives it (depths {1, 2, 5, 8, 10}: 27,180; widths rather than multipliers non-decreasing: 523,988).

Encoding: ``(d1, m1, d2, m2, d3, m3, d4, m4, se, branches)`` with ``se`` in {"no", "yes"}.

Example:
    >>> S0_ENCODING in set(mobileone_encodings())
    True
    >>> inference_parameters(S0_ENCODING)
    1063754
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
from torch import nn

from archtune.nets.mobileone import BASE_WIDTHS, SE_RATIO, MobileOne, se_blocks
from archtune.space.search_space import SearchSpace, create_search_space

DEPTHS = (0, 1, 2, 5, 8, 10)
MULTIPLIERS = tuple(0.25 * i for i in range(1, 17))
TOTAL_DEPTH = (19, 22)
INFERENCE_PARAMETERS = (860_000, 1_260_000)
N_CLASSES = 10
S0_ENCODING = (2, 0.75, 8, 1.0, 10, 1.0, 1, 2.0, "no", 4)


def _split(encoding: Sequence[Any]) -> tuple[tuple[int, ...], tuple[float, ...], bool, int]:
    d1, m1, d2, m2, d3, m3, d4, m4, se, branches = encoding
    return (int(d1), int(d2), int(d3), int(d4)), (m1, m2, m3, m4), se == "yes", int(branches)


def encoding_to_model(
    encoding: Sequence[Any], n_classes: int = N_CLASSES, in_channels: int = 3, zero_init: bool = False
) -> nn.Module:
    """The train-time MobileOne of an encoding (fuse it with :func:`archtune.nets.mobileone.reparameterize`)."""
    depths, mults, se, branches = _split(encoding)
    return MobileOne(
        depths,
        mults,
        use_se=se,
        branches=branches,
        n_classes=n_classes,
        in_channels=in_channels,
        zero_init=zero_init,
    )


def encoding_to_model_zero_init(
    encoding: Sequence[Any], n_classes: int = N_CLASSES, in_channels: int = 3
) -> nn.Module:
    """The same network, its skip blocks starting as the identity: the builder for short trainings
    (``config_to_model_file="archtune.spaces.mobileone:encoding_to_model_zero_init"``)."""
    return encoding_to_model(encoding, n_classes, in_channels, zero_init=True)


def encoding_to_net(encoding: Sequence[Any]) -> nn.Module:
    """The 10-class network of an encoding (the space's builder, for zero-cost profiling)."""
    return encoding_to_model(encoding)


def _se_parameters(channels: np.ndarray) -> np.ndarray:
    hidden = (channels * SE_RATIO).astype(np.int64)
    return 2 * channels * hidden + hidden + channels


def _inference_parameters(
    depths: Sequence[int], mults: np.ndarray, se: bool, n_classes: int = N_CLASSES
) -> np.ndarray:
    """Fused parameter counts for one depth tuple and many multiplier rows (``mults``: (n, 4)), computed
    from the layer shapes (checked against the built networks in the tests) so the space filters fast."""
    channels = np.minimum(64, (64 * mults[:, 0]).astype(np.int64))
    total = channels * 27 + channels  # stem: 3x3 conv, 3 input channels, with bias
    for stage, (depth, base) in enumerate(zip(depths, BASE_WIDTHS, strict=True)):
        width = (base * mults[:, stage]).astype(np.int64)
        n_se = se_blocks(stage, depth, se)
        for i in range(depth):
            total = total + channels * 10 + channels * width + width  # depthwise 3x3 + pointwise 1x1, biases
            if i >= depth - n_se:
                total = total + _se_parameters(channels) + _se_parameters(width)
            channels = width
    return total + channels * n_classes + n_classes


def inference_parameters(encoding: Sequence[Any], n_classes: int = N_CLASSES) -> int:
    """Parameters of the fused (inference) network of one encoding."""
    depths, mults, se, _ = _split(encoding)
    return int(_inference_parameters(depths, np.array([mults], dtype=float), se, n_classes)[0])


@cache
def mobileone_encodings() -> tuple[tuple[Any, ...], ...]:
    """Every encoding within the depth and parameter filters, in a fixed order."""
    mults = np.array(list(itertools.combinations_with_replacement(MULTIPLIERS, 4)))  # non-decreasing rows
    lo, hi = INFERENCE_PARAMETERS
    out = []
    for depths in itertools.product(DEPTHS, repeat=4):
        if not TOTAL_DEPTH[0] <= sum(depths) <= TOTAL_DEPTH[1]:
            continue
        for se in ("no", "yes"):
            params = _inference_parameters(depths, mults, se == "yes")
            for row in mults[(params >= lo) & (params <= hi)]:
                m = [float(v) for v in row]
                for branches in (1, 4):
                    out.append(
                        (depths[0], m[0], depths[1], m[1], depths[2], m[2], depths[3], m[3], se, branches)
                    )
    return tuple(out)


def mobileone_space(save_filename: str | None = None) -> SearchSpace:
    """The filtered MobileOne-s0 space (74,894 encodings)."""
    return create_search_space(
        "mobileone", save_filename, list(mobileone_encodings()), encoding_to_net=encoding_to_net
    )
