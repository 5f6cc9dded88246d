"""Baselines and benchmark pieces on the full NAS-Bench-201 table: local search's climbing rule,
the ablation variants' fidelities, and the best-so-far quartiles behind the plot."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from archtune.datasets.nb201 import DATASETS, load_nb201
from archtune.errors import UnknownNameError
from archtune.report.benchmarks import plot_best_so_far, quantile_curves
from archtune.strategy.base import Fidelity, Observation, SearchContext
from archtune.strategy.local_search import LocalSearch
from archtune_experiments.tabular.runner import _space, run_seed
from archtune_experiments.tabular.variants import variant


def test_local_search_climbs_and_restarts_only_at_local_optima():
    table, space = load_nb201(), _space("nb201")
    acc = table.column(DATASETS["cifar100"][0])
    ls = LocalSearch(n_init=10)
    ls.setup(SearchContext(space.features, [Fidelity("hi", 1.0)], seed=3, neighbors=space.neighbors))
    restarts, moves = 0, 0
    for _ in range(400):
        before = ls.current
        (s,) = ls.ask(1)
        if before is not None:
            neighbours = set(space.neighbors(before))
            if s.index not in neighbours:  # a restart: only once the climb is stuck
                restarts += 1
                assert neighbours <= ls.tried["hi"]
                assert acc[before] >= max(acc[j] for j in neighbours)
        ls.tell(Observation(s.index, "hi", float(acc[s.index]), 1.0))
        if before is not None and ls.current != before and ls.current in set(space.neighbors(before)):
            moves += 1
            assert acc[ls.current] > acc[before]  # a move always improves
    assert restarts >= 1 and moves >= 3
    assert len(ls.tried["hi"]) == 400  # never pays twice for one cell


def test_variants_spend_the_fidelities_they_name():
    single = run_seed("bo-single", "cifar10", seed=0, budget=4, pretrained=None)
    costs = np.diff([0.0] + [spent for spent, _ in single["curve"]])
    assert np.allclose(costs, 1.0) and single["iterations"] == 4
    multi = run_seed("bo", "cifar10", seed=0, budget=2, pretrained=None)
    costs = np.diff([0.0] + [spent for spent, _ in multi["curve"]])
    assert np.isclose(costs, 12 / 200).sum() >= 10 and np.isclose(costs, 1.0).any()
    assert variant("bo-nopre").pretraining is None and variant("bo-seq").pretraining == "sequential"
    with pytest.raises(
        UnknownNameError,
        match="unknown benchmark strategy 'bo-x'; valid: bo, bo-bare, bo-bare-dim, bo-bare-ensemble",
    ):
        variant("bo-x")


def test_quartiles_and_plot(tmp_path):
    runs = [{"strategy": "a", "curve": [(1.0, float(v))]} for v in (1, 2, 3, 4)]
    runs.append({"strategy": "b", "curve": [(2.0, 5.0)]})
    grid, (q25, q50, q75) = quantile_curves(runs, "a", budget=10.0, points=5)
    assert grid[0] == pytest.approx(0.05) and grid[-1] == pytest.approx(10.0)
    assert np.isnan(q50[0]) and (q25[-1], q50[-1], q75[-1]) == (1.75, 2.5, 3.25)
    path = plot_best_so_far(runs, 10.0, 5.0, "test", tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def _bottom_half_screenings(explore_share: float, steps: int = 60, stall_patience: int | None = None) -> int:
    """Two-fidelity BO with the 'mean' acquisition on a monotone line: the surrogate alone only ever wants
    the top end. Returns the screenings in the bottom half after the initial picks."""
    from archtune.strategy.bo import BayesianOptimization

    n = 200
    features = np.linspace(0, 1, n, dtype=np.float32)[:, None]
    bo = BayesianOptimization(
        acquisition="mean",
        n_init=5,
        lo_fi_share=0.8,
        explore_share=explore_share,
        stall_patience=stall_patience,
    )
    bo.setup(SearchContext(features, [Fidelity("lo", 0.1), Fidelity("hi", 1.0)], seed=3))
    picks = []
    for _ in range(steps):
        s = bo.ask(1)[0]
        bo.tell(Observation(s.index, s.fidelity, float(s.index), 0.1 if s.fidelity == "lo" else 1.0))
        picks.append(s)
    return sum(p.fidelity == "lo" and p.index < n // 2 for p in picks[5:])


def test_bo_explore_share_keeps_uniform_screenings_in_the_data():
    # the diagnosed failure: trained only on what it chose, the ensemble saw no poor cells and ranked the
    # untried good ones backwards; a share of uniform screenings keeps poor cells in its data
    assert _bottom_half_screenings(0.0) == 0
    assert (
        5 <= _bottom_half_screenings(0.5) <= 30
    )  # about half the screenings are uniform, about half of those land low


def test_bo_stall_patience_explores_only_once_the_screening_stops_improving():
    # on the monotone line the first surrogate screen takes the top cell and nothing after it is better:
    # after stall_patience screens without progress, every 2nd screen is uniform (about half land low)
    assert _bottom_half_screenings(0.0, stall_patience=None) == 0
    assert _bottom_half_screenings(0.0, steps=20, stall_patience=30) == 0  # not stalled long enough yet
    assert 4 <= _bottom_half_screenings(0.0, steps=80, stall_patience=10) <= 30


def _two_fidelity_bo(**kwargs):
    from archtune.strategy.bo import BayesianOptimization

    features = np.linspace(0, 1, 40, dtype=np.float32)[:, None]
    bo = BayesianOptimization(acquisition="mean", n_init=3, **kwargs)
    bo.setup(SearchContext(features, [Fidelity("lo", 0.1), Fidelity("hi", 1.0)], seed=0))
    return bo


def test_bo_stalled_counts_screens_since_the_last_improvement():
    bo = _two_fidelity_bo(stall_patience=3, stall_every=2)
    for i, v in enumerate([1.0, 2.0, 1.5, 1.5]):
        bo.tell(Observation(i, "lo", v, 0.1))
    assert not bo._stalled()  # 2 screens since the best
    bo.tell(Observation(4, "hi", 9.0, 1.0))  # confirmations do not count
    assert not bo._stalled()
    bo.tell(Observation(5, "lo", 0.5, 0.1))
    assert bo._stalled()  # 3 since the best
    bo.tell(Observation(6, "lo", 0.5, 0.1))
    assert not bo._stalled()  # 4: every 2nd from the 3rd on
    bo.tell(Observation(7, "lo", None, 0.1))  # a failed screen is no evidence either way
    assert not bo._stalled()
    bo.tell(Observation(8, "lo", 0.5, 0.1))
    assert bo._stalled()  # 5
    bo.tell(Observation(9, "lo", 3.0, 0.1))
    assert not bo._stalled()  # improved: patience starts again


def test_bo_confirm_top_every_confirms_the_best_screened_cell():
    # screened values rise along the line except cells 5 and 9, the best screens: the head, fitted on
    # the trend, prefers elsewhere; every 2nd confirmation goes to the best observed unconfirmed screen
    screens = {i: float(i) / 10 for i in range(0, 40, 4)} | {5: 10.0, 9: 5.0}
    for every, confirmed, expected in ((2, 36, 5), (2, 5, 9), (None, 36, None), (None, 5, None)):
        bo = _two_fidelity_bo(confirm_top_every=every)
        for i, v in screens.items():
            bo.tell(Observation(i, "lo", v, 0.1))
        bo.tell(Observation(confirmed, "hi", 3.0, 1.0))  # one confirmation done: the next is the 2nd
        s = bo.ask(1)[0]
        assert s.fidelity == "hi" and s.index in screens and s.index != confirmed
        if expected is None:
            assert s.index not in (5, 9)  # the head's own choice (seen: 20 and 32)
        else:
            assert s.index == expected


def _uninterrupted_and_resumed(steps: int, **bo_kwargs: Any) -> tuple[Any, Any, np.ndarray]:
    """A BO search of ``steps`` asks and tells on a linear objective over 300 random encodings, and a
    fresh one told the same history, as a resumed search is; and the encodings' features."""
    from archtune.strategy.bo import BayesianOptimization

    rng = np.random.default_rng(0)
    features = rng.random((300, 6)).astype(np.float32)
    objective = features @ rng.random(6)

    def make() -> BayesianOptimization:
        bo = BayesianOptimization(n_init=3, **bo_kwargs)
        bo.setup(SearchContext(features, [Fidelity("hi", 1.0)], seed=1, metrics={"m": features[:, 0]}))
        return bo

    uninterrupted, picks = make(), []
    for _ in range(steps):
        i = uninterrupted.ask(1)[0].index
        uninterrupted.tell(Observation(i, "hi", float(objective[i]), 1.0))
        picks.append(i)
    resumed = make()
    for i in picks:
        resumed.tell(Observation(i, "hi", float(objective[i]), 1.0))
    return uninterrupted, resumed, features


