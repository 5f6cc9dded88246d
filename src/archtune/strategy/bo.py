"""Bayesian optimisation with the pretrained deep ensemble, single- or multi-fidelity (paper 000).

Every step scores *every* untried encoding of the space with the ensemble (in chunks for very large
spaces), not a random subset. With two fidelities the strategy spends a share of the budget
(``lo_fi_share``) on cheap low-fidelity screening chosen by the low-fidelity head, and the rest on
high-fidelity confirmations chosen by the high-fidelity head among the screened encodings: the
screening finds the good region cheaply, the confirmations pay full price only for the best of it.

On a :class:`~archtune.space.product.ProductSpace` (never listed, 10^12 encodings and more) a step
scores a pool instead of the space: uniform draws among the untried encodings and the one-knob
mutations of the best results so far (``pool_uniform``, ``pool_parents``), so its cost does not grow
with the space; everything else (fidelities, confirmations, the tail options) is the same.

Example:
    >>> import numpy as np
    >>> from archtune.strategy.base import Fidelity, Observation, SearchContext
    >>> X = np.eye(6, dtype=np.float32)
    >>> bo = BayesianOptimization(n_init=2); bo.setup(SearchContext(X, [Fidelity("hi", 1.0)], seed=0))
    >>> for i in range(2):
    ...     bo.tell(Observation(i, "hi", float(i), 1.0))
    >>> s = bo.ask(1)[0]; s.fidelity, s.index not in (0, 1)
    ('hi', True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from archtune.errors import ConfigError
from archtune.strategy.acquisition import ACQUISITIONS, score
from archtune.strategy.base import SearchContext, Strategy, Suggestion
from archtune.strategy.hypervolume import expected_hvi_2d
from archtune.strategy.pareto import non_dominated
from archtune.strategy.scalarisation import chebyshev_improvement, draw_weights
from archtune.surrogate.ensemble import PRETRAINING_MODES, DeepEnsemble, EnsembleConfig
from archtune.surrogate.gp import GaussianProcessSurrogate, GPConfig, feature_groups

PENDING_POLICIES = ("exclude", "ts")
STALL_PICKS = ("uniform", "ts")
#: what models the objective, the deep ensemble or a Gaussian process, or the GP where no zero-cost data is given
SURROGATES = ("ensemble", "gp", "auto")
#: how a multi-objective search scores candidates, by ParEGO or by hypervolume improvement (two objectives)
FRONT_ACQUISITIONS = ("parego", "ehvi")
#: the default share of the budget spent screening, for one objective and for several (a front)
LO_FI_SHARE = {"single": 0.5, "front": 0.1}


class BayesianOptimization(Strategy):
    """Bayesian optimisation on a deep ensemble (two fidelities) or a Gaussian process (one fidelity).

    Args:
        acquisition: ``"ucb"``, ``"ei"``, ``"ts"`` or ``"mean"``; None (default): ``"ei"`` on the GP,
            ``"ucb"`` on the deep ensemble (the settings each surrogate was measured with).
        beta: exploration weight of UCB.
        n_init: random evaluations before the surrogate is trusted (default: 10 at low fidelity when
            there is one; at one fidelity 10 on the GP, 3 on the ensemble).
        lo_fi_share: share of the spent budget that goes to low-fidelity evaluations (default
            ``LO_FI_SHARE``: 0.5 for one objective, 0.1 for a front, measured on NAS-Bench-201 against
            ``lat_pixel3``: a front is made of high-fidelity values, so it wants more of them; see
            docs/guides/multi-objective.md).
        pretraining: override the ensemble's pretraining mode (``"simultaneous"``, ``"sequential"``,
            ``"none"``); with ``"none"`` the stored pretrained weights are ignored.
        ensemble: ensemble hyper-parameters (defaults: :class:`~archtune.surrogate.ensemble.EnsembleConfig`).
        candidates: None to score every untried encoding at each step (the default), or a candidate
            generator such as :class:`archtune.strategy.tnas.VAECandidates` (the TNAS VAE proposes,
            the ensemble ranks: the cost of a step no longer grows with the space).
        explore_share: with two fidelities, the share of low-fidelity screening picks drawn uniformly
            from the untried encodings instead of by the acquisition (default 0). Meant against a
            diagnosed trap: trained only on what it chose, the ensemble saw no poor encodings and ranked
            the untried good ones backwards. Measured on NAS-Bench-201 CIFAR-10 and -100 (README, variant
            ``bo-explore``, 0.1): fewer searches that never find the optimum, at some cost to the median.
        stall_patience: with two fidelities, after this many screens without a better low-fidelity
            value, every ``stall_every``-th further screen is an exploration pick (``stall_pick``:
            ``"uniform"`` over the untried encodings, or ``"ts"``, Thompson sampling) until the screening
            improves again. Unlike ``explore_share`` it costs nothing while the screening makes progress:
            it only acts on the diagnosed trap, where the ensemble, trained on one region, ranks the
            untried good ones low and screens the same neighbourhood forever. Default 30 (with
            ``confirm_top_every=2``, measured on NAS-Bench-201, variant ``bo-notail`` without both:
            docs/benchmarks/nb201.md). None: never. Single-objective searches only (a better front is
            not one better value).
        stall_pick: ``"uniform"`` or ``"ts"`` (see ``stall_patience``).
        stall_every: see ``stall_patience``.
        confirm_top_every: with two fidelities, every ``confirm_top_every``-th high-fidelity
            confirmation goes to the screened encoding with the best *observed* low-fidelity value not
            yet confirmed, instead of the high-fidelity head's choice: a measured screening result is
            evidence the head may not yet weigh enough (seen on NAS-Bench-201: the best 12-epoch cell
            screened, then left unconfirmed for 30 units). Default 2. None: never. Single-objective
            searches only.
        pool_uniform, pool_parents: on a product space (never listed), the candidates each step scores
            in place of the whole space: ``pool_uniform`` uniform draws among the untried encodings and
            the one-knob mutations of the ``pool_parents`` best results (each knob's
            ``pool_nearest`` options nearest the parent's: all of them for knobs of a few options, the
            local moves for knobs of many; see ``_pool``), plus the
            draws of ``candidates`` when it is :class:`~archtune.strategy.tnas.VAECandidates` (its
            ``n_vae`` VAE draws; its ``n_uniform`` is not used there).
        surrogate: ``"auto"`` (default): the GP for a search at one fidelity, the deep ensemble for one
            with two (and for a knobs space with zero-cost data, where the GP was not measured);
            ``"ensemble"``: the deep ensemble (zero-cost pretraining, one head per fidelity);
            ``"gp"``: :class:`~archtune.surrogate.gp.GaussianProcessSurrogate`, a Matern-5/2 GP fitted by
            marginal likelihood, with the zero-cost metrics as extra inputs where there are some
            (``gp=GPConfig(zero_cost_inputs=False)``: without). Measured on NAS-Bench-201 at one fidelity
            (docs/benchmarks/nb201.md, "Against the peers"): the GP with the metrics as inputs found the
            optimum in 97-100% of 30 seeds, the pretrained ensemble in 63-90%.
        gp: the GP's settings (:class:`~archtune.surrogate.gp.GPConfig`; default ``GPConfig()``).
        front_acquisition: for a multi-objective search (one learned objective, zero-cost ones known):
            ``"parego"`` (default), the expected improvement of a random Chebyshev scalarisation drawn
            each step, any number of objectives (:mod:`archtune.strategy.scalarisation`), or
            ``"ehvi"``, expected hypervolume improvement, two objectives only. Measured on NAS-Bench-201
            against ``lat_pixel3`` (docs/guides/multi-objective.md): ParEGO had the lower hypervolume
            regret and found more of the front on CIFAR-10 and CIFAR-100.
        refit_growth: None (default): the surrogate is refitted on every new observation. A share
            (e.g. 0.05): refitted only once the observations have grown by that share since the last
            fit (on the first 1, 2, ..., 20, 21, 23, 25, ... for 0.05), so that a long search's step
            stops growing with its length; between refits each step scores with the last fit. The
            schedule is a function of the number of observations only, so a resumed search fits where
            an uninterrupted one did. Measured on NAS-Bench-201 with two fidelities, 0.05, 30 seeds on
            three datasets (docs/benchmarks/nb201.md, "Refitting less often"): level with every step in
            evaluations to the optimum, steps 3.5x cheaper or more.
        pending: how evaluations still in flight (asynchronous parallel search) shape the next choice:
            ``"exclude"`` (default) never proposes them again, so the next pick is the best of the
            rest; ``"ts"`` also scores by Thompson sampling (one ensemble member per slot) while any
            are in flight at that fidelity. A search with one evaluation at a time never has pending
            ones, so it is unaffected. Measured (docs/parallel.md): neither matches a sequential
            search's evaluations-to-optimum yet.
    """

    name = "bo"

    def __init__(
        self,
        acquisition: str | None = None,
        beta: float = 1.0,
        n_init: int | None = None,
        lo_fi_share: float | None = None,
        pretraining: str | None = None,
        ensemble: EnsembleConfig | None = None,
        candidates: Any = None,
        pending: str = "exclude",
        explore_share: float = 0.0,
        stall_patience: int | None = 30,
        stall_pick: str = "uniform",
        stall_every: int = 2,
        confirm_top_every: int | None = 2,
        pool_uniform: int = 1000,
        pool_parents: int = 5,
        pool_nearest: int = 16,
        surrogate: str = "auto",
        front_acquisition: str = "parego",
        gp: GPConfig | None = None,
        refit_growth: float | None = None,
    ):
        if acquisition is not None and acquisition not in ACQUISITIONS:
            raise ConfigError(f"unknown acquisition {acquisition!r}; choose one of {ACQUISITIONS}")
        if pending not in PENDING_POLICIES:
            raise ConfigError(f"pending must be one of {PENDING_POLICIES}, got {pending!r}")
        if pretraining is not None and pretraining not in PRETRAINING_MODES:
            raise ConfigError(f"pretraining must be one of {PRETRAINING_MODES}, got {pretraining!r}")
        if lo_fi_share is not None and not 0.0 <= lo_fi_share < 1.0:
            raise ConfigError(f"lo_fi_share must be in [0, 1), got {lo_fi_share!r}")
        if not 0.0 <= explore_share < 1.0:
            raise ConfigError("explore_share must be in [0, 1)")
        if surrogate not in SURROGATES:
            raise ConfigError(f"surrogate must be one of {SURROGATES}, got {surrogate!r}")
        if refit_growth is not None and not refit_growth > 0:
            raise ConfigError(f"refit_growth must be positive or None, got {refit_growth!r}")
        self.refit_growth = refit_growth
        self.surrogate = surrogate
        self.gp_config = gp or GPConfig()
        if front_acquisition not in FRONT_ACQUISITIONS:
            raise ConfigError(
                f"front_acquisition must be one of {FRONT_ACQUISITIONS}, got {front_acquisition!r}"
            )
        self.front_acquisition = front_acquisition
        if stall_patience is not None and (not isinstance(stall_patience, int) or stall_patience < 1):
            raise ConfigError(f"stall_patience must be a positive integer or None, got {stall_patience!r}")
        if stall_pick not in STALL_PICKS:
            raise ConfigError(f"stall_pick must be one of {STALL_PICKS}, got {stall_pick!r}")
        if not isinstance(stall_every, int) or stall_every < 1:
            raise ConfigError(f"stall_every must be a positive integer, got {stall_every!r}")
        if confirm_top_every is not None and (
            not isinstance(confirm_top_every, int) or confirm_top_every < 1
        ):
            raise ConfigError(
                f"confirm_top_every must be a positive integer or None, got {confirm_top_every!r}"
            )
        self.acquisition = acquisition
        self.beta = beta
        self.n_init = n_init
        self.lo_fi_share = lo_fi_share
        self.pretraining = pretraining
        self.ensemble_config = ensemble
        self.candidates = candidates
        self.pending = pending
        self.explore_share = explore_share
        self.stall_patience = stall_patience
        self.stall_pick = stall_pick
        self.stall_every = stall_every
        self.confirm_top_every = confirm_top_every
        if not isinstance(pool_uniform, int) or pool_uniform < 1:
            raise ConfigError(f"pool_uniform must be a positive integer, got {pool_uniform!r}")
        if not isinstance(pool_parents, int) or pool_parents < 0:
            raise ConfigError(f"pool_parents must be a non-negative integer, got {pool_parents!r}")
        if not isinstance(pool_nearest, int) or pool_nearest < 1:
            raise ConfigError(f"pool_nearest must be a positive integer, got {pool_nearest!r}")
        self.pool_uniform = pool_uniform
        self.pool_parents = pool_parents
        self.pool_nearest = pool_nearest

    def setup(self, context: SearchContext) -> None:
        super().setup(context)
        names = [f.name for f in context.fidelities]
        self.multi_fidelity = len(names) > 1
        front = context.known_objectives is not None
        self.screen_share = (
            self.lo_fi_share if self.lo_fi_share is not None else LO_FI_SHARE["front" if front else "single"]
        )
        # the stall counter's (best low-fidelity value, screens since, observations counted): see _stalled
        self._stall_state: tuple[float, int, int] = (-np.inf, 0, 0)
        no_zero_cost = self.pretraining == "none" or (not context.metrics and context.pretrained is None)
        # "auto": the GP for a search at one fidelity (measured ahead of the ensemble there, with the
        # zero-cost metrics as its inputs where there are some); the pretrained ensemble with two
        # fidelities, and on a knobs space that has zero-cost data (the GP was not measured there)
        self.uses_gp = self.surrogate == "gp" or (
            self.surrogate == "auto" and not self.multi_fidelity and (no_zero_cost or context.product is None)
        )
        # the GP's measured setting is Optuna GPSampler's start: expected improvement after 10 random picks
        self.acquisition_used = self.acquisition or ("ei" if self.uses_gp else "ucb")
        if self.n_init is None:
            self.n_init = 10 if self.multi_fidelity or self.uses_gp else 3
        overrides: dict[str, Any] = dict(self.ensemble_config.to_dict()) if self.ensemble_config else {}
        if self.pretraining is not None:
            overrides["pretraining"] = self.pretraining
        self.model: DeepEnsemble | GaussianProcessSurrogate
        self._side: DeepEnsemble | None = None  # predicts zero-cost metrics as the GP's extra inputs
        self._side_listed: np.ndarray | None = None
        if self.uses_gp:
            plans = context.feature_plans
            groups = feature_groups(plans) if plans and context.product is None else None
            if self.gp_config.zero_cost_inputs and not no_zero_cost:
                self._side = self._zero_cost_ensemble(context, names, overrides)
                if groups is not None:
                    first = max(groups) + 1
                    groups = groups + list(range(first, first + len(self._side.metric_names)))
            self.model = GaussianProcessSurrogate(
                names,
                seed=context.seed,
                groups=groups,
                warp=self.gp_config.warp,
                gtol=self.gp_config.gtol,
                length_scale_prior=self.gp_config.prior_for(self._side is not None),
            )
        else:
            self.model = self._zero_cost_ensemble(context, names, overrides)
        self._fitted_on = -1
        if self.candidates is not None:
            if context.product is not None and not hasattr(self.candidates, "draws"):
                raise ConfigError(
                    f"BO's candidates= generator {type(self.candidates).__name__} works on a listed space only; "
                    "on a knobs space give VAECandidates, or none (uniform draws and mutations of the best)"
                )
            self.candidates.setup(context)
        known = context.known_objectives
        if known is not None and self.front_acquisition == "ehvi" and known.shape[1] != 1:
            raise ConfigError(
                f"front_acquisition='ehvi' takes two objectives (one learned, one zero-cost); got "
                f"{known.shape[1] + 1}: use front_acquisition='parego' (the default), or drop some"
            )

    @staticmethod
    def _zero_cost_ensemble(
        context: SearchContext, names: list[str], overrides: dict[str, Any]
    ) -> DeepEnsemble:
        """The deep ensemble of this search: the space's pretrained one, else one pretrained here on the
        context's metrics (none: initial weights). BO's surrogate with two fidelities, and the source
        of the GP's zero-cost inputs (its metric heads) at one."""
        if context.pretrained is not None:
            return DeepEnsemble.from_pretrained(context.pretrained, names, seed=context.seed, **overrides)
        metric_names = sorted(context.metrics)
        model = DeepEnsemble(
            context.n_features, metric_names, names, EnsembleConfig(**overrides), seed=context.seed
        )
        if metric_names:
            model.pretrain(context.metric_features(), context.metrics, seed=context.seed)
        return model

    def _model_inputs(self, indices: np.ndarray) -> np.ndarray:
        """The surrogate's input rows: the encodings' features, and (a GP with ``zero_cost_inputs``)
        their zero-cost metrics as the pretrained heads predict them."""
        features = self.ctx.features_of(indices)
        if self._side is None:
            return features
        if self.ctx.product is not None:  # never listed: predicted for the rows asked
            return np.column_stack([features, self._side.predict_metrics_standardised(features)])
        if self._side_listed is None:  # a listed space: every encoding's, once
            self._side_listed = self._side.predict_metrics_standardised(self.ctx.features)
        return np.column_stack([features, self._side_listed[indices]])

    # -- decisions -------------------------------------------------------------------------------
    def choose_fidelity(self, pending: Sequence[Suggestion], allowed: Sequence[str]) -> str:
        """Low fidelity while its share of the spending (pending included) is below ``lo_fi_share``
        (its default for this search: ``screen_share``)."""
        if not self.multi_fidelity:
            return self.ctx.top
        lo, hi = self.ctx.fidelities[0].name, self.ctx.top
        if hi not in allowed:
            return lo
        if lo not in allowed:
            return hi
        spent = dict(self.spent)
        for p in pending:
            spent[p.fidelity] += self.ctx.cost_of(p.fidelity)
        total = sum(spent.values())
        n_lo_ok = len(self.values[lo])
        if n_lo_ok < (self.n_init or 0) or spent[lo] < self.screen_share * total:
            return lo
        return hi

    def _refit_point(self, n: int) -> int:
        """How many of the first observations the surrogate is fitted on when ``n`` have been told: all
        of them, or (``refit_growth``) the last point of the schedule 1, 2, ..., each at least
        ``1 + refit_growth`` times the one before. A function of ``n`` only: a resumed search fits
        where an uninterrupted one did."""
        if self.refit_growth is None:
            return n
        point = 1
        while True:
            following = max(point + 1, math.ceil(point * (1.0 + self.refit_growth)))
            if following > n:
                return min(point, n)
            point = following

    def _refit(self) -> None:
        upto = self._refit_point(len(self.history))
        if self._fitted_on == upto:
            return
        names = [f.name for f in self.ctx.fidelities]
        values = self.values
        if upto < len(self.history):  # the values told by then (as tell() records them)
            values = {name: {} for name in names}
            for o in self.history[:upto]:
                if o.value is not None:
                    values[o.fidelity][o.index] = o.value
        idx, ys, fids = [], [], []
        for k, name in enumerate(names):
            for i, v in values[name].items():
                idx.append(i)
                ys.append(v)
                fids.append(k)
        order = np.lexsort((np.asarray(idx), np.asarray(fids)))  # independent of dict order: replay-safe
        idx_a, ys_a, fids_a = np.asarray(idx)[order], np.asarray(ys)[order], np.asarray(fids)[order]
        self.model.fit(self._model_inputs(idx_a), ys_a, fids_a, seed=self.ctx.seed * 100003 + upto)
        self._fitted_on = upto

    def propose(
        self, rng: np.random.Generator, pending: Sequence[Suggestion], allowed: Sequence[str]
    ) -> Suggestion | None:
        first = self.choose_fidelity(pending, allowed)
        for fidelity in [first] + [f for f in allowed if f != first]:  # fall back when one is exhausted
            available = self.available(fidelity, pending)
            if available.any():
                break
        else:
            return None
        n_ok = sum(len(v) for v in self.values.values())
        confirming = self.multi_fidelity and fidelity == self.ctx.top
        # uniform screening picks keep poor cells in the ensemble's data (screening only: it is cheap;
        # with one fidelity a uniform pick would cost a full evaluation)
        exploring = (
            self.multi_fidelity
            and not confirming
            and self.explore_share > 0
            and rng.random() < self.explore_share
        )
        # the tail options judge progress by one value: a multi-objective search (a front) goes without
        single_objective = self.ctx.known_objectives is None
        stalled = self.multi_fidelity and not confirming and single_objective and self._stalled()
        if stalled and self.stall_pick == "uniform":
            exploring = True
        if n_ok < (self.n_init or 0) or exploring:
            return Suggestion(self.pick_uniform(rng, available), fidelity)  # type: ignore[arg-type]
        cand_idx: np.ndarray | None = None
        if confirming:
            lo_values = self.values[self.ctx.fidelities[0].name]
            screened = sorted(i for i in lo_values if available[i])  # ascending, as a mask's indices
            if screened:
                cand_idx = np.array(screened, dtype=np.int64)
                n_confirmed = len(self.tried[self.ctx.top])
                if (
                    single_objective
                    and self.confirm_top_every
                    and n_confirmed % self.confirm_top_every == self.confirm_top_every - 1
                ):
                    top = max(screened, key=lambda i: (lo_values[i], -i))
                    return Suggestion(int(top), fidelity)
        if cand_idx is None:
            if self.ctx.product is not None:
                cand_idx = self._pool(rng, available, fidelity)
            else:
                candidates = available
                if self.candidates is not None and not confirming:
                    generated = self.candidates.mask(rng, available, self.history)
                    if generated.any():
                        candidates = generated
                cand_idx = np.flatnonzero(candidates)
        self._refit()
        head = [f.name for f in self.ctx.fidelities].index(fidelity)
        members = self.model.predict_members(self._model_inputs(cand_idx), head)
        best = max(self.values[fidelity].values()) if self.values[fidelity] else None
        busy = any(p.fidelity == fidelity for p in pending)
        kind = (
            "ts"
            if (busy and self.pending == "ts") or (stalled and self.stall_pick == "ts")
            else self.acquisition_used
        )
        scores = score(kind, members, best, rng, beta=self.beta)
        if self.ctx.known_objectives is not None:
            if self.front_acquisition == "ehvi":
                improvement = self._expected_hvi(members, cand_idx, fidelity)
            else:
                improvement = self._scalarised_improvement(members, cand_idx, fidelity, rng)
            if (
                improvement.max() > 0
            ):  # else nothing is expected to improve the front: the single-objective score
                scores = improvement
        return Suggestion(int(cand_idx[int(np.argmax(scores))]), fidelity)

    def _pool(self, rng: np.random.Generator, available: Any, fidelity: str) -> np.ndarray:
        """Candidates in a product space (never listed): ``pool_uniform`` uniform draws among the free
        encodings and the free one-knob mutations of the ``pool_parents`` best results at ``fidelity``
        (of any fidelity before the first there), each knob's ``pool_nearest`` options nearest the
        parent's. Its size, and so a step's cost, does not grow with the space."""
        values = self.values[fidelity] or {i: v for vs in self.values.values() for i, v in vs.items()}
        parents = sorted(values, key=lambda i: (-values[i], i))[: self.pool_parents]
        parts = [available.draw(rng, self.pool_uniform)]
        if self.candidates is not None:  # e.g. the TNAS VAE's draws (VAECandidates.draws)
            parts.append(self.candidates.draws(rng, available, self.history))
        space = self.ctx.product
        assert space is not None  # a listed space scores its free encodings, not a pool
        for parent in parents:
            near = np.array(space.neighbors(parent, nearest=self.pool_nearest), dtype=np.int64)
            parts.append(near[available[near]])
        return np.unique(np.concatenate(parts))

    def _stalled(self) -> bool:
        """Whether the screening has gone ``stall_patience`` screens without a better low-fidelity value
        (every ``stall_every``-th screen from then on is an exploration pick)."""
        if self.stall_patience is None:
            return False
        lo = self.ctx.fidelities[0].name
        # a running count over the observations told since the last call (the history only grows), so a
        # step costs the same at the 1,000th screen as at the 10th; a replayed history counts the same
        best, since, counted = self._stall_state
        for o in self.history[counted:]:
            if o.fidelity != lo or o.value is None:
                continue
            if o.value > best:
                best, since = o.value, 0
            else:
                since += 1
        self._stall_state = (best, since, len(self.history))
        return since >= self.stall_patience and (since - self.stall_patience) % self.stall_every == 0

    def _results(self, fidelity: str) -> tuple[np.ndarray, np.ndarray]:
        """The encodings with a result at ``fidelity`` and their values, in the order they were told."""
        seen = self.values[fidelity]
        idx = np.fromiter(seen, dtype=np.int64, count=len(seen))
        return idx, np.fromiter(seen.values(), dtype=np.float64, count=len(seen))

    def _scalarised_improvement(
        self, members: np.ndarray, cand_idx: np.ndarray, fidelity: str, rng: np.random.Generator
    ) -> np.ndarray:
        """ParEGO's expected improvement of a random Chebyshev scalarisation (any number of objectives)."""
        known = self.ctx.known_objectives
        idx, learned = self._results(fidelity)
        points = np.concatenate([learned[:, None], known[idx]], axis=1) if len(idx) else np.zeros((0, 1))
        cand_known = np.asarray(known[cand_idx], dtype=np.float64)
        weights = draw_weights(rng, 1 + cand_known.shape[1])
        return chebyshev_improvement(members, cand_known, points, weights)

    def _expected_hvi(self, members: np.ndarray, cand_idx: np.ndarray, fidelity: str) -> np.ndarray:
        """Expected hypervolume improvement over the front of ``fidelity``'s results (two objectives)."""
        known = self.ctx.known_objectives  # a matrix, or a knobs space's rows on demand: index it by rows
        idx, learned = self._results(fidelity)
        seen_known = known[idx][:, 0] if len(idx) else np.zeros(0)
        cand_known = known[cand_idx][:, 0]
        points = np.stack([learned, seen_known], axis=1)
        # a reference a little worse than anything seen (learned) or possible (known): every new point
        # counts; before the first result at this fidelity, worse than every member's prediction. A
        # knobs space cannot be scanned for its worst known value: the candidates and results stand in
        scale = learned if len(learned) else members.ravel()
        spread = float(np.ptp(scale)) + 1e-9
        if self.ctx.product is not None:
            possible = np.concatenate([cand_known, seen_known])
        else:
            possible = known[np.flatnonzero(self.searchable)][:, 0]
        reference = np.array(
            [float(scale.min()) - 0.1 * spread, possible.min() - 0.1 * (float(np.ptp(possible)) + 1e-9)]
        )
        front = points[non_dominated(points, ["max", "max"])]
        return expected_hvi_2d(members, cand_known, front, reference)
