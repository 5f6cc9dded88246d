"""The NAS-Bench-201 space: its 15,625 cells, the real NB201 network, measured latencies as zero-cost data.

Example:
    >>> space = nb201_space(pretraining=False)
    >>> len(space.encodings), space.encodings[6111]
    (15625, ('nor_conv_3x3', 'nor_conv_3x3', 'nor_conv_3x3', 'skip_connect', 'nor_conv_3x3', 'nor_conv_1x1'))
"""

from __future__ import annotations

from archtune.datasets.nb201 import load_nb201
from archtune.space.search_space import SearchSpace, create_search_space

#: the latency columns (of 27) a pretrained NB201 space carries as zero-cost data
PRETRAINING_LATENCIES = (
    "lat_1080ti_1",
    "lat_eyeriss",
    "lat_fpga",
    "lat_gold_6226",
    "lat_pixel3",
    "lat_raspi4",
)


def nb201_space(save_filename: str | None = None, pretraining: bool = True) -> SearchSpace:
    """The 15,625 NB201 cells as a space, with measured latencies as pretraining data.

    Its ``encoding_to_net`` is the real NB201 network (:func:`archtune.nets.nb201.nb201_net`), so
    ``space.preprocess(torch.rand(1, 3, 32, 32))`` profiles parameters, FLOPs, latency and memory.
    """
    from archtune.nets.nb201 import nb201_net

    table = load_nb201()
    data = {c: table.column(c) for c in PRETRAINING_LATENCIES} if pretraining else None
    return create_search_space(
        "nb201", save_filename, table.encodings, encoding_to_net=nb201_net, pretraining_data=data
    )
