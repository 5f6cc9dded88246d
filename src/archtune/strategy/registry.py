"""Strategies by name, for the CLI and for ``SearchInstance(strategy="...")``.

Example:
    >>> make_strategy("random").name
    'random'
    >>> make_strategy("nope")
    Traceback (most recent call last):
    ...
    archtune.errors.UnknownNameError: unknown strategy 'nope'; valid: bo, ls, random, rea, spline, tnas
"""

from __future__ import annotations

from archtune.registry import Registry
from archtune.strategy.base import Strategy
from archtune.strategy.bo import BayesianOptimization
from archtune.strategy.evolution import RegularizedEvolution
from archtune.strategy.local_search import LocalSearch
from archtune.strategy.random_search import RandomSearch
from archtune.strategy.spline import SplineStrategy
from archtune.strategy.tnas import TNAS

_REGISTRY: Registry[Strategy] = Registry("strategy")
#: The registered strategies by name (``bo``, ``random``, ``rea``, ``ls``, ``spline``, ``tnas``), each a class.
STRATEGIES = _REGISTRY.factories
#: ``@register_strategy("name")``: a decorator adding a strategy class under ``name``.
register_strategy = _REGISTRY.register
#: ``make_strategy("name", **kwargs)``: the strategy registered as ``name``; an unknown name raises
#: :class:`~archtune.errors.UnknownNameError` listing the valid ones.
make_strategy = _REGISTRY.make

STRATEGIES.update(
    {
        "bo": BayesianOptimization,
        "random": RandomSearch,
        "rea": RegularizedEvolution,
        "ls": LocalSearch,
        "spline": SplineStrategy,
        "tnas": TNAS,
    }
)
