"""Product spaces (knobs, never listed) through the one search loop: create_search_space(knobs=...), the
space file, SearchInstance with two fidelities, resume after SIGKILL, executors, feasibility, clear errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from archtune import SearchInstance, create_search_space, load_search_space
from archtune.errors import ConfigError, SpaceError, SpaceFileError, UntrustedBuilderError
from archtune.space.product import ProductSpace
from archtune.storage.memory import MemoryStorage
from search_files import stored_trials

#: 4^20 * 8 = 8.8e12 encodings; the optimum alternates conv5/mbconv and takes the widest width
KNOBS = {
    **{f"layer{i}": ["conv3", "conv5", "skip", "mbconv"] for i in range(20)},
    "width": range(16, 129, 16),
}


def score(encoding: dict) -> float:
    hits = sum(encoding[f"layer{i}"] == ("mbconv" if i % 2 else "conv5") for i in range(20))
    return float(hits + encoding["width"] / 128)


def screen(encoding: dict) -> float:
    """A noisy, cheaper view of ``score`` (deterministic per encoding, as a lookup table's column)."""
    noise = np.random.default_rng(sum(ord(c) * (i + 1) for i, c in enumerate(str(sorted(encoding.items())))))
    return score(encoding) + float(noise.normal(0, 0.7))


def even_width(encoding: dict) -> bool:
    return encoding["width"] % 32 == 0


def test_knob_forms_make_one_product_space_with_ordered_numeric_features():
    space = create_search_space(
        "forms",
        None,
        knobs={
            "depth": [1, 2, 3, 4],
            "width": range(16, 65, 16),
            "ratio": {"low": 0.25, "high": 1.0, "step": 0.25},
            "lr": {"low": 1e-4, "high": 1e-1, "num": 4, "log": True},
            "block": ["conv", "mbconv"],
        },
    )
    assert isinstance(space, ProductSpace) and space.size == 4 * 4 * 4 * 4 * 2
    assert space.options[2] == (0.25, 0.5, 0.75, 1.0) and space.options[3] == (0.0001, 0.001, 0.01, 0.1)
    encoding = space.encodings[space.size - 1]
    assert encoding == {"depth": 4, "width": 64, "ratio": 1.0, "lr": 0.1, "block": "mbconv"}
    assert space.index[space.keys[77]] == 77 and space.index_of(space.encodings[77]) == 77
    features = space.features_of(np.arange(space.size))
    assert features.shape == (space.size, 4 + 2)  # four numeric knobs, one one-hot pair
    assert sorted(set(features[:, 3].tolist())) == pytest.approx(
        [0, 1 / 3, 2 / 3, 1], abs=1e-5
    )  # log-spaced lr
    # every index decodes to a distinct encoding and back
    keys = {space.keys[i] for i in range(space.size)}
    assert len(keys) == space.size


@pytest.mark.parametrize(
    "knobs, fragment",
    [
        ({}, "non-empty dict"),
        ({"depth": []}, "knob 'depth' has no options"),
        ({"depth": [1, 1]}, "lists an option twice"),
        ({"depth": 3}, "must be a list of choices"),
        ({"lr": {"low": 1, "high": 0, "num": 3}}, "low < high"),
        ({"lr": {"low": 0, "high": 1, "num": 3, "log": True}}, "log range needs low > 0"),
        ({"lr": {"low": 0, "high": 1}}, "numeric range is"),
        ({"w": [float("nan")]}, "not a finite number"),
        ({f"k{i}": list(range(10)) for i in range(19)}, "more than archtune indexes"),
    ],
)
def test_bad_knobs_are_one_line_errors_naming_the_knob(knobs, fragment):
    with pytest.raises(ConfigError, match=fragment) as err:
        create_search_space("bad", None, knobs=knobs)
    assert "\n" not in str(err.value)


def test_encodings_and_knobs_together_or_neither_are_refused():
    with pytest.raises(SpaceError, match="not both"):
        create_search_space("x", None, [(1,)], knobs={"a": [1]})
    with pytest.raises(SpaceError, match="knobs="):
        create_search_space("x", None)


def test_the_space_file_keeps_knobs_sample_metrics_and_surrogate_and_refuses_damage(tmp_path):
    path = tmp_path / "k.space"
    space = create_search_space("k", path, knobs={"w": [8, 16, 32, 64], "op": ["a", "b", "c"]})
    rows = [{"encoding": space.encodings[i], "params": float(i)} for i in range(0, 12, 2)]
    space.preprocess(pretraining_data=rows)
    loaded = load_search_space(path)
    assert isinstance(loaded, ProductSpace) and loaded.fingerprint() == space.fingerprint()
    assert loaded.metric_indices.tolist() == [0, 2, 4, 6, 8, 10]
    assert loaded.metrics["params"].tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert loaded.surrogate is not None and loaded.surrogate["metric_names"] == ["params"]
    raw = bytearray(path.read_bytes())
    at = raw.find(b'"options": [8, 16, 32, 64]')
    raw[at + 13] = ord("9")  # 8 -> 9 in the stored knobs: the checksum no longer matches
    (tmp_path / "damaged.space").write_bytes(bytes(raw))
    with pytest.raises(SpaceFileError, match="damaged or malformed"):
        load_search_space(tmp_path / "damaged.space")


def test_a_feasibility_function_is_kept_by_path_and_imported_only_when_trusted(tmp_path):
    path = tmp_path / "f.space"
    create_search_space("f", path, knobs={"width": [16, 32, 48, 64]}, feasible=even_width)
    untrusted = load_search_space(path)
    with pytest.raises(UntrustedBuilderError, match="feasibility function"):
        untrusted.allowed(0)
    trusted = load_search_space(path, trust_builder=True)
    assert [trusted.allowed(i) for i in range(4)] == [False, True, False, True]
    with pytest.raises(SpaceFileError, match="no import path"):
        create_search_space("f", tmp_path / "g.space", knobs={"width": [16, 32]}, feasible=lambda e: True)


def test_bo_with_two_fidelities_searches_a_10_to_the_12_space_and_never_repeats(tmp_path):
    space = create_search_space("big", tmp_path / "big.space", knobs=KNOBS)
    assert space.size > 10**12
    seen: list[dict] = []

    def objective(encoding):
        assert isinstance(encoding, dict) and set(encoding) == set(KNOBS)
        seen.append(encoding)
        return score(encoding)

    s = SearchInstance(
        "big", tmp_path / "big.search", tmp_path / "big.space", hi_fi_eval=objective, hi_fi_cost=10,
        lo_fi_eval=screen, lo_fi_cost=1, strategy="bo", progress=False, seed=1,
    )  # fmt: skip
    s.run_search(eval_budget=12)
    history = s.history()
    pairs = [(str(sorted(h["encoding"].items())), h["fidelity"]) for h in history]
    assert len(set(pairs)) == len(pairs)
    assert {h["fidelity"] for h in history} == {"lo", "hi"}
    random_values = [score(space.encodings[int(i)]) for i in space.draw(np.random.default_rng(0), 2000)]
    assert s.best()[1] > max(random_values)  # beyond 2,000 uniform draws, within 12 units
    s.close()


DRIVER = """
import sys
from archtune import SearchInstance
from test_product_space import score, screen

if __name__ == "__main__":
    s = SearchInstance("k", sys.argv[1], sys.argv[2], hi_fi_eval=score, hi_fi_cost=10, lo_fi_eval=screen,
                       lo_fi_cost=1, strategy="bo", seed=4, progress=False)
    s.run_search(eval_budget=float(sys.argv[3]))
"""


@pytest.mark.timeout(600)
def test_a_search_on_a_10_to_the_12_space_killed_three_times_resumes_to_the_uninterrupted_history(tmp_path):
    create_search_space("big", tmp_path / "big.space", knobs=KNOBS)
    (tmp_path / "driver.py").write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.path.dirname(__file__), *sys.path])}
    budget = "4"  # 20 screenings and 2 confirmations

    def start(search):
        cmd = [sys.executable, str(tmp_path / "driver.py"), str(search), str(tmp_path / "big.space"), budget]
        return subprocess.Popen(cmd, env=env, start_new_session=True)

    whole = start(tmp_path / "whole.search")
    assert whole.wait(timeout=300) == 0
    kills, seen = 0, []
    for wait_for in (3, 9, 15, None):
        proc = start(tmp_path / "cut.search")
        if wait_for is not None:
            deadline = time.monotonic() + 240
            while (
                proc.poll() is None
                and time.monotonic() < deadline
                and len(stored_trials(tmp_path / "cut.search") or []) < wait_for
            ):
                time.sleep(0.01)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                kills += 1
        proc.wait(timeout=300)
        now = stored_trials(tmp_path / "cut.search") or []
        assert now[: len(seen)] == seen, "a committed trial was lost or changed"
        seen = now
    assert kills == 3 and proc.returncode == 0
    assert seen == stored_trials(tmp_path / "whole.search")


