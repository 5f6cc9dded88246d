"""Strategies by name, for the CLI and for ``SearchInstance(strategy="...")``.

Example:
    >>> make_strategy("random").name
    'random'
    >>> make_strategy("nope")
    Traceback (most recent call last):
    ...
    archtune.errors.UnknownNameError: unknown strategy 'nope'; valid: bo, random, rea
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archtune.errors import UnknownNameError
from archtune.strategy.base import Strategy
from archtune.strategy.bo import BayesianOptimization
from archtune.strategy.evolution import RegularizedEvolution
from archtune.strategy.random_search import RandomSearch

STRATEGIES: dict[str, Callable[..., Strategy]] = {
    "bo": BayesianOptimization,
    "random": RandomSearch,
    "rea": RegularizedEvolution,
}


def register_strategy(name: str) -> Callable[[Callable[..., Strategy]], Callable[..., Strategy]]:
    """Decorator adding a strategy factory under ``name``."""

    def add(factory: Callable[..., Strategy]) -> Callable[..., Strategy]:
        STRATEGIES[name] = factory
        return factory

    return add


def make_strategy(name: str, **kwargs: Any) -> Strategy:
    """A new strategy object by registered name."""
    try:
        factory = STRATEGIES[name]
    except KeyError:
        raise UnknownNameError(f"unknown strategy {name!r}; valid: {', '.join(sorted(STRATEGIES))}") from None
    return factory(**kwargs)
