"""SQLite storage: one transaction per finished trial, and an OS lock so only one process writes.

The lock is ``fcntl.flock`` on a side file: the kernel releases it when the holder dies, even by
SIGKILL, so a crashed search can always be reopened while a running one cannot be opened twice.

Example:
    >>> import tempfile, os
    >>> from archtune.storage.base import COMPLETE
    >>> path = os.path.join(tempfile.mkdtemp(), "s.search")
    >>> st = SQLiteStorage(path)
    >>> st.append(Trial(0, '[1]', "hi", 1.0, COMPLETE, 0.5))
    >>> [t.value for t in st.trials()]
    [0.5]
    >>> pid = st.add_pending('[2]', "lo")          # dispatched, not finished: survives a crash
    >>> [p.key for p in st.pending()]
    ['[2]']
    >>> st.append(Trial(1, '[2]', "lo", 0.1, COMPLETE, 0.4), pending_id=pid)
    >>> st.pending()
    []
    >>> st.close()
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from pathlib import Path

from archtune.errors import SearchLockedError, StorageError
from archtune.storage.base import Pending, Storage, Trial

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    number INTEGER PRIMARY KEY,
    encoding TEXT NOT NULL,
    fidelity TEXT NOT NULL,
    cost REAL NOT NULL,
    status TEXT NOT NULL,
    value REAL,
    metrics TEXT NOT NULL,
    duration REAL NOT NULL,
    error TEXT,
    finished_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    encoding TEXT NOT NULL,
    fidelity TEXT NOT NULL
);
"""


class SQLiteStorage(Storage):
    """Trials in an SQLite file; ``read_only=True`` opens without taking the writer lock."""

    def __init__(self, path: str | os.PathLike[str], read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self._lock_file = None
        if read_only:
            if not self.path.exists():
                raise StorageError(f"no search file at {str(self.path)!r}")
            uri = f"file:{self.path.resolve()}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True)
        else:
            self._lock_file = open(self.path.with_name(self.path.name + ".lock"), "a+")  # noqa: SIM115
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock_file.close()
                raise SearchLockedError(
                    f"{str(self.path)!r} is open for writing in another process; "
                    "stop that search first, or open this one read-only (archtune status)"
                ) from None
            try:
                self._conn = sqlite3.connect(self.path, isolation_level=None)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._conn.executescript(_SCHEMA)
            except sqlite3.DatabaseError as err:
                self.close()
                raise StorageError(f"{str(self.path)!r} is not an archtune search file: {err}") from err

    def append(self, trial: Trial, pending_id: int | None = None) -> None:
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            if pending_id is not None:  # the dispatch record goes in the same transaction as its result
                self._conn.execute("DELETE FROM pending WHERE id = ?", (pending_id,))
            self._conn.execute(
                "INSERT INTO trials (number, encoding, fidelity, cost, status, value, metrics, duration, error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    trial.number, trial.key, trial.fidelity, trial.cost, trial.status, trial.value,
                    json.dumps(trial.metrics, default=str), trial.duration, trial.error,
                ),
            )

    def add_pending(self, key: str, fidelity: str) -> int:
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            cursor = self._conn.execute("INSERT INTO pending (encoding, fidelity) VALUES (?, ?)", (key, fidelity))
        return int(cursor.lastrowid)  # type: ignore[arg-type]

    def drop_pending(self, pending_id: int) -> None:
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("DELETE FROM pending WHERE id = ?", (pending_id,))

    def pending(self) -> list[Pending]:
        try:
            rows = self._conn.execute("SELECT id, encoding, fidelity FROM pending ORDER BY id").fetchall()
        except sqlite3.OperationalError:  # a file written before dispatches were recorded
            return []
        return [Pending(*r) for r in rows]

    def trials(self) -> list[Trial]:
        try:
            rows = self._conn.execute(
                "SELECT number, encoding, fidelity, cost, status, value, metrics, duration, error"
                " FROM trials ORDER BY number"
            ).fetchall()
        except sqlite3.DatabaseError as err:
            raise StorageError(f"cannot read trials from {str(self.path)!r}: {err}") from err
        return [Trial(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], r[8]) for r in rows]

    def get_meta(self) -> dict[str, str]:
        try:
            return dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as err:
            raise StorageError(f"{str(self.path)!r} is not an archtune search file: {err}") from err

    def set_meta(self, values: dict[str, str]) -> None:
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(values.items()))

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
            self._conn = None
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
