"""Exception hierarchy.

Every error archtune raises on purpose derives from :class:`ArchtuneError`, and also from the builtin
exception a Python user would expect (``ValueError`` for bad values, ``RuntimeError`` for a search
that cannot go on), so ``except ValueError`` keeps working in code that does not know archtune.

Example:
    >>> from archtune.errors import SpaceError, ArchtuneError
    >>> issubclass(SpaceError, ArchtuneError) and issubclass(SpaceError, ValueError)
    True
"""

from __future__ import annotations


class ArchtuneError(Exception):
    """Root of every error archtune raises on purpose."""


class SpaceError(ArchtuneError, ValueError):
    """A search space was given bad encodings, a bad featurizer or bad pretraining data."""


class SpaceFileError(ArchtuneError, ValueError):
    """A search-space file is missing, corrupt, or of an unknown format."""


class UntrustedBuilderError(SpaceFileError):
    """A loaded space file names a builder import path that archtune will not import unless told to."""


class ConfigError(ArchtuneError, ValueError):
    """A search was configured wrongly (bad costs, budget, strategy name, ...)."""


class StorageError(ArchtuneError, RuntimeError):
    """The trial storage cannot be opened or written."""


class SearchLockedError(StorageError):
    """Another process already has this search file open for writing."""


class SearchStoppedError(ArchtuneError, RuntimeError):
    """A search stopped before spending its budget (too many consecutive failed evaluations)."""


class UnknownNameError(ArchtuneError, KeyError):
    """A registry lookup (space, strategy) used a name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly.
        return str(self.args[0]) if self.args else ""


class ConfigTypeError(ConfigError, TypeError):
    """A search argument has the wrong type (``eval_budget="5"``, ``strategy=123``, ...)."""


class ObjectiveContractError(ArchtuneError, TypeError):
    """The objective returned something that is not a result (None, a string, a bool, a dict without the value).

    This is the same mistake at every call, so the search stops at the first one instead of paying for
    more; the evaluation is not recorded and is sent again when the search is resumed.
    """


class ArchtuneWarning(UserWarning):
    """Root of the warnings archtune gives about legal but useless settings."""


class BudgetWarning(ArchtuneWarning):
    """The budget cannot buy what the search needs (e.g. one high-fidelity evaluation)."""
