"""The ask/tell contract, checked for every strategy in the registry (as Optuna ships ``optuna/testing``).

Each test runs once per name in :data:`archtune.strategy.registry.STRATEGIES`, so a newly registered
strategy is held to the contract without anyone adding it to a list here: distinct allowed suggestions,
never a tried or pending one at that fidelity, an exhausted space answered with nothing, a failed
evaluation never proposed again, replay of a history giving the same next ask, the same seed giving
the same trajectory, with one fidelity and with two; on both space forms, a listed space and a product
space (knobs, never listed), where a strategy that cannot serve one must say so in one clear error.
A strategy may stop early only by its own rule, saying so with ``converged`` (the spline's Algorithm 1).
"""

from __future__ import annotations

import numpy as np
import pytest

from archtune.errors import ConfigError
from archtune.space.product import ProductSpace
from archtune.space.search_space import create_search_space
from archtune.strategy.base import Fidelity, Observation, SearchContext, Strategy, Suggestion
from archtune.strategy.registry import STRATEGIES, make_strategy

ONE = [Fidelity("hi", 1.0)]
TWO = [Fidelity("lo", 0.1), Fidelity("hi", 1.0)]
FORMS = ("listed", "product")
#: registered strategies in a configuration other than their defaults that changes how they decide,
#: held to the same contract: name -> (registered name, keyword arguments)
CONFIGURED = {"bo[surrogate=gp]": ("bo", {"surrogate": "gp"})}
#: every (strategy, space form) pair a strategy serves; the others are checked to refuse clearly
CASES = [
    pytest.param(name, form, id=f"{name}-{form}")
    for name in sorted(STRATEGIES) + sorted(CONFIGURED)
    for form in FORMS
    if form == "listed" or STRATEGIES[CONFIGURED.get(name, (name,))[0]].serves_product_spaces
]


def _make(name: str) -> Strategy:
    registered, kwargs = CONFIGURED.get(name, (name, {}))
    return make_strategy(registered, **kwargs)


def _space(widths=(8, 16, 24, 32), depths=(1, 2, 3, 4), kernels=(3, 5, 7), form="listed"):
    """Numeric knobs (the spline needs them), with neighbours for evolution and local search.

    Both forms number the encodings alike (widths outermost, kernels innermost)."""
    if form == "product":
        return ProductSpace({"w": list(widths), "d": list(depths), "k": list(kernels)}, name="conformance")
    return create_search_space(
        "conformance", None, [(w, d, k) for w in widths for d in depths for k in kernels]
    )


def _context(space, fidelities, seed=0):
    if isinstance(space, ProductSpace):
        return SearchContext(
            np.zeros((0, space.n_features), np.float32),
            fidelities,
            seed=seed,
            neighbors=space.neighbors,
            product=space,
        )
    return SearchContext(
        space.features, fidelities, seed=seed, neighbors=space.neighbors, feature_plans=space.featurizer_plans
    )


def _value(space, index: int, fidelity: str) -> float:
    encoding = space.encodings[index]
    w, d, k = (encoding["w"], encoding["d"], encoding["k"]) if isinstance(encoding, dict) else encoding
    exact = -(((w - 24) / 8) ** 2) - (d - 3) ** 2 - ((k - 5) / 2) ** 2
    return exact + (0.3 * np.sin(index) if fidelity == "lo" else 0.0)


def _strategy(name: str, space, fidelities, seed=0) -> Strategy:
    strategy = _make(name)
    strategy.setup(_context(space, fidelities, seed))
    return strategy


def _drive(strategy: Strategy, space, steps: int, fail: set[int] = frozenset()) -> list[Suggestion]:
    """``steps`` sequential ask/tell rounds; the indices in ``fail`` are told as failed evaluations."""
    asked = []
    for _ in range(steps):
        suggestions = strategy.ask(1)
        if not suggestions:
            break
        s = suggestions[0]
        asked.append(s)
        value = None if s.index in fail else _value(space, s.index, s.fidelity)
        strategy.tell(Observation(s.index, s.fidelity, value, strategy.ctx.cost_of(s.fidelity)))
    return asked


