"""SearchInstance: ties a space, a strategy, the user's objectives, an executor and the storage together.

Every finished evaluation is committed to SQLite before the strategy hears of it, and the strategy is
deterministic given the history, so a search killed at any moment and opened again continues exactly
where an uninterrupted one would be: nothing finished is lost or paid twice.

Example:
    >>> import tempfile, os
    >>> from archtune import create_search_space
    >>> d = tempfile.mkdtemp()
    >>> _ = create_search_space("line", os.path.join(d, "line.space"), encodings=[(i,) for i in range(20)])
    >>> s = SearchInstance("demo", os.path.join(d, "demo.search"), os.path.join(d, "line.space"),
    ...                    hi_fi_eval=lambda enc: -abs(enc[0] - 13), hi_fi_cost=1, strategy="random", progress=False)
    >>> s.run_search(eval_budget=20)
    >>> s.best()
    ((13,), 0.0)
    >>> s.close()
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from archtune.errors import ConfigError, SearchStoppedError
from archtune.execute.evaluation import Outcome
from archtune.execute.executors import open_executor
from archtune.search.constraints import check_constraints, feasible_mask
from archtune.search.dispatch import Dispatch, Dispatcher
from archtune.space.encoding import decode_key
from archtune.space.search_space import SearchSpace, load_search_space
from archtune.storage.base import COMPLETE, FAILED, Trial
from archtune.storage.sqlite import SQLiteStorage
from archtune.strategy.base import Fidelity, Observation, SearchContext, Strategy, Suggestion
from archtune.strategy.registry import make_strategy

_EPS = 1e-9


class SearchInstance:
    """A resumable search stored in ``save_filename`` (SQLite).

    Args:
        name: the search's name.
        save_filename: the search file; opened again (same arguments) to resume.
        search_space_filename: a space file from :func:`create_search_space` (or pass ``search_space``).
        hi_fi_eval: objective, encoding -> float (higher is better) or dict holding ``objective_key``.
        hi_fi_cost: cost of one high-fidelity evaluation (budgets count in these).
        lo_fi_eval, lo_fi_cost: optional cheaper, noisier objective and its cost.
        seed: one seed for the whole run; the same seed gives the same trajectory.
        strategy: a registered name (``"bo"``, ``"random"``, ``"rea"``, ``"ls"``, ``"spline"``) or a
            :class:`Strategy` object.
        search_space: a :class:`SearchSpace` object instead of a file name (one may also be passed in
            ``search_space_filename``'s place).
        time_limit: seconds after which an evaluation is abandoned and recorded as failed.
        max_consecutive_failures: this many failed evaluations in a row stop the search.
        objective_key: key of the objective value when objectives return dicts.
        executor: where evaluations run: None (this process, one at a time), ``"process"`` (a local
            process pool), ``"dask"`` (a Dask LocalCluster started and stopped for each
            :meth:`run_search`), a Dask scheduler address, a ``distributed.Client``, or any
            ``concurrent.futures.Executor``; see :mod:`archtune.execute.executors` and docs/parallel.md.
        retries: how many times an evaluation whose worker died is submitted again before it is
            recorded as failed (failures of the objective itself are never retried).
        resources: Dask worker resources each evaluation needs, e.g. ``{"GPU": 1}`` (with
            ``executor="dask"``: one worker per GPU, each seeing only its own device).
        progress: print a line per finished evaluation (with trials running / done / failed).
        constraints: ``{metric: maximum}`` over the space's zero-cost metrics, e.g.
            ``{"latency_ms": 20}``: only encodings within every limit are evaluated (see
            :mod:`archtune.search.constraints`; unmeasured ones are judged by the pretrained surrogate).
    """

    def __init__(
        self,
        name: str,
        save_filename: str | os.PathLike[str],
        search_space_filename: str | os.PathLike[str] | SearchSpace | None = None,
        hi_fi_eval: Callable[[Any], Any] | None = None,
        hi_fi_cost: float = 1.0,
        lo_fi_eval: Callable[[Any], Any] | None = None,
        lo_fi_cost: float | None = None,
        seed: int = 0,
        strategy: str | Strategy = "bo",
        search_space: SearchSpace | None = None,
        time_limit: float | None = None,
        max_consecutive_failures: int = 5,
        objective_key: str = "value",
        executor: Any = None,
        retries: int = 2,
        resources: Mapping[str, float] | None = None,
        progress: bool = True,
        constraints: Mapping[str, float] | None = None,
    ):
        if hi_fi_eval is None or not callable(hi_fi_eval):
            raise ConfigError("hi_fi_eval must be a callable: encoding -> float or dict")
        if not hi_fi_cost > 0:
            raise ConfigError(f"hi_fi_cost must be positive, got {hi_fi_cost!r}")
        if (lo_fi_eval is None) != (lo_fi_cost is None):
            raise ConfigError("give both lo_fi_eval and lo_fi_cost, or neither")
        if lo_fi_cost is not None and not 0 < lo_fi_cost < hi_fi_cost:
            raise ConfigError(f"lo_fi_cost must be positive and below hi_fi_cost ({hi_fi_cost}), got {lo_fi_cost!r}")
        if lo_fi_eval is not None and not callable(lo_fi_eval):
            raise ConfigError("lo_fi_eval must be a callable")
        if max_consecutive_failures < 1:
            raise ConfigError("max_consecutive_failures must be at least 1")
        if retries < 0:
            raise ConfigError(f"retries must be 0 or more, got {retries!r}")
        if isinstance(search_space_filename, SearchSpace):  # passed in the file name's place: take it as is
            if search_space is not None:
                raise ConfigError("give one search space: a SearchSpace in search_space_filename's place and search_space")
            search_space, search_space_filename = search_space_filename, None
        if search_space is None:
            if search_space_filename is None:
                raise ConfigError("give search_space_filename or search_space")
            search_space = load_search_space(search_space_filename)
        self.name = name
        self.space = search_space
        self.constraints = check_constraints(constraints)
        searchable = self.space.searchable & feasible_mask(self.space, self.constraints)
        self.seed = seed
        self.time_limit = time_limit
        self.max_consecutive_failures = max_consecutive_failures
        self.objective_key = objective_key
        self.executor = executor
        self.retries = retries
        self.resources = dict(resources) if resources else None
        self.console = Console(stderr=True, quiet=not progress)
        self.objectives: dict[str, Callable[[Any], Any]] = {"hi": hi_fi_eval}
        self.fidelities = [Fidelity("hi", float(hi_fi_cost))]
        if lo_fi_eval is not None:
            self.objectives["lo"] = lo_fi_eval
            self.fidelities.insert(0, Fidelity("lo", float(lo_fi_cost)))  # type: ignore[arg-type]
        self.storage = SQLiteStorage(save_filename)
        try:
            self._check_meta(strategy)
            self.strategy = make_strategy(strategy) if isinstance(strategy, str) else strategy
            self.strategy.setup(
                SearchContext(
                    features=self.space.features,
                    fidelities=self.fidelities,
                    seed=seed,
                    searchable=searchable,
                    metrics=self.space.metrics,
                    pretrained=self.space.surrogate,
                    neighbors=self.space.neighbors,
                    feature_plans=self.space.featurizer_plans,
                )
            )
            self._trials = self.storage.trials()
            for trial in self._trials:  # replay: the strategy ends in the state that produced them
                self._tell(trial)
        except BaseException:
            self.storage.close()
            raise

    @classmethod
    def load(cls, save_filename: str | os.PathLike[str], **kwargs: Any) -> SearchInstance:
        """Reopen a stored search; objectives must be passed again (they are never stored)."""
        meta = SQLiteStorage(save_filename, read_only=True).get_meta()
        if not meta:
            raise ConfigError(f"{str(save_filename)!r} holds no search")
        kwargs.setdefault("search_space_filename", meta.get("space_file") or None)
        kwargs.setdefault("seed", int(meta["seed"]))
        kwargs.setdefault("hi_fi_cost", float(meta["hi_fi_cost"]))
        kwargs.setdefault("constraints", json.loads(meta.get("constraints", "{}")) or None)
        if meta.get("lo_fi_cost") not in (None, "None") and "lo_fi_eval" in kwargs:
            kwargs.setdefault("lo_fi_cost", float(meta["lo_fi_cost"]))
        return cls(meta["name"], save_filename, **kwargs)

    # -- setup -----------------------------------------------------------------------------------
    def _check_meta(self, strategy: str | Strategy) -> None:
        wanted = {
            "name": self.name,
            "space_file": str(self.space.save_filename or ""),
            "seed": str(self.seed),
            "hi_fi_cost": str(self.fidelities[-1].cost),
            "lo_fi_cost": str(self.fidelities[0].cost) if len(self.fidelities) > 1 else "None",
            "strategy": strategy if isinstance(strategy, str) else type(strategy).__name__,
            "constraints": json.dumps(self.constraints, sort_keys=True),
        }
        stored = self.storage.get_meta()
        if not stored:
            self.storage.set_meta({**wanted, "format": "archtune.search/1"})
            return
        stored.setdefault("constraints", "{}")  # files written before constraints existed had none
        for key in ("seed", "hi_fi_cost", "lo_fi_cost", "strategy", "constraints"):
            if stored.get(key) != wanted[key]:
                raise ConfigError(
                    f"this search file was started with {key}={stored.get(key)}, not {wanted[key]}: "
                    "resume with the same settings or use a new file"
                )

    def _tell(self, trial: Trial) -> None:
        index = self.space.index.get(trial.key)
        if index is None:  # the space lost this encoding since; keep the trial, do not tell it
            return
        self.strategy.tell(Observation(index, trial.fidelity, trial.value if trial.ok else None, trial.cost))

    # -- accounting ------------------------------------------------------------------------------
    @property
    def spent(self) -> float:
        """Cost spent so far, in the user's units."""
        return sum(t.cost for t in self._trials)

    def _cost(self, fidelity: str) -> float:
        return next(f.cost for f in self.fidelities if f.name == fidelity)

    # -- the loop --------------------------------------------------------------------------------
    def run_search(self, eval_budget: float, n_workers: int = 1, target: float | None = None) -> None:
        """Evaluate until ``eval_budget * hi_fi_cost`` has been spent in total (over all runs of this file).

        With an executor, keeps ``n_workers`` evaluations in flight: each finished one is stored and
        told to the strategy, and a new one is asked for at once (no barrier); in-flight evaluations
        count against the budget and are never proposed twice. Evaluations that were in flight when a
        previous run of this file was killed are dispatched again first. Raises
        :class:`SearchStoppedError` after ``max_consecutive_failures`` failed evaluations in a row.

        With ``target``, the search stops as soon as a high-fidelity result reaches it; evaluations
        still in flight then are abandoned (and dispatched again by a later ``run_search``).
        """
        if not eval_budget > 0:
            raise ConfigError(f"eval_budget must be positive, got {eval_budget!r}")
        if n_workers < 1:
            raise ConfigError("n_workers must be at least 1")
        total = eval_budget * self.fidelities[-1].cost
        with open_executor(self.executor, n_workers, self.resources) as handle:
            dispatcher = Dispatcher(handle, self._arguments, self.retries,
                                    notify=lambda message: self.console.print(message, highlight=False))
            try:
                self._loop(dispatcher, total, n_workers if handle.executor is not None else 1, target)
            finally:  # stopped early (target, failures, Ctrl-C): do not leave abandoned work running
                for future in dispatcher.in_flight:
                    future.cancel()

    def _loop(self, dispatcher: Dispatcher, total: float, n_workers: int, target: float | None) -> None:
        failures = 0
        for t in reversed(self._trials):
            if t.ok:
                break
            failures += 1
        for record in self.storage.pending():  # in flight when a previous driver died: run them first
            index = self.space.index.get(record.key)
            if index is None or record.fidelity not in self.objectives:
                self.storage.drop_pending(record.id)
                continue
            dispatcher.submit(Dispatch(Suggestion(index, record.fidelity), record.id))
        while True:
            committed = self.spent + sum(self._cost(s.fidelity) for s in dispatcher.pending)
            allowed = [f.name for f in self.fidelities if committed + f.cost <= total + _EPS]
            slots = n_workers - len(dispatcher.in_flight)
            if slots > 0 and allowed:
                for suggestion in self.strategy.ask(slots, pending=dispatcher.pending, allowed=allowed):
                    committed += self._cost(suggestion.fidelity)
                    if committed > total + _EPS:
                        break
                    key = self.space.keys[suggestion.index]
                    # recorded before it is sent: a driver killed from here on re-dispatches it
                    dispatcher.submit(Dispatch(suggestion, self.storage.add_pending(key, suggestion.fidelity)))
            if not dispatcher.in_flight:
                break
            for dispatch, outcome in dispatcher.finished():
                trial = self._record(dispatch, outcome, running=len(dispatcher.in_flight))
                if target is not None and trial.ok and trial.fidelity == self.fidelities[-1].name \
                        and trial.value >= target:  # type: ignore[operator]
                    return
                failures = 0 if trial.ok else failures + 1
                if failures >= self.max_consecutive_failures:
                    raise SearchStoppedError(
                        f"{failures} evaluations failed in a row; the search stopped. Last error:\n{trial.error}"
                    )

    def _arguments(self, suggestion: Suggestion) -> tuple[Any, ...]:
        return (
            self.objectives[suggestion.fidelity],
            self.space.encodings[suggestion.index],
            self.objective_key,
            self.time_limit,
        )

    def _record(self, dispatch: Dispatch, outcome: Outcome, running: int = 0) -> Trial:
        suggestion = dispatch.suggestion
        trial = Trial(
            number=len(self._trials),
            key=self.space.keys[suggestion.index],
            fidelity=suggestion.fidelity,
            cost=self._cost(suggestion.fidelity),
            status=COMPLETE if outcome.ok else FAILED,
            value=outcome.value,
            metrics=outcome.metrics,
            duration=outcome.duration,
            error=outcome.error,
        )
        self.storage.append(trial, pending_id=dispatch.pending_id)  # committed before anyone acts on it
        self._trials.append(trial)
        self._tell(trial)
        self._report(trial, running)
        return trial

    def _report(self, trial: Trial, running: int) -> None:
        best = self.best()
        shown = "FAILED" if not trial.ok else f"{trial.value:.4f}"
        best_text = f"{best[1]:.4f}" if best else "-"
        n_failed = sum(not t.ok for t in self._trials)
        self.console.print(
            f"[{trial.number:4d}] {trial.fidelity:2s} {shown:>9s}  spent {self.spent:9.2f}  "
            f"best(hi) {best_text}  running {running} done {len(self._trials) - n_failed} failed {n_failed}  "
            f"{self.space.encodings[self.space.index[trial.key]]!r}",
            highlight=False,
        )

    # -- results ---------------------------------------------------------------------------------
    def best(self) -> tuple[Any, float] | None:
        """The best high-fidelity result so far as (encoding, value), or None before the first one."""
        hits = [t for t in self._trials if t.ok and t.fidelity == "hi"]
        if not hits:
            return None
        top = max(hits, key=lambda t: t.value)  # type: ignore[arg-type, return-value]
        return decode_key(top.key), float(top.value)  # type: ignore[arg-type]

    def history(self) -> list[dict[str, Any]]:
        """Every finished evaluation in completion order, as plain dicts."""
        return [
            {
                "number": t.number,
                "encoding": decode_key(t.key),
                "fidelity": t.fidelity,
                "cost": t.cost,
                "status": t.status,
                "value": t.value,
                "metrics": t.metrics,
                "duration": t.duration,
                "error": t.error,
            }
            for t in self._trials
        ]

    def close(self) -> None:
        """Release the search file (also done when the process exits)."""
        self.storage.close()

    def __enter__(self) -> SearchInstance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def search_summary(save_filename: str | os.PathLike[str]) -> dict[str, Any]:
    """Read-only summary of a search file, for ``archtune status`` (no lock taken).

    Example:
        >>> search_summary("/nonexistent.search")
        Traceback (most recent call last):
        ...
        archtune.errors.StorageError: no search file at '/nonexistent.search'
    """
    storage = SQLiteStorage(Path(save_filename), read_only=True)
    try:
        meta, trials, in_flight = storage.get_meta(), storage.trials(), storage.pending()
    finally:
        storage.close()
    counts: dict[str, dict[str, int]] = {}
    for t in trials:
        counts.setdefault(t.fidelity, {COMPLETE: 0, FAILED: 0})[t.status] += 1
    hits = [t for t in trials if t.ok and t.fidelity == "hi"]
    top = max(hits, key=lambda t: t.value) if hits else None  # type: ignore[arg-type, return-value]
    hi_cost = float(meta.get("hi_fi_cost", "1"))
    return {
        "name": meta.get("name"),
        "meta": meta,
        "counts": counts,
        "spent": sum(t.cost for t in trials),
        "spent_hi_units": sum(t.cost for t in trials) / hi_cost,
        "best": None if top is None else {"encoding": json.loads(top.key), "value": top.value},
        "n_trials": len(trials),
        # dispatched and unfinished: running now, or in flight when the search was stopped
        "in_flight": [{"encoding": json.loads(p.key), "fidelity": p.fidelity} for p in in_flight],
    }
