"""Every registered space, checked the same way: it builds, its encodings are unique, its features are
finite and one row per encoding, and networks built from a few of its encodings run a forward pass.

Driven by the registry (:data:`archtune.spaces.SPACES`), so a new built-in space is checked without
anyone adding it to a list here; it must declare the input its networks take in
:data:`archtune.spaces.registry.SAMPLE_INPUT_SHAPES`.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from archtune.space.encoding import encoding_key
from archtune.spaces import make_space
from archtune.spaces.registry import SAMPLE_INPUT_SHAPES, SPACES

NAMES = sorted(SPACES)


@functools.cache
def _space(name):
    return make_space(name)


@pytest.mark.parametrize("name", NAMES)
def test_space_builds_with_unique_encodings_and_finite_features(name):
    space = _space(name)
    assert len(space) > 1
    keys = [encoding_key(e) for e in space.encodings]
    assert len(set(keys)) == len(keys), f"{name} lists an encoding twice"
    features = np.asarray(space.features)
    assert features.shape[0] == len(space) and features.ndim == 2
    assert np.isfinite(features).all()
    for metric, values in space.metrics.items():
        assert len(values) == len(space), f"{name}: metric {metric} is not one value per encoding"


@pytest.mark.parametrize("name", NAMES)
def test_networks_of_a_few_encodings_run_a_forward_pass(name):
    assert name in SAMPLE_INPUT_SHAPES, (
        f"space {name!r} declares no sample input shape in SAMPLE_INPUT_SHAPES"
    )
    space = _space(name)
    assert space.encoding_to_net is not None, f"{name} has no network builder"
    rng = np.random.default_rng(0)
    x = torch.rand(*SAMPLE_INPUT_SHAPES[name], generator=torch.Generator().manual_seed(0))
    for i in rng.choice(len(space), size=min(3, len(space)), replace=False):
        net = space.encoding_to_net(space.encodings[int(i)]).eval()
        with torch.no_grad():
            out = net(x)
        out = out[0] if isinstance(out, tuple) else out
        assert out.shape[0] == x.shape[0] and torch.isfinite(out).all(), (
            f"{name} encoding {space.encodings[int(i)]}"
        )
