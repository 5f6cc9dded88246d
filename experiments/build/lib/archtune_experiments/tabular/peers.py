"""Peers: the optimisers a practitioner would pick instead of archtune, as benchmark strategies.

Each peer is a :class:`~archtune.strategy.base.Strategy` adapter, so ``archtune bench nb201`` runs it
through the same loop, seeds, budget and units accounting as archtune's own strategies. A peer sees the
space as six categorical knobs (one per cell edge, five operations each), never archtune's features or
zero-cost data, and runs with its library's defaults (listed in :data:`PEERS`). Unlike archtune's
strategies a peer may propose a cell it has already evaluated: that proposal is evaluated and paid for
like any other, and the runner counts it as a repeat.

Two-fidelity peers screen every new cell at the 12-epoch column (cost 12/200) and let their library's
scheduler decide which go on to the 200-epoch column (cost 1, paid in full, as archtune's BO pays for a
confirmation): Optuna's SuccessiveHalving and Hyperband pruners, Syne Tune's ASHA.

None of these libraries is a dependency of archtune: ``pip install 'archtune[peers]'`` installs Optuna,
SMAC3 and Syne Tune; HEBO pins numpy < 1.25, so it takes ``pip install 'archtune[hebo]'`` (its other
requirements) and then ``pip install --no-deps HEBO``. A peer whose library is missing raises
:class:`~archtune.errors.ConfigError` naming the extra.

Example:
    >>> import numpy as np
    >>> from archtune.strategy.base import Fidelity, Observation, SearchContext
    >>> cells = [(a, b) for a in "xyz" for b in "uv"]
    >>> peer = PEERS["optuna-tpe"].make(encodings=cells)
    >>> peer.setup(SearchContext(np.zeros((6, 1), np.float32), [Fidelity("hi", 1.0)], seed=0))
    >>> s = peer.ask(1)[0]; peer.tell(Observation(s.index, "hi", 1.0, 1.0)); s.fidelity, cells[s.index] in cells
    ('hi', True)
"""

from __future__ import annotations

import datetime
import functools
import importlib
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from archtune.errors import ConfigError
from archtune.strategy.base import Observation, SearchContext, Strategy, Suggestion

EXTRA = "peers"
#: the 200-epoch budget of NB201 and its 12-epoch rung, in epochs (the schedulers' resource)
HI_EPOCHS, LO_EPOCHS = 200, 12


def require(module: str, what: str, strategy: str, extra: str = EXTRA, then: str = "") -> Any:
    """Import ``module`` or raise a ConfigError naming the extra that installs it (and ``then``, a further step).

    Example:
        >>> require("no_such_module_here", "Nothing", "x")
        Traceback (most recent call last):
        ...
        archtune.errors.ConfigError: strategy 'x' needs Nothing (module no_such_module_here): pip install 'archtune[peers]'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"strategy {strategy!r} needs {what} (module {module}): pip install 'archtune[{extra}]'"
            + (f", then {then}" if then else "")
        ) from None


def knob_choices(encodings: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The choices of each position of the encodings, in order of first appearance (the peers' knobs).

    Example:
        >>> knob_choices([("a", "x"), ("b", "x"), ("a", "y")])
        [['a', 'b'], ['x', 'y']]
    """
    return [list(dict.fromkeys(e[k] for e in encodings)) for k in range(len(encodings[0]))]


@functools.cache
def _nb201_encodings() -> tuple[tuple[str, ...], ...]:
    from archtune.datasets.nb201 import load_nb201

    return tuple(load_nb201().encodings)