def test_bo_refit_growth_fits_on_a_schedule_that_a_resumed_search_repeats():
    # refit_growth=0.5: the surrogate is fitted on the first 1, 2, 3, 5, 8, 12, 18, ... observations;
    # after 14 an uninterrupted search's model is the one fitted on 12, and a search resumed from those
    # 14 must fit on the same 12 (not on all 14) to ask and predict what the uninterrupted one would
    from archtune.errors import ConfigError
    from archtune.strategy.bo import BayesianOptimization

    bo = BayesianOptimization(refit_growth=0.5)
    assert [bo._refit_point(n) for n in (1, 2, 3, 4, 5, 7, 8, 11, 12, 14, 17, 18)] == [
        1, 2, 3, 3, 5, 5, 8, 8, 12, 12, 12, 18,
    ]  # fmt: skip
    assert BayesianOptimization()._refit_point(14) == 14  # default: every step
    with pytest.raises(ConfigError, match="refit_growth"):
        BayesianOptimization(refit_growth=0)
    uninterrupted, resumed, features = _uninterrupted_and_resumed(14, surrogate="ensemble", refit_growth=0.5)
    assert uninterrupted.ask(1) == resumed.ask(1)
    assert uninterrupted._fitted_on == resumed._fitted_on == 12
    np.testing.assert_array_equal(
        uninterrupted.model.predict(features, 0)[0], resumed.model.predict(features, 0)[0]
    )
    every_step = copy.deepcopy(resumed)
    every_step.refit_growth = None
    every_step._refit()  # fitted on all 14: a different model
    assert not np.array_equal(every_step.model.predict(features, 0)[0], resumed.model.predict(features, 0)[0])


