"""Evaluations in flight: submitting them, collecting the first to finish, retrying lost workers.

An evaluation whose *objective* fails comes back as a failed :class:`Outcome` (see
:func:`archtune.execute.run_objective`); an exception out of the future itself means the worker
running it was lost (process killed, machine gone). Such an evaluation is submitted again, up to
``retries`` times, and only then handed back as failed: a dying worker never loses a trial.

Example:
    >>> from archtune.execute.executors import open_executor
    >>> from archtune.strategy.base import Suggestion
    >>> d = Dispatcher(open_executor(None), lambda s: (lambda enc: enc * 2, s.index, "value", None), retries=2)
    >>> d.submit(Dispatch(Suggestion(21, "hi"), pending_id=1))
    >>> [(done.suggestion.index, outcome.value) for done, outcome in d.finished()]
    [(21, 42.0)]
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass
from typing import Any

from archtune.errors import ConfigError
from archtune.execute.evaluation import Outcome, run_objective
from archtune.execute.executors import ExecutorHandle
from archtune.execute.trial_context import TrialContext
from archtune.strategy.base import Suggestion


@dataclass
class Dispatch:
    """One evaluation sent to a worker.

    Attributes:
        suggestion: what is evaluated.
        pending_id: its dispatch record in the search file (removed when its trial is stored).
        attempts: how many times it was submitted after a worker was lost.
        submitted_to: the executor it went to last (to tell a broken pool from an already rebuilt one).
    """

    suggestion: Suggestion
    pending_id: int
    attempts: int = 0
    submitted_to: Executor | None = None


class Dispatcher:
    """Keeps the in-flight evaluations of one :meth:`SearchInstance.run_search` call.

    Args:
        handle: where evaluations run.
        arguments: ``suggestion -> (objective, encoding, objective_key, time_limit)`` for :func:`run_objective`.
        retries: submissions after a lost worker before the evaluation is recorded as failed.
        notify: called with a message when a worker was lost and the evaluation is retried.
        context: ``dispatch -> TrialContext`` handed to the objective (see
            :mod:`archtune.execute.trial_context`); the same for every re-send of one dispatch.
    """

    def __init__(
        self,
        handle: ExecutorHandle,
        arguments: Callable[[Suggestion], tuple[Any, ...]],
        retries: int = 2,
        notify: Callable[[str], None] = lambda _message: None,
        context: Callable[[Dispatch], TrialContext | None] | None = None,
    ):
        self.handle = handle
        self.arguments = arguments
        self.context = context
        self.retries = retries
        self.notify = notify
        self.in_flight: dict[Future[Outcome], Dispatch] = {}

    @property
    def pending(self) -> list[Suggestion]:
        """Suggestions in flight, in submission order."""
        return [d.suggestion for d in self.in_flight.values()]

    def submit(self, dispatch: Dispatch) -> None:
        dispatch.submitted_to = self.handle.executor
        context = None if self.context is None else self.context(dispatch)
        future = self.handle.submit(run_objective, *self.arguments(dispatch.suggestion), context)
        self.in_flight[future] = dispatch

    def finished(self) -> list[tuple[Dispatch, Outcome]]:
        """Wait for the first evaluation(s) to finish; lost workers' evaluations are resubmitted, not returned.

        May return an empty list (everything that finished was resubmitted); call again while
        :attr:`in_flight` is not empty.
        """
        waiter = getattr(self.handle.executor, "wait_first", None)  # a virtual clock picks the first itself
        done = (
            waiter(list(self.in_flight))
            if waiter
            else wait(list(self.in_flight), return_when=FIRST_COMPLETED)[0]
        )
        out = []
        for future in sorted(done, key=lambda f: self.in_flight[f].pending_id):  # a stable order for ties
            dispatch = self.in_flight.pop(future)
            try:
                outcome = future.result()
            except (KeyboardInterrupt, SystemExit, ConfigError):
                # Ctrl-C or sys.exit() in the objective, or a setting that cannot work (an objective a
                # time limit cannot send to its child): the search stops, its dispatch record stays
                raise
            except BaseException as err:  # noqa: BLE001 - the worker, not the objective, failed
                reason = f"{type(err).__name__}: {err}"
                if dispatch.attempts < self.retries:
                    dispatch.attempts += 1
                    self.notify(f"worker lost ({reason}); retry {dispatch.attempts} of {self.retries}")
                    self.handle.repair(err, dispatch.submitted_to)
                    self.submit(dispatch)
                    continue
                outcome = Outcome(None, error=f"worker lost {dispatch.attempts + 1} times; last: {reason}")
            out.append((dispatch, outcome))
        return out
