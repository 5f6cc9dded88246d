"""The bad-input campaign, as a table: every entry must raise an archtune error that also is the matching
builtin, in one line that names the argument, and must leave an existing search file as it was.

Each row: (id, what to call, the builtin the error must also be, a word the message must contain).
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
import torch

from archtune import SearchInstance, create_search_space, load_search_space
from archtune.errors import ArchtuneError
from archtune.storage.sqlite import SQLiteStorage

ENCODINGS = [(i, c) for i in range(4) for c in ("a", "b")]


def objective(enc):
    return float(enc[0])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A space file and a search file holding three trials (both must survive every bad call)."""
    root = tmp_path_factory.mktemp("bad")
    space = root / "s.space"
    create_search_space("s", space, ENCODINGS, pretraining_data={"latency": [float(i) for i in range(8)]})
    s = SearchInstance(
        "run", root / "run.search", str(space), hi_fi_eval=objective, strategy="random", progress=False
    )
    s.run_search(eval_budget=3)
    s.close()
    (root / "empty.space").write_bytes(b"")
    (root / "text.space").write_text("not a space\n")
    (root / "adir").mkdir()
    return root


def _search(root: Path, fresh: bool = False, **overrides):
    kwargs = dict(
        name="run",
        save_filename=root / ("fresh.search" if fresh else "run.search"),
        search_space_filename=str(root / "s.space"),
        hi_fi_eval=objective,
        strategy="random",
        progress=False,
    )
    kwargs.update(overrides)
    return SearchInstance(**kwargs)


def _run(root: Path, **run_kwargs):
    s = _search(root)
    try:
        s.run_search(**{"eval_budget": 3, **run_kwargs})
    finally:
        s.close()


INF, NAN = math.inf, math.nan

SEARCH_ARGS = [  # SearchInstance(**{argument: value}), on the existing file and on a fresh one
    ("name-None", {"name": None}, TypeError, "name"),
    ("name-empty", {"name": "  "}, ValueError, "name"),
    ("name-int", {"name": 3}, TypeError, "name"),
    ("save_filename-None", {"save_filename": None}, TypeError, "save_filename"),
    ("save_filename-int", {"save_filename": 3}, TypeError, "save_filename"),
    ("hi_fi_eval-None", {"hi_fi_eval": None}, ValueError, "hi_fi_eval"),
    ("hi_fi_eval-str", {"hi_fi_eval": "train"}, ValueError, "hi_fi_eval"),
    ("hi_fi_cost-str", {"hi_fi_cost": "1"}, TypeError, "hi_fi_cost"),
    ("hi_fi_cost-zero", {"hi_fi_cost": 0}, ValueError, "hi_fi_cost"),
    ("hi_fi_cost-negative", {"hi_fi_cost": -1}, ValueError, "hi_fi_cost"),
    ("hi_fi_cost-inf", {"hi_fi_cost": INF}, ValueError, "hi_fi_cost"),
    ("hi_fi_cost-nan", {"hi_fi_cost": NAN}, ValueError, "hi_fi_cost"),
    ("hi_fi_cost-bool", {"hi_fi_cost": True}, TypeError, "hi_fi_cost"),
    ("lo_fi_eval-without-cost", {"lo_fi_eval": objective}, ValueError, "lo_fi_cost"),
    ("lo_fi_cost-without-eval", {"lo_fi_cost": 0.1}, ValueError, "lo_fi_eval"),
    ("lo_fi_cost-above-hi", {"lo_fi_eval": objective, "lo_fi_cost": 2}, ValueError, "lo_fi_cost"),
    ("lo_fi_cost-str", {"lo_fi_eval": objective, "lo_fi_cost": "0.1"}, TypeError, "lo_fi_cost"),
    ("lo_fi_cost-zero", {"lo_fi_eval": objective, "lo_fi_cost": 0}, ValueError, "lo_fi_cost"),
    ("lo_fi_eval-int", {"lo_fi_eval": 3, "lo_fi_cost": 0.1}, ValueError, "lo_fi_eval"),
    ("seed-str", {"seed": "abc"}, TypeError, "seed"),
    ("seed-None", {"seed": None}, TypeError, "seed"),
    ("seed-negative", {"seed": -1}, ValueError, "seed"),
    ("seed-fraction", {"seed": 1.5}, TypeError, "seed"),
    ("seed-huge", {"seed": 2**64}, ValueError, "seed"),
    ("seed-bool", {"seed": True}, TypeError, "seed"),
    ("strategy-int", {"strategy": 123}, TypeError, "strategy"),
    ("strategy-None", {"strategy": None}, TypeError, "strategy"),
    ("strategy-unknown", {"strategy": "nope"}, KeyError, "strategy"),
    ("space-none", {"search_space_filename": None}, ValueError, "search_space"),
    ("space-int", {"search_space_filename": 123}, TypeError, "search_space_filename"),
    (
        "space-object-str",
        {"search_space_filename": None, "search_space": "s.space"},
        TypeError,
        "search_space",
    ),
    (
        "space-missing-file",
        {"search_space_filename": "/nonexistent/s.space"},
        ValueError,
        "/nonexistent/s.space",
    ),
    ("time_limit-zero", {"time_limit": 0}, ValueError, "time_limit"),
    ("time_limit-negative", {"time_limit": -5}, ValueError, "time_limit"),
    ("time_limit-str", {"time_limit": "10"}, TypeError, "time_limit"),
    ("time_limit-inf", {"time_limit": INF}, ValueError, "time_limit"),
    (
        "max_consecutive_failures-zero",
        {"max_consecutive_failures": 0},
        ValueError,
        "max_consecutive_failures",
    ),
    (
        "max_consecutive_failures-fraction",
        {"max_consecutive_failures": 2.5},
        ValueError,
        "max_consecutive_failures",
    ),
    (
        "max_consecutive_failures-str",
        {"max_consecutive_failures": "5"},
        TypeError,
        "max_consecutive_failures",
    ),
    ("objective_key-empty", {"objective_key": ""}, ValueError, "objective_key"),
    ("objective_key-int", {"objective_key": 3}, ValueError, "objective_key"),
    (
        "objective_key-not-an-objective",
        {"objective_key": "acc", "objectives": {"value": "max"}},
        ValueError,
        "objective_key",
    ),
    ("objectives-bad-sense", {"objectives": {"value": "up"}}, ValueError, "value"),
    ("retries-negative", {"retries": -1}, ValueError, "retries"),
    ("retries-fraction", {"retries": 1.5}, ValueError, "retries"),
    ("executor-unknown", {"executor": "nope"}, ValueError, "executor"),
    ("executor-int", {"executor": 42}, TypeError, "executor"),
    ("resources-list", {"resources": ["GPU"]}, TypeError, "resources"),
    ("constraints-list", {"constraints": [("latency", 1)]}, ValueError, "constraints"),
    ("constraints-str-limit", {"constraints": {"latency": "x"}}, ValueError, "latency"),
    ("constraints-unknown-metric", {"constraints": {"flops": 3}}, ValueError, "flops"),
    ("constraints-nan", {"constraints": {"latency": NAN}}, ValueError, "latency"),
    ("constraints-unsatisfiable", {"constraints": {"latency": -1}}, ValueError, "constraints"),
    ("extend_space-str", {"extend_space": "yes"}, TypeError, "extend_space"),
]

