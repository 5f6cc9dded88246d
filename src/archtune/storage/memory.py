"""A storage that lives in the process's memory: for benchmarks and tests that want speed, not resume.

It keeps :class:`~archtune.storage.base.Storage`'s contract inside one process (append is all or
nothing, trials never change and come back in completion order, metrics go through the same JSON
encoding as SQLite's, so a search reads back exactly what it would from a file), but nothing outlives
the process: no resume, no ``archtune status``, no second process to lock out.

Example:
    >>> from archtune.storage.base import COMPLETE, Trial
    >>> store = MemoryStorage()
    >>> pid = store.add_pending('[1]', "hi")
    >>> store.append(Trial(0, '[1]', "hi", 1.0, COMPLETE, 0.5, {"acc": 0.5}), pending_id=pid)
    >>> [t.value for t in store.trials()], store.pending()
    ([0.5], [])
"""

from __future__ import annotations

import dataclasses
import json

from archtune.errors import StorageError
from archtune.storage.base import Pending, Storage, Trial
from archtune.storage.sqlite import encode_metrics


class MemoryStorage(Storage):
    """Trials in a list, settings in a dict, dispatch records by id; see the module doc."""

    persistent = False  # nothing survives the process (the storage conformance suite reads this)

    def __init__(self) -> None:
        self._trials: dict[int, Trial] = {}  # by number: a repeated number is refused in O(1)
        self._pending: dict[int, Pending] = {}
        self._meta: dict[str, str] = {}
        self._next_pending = 1
        self._closed = False

    def _open(self) -> None:
        if self._closed:
            raise StorageError("this in-memory storage is closed")

    def append(self, trial: Trial, pending_id: int | None = None) -> None:
        self._open()
        if trial.number in self._trials:
            raise StorageError(f"a trial number {trial.number} is already stored; stored trials never change")
        # the same JSON round trip as a file: what a search reads back does not depend on the storage
        stored = dataclasses.replace(trial, metrics=json.loads(encode_metrics(trial.metrics)))
        if pending_id is not None:  # the dispatch record goes in the same step as its result
            self._pending.pop(pending_id, None)
        self._trials[trial.number] = stored

    def add_pending(self, key: str, fidelity: str) -> int:
        self._open()
        pending_id, self._next_pending = self._next_pending, self._next_pending + 1
        self._pending[pending_id] = Pending(pending_id, key, fidelity)
        return pending_id

    def drop_pending(self, pending_id: int) -> None:
        self._open()
        self._pending.pop(pending_id, None)

    def pending(self) -> list[Pending]:
        self._open()
        return [self._pending[k] for k in sorted(self._pending)]

    def trials(self) -> list[Trial]:
        self._open()
        return [self._trials[k] for k in sorted(self._trials)]  # completion order; a new list, not the store

    def get_meta(self) -> dict[str, str]:
        self._open()
        return dict(self._meta)

    def set_meta(self, values: dict[str, str]) -> None:
        self._open()
        bad = [k for k, v in values.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:  # all or nothing, as a file's transaction: nothing is stored when one value is wrong
            raise StorageError(f"meta keys and values must be strings: {bad}")
        self._meta.update(values)

    def close(self) -> None:
        self._closed = True
