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
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    """Result of one evaluation."""

    value: float | None
    metrics: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _interpret(result: Any, objective_key: str) -> tuple[float, dict[str, Any]]:
    if isinstance(result, dict):
        if objective_key not in result:
            raise ValueError(
                f"objective returned a dict without the key {objective_key!r} (keys: {sorted(result)}); "
                "return a float or set objective_key"
            )
        return float(result[objective_key]), dict(result)
    return float(result), {}


def run_objective(
    fn: Callable[[Any], Any], encoding: Any, objective_key: str = "value", time_limit: float | None = None
) -> Outcome:
    """Call ``fn(encoding)``; never raises for the objective's own failures.

    With ``time_limit`` the call runs in a daemon thread and is abandoned (reported failed) when it
    overruns; Python cannot kill a thread, so objectives that must be stopped hard belong in a process
    executor.
    """
    start = time.perf_counter()
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["result"] = fn(encoding)
        except BaseException:  # noqa: BLE001 - everything the user's code raises is a failed trial
            box["error"] = traceback.format_exc()

    if time_limit is None:
        call()
    else:
        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(time_limit)
        if worker.is_alive():
            return Outcome(None, duration=time.perf_counter() - start, error=f"time limit of {time_limit} s exceeded")
    duration = time.perf_counter() - start
    if "error" in box:
        return Outcome(None, duration=duration, error=box["error"])
    try:
        value, metrics = _interpret(box["result"], objective_key)
    except (TypeError, ValueError) as err:
        return Outcome(None, duration=duration, error=f"bad objective result: {err}")
    if not math.isfinite(value):
        return Outcome(None, metrics, duration, f"objective returned a non-finite value: {value}")
    return Outcome(value, metrics, duration)