@pytest.mark.parametrize("name, form", CASES)
@pytest.mark.parametrize("fidelities", [ONE, TWO], ids=["one-fidelity", "two-fidelities"])
def test_batch_of_suggestions_is_distinct_and_allowed(name, form, fidelities):
    space = _space(form=form)
    strategy = _strategy(name, space, fidelities)
    _drive(strategy, space, 6)
    for allowed in ([f.name for f in fidelities], ["hi"]):
        batch = strategy.ask(4, allowed=allowed)
        assert 1 <= len(batch) <= 4
        assert all(s.fidelity in allowed for s in batch), batch
        assert all(0 <= s.index < len(space) for s in batch)
        pairs = [(s.index, s.fidelity) for s in batch]
        assert len(set(pairs)) == len(pairs), (
            f"{name} proposed the same evaluation twice in one batch: {pairs}"
        )
    assert strategy.ask(3, allowed=[]) == []


@pytest.mark.parametrize("name, form", CASES)
@pytest.mark.parametrize("fidelities", [ONE, TWO], ids=["one-fidelity", "two-fidelities"])
def test_never_proposes_a_tried_or_pending_evaluation(name, form, fidelities):
    space = _space(form=form)
    strategy = _strategy(name, space, fidelities)
    done: set[tuple[int, str]] = set()
    for _ in range(20):
        pending = strategy.ask(2)
        if not pending and strategy.converged:  # stopped by its own rule (the spline's Algorithm 1)
            assert len(done) >= 5 and strategy.ask(1) == []
            break
        assert pending, f"{name} stopped proposing with most of the space untried"
        assert not {(p.index, p.fidelity) for p in pending} & done
        # with the first still in flight, the next ask must avoid it too
        more = strategy.ask(1, pending=pending[:1])
        assert more and (more[0].index, more[0].fidelity) != (pending[0].index, pending[0].fidelity)
        s = pending[0]
        strategy.tell(
            Observation(
                s.index, s.fidelity, _value(space, s.index, s.fidelity), strategy.ctx.cost_of(s.fidelity)
            )
        )
        done.add((s.index, s.fidelity))


@pytest.mark.parametrize("name, form", CASES)
def test_exhausted_space_answers_with_nothing_and_failures_are_not_retried(name, form):
    space = _space(widths=(8, 16), depths=(1, 2), kernels=(3, 5), form=form)  # 8 encodings
    strategy = _strategy(name, space, ONE)
    failed = {0, 5}
    asked = _drive(strategy, space, 50, fail=failed)
    indices = [s.index for s in asked]
    assert len(indices) == len(set(indices)), f"{name} proposed an evaluation again: {indices}"
    assert sorted(indices) == list(range(len(space))), f"{name} did not cover the small space: {indices}"
    assert strategy.ask(2) == []


@pytest.mark.parametrize("name, form", CASES)
@pytest.mark.parametrize("fidelities", [ONE, TWO], ids=["one-fidelity", "two-fidelities"])
def test_replayed_history_gives_the_same_next_ask(name, form, fidelities):
    space = _space(form=form)
    original = _strategy(name, space, fidelities, seed=3)
    _drive(original, space, 12, fail={7})
    replayed = _strategy(name, space, fidelities, seed=3)
    for observation in original.history:
        replayed.tell(observation)
    assert replayed.ask(2) == original.ask(2)


@pytest.mark.parametrize("name, form", CASES)
def test_same_seed_same_trajectory_and_another_seed_differs(name, form):
    space = _space(form=form)
    first = _drive(_strategy(name, space, TWO, seed=1), space, 12)
    again = _drive(_strategy(name, space, TWO, seed=1), space, 12)
    assert first == again
    if not _make(name).uses_seed:
        return
    others = [_drive(_strategy(name, space, TWO, seed=s), space, 12) for s in (2, 3)]
    assert any(o != first for o in others), f"{name} ignores its seed"


def test_a_strategy_that_cannot_serve_a_product_space_says_so_in_one_clear_error():
    class ListedOnly(Strategy):  # every registered strategy serves both forms; the refusal is the base's
        name = "listed-only"
        serves_product_spaces = False

        def propose(self, rng, pending, allowed):
            return None

    with pytest.raises(ConfigError, match="strategy 'listed-only' needs a listed space") as err:
        ListedOnly().setup(_context(_space(form="product"), ONE))
    assert "\n" not in str(err.value)
    assert "searched by " + ", ".join(sorted(STRATEGIES)) in str(err.value)


def test_every_registered_strategy_class_is_exported_by_archtune_strategy():
    import archtune.strategy

    exported = [getattr(archtune.strategy, name) for name in archtune.strategy.__all__]
    assert [cls for cls in STRATEGIES.values() if cls not in exported] == []
