"""SQLite storage: one transaction per finished trial, and an OS lock so only one process writes.

The lock is ``fcntl.flock`` on a side file named after the file's real path (symlinks and other
spellings of the path resolved), so two writers cannot meet through different names; the kernel
releases it when the holder dies, even by SIGKILL, so a crashed search can always be reopened while a
running one cannot be opened twice.

Before every write the file at the path is checked to be the one that was opened: a search file deleted
or replaced while the search runs stops the search with a :class:`~archtune.errors.StorageError`, after everything
committed so far has been copied to a recovery file beside it (nothing committed is lost).

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

import contextlib
import fcntl
import json
import math
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    fidelity TEXT NOT NULL,
    worker TEXT
);
"""


def _jsonable(value: Any) -> Any:
    """``value`` made JSON-safe: non-finite floats and objects JSON cannot hold become strings.

    Metrics come from the user's objective and may hold anything (tensors, 1e400, cycles): none of it
    may stop a trial from being stored, or make a stored record unreadable later.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    item = getattr(value, "tolist", None)  # NumPy and torch values
    if callable(item):
        try:
            return _jsonable(item())
        except Exception:  # noqa: BLE001 - fall back to the text form
            pass
    return str(value)


def encode_metrics(metrics: dict[str, Any]) -> str:
    """The JSON text stored for a trial's metrics (never raises)."""
    try:
        return json.dumps(_jsonable(metrics), allow_nan=False)
    except (ValueError, TypeError, RecursionError):  # a cycle, or nesting too deep
        return json.dumps({str(k): str(v)[:1000] for k, v in metrics.items()})


