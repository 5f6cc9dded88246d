"""The trial record and the storage contract.

Example:
    >>> t = Trial(number=0, key='[1]', fidelity="hi", cost=1.0, status=COMPLETE, value=0.9)
    >>> t.ok
    True
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

COMPLETE = "COMPLETE"
FAILED = "FAILED"


@dataclass(frozen=True)
class Trial:
    """One finished evaluation. Immutable once stored.

    Attributes:
        number: order of completion in the search (0, 1, ...).
        key: canonical JSON of the encoding (see :func:`archtune.space.encoding.encoding_key`).
        fidelity: ``"hi"`` or ``"lo"``.
        cost: budget charged, in the user's cost units.
        status: ``COMPLETE`` or ``FAILED``.
        value: the objective (higher is better); None when failed.
        metrics: everything the objective returned, when it returned a dict.
        duration: seconds the evaluation took.
        error: the traceback or reason, when failed.
    """

    number: int
    key: str
    fidelity: str
    cost: float
    status: str
    value: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == COMPLETE


@dataclass(frozen=True)
class Pending:
    """An evaluation dispatched to a worker and not finished yet (re-dispatched after a driver crash)."""

    id: int
    key: str
    fidelity: str


class Storage(ABC):
    """Where a search's trials live.

    Contract: :meth:`append` is atomic (after a crash a trial is either wholly there or absent, and its
    dispatch record with it);
    stored trials are never changed; :meth:`trials` returns them in completion order; ``meta`` holds
    the search's settings as strings. One writer at a time: a second writer gets
    :class:`archtune.errors.SearchLockedError`.

    A persistent storage (``persistent = True``, made as ``cls(path)``) keeps the trials in a file that
    a later process opens again; one that is not (``cls()``) lives in its process only.
    """

    persistent: bool = True

    @abstractmethod
    def append(self, trial: Trial, pending_id: int | None = None) -> None:
        """Store one finished trial atomically, removing its dispatch record ``pending_id`` in the same step."""

    @abstractmethod
    def add_pending(self, key: str, fidelity: str) -> int:
        """Record an evaluation about to be dispatched; returns its id."""

    @abstractmethod
    def drop_pending(self, pending_id: int) -> None:
        """Forget a dispatch record that will never finish (its encoding left the space)."""

    @abstractmethod
    def pending(self) -> list[Pending]:
        """Dispatched, unfinished evaluations, oldest first."""

    @abstractmethod
    def trials(self) -> list[Trial]:
        """All stored trials in completion order."""

    @abstractmethod
    def get_meta(self) -> dict[str, str]:
        """The search's stored settings."""

    @abstractmethod
    def set_meta(self, values: dict[str, str]) -> None:
        """Store settings (atomically, all or nothing)."""

    @abstractmethod
    def close(self) -> None:
        """Release the file and the writer lock."""

    # -- optional: a storage that does not keep these answers with the defaults ----------------------
    def set_pending_worker(self, pending_id: int, worker: str | None) -> None:  # noqa: B027 - optional
        """Note the worker running a dispatched evaluation (for ``archtune status``); kept by SQLite only."""

    def pending_workers(self) -> dict[int, str]:
        """``{pending id: worker}`` of the evaluations a worker has started (see :meth:`set_pending_worker`)."""
        return {}

    def discard(self) -> None:
        """Close after a search failed to start; a storage that created a file removes it again if empty."""
        self.close()
