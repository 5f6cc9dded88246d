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

import contextlib
import json
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from archtune.errors import (
    BudgetWarning,
    ConfigError,
    ConfigTypeError,
    ObjectiveContractError,
    SearchStoppedError,
)
from archtune.execute.evaluation import Outcome
from archtune.execute.executors import open_executor
from archtune.execute.trial_context import CONTINUED_METRIC, TrialContext
from archtune.search.arguments import (
    check_executor,
    optional_positive_number,
    positive_number,
    search_name,
    seed_value,
    target_value,
    whole_number,
)
from archtune.search.constraints import KnobConstraints, check_constraints, feasible_mask
from archtune.search.dispatch import Dispatch, Dispatcher
from archtune.search.objectives import KnownOnDemand, Objectives, pareto_front
from archtune.search.space_match import match_space, space_meta
from archtune.search.workdir import WorkDir, default_work_dir
from archtune.space.encoding import decode_key, encoding_key
from archtune.space.product import ProductSpace
from archtune.space.search_space import SearchSpace, load_search_space
from archtune.storage.base import COMPLETE, FAILED, Storage, Trial
from archtune.storage.sqlite import SQLiteStorage, read_snapshot
from archtune.strategy.base import Fidelity, Observation, SearchContext, Strategy, Suggestion
from archtune.strategy.registry import STRATEGIES, make_strategy

_EPS = 1e-9


