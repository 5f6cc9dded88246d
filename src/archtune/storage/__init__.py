"""Trial storage: SQLite files by default, in memory for benchmarks and tests."""

from archtune.storage.base import COMPLETE, FAILED, Storage, Trial
from archtune.storage.memory import MemoryStorage
from archtune.storage.sqlite import SQLiteStorage

__all__ = ["COMPLETE", "FAILED", "MemoryStorage", "SQLiteStorage", "Storage", "Trial"]
