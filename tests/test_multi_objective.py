"""Multi-objective search: objectives=, pareto(), minimisation, EHVI in BO, resume, status."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from archtune import ConfigError, SearchInstance, create_search_space
from archtune.bench.nb201 import LO_FI_COST, nb201_objectives
from archtune.search.instance import search_summary
from archtune.strategy.hypervolume import expected_hvi_2d
from archtune.strategy.pareto import hypervolume_2d, non_dominated


def _space(tmp_path, n=30):
    path = tmp_path / "w.space"
    create_search_space(
        "w",
        path,
        [(w,) for w in range(1, n + 1)],
        pretraining_data={
            "latency_ms": [float(w) for w in range(1, n + 1)],
            "params": [float(w * w) for w in range(1, n + 1)],
        },
    )
    return str(path)


def _acc(enc):
    return 1.0 - 1.0 / enc[0]


def test_non_dominated_and_hypervolume_against_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(5):
        pts = rng.random((60, 2))
        mask = non_dominated(pts, ["max", "min"])
        q = pts * np.array([1.0, -1.0])
        brute = [not any((q[j] >= q[i]).all() and (q[j] > q[i]).any() for j in range(60)) for i in range(60)]
        assert mask.tolist() == brute
        grid = rng.random((100_000, 2))
        covered = np.zeros(len(grid), dtype=bool)
        for x, y in pts[mask]:
            covered |= (grid[:, 0] <= x) & (grid[:, 1] >= y)
        assert hypervolume_2d(pts, ["max", "min"], [0.0, 1.0]) == pytest.approx(covered.mean(), abs=0.01)


def test_expected_hvi_equals_the_hypervolume_gained():
    rng = np.random.default_rng(4)
    front = rng.random((40, 2))
    front = front[non_dominated(front, ["max", "max"])]
    samples, known = rng.random((3, 9)), rng.random(9)
    base = hypervolume_2d(front, ["max", "max"], [0, 0])
    want = [
        np.mean(
            [
                hypervolume_2d(np.vstack([front, [samples[m, c], known[c]]]), ["max", "max"], [0, 0]) - base
                for m in range(3)
            ]
        )
        for c in range(9)
    ]
    assert np.allclose(expected_hvi_2d(samples, known, front, np.array([0.0, 0.0])), want)


def test_pareto_reads_returned_and_zero_cost_objectives(tmp_path):
    space = _space(tmp_path, n=12)

    def objective(enc):  # returns its own "energy"; latency comes from the space
        return {"value": _acc(enc), "energy": float(enc[0] % 4)}

    s = SearchInstance(
        "mo",
        tmp_path / "mo.search",
        space,
        hi_fi_eval=objective,
        strategy="random",
        progress=False,
        objectives={"value": "max", "latency_ms": "min"},
    )
    s.run_search(eval_budget=12)
    front = s.pareto()
    assert len(front) == 12  # every width trades accuracy for latency
    assert front[0] == ((12,), {"value": _acc((12,)), "latency_ms": 12.0})
    with pytest.raises(ConfigError, match="use pareto"):
        s.best()
    s.close()
    summary = search_summary(tmp_path / "mo.search")
    assert len(summary["pareto"]) == 12 and summary["objectives"] == {"value": "max", "latency_ms": "min"}
    out = subprocess.run(
        [sys.executable, "-m", "archtune.cli", "status", str(tmp_path / "mo.search")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "Pareto front" in out.stdout, out.stderr


def test_a_single_objective_may_be_minimised(tmp_path):
    s = SearchInstance(
        "min",
        tmp_path / "min.search",
        _space(tmp_path),
        hi_fi_eval=lambda e: (e[0] - 7) ** 2 + 0.5,
        strategy="random",
        progress=False,
        objectives={"loss": "min"},
    )
    s.run_search(eval_budget=30)
    assert s.best() == ((7,), 0.5)
    assert search_summary(tmp_path / "min.search")["best"]["value"] == 0.5
    s.close()


def test_bad_objectives_are_config_errors(tmp_path):
    space = _space(tmp_path)
    for objectives, message in [
        ({"value": "maximise"}, "'max' or 'min'"),
        ({"latency_ms": "min", "params": "min"}, "name the one your objective returns"),
        (
            {"value": "max", "energy": "min"},
            "'energy' is not a zero-cost metric of the space .it has: latency_ms, params",
        ),
        ([("value", "max")], "objectives must be a non-empty dict"),
    ]:
        with pytest.raises(ConfigError, match=message):
            SearchInstance("x", tmp_path / "x.search", space, hi_fi_eval=_acc, objectives=objectives)
    from archtune.strategy.bo import BayesianOptimization

    with pytest.raises(ConfigError, match="front_acquisition='ehvi' takes two objectives"):
        SearchInstance(
            "x",
            tmp_path / "x.search",
            space,
            hi_fi_eval=_acc,
            strategy=BayesianOptimization(front_acquisition="ehvi"),
            objectives={"value": "max", "latency_ms": "min", "params": "min"},
        )
    assert not (tmp_path / "x.search").exists()
    s = SearchInstance(
        "x",
        tmp_path / "x.search",
        space,
        hi_fi_eval=_acc,
        strategy="random",
        progress=False,
        objectives={"value": "max", "latency_ms": "min"},
    )
    s.close()
    with pytest.raises(ConfigError, match="started with objectives="):
        SearchInstance("x", tmp_path / "x.search", space, hi_fi_eval=_acc, strategy="random")


def _nb201_mo_space(nb201_small):
    encodings, metrics = nb201_small
    return create_search_space("k", None, encodings, pretraining_data=metrics)


@pytest.mark.parametrize("front_acquisition", ["parego", "ehvi"])
def test_bo_finds_more_of_the_front_than_random(nb201_small, tmp_path, front_acquisition):
    """NB201 (800 cells) accuracy against lat_pixel3: BO's front covers more hypervolume than random's,
    by scalarisations (the default) and by hypervolume improvement."""
    from archtune.strategy.bo import BayesianOptimization

    space = _nb201_mo_space(nb201_small)
    hi, lo = nb201_objectives("cifar10")
    acc = np.array([hi(e) for e in space.encodings])
    lat = space.metrics["lat_pixel3"]
    true = np.stack([acc, lat], axis=1)
    reference = [acc.min(), lat.max()]
    hv_true = hypervolume_2d(true, ["max", "min"], reference)
    regrets = {}
    for strategy in ("bo", "random"):
        runs = []
        for seed in range(2):
            s = SearchInstance(
                strategy,
                tmp_path / f"{strategy}{seed}.search",
                space,
                hi_fi_eval=hi,
                lo_fi_eval=lo,
                lo_fi_cost=LO_FI_COST,
                strategy=BayesianOptimization(front_acquisition=front_acquisition)
                if strategy == "bo"
                else strategy,
                seed=seed,
                progress=False,
                objectives={"value": "max", "lat_pixel3": "min"},
            )
            s.run_search(eval_budget=20)
            front = np.array([[v["value"], v["lat_pixel3"]] for _, v in s.pareto()])
            runs.append(1 - hypervolume_2d(front, ["max", "min"], reference) / hv_true)
            s.close()
        regrets[strategy] = float(np.mean(runs))
    assert regrets["bo"] < 0.5 * regrets["random"], regrets


MO_KILL = """
import sys, json, numpy as np
from archtune import SearchInstance, create_search_space
from archtune.bench.nb201 import nb201_objectives, LO_FI_COST
encodings, metrics = json.load(open(sys.argv[1]))
ss = create_search_space("k", None, [tuple(e) for e in encodings], pretraining_data={k: np.asarray(v) for k, v in metrics.items()})
hi, lo = nb201_objectives("cifar10")
s = SearchInstance("k", sys.argv[2], search_space=ss, hi_fi_eval=hi, lo_fi_eval=lo, lo_fi_cost=LO_FI_COST, seed=1,
                   progress=False, objectives={"value": "max", "lat_pixel3": "min"})