def test_a_process_pool_runs_a_product_space_search_with_two_workers(tmp_path):
    space = create_search_space("big", None, knobs=KNOBS)
    s = SearchInstance(
        "pool", tmp_path / "p.search", space, hi_fi_eval=score, strategy="rea", executor="process", progress=False,
    )  # fmt: skip
    s.run_search(eval_budget=8, n_workers=2)
    assert len(s.history()) == 8 and all(h["status"] == "COMPLETE" for h in s.history())
    assert len({str(sorted(h["encoding"].items())) for h in s.history()}) == 8


def test_infeasible_combinations_are_never_proposed(tmp_path):
    space = create_search_space(
        "f", None, knobs={"width": [16, 32, 48, 64], "op": ["a", "b"]}, feasible=even_width
    )
    for strategy in ("bo", "random", "rea", "ls", "tnas"):
        s = SearchInstance(
            strategy, tmp_path / f"{strategy}.search", space, hi_fi_eval=lambda e: float(e["width"]),
            strategy=strategy, progress=False, storage=MemoryStorage(),
        )  # fmt: skip
        s.run_search(eval_budget=10)
        widths = sorted(h["encoding"]["width"] for h in s.history())
        assert widths == [32, 32, 64, 64], (
            strategy,
            widths,
        )  # the four feasible encodings, then nothing left


