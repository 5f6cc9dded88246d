"""Search without enumeration: ProductSpace, and BO on it with VAE draws (the VAE proposes, the ensemble ranks)."""

from __future__ import annotations

import numpy as np
import pytest

from archtune.errors import ConfigError, SpaceError
from archtune.space.product import ProductSpace
from archtune.strategy.base import Fidelity, Observation, SearchContext
from archtune.strategy.bo import BayesianOptimization
from archtune.strategy.tnas import VAECandidates
from archtune_experiments.tnas.open_space import ThreeCellObjective, run_seed, three_cell_space


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


def _vae_bo(space, seed=3):
    bo = BayesianOptimization(
        n_init=5, candidates=VAECandidates(n_vae=64, n_uniform=0, round_size=5, epochs=10), pool_uniform=64
    )
    bo.setup(SearchContext(np.zeros((0, space.n_features), np.float32), [Fidelity("hi", 1.0)], seed=seed,
                           neighbors=space.neighbors, product=space))  # fmt: skip
    return bo


def test_bo_with_vae_draws_never_repeats_replays_exactly_and_skips_failures():
    space = ProductSpace(
        {f"k{i}": tuple(range(4)) for i in range(6)}
    )  # 4096 encodings: small enough to check
    target = np.array([3, 1, 2, 0, 3, 1])
    search = _vae_bo(space)
    for step in range(25):
        (s,) = search.ask(1)
        value = None if step == 7 else float((space.tokens_of(np.array([s.index]))[0] == target).sum())
        search.tell(Observation(s.index, "hi", value, 1.0))  # one failed evaluation
    asked = [o.index for o in search.history]
    assert len(set(asked)) == len(asked)
    replay = _vae_bo(space)
    for observation in search.history:
        replay.tell(observation)
    assert replay.ask(1) == search.ask(1)
    # the additive target itself within 25 of 4096 evaluations (a random search: 25/4096 = 0.6%)
    best = max(search.values["hi"], key=search.values["hi"].get)
    assert (
        search.values["hi"][best] == 6.0 and space.tokens_of(np.array([best]))[0].tolist() == target.tolist()
    )


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


def test_bo_on_a_product_space_pretrains_on_the_zero_cost_metrics_of_a_sample():
    from archtune.surrogate.ensemble import DeepEnsemble

    space = ProductSpace({f"w{i}": (8, 16, 32, 64) for i in range(8)})  # 65,536 encodings
    sample = space.draw(np.random.default_rng(0), 500)
    params = lambda e: float(sum(v * v for v in e.values()))  # noqa: E731
    space.preprocess(
        pretraining_data=[
            {"encoding": space.encodings[i], "params": params(space.encodings[i])} for i in sample
        ]
    )
    assert len(space.metric_indices) == len(set(sample.tolist())) and space.surrogate is not None
    model = DeepEnsemble.from_pretrained(space.surrogate, ["hi"])
    rows = space.draw(np.random.default_rng(9), 200)
    truth = [params(space.encodings[i]) for i in rows]
    assert np.corrcoef(truth, model.predict_metric(space.features_of(rows), "params"))[0, 1] > 0.9


def test_product_step_benchmark_command_times_every_space_and_writes_its_table(tmp_path, capsys):
    import json

    from archtune.cli import main

    assert main(["bench", "product-step", "--seeds", "1", "--budget", "8", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "product_step.json").read_text())
    assert list(result["spaces"]) == ["1e4", "1e12", "1e12-wide"]
    for row in result["spaces"].values():  # 8 evaluations, 3 of them the initial design's
        assert row["steps"] == 5 and row["median_step_s"] > 0 and np.isfinite(row["ratio_to_1e4"])
    assert result["spaces"]["1e12"]["encodings"] == 1e12 and result["spaces"]["1e4"]["ratio_to_1e4"] == 1.0
    assert "| 1e12-wide | 1e+12 | 4 x 1000 | 5 |" in (tmp_path / "product_step.md").read_text()
    assert "median / the 10^4 space's" in capsys.readouterr().out
