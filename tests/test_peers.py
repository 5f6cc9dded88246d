"""The peers of `archtune bench nb201` (archtune_experiments.tabular.peers): each runs through the benchmark's loop,
every proposal is paid for (repeats counted), and a missing library names the extra that installs it."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from archtune.errors import ConfigError
from archtune.strategy.base import Fidelity, Observation, SearchContext
from archtune_experiments.tabular.peers import PEERS, OptunaPeer, PeerStrategy
from archtune_experiments.tabular.runner import parse_strategies, run_benchmark, run_seed, summarise
from archtune_experiments.tabular.variants import VARIANTS, Variant, variant

LIBRARY = {"optuna": "optuna", "smac": "smac", "hebo": "hebo", "syne": "syne_tune"}


def _library(name: str) -> str:
    return LIBRARY[name.split("-")[0]]


def _charged(run: dict) -> float:
    """Units the run paid for: every proposal, repeats included, at its fidelity's cost."""
    cost = {"lo": 12 / 200, "hi": 1.0}
    return sum(cost[f] * (n + run["repeats"][f]) for f, n in run["evaluations"].items())


@pytest.mark.parametrize("name", sorted(PEERS))
def test_installed_peer_runs_a_short_search_through_the_runner(name):
    if importlib.util.find_spec(_library(name)) is None:
        pytest.skip(
            f"{_library(name)} not installed: pip install 'archtune[peers]' (HEBO: see archtune_experiments.tabular.peers)"
        )
    run = run_seed(name, "cifar100", seed=0, budget=4, pretrained=None)
    spent = [s for s, _ in run["curve"]]
    assert spent == sorted(spent) and spent[-1] <= 4 + 1e-9
    assert np.isclose(_charged(run), spent[-1])  # the units are what the proposals cost, no more, no less
    assert run["iterations"] == len(run["curve"]) and run["median_ask_s"] >= 0
    assert set(run["evaluations"]) == ({"lo", "hi"} if PEERS[name].multi_fidelity else {"hi"})
    if PEERS[name].multi_fidelity:
        assert run["evaluations"]["lo"] > 0  # screens at 12 epochs before it pays for 200


class _Replay(PeerStrategy):
    """A peer that proposes a fixed list of cells, repeats included (to check the runner's accounting)."""

    name = "replay"
    library = ("numpy", "NumPy")

    def __init__(self, cells):
        super().__init__()
        self.cells = list(cells)

    def _start(self, seed):
        self.told = []

    def _new(self):
        return list(self._encodings[self.cells.pop(0)]), None

    def _finish(self, token, value):
        self.told.append(value)


def test_repeated_proposals_are_paid_for_and_counted(monkeypatch):
    monkeypatch.setitem(VARIANTS, "replay", Variant("replay", lambda: _Replay([5, 5, 6111, 5, 6111, 7])))
    run = run_seed("replay", "cifar10", seed=0, budget=6, pretrained=None)
    assert run["repeats"] == {"hi": 3} and run["evaluations"] == {"hi": 3}
    assert [s for s, _ in run["curve"]] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert run["found_at"] == 3.0  # cell 6111 is CIFAR-10's optimum, first evaluated with the third unit


def test_optuna_peer_repeats_in_a_space_smaller_than_its_budget():
    pytest.importorskip("optuna")
    cells = [(a, b) for a in "xyz" for b in "uv"]
    peer = OptunaPeer("tpe", encodings=cells)
    peer.setup(SearchContext(np.zeros((6, 1), np.float32), [Fidelity("hi", 1.0)], seed=0))
    proposed = []
    for _ in range(10):
        s = peer.ask(1)[0]
        proposed.append(s.index)
        peer.tell(Observation(s.index, "hi", float(s.index), 1.0))
    assert len(proposed) - len(set(proposed)) >= 4  # 10 proposals, 6 cells: the peer repeated itself
    assert len(peer.study.trials) == 10  # and every one of them was told back


def test_missing_library_names_the_extra_before_any_work(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "smac", None)  # what a user without SMAC3 meets: the import fails
    with pytest.raises(ConfigError, match=r"pip install 'archtune\[peers\]'"):
        run_benchmark(
            "cifar10", ["random", "smac"], seeds=1, budget=2, workers=1, out_dir=str(tmp_path), plot=False
        )
    assert not any(tmp_path.iterdir())  # nothing ran, nothing was recorded
    monkeypatch.setitem(sys.modules, "hebo", None)
    with pytest.raises(ConfigError, match=r"archtune\[hebo\]'.*--no-deps HEBO"):
        variant("hebo").make()


def test_bo_bare_has_one_fidelity_and_no_zero_cost_data():
    v = variant("bo-bare")
    assert not v.multi_fidelity and v.pretraining is None  # the runner passes it no pretrained surrogate
    strategy = v.make()
    assert strategy.pretraining == "none"  # and it refuses one if given
    run = run_seed("bo-bare", "cifar10", seed=0, budget=4, pretrained=None)
    assert run["evaluations"] == {"hi": 4} and run["repeats"] == {"hi": 0}


def test_strategy_seed_counts_and_peer_constraint_are_checked():
    assert parse_strategies(["random", "hebo:3"], 30) == {"random": 30, "hebo": 3}
    runs = [run_seed(name, "cifar10", seed=0, budget=2, pretrained=None) for name in ("random", "rea")]
    summary = summarise(runs, budget=2, seeds={"random": 2, "rea": 1})
    assert summary["random"]["seeds_asked"] == 2  # its second seed is missing: counted as not found
    assert summary["rea"]["seeds_asked"] == 1  # rea:1 asked for one seed: nothing missing counted against it
    with pytest.raises(ConfigError, match="name:seeds"):
        run_benchmark("cifar10", ["rea:x"], seeds=1, budget=2)
    with pytest.raises(ConfigError, match="without --constraint"):
        run_benchmark("cifar10", ["optuna-tpe"], seeds=1, budget=2, constraint=("lat_pixel3", 20.0))
