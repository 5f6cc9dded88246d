from __future__ import annotations

import json
import math

import numpy as np
import pytest

from archtune.bench.nb201 import nb201_objectives, nb201_optimum
from archtune.datasets.nb201 import encoding_to_arch_str, load_nb201
from archtune.spaces.nb201 import nb201_space
from archtune_experiments.tabular.runner import run_seed, summarise, to_markdown


def test_nb201_table_and_known_optima():
    table = load_nb201()
    assert len(table.encodings) == 15625 and len(set(table.encodings)) == 15625
    assert table.encodings[6111] == tuple(
        encoding_to_arch_str(table.encodings[6111])
        .replace("|+|", "|")
        .strip("|")
        .replace("~0", "")
        .replace("~1", "")
        .replace("~2", "")
        .split("|")
    )
    assert math.isclose(nb201_optimum("cifar10"), 94.37333, abs_tol=1e-3)
    assert math.isclose(nb201_optimum("cifar100"), 73.51333, abs_tol=1e-3)
    hi, lo = nb201_objectives("imagenet16")
    assert math.isclose(hi(table.encodings[857]), 47.31111, abs_tol=1e-3)
    assert len(table.latency_columns) == 27


def test_nb201_space_has_latency_pretraining_data():
    space = nb201_space()
    assert len(space) == 15625 and space.features.shape == (15625, 30)
    assert np.isfinite(space.metrics["lat_pixel3"]).all()


def test_run_seed_and_summary():
    run = run_seed("rea", "cifar10", seed=0, budget=30, pretrained=None)
    spent = [s for s, _ in run["curve"]]
    assert spent == sorted(spent) and spent[-1] <= 30 + 1e-9
    best = [b for _, b in run["curve"]]
    assert best == sorted(best)  # best-so-far never decreases
    fake = [
        {"strategy": "a", "seed": 0, "found_at": 10.0, "curve": [(10.0, 1.0)], "time_per_iter": 0.1},
        {"strategy": "a", "seed": 1, "found_at": None, "curve": [(10.0, 0.5)], "time_per_iter": 0.3},
        {"strategy": "a", "seed": 2, "found_at": 20.0, "curve": [(25.0, 1.0)], "time_per_iter": 0.2},
    ]
    s = summarise(fake, budget=30)["a"]
    assert s["median_units_to_optimum"] == 20.0 and s["p90_units_to_optimum"] == math.inf
    assert math.isclose(s["share_found"], 2 / 3) and s["mean_best_at"]["10"] == 0.75
    assert "> budget" in to_markdown({"a": s}, "cifar10", 30)


def test_bench_resumes_and_respects_constraint(tmp_path, capsys):
    from archtune.datasets.nb201 import load_nb201
    from archtune_experiments.tabular.runner import run_benchmark

    out = tmp_path / "r"
    run_benchmark(
        "cifar10",
        ["ls", "rea"],
        seeds=2,
        budget=5,
        workers=1,
        out_dir=str(out),
        constraint=("lat_pixel3", 15.0),
        plot=False,
    )
    lines = (out / "nb201_cifar10_lat_pixel3_le_15.runs.jsonl").read_text().splitlines()
    assert len(lines) == 4
    run_benchmark(
        "cifar10",
        ["ls", "rea", "random"],
        seeds=2,
        budget=5,
        workers=1,
        out_dir=str(out),
        constraint=("lat_pixel3", 15.0),
        plot=False,
    )
    assert "4 runs already recorded, 2 to go" in capsys.readouterr().out
    table = load_nb201()
    feasible_best = table.column("cifar10_test_200ep")[table.column("lat_pixel3") <= 15.0].max()
    for line in (out / "nb201_cifar10_lat_pixel3_le_15.runs.jsonl").read_text().splitlines():
        assert all(best <= feasible_best + 1e-9 for _, best in json.loads(line)["run"]["curve"])


def test_two_seed_benchmark_bo_beats_random_on_full_nb201():
    """The default run's cheap version of the test below: all 15,625 cells, CIFAR-100, seeds 0-1, 10 units.

    Fixed seeds, so deterministic; the margin is the slow test's. In the committed 30-seed run
    (benchmarks/results/nb201_cifar100.runs.jsonl) BO found the optimum (73.5) within 10 units on both
    seeds, random's mean best was 69.9.
    """
    from archtune_experiments.tabular.runner import run_benchmark

    summary = run_benchmark("cifar100", ["bo", "random"], seeds=2, budget=10, workers=2, plot=False)
    bo, rnd = summary["bo"]["mean_best_at"]["10"], summary["random"]["mean_best_at"]["10"]
    assert bo > rnd + 0.5, (bo, rnd)


@pytest.mark.slow  # about 2 minutes on 2 cores: 10 BO searches over 15,625 cells
def test_short_benchmark_bo_beats_random_on_full_nb201():
    """CI's short version of the benchmark: all 15,625 cells, CIFAR-100, 10 fixed seeds, 10 units.

    Margin: in the committed 30-seed run (benchmarks/results/nb201_cifar100.runs.jsonl) BO's mean best
    at 10 units is 72.6 against random's 70.0; over 100,000 bootstrap draws of 10 seeds per strategy
    the difference fell below 0.57 in 0.1% of draws. Seeds 0-9 gave 72.9 against 70.1.
    """
    from archtune_experiments.tabular.runner import run_benchmark

    summary = run_benchmark("cifar100", ["bo", "random"], seeds=10, budget=10, workers=2, plot=False)
    bo, rnd = summary["bo"]["mean_best_at"]["10"], summary["random"]["mean_best_at"]["10"]
    assert bo > rnd + 0.5, (bo, rnd)


def test_report_only_summarises_recorded_runs_without_running(tmp_path, capsys):
    import pytest

    from archtune.errors import ConfigError
    from archtune_experiments.tabular.runner import run_benchmark

    out = tmp_path / "r"
    run_benchmark("cifar100", ["rea"], seeds=2, budget=3, workers=1, out_dir=str(out), plot=False)
    summary = run_benchmark(
        "cifar100",
        ["rea", "random"],
        seeds=5,
        budget=3,
        workers=1,
        out_dir=str(out),
        plot=False,
        report_only=True,
    )
    assert "report only: 2 runs recorded, 8 not run" in capsys.readouterr().out
    # 2 of the 5 seeds asked for are recorded: the 3 missing count as never finding the optimum
    assert list(summary) == ["rea"] and (summary["rea"]["seeds"], summary["rea"]["seeds_asked"]) == (2, 5)
    assert summary["rea"]["share_found"] <= 2 / 5
    with pytest.raises(ConfigError, match="no recorded run"):
        run_benchmark(
            "cifar100", ["random"], seeds=2, budget=3, out_dir=str(out), plot=False, report_only=True
        )
