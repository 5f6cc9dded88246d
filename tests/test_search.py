from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from archtune import ConfigError, SearchInstance, SearchLockedError, SearchStoppedError, create_search_space
from archtune.bench.nb201 import LO_FI_COST, nb201_objectives, nb201_optimum
from archtune.errors import ObjectiveContractError
from archtune.space.search_space import load_search_space


def _square_space(tmp_path):
    encs = [(a, b) for a in range(6) for b in ("x", "y", "z")]
    path = tmp_path / "sq.space"
    create_search_space("sq", path, encs)
    return str(path)


def _objective(enc):
    return -((enc[0] - 4) ** 2) + {"x": 0.0, "y": 0.5, "z": 0.1}[enc[1]]


def test_seed_api_verbatim(tmp_path):
    os.chdir(tmp_path)
    encodings = [(w, d) for w in (4, 8) for d in (1, 2, 3)]

    def encoding_to_net(enc):
        w, d = enc
        layers = [torch.nn.Conv2d(3, w, 3)] + [torch.nn.Conv2d(w, w, 3, padding=1) for _ in range(d - 1)]
        return torch.nn.Sequential(*layers)

    def hi_fi_eval(enc):
        return float(enc[0] * enc[1])

    def lo_fi_eval(enc):
        return float(enc[0] * enc[1]) + 0.5

    ss = create_search_space(
        name="m1", save_filename="m1.space", encodings=encodings, encoding_to_net=encoding_to_net
    )
    ss.preprocess(sample_input=torch.rand(2, 3, 16, 16), threads=2)
    s = SearchInstance(
        name="run1",
        save_filename="run1.search",
        search_space_filename="m1.space",
        hi_fi_eval=hi_fi_eval,
        hi_fi_cost=240,
        lo_fi_eval=lo_fi_eval,
        lo_fi_cost=12,
    )
    s.run_search(eval_budget=3)
    best = s.best()
    assert best is not None and best[1] == max(
        hi_fi_eval(e) for e in [h["encoding"] for h in s.history() if h["fidelity"] == "hi"]
    )
    spent = sum(h["cost"] for h in s.history())
    assert spent <= 3 * 240
    s.close()


def test_budget_is_total_and_resume_pays_nothing_twice(tmp_path):
    space = _square_space(tmp_path)
    calls = []

    def hi(enc):
        calls.append(enc)
        return _objective(enc)

    s = SearchInstance("r", tmp_path / "r.search", space, hi_fi_eval=hi, strategy="random", progress=False)
    s.run_search(eval_budget=5)
    s.close()
    assert len(calls) == 5
    s = SearchInstance("r", tmp_path / "r.search", space, hi_fi_eval=hi, strategy="random", progress=False)
    s.run_search(eval_budget=5)
    assert len(calls) == 5  # already spent
    s.run_search(eval_budget=8)
    assert len(calls) == 8 and len({tuple(c) for c in calls}) == 8
    s.close()


def test_failures_are_recorded_and_search_goes_on(tmp_path):
    space = _square_space(tmp_path)

    def flaky(enc):
        if enc[0] == 0:
            raise RuntimeError("boom")
        if enc[0] == 1:
            return float("nan")
        if enc[0] == 2:
            time.sleep(2)
        return _objective(enc)

    s = SearchInstance(
        "f",
        tmp_path / "f.search",
        space,
        hi_fi_eval=flaky,
        strategy="random",
        time_limit=0.5,
        progress=False,
        max_consecutive_failures=100,
    )
    s.run_search(eval_budget=18)
    hist = s.history()
    assert len(hist) == 18
    failed = [h for h in hist if h["status"] == "FAILED"]
    assert {h["encoding"][0] for h in failed} == {0, 1, 2}
    assert any("RuntimeError: boom" in h["error"] for h in failed)
    assert any("non-finite" in h["error"] for h in failed)
    assert any("time limit" in h["error"] for h in failed)
    assert s.best()[0] == (4, "y")
    s.close()


