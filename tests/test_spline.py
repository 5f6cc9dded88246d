"""Polyharmonic-spline search (paper 004): the paper's own predictions, the initial design, the argmax,
the stopping rule, categorical knobs and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from archtune.errors import ConfigError
from archtune.strategy.spline import SplineStrategy
from archtune.strategy.spline_design import NumericDimension, initial_design
from archtune.surrogate.spline import PolyharmonicSpline, SplineError
from archtune_experiments.spline.paper_tables import TABLE4_INITIAL, reproduce


def test_table4_predictions_reproduced_within_0_2():
    rows = reproduce("table4")
    assert len(rows) == 4  # the BL-ResNext50 default and three incremental points
    for row in rows:
        assert abs(row.ours - row.paper) <= 0.2, row


def test_tables_1_and_5_agree_as_documented():
    # documented in the README: Table 5 within 0.7 (7 of 9 rows within 0.15); Table 1 off by 0.56 and 1.09
    t5 = [abs(r.ours - r.paper) for r in reproduce("table5")]
    assert max(t5) < 0.7 and sum(d <= 0.15 for d in t5) >= 7
    t1 = [r.ours - r.paper for r in reproduce("table1")]
    assert 0.4 < t1[0] < 0.7 and 0.9 < t1[1] < 1.2


def test_initial_design_is_the_papers_corner_set():
    bounds = [(32, 128), (32, 256), (32, 512), (32, 768), (2, 10), (2, 10), (2, 18), (2, 5)]
    dims = [NumericDimension(f"x{k}", lo, hi) for k, (lo, hi) in enumerate(bounds)]
    design = initial_design(dims)
    assert len(design) == 2 * 8 + 3 == len({tuple(p) for p in design})
    # every row of the paper's Table 4 design but its centre row (the paper used a point "near" the centre)
    paper = {tuple(p) for p, _ in TABLE4_INITIAL} - {(80, 160, 320, 480, 5, 5, 5, 3)}
    ours = [tuple(p) for p in design]
    assert set(ours[:2] + ours[3:]) == paper
    assert ours[2] == (80, 144, 272, 400, 6, 6, 10, 4)  # (max + min) / 2, snapped to integers
    square = initial_design([NumericDimension("a", 0, 4), NumericDimension("b", 0, 4)])
    assert sorted(map(tuple, square)) == [(0, 0), (0, 4), (2, 2), (4, 0), (4, 4)]  # 4 corners and the centre


def _knob_search(tmp_path, knobs, objective, name="k", budget=60, **strategy_options):
    """A spline search on a knobs space, through SearchInstance (in-memory storage), run to ``budget``."""
    from archtune import SearchInstance, create_search_space
    from archtune.storage.memory import MemoryStorage
    from archtune.strategy.spline import SplineStrategy

    space = create_search_space(name, None, knobs=knobs)
    s = SearchInstance(
        name, tmp_path / f"{name}.search", space, hi_fi_eval=objective, progress=False,
        strategy=SplineStrategy(**strategy_options), storage=MemoryStorage(),
    )  # fmt: skip
    s.run_search(eval_budget=budget)
    return s


def test_monte_carlo_argmax_over_knobs_finds_the_maximum_of_a_known_function():
    from archtune.space.product import ProductSpace
    from archtune.strategy.spline_box import KnobBox

    space = ProductSpace(
        {"a": {"low": 0.0, "high": 1.0, "num": 201}, "b": {"low": 0.0, "high": 1.0, "num": 201}}
    )
    view = KnobBox(space)
    grid = np.array([(a, b) for a in np.linspace(0, 1, 7) for b in np.linspace(0, 1, 7)])
    f = lambda P: -((P[:, 0] - 0.71) ** 2) - (P[:, 1] - 0.23) ** 2  # noqa: E731
    spline = PolyharmonicSpline().fit(grid, f(grid))
    tokens = view.samples(spline.predict, samples=1024, rounds=8, shrink=0.5)
    X = view.token_coordinates(tokens)
    best = X[int(np.argmax(spline.predict(X)))]
    assert np.allclose(best, [0.71, 0.23], atol=0.01)
    assert np.array_equal(view.samples(spline.predict, 1024, 8, 0.5), tokens)  # no seed: the same points


def test_stops_when_measurement_matches_prediction(tmp_path):
    knobs = {n: range(0, 51) for n in "abc"}
    linear = lambda e: 2 * e["a"] - e["b"] + 0.5 * e["c"]  # noqa: E731  (a spline reproduces it exactly)
    s = _knob_search(tmp_path, knobs, linear, epsilon=1e-6)
    history = s.history()
    assert s.strategy.converged and len(history) == 2 * 3 + 3 + 1  # the design, then one argmax that agrees
    assert s.best()[1] == max(h["value"] for h in history) == linear({"a": 50, "b": 0, "c": 50})
    # a function the spline misses keeps the search going past its first argmax
    bumpy = _knob_search(
        tmp_path,
        knobs,
        lambda e: float(np.sin(e["a"] / 3.0) + np.cos(e["b"] / 5.0)),
        "bumpy",
        12,
        epsilon=1e-6,
    )
    assert not bumpy.strategy.converged and len(bumpy.history()) == 12


def test_categorical_knobs_get_one_spline_each_and_failures_are_skipped(tmp_path):
    knobs = {"w": range(8, 65), "d": range(1, 7), "k": range(1, 8), "block": ["conv", "mbconv"]}
    calls = []

    def f(e):
        calls.append(e)
        if len(calls) == 1:
            raise RuntimeError("out of memory")  # a failed evaluation: recorded, never fitted or retried
        return -abs(e["w"] - 40) / 10 - abs(e["d"] - 3) + (2.0 if e["block"] == "mbconv" else 0.0)

    s = _knob_search(tmp_path, knobs, f, budget=40)
    history = s.history()
    blocks = [h["encoding"]["block"] for h in history]
    assert blocks[:9] == ["conv"] * 9 and blocks[9:18] == ["mbconv"] * 9  # one design per combination
    assert history[0]["status"] == "FAILED" and all(h["status"] == "COMPLETE" for h in history[1:])
    keys = [tuple(sorted(h["encoding"].items())) for h in history]
    assert len(set(keys)) == len(keys)
    best, value = s.best()
    assert best["block"] == "mbconv" and value >= f({"w": 40, "d": 3, "block": "mbconv"}) - 1.0


def test_box_expansion_follows_an_optimum_outside_the_box(tmp_path):
    f = lambda e: -(((e["w"] - 150) / 20) ** 2) - ((e["d"] - 6) / 2) ** 2  # noqa: E731  (optimum at w=150)
    knobs = {"w": range(16, 257), "d": range(1, 13), "k": range(1, 8)}
    fixed = _knob_search(tmp_path, {**knobs, "w": range(16, 65)}, f, "fixed", epsilon=0.05)
    wide = _knob_search(tmp_path, knobs, f, "wide", epsilon=0.05, box={"w": (16, 64)})
    assert fixed.best()[0]["w"] == 64 and fixed.strategy.view.widenings == 0  # stuck on the box's edge
    assert wide.strategy.view.widenings >= 1 and abs(wide.best()[0]["w"] - 150) <= 10
    assert wide.history()[0]["encoding"]["w"] == 64  # it started in the narrow box: its max corner
    keys = [tuple(sorted(h["encoding"].items())) for h in wide.history()]
    assert len(set(keys)) == len(keys)  # nothing paid twice


@pytest.mark.parametrize(
    ("knobs", "options", "message"),
    [
        (
            {"op": ["a", "b"], "act": ["relu", "gelu"]},
            {},
            "at least one numeric knob with two or more options",
        ),
        ({"w": [8, 16], **{f"c{k}": ["a", "b"] for k in range(9)}}, {}, "which make 512 \\(at most 256\\)"),
        ({"w": [8, 16, 32], "op": ["a", "b"]}, {"box": {"op": (0, 1)}}, "box names 'op', not a numeric knob"),
        (
            {"w": [8, 16, 32]},
            {"box": {"w": (8, 64)}},
            "must hold two options inside the knob's range \\[8, 32\\]",
        ),
        ({"w": [8, 16, 32]}, {"box": {"w": (8, 9)}}, "holds only one option"),
        ({"w": [8, 16, 32]}, {"box": {"w": 8}}, "must be \\(low, high\\)"),
    ],
)
def test_bad_knob_spline_input_is_one_clear_error(tmp_path, knobs, options, message):
    with pytest.raises(ConfigError, match=message) as err:
        _knob_search(tmp_path, knobs, lambda e: 1.0, budget=1, **options)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: NumericDimension("w", 8, 8), "low \\(8\\) must be below high \\(8\\)"),
        (lambda: NumericDimension("w", "a", 8), "bounds must be numbers"),
        (lambda: NumericDimension("w", 0.2, 0.9), "fewer than two integers"),
        (lambda: SplineStrategy(epsilon=0), "epsilon must be positive"),
        (lambda: SplineStrategy(shrink=1.0), "shrink must lie in"),
        (lambda: SplineStrategy(samples=0), "samples must be a positive integer"),
    ],
)
def test_bad_search_input(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_bad_support_points_are_refused():
    with pytest.raises(SplineError, match="coincide"):
        PolyharmonicSpline().fit([[0, 0], [1, 0], [0, 1], [0, 1]], [1, 2, 3, 4])
    with pytest.raises(SplineError, match="dimension 1 spans no range"):
        PolyharmonicSpline().fit([[0, 5], [1, 5], [2, 5], [3, 5]], [1, 2, 3, 4])
    with pytest.raises(SplineError, match="at least 4 support points"):
        PolyharmonicSpline().fit([[0, 0], [1, 1], [0, 1]], [1, 2, 3])
    with pytest.raises(SplineError, match="lower-dimensional plane"):
        PolyharmonicSpline().fit([[0, 0], [1, 1], [2, 2], [3, 3]], [1, 2, 3, 4])
    with pytest.raises(SplineError, match="ill-conditioned"):
        PolyharmonicSpline(min_distance=0).fit(
            [[0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.5], [0.5, 0.5 + 1e-13]], [0, 1, 1, 2, 9, -9]
        )
    with pytest.raises(SplineError, match="must be finite"):
        PolyharmonicSpline().fit([[0, np.nan], [1, 0], [0, 1], [1, 1]], [1, 2, 3, 4])


def _grid_space(path=None):
    import itertools

    from archtune import create_search_space

    encodings = [
        {"width": w, "depth": d, "block": b}
        for w, d, b in itertools.product(range(8, 65, 4), range(1, 9), ["conv", "mbconv"])
    ]
    return create_search_space("grid", path, encodings)


def _objective(e):
    bonus = 1.5 if e["block"] == "mbconv" else 0.0
    return 80 - ((e["width"] - 44) / 8) ** 2 - (e["depth"] - 5) ** 2 / 2 + bonus


def test_spline_strategy_in_a_search_stops_when_converged_and_resumes(tmp_path):
    from archtune import SearchInstance

    space = _grid_space()
    kwargs = dict(search_space=space, hi_fi_eval=_objective, strategy="spline", progress=False)
    s = SearchInstance("sp", tmp_path / "sp.search", **kwargs)
    s.run_search(eval_budget=60)
    history = s.history()
    # 2 combinations x (4 corners + centre) initial design, then argmaxes until prediction meets measurement
    assert [h["encoding"]["block"] for h in history[:10]] == ["conv"] * 5 + ["mbconv"] * 5
    assert len(history) < 60  # Algorithm 1 stopped before the budget
    best, value = s.best()
    assert best["block"] == "mbconv" and value >= 81.5 - 0.6  # optimum 81.5 at width 44, depth 5
    s.close()
    again = SearchInstance("sp", tmp_path / "sp.search", **kwargs)  # the converged state is rebuilt on resume
    again.run_search(eval_budget=60)
    assert again.history() == history
    again.close()


def test_spline_strategy_needs_numeric_knobs(tmp_path):
    from archtune import SearchInstance, create_search_space

    space = create_search_space("c", None, [("a",), ("b",), ("c",)])
    with pytest.raises(ConfigError, match="at least one numeric knob"):
        SearchInstance(
            "c", tmp_path / "c.search", search_space=space, hi_fi_eval=lambda e: 1.0, strategy="spline"
        )


def test_spline_benchmark_pieces():
    from archtune_experiments.spline.benchmark import run_function_seed, summarise

    run = run_function_seed("spline", "branin", seed=0, budget=20)
    # deterministic on a grid: the 5-point design, then argmaxes; Branin's minimum is 0.398 (grid: 0.40)
    assert len(run["values"]) == 20 and max(run["values"][:12]) > -0.5
    fake = [
        {"strategy": "a", "seed": 0, "values": [0.0, 5.0, 9.95]},
        {"strategy": "a", "seed": 1, "values": [10.0]},
        {"strategy": "b", "seed": 0, "values": [1.0, 2.0]},
    ]
    s = summarise(fake, typical=0.0)  # target = 10 - 0.01 * (10 - 0) = 9.9
    assert s["a"]["median_evals_to_target"] == 2.0 and s["a"]["share_reached"] == 1.0
    assert s["b"]["median_evals_to_target"] == np.inf and s["b"]["mean_best"] == 2.0


def test_projection_plot_from_a_search_file(tmp_path, capsys):
    from archtune import SearchInstance
    from archtune.cli import main

    s = SearchInstance(
        "sp",
        tmp_path / "sp.search",
        search_space=_grid_space(),
        hi_fi_eval=_objective,
        strategy="spline",
        progress=False,
    )
    s.run_search(eval_budget=14)
    s.close()
    png = tmp_path / "p.png"
    assert (
        main(["spline-plot", str(tmp_path / "sp.search"), "--x", "width", "--y", "depth", "--out", str(png)])
        == 0
    )
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10_000
    assert main(["spline-plot", str(tmp_path / "sp.search"), "--x", "block", "--y", "depth"]) == 2
    assert (
        "'block' is not a numeric knob of this search; numeric knobs: depth, width" in capsys.readouterr().err
    )


def test_trained_width_objective_learns_and_is_cached(tmp_path, monkeypatch):
    from archtune_experiments.spline.benchmark import TrainedObjective, _widths_space

    space = _widths_space()
    assert len(space) == 8**5
    index = space.index_of({"c1": 8, "g1": 16, "g2": 16, "g3": 16, "g4": 16})
    objective = TrainedObjective(space, tmp_path / "cache.json")
    accuracy = objective[index]
    assert 80.0 < accuracy <= 100.0  # 2 epochs of real training on 4,000 digits
    import archtune.spaces.resnet_widths as widths

    monkeypatch.setattr(widths, "train_and_evaluate", lambda *a, **k: pytest.fail("trained twice"))
    again = TrainedObjective(space, tmp_path / "cache.json")  # as a new process would: reads the file
    assert again[index] == accuracy
