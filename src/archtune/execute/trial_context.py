"""What an objective may know about the evaluation it runs: the search's work directory and a stable trial id.

The search sets a :class:`TrialContext` around every call of an objective (in the process that runs it:
the driver, a process-pool worker, a Dask worker, a time-limited child). An objective reads it with
:func:`current_trial` and keeps its files (checkpoints, the trained model) in :attr:`TrialContext.trial_dir`.
The trial id is the evaluation's dispatch record in the search file, so an evaluation sent again (its
worker died, or the driver was killed and the search resumed) gets the same folder and finds what it
left there. The context travels as an argument of the call, not through the environment, so it reaches
workers on other machines; the work directory must then be a path those machines see (a shared file
system).

Example:
    >>> current_trial() is None                      # outside a search
    True
    >>> ctx = TrialContext(work_dir="/tmp/run.search.work", trial_id=7, key="[1, 2]", fidelity="hi")
    >>> with trial_context(ctx):
    ...     str(current_trial().trial_dir)
    '/tmp/run.search.work/trials/7'
    >>> WithTrialContext(lambda enc: current_trial().fidelity, ctx)((1, 2))
    'hi'
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the metric an objective returns (a positive epoch count) when it continued from
#: :attr:`TrialContext.continue_from` instead of starting afresh; the search then charges only the
#: remaining cost (high minus low fidelity)
CONTINUED_METRIC = "continued_from_epoch"
#: the newest epoch's training state, in a trial's folder
CHECKPOINT_FILE = "checkpoint.pt"
#: the trained model at the end of an evaluation, in a trial's folder
MODEL_FILE = "model.pt"


@dataclass(frozen=True)
class TrialContext:
    """The evaluation being run.

    Attributes:
        work_dir: the search's work directory (default ``<search file>.work``).
        trial_id: stable across re-sends of this evaluation (its dispatch record id).
        key: the encoding's canonical key (:func:`archtune.space.encoding.encoding_key`).
        fidelity: ``"hi"`` or ``"lo"``.
        continue_from: a lower-fidelity checkpoint of the same encoding this evaluation may continue
            from (set only when the search reuses low fidelity for high fidelity), else None.
    """

    work_dir: str
    trial_id: int
    key: str
    fidelity: str
    continue_from: str | None = None

    @property
    def trial_dir(self) -> Path:
        """This evaluation's folder (created by whoever writes to it first)."""
        return Path(self.work_dir) / "trials" / str(self.trial_id)


_CURRENT: contextvars.ContextVar[TrialContext | None] = contextvars.ContextVar("archtune_trial", default=None)


def current_trial() -> TrialContext | None:
    """The evaluation this code runs in, or None outside a search."""
    return _CURRENT.get()


@contextlib.contextmanager
def trial_context(context: TrialContext | None) -> Iterator[None]:
    """Make ``context`` the current trial inside the ``with`` block (None: leave it unset)."""
    token = _CURRENT.set(context)
    try:
        yield
    finally:
        _CURRENT.reset(token)


@dataclass
class WithTrialContext:
    """``fn`` called inside ``context``: how the context reaches a time-limited child process (picklable
    whenever ``fn`` is)."""

    fn: Callable[[Any], Any]
    context: TrialContext

    def __call__(self, encoding: Any) -> Any:
        with trial_context(self.context):
            return self.fn(encoding)