s.run_search(eval_budget=float(sys.argv[3]))
"""


def _trials(path):
    import sqlite3

    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return conn.execute(
                "SELECT encoding, fidelity, value, metrics FROM trials ORDER BY number"
            ).fetchall()
    except sqlite3.Error:
        return []


def test_multi_objective_bo_killed_twice_resumes_to_the_same_history(nb201_small, tmp_path):
    import os
    import signal
    import time

    encodings, metrics = nb201_small
    data = tmp_path / "space.json"
    data.write_text(json.dumps([[list(e) for e in encodings], {k: v.tolist() for k, v in metrics.items()}]))
    script = tmp_path / "run.py"
    script.write_text(MO_KILL)
    budget = "2"
    subprocess.run(
        [sys.executable, str(script), str(data), str(tmp_path / "ref.search"), budget],
        check=True,
        timeout=600,
    )
    reference = _trials(tmp_path / "ref.search")
    kills = 0
    for attempt in range(3):  # SIGKILLed twice after a few new trials, then left to finish
        target = len(_trials(tmp_path / "k.search")) + 3 if attempt < 2 else None
        proc = subprocess.Popen([sys.executable, str(script), str(data), str(tmp_path / "k.search"), budget])
        deadline = time.monotonic() + 300
        while target is not None and proc.poll() is None and time.monotonic() < deadline:
            if len(_trials(tmp_path / "k.search")) >= target:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.02)
        proc.wait(timeout=600)
    assert kills == 2 and proc.returncode == 0
    assert _trials(tmp_path / "k.search") == reference
    assert len(reference) > 10


def test_nb201_mo_scores_every_method_through_the_search_loop_and_the_optuna_peers_need_a_known_objective():
    from archtune.strategy.base import Fidelity, SearchContext
    from archtune_experiments.tabular.multi_objective import run_one
    from archtune_experiments.tabular.peers import OptunaMultiObjectivePeer

    runs = {
        name: run_one(name, "cifar10", "lat_pixel3", 0, 25) for name in ("nsga2", "motpe", "rea-mo", "random")
    }
    for name, r in runs.items():
        assert r["hi_evaluations"] == 25 and set(r["hv_regret"]) == {"25"}, name
        assert 0 <= r["hv_regret"]["25"] <= 1 and r["s_per_step"] > 0, name
    again = run_one("nsga2", "cifar10", "lat_pixel3", 0, 25)  # seeded: the same trajectory, step time aside
    assert {k: v for k, v in again.items() if k != "s_per_step"} == {
        k: v for k, v in runs["nsga2"].items() if k != "s_per_step"
    }
    peer = OptunaMultiObjectivePeer("nsga2", encodings=[("a",), ("b",)])
    with pytest.raises(ConfigError, match="needs one zero-cost objective beside the learned one"):
        peer.setup(SearchContext(np.zeros((2, 1), np.float32), [Fidelity("hi", 1.0)]))


@pytest.mark.parametrize(
    ("known", "given", "share"), [(False, None, 0.5), (True, None, 0.1), (True, 0.3, 0.3)]
)
def test_bo_screens_a_tenth_of_a_fronts_budget_unless_told(known, given, share):
    """A front is made of high-fidelity values, so BO's default screening share is 0.1 for one, 0.5 for
    one objective; lo_fi_share= overrides both. The spending follows the share."""
    from archtune.strategy.base import Fidelity, Observation, SearchContext
    from archtune.strategy.bo import BayesianOptimization

    features = np.linspace(0, 1, 400, dtype=np.float32)[:, None]
    latency = np.linspace(1, 2, 400)[:, None]
    bo = BayesianOptimization(n_init=2, lo_fi_share=given, acquisition="mean")
    context = SearchContext(
        features, [Fidelity("lo", 0.2), Fidelity("hi", 1.0)], known_objectives=-latency if known else None
    )
    bo.setup(context)
    assert bo.screen_share == share
    spent = {"lo": 0.0, "hi": 0.0}
    for _ in range(50):
        (s,) = bo.ask(1)
        bo.tell(Observation(s.index, s.fidelity, float(features[s.index, 0]), context.cost_of(s.fidelity)))
        spent[s.fidelity] += context.cost_of(s.fidelity)
    total = sum(spent.values())
    assert total > 10 and abs(spent["lo"] - share * total) <= 1.0 + 1e-9, spent  # within one evaluation


def test_chebyshev_improvement_rewards_only_what_beats_the_best_scalarised_result():
    from archtune.strategy.scalarisation import chebyshev, chebyshev_improvement, draw_weights

    seen = np.array([[0.5, -2.0, -2.0]])  # (accuracy, -latency, -params), maximised form
    known = np.array([[-1.0, -1.0], [-3.0, -3.0]])  # candidate 0 better than seen on both, 1 worse on both
    certain = np.array([[0.6, 0.4]] * 4)  # members agree: no uncertainty
    weights = draw_weights(np.random.default_rng(0), 3)
    assert weights.shape == (3,) and abs(weights.sum() - 1) < 1e-12 and (weights > 0).all()
    scores = chebyshev_improvement(certain, known, seen, weights)
    assert scores[0] > 0 and scores[1] == 0  # a dominating point improves every scalarisation
    unsure = np.array([[0.4, 0.4], [0.4, 3.0]])  # candidate 1 may be far more accurate
    accuracy_first = np.array([0.8, 0.1, 0.1])  # a scalarisation that weighs the accuracy most
    assert chebyshev_improvement(certain, known, seen, accuracy_first)[1] == 0
    assert chebyshev_improvement(unsure, known, seen, accuracy_first)[1] > 0
    from archtune.strategy.bo import BayesianOptimization

    with pytest.raises(ConfigError, match="front_acquisition must be one of"):
        BayesianOptimization(front_acquisition="hypervolume")
    # the ideal scores 0 (before the sum term), the nadir the most
    assert chebyshev(np.ones(3), weights) == 0 and chebyshev(np.zeros(3), weights) > chebyshev(
        np.full(3, 0.5), weights
    )


def _hypervolume_3d(points, reference):
    """Exact volume dominated by maximised points above ``reference``, by slices along the last axis."""
    pts = points[np.all(points > reference, axis=1)]
    levels = np.sort(np.unique(pts[:, 2]))[::-1]
    volume = 0.0
    for k, z in enumerate(levels):
        below = levels[k + 1] if k + 1 < len(levels) else reference[2]
        slab = pts[pts[:, 2] >= z][:, :2]
        volume += hypervolume_2d(slab, ["max", "max"], reference[:2]) * (z - below)
    return volume


def test_bo_searches_a_front_of_three_objectives_by_scalarisations(nb201_small, tmp_path):
    """Accuracy against the latencies of two devices: BO (ParEGO for more than two objectives) covers
    more of the three-dimensional front's volume than random search."""
    space = _nb201_mo_space(nb201_small)
    hi, lo = nb201_objectives("cifar10")
    acc = np.array([hi(e) for e in space.encodings])
    cols = ("lat_pixel3", "lat_eyeriss")
    true = np.stack([acc, -space.metrics[cols[0]], -space.metrics[cols[1]]], axis=1)
    reference = true.min(axis=0)
    whole = _hypervolume_3d(true, reference)
    regrets = {}
    for strategy in ("bo", "random"):
        runs = []
        for seed in range(2):
            s = SearchInstance(
                strategy, tmp_path / f"{strategy}{seed}.search", space, hi_fi_eval=hi, lo_fi_eval=lo,
                lo_fi_cost=LO_FI_COST, strategy=strategy, seed=seed, progress=False,
                objectives={"value": "max", cols[0]: "min", cols[1]: "min"},
            )  # fmt: skip
            s.run_search(eval_budget=20)
            front = np.array([[v["value"], -v[cols[0]], -v[cols[1]]] for _, v in s.pareto()])
            runs.append(1 - _hypervolume_3d(front, reference) / whole)
            s.close()
        regrets[strategy] = float(np.mean(runs))
    assert regrets["bo"] < 0.5 * regrets["random"], regrets


def test_nb201_mo_keeps_its_records_and_runs_only_what_is_missing(tmp_path):
    from archtune_experiments.tabular.multi_objective import run_nb201_mo

    first = run_nb201_mo(["cifar10"], "lat_pixel3", ["random"], 1, 25, 1, tmp_path)
    log = tmp_path / "records.jsonl"
    assert len(log.read_text().splitlines()) == 1
    again = run_nb201_mo(["cifar10"], "lat_pixel3", ["random"], 2, 25, 1, tmp_path)  # one more seed
    records = [json.loads(line)["run"] for line in log.read_text().splitlines()]
    assert [r["seed"] for r in records] == [0, 1]  # seed 0 not run again
    assert again["cifar10/random"]["seeds"] == 2 and first["cifar10/random"]["seeds"] == 1
    assert (tmp_path / "summary.md").read_text().count("cifar10/random | 2 |") == 1
