"""One-shot NAS: the NB201 supernet, SPOS and TNAS path sampling, supernet-based evolution."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from archtune import ConfigError
from archtune.datasets.nb201 import EDGES, OPS
from archtune.nets.nb201 import nb201_net
from archtune.oneshot.nb201_supernet import NB201Supernet
from archtune.oneshot.spos import (
    ALL_CELLS,
    OneShotData,
    TNASPathSampler,
    standalone_accuracy,
    supernet_accuracy,
    train_supernet,
    uniform_sampler,
)
from archtune_experiments.tnas.oneshot import evolve_on_supernet, run_oneshot


def test_supernet_runs_every_operation_on_every_edge():
    torch.manual_seed(0)
    net = NB201Supernet(channels=4, cells_per_stage=1, in_channels=1)
    x = torch.rand(3, 1, 16, 16)
    outputs = set()
    for edge in range(len(EDGES)):
        for op in OPS:
            cell = ["nor_conv_3x3"] * len(EDGES)
            cell[edge] = op
            out = net(x, cell)
            assert out.shape == (3, 10) and torch.isfinite(out).all()
            outputs.add(tuple(out[0].detach().round(decimals=5).tolist()))
    assert len(outputs) > len(EDGES) * (len(OPS) - 1) - 3  # the edge's operation really changes the function
    with pytest.raises(ConfigError, match="an NB201 cell"):
        net(x, ["conv_5x5"] * 6)


@pytest.mark.parametrize(
    "cell",
    [
        ("nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"),
        ("none", "nor_conv_1x1", "skip_connect", "none", "none", "avg_pool_3x3"),
        ("skip_connect",) * 6,
    ],
)
def test_a_supernet_path_is_its_standalone_network(cell):
    torch.manual_seed(1)
    supernet = NB201Supernet(channels=4, cells_per_stage=2, in_channels=1)
    for p in supernet.parameters():  # BN weights away from 1/0 too, so a misplaced copy shows
        torch.nn.init.normal_(p, std=0.3)
    alone = nb201_net(cell, channels=4, cells_per_stage=2, in_channels=1)
    missing, unexpected = alone.load_state_dict(supernet.path_state(cell), strict=False)
    assert not unexpected and all(
        k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in missing
    )
    alone.train()  # batch statistics, as the supernet always uses
    x = torch.rand(8, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(supernet(x, cell), alone(x), atol=1e-5)
        other = NB201Supernet(channels=4, cells_per_stage=2, in_channels=1)
        assert not torch.allclose(other(x, cell), alone(x), atol=1e-3)


def test_supernet_training_learns_and_tnas_sampler_moves_towards_rated_paths():
    data = OneShotData.load(seed=0, limit=1000)
    assert len(set(data.train.tolist()) | set(data.val.tolist()) | set(data.test.tolist())) == 1000
    assert not set(data.train.tolist()) & set(data.val.tolist())
    net = NB201Supernet(channels=4, cells_per_stage=1, in_channels=1)
    cell = ("nor_conv_3x3",) * 6
    before = supernet_accuracy(net, cell, data)
    sampler = TNASPathSampler(eps_inc=0.5, pool=12, top_k=4, rate_on=200, vae_epochs=20, seed=0)
    losses = train_supernet(net, data, epochs=4, sampler=sampler, seed=0, batch=32)
    assert losses[-1] < losses[0] and supernet_accuracy(net, cell, data) > before + 0.08  # chance: 0.1
    assert sampler.eps == 1.0 and sampler.sampler.vae is not None and sampler.rounds == 4
    rng = np.random.default_rng(0)
    drawn = [sampler.draw(rng) for _ in range(50)]
    assert all(c in set(ALL_CELLS) for c in drawn)
    assert len(set(drawn)) < 45  # concentrated on what the VAE learned, unlike 50 uniform draws of 15,625


def test_evolution_on_supernet_and_oneshot_run(tmp_path):
    data = OneShotData.load(seed=0, limit=600)
    net = NB201Supernet(channels=4, cells_per_stage=1, in_channels=1)
    train_supernet(net, data, epochs=1, sampler=uniform_sampler, seed=0)
    cell, rating = evolve_on_supernet(net, data, queries=30, seed=0)
    assert rating == supernet_accuracy(net, cell, data)
    results = run_oneshot(
        ["spos"],
        n_cells=5,
        channels=4,
        epochs=1,
        standalone_epochs=1,
        queries=10,
        out_dir=str(tmp_path),
        workers=2,
    )
    assert -1 <= results["spos"]["kendall_tau"] <= 1
    assert (tmp_path / "tnas_oneshot.md").exists()
    cache = json.loads((tmp_path / "oneshot_standalone.cache.json").read_text())["C=4,N=1,epochs=1,seed=0"]
    assert len(cache) >= 5  # the 5 rated cells, trained in 2 worker processes (and evolution's best)
    # one thread, one seed: the same training in this process gives what the worker process gave
    key, value = next(iter(cache.items()))
    assert standalone_accuracy(tuple(key.split("|")), OneShotData.load(seed=0), 1, 4, 1, seed=0) == value
    # a second run in the same process (global generators moved on; stand-alone results now cached) repeats
    # the first: the supernet's initial weights come from the seed, not from the global generator's state
    torch.rand(7)
    again = run_oneshot(
        ["spos"],
        n_cells=5,
        channels=4,
        epochs=1,
        standalone_epochs=1,
        queries=10,
        out_dir=str(tmp_path),
        workers=2,
    )
    assert again["spos"]["kendall_tau"] == results["spos"]["kendall_tau"]
    assert again["spos"]["best_cell"] == results["spos"]["best_cell"]
