"""The second and third tabular benchmarks: NASLib's NAS-Bench-101 and -301 samples under the NB201 runner."""

from __future__ import annotations

import gzip
import json
from importlib import resources

import numpy as np
import pytest

from archtune.bench.nasbench_samples import NB101_OPS, NB301_OPS, load_sample
from archtune.bench.tabular import tabular_benchmark
from archtune.errors import ConfigError
from archtune_experiments.tabular.runner import run_benchmark, run_seed


@pytest.mark.parametrize(
    ("name", "cells", "knobs", "optimum"), [("nb101", 500, 26, 94.712), ("nb301", 725, 32, 94.489)]
)
def test_samples_load_with_their_known_optimum_and_finite_zero_cost_columns(name, cells, knobs, optimum):
    s = load_sample(name)
    assert len(s.encodings) == cells == len(set(s.encodings)) == len(s.accuracy)
    assert {len(e) for e in s.encodings} == {knobs}
    assert round(float(s.accuracy.max()), 3) == optimum
    assert {"synflow", "snip", "flops", "params"} <= set(s.zero_cost)
    assert all(np.isfinite(col).all() and len(col) == cells for col in s.zero_cost.values())


def test_nb101_encoding_reads_naslibs_adjacency_and_operation_codes():
    # the first cell of the file, decoded by hand from its key: NASLib's op codes 2/3/4 and the upper triangle
    path = resources.files("archtune.datasets.files").joinpath("naslib_zc_nasbench101.json.gz")
    with path.open("rb") as raw, gzip.open(raw, "rt") as text:
        key, record = next(iter(json.load(text)["nasbench101"]["cifar10"].items()))
    values = [int(v) for v in key.strip("()").split(",")]
    matrix = np.array(values[:49]).reshape(7, 7)
    s = load_sample("nb101")
    enc = s.encodings[0]
    assert enc[:21] == tuple(int(matrix[i, j]) for i in range(7) for j in range(i + 1, 7))
    assert enc[21:] == tuple(NB101_OPS[c] for c in values[50:55])
    assert s.accuracy[0] == pytest.approx(record["val_accuracy"])
    assert s.zero_cost["synflow"][0] == pytest.approx(record["synflow"])


def test_nb301_encoding_pairs_input_nodes_with_darts_operations():
    enc = load_sample("nb301").encodings[0]
    inputs, ops = enc[0::2], enc[1::2]
    assert all(i.startswith("in") for i in inputs) and set(ops) <= set(NB301_OPS)
    # in a DARTS cell, node k (0-based among the 4 inner nodes) reads from inputs 0 .. k + 1
    for cell in (inputs[:8], inputs[8:]):
        assert all(int(cell[j][2:]) <= j // 2 + 1 for j in range(8))


def test_a_one_fidelity_table_runs_two_fidelity_bo_at_the_top_only_and_stops_at_its_optimum():
    bench = tabular_benchmark("nb101", "cifar10")
    run = run_seed("bo", "cifar10", seed=0, budget=40, pretrained=None, stop_at_optimum=True, table="nb101")
    assert set(run["evaluations"]) == {"hi"}
    units = [u for u, _ in run["curve"]]
    assert units == [float(k) for k in range(1, len(units) + 1)]  # every evaluation costs one unit
    best = [b for _, b in run["curve"]]
    assert best == sorted(best) and max(best) <= bench.hi.max()
    if run["found_at"] is not None:
        assert best[-1] == pytest.approx(bench.hi.max()) and run["found_at"] == units[-1]


def test_peers_on_a_sampled_table_snap_every_proposal_to_a_listed_cell():
    pytest.importorskip("optuna")
    from archtune.strategy.base import Fidelity, SearchContext
    from archtune_experiments.tabular.peers import PEERS

    bench = tabular_benchmark("nb301", "cifar10")
    peer = PEERS["optuna-tpe"].make(encodings=bench.encodings, snap=True)
    peer.setup(SearchContext(np.zeros((len(bench.encodings), 1), np.float32), [Fidelity("hi", 1.0)], seed=0))
    cell = list(bench.encodings[7])
    assert peer.nearest(cell) == 7
    cell[1] = next(
        op for op in NB301_OPS if op != cell[1]
    )  # one knob off a listed cell, and not another one's
    if tuple(cell) not in set(bench.encodings):
        assert peer.nearest(cell) == 7
    assert peer.nearest(list(bench.encodings[7]), taken={7}) != 7  # a cell already proposed is passed over
    run = run_seed("optuna-tpe", "cifar10", seed=0, budget=40, pretrained=None, table="nb301")
    assert run["iterations"] == 40 and run["evaluations"]["hi"] + run["repeats"]["hi"] == 40
    # 32 knobs and 725 cells: nearly every proposal is snapped, and snapping never lands on a proposed cell
    assert run["repeats"]["hi"] <= 2


def test_without_snapping_a_peer_refuses_a_cell_the_table_does_not_list():
    pytest.importorskip("optuna")
    from archtune.strategy.base import Fidelity, Observation, SearchContext
    from archtune_experiments.tabular.peers import PEERS

    cells = [("a", "x"), ("b", "y")]
    peer = PEERS["optuna-tpe"].make(encodings=cells)
    peer.setup(SearchContext(np.zeros((2, 1), np.float32), [Fidelity("hi", 1.0)], seed=0))
    with pytest.raises(ConfigError, match="made without snap=True"):
        peer.nearest(("a", "y"))
    with pytest.raises(ConfigError, match="not an encoding of the space"):
        for _ in range(30):  # random startup draws of 2 x 2 knobs: a missing cell comes within a few
            s = peer.ask(1)[0]
            peer.tell(Observation(s.index, "hi", 1.0, 1.0))


def test_bad_table_inputs_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown nb101 dataset 'cifar100'; valid: cifar10"):
        run_benchmark("cifar100", ["random"], 1, 5, table="nb101")
    with pytest.raises(ConfigError, match="unknown tabular benchmark 'nb999'"):
        run_benchmark("cifar10", ["random"], 1, 5, table="nb999")
    with pytest.raises(ConfigError, match="unknown constraint column 'lat_pixel3'; valid: flops, params"):
        run_benchmark("cifar10", ["random"], 1, 5, table="nb101", constraint=("lat_pixel3", 5.0))
    pytest.importorskip("optuna")
    with pytest.raises(ConfigError, match="two-fidelity peer; nb101 has one fidelity"):
        run_benchmark("cifar10", ["optuna-tpe-sha"], 1, 5, table="nb101")


def test_a_sampled_table_benchmark_records_and_resumes_under_its_own_name(tmp_path):
    summary = run_benchmark(
        "cifar10", ["random", "rea"], 2, 20, workers=1, out_dir=str(tmp_path), plot=False, table="nb301"
    )
    assert (tmp_path / "nb301_cifar10.md").read_text().startswith("NAS-Bench-301 (NASLib sample) cifar10")
    records = [json.loads(line) for line in (tmp_path / "nb301_cifar10.runs.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all(r["meta"]["table"] == "nb301" for r in records)
    again = run_benchmark(
        "cifar10",
        ["random", "rea"],
        2,
        20,
        workers=1,
        out_dir=str(tmp_path),
        plot=False,
        table="nb301",
        report_only=True,
    )
    assert again == summary
