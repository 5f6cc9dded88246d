"""The ``mobileone_swiftformer`` hybrid space (paper 000, Table 3): per stage a conv type
{conv-enc, mo, mo-se} and attention blocks {none, last-1, last-2, all}: 12^4 = 20,736 encodings.

How we read Table 3: every network has SwiftFormer-XS's macro layout (stem, depths 3/3/6/4, widths
48/56/112/220, conv embeddings between stages); a stage's conv type picks its blocks and the mini-conv of
its attention blocks. ``("conv-enc", "last-1") x 4`` is SwiftFormer-XS exactly; ``("mo", "none") x 4`` is
MobileOne's blocks in that layout (the table's "MobileOne (s0-s3)" row: s0's own depths and widths differ
and are the ``mobileone`` space's). The number of MobileOne branches is fixed per space (the paper ran
the search once with 4 and once with 1): ``mobileone_swiftformer_space(branches=...)``.

Encoding: ``(conv1, attn1, conv2, attn2, conv3, attn3, conv4, attn4)``.

Example:
    >>> len(hybrid_encodings()), SWIFTFORMER_XS in hybrid_encodings(), MOBILEONE in hybrid_encodings()
    (20736, True, True)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from torch import nn

from archtune.nets.swiftformer import CONV_TYPES, XS, SwiftFormer
from archtune.space.search_space import SearchSpace, create_search_space

ATTENTION = ("none", "last-1", "last-2", "all")
SWIFTFORMER_XS = ("conv-enc", "last-1") * 4
MOBILEONE = ("mo", "none") * 4
N_CLASSES = 10


def _attention_blocks(choice: str, depth: int) -> int:
    return {"none": 0, "last-1": 1, "last-2": 2, "all": depth}[choice]


def encoding_to_model(
    encoding: Sequence[Any], n_classes: int = N_CLASSES, in_channels: int = 3, branches: int = 4
) -> nn.Module:
    """The hybrid network of an encoding."""
    conv_types, attention = list(encoding[0::2]), list(encoding[1::2])
    blocks = [_attention_blocks(a, d) for a, d in zip(attention, XS["depths"], strict=True)]
    return SwiftFormer(
        conv_types=conv_types,
        attention_blocks=blocks,
        branches=branches,
        n_classes=n_classes,
        in_channels=in_channels,
    )


def encoding_to_net(encoding: Sequence[Any]) -> nn.Module:
    """The 10-class network with 4 MobileOne branches (the space's builder, for zero-cost profiling)."""
    return encoding_to_model(encoding)


def encoding_to_net_1_branch(encoding: Sequence[Any]) -> nn.Module:
    """The 10-class network with 1 MobileOne branch."""
    return encoding_to_model(encoding, branches=1)


def hybrid_encodings() -> list[tuple[str, ...]]:
    """All 20,736 encodings in a fixed order."""
    stage = list(itertools.product(CONV_TYPES, ATTENTION))
    return [sum(stages, ()) for stages in itertools.product(stage, repeat=4)]


def mobileone_swiftformer_space(save_filename: str | None = None, branches: int = 4) -> SearchSpace:
    """The hybrid space with ``branches`` (1 or 4) train-time MobileOne branches."""
    if branches not in (1, 4):
        raise ValueError(f"branches must be 1 or 4 (paper 000, section 4.2), got {branches}")
    builder = encoding_to_net if branches == 4 else encoding_to_net_1_branch
    return create_search_space(
        "mobileone_swiftformer", save_filename, hybrid_encodings(), encoding_to_net=builder
    )
