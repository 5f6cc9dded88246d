"""archtune: neural architecture tuning with deep-ensemble Bayesian optimisation.

Example:
    >>> import archtune
    >>> archtune.__version__
    '0.1.0'
"""

from archtune.errors import ArchtuneError, ConfigError, SearchLockedError, SearchStoppedError, SpaceError
from archtune.search.instance import SearchInstance
from archtune.space.search_space import SearchSpace, create_search_space, load_search_space

__version__ = "0.1.0"

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
