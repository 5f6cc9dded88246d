"""The real NB201 network: its sizes match the benchmark's published ranges, and preprocess profiles it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from archtune.errors import ConfigError
from archtune.nets.nb201 import Cell, nb201_net
from archtune.spaces.nb201 import nb201_space


def _params_and_macs(encoding, num_classes=10):
    net = nb201_net(encoding, num_classes=num_classes).eval()
    with FlopCounterMode(display=False) as counter:
        net(torch.rand(1, 3, 32, 32))
    return sum(p.numel() for p in net.parameters()), counter.get_total_flops() / 2


def test_sizes_match_nb201_published_range():
    # NB201 (Dong & Yang 2020) reports about 0.07-1.53 M parameters and 7.8-220.1 M FLOPs (multiply-adds)
    # on CIFAR-10: the all-none/all-skip cells and the all-3x3 cell are the two ends
    small_params, small_macs = _params_and_macs(("none",) * 6)
    big_params, big_macs = _params_and_macs(("nor_conv_3x3",) * 6)
    assert round(small_params / 1e6, 3) == 0.073 and round(big_params / 1e6, 3) == 1.532
    assert round(small_macs / 1e6, 2) == 7.78 and round(big_macs / 1e6, 2) == 220.12
    assert _params_and_macs(("skip_connect",) * 6) == (small_params, small_macs)
    params_100, _ = _params_and_macs(("none",) * 6, num_classes=100)
    assert params_100 - small_params == 90 * (64 + 1)  # only the classifier grows


def test_cell_wiring_follows_edge_order():
    x = torch.rand(2, 4, 5, 5)
    # 1<-0 skip, 2<-1 skip, 3<-2 skip: a chain of identities
    identity = Cell(("skip_connect", "none", "skip_connect", "none", "none", "skip_connect"), 4)
    assert torch.equal(identity(x), x)
    # node 2 gets nothing, and node 3 reads only node 2: the cell outputs zeros
    dead = Cell(("skip_connect", "none", "none", "none", "none", "skip_connect"), 4)
    assert torch.equal(dead(x), torch.zeros_like(x))
    # 3<-0 and 3<-1 skips with 1<-0 skip: node 3 = x + x
    assert torch.equal(
        Cell(("skip_connect", "none", "none", "skip_connect", "skip_connect", "none"), 4)(x), 2 * x
    )


def test_bad_cells_are_rejected():
    with pytest.raises(ConfigError, match="6 edges"):
        nb201_net(("none",) * 5)
    with pytest.raises(ConfigError, match="unknown NB201 operation 'conv_5x5'"):
        nb201_net(("conv_5x5",) + ("none",) * 5)


def test_preprocess_profiles_real_nb201_networks():
    space = nb201_space(pretraining=False)
    space.preprocess(sample_input=torch.rand(1, 3, 32, 32), sample_size=6, progress=False, latency_repeats=1)
    params = space.metrics["params"]
    profiled = np.flatnonzero(np.isfinite(params))
    assert len(profiled) == 6
    for i in profiled:
        assert params[i] == _params_and_macs(space.encodings[i])[0]
    assert (space.metrics["flops"][profiled] > 0).all() and space.surrogate is not None
