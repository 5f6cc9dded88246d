"""Search strategies behind one ask/tell interface."""

from archtune.strategy.base import Fidelity, Observation, SearchContext, Strategy, Suggestion
from archtune.strategy.bo import BayesianOptimization
from archtune.strategy.evolution import RegularizedEvolution
from archtune.strategy.random_search import RandomSearch
from archtune.strategy.registry import STRATEGIES, make_strategy, register_strategy

__all__ = [
    "STRATEGIES",
    "BayesianOptimization",
    "Fidelity",
    "Observation",
    "RandomSearch",
    "RegularizedEvolution",
    "SearchContext",
    "Strategy",
    "Suggestion",
    "make_strategy",
    "register_strategy",
]