def test_bad_requests_on_a_product_space_are_clear_errors_and_an_extension_is_accepted(tmp_path):
    space = create_search_space("k", None, knobs={"w": [8, 16], "op": ["a", "b"]})
    space.preprocess(
        pretraining_data=[{"encoding": e, "params": float(e["w"])} for e in space.encodings], progress=False
    )
    common = dict(hi_fi_eval=lambda e: float(e["w"]), progress=False)
    categorical = create_search_space("c", None, knobs={"op": ["a", "b"], "act": ["relu", "gelu"]})
    with pytest.raises(ConfigError, match="the spline strategy needs at least one numeric knob"):
        SearchInstance("s", tmp_path / "s.search", categorical, strategy="spline", **common)
    with pytest.raises(ConfigError, match="objective 'flops' is not a zero-cost metric of the space"):
        SearchInstance(
            "c", tmp_path / "c.search", space, objectives={"value": "max", "flops": "min"}, **common
        )
    assert not (tmp_path / "s.search").exists() and not (tmp_path / "c.search").exists()
    s = SearchInstance("e", tmp_path / "e.search", space, strategy="random", **common)
    s.run_search(eval_budget=3)
    s.close()
    wider = create_search_space("k", None, knobs={"w": [8, 16, 32], "op": ["a", "b"]})
    with pytest.raises(ConfigError, match="extend_space=True"):
        SearchInstance("e", tmp_path / "e.search", wider, strategy="random", **common)
    narrower = create_search_space("k", None, knobs={"w": [16, 32], "op": ["a", "b"]})
    with pytest.raises(ConfigError, match="lost the option"):
        SearchInstance("e", tmp_path / "e.search", narrower, strategy="random", extend_space=True, **common)
    listed = create_search_space("k", None, [(8, "a")])
    with pytest.raises(ConfigError, match="started on a knobs space"):
        SearchInstance("e", tmp_path / "e.search", listed, strategy="random", **common)
    s = SearchInstance("e", tmp_path / "e.search", wider, strategy="random", extend_space=True, **common)
    assert len(s.history()) == 3
    s.run_search(eval_budget=6)
    assert len(s.history()) == 6 and any(h["encoding"]["w"] == 32 for h in s.history())
    s.close()


#: 8^6 = 262,144 encodings (listed it would be small; as knobs it is judged encoding by encoding)
WIDTHS = {f"w{k}": list(range(8, 65, 8)) for k in range(6)}


def params(encoding: dict) -> float:
    """A stand-in for a parameter count: the sum of squared widths, in thousands."""
    return sum(v * v for v in encoding.values()) / 1000


def widths_space(sample: int = 600) -> ProductSpace:
    space = create_search_space("widths", None, knobs=WIDTHS)
    rows = space.profile_sample(sample, seed=0)
    space.preprocess(
        pretraining_data=[
            {"encoding": space.encodings[i], "params": params(space.encodings[i])} for i in rows
        ],
        progress=False,
    )
    return space


