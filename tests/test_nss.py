"""Network Space Search (paper 003): supernet masking, analytical FLOPs, differentiable expected FLOPs."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from archtune.nss.expanded_space import (
    ExpandedSpace,
    architecture_flops,
    counted_flops,
    expected_flops,
    space_architectures,
)
from archtune.nss.supernet import Supernet

SMALL = ExpandedSpace(d_max=4, w_max=12, depth_chunk=2, width_chunk=4, image_size=8, n_classes=5)


def _random_architectures(space, n, seed):
    rng = random.Random(seed)
    return [
        (
            tuple(rng.randint(1, space.d_max) for _ in range(space.stages)),
            tuple(rng.randint(1, space.w_max) for _ in range(space.stages)),
        )
        for _ in range(n)
    ]


def test_masked_supernet_path_equals_the_stand_alone_network_with_copied_weights():
    torch.manual_seed(0)
    net = Supernet(SMALL)
    x = torch.randn(6, 3, 8, 8)
    for arch in [((1, 1, 1), (1, 1, 1)), ((4, 4, 4), (12, 12, 12)), *_random_architectures(SMALL, 6, 1)]:
        alone = net.extract(arch)
        for train in (True, False):
            net.train(train), alone.train(train)
            with torch.no_grad():
                assert (net.forward_architecture(x, arch) - alone(x)).abs().max() < 1e-5, (arch, train)


def test_analytical_flops_equal_torch_flop_counter():
    for space in (SMALL, ExpandedSpace(d_max=3, w_max=40, depth_chunk=1, width_chunk=8, image_size=11, w0=7)):
        for arch in _random_architectures(space, 8, 2):
            assert architecture_flops(space, arch) == counted_flops(space, arch), arch


def test_expected_flops_of_a_space_is_the_mean_over_its_architectures_and_differentiable():
    space = SMALL
    for depth_chunks, width_chunks in [((0, 1, 0), (2, 0, 1)), ((1, 1, 1), (0, 0, 0))]:
        archs = list(space_architectures(space, depth_chunks, width_chunks))
        mean = np.mean([architecture_flops(space, a) for a in archs])
        one_hot_d = torch.eye(space.depth_chunks, dtype=torch.float64)[list(depth_chunks)]
        one_hot_w = torch.eye(space.width_chunks, dtype=torch.float64)[list(width_chunks)]
        assert float(expected_flops(space, one_hot_d, one_hot_w)) == pytest.approx(mean, rel=1e-12)
    logits_d = torch.zeros(space.stages, space.depth_chunks, requires_grad=True)
    logits_w = torch.zeros(space.stages, space.width_chunks, requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    gumbel = lambda logits: -torch.log(-torch.log(torch.rand(logits.shape, generator=gen)))  # noqa: E731
    soft_d = torch.softmax((logits_d + gumbel(logits_d)) / 5.0, dim=1)
    soft_w = torch.softmax((logits_w + gumbel(logits_w)) / 5.0, dim=1)
    expected_flops(space, soft_d, soft_w).backward()
    assert torch.isfinite(logits_d.grad).all() and torch.isfinite(logits_w.grad).all()
    assert logits_d.grad.abs().sum() > 0 and logits_w.grad.abs().sum() > 0
    # wider chunks cost more: raising the last width chunk's logit raises the expected FLOPs
    assert (logits_w.grad[:, -1] > logits_w.grad[:, 0]).all()


def test_paper_sized_space_and_supernet_forward():
    paper = ExpandedSpace()
    assert paper.n_spaces == 2**18 and (paper.d_max, paper.w_max) == (16, 512)
    assert [paper.resolution(s) for s in range(3)] == [32, 16, 8]
    net = Supernet(ExpandedSpace(d_max=16, w_max=64, depth_chunk=4, width_chunk=8))
    out = net.forward_architecture(torch.randn(2, 3, 32, 32), ((16, 5, 1), (64, 8, 33)))
    assert out.shape == (2, 10)


def test_warmup_enables_channels_and_deeper_blocks():
    torch.manual_seed(0)
    net = Supernet(SMALL).eval()
    x = torch.randn(2, 3, 8, 8)
    narrow = [torch.tensor([1.0] * 3 + [0.0] * 9)] * 3
    shallow = [torch.tensor([1.0, 0, 0, 0])] * 3
    full = ((4, 4, 4), (12, 12, 12))
    with torch.no_grad():
        # p = 1: every block past the sampled depth runs and feeds the next stage, and every channel is on
        wide = [torch.ones(12)] * 3
        assert torch.allclose(
            net(x, wide, shallow, warmup_probability=1.0), net.forward_architecture(x, full), atol=1e-6
        )
        plain = net(x, narrow, shallow)
        assert torch.allclose(plain, net.forward_architecture(x, ((1, 1, 1), (3, 3, 3))), atol=1e-6)
        gen = torch.Generator().manual_seed(1)
        assert not torch.allclose(net(x, narrow, shallow, warmup_probability=0.5, generator=gen), plain)


def test_search_finds_an_elite_space_near_the_flops_target():
    """NSS on the digits (8x8), a space of 64 network spaces, the target at the first quartile of their
    expected FLOPs (half the prior's mean): the Elite Space sits near the target, and more of its
    architectures are within +-10% of it than of a random space's."""
    import itertools

    from archtune.datasets.images import load_split
    from archtune.nss.network_space_search import NetworkSpace, NSSConfig, run_nss

    space = ExpandedSpace(d_max=2, w_max=16, depth_chunk=1, width_chunk=4, image_size=8, in_channels=1)
    spaces = [
        NetworkSpace(d, w)
        for d in itertools.product(range(2), repeat=3)
        for w in itertools.product(range(4), repeat=3)
    ]
    target = sorted(s.expected_flops(space) for s in spaces)[len(spaces) // 4]

    def share_within(s):
        archs = list(space_architectures(space, s.depth_chunks, s.width_chunks))
        return np.mean([abs(architecture_flops(space, a) / target - 1) <= 0.1 for a in archs])

    train = load_split("digits", "train")
    result = run_nss(
        space,
        (train.images, train.labels),
        target,
        NSSConfig(epochs=8, batch_size=32, theta_lr=0.05),
        progress=False,
    )
    assert abs(result.elite_flops / target - 1) < 0.25, (result.elite, result.elite_flops, target)
    elite = list(space_architectures(space, result.elite.depth_chunks, result.elite.width_chunks))
    assert all(1 <= d <= space.d_max for a in elite for d in a[0]) and all(
        1 <= w <= space.w_max for a in elite for w in a[1]
    )
    assert share_within(result.elite) > 2 * np.mean([share_within(s) for s in spaces])
    assert len(result.candidates) == 5 and result.history[0]["warmup"] and not result.history[-1]["warmup"]


@pytest.mark.parametrize("strategy", ["bo", "spline", "tnas"])
def test_an_elite_space_is_a_search_space_for_the_other_strategies(strategy, tmp_path):
    from archtune import SearchInstance
    from archtune.nss.network_space_search import NetworkSpace, elite_search_space

    space = ExpandedSpace(d_max=4, w_max=16, depth_chunk=2, width_chunk=4)
    elite = NetworkSpace((0, 1, 0), (1, 2, 3))
    ss = elite_search_space(space, elite)
    members = set(ss.encodings)
    target = elite.expected_flops(space)

    def closeness(encoding):  # a cheap objective: how near the target the architecture's FLOPs are
        return -abs(architecture_flops(space, (encoding[:3], encoding[3:])) / target - 1)

    s = SearchInstance(
        "e",
        tmp_path / "e.search",
        search_space=ss,
        hi_fi_eval=closeness,
        strategy=strategy,
        progress=False,
        seed=0,
    )
    s.run_search(eval_budget=6)
    history = s.history()
    s.close()
    assert len(history) == 6 and all(tuple(h["encoding"]) in members for h in history)


def test_table1_experiment_writes_its_rows_and_files(tmp_path):
    from archtune.nss.network_space_search import NSSConfig
    from archtune_experiments.nss.experiment import run_nss_experiment

    space = ExpandedSpace(d_max=2, w_max=8, depth_chunk=1, width_chunk=4, w0=4, in_channels=1, image_size=8)
    summary = run_nss_experiment(
        [40_000.0],
        space,
        NSSConfig(epochs=2, batch_size=128),
        train_epochs=1,
        repeats=3,
        edf_samples=20,
        edf_trained=1,
        out_dir=str(tmp_path),
    )
    (row,) = summary["rows"]
    for kind in ("elite", "expanded"):
        assert row[kind]["samples_mean"] >= 1 and row[kind]["deviation_pct"] <= 10 + 1e-9
        assert 0 <= row[kind]["error_pct"] <= 100
    assert "| 0.040 |" in (tmp_path / "nss_table1.md").read_text()
    assert (tmp_path / "nss_edf.png").stat().st_size > 0 and (tmp_path / "nss_table1.json").exists()