def optuna_distributions(choices: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """One Optuna categorical distribution per knob, named ``edge0``, ``edge1``, ... (shared with nb201-mo)."""
    optuna = require("optuna", "Optuna", "optuna-*")
    return {f"edge{k}": optuna.distributions.CategoricalDistribution(list(c)) for k, c in enumerate(choices)}


class PeerStrategy(Strategy):
    """Adapter base: a peer library proposes knob values; this class maps them to space indices.

    Subclasses implement :meth:`_start` (build the optimiser for a seed), :meth:`_new` (a new proposal:
    knob values and a token for telling it back) and :meth:`_finish` / :meth:`_screened`.

    Args:
        encodings: the space's encodings, row i = index i (default: NB201's 15,625 cells).
        snap: for a space that lists a sample of the knobs' combinations (NAS-Bench-101/301): a proposal
            that is not a listed cell is mapped to the nearest listed cell it has not proposed yet
            (fewest knobs differing, first listed on a tie) and that cell's value told back for the
            proposal. The snapping itself never makes a repeat: a sample is far smaller than the product
            space, and snapping to the nearest cell alone mapped most proposals onto a few cells already
            paid for. An exact proposal of a listed cell stays as it is (a repeat if it was tried).
            Without ``snap`` a proposal outside the list is an error.

    Example:
        >>> from archtune.strategy.base import Fidelity
        >>> cells = [("a", "x"), ("b", "y")]
        >>> peer = PEERS["optuna-tpe"].make(encodings=cells, snap=True)
        >>> peer.setup(SearchContext(np.zeros((2, 1), np.float32), [Fidelity("hi", 1.0)], seed=0))
        >>> peer.nearest(("b", "x")), peer.nearest(("b", "y"))
        (0, 1)
    """

    name = "peer"
    multi_fidelity = False
    library = ("", "")  # (module, what it is called) for the missing-extra message
    extra, then = EXTRA, ""  # the extra that installs it, and a step after it

    def __init__(self, encodings: Sequence[Sequence[Any]] | None = None, snap: bool = False):
        require(*self.library, self.name, self.extra, self.then)  # fail at construction, before any search
        self._encodings = [tuple(e) for e in (encodings if encodings is not None else _nb201_encodings())]
        self.snap = snap

    def setup(self, context: SearchContext) -> None:
        super().setup(context)
        if len(self._encodings) != context.n:
            raise ConfigError(
                f"peer {self.name!r}: {len(self._encodings)} encodings for a space of {context.n}"
            )
        if self.multi_fidelity and len(context.fidelities) != 2:
            raise ConfigError(f"peer {self.name!r} needs two fidelities (12 and 200 epochs)")
        self.choices = knob_choices(self._encodings)
        self._row = {e: i for i, e in enumerate(self._encodings)}
        # with snap, each cell as choice numbers, one column per knob: the nearest cell is one vectorised
        # comparison (a full listing such as NB201's never needs it, so its setup does not pay for it)
        self._codes = (
            np.array([[c.index(v) for c, v in zip(self.choices, e, strict=True)] for e in self._encodings])
            if self.snap
            else None
        )
        self._promote: tuple[int, Any] | None = None  # a screened cell the scheduler sends on to the top
        self._open: dict[tuple[str, int], list[Any]] = {}  # (fidelity, index) -> tokens awaiting tell
        self._proposed: dict[
            str, set[int]
        ] = {}  # fidelity -> cells proposed (a snapped proposal avoids them)
        # some libraries draw from the global generators; seeding them keeps a seed's trajectory fixed
        np.random.seed(context.seed)
        import random

        random.seed(context.seed)
        self._start(context.seed)

    def propose(
        self, rng: np.random.Generator, pending: Sequence[Suggestion], allowed: Sequence[str]
    ) -> Suggestion | None:
        top = self.ctx.top
        if self._promote is not None:
            if top not in allowed:
                return None  # the budget cannot pay for the confirmation the scheduler asked for
            index, token = self._promote
            self._promote = None
            self._open.setdefault((top, index), []).append(token)
            return Suggestion(index, top)
        fidelity = self.ctx.fidelities[0].name if self.multi_fidelity else top
        if fidelity not in allowed:
            return None
        values, token = self._new()
        index = self._row.get(tuple(values))
        taken = self._proposed.setdefault(fidelity, set())
        if index is None and self.snap:
            index = self.nearest(values, taken)
        if index is None:
            raise ConfigError(f"peer {self.name!r} proposed {tuple(values)!r}, not an encoding of the space")
        taken.add(index)
        self._open.setdefault((fidelity, index), []).append(token)
        return Suggestion(index, fidelity)

    def nearest(self, values: Sequence[Any], taken: set[int] | frozenset[int] = frozenset()) -> int:
        """Index of the listed cell with the fewest knobs differing from ``values`` (the first on a tie),
        among the cells not in ``taken`` while there are any."""
        if self._codes is None:
            raise ConfigError(
                f"peer {self.name!r} was made without snap=True: it has no nearest cell to offer"
            )
        proposal = np.array([c.index(v) for c, v in zip(self.choices, values, strict=True)])
        distance = (self._codes != proposal).sum(axis=1)
        if len(taken) < len(distance):
            distance[list(taken)] = len(proposal) + 1
        return int(np.argmin(distance))

    def tell(self, observation: Observation) -> None:
        super().tell(observation)
        token = self._open[(observation.fidelity, observation.index)].pop(0)
        value = observation.value if observation.value is not None else float("nan")
        if self.multi_fidelity and observation.fidelity != self.ctx.top:
            if self._screened(token, value):
                self._promote = (observation.index, token)
        else:
            self._finish(token, value)

    # -- what each library implements --------------------------------------------------------------
    def _start(self, seed: int) -> None:
        raise NotImplementedError

    def _new(self) -> tuple[list[Any], Any]:
        raise NotImplementedError

    def _finish(self, token: Any, value: float) -> None:
        """The final (top-fidelity) value of the proposal ``token`` (maximised)."""
        raise NotImplementedError

    def _screened(self, token: Any, value: float) -> bool:
        """The 12-epoch value of ``token``; True to go on to 200 epochs (two-fidelity peers only)."""
        raise NotImplementedError


class OptunaPeer(PeerStrategy):
    """An Optuna sampler (and optionally pruner) through the ask-and-tell interface.

    Args:
        sampler: ``"tpe"`` (``TPESampler(multivariate=True)``; Optuna 5's default), ``"gp"``
            (``GPSampler()``), ``"random"``; everything else at Optuna's defaults, seeded.
        pruner: None, ``"sha"`` (``SuccessiveHalvingPruner(min_resource=12)``: at 12 epochs a cell goes
            on if it is in the top quarter of the 12-epoch values so far) or ``"hyperband"``
            (``HyperbandPruner(min_resource=12, max_resource=200)``).
    """

    library = ("optuna", "Optuna")

    def __init__(
        self,
        sampler: str = "tpe",
        pruner: str | None = None,
        encodings: Sequence[Sequence[Any]] | None = None,
        snap: bool = False,
    ):
        self.name = f"optuna-{sampler}" + (f"-{pruner}" if pruner else "")
        self.sampler_kind, self.pruner_kind = sampler, pruner
        self.multi_fidelity = pruner is not None
        super().__init__(encodings, snap)

    def _start(self, seed: int) -> None:
        optuna = require("optuna", "Optuna", self.name)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        pruner = {
            None: optuna.pruners.NopPruner(),
            "sha": optuna.pruners.SuccessiveHalvingPruner(min_resource=LO_EPOCHS),
            "hyperband": optuna.pruners.HyperbandPruner(min_resource=LO_EPOCHS, max_resource=HI_EPOCHS),
        }[self.pruner_kind]
        self.study = optuna.create_study(
            direction="maximize", sampler=optuna_sampler(self.sampler_kind, seed), pruner=pruner
        )
        self._dists = optuna_distributions(self.choices)

    def _new(self) -> tuple[list[Any], Any]:
        trial = self.study.ask(self._dists)
        return [trial.params[f"edge{k}"] for k in range(len(self.choices))], trial

    def _finish(self, token: Any, value: float) -> None:
        if np.isfinite(value):
            self.study.tell(token, value)
        else:
            self.study.tell(token, state=self._optuna.trial.TrialState.FAIL)

    def _screened(self, token: Any, value: float) -> bool:
        token.report(value, LO_EPOCHS)
        if token.should_prune():
            self.study.tell(token, state=self._optuna.trial.TrialState.PRUNED)
            return False
        return True


class OptunaMultiObjectivePeer(OptunaPeer):
    """An Optuna sampler on two objectives: the one the search learns (maximised) and the space's
    zero-cost one (``SearchContext.known_objectives``, minimised as the user named it), as ``nb201-mo``
    compares them.

    Args:
        sampler: ``"nsga2"`` (``NSGAIISampler``) or ``"tpe"`` (``TPESampler``, i.e. MOTPE), seeded defaults.
        choices: the knobs' choices in the order Optuna is given them (default: order of first appearance
            in the encodings); the recorded ``nb201-mo`` runs gave NB201's operations in their table order.
    """

    extra = "bench"

    def __init__(
        self,
        sampler: str,
        choices: Sequence[Sequence[Any]] | None = None,
        encodings: Sequence[Sequence[Any]] | None = None,
    ):
        super().__init__(sampler, None, encodings)
        self.name = {"nsga2": "nsga2", "tpe": "motpe"}.get(sampler, f"optuna-{sampler}-mo")
        self._given_choices = [list(c) for c in choices] if choices is not None else None

    def _start(self, seed: int) -> None:
        known = self.ctx.known_objectives
        if known is None or known.shape[1] != 1:
            raise ConfigError(
                f"peer {self.name!r} needs one zero-cost objective beside the learned one, e.g. "
                "objectives={'value': 'max', 'lat_pixel3': 'min'}"
            )
        optuna = require("optuna", "Optuna", self.name, extra=self.extra)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        if self._given_choices is not None:
            self.choices = self._given_choices
            self._codes = None
        self.study = optuna.create_study(
            directions=["maximize", "minimize"],
            sampler=optuna_sampler(self.sampler_kind, seed, n_objectives=2),
        )
        self._dists = optuna_distributions(self.choices)

    def tell(self, observation: Observation) -> None:
        self._told = observation.index  # _finish needs the cell's known objective
        super().tell(observation)

    def _finish(self, token: Any, value: float) -> None:
        if not np.isfinite(value):
            self.study.tell(token, state=self._optuna.trial.TrialState.FAIL)
            return
        known = float(self.ctx.known_objectives[self._told][0])  # maximised form: the negated minimum
        self.study.tell(token, [value, -known])


def optuna_sampler(kind: str, seed: int, n_objectives: int = 1) -> Any:
    """The Optuna sampler the peers and ``nb201-mo`` use, by name: tpe, gp, random, nsga2 (seeded defaults).

    TPE is multivariate (Optuna 5's default, set explicitly so that Optuna 4 runs the same sampler) for
    one objective; for several, plain ``TPESampler(seed=seed)`` (MOTPE), as ``nb201-mo`` has always run it.
    """
    optuna = require("optuna", "Optuna", f"optuna-{kind}")
    if kind == "tpe":
        return (
            optuna.samplers.TPESampler(seed=seed, multivariate=True)
            if n_objectives == 1
            else optuna.samplers.TPESampler(seed=seed)
        )
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise ConfigError(f"unknown Optuna sampler {kind!r}; valid: tpe, gp, random, nsga2")


class SMACPeer(PeerStrategy):
    """SMAC3's hyper-parameter optimisation facade (random forest, log-EI, Sobol initial design).

    Args:
        n_trials: the scenario's trial budget (the benchmark's 150): SMAC sizes its initial design by it
            (a quarter of it, at most ten per knob: 37 Sobol configurations for 150).
    """

    name = "smac"
    library = ("smac", "SMAC3")

    def __init__(
        self, n_trials: int = 150, encodings: Sequence[Sequence[Any]] | None = None, snap: bool = False
    ):
        self.n_trials = n_trials
        super().__init__(encodings, snap)

    def _start(self, seed: int) -> None:
        from ConfigSpace import Categorical, ConfigurationSpace
        from smac import HyperparameterOptimizationFacade, Scenario

        cs = ConfigurationSpace(seed=seed)
        cs.add([Categorical(f"edge{k}", c) for k, c in enumerate(self.choices)])
        # SMAC keeps its run history in files: a private folder, removed with the strategy
        self._folder = tempfile.TemporaryDirectory(prefix="archtune-smac-")
        scenario = Scenario(
            cs, deterministic=True, n_trials=self.n_trials, seed=seed, output_directory=self._folder.name
        )
        self.smac = HyperparameterOptimizationFacade(
            scenario, lambda config, seed=0: 0.0, overwrite=True, logging_level=logging.ERROR
        )

    def _new(self) -> tuple[list[Any], Any]:
        info = self.smac.ask()
        return [info.config[f"edge{k}"] for k in range(len(self.choices))], info

    def _finish(self, token: Any, value: float) -> None:
        from smac.runhistory.dataclasses import TrialValue

        self.smac.tell(token, TrialValue(cost=-value if np.isfinite(value) else float("inf")))


class HEBOPeer(PeerStrategy):
    """HEBO (Huawei's winner of the NeurIPS 2020 black-box challenge), defaults, one suggestion a step."""

    name = "hebo"
    library = ("hebo", "HEBO")
    # HEBO 0.3.6 (the latest) pins numpy < 1.25 and pymoo == 0.6.0, which no numpy-2 environment can
    # satisfy; it runs on numpy 2 with pymoo 0.6.2, so the extra installs its other requirements and HEBO
    # itself goes in without its pins
    extra, then = "hebo", "pip install --no-deps HEBO"

    def _start(self, seed: int) -> None:
        import torch
        from hebo.design_space.design_space import DesignSpace
        from hebo.optimizers.hebo import HEBO

        torch.manual_seed(seed)  # HEBO draws from torch's and numpy's global generators
        space = DesignSpace().parse(
            [{"name": f"edge{k}", "type": "cat", "categories": list(c)} for k, c in enumerate(self.choices)]
        )
        self.hebo = HEBO(space, scramble_seed=seed)

    def _new(self) -> tuple[list[Any], Any]:
        rec = self.hebo.suggest(n_suggestions=1)
        return [rec.iloc[0][f"edge{k}"] for k in range(len(self.choices))], rec

    def _finish(self, token: Any, value: float) -> None:
        self.hebo.observe(token, np.array([[-value if np.isfinite(value) else 1e9]]))  # HEBO minimises


class SyneTunePeer(PeerStrategy):
    """A Syne Tune scheduler through its own calls (``suggest``, ``on_trial_result``, ``on_trial_complete``).

    Args:
        scheduler: ``"bore"`` (``baselines.BORE``: density-ratio BO, XGBoost classifier), ``"asha"``
            (``baselines.ASHA``: random proposals, asynchronous successive halving over the 12- and
            200-epoch columns, ``grace_period=12``, ``max_t=200``, reduction factor 3), ``"asha-bore"``
            (``baselines.ASHABORE``: the same with BORE proposals), ``"tpe"`` (``baselines.TPE``).
    """

    library = ("syne_tune", "Syne Tune")
    METRIC, RESOURCE = "accuracy", "epoch"

    def __init__(
        self, scheduler: str = "bore", encodings: Sequence[Sequence[Any]] | None = None, snap: bool = False
    ):
        self.name = f"syne-{scheduler}"
        self.kind = scheduler
        self.multi_fidelity = scheduler.startswith("asha")
        super().__init__(encodings, snap)

    def _start(self, seed: int) -> None:
        from syne_tune.config_space import choice
        from syne_tune.optimizer import baselines

        logging.getLogger("syne_tune").setLevel(logging.ERROR)
        space = {f"edge{k}": choice(list(c)) for k, c in enumerate(self.choices)}
        common = {"config_space": space, "metric": self.METRIC, "do_minimize": False, "random_seed": seed}
        fidelity = {"time_attr": self.RESOURCE, "max_t": HI_EPOCHS, "grace_period": LO_EPOCHS}
        make: dict[str, Callable[[], Any]] = {
            "bore": lambda: baselines.BORE(**common),
            "tpe": lambda: baselines.TPE(**common),
            "asha": lambda: baselines.ASHA(**common, **fidelity),
            "asha-bore": lambda: baselines.ASHABORE(**common, **fidelity),
        }
        if self.kind not in make:
            raise ConfigError(f"unknown Syne Tune scheduler {self.kind!r}; valid: {', '.join(make)}")
        self.scheduler = make[self.kind]()
        self._trials = 0

    def _new(self) -> tuple[list[Any], Any]:
        from syne_tune.backend.trial_status import Trial

        suggestion = self.scheduler.suggest()
        if suggestion is None:
            raise ConfigError(
                f"peer {self.name!r} stopped proposing (its searcher ran out of configurations)"
            )
        trial = Trial(trial_id=self._trials, config=suggestion.config, creation_time=datetime.datetime.now())
        self._trials += 1
        self.scheduler.on_trial_add(trial)
        return [trial.config[f"edge{k}"] for k in range(len(self.choices))], trial

    def _finish(self, token: Any, value: float) -> None:
        self.scheduler.on_trial_complete(token, {self.METRIC: value, self.RESOURCE: HI_EPOCHS})

    def _screened(self, token: Any, value: float) -> bool:
        from syne_tune.optimizer.scheduler import SchedulerDecision

        decision = self.scheduler.on_trial_result(token, {self.METRIC: value, self.RESOURCE: LO_EPOCHS})
        return decision == SchedulerDecision.CONTINUE


@dataclass(frozen=True)
class Peer:
    """A peer by name: how to make it, whether it uses the 12-epoch column, and what it runs."""

    make: Callable[..., PeerStrategy]
    multi_fidelity: bool
    defaults: str


PEERS: dict[str, Peer] = {
    "optuna-tpe": Peer(
        functools.partial(OptunaPeer, "tpe"), False, "TPESampler(multivariate=True, seed=seed)"
    ),
    "optuna-gp": Peer(functools.partial(OptunaPeer, "gp"), False, "GPSampler(seed=seed)"),
    "optuna-tpe-sha": Peer(
        functools.partial(OptunaPeer, "tpe", "sha"),
        True,
        "TPESampler(multivariate=True) + SuccessiveHalvingPruner(min_resource=12)",
    ),
    "optuna-tpe-hb": Peer(
        functools.partial(OptunaPeer, "tpe", "hyperband"),
        True,
        "TPESampler(multivariate=True) + HyperbandPruner(min_resource=12, max_resource=200)",
    ),
    "smac": Peer(
        SMACPeer, False, "HyperparameterOptimizationFacade(Scenario(deterministic=True, n_trials=150))"
    ),
    "hebo": Peer(HEBOPeer, False, "HEBO(space, scramble_seed=seed)"),
    "syne-bore": Peer(functools.partial(SyneTunePeer, "bore"), False, "baselines.BORE"),
    "syne-tpe": Peer(functools.partial(SyneTunePeer, "tpe"), False, "baselines.TPE"),
    "syne-asha": Peer(
        functools.partial(SyneTunePeer, "asha"),
        True,
        "baselines.ASHA(grace_period=12, max_t=200, reduction_factor=3)",
    ),
    "syne-asha-bore": Peer(
        functools.partial(SyneTunePeer, "asha-bore"),
        True,
        "baselines.ASHABORE(grace_period=12, max_t=200, reduction_factor=3)",
    ),
}
