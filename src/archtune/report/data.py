"""What the HTML report and the dashboard show, read from a search file without ever writing it.

The file is opened with ``SQLiteStorage(path, read_only=True)`` (no writer lock is taken), so a search
that is still running can be reported on while it writes. Everything the figures need is gathered here
once: the settings, the trials, the evaluations in flight, the objectives and the knobs.

Example:
    >>> import os, tempfile
    >>> from archtune.storage.base import COMPLETE, Trial
    >>> from archtune.storage.sqlite import SQLiteStorage, read_snapshot
    >>> path = os.path.join(tempfile.mkdtemp(), "r.search")
    >>> st = SQLiteStorage(path)
    >>> st.set_meta({"name": "r", "hi_fi_cost": "1.0", "lo_fi_cost": "None"})
    >>> st.append(Trial(0, '[3,"conv"]', "hi", 1.0, COMPLETE, 0.7)); st.close()
    >>> data = load_report_data(path)
    >>> data.name, len(data.trials), data.knobs, data.objectives
    ('r', 1, ['0', '1'], {'value': 'max'})
"""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archtune.errors import ConfigError
from archtune.space.encoding import decode_key
from archtune.storage.base import Pending, Trial
from archtune.storage.sqlite import read_snapshot


def knob_values(encoding: Any) -> dict[str, Any]:
    """An encoding as knob name -> value: dict keys, tuple positions ``"0"``, ``"1"``, ... or ``"encoding"``.

    Example:
        >>> knob_values((3, "conv")), knob_values({"w": 8}), knob_values("resnet")
        ({'0': 3, '1': 'conv'}, {'w': 8}, {'encoding': 'resnet'})
    """
    if isinstance(encoding, dict):
        return {str(k): v for k, v in encoding.items()}
    if isinstance(encoding, (list, tuple)):
        return {str(i): v for i, v in enumerate(encoding)}
    return {"encoding": encoding}


def is_number(value: Any) -> bool:
    """True for a finite int or float that is not a bool.

    Example:
        >>> is_number(3), is_number(True), is_number(float("nan")), is_number("3")
        (True, False, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


@dataclass
class ReportData:
    """A search file's contents, as the report shows them.

    Attributes:
        path: the search file.
        meta: its stored settings (strings).
        trials: finished trials in completion order.
        pending: evaluations dispatched and not finished (the search is running, or stopped mid-way).
        objectives: objective name -> ``"max"``/``"min"``; the first (or ``"value"``) is ``trial.value``.
        knobs: knob names, in the encodings' order.
        encodings: the decoded encoding of every trial (same order as ``trials``).
        notes: what could not be shown and why (e.g. a missing space file).
    """

    path: Path
    meta: dict[str, str]
    trials: list[Trial]
    pending: list[Pending]
    objectives: dict[str, str]
    knobs: list[str]
    encodings: list[Any]
    notes: list[str] = field(default_factory=list)
    _space: Any = None
    _space_tried: bool = False

    @property
    def name(self) -> str:
        return self.meta.get("name") or self.path.stem

    @property
    def hi_cost(self) -> float:
        try:
            cost = float(self.meta.get("hi_fi_cost", "1"))
        except ValueError:
            return 1.0
        return cost if cost > 0 else 1.0

    @property
    def primary(self) -> str:
        """The objective stored in ``trial.value``."""
        return "value" if "value" in self.objectives else next(iter(self.objectives))

    @property
    def space_size(self) -> int | None:
        try:
            return int(json.loads(self.meta.get("space_fingerprint", "{}")).get("n_encodings"))
        except (ValueError, TypeError, AttributeError):
            return None

    def spent_units(self) -> np.ndarray:
        """Budget spent (in high-fidelity evaluations) when each trial finished."""
        return np.cumsum([t.cost for t in self.trials], dtype=np.float64) / self.hi_cost

    def space(self) -> Any:
        """The search's space (loaded once, no builder imported), or None when its file cannot be read."""
        if self._space_tried:
            return self._space
        self._space_tried = True
        stored = self.meta.get("space_file") or ""
        if not stored:
            self.notes.append("the search was run on a space without a file: zero-cost metrics are not shown")
            return None
        from archtune.errors import SpaceFileError
        from archtune.space.search_space import load_search_space

        candidates = [Path(stored), self.path.parent / Path(stored).name]
        for candidate in candidates:
            if candidate.is_file():
                try:
                    self._space = load_search_space(candidate)
                except SpaceFileError as err:
                    self.notes.append(
                        f"the space file could not be read ({err}): zero-cost metrics are not shown"
                    )
                return self._space
        self.notes.append(f"the space file {stored!r} is missing: zero-cost metrics are not shown")
        return None

    def objective_values(self, trials: Sequence[Trial]) -> np.ndarray:
        """(trials, objectives) array of every objective's value; NaN where a trial lacks one."""
        names = list(self.objectives)
        out = np.full((len(trials), len(names)), np.nan)
        for j, name in enumerate(names):
            if name == self.primary:
                out[:, j] = [t.value if t.value is not None else np.nan for t in trials]
                continue
            column = None
            for i, t in enumerate(trials):
                v = t.metrics.get(name)
                if is_number(v):
                    out[i, j] = float(v)
                    continue
                if not t.ok:  # a failed trial has no objectives: nothing to look up
                    continue
                if column is None:
                    space = self.space()
                    # a knobs space measured a sample only: its metrics are not indexed by encoding
                    listed = space is not None and getattr(space, "listed", True)
                    column = space.metrics.get(name) if listed else None
                    if column is None:
                        column = np.array([])
                if len(column):
                    index = self._space.index.get(t.key)
                    if index is not None:
                        out[i, j] = float(column[index])
        return out


def _objectives(meta: dict[str, str]) -> dict[str, str]:
    text = meta.get("objectives")
    if not text:
        return {"value": "max"}
    try:
        objectives = json.loads(text)
    except ValueError:
        raise ConfigError(
            f"the search file's objectives setting is not JSON ({text[:80]!r}); "
            'write it as {"value": "max", ...}'
        ) from None
    if (
        not isinstance(objectives, dict)
        or not objectives
        or any(s not in ("max", "min") for s in objectives.values())
    ):
        raise ConfigError(f"the search file's objectives must map names to 'max' or 'min', got {text[:80]!r}")
    return {str(k): str(v) for k, v in objectives.items()}


def load_report_data(path: str | os.PathLike[str]) -> ReportData:
    """Read a search file (read-only) into a :class:`ReportData`.

    Args:
        path: a search file (``SearchInstance(save_filename=...)``), finished or still running.

    Raises:
        StorageError: when there is no search file at ``path`` or it is not one.

    Example:
        >>> load_report_data("/nonexistent.search")
        Traceback (most recent call last):
        ...
        archtune.errors.StorageError: no search file at '/nonexistent.search'
    """
    meta, trials, pending = read_snapshot(path)
    encodings = []
    knobs: dict[str, None] = {}
    for t in trials:
        try:
            encoding = decode_key(t.key)
        except ValueError:
            encoding = t.key
        encodings.append(encoding)
        for name in knob_values(encoding):
            knobs.setdefault(name)
    return ReportData(Path(path), meta, trials, pending, _objectives(meta), list(knobs), encodings)
