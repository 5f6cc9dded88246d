"""The embedded demo: the same seed gives the same trajectory (docs/reproducibility.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from archtune.demo import prepare_space, run_demo
from archtune.profile import COUNTED_METRICS
from archtune.spaces import digits_cnn


def _tensors(payload, prefix=""):
    """Every tensor in a nested dict/list payload, by its path."""
    if isinstance(payload, torch.Tensor):
        return {prefix: payload}
    items = (
        payload.items()
        if isinstance(payload, dict)
        else enumerate(payload)
        if isinstance(payload, list | tuple)
        else []
    )
    out = {}
    for key, value in items:
        out.update(_tensors(value, f"{prefix}/{key}"))
    return out


def test_demo_space_is_the_same_on_every_run():
    # the cause of two seed-0 demos diverging at trial 14: the surrogate was pretrained on measured
    # latency (and on peak memory counted with a process-wide tracemalloc shared by two profiling threads)
    a, b = prepare_space(None, seed=0, progress=False), prepare_space(None, seed=0, progress=False)
    assert sorted(a.metrics) == sorted(COUNTED_METRICS)
    for name in a.metrics:
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name])
    ta, tb = _tensors(a.surrogate), _tensors(b.surrogate)
    assert ta and ta.keys() == tb.keys()
    assert all(torch.equal(ta[k], tb[k]) for k in ta)


def test_demo_training_does_not_depend_on_the_callers_torch_threads():
    previous = torch.get_num_threads()
    try:
        values = []
        for threads in (1, 3):
            torch.set_num_threads(threads)
            values.append(digits_cnn.train_and_evaluate((2, 8, 3, "tanh"), epochs=1))
            assert torch.get_num_threads() == threads  # restored
    finally:
        torch.set_num_threads(previous)
    assert values[0] == values[1]


def _trajectory(result):
    return [(h["encoding"], h["fidelity"], h["status"], h["value"]) for h in result["history"]]


def _two_demos(tmp_path, budget):
    first = run_demo(str(tmp_path / "a"), budget=budget, seed=0)
    second = run_demo(str(tmp_path / "b"), budget=budget, seed=0)
    return _trajectory(first), _trajectory(second)


def test_two_demos_from_scratch_have_the_same_history_at_the_smallest_budget(tmp_path):
    first, second = _two_demos(tmp_path, budget=4)
    assert any(f == "hi" for _, f, _, _ in first)
    assert first == second


@pytest.mark.slow
def test_two_default_demos_from_scratch_have_the_same_history(tmp_path):
    # the reported run: budget 6, seed 0 (the two had diverged at trial 14 of 15)
    first, second = _two_demos(tmp_path, budget=6)
    assert len(first) >= 15
    assert first == second
