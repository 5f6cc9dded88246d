"""A name -> factory registry that lists the valid names when a lookup fails (spaces, strategies).

Example:
    >>> colours = Registry("colour")
    >>> @colours.register("red")
    ... def red():
    ...     return "#f00"
    >>> colours.make("red")
    '#f00'
    >>> colours.make("blue")
    Traceback (most recent call last):
    ...
    archtune.errors.UnknownNameError: unknown colour 'blue'; valid: red
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from archtune.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Factories by name; ``kind`` names what they make in error messages."""

    def __init__(self, kind: str):
        self.kind = kind
        self.factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator adding a factory under ``name``."""

        def add(factory: Callable[..., T]) -> Callable[..., T]:
            self.factories[name] = factory
            return factory

        return add

    def make(self, name: str, **kwargs: Any) -> T:
        """Call the factory registered as ``name``."""
        try:
            factory = self.factories[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(sorted(self.factories))}"
            ) from None
        return factory(**kwargs)
