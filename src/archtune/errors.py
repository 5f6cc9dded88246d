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