RUN_ARGS = [  # run_search(**kwargs)
    ("eval_budget-str", {"eval_budget": "5"}, TypeError, "eval_budget"),
    ("eval_budget-zero", {"eval_budget": 0}, ValueError, "eval_budget"),
    ("eval_budget-negative", {"eval_budget": -1}, ValueError, "eval_budget"),
    ("eval_budget-nan", {"eval_budget": NAN}, ValueError, "eval_budget"),
    ("eval_budget-inf", {"eval_budget": INF}, ValueError, "eval_budget"),
    ("eval_budget-None", {"eval_budget": None}, TypeError, "eval_budget"),
    ("n_workers-str", {"n_workers": "2"}, TypeError, "n_workers"),
    ("n_workers-zero", {"n_workers": 0}, ValueError, "n_workers"),
    ("n_workers-fraction", {"n_workers": 2.5}, ValueError, "n_workers"),
    ("target-nan", {"target": NAN}, ValueError, "target"),
    ("target-str", {"target": "0.9"}, TypeError, "target"),
]


def _space_call(root: Path, **kw):
    args = dict(name="x", save_filename=None, encodings=ENCODINGS)
    args.update(kw)
    return create_search_space(**args)


SPACE_ARGS = [  # create_search_space(**kwargs) and friends
    ("space-name-None", lambda r: _space_call(r, name=None), ValueError, "name"),
    ("encodings-None", lambda r: _space_call(r, encodings=None), ValueError, "encodings"),
    ("encodings-empty", lambda r: _space_call(r, encodings=[]), ValueError, "encodings"),
    ("encodings-duplicate", lambda r: _space_call(r, encodings=[(1,), (1,)]), ValueError, "duplicates"),
    ("encodings-huge-int", lambda r: _space_call(r, encodings=[(1,), (10**400,)]), ValueError, "encoding 1"),
    ("encodings-nan", lambda r: _space_call(r, encodings=[(1.0,), (NAN,)]), ValueError, "encoding 1"),
    ("encodings-mixed-shapes", lambda r: _space_call(r, encodings=[(1,), (1, 2)]), ValueError, "encoding 1"),
    ("encodings-mixed-kinds", lambda r: _space_call(r, encodings=[(1,), "a"]), ValueError, "encoding 1"),
    (
        "save-into-missing-folder",
        lambda r: _space_call(r, save_filename=r / "no" / "x.space"),
        ValueError,
        "save_filename",
    ),
    ("save-onto-a-folder", lambda r: _space_call(r, save_filename=r / "adir"), ValueError, "save_filename"),
    (
        "pretraining-wrong-length",
        lambda r: _space_call(r, pretraining_data={"lat": [1.0]}),
        ValueError,
        "lat",
    ),
    ("pretraining-inf", lambda r: _space_call(r, pretraining_data={"lat": [INF] * 8}), ValueError, "lat"),
    (
        "pretraining-row-without-encoding",
        lambda r: _space_call(r, pretraining_data=[{"lat": 1.0}]),
        ValueError,
        "encoding",
    ),
    (
        "pretraining-row-unknown-encoding",
        lambda r: _space_call(r, pretraining_data=[{"encoding": (9, "z"), "lat": 1.0}]),
        ValueError,
        "(9, 'z')",
    ),
    ("load-missing", lambda r: load_search_space(r / "missing.space"), ValueError, "missing.space"),
    ("load-empty", lambda r: load_search_space(r / "empty.space"), ValueError, "empty.space"),
    ("load-text", lambda r: load_search_space(r / "text.space"), ValueError, "text.space"),
    ("load-folder", lambda r: load_search_space(r / "adir"), ValueError, "adir"),
    (
        "preprocess-no-sample-input",
        lambda r: _space_call(r, encoding_to_net=lambda e: torch.nn.Linear(1, 1)).preprocess(),
        ValueError,
        "sample_input",
    ),
    (
        "preprocess-no-builder",
        lambda r: _space_call(r).preprocess(sample_input=torch.rand(1, 1)),
        ValueError,
        "encoding_to_net",
    ),
]


