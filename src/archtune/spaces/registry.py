"""Built-in spaces by name (``@register_space("nb201")``).

Example:
    >>> "nb201" in SPACES and "digits_cnn" in SPACES and "naap440" in SPACES
    True
    >>> "mobileone" in SPACES and "mobileone_swiftformer" in SPACES
    True
"""

from __future__ import annotations

from archtune.registry import Registry
from archtune.space.search_space import SearchSpace

_REGISTRY: Registry[SearchSpace] = Registry("space")
#: The built-in spaces by name, each a function returning a :class:`~archtune.space.search_space.SearchSpace`.
SPACES = _REGISTRY.factories
#: ``@register_space("name")``: a decorator adding a space function under ``name``.
register_space = _REGISTRY.register
#: ``make_space("name", **kwargs)``: the space registered as ``name``; an unknown name raises
#: :class:`~archtune.errors.UnknownNameError` listing the valid ones.
make_space = _REGISTRY.make
#: The input shape each built-in space's networks take (batch first), for its conformance test and for
#: ``preprocess(sample_input=torch.rand(*SAMPLE_INPUT_SHAPES[name]))``. A space registered here without
#: one fails the conformance suite (tests/test_space_conformance.py), which builds a few of its networks.
SAMPLE_INPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "nb201": (2, 3, 32, 32),
    "digits_cnn": (2, 1, 8, 8),
    "naap440": (2, 3, 32, 32),
    "mobileone": (2, 3, 64, 64),
    "mobileone_swiftformer": (2, 3, 64, 64),
}


def _register_builtins() -> None:
    from archtune.spaces.digits_cnn import digits_cnn_space
    from archtune.spaces.mobileone import mobileone_space
    from archtune.spaces.mobileone_swiftformer import mobileone_swiftformer_space
    from archtune.spaces.naap440 import naap440_space
    from archtune.spaces.nb201 import nb201_space

    SPACES.setdefault("nb201", nb201_space)
    SPACES.setdefault("digits_cnn", digits_cnn_space)
    SPACES.setdefault("naap440", naap440_space)
    SPACES.setdefault("mobileone", mobileone_space)
    SPACES.setdefault("mobileone_swiftformer", mobileone_swiftformer_space)


_register_builtins()