class SQLiteStorage(Storage):
    """Trials in an SQLite file; ``read_only=True`` opens without taking the writer lock.

    Only a missing file starts a new search: an existing file must be an archtune search file (a
    zero-byte file or another SQLite database is refused). Attributes: ``created`` is True when this
    object created the file (see :meth:`discard`).
    """

    def __init__(self, path: str | os.PathLike[str], read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self.created = False
        self._lock_file: Any = None
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        if self.path.is_dir():
            raise StorageError(
                f"{str(self.path)!r} is a directory; give the path of a search file (e.g. run.search)"
            )
        if read_only:
            if not self.path.exists():
                raise StorageError(f"no search file at {str(self.path)!r}")
            if self.path.stat().st_size == 0:
                raise StorageError(f"{str(self.path)!r} is an empty (0-byte) file, not a search file")
            uri = f"file:{self.path.resolve()}?mode=ro"
            try:
                self._conn = sqlite3.connect(uri, uri=True)
                self._check_format()
            except sqlite3.DatabaseError as err:
                self.close()
                raise StorageError(f"{str(self.path)!r} is not an archtune search file: {err}") from err
            return
        self._open_for_writing()

    # -- opening ---------------------------------------------------------------------------------
    def _open_for_writing(self) -> None:
        real = Path(os.path.realpath(self.path))
        folder = real.parent
        if not folder.is_dir():
            raise StorageError(
                f"the folder of save_filename {str(self.path)!r} does not exist; create {str(folder)!r} first"
            )
        # real probes, not os.access: root passes every access check but not a read-only mount or an
        # immutable file, and SQLite would open such a file read-only without a word, failing later
        try:
            tempfile.TemporaryFile(dir=folder, prefix=".archtune-probe-").close()
        except OSError as err:
            raise StorageError(
                f"cannot write in {str(folder)!r} ({err.strerror}): give a save_filename in a writable folder"
            ) from None
        exists = real.exists()
        if exists:
            try:
                os.close(os.open(real, os.O_RDWR))
            except OSError as err:
                raise StorageError(
                    f"search file {str(self.path)!r} is not writable ({err.strerror}): make it writable, "
                    "or read it with archtune status"
                ) from None
        if exists and real.stat().st_size == 0:
            raise StorageError(
                f"{str(self.path)!r} is an empty (0-byte) file, not a search file: delete it or give another "
                "save_filename (only a missing file starts a new search)"
            )
        try:
            self._lock_file = open(real.with_name(real.name + ".lock"), "a+")  # noqa: SIM115
        except OSError as err:
            raise StorageError(f"cannot create the lock file beside {str(self.path)!r}: {err}") from err
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            raise SearchLockedError(
                f"{str(self.path)!r} is open for writing in another process; "
                "stop that search first, or open this one read-only (archtune status)"
            ) from None
        exists = real.exists()  # again, under the lock
        try:
            self._conn = sqlite3.connect(real, isolation_level=None)
            if exists:
                self._check_format()
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
            if "worker" not in {r[1] for r in self._conn.execute("PRAGMA table_info(pending)")}:
                # files written before the worker of an evaluation was recorded (for archtune status)
                self._conn.execute("ALTER TABLE pending ADD COLUMN worker TEXT")
        except sqlite3.DatabaseError as err:
            self.close()
            raise StorageError(f"{str(self.path)!r} is not an archtune search file: {err}") from err
        self.created = not exists
        self._real = real
        st = real.stat()
        self._identity = (st.st_dev, st.st_ino)

    def _check_format(self) -> None:
        assert self._conn is not None
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and not {"meta", "trials"} <= tables:
            raise sqlite3.DatabaseError(f"it holds the tables {sorted(tables)}, not an archtune search")

    # -- writing ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, on the file this storage opened (checked first)."""
        if self._conn is None:
            raise StorageError(f"the search file {str(self.path)!r} is closed")
        if self.read_only:
            raise StorageError(f"{str(self.path)!r} was opened read-only")
        self._check_identity()
        try:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
        except sqlite3.Error as err:
            raise StorageError(f"cannot write to the search file {str(self.path)!r}: {err}") from err

    def _check_identity(self) -> None:
        try:
            st = os.stat(self._real)
            same = (st.st_dev, st.st_ino) == self._identity
        except FileNotFoundError:
            same = False
        if same:
            return
        rescued = self._rescue()
        raise StorageError(
            f"the search file {str(self.path)!r} was deleted or replaced while the search ran; the search "
            f"stopped. Everything committed before ({rescued}); move it back to "
            f"{str(self.path)!r} to resume"
        )

    def _rescue(self) -> str:
        """Copy the open database (still readable through its open handle) to a file beside the path."""
        assert self._conn is not None
        target = self._real.with_name(f"{self._real.name}.recovered-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            dest = sqlite3.connect(target)
            try:
                self._conn.backup(dest)
            finally:
                dest.close()
        except (sqlite3.Error, OSError) as err:
            return f"could not be copied: {err}"
        return f"{self.trial_count()} trials) is saved in {str(target)!r}"

    def trial_count(self) -> int:
        assert self._conn is not None
        return int(self._conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0])

    def append(self, trial: Trial, pending_id: int | None = None) -> None:
        with self._writing() as conn:
            if pending_id is not None:  # the dispatch record goes in the same transaction as its result
                conn.execute("DELETE FROM pending WHERE id = ?", (pending_id,))
            conn.execute(
                "INSERT INTO trials (number, encoding, fidelity, cost, status, value, metrics, duration, error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    trial.number,
                    trial.key,
                    trial.fidelity,
                    trial.cost,
                    trial.status,
                    trial.value,
                    encode_metrics(trial.metrics),
                    trial.duration,
                    trial.error,
                ),
            )

    def add_pending(self, key: str, fidelity: str) -> int:
        with self._writing() as conn:
            cursor = conn.execute("INSERT INTO pending (encoding, fidelity) VALUES (?, ?)", (key, fidelity))
        return int(cursor.lastrowid)  # type: ignore[arg-type]

    def drop_pending(self, pending_id: int) -> None:
        with self._writing() as conn:
            conn.execute("DELETE FROM pending WHERE id = ?", (pending_id,))

    def set_pending_worker(self, pending_id: int, worker: str | None) -> None:
        """Note the worker that runs a dispatched evaluation now (None: back to waiting), for ``archtune status``."""
        with self._writing() as conn:
            conn.execute("UPDATE pending SET worker = ? WHERE id = ?", (worker, pending_id))

    def pending_workers(self) -> dict[int, str]:
        """``{pending id: worker}`` of the dispatched evaluations a worker has started (see :meth:`set_pending_worker`)."""
        try:
            rows = self._rows("SELECT id, worker FROM pending WHERE worker IS NOT NULL")
        except StorageError:  # a file written before workers were recorded
            return {}
        return {int(i): str(w) for i, w in rows}

    def set_meta(self, values: dict[str, str]) -> None:
        with self._writing() as conn:
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(values.items()))

    # -- reading ---------------------------------------------------------------------------------
    def _rows(self, query: str) -> list[Any]:
        if self._conn is None:
            raise StorageError(f"the search file {str(self.path)!r} is closed")
        try:
            return self._conn.execute(query).fetchall()
        except sqlite3.DatabaseError as err:
            raise StorageError(f"cannot read {str(self.path)!r}: {err}") from err

    def pending(self) -> list[Pending]:
        try:
            rows = self._rows("SELECT id, encoding, fidelity FROM pending ORDER BY id")
        except StorageError:  # a file written before dispatches were recorded
            return []
        return [Pending(*r) for r in rows]

    def trials(self) -> list[Trial]:
        rows = self._rows(
            "SELECT number, encoding, fidelity, cost, status, value, metrics, duration, error FROM trials ORDER BY number"
        )
        out = []
        for r in rows:
            try:
                metrics = json.loads(r[6])
            except (TypeError, ValueError):  # stored by hand or by an old version: keep the trial
                metrics = {"_unreadable": str(r[6])[:1000]}
            out.append(
                Trial(
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    metrics if isinstance(metrics, dict) else {},
                    r[7],
                    r[8],
                )
            )
        return out

    def get_meta(self) -> dict[str, str]:
        return dict(self._rows("SELECT key, value FROM meta"))

    # -- closing ---------------------------------------------------------------------------------
    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
            self._conn = None
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def discard(self) -> None:
        """Close, and remove the file again if this object created it and nothing was stored in it.

        Used when a search fails to start, so that a failed constructor leaves no file behind (the
        next, corrected call then starts afresh instead of meeting the failed call's settings).
        """
        empty = False
        if self.created and self._conn is not None:
            try:
                empty = not self.get_meta() and self.trial_count() == 0
            except StorageError:
                empty = False
        self.close()
        if empty:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(f"{self._real}{suffix}")


def read_snapshot(path: str | os.PathLike[str]) -> tuple[dict[str, str], list[Trial], list[Pending]]:
    """``(meta, trials, pending)`` of a search file, read-only and without the writer lock.

    What ``archtune status``, the report and the dashboard read: safe beside a running search.

    Example:
        >>> read_snapshot("/nonexistent.search")
        Traceback (most recent call last):
        ...
        archtune.errors.StorageError: no search file at '/nonexistent.search'
    """
    storage = SQLiteStorage(Path(path), read_only=True)
    try:
        return storage.get_meta(), storage.trials(), storage.pending()
    finally:
        storage.close()