def test_constraints_on_a_knobs_space_hold_for_measured_and_predicted_encodings(tmp_path):
    space = widths_space()
    limit = 8.0  # the widest network is 24.6; the objective wants every width at 64
    runs = {}
    for name, constraints in (("free", None), ("constrained", {"params": limit})):
        s = SearchInstance(
            name, tmp_path / f"{name}.search", space, hi_fi_eval=lambda e: sum(e.values()) / 64,
            constraints=constraints, progress=False, storage=MemoryStorage(),
        )  # fmt: skip
        s.run_search(eval_budget=25)
        runs[name] = [params(h["encoding"]) for h in s.history()]
    assert max(runs["free"]) > 2 * limit  # unconstrained, BO heads for the widest networks
    over = [p for p in runs["constrained"] if p > limit]
    assert len(over) <= 3 and max(runs["constrained"]) < 1.25 * limit, runs[
        "constrained"
    ]  # predicted: near the line
    assert max(runs["constrained"]) > 0.7 * limit  # and not timid: it goes up to the limit


def test_knob_constraints_trust_a_measurement_over_the_prediction_and_refuse_bad_input():
    from archtune.search.constraints import KnobConstraints

    space = widths_space()
    check = KnobConstraints(space, {"params": 8.0})
    measured = space.metric_indices
    truth = space.metrics["params"] <= 8.0
    assert (check(measured) == truth).all()  # every profiled encoding judged by its measurement
    drawn = space.draw(np.random.default_rng(5), 400)
    agree = check(drawn) == np.array([params(space.encodings[i]) <= 8.0 for i in drawn])
    assert agree.mean() > 0.9  # the pretrained head judges the rest
    with pytest.raises(ConfigError, match="unknown constraint metric 'flops'; this space has: params"):
        KnobConstraints(space, {"flops": 1.0})
    with pytest.raises(ConfigError, match="no encoding satisfies the constraints"):
        KnobConstraints(space, {"params": 0.1})
    with pytest.raises(ConfigError, match="run space.preprocess"):
        bare = create_search_space("b", None, knobs=WIDTHS)
        bare.set_pretraining_data([{"encoding": bare.encodings[0], "params": 1.0}])
        KnobConstraints(bare, {"params": 8.0})


def _linear_unless_16(encoding):
    from torch import nn

    if encoding["w"] == 16:
        raise RuntimeError("width 16 cannot be built")
    return nn.Linear(4, encoding["w"])


def test_profiling_a_knobs_space_warns_of_builder_failures_and_excludes_them():
    import torch

    space = create_search_space(
        "b", None, knobs={"w": [8, 16, 32], "op": ["a", "b"]}, encoding_to_net=_linear_unless_16
    )
    with pytest.warns(
        UserWarning,
        match=r"encoding_to_net failed for 2 encoding\(s\).*width 16 cannot be built.*ProductSpace.excluded",
    ):
        space.preprocess(sample_input=torch.rand(2, 4), sample_size=6, progress=False, latency_repeats=1)
    assert sorted(space.encodings[i]["w"] for i in space.excluded) == [16, 16]
    assert all(not space.allowed(i) for i in space.excluded) and len(space.metric_indices) == 6
    broken = create_search_space("c", None, knobs={"w": [16]}, encoding_to_net=_linear_unless_16)
    with pytest.raises(
        SpaceError, match="encoding_to_net failed for every profiled encoding; first: .*width 16"
    ):
        broken.preprocess(sample_input=torch.rand(2, 4), sample_size=1, progress=False, latency_repeats=1)


@pytest.mark.parametrize("strategy", ["bo", "rea-mo"])
def test_a_zero_cost_objective_on_a_knobs_space_gives_a_front_of_measured_or_predicted_values(
    tmp_path, strategy
):
    from archtune.strategy.mo_evolution import MultiObjectiveEvolution

    space = widths_space()
    s = SearchInstance(
        "mo", tmp_path / "mo.search", space, hi_fi_eval=lambda e: sum(e.values()) / 64,
        objectives={"value": "max", "params": "min"}, progress=False, storage=MemoryStorage(),
        strategy=MultiObjectiveEvolution(population=10, sample=4, n_init=5) if strategy == "rea-mo" else strategy,
    )  # fmt: skip
    s.run_search(eval_budget=30)
    front = s.pareto()
    assert len(front) >= 4  # a trade-off, not one corner
    values = [v for _, v in front]
    assert all(
        a["value"] > b["value"] and a["params"] > b["params"]
        for a, b in zip(values, values[1:], strict=False)
    )
    profiled = {
        space.keys[i]: float(m) for i, m in zip(space.metric_indices, space.metrics["params"], strict=True)
    }
    for h in s.history():  # every record holds its known objective: the measurement where there is one
        key = space.keys[space.index_of(h["encoding"])]
        if key in profiled:
            assert h["metrics"]["params"] == profiled[key]
        assert (
            abs(h["metrics"]["params"] - params(h["encoding"])) < 3.0
        )  # predicted: near the truth (0.3-24.6)
    with pytest.raises(ConfigError, match="use pareto"):
        s.best()