def test_bo_explore_share_is_validated():
    from archtune.errors import ConfigError
    from archtune.strategy.bo import BayesianOptimization

    with pytest.raises(ConfigError, match="explore_share"):
        BayesianOptimization(explore_share=1.0)


@pytest.mark.parametrize(
    "pretraining, surrogate",
    [("simultaneous", "ensemble"), ("none", "ensemble"), ("simultaneous", "gp"), ("none", "gp")],
)
def test_bo_surrogate_after_replay_equals_uninterrupted(pretraining, surrogate):
    # a resumed search refits once on everything; an uninterrupted one has refitted at every step. Both must
    # predict the same, with or without pretraining (without it, fits used to start from the last fit), on
    # the ensemble and on the GP (with the zero-cost metrics as inputs when pretraining)

    uninterrupted, resumed, features = _uninterrupted_and_resumed(
        12, pretraining=pretraining, surrogate=surrogate
    )
    assert uninterrupted.ask(1) == resumed.ask(1)
    rows = np.arange(len(features))  # the surrogate's inputs: the features (and the GP's metric columns)
    np.testing.assert_array_equal(
        uninterrupted.model.predict(uninterrupted._model_inputs(rows), 0)[0],
        resumed.model.predict(resumed._model_inputs(rows), 0)[0],
    )
