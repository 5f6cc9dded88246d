"""Reading a search file from outside the process that writes it, as the kill tests do."""

from __future__ import annotations

import sqlite3


def stored_trials(path):
    """(number, encoding, fidelity, status, value) of every committed trial, in order; None while the file
    is not created yet or busy mid-write (ask again)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return conn.execute(
                "SELECT number, encoding, fidelity, status, value FROM trials ORDER BY number"
            ).fetchall()
    except sqlite3.Error:
        return None
