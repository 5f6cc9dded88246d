"""archtune: neural architecture tuning with deep-ensemble Bayesian optimisation.

Example:
    >>> import archtune
    >>> archtune.__version__
    '0.1.0'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from archtune.errors import ArchtuneError, ConfigError, SearchLockedError, SearchStoppedError, SpaceError

if TYPE_CHECKING:
    from archtune.search.instance import SearchInstance
    from archtune.space.search_space import SearchSpace, create_search_space, load_search_space

__version__ = "0.1.0"

# The search and space API loads on first use: a Dask or SLURM worker that imports an objective living
# in archtune, or one of its modules, does not import torch and the whole library first (a job's
# start-up is part of every cluster speed-up). ``from archtune import SearchInstance`` works as before.
_LAZY = {
    "SearchInstance": "archtune.search.instance",
    "SearchSpace": "archtune.space.search_space",
    "create_search_space": "archtune.space.search_space",
    "load_search_space": "archtune.space.search_space",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'archtune' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ArchtuneError",
    "ConfigError",
    "SearchInstance",
    "SearchLockedError",
    "SearchSpace",
    "SearchStoppedError",
    "SpaceError",
    "__version__",
    "create_search_space",
    "load_search_space",
]
