"""Built-in space ``naap440``: the 440 NAAP-440 schemes (paper 001), with the table's #params and #MACs
as zero-cost pretraining data and the real network as ``encoding_to_net``.

Example:
    >>> space = naap440_space()
    >>> len(space), sorted(space.metrics)
    (440, ['macs', 'params'])
"""

from __future__ import annotations

from archtune.naap.data import load_naap440
from archtune.naap.schemes import encoding_to_net, generate_schemes, scheme_to_encoding
from archtune.space.search_space import SearchSpace, create_search_space


def naap440_space(save_filename: str | None = None) -> SearchSpace:
    """The 440 schemes in ModelId order (row i is ModelId i + 1)."""
    table = load_naap440()
    encodings = [scheme_to_encoding(s) for s in generate_schemes()]
    data = {"params": table.scheme["NumParams"], "macs": table.scheme["NumMACs"]}
    return create_search_space(
        "naap440", save_filename, encodings, encoding_to_net=encoding_to_net, pretraining_data=data
    )