class SearchInstance:
    """A resumable search stored in ``save_filename`` (SQLite).

    Args:
        name: the search's name.
        save_filename: the search file; opened again (same arguments) to resume.
        search_space_filename: a space file from :func:`~archtune.space.search_space.create_search_space` (or pass ``search_space``).
        hi_fi_eval: objective, encoding -> float (higher is better) or dict holding ``objective_key``.
        hi_fi_cost: cost of one high-fidelity evaluation (budgets count in these).
        lo_fi_eval, lo_fi_cost: optional cheaper, noisier objective and its cost.
        seed: one seed for the whole run; the same seed gives the same trajectory.
        strategy: a registered name (``"bo"``, ``"random"``, ``"rea"``, ``"ls"``, ``"spline"``, ``"tnas"``) or a
            :class:`~archtune.strategy.base.Strategy` object.
        search_space: a :class:`~archtune.space.search_space.SearchSpace` object instead of a file name (one may also be passed in
            ``search_space_filename``'s place).
        time_limit: seconds after which an evaluation is abandoned and recorded as failed.
        max_consecutive_failures: this many failed evaluations in a row stop the search.
        objective_key: key of the objective value when objectives return dicts (default ``"value"``;
            with ``objectives``, the first one that is not a zero-cost metric of the space).
        objectives: ``{name: "max" | "min"}``: what the search optimises. One name minimises or
            maximises a single objective (``{"loss": "min"}``); several make a multi-objective search
            whose result is :meth:`pareto`. A name is read from the objective's result dict, or else from
            the space's zero-cost metrics (see :mod:`archtune.search.objectives`).
        executor: where evaluations run: None (this process, one at a time), ``"process"`` (a local
            process pool), ``"dask"`` (a Dask LocalCluster started and stopped for each
            :meth:`run_search`), ``"slurm"``, ``"pbs"`` or ``"lsf"`` (``n_workers`` batch jobs through
            dask-jobqueue, submitted and cancelled for each :meth:`run_search`), a Dask scheduler
            address, a ``distributed.Client``, a Dask cluster object (e.g. your own ``SLURMCluster``),
            or any ``concurrent.futures.Executor``; see :mod:`archtune.execute.executors` and docs/parallel.md.
        cluster_options: with ``executor="slurm"`` (``"pbs"``, ``"lsf"``): the jobs' ``cores``,
            ``memory``, ``gpus_per_evaluation``, ``walltime``, ``queue``, ``account``,
            ``job_extra_directives``, ``adapt`` and ``worker_timeout``; other keys go to the
            dask-jobqueue cluster class (see :mod:`archtune.execute.jobqueue`).
        retries: how many times an evaluation whose worker died is submitted again before it is
            recorded as failed (failures of the objective itself are never retried).
        resources: Dask worker resources each evaluation needs, e.g. ``{"GPU": 1}`` (with
            ``executor="dask"``: one worker per GPU, each seeing only its own device).
        progress: print a line per finished evaluation (with trials running / done / failed).
        constraints: ``{metric: maximum}`` over the space's zero-cost metrics, e.g.
            ``{"latency_ms": 20}``: only encodings within every limit are evaluated (see
            :mod:`archtune.search.constraints`; unmeasured ones are judged by the pretrained surrogate).
        extend_space: accept a space that extends the one this file was started on (every stored
            encoding still there, new ones added): every stored trial is kept and the strategy works on
            the new space. Any other change of the space is refused (see :mod:`archtune.search.space_match`).
        work_dir: the search's work directory (default ``<save_filename>.work`` beside the search file):
            objectives that keep files (checkpoints, trained models) keep them there, one folder per
            evaluation (see :mod:`archtune.search.workdir`). With workers on other machines, give a path
            they all see. When ``hi_fi_eval.can_continue_from(lo_fi_eval)`` is true, low-fidelity
            checkpoints are kept and a high-fidelity evaluation of an encoding already screened continues
            from one, charged ``hi_fi_cost - lo_fi_cost`` (docs/guides/checkpoints.md).
        storage: where the trials live: None (default) is the SQLite file ``save_filename``; a
            :class:`~archtune.storage.base.Storage` object is used instead, e.g.
            :class:`~archtune.storage.memory.MemoryStorage` for a benchmark or a test that wants speed
            and no file (then nothing resumes and ``archtune status`` has nothing to read;
            ``save_filename`` still names the default work directory). Its stored settings are checked
            like a file's: a storage holding another search's trials is refused.

    Every argument is checked before the search file is touched: a call that raises leaves no file
    behind (and an existing file unchanged). Only a missing ``save_filename`` starts a new search.
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
        search_space: SearchSpace | ProductSpace | None = None,
        time_limit: float | None = None,
        max_consecutive_failures: int = 5,
        objective_key: str | None = None,
        executor: Any = None,
        retries: int = 2,
        resources: Mapping[str, float] | None = None,
        progress: bool = True,
        constraints: Mapping[str, float] | None = None,
        extend_space: bool = False,
        objectives: Mapping[str, str] | None = None,
        cluster_options: Mapping[str, Any] | None = None,
        work_dir: str | os.PathLike[str] | None = None,
        storage: Storage | None = None,
    ):
        self.name = search_name(name)
        if not isinstance(save_filename, (str, os.PathLike)):
            raise ConfigTypeError(
                f"save_filename must be a path (str or pathlib.Path), got {type(save_filename).__name__}; "
                'pass e.g. save_filename="run1.search"'
            )
        if hi_fi_eval is None or not callable(hi_fi_eval):
            raise ConfigError("hi_fi_eval must be a callable: encoding -> float or dict")
        hi_cost = positive_number(hi_fi_cost, "hi_fi_cost", "240")
        if (lo_fi_eval is None) != (lo_fi_cost is None):
            raise ConfigError("give both lo_fi_eval and lo_fi_cost, or neither")
        if lo_fi_eval is not None and not callable(lo_fi_eval):
            raise ConfigError("lo_fi_eval must be a callable")
        lo_cost = optional_positive_number(lo_fi_cost, "lo_fi_cost", "12")
        if lo_cost is not None and not lo_cost < hi_cost:
            raise ConfigError(
                f"lo_fi_cost must be positive and below hi_fi_cost ({hi_cost:g}), got {lo_fi_cost!r}"
            )
        self.seed = seed_value(seed)
        self.time_limit = optional_positive_number(time_limit, "time_limit", "3600")
        self.max_consecutive_failures = whole_number(
            max_consecutive_failures, "max_consecutive_failures", 1, "5"
        )
        if objective_key is not None and (not isinstance(objective_key, str) or not objective_key):
            raise ConfigError(
                f'objective_key must be a non-empty string, got {objective_key!r}; pass e.g. objective_key="value"'
            )
        self.retries = whole_number(retries, "retries", 0, "2")
        self.cluster_options = check_executor(executor, cluster_options)
        self.executor = executor
        if resources is not None and not isinstance(resources, Mapping):
            raise ConfigTypeError(
                f'resources must be a mapping such as {{"GPU": 1}}, got {type(resources).__name__}'
            )
        self.resources = dict(resources) if resources else None
        if not isinstance(extend_space, bool):
            raise ConfigTypeError(f"extend_space must be True or False, got {extend_space!r}")
        if not (isinstance(strategy, (str, Strategy))):
            raise ConfigTypeError(
                f"strategy must be a registered name ({', '.join(sorted(STRATEGIES))}) or a Strategy object, "
                f"got {type(strategy).__name__} {strategy!r}"
            )
        if isinstance(search_space_filename, SearchSpace | ProductSpace):  # in the file name's place: as is
            if search_space is not None:
                raise ConfigError(
                    "give one search space: a SearchSpace in search_space_filename's place and search_space"
                )
            search_space, search_space_filename = search_space_filename, None
        if search_space is None:
            if search_space_filename is None:
                raise ConfigError("give search_space_filename or search_space")
            if not isinstance(search_space_filename, (str, os.PathLike)):
                raise ConfigTypeError(
                    f"search_space_filename must be a path or a SearchSpace, got {type(search_space_filename).__name__}"
                )
            search_space = load_search_space(search_space_filename)
        elif not isinstance(search_space, SearchSpace | ProductSpace):
            raise ConfigTypeError(
                f"search_space must be a SearchSpace or a ProductSpace, got {type(search_space).__name__}"
            )
        self.space: SearchSpace | ProductSpace = search_space
        self.goal = Objectives.parse(objectives, self.space, objective_key)
        self.objective_key = self.goal.primary
        self.constraints = check_constraints(constraints)
        product = self.space if isinstance(self.space, ProductSpace) else None
        listed = self.space if isinstance(self.space, SearchSpace) else None
        searchable: np.ndarray | None = None
        admissible: KnobConstraints | None = None
        known: np.ndarray | KnownOnDemand | None = None
        self._known: dict[str, np.ndarray] = {}  # a listed space's zero-cost objectives, user's units
        self._known_on_demand: KnownOnDemand | None = None  # a knobs space's
        if product is not None:
            if self.goal.known_names:
                known = self._known_on_demand = KnownOnDemand(self.goal, product)
            admissible = KnobConstraints(product, self.constraints) if self.constraints else None
        else:
            assert listed is not None
            self._known = self.goal.known_values(listed)
            known = self.goal.known_matrix(self._known)
            searchable = listed.searchable & feasible_mask(listed, self.constraints)
        self.console = Console(stderr=True, quiet=not progress)
        self.objectives: dict[str, Callable[[Any], Any]] = {"hi": hi_fi_eval}
        self.fidelities = [Fidelity("hi", hi_cost)]
        if lo_fi_eval is not None and lo_cost is not None:
            self.objectives["lo"] = lo_fi_eval
            self.fidelities.insert(0, Fidelity("lo", lo_cost))
        if storage is not None and not isinstance(storage, Storage):
            raise ConfigTypeError(
                f"storage must be None (the SQLite file save_filename) or a Storage object such as MemoryStorage(), "
                f"got {type(storage).__name__}"
            )
        if work_dir is not None and not isinstance(work_dir, (str, os.PathLike)):
            raise ConfigTypeError(
                f"work_dir must be a path (str or pathlib.Path), got {type(work_dir).__name__}"
            )
        continues = getattr(hi_fi_eval, "can_continue_from", None)
        reuse = lo_fi_eval is not None and callable(continues) and bool(continues(lo_fi_eval))
        self.work = WorkDir(
            os.path.abspath(work_dir) if work_dir is not None else default_work_dir(save_filename), reuse
        )
        self.strategy = make_strategy(strategy) if isinstance(strategy, str) else strategy
        # a product space has no feature matrix: strategies featurize its encodings on demand
        features = (
            self.space.features
            if isinstance(self.space, SearchSpace)
            else np.zeros((0, self.space.n_features), np.float32)
        )
        self.strategy.setup(
            SearchContext(
                features=features,
                fidelities=self.fidelities,
                seed=self.seed,
                searchable=searchable,
                metrics=self.space.metrics,
                pretrained=self.space.surrogate,
                neighbors=self.space.neighbors,
                feature_plans=listed.featurizer_plans if listed is not None else None,
                known_objectives=known if self.goal.multi else None,
                product=product,
                metric_indices=product.metric_indices if product is not None else None,
                admissible=admissible,
            )
        )
        # everything is checked: only now is the file opened (and created when missing)
        self.storage = storage if storage is not None else SQLiteStorage(save_filename)
        try:
            self._check_meta(strategy, extend_space)
            self._trials = self.storage.trials()
            self._spent = sum(t.cost for t in self._trials)
            for trial in self._trials:  # replay: the strategy ends in the state that produced them
                self._tell(trial)
        except BaseException:
            self.storage.discard()
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
    def _check_meta(self, strategy: str | Strategy, extend_space: bool) -> None:
        wanted = {
            "name": self.name,
            "space_file": str(self.space.save_filename or ""),
            "seed": str(self.seed),
            "hi_fi_cost": str(self.fidelities[-1].cost),
            "lo_fi_cost": str(self.fidelities[0].cost) if len(self.fidelities) > 1 else "None",
            "strategy": strategy if isinstance(strategy, str) else type(strategy).__name__,
            "constraints": json.dumps(self.constraints, sort_keys=True),
            "objectives": self.goal.to_json(),
        }
        stored = self.storage.get_meta()
        if not stored:
            self.storage.set_meta({**wanted, **space_meta(self.space), "format": "archtune.search/1"})
            return
        stored.setdefault("constraints", "{}")  # files written before constraints existed had none
        if "objectives" not in stored:  # nor objectives: they maximised one value
            stored["objectives"] = (
                wanted["objectives"] if not self.goal.multi and self.goal.sign > 0 else "{}"
            )
        for key in ("seed", "hi_fi_cost", "lo_fi_cost", "strategy", "constraints", "objectives"):
            if stored.get(key) != wanted[key]:
                raise ConfigError(
                    f"this search file was started with {key}={stored.get(key)}, not {wanted[key]}: "
                    "resume with the same settings or use a new file"
                )
        if match_space(stored, self.space, extend_space) != "same":  # new to this file, or extended
            self.storage.set_meta(space_meta(self.space))

    def _tell(self, trial: Trial) -> None:
        index = self.space.index.get(trial.key)
        if index is None:  # the space lost this encoding since; keep the trial, do not tell it
            return
        value = (
            None if not trial.ok or trial.value is None else self.goal.sign * trial.value
        )  # strategies maximise
        self.strategy.tell(Observation(index, trial.fidelity, value, trial.cost))

    # -- accounting ------------------------------------------------------------------------------
    @property
    def spent(self) -> float:
        """Cost spent so far, in the user's units."""
        return self._spent  # a running total: summing every trial at every step is quadratic

    def _cost(self, fidelity: str) -> float:
        return next(f.cost for f in self.fidelities if f.name == fidelity)

    # -- the loop --------------------------------------------------------------------------------
    def run_search(self, eval_budget: float, n_workers: int = 1, target: float | None = None) -> None:
        """Evaluate until ``eval_budget * hi_fi_cost`` has been spent in total (over all runs of this file).

        With an executor, keeps ``n_workers`` evaluations in flight: each finished one is stored and
        told to the strategy, and a new one is asked for at once (no barrier); in-flight evaluations
        count against the budget and are never proposed twice. Evaluations that were in flight when a
        previous run of this file was killed are dispatched again first. Raises
        :class:`~archtune.errors.SearchStoppedError` after ``max_consecutive_failures`` failed evaluations in a row.

        With ``target``, the search stops as soon as a high-fidelity result reaches it; evaluations
        still in flight then are abandoned (and dispatched again by a later ``run_search``).
        """
        budget = positive_number(eval_budget, "eval_budget", "60")
        n_workers = whole_number(n_workers, "n_workers", 1, "4")
        target = target_value(target)
        hi = self.fidelities[-1]
        total = budget * hi.cost
        # the total asked for, shown by reports; where the trained models are, for archtune export
        self.storage.set_meta({"eval_budget": f"{budget:g}", "work_dir": str(self.work.path)})
        self.work.sweep(p.id for p in self.storage.pending())
        has_hi = any(t.ok and t.fidelity == hi.name for t in self._trials)
        if not has_hi and total + _EPS < hi.cost:
            warnings.warn(
                f"eval_budget={eval_budget!r} cannot buy one high-fidelity evaluation (it counts in high-fidelity "
                f"evaluations, each costing hi_fi_cost={hi.cost:g}): best() will have no result; give eval_budget >= 1",
                BudgetWarning,
                stacklevel=2,
            )
        with open_executor(self.executor, n_workers, self.resources, self.cluster_options) as handle:
            dispatcher = Dispatcher(
                handle,
                self._arguments,
                self.retries,
                notify=lambda message: self.console.print(message, highlight=False),
                context=self._trial_context,
            )
            if handle.executor is not None and hasattr(
                handle.executor, "on_placement"
            ):  # Dask: the worker of each evaluation
                handle.executor.on_placement = lambda future, worker: self._placed(dispatcher, future, worker)
            try:
                self._loop(dispatcher, total, n_workers if handle.executor is not None else 1, target)
            finally:  # stopped early (target, failures, Ctrl-C): do not leave abandoned work running
                for future in dispatcher.in_flight:
                    future.cancel()
        has_hi = any(t.ok and t.fidelity == hi.name for t in self._trials)
        if not has_hi and total + _EPS >= hi.cost and self.spent + hi.cost > total + _EPS:
            warnings.warn(
                f"the budget (eval_budget={eval_budget!r}) is spent and no high-fidelity evaluation succeeded, so "
                "best() has no result: run_search again with a larger eval_budget (it counts the total)",
                BudgetWarning,
                stacklevel=2,
            )

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
            committed = self.spent + sum(self._planned_cost(s) for s in dispatcher.pending)
            allowed = [f.name for f in self.fidelities if committed + f.cost <= total + _EPS]
            slots = n_workers - len(dispatcher.in_flight)
            if slots > 0 and allowed:
                for suggestion in self.strategy.ask(slots, pending=dispatcher.pending, allowed=allowed):
                    committed += self._planned_cost(suggestion)
                    if committed > total + _EPS:
                        break
                    key = self.space.keys[suggestion.index]
                    # recorded before it is sent: a driver killed from here on re-dispatches it
                    dispatcher.submit(
                        Dispatch(suggestion, self.storage.add_pending(key, suggestion.fidelity))
                    )
            if not dispatcher.in_flight:
                break
            broken = None
            for dispatch, outcome in dispatcher.finished():
                if outcome.violation:  # the same mistake at every call: stop, recording nothing for it
                    broken = broken or (dispatch, outcome)
                    continue
                trial = self._record(dispatch, outcome, running=len(dispatcher.in_flight))
                if (
                    target is not None
                    and trial.ok
                    and trial.value is not None  # a COMPLETE trial always has one
                    and trial.fidelity == self.fidelities[-1].name
                    and trial.value >= target
                ):
                    return
                failures = 0 if trial.ok else failures + 1
                if failures >= self.max_consecutive_failures:
                    raise SearchStoppedError(
                        f"{failures} evaluations failed in a row; the search stopped. Last error:\n{trial.error}"
                    )
            if broken is not None:
                self._contract_broken(*broken)

    def _placed(self, dispatcher: Dispatcher, future: Any, worker: str | None) -> None:
        dispatch = dispatcher.in_flight.get(future)
        if dispatch is not None:  # for archtune status: the search file says where each evaluation runs
            self.storage.set_pending_worker(dispatch.pending_id, worker)

    def _contract_broken(self, dispatch: Dispatch, outcome: Outcome) -> None:
        objective = "hi_fi_eval" if dispatch.suggestion.fidelity == self.fidelities[-1].name else "lo_fi_eval"
        encoding = self.space.encodings[dispatch.suggestion.index]
        raise ObjectiveContractError(
            f"{objective} broke its contract for {encoding!r}: {outcome.error}. The search stopped and "
            "recorded nothing for it; fix the objective and run the search again (this evaluation is sent again)"
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
            cost=self._charge(suggestion, outcome),
            status=COMPLETE if outcome.ok else FAILED,
            value=outcome.value,
            metrics=self._with_known_objectives(suggestion.index, outcome.metrics)
            if outcome.ok
            else outcome.metrics,
            duration=outcome.duration,
            error=outcome.error,
        )
        self.storage.append(trial, pending_id=dispatch.pending_id)  # committed before anyone acts on it
        self._trials.append(trial)
        self._spent += trial.cost
        top = self.fidelities[-1].name
        self.work.finish(dispatch.pending_id, trial.number, trial.key, trial.fidelity, trial.ok, top)
        if trial.ok and trial.fidelity == top:
            self.work.keep_models(self._model_keepers())
        self._tell(trial)
        self._report(trial, running)
        return trial

    # -- the work directory ----------------------------------------------------------------------
    def _trial_context(self, dispatch: Dispatch) -> TrialContext:
        suggestion = dispatch.suggestion
        return self.work.context(
            dispatch.pending_id,
            self.space.keys[suggestion.index],
            suggestion.fidelity,
            self.fidelities[-1].name,
        )

    def _planned_cost(self, suggestion: Suggestion) -> float:
        """What a dispatch will be charged: the remaining cost when it will continue a low fidelity's run."""
        if len(self.fidelities) > 1 and self.work.can_continue(
            self.space.keys[suggestion.index], suggestion.fidelity, self.fidelities[-1].name
        ):
            return self.fidelities[-1].cost - self.fidelities[0].cost
        return self._cost(suggestion.fidelity)

    def _charge(self, suggestion: Suggestion, outcome: Outcome) -> float:
        """The cost recorded for a finished evaluation: a high-fidelity one that says it continued the low
        fidelity's training (``continued_from_epoch``) is charged what the low fidelity had not paid."""
        continued = (
            outcome.ok
            and self.work.reuse
            and suggestion.fidelity == self.fidelities[-1].name
            and isinstance(outcome.metrics.get(CONTINUED_METRIC), (int, float))
            and outcome.metrics[CONTINUED_METRIC] > 0
        )
        if continued:
            return self.fidelities[-1].cost - self.fidelities[0].cost
        return self._cost(suggestion.fidelity)

    def _model_keepers(self) -> set[int]:
        """Trials whose trained model is kept: the best high-fidelity one (the front's, with several objectives)."""
        hits = [
            t for t in self._trials if t.ok and t.fidelity == self.fidelities[-1].name and t.value is not None
        ]
        if not hits:
            return set()
        if not self.goal.multi:
            return {max(hits, key=lambda t: self.goal.sign * t.value).number}  # type: ignore[operator]
        front = {encoding_key(encoding) for encoding, _ in self.pareto()}
        return {t.number for t in hits if t.key in front}

    def model_path(self, number: int) -> Path | None:
        """The trained model file kept for trial ``number`` (see :meth:`best_model_path`), or None."""
        return self.work.best_model(number)

    def best_model_path(self) -> Path | None:
        """The trained model of the best high-fidelity trial, or None (none yet, or its objective keeps no model).

        The file (``torch.load(path, weights_only=True)``) holds ``state_dict``, ``reparam_state_dict`` (the
        fused network for ``reparam=True`` evaluators, else None), the ``encoding`` (JSON text), ``builder``,
        ``n_classes``, ``input_shape`` and ``value``; :func:`archtune.export.load_model` builds the network
        from it and ``archtune export`` writes it out. Objectives from
        :func:`~archtune.evaluate.image_classification.create_img_class_evaluator` keep it.

        Raises:
            ConfigError: on a multi-objective search: use :meth:`model_path` with the front's trials.
        """
        if self.goal.multi:
            raise ConfigError(
                "a search with several objectives has no single best model: use model_path(number) "
                "for the trials of pareto()"
            )
        keep = self._model_keepers()
        return self.work.best_model(next(iter(keep))) if keep else None

    def _with_known_objectives(self, index: int, metrics: dict[str, Any]) -> dict[str, Any]:
        """The trial's metrics plus the zero-cost objectives it did not return (so the record holds them all)."""
        if not self.goal.multi:
            return metrics
        if self._known_on_demand is not None:
            return {**self._known_on_demand.values(index), **metrics}
        return {**{name: float(values[index]) for name, values in self._known.items()}, **metrics}

    def _report(self, trial: Trial, running: int) -> None:
        if self.console.quiet:  # progress=False: the line (and the front or best it shows) is not needed
            return
        shown = "FAILED" if not trial.ok else f"{trial.value:.4f}"
        if self.goal.multi:
            best_text = f"front {len(self.pareto())}"
        else:
            best = self.best()
            best_text = f"best(hi) {best[1]:.4f}" if best else "best(hi) -"
        n_failed = sum(not t.ok for t in self._trials)
        self.console.print(
            f"[{trial.number:4d}] {trial.fidelity:2s} {shown:>9s}  spent {self.spent:9.2f}  "
            f"{best_text}  running {running} done {len(self._trials) - n_failed} failed {n_failed}  "
            f"{self.space.encodings[self.space.index[trial.key]]!r}",
            highlight=False,
        )

    # -- results ---------------------------------------------------------------------------------
    def best(self) -> tuple[Any, float] | None:
        """The best high-fidelity result so far as (encoding, value), or None before the first one.

        "Best" follows the objective's sense (the smallest value for ``objectives={"loss": "min"}``).

        Raises:
            ConfigError: on a multi-objective search, which has a front instead: see :meth:`pareto`.
        """
        if self.goal.multi:
            raise ConfigError(
                f"a search with several objectives ({', '.join(self.goal.senses)}) has no single best: "
                "use pareto() for its non-dominated results"
            )
        hits = [t for t in self._trials if t.ok and t.fidelity == "hi"]
        if not hits:
            return None
        top = max(hits, key=lambda t: self.goal.sign * t.value)  # type: ignore[operator]
        return decode_key(top.key), float(top.value)  # type: ignore[arg-type]

    def pareto(self) -> list[tuple[Any, dict[str, float]]]:
        """The non-dominated high-fidelity results as ``[(encoding, {objective: value}), ...]``.

        Best primary objective first. Only high-fidelity values count; a single-objective search's
        front is its best result.

        Example:
            >>> import tempfile, os
            >>> from archtune import create_search_space
            >>> d = tempfile.mkdtemp()
            >>> ss = create_search_space("w", None, [(w,) for w in range(1, 9)],
            ...                          pretraining_data={"latency_ms": [float(w) for w in range(1, 9)]})
            >>> s = SearchInstance("mo", os.path.join(d, "mo.search"), ss, hi_fi_eval=lambda e: 1 - 1 / e[0],
            ...                    strategy="random", progress=False, objectives={"value": "max", "latency_ms": "min"})
            >>> s.run_search(eval_budget=8)
            >>> len(s.pareto()) == 8   # every width trades accuracy for latency
            True
            >>> s.pareto()[0]
            ((8,), {'value': 0.875, 'latency_ms': 8.0})
            >>> s.close()
        """
        return pareto_front(self._trials, self.goal.senses)

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
    meta, trials, in_flight = read_snapshot(save_filename)
    with contextlib.closing(SQLiteStorage(save_filename, read_only=True)) as storage:
        workers = storage.pending_workers()  # where each dispatched evaluation runs (Dask executors)
    counts: dict[str, dict[str, int]] = {}
    for t in trials:
        counts.setdefault(t.fidelity, {COMPLETE: 0, FAILED: 0})[t.status] += 1
    senses = json.loads(meta.get("objectives") or "{}") or {"value": "max"}
    hits = [t for t in trials if t.ok and t.fidelity == "hi"]
    sign = 1.0 if next(iter(senses.values())) == "max" else -1.0
    top = max(hits, key=lambda t: sign * t.value) if hits and len(senses) == 1 else None  # type: ignore[operator]
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
        "in_flight": [
            {"encoding": json.loads(p.key), "fidelity": p.fidelity, "worker": workers.get(p.id)}
            for p in in_flight
        ],
        "objectives": senses,
        # multi-objective searches: the non-dominated high-fidelity results
        "pareto": [{"encoding": enc, "values": values} for enc, values in pareto_front(trials, senses)]
        if len(senses) > 1
        else None,
    }
