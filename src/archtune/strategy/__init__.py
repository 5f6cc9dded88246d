"""Search strategies behind one ask/tell interface: every class registered in ``STRATEGIES`` is exported here."""

from archtune.strategy.base import Fidelity, Observation, SearchContext, Strategy, Suggestion
from archtune.strategy.bo import BayesianOptimization
from archtune.strategy.evolution import RegularizedEvolution
from archtune.strategy.local_search import LocalSearch
from archtune.strategy.mo_evolution import MultiObjectiveEvolution
from archtune.strategy.random_search import RandomSearch
from archtune.strategy.registry import STRATEGIES, make_strategy, register_strategy
from archtune.strategy.spline import SplineStrategy
from archtune.strategy.tnas import TNAS

__all__ = [
    "STRATEGIES",
    "TNAS",
    "BayesianOptimization",
    "Fidelity",
    "LocalSearch",
    "MultiObjectiveEvolution",
    "Observation",
    "RandomSearch",
    "RegularizedEvolution",
    "SearchContext",
    "SplineStrategy",
    "Strategy",
    "Suggestion",
    "make_strategy",
    "register_strategy",
]