def _snapshot(path: Path):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return (
            conn.execute("SELECT * FROM trials ORDER BY number").fetchall(),
            conn.execute("SELECT * FROM meta ORDER BY key").fetchall(),
        )
    finally:
        conn.close()


def _check(err: BaseException, builtin: type, word: str) -> None:
    assert isinstance(err, ArchtuneError), f"{type(err).__name__}: {err}"
    assert isinstance(err, builtin), f"{type(err).__mro__} is not a {builtin.__name__}"
    message = str(err)
    assert "\n" not in message.strip(), message
    assert word in message, message


def test_the_campaign_has_at_least_sixty_bad_inputs():
    assert len(SEARCH_ARGS) + len(RUN_ARGS) + len(SPACE_ARGS) >= 60


@pytest.mark.parametrize(("case", "kwargs", "builtin", "word"), SEARCH_ARGS, ids=[c[0] for c in SEARCH_ARGS])
def test_bad_search_arguments(world, case, kwargs, builtin, word):
    before = _snapshot(world / "run.search")
    for fresh in (False, True):
        with pytest.raises(ArchtuneError) as info:
            _search(world, fresh=fresh, **kwargs)
        _check(info.value, builtin, word)
        assert not (world / "fresh.search").exists()  # a failed call leaves no file behind
    assert _snapshot(world / "run.search") == before
    SQLiteStorage(world / "run.search").close()  # and the writer lock was released


@pytest.mark.parametrize(("case", "kwargs", "builtin", "word"), RUN_ARGS, ids=[c[0] for c in RUN_ARGS])
def test_bad_run_arguments(world, case, kwargs, builtin, word):
    before = _snapshot(world / "run.search")
    with pytest.raises(ArchtuneError) as info:
        _run(world, **kwargs)
    _check(info.value, builtin, word)
    assert _snapshot(world / "run.search") == before


@pytest.mark.parametrize(("case", "call", "builtin", "word"), SPACE_ARGS, ids=[c[0] for c in SPACE_ARGS])
def test_bad_space_inputs(world, case, call, builtin, word):
    with pytest.raises(ArchtuneError) as info:
        call(world)
    _check(info.value, builtin, word)


def test_torch_is_a_range_not_a_pin():
    """A user's own torch (another version, a CUDA build) must be kept when archtune is installed."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    torch_req = next(Requirement(r) for r in project["dependencies"] if Requirement(r).name == "torch")
    for version in ("2.5.1", "2.13.0", "2.14.1", "3.0.0"):
        assert torch_req.specifier.contains(version), (str(torch_req), version)