def test_consecutive_failures_stop_with_clear_message(tmp_path):
    space = _square_space(tmp_path)

    def broken(enc):
        raise ValueError("dataset not found")

    s = SearchInstance(
        "b", tmp_path / "b.search", space, hi_fi_eval=broken, strategy="random", progress=False
    )
    with pytest.raises(SearchStoppedError, match="5 evaluations failed in a row(.|\n)*dataset not found"):
        s.run_search(eval_budget=18)
    assert len(s.history()) == 5
    s.close()


def test_dict_objective_and_missing_key(tmp_path):
    space = _square_space(tmp_path)
    s = SearchInstance(
        "d",
        tmp_path / "d.search",
        space,
        hi_fi_eval=lambda e: {"acc": _objective(e), "loss": 1.0},
        objective_key="acc",
        strategy="random",
        progress=False,
    )
    s.run_search(eval_budget=3)
    assert all(h["metrics"]["loss"] == 1.0 for h in s.history())
    s.close()
    s = SearchInstance(
        "d2",
        tmp_path / "d2.search",
        space,
        hi_fi_eval=lambda e: {"acc": 1.0},
        strategy="random",
        progress=False,
    )
    with pytest.raises(ObjectiveContractError, match="without the key 'value'"):  # at the first call
        s.run_search(eval_budget=25)
    assert s.history() == []
    s.close()


def test_a_space_object_in_the_file_names_place_is_taken_as_is(tmp_path):
    space = load_search_space(_square_space(tmp_path))
    s = SearchInstance("x", tmp_path / "x.search", space, hi_fi_eval=_objective, progress=False)
    s.run_search(eval_budget=3)
    assert len(s.history()) == 3 and s.space is space
    s.close()
    with pytest.raises(ConfigError, match="give one search space"):
        SearchInstance("x", tmp_path / "y.search", space, hi_fi_eval=_objective, search_space=space)


def test_bad_configuration_fails_at_once(tmp_path):
    space = _square_space(tmp_path)
    with pytest.raises(ConfigError, match="hi_fi_cost"):
        SearchInstance("x", tmp_path / "x.search", space, hi_fi_eval=_objective, hi_fi_cost=0)
    with pytest.raises(ConfigError, match="both lo_fi_eval and lo_fi_cost"):
        SearchInstance("x", tmp_path / "x.search", space, hi_fi_eval=_objective, lo_fi_eval=_objective)
    with pytest.raises(ConfigError, match="below hi_fi_cost"):
        SearchInstance(
            "x", tmp_path / "x.search", space, hi_fi_eval=_objective, lo_fi_eval=_objective, lo_fi_cost=2
        )
    with pytest.raises(KeyError, match="unknown strategy 'nope'; valid: bo, ls, random, rea, spline"):
        SearchInstance("x", tmp_path / "x.search", space, hi_fi_eval=_objective, strategy="nope")
    s = SearchInstance("x", tmp_path / "y.search", space, hi_fi_eval=_objective, seed=1, progress=False)
    s.close()
    with pytest.raises(ConfigError, match="seed=1, not 2"):
        SearchInstance("x", tmp_path / "y.search", space, hi_fi_eval=_objective, seed=2)


