"""Built-in spaces by name (``@register_space("nb201")``).

Example:
    >>> "nb201" in SPACES and "digits_cnn" in SPACES
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archtune.errors import UnknownNameError
from archtune.space.search_space import SearchSpace

SPACES: dict[str, Callable[..., SearchSpace]] = {}


def register_space(name: str) -> Callable[[Callable[..., SearchSpace]], Callable[..., SearchSpace]]:
    """Decorator registering a space factory under ``name``."""

    def add(factory: Callable[..., SearchSpace]) -> Callable[..., SearchSpace]:
        SPACES[name] = factory
        return factory

    return add


def make_space(name: str, **kwargs: Any) -> SearchSpace:
    """Build a registered space."""
    try:
        factory = SPACES[name]
    except KeyError:
        raise UnknownNameError(f"unknown space {name!r}; valid: {', '.join(sorted(SPACES))}") from None
    return factory(**kwargs)


def _register_builtins() -> None:
    from archtune.bench.nb201 import nb201_space
    from archtune.spaces.digits_cnn import digits_cnn_space

    SPACES.setdefault("nb201", nb201_space)
    SPACES.setdefault("digits_cnn", digits_cnn_space)


_register_builtins()
