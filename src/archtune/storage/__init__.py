"""Trial storage (SQLite by default)."""

from archtune.storage.base import COMPLETE, FAILED, Storage, Trial
from archtune.storage.sqlite import SQLiteStorage

__all__ = ["COMPLETE", "FAILED", "SQLiteStorage", "Storage", "Trial"]
