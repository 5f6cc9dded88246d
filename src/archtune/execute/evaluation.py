"""Running one user objective safely: exceptions, NaN/inf and time-outs become failed outcomes.

Example:
    >>> run_objective(lambda enc: 0.5, (1,)).value
    0.5
    >>> out = run_objective(lambda enc: float("nan"), (1,))
    >>> out.ok, out.error
    (False, 'objective returned a non-finite value: nan')
"""

from __future__ import annotations

import math
import numbers
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archtune.execute.isolation import call_in_child
from archtune.execute.trial_context import TrialContext, WithTrialContext, trial_context


@dataclass
class Outcome:
    """Result of one evaluation."""

    value: float | None
    metrics: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0
    error: str | None = None
    #: the objective broke its contract (returned None, a string, a bool, a dict without the value):
    #: the same mistake at every call, so the search stops instead of recording a failed trial
    violation: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class ContractViolation(Exception):
    """The objective's result is not a number nor a dict holding one: a mistake in the user's code."""


def _describe(result: Any) -> str:
    if result is None:
        return "None"
    text = repr(result)
    return f"{type(result).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def _as_number(value: Any, what: str, objective_key: str) -> float:
    """``value`` as a float; a value of the wrong type is a :class:`ContractViolation`.

    Python and NumPy numbers and one-element tensors/arrays are numbers; bools and strings are not
    (``True`` would be stored as 1.0 and ``"3.5"`` as 3.5, hiding a bug in the objective).
    """
    fix = f"return a float or a dict with {objective_key!r}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        item = getattr(value, "item", None)
        size = getattr(value, "numel", None) or getattr(value, "size", None)
        size = size() if callable(size) else size
        if item is not None and size == 1 and not isinstance(value, (str, bytes)):
            value = item()  # a one-element torch tensor or NumPy array
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ContractViolation(f"{what} {_describe(value)}; {fix}")
    # a conversion that fails (10**400 overflows a float) is a failed trial, not a crash of the search
    return float(value)


def _interpret(result: Any, objective_key: str) -> tuple[float, dict[str, Any]]:
    if isinstance(result, Mapping):
        if objective_key not in result:
            raise ContractViolation(
                f"the objective returned a dict without the key {objective_key!r} (keys: "
                f"{sorted(map(str, result))}); return a float or a dict with {objective_key!r}, or set objective_key"
            )
        return _as_number(
            result[objective_key], f"the objective's {objective_key!r} was", objective_key
        ), dict(result)
    return _as_number(result, "the objective returned", objective_key), {}


def run_objective(
    fn: Callable[[Any], Any],
    encoding: Any,
    objective_key: str = "value",
    time_limit: float | None = None,
    context: TrialContext | None = None,
) -> Outcome:
    """Call ``fn(encoding)``; never raises for the objective's own failures.

    ``context`` is the trial the call belongs to (see :mod:`archtune.execute.trial_context`); it is the
    current trial during the call. A time-limited child receives it only when ``fn`` declares
    ``uses_trial_context = True`` (so a plain objective's child need not import archtune).

    With ``time_limit`` the call runs in a child process (see ``archtune.execute.isolation.call_in_child``),
    killed together with everything it started when it overruns (a failed outcome); ``fn`` must then be
    serialisable by cloudpickle (lambdas and closures are), else a :class:`~archtune.errors.ConfigError`.
    """
    start = time.perf_counter()
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            with trial_context(context):
                box["result"] = fn(encoding)
        except (KeyboardInterrupt, SystemExit):
            raise  # Ctrl-C or sys.exit() stops the search; the evaluation is sent again on resume
        except BaseException:  # noqa: BLE001 - everything else the user's code raises is a failed trial
            box["error"] = traceback.format_exc()

    if time_limit is None:
        call()
    else:  # a thread cannot be stopped: a child process, with all it started, is killed when it overruns
        wants = context is not None and getattr(fn, "uses_trial_context", False)
        box.update(call_in_child(WithTrialContext(fn, context) if wants else fn, encoding, time_limit))  # type: ignore[arg-type]
    duration = time.perf_counter() - start
    if "error" in box:
        return Outcome(None, duration=duration, error=box["error"])
    try:
        value, metrics = _interpret(box["result"], objective_key)
    except ContractViolation as err:
        return Outcome(None, duration=duration, error=str(err), violation=True)
    except Exception as err:  # noqa: BLE001 - any failure to turn the result into a value fails the trial
        return Outcome(None, duration=duration, error=f"bad objective result: {type(err).__name__}: {err}")
    if not math.isfinite(value):
        return Outcome(None, metrics, duration, f"objective returned a non-finite value: {value}")
    return Outcome(value, metrics, duration)