def test_second_writer_gets_clear_error(tmp_path):
    space = _square_space(tmp_path)
    code = textwrap.dedent(f"""
        import time
        from archtune import SearchInstance
        s = SearchInstance("w", {str(tmp_path / "w.search")!r}, {space!r}, hi_fi_eval=lambda e: 1.0, strategy="random")
        print("open", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "open"
        with pytest.raises(SearchLockedError, match="open for writing in another process"):
            SearchInstance("w", tmp_path / "w.search", space, hi_fi_eval=_objective, strategy="random")
    finally:
        proc.kill()
        proc.wait()
    # the holder died by SIGKILL: the file opens again
    SearchInstance(
        "w", tmp_path / "w.search", space, hi_fi_eval=_objective, strategy="random", progress=False
    ).close()


def test_space_that_gained_encodings_keeps_history(tmp_path):
    path = tmp_path / "g.space"
    create_search_space("g", path, [(a,) for a in range(5)])
    s = SearchInstance(
        "g", tmp_path / "g.search", path, hi_fi_eval=lambda e: float(e[0]), strategy="random", progress=False
    )
    s.run_search(eval_budget=5)
    s.close()
    create_search_space("g", path, [(a,) for a in range(8)])
    s = SearchInstance(
        "g",
        tmp_path / "g.search",
        path,
        hi_fi_eval=lambda e: float(e[0]),
        strategy="random",
        progress=False,
        extend_space=True,
    )
    s.run_search(eval_budget=8)
    encs = [h["encoding"] for h in s.history()]
    assert sorted(encs) == [(a,) for a in range(8)]
    assert s.best() == ((7,), 7.0)
    s.close()


KILL_SCRIPT = """
import sys, json, numpy as np, torch
torch.set_num_threads(1)
from archtune import SearchInstance, create_search_space
from archtune.bench.nb201 import nb201_objectives, LO_FI_COST
encodings, metrics = json.load(open(sys.argv[1]))
ss = create_search_space("k", None, [tuple(e) for e in encodings],
                         pretraining_data={k: np.asarray(v) for k, v in metrics.items()})
hi, lo = nb201_objectives("cifar10")
s = SearchInstance("k", sys.argv[2], search_space=ss, hi_fi_eval=hi, lo_fi_eval=lo, lo_fi_cost=LO_FI_COST, seed=3,
                   progress=False)
s.run_search(eval_budget=float(sys.argv[3]))
"""


def _history_of(path):
    from archtune.search.instance import SQLiteStorage

    st = SQLiteStorage(path, read_only=True)
    try:
        return [(t.key, t.fidelity, t.value) for t in st.trials()]
    finally:
        st.close()


def _trials_in(path):
    """Trials stored so far (-1 while the file does not exist yet or cannot be read)."""
    try:
        return len(_history_of(path)) if os.path.exists(path) else -1
    except Exception:  # busy mid-write: ask again on the next poll
        return -1


def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(tmp_path, nb201_small):
    encodings, metrics = nb201_small
    data = tmp_path / "space.json"
    data.write_text(json.dumps([[list(e) for e in encodings], {k: v.tolist() for k, v in metrics.items()}]))
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    budget = "4"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(
        [sys.executable, str(script), str(data), str(tmp_path / "ref.search"), budget], check=True, env=env
    )
    reference = _history_of(tmp_path / "ref.search")
    assert len(reference) > 20
    rng = random.Random(7)
    kills, killed_at = 0, []
    for attempt in range(
        4
    ):  # killed three times a random number of new trials in (mid-search), then left to finish
        stored = _trials_in(tmp_path / "k.search")
        target = max(stored, 0) + rng.randint(1, 5) if attempt < 3 else math.inf
        proc = subprocess.Popen(
            [sys.executable, str(script), str(data), str(tmp_path / "k.search"), budget], env=env
        )
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if _trials_in(tmp_path / "k.search") >= target:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                killed_at.append(target)
                break
            time.sleep(0.01)
        if proc.returncode == 0:
            break
    assert kills == 3 and killed_at[-1] < len(reference), killed_at
    assert proc.returncode == 0
    assert _history_of(tmp_path / "k.search") == reference


@pytest.mark.slow
def test_bo_finds_nb201_optimum_on_small_budget(nb201_small, tmp_path):
    """Slow (about 25 s a seed here, 60 s in CI): CI checks BO against random with a bootstrap margin in
    test_short_benchmark_bo_beats_random_on_full_nb201 instead.

    Margin: on these 801 cells BO found the optimum within 25 units for 5 of seeds 0-9 (on this machine; the
    ensemble's float arithmetic, hence which seeds succeed, differs between CPUs). Random search finds a
    given cell among 801 within 25 evaluations with probability 3%, so 3 or more of 10 happens with
    probability 0.3%; at BO's rate of one in two it happens with probability 95%.
    """
    encodings, metrics = nb201_small
    ss = create_search_space("nb", None, encodings, pretraining_data=metrics)
    hi, lo = nb201_objectives("cifar10")
    found = []
    for seed in range(10):
        s = SearchInstance(
            "b",
            tmp_path / f"{seed}.search",
            search_space=ss,
            hi_fi_eval=hi,
            lo_fi_eval=lo,
            lo_fi_cost=LO_FI_COST,
            seed=seed,
            progress=False,
        )
        s.run_search(eval_budget=25)
        found.append(math.isclose(s.best()[1], nb201_optimum("cifar10")))
        s.close()
    assert sum(found) >= 3, found


def test_bo_beats_random_mean_best(nb201_small, tmp_path):
    encodings, metrics = nb201_small
    ss = create_search_space("nb", None, encodings, pretraining_data=metrics)
    hi, _ = nb201_objectives("cifar100")
    best = {"bo": [], "random": []}
    for strategy in best:
        for seed in range(4):
            s = SearchInstance(
                "c",
                tmp_path / f"{strategy}{seed}.search",
                search_space=ss,
                hi_fi_eval=hi,
                seed=seed,
                strategy=strategy,
                progress=False,
            )
            # 25: the one-fidelity default (the GP) spends its first 10 at random
            s.run_search(eval_budget=25)
            best[strategy].append(s.best()[1])
            s.close()
    assert np.mean(best["bo"]) > np.mean(best["random"]) + 0.5, best


def test_executor_keeps_k_in_flight_without_duplicates(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    space = _square_space(tmp_path)
    with ThreadPoolExecutor(3) as pool:
        s = SearchInstance(
            "e",
            tmp_path / "e.search",
            space,
            hi_fi_eval=_objective,
            strategy="random",
            executor=pool,
            progress=False,
        )
        s.run_search(eval_budget=12, n_workers=3)
        encs = [h["encoding"] for h in s.history()]
        s.close()
    assert len(encs) == 12 and len(set(encs)) == 12


def test_constraints_keep_the_search_inside_the_limits(nb201_small, tmp_path):
    encodings, metrics = nb201_small
    ss = create_search_space("nb", None, encodings, pretraining_data=metrics)
    hi, _ = nb201_objectives("cifar10")
    limit = float(np.quantile(metrics["lat_pixel3"], 0.3))
    feasible = {e for e, lat in zip(encodings, metrics["lat_pixel3"], strict=True) if lat <= limit}
    s = SearchInstance(
        "k",
        tmp_path / "k.search",
        search_space=ss,
        hi_fi_eval=hi,
        strategy="random",
        constraints={"lat_pixel3": limit},
        progress=False,
    )
    s.run_search(eval_budget=60)
    assert {tuple(h["encoding"]) for h in s.history()} <= feasible and len(s.history()) == 60
    s.close()
    with pytest.raises(ConfigError, match="started with constraints"):
        SearchInstance(
            "k",
            tmp_path / "k.search",
            search_space=ss,
            hi_fi_eval=hi,
            strategy="random",
            constraints={"lat_pixel3": limit + 1},
            progress=False,
        )
    with pytest.raises(
        ConfigError, match="unknown constraint metric 'latency'; this space has: lat_1080ti_1"
    ):
        SearchInstance("u", tmp_path / "u.search", search_space=ss, hi_fi_eval=hi, constraints={"latency": 1})
    with pytest.raises(ConfigError, match="no encoding satisfies"):
        SearchInstance(
            "u", tmp_path / "u.search", search_space=ss, hi_fi_eval=hi, constraints={"lat_pixel3": 0}
        )
    with pytest.raises(ConfigError, match="must be a number"):
        SearchInstance(
            "u", tmp_path / "u.search", search_space=ss, hi_fi_eval=hi, constraints={"lat_pixel3": "x"}
        )


def test_constraint_on_unmeasured_encodings_uses_the_surrogate():
    from archtune.search.constraints import feasible_mask

    widths = list(range(1, 41))
    ss = create_search_space("w", None, [(w,) for w in widths])
    # only even widths were profiled; latency grows with width
    ss.preprocess(
        pretraining_data={"latency": [float(w) if w % 2 == 0 else np.nan for w in widths]}, progress=False
    )
    mask = feasible_mask(ss, {"latency": 20.5})
    odd = [w for w in widths if w % 2]
    assert all(mask[w - 1] for w in odd if w <= 15) and not any(mask[w - 1] for w in odd if w >= 27)
    assert [w for w in widths if w % 2 == 0 and mask[w - 1]] == list(range(2, 21, 2))  # measured ones decide
    bare = create_search_space(
        "b", None, [(w,) for w in widths], pretraining_data={"latency": [1.0] + [np.nan] * 39}
    )
    with pytest.raises(ConfigError, match="39 encodings have no 'latency' value"):
        feasible_mask(bare, {"latency": 2})
