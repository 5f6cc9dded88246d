"""MobileOne re-parameterization, SwiftFormer, parameter counts against the papers, and the two spaces."""

from __future__ import annotations

import copy
import random

import pytest
import torch

from archtune.nets.mobileone import MobileOne, MobileOneBlock, reparameterize
from archtune.nets.swiftformer import SwiftFormer
from archtune.profile.zero_cost import count_parameters
from archtune.spaces.mobileone import (
    DEPTHS,
    INFERENCE_PARAMETERS,
    S0_ENCODING,
    TOTAL_DEPTH,
    encoding_to_model,
    inference_parameters,
    mobileone_encodings,
)
from archtune.spaces.mobileone_swiftformer import MOBILEONE, SWIFTFORMER_XS, hybrid_encodings
from archtune.spaces.mobileone_swiftformer import encoding_to_model as hybrid_model


def _calibrate(model: torch.nn.Module, seed: int, shape=(8, 3, 32, 32)) -> torch.nn.Module:
    """Random BN affine terms, then running statistics measured on random batches (as a trained network's
    are on its data), so fusion is tested on non-trivial BN and the outputs keep a sensible scale."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(*shape, generator=gen))
    return model.eval()


@pytest.mark.parametrize(
    "config",
    [
        {"depths": (2, 8, 10, 1), "width_multipliers": (0.75, 1.0, 1.0, 2.0), "branches": 4, "use_se": False},
        {"depths": (1, 2, 3, 1), "width_multipliers": (0.25, 0.5, 0.5, 1.0), "branches": 1, "use_se": True},
        {"depths": (0, 1, 2, 2), "width_multipliers": (1.5, 0.25, 0.75, 0.5), "branches": 3, "use_se": True},
        {"depths": (1, 1, 1, 0), "width_multipliers": (1.0, 1.0, 0.5, 1.0), "branches": 4, "use_se": True},
    ],
)
def test_reparameterized_mobileone_equals_train_time_model(config):
    torch.manual_seed(0)
    model = _calibrate(MobileOne(**config, n_classes=10), 1)
    fused = reparameterize(model)
    assert all(b.fused for b in fused.modules() if isinstance(b, MobileOneBlock))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert count_parameters(fused) < count_parameters(model)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        # the algebra is exact: fused and run in float64, the two networks agree to rounding
        model64 = copy.deepcopy(model).double()
        assert (model64(x.double()) - reparameterize(model64)(x.double())).abs().max() < 1e-8
        # in float32 rounding adds up over depth: s0's 43 blocks (untrained, outputs of order 1) differ by
        # about 2e-4, so the float32 bound is checked on the shallower networks
        if sum(config["depths"]) <= 7:
            assert (model(x) - fused(x)).abs().max() < 1e-4


def test_grouped_block_with_skip_and_scale_fuses_exactly():
    block = _calibrate(MobileOneBlock(8, 8, 3, 1, groups=4, branches=2), 2, (4, 8, 7, 7))  # grouped identity
    x = torch.randn(2, 8, 7, 7)
    with torch.no_grad():
        before = block(x)
        block.fuse()
        assert (before - block(x)).abs().max() < 1e-5


def test_parameter_counts_match_the_papers():
    s0 = MobileOne(n_classes=10)  # MobileOne-s0, 4 branches
    assert abs(count_parameters(s0) - 4.28e6) / 4.28e6 < 0.01  # paper 000, Table 2: train time
    assert abs(count_parameters(reparameterize(s0)) - 1.06e6) / 1.06e6 < 0.01  # inference
    xs = SwiftFormer(n_classes=1000, distillation=True)  # the published 3.5M counts the distillation head
    assert abs(count_parameters(xs) - 3.5e6) / 3.5e6 < 0.03


def test_swiftformer_xs_is_the_hybrid_spaces_conv_enc_last_1_encoding():
    torch.manual_seed(0)
    a = hybrid_model(SWIFTFORMER_XS, n_classes=10)
    torch.manual_seed(0)
    b = SwiftFormer(n_classes=10)
    assert [tuple(p.shape) for p in a.parameters()] == [tuple(p.shape) for p in b.parameters()]
    x = torch.randn(2, 3, 32, 32)
    a.eval(), b.eval()
    assert torch.equal(a(x), b(x))


def test_hybrid_networks_run_for_every_conv_type_and_attention_choice():
    x = torch.randn(2, 3, 32, 32)
    for encoding in [MOBILEONE, ("mo-se", "all", "conv-enc", "none", "mo", "last-2", "mo-se", "last-1")]:
        net = hybrid_model(encoding, n_classes=4)
        assert net(x).shape == (2, 4)
        _calibrate(net, 3)
        fused = reparameterize(net)
        with torch.no_grad():
            assert (net(x) - fused(x)).abs().max() < 1e-4


def test_space_counts_and_filters():
    assert len(hybrid_encodings()) == len(set(hybrid_encodings())) == 12**4
    encodings = mobileone_encodings()
    assert len(encodings) == len(set(encodings)) == 74_894 and S0_ENCODING in set(encodings)
    for e in random.Random(0).sample(encodings, 300):
        depths, mults = e[0:8:2], e[1:8:2]
        assert all(d in DEPTHS for d in depths) and TOTAL_DEPTH[0] <= sum(depths) <= TOTAL_DEPTH[1]
        assert list(mults) == sorted(mults)
        assert INFERENCE_PARAMETERS[0] <= inference_parameters(e) <= INFERENCE_PARAMETERS[1]


def test_analytic_parameter_count_equals_the_built_network():
    rng = random.Random(1)
    encodings = mobileone_encodings()
    for e in [S0_ENCODING, *rng.sample(encodings, 4)]:
        assert inference_parameters(e) == count_parameters(reparameterize(encoding_to_model(e)))


def test_zero_init_blocks_start_as_the_identity_and_still_fuse():
    torch.manual_seed(0)
    block = MobileOneBlock(6, 6, 3, 1, groups=6, branches=3)
    block.zero_init_branches()
    x = torch.randn(4, 6, 5, 5)
    block.train()
    expected = torch.relu(block.skip(x))  # every other branch is scaled by 0
    assert torch.allclose(block(x), expected)
    net = _calibrate(
        MobileOne((1, 1, 1, 1), (0.25, 0.25, 0.5, 0.5), branches=2, n_classes=3, zero_init=True), 4
    )
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (net(x) - reparameterize(net)(x)).abs().max() < 1e-4


def test_hybrid_space_branch_setting():
    from archtune.spaces.mobileone_swiftformer import mobileone_swiftformer_space

    one = mobileone_swiftformer_space(branches=1).encoding_to_net(MOBILEONE)
    blocks = [m for m in one.modules() if isinstance(m, MobileOneBlock)]
    assert blocks and all(len(b.convs) == 1 for b in blocks)
    with pytest.raises(ValueError, match="branches must be 1 or 4"):
        mobileone_swiftformer_space(branches=2)
