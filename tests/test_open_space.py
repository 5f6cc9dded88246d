"""Search without enumeration: ProductSpace and OpenSpaceBO (the VAE proposes, the ensemble ranks)."""

from __future__ import annotations

import numpy as np
import pytest

from archtune.bench.open_space_bench import ThreeCellObjective, run_seed, three_cell_space
from archtune.errors import ConfigError, SpaceError
from archtune.strategy.open_space import OpenSpaceBO, ProductSpace


def test_product_space_encodes_decodes_and_refuses_bad_input():
    space = ProductSpace({"op": ("conv", "pool", "skip"), "width": (8, 16), "k": (3, 5, 7)})
    assert space.size == 18
    rows = space.sample(np.random.default_rng(0), 50)
    assert rows.shape == (50, 3) and (rows < np.array([3, 2, 3])).all() and (rows >= 0).all()
    for row in rows[:10]:
        assert (space.encode(space.decode(row)) == row).all()
    features = space.features(rows)  # op one-hot, the numeric knobs one scaled number each
    assert features.shape == (50, 5) and (features[:, :3].sum(axis=1) == 1).all()
    assert sorted(set(features[:, 4].tolist())) == [0.0, 0.5, 1.0]  # k: 3, 5, 7
    mutations = space.mutations(np.array([0, 1, 2]))
    assert len(mutations) == 2 + 1 + 2 and ((mutations != np.array([0, 1, 2])).sum(axis=1) == 1).all()
    with pytest.raises(SpaceError, match="32 is not an option of knob 'width'"):
        space.encode({"op": "conv", "width": 32, "k": 3})
    with pytest.raises(SpaceError, match="knobs"):
        space.encode({"op": "conv", "width": 8})
    with pytest.raises(ConfigError, match="twice"):
        ProductSpace({"op": ("conv", "conv")})


def test_the_three_cell_space_is_too_large_to_list_and_its_optimum_is_the_cells_optima():
    space, objective = three_cell_space(), ThreeCellObjective()
    assert space.size == 5**18 > 10**12
    best = {"cifar10": 94.373, "cifar100": 73.513, "imagenet16": 47.311}  # the NB201 optima of the table
    assert objective.optimum == pytest.approx(np.mean(list(best.values())), abs=1e-3)


def test_open_space_bo_never_repeats_replays_exactly_and_reports_failures():
    space = ProductSpace(
        {f"k{i}": tuple(range(4)) for i in range(6)}
    )  # 4096 encodings: small enough to check
    target = np.array([3, 1, 2, 0, 3, 1])

    def objective(encoding):
        return float((space.encode(encoding) == target).sum())

    search = OpenSpaceBO(space, n_init=5, n_vae=64, n_uniform=64, vae_epochs=10, round_size=5, seed=3)
    asked = []
    for step in range(25):
        encoding = search.ask()
        asked.append(tuple(space.encode(encoding)))
        search.tell(encoding, None if step == 7 else objective(encoding))  # one failed evaluation
    assert len(set(asked)) == len(asked)

    replay = OpenSpaceBO(space, n_init=5, n_vae=64, n_uniform=64, vae_epochs=10, round_size=5, seed=3)
    for encoding, (_, value) in zip(asked, search.history, strict=True):
        replay.tell(space.decode(np.array(encoding)), value)
    assert replay.ask() == search.ask()
    # the additive target itself within 25 of 4096 evaluations (a random search: 25/4096 = 0.6%)
    assert search.best() == ({f"k{i}": int(t) for i, t in enumerate(target)}, 6.0)


def test_open_space_bo_beats_random_on_three_nb201_cells():
    """Same 40 evaluations per seed: BO's mean best is higher than random's on a 3.8e12-encoding space."""
    bo = [run_seed("bo-novae", seed, 40)["best_curve"][-1] for seed in range(2)]
    rnd = [run_seed("random", seed, 40)["best_curve"][-1] for seed in range(2)]
    assert np.mean(bo) > np.mean(rnd) + 0.5, (bo, rnd)


def test_open_space_benchmark_command_writes_its_table(tmp_path, capsys):
    from archtune.cli import main

    assert (
        main(
            [
                "bench",
                "open-space",
                "--strategies",
                "random,rea",
                "--seeds",
                "2",
                "--budget",
                "30",
                "--workers",
                "1",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    table = (tmp_path / "open_space_instance.md").read_text()
    assert "| rea | 2 |" in table and "| random | 2 |" in table and "3.8e12" in table
    assert "mean regret @25" in capsys.readouterr().out


def test_open_space_bo_resumes_from_its_history_file_exactly(tmp_path):
    space = ProductSpace({f"k{i}": ("a", "b", "c") for i in range(5)})

    def objective(encoding):
        return float(sum(v == "b" for v in encoding.values()) + (encoding["k0"] == "c"))

    def run(steps, path, search=None):
        search = search or OpenSpaceBO(
            space, n_init=4, n_vae=32, n_uniform=32, vae_epochs=5, round_size=4, seed=1, history_file=path
        )
        for _ in range(steps):
            encoding = search.ask()
            search.tell(encoding, objective(encoding))
        return search

    whole = run(14, tmp_path / "whole.jsonl")
    run(9, tmp_path / "cut.jsonl")  # killed after 9 results ...
    with (tmp_path / "cut.jsonl").open("a") as fh:
        fh.write('{"encoding": {"k0": "a"')  # ... while writing the 10th
    run(2, tmp_path / "cut.jsonl")  # resumed, killed again cleanly ...
    resumed = run(3, tmp_path / "cut.jsonl")  # ... and resumed once more
    assert len(resumed.history) == 14
    assert [(list(r), v) for r, v in resumed.history] == [(list(r), v) for r, v in whole.history]


def test_open_space_bo_pretrains_on_the_zero_cost_metrics_of_sampled_encodings():
    space = ProductSpace({f"w{i}": (8, 16, 32, 64) for i in range(8)})  # 65,536 encodings
    calls = []

    def zero_cost(encoding):
        calls.append(encoding)
        return {"params": float(sum(v * v for v in encoding.values()))}

    search = OpenSpaceBO(space, n_init=2, pretrain_samples=500, zero_cost=zero_cost, seed=0)
    rows = space.sample(np.random.default_rng(9), 200)
    truth = [sum(v * v for v in space.decode(r).values()) for r in rows]
    predicted = search._surrogate().predict_metric(space.features(rows), "params")  # as pretrained
    assert np.corrcoef(truth, predicted)[0, 1] > 0.9
    for _ in range(3):
        encoding = search.ask()
        search.tell(encoding, 1.0)
    assert len(calls) == 500  # measured once, for the pretraining sample only
