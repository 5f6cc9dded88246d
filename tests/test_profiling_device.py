"""Profiling on the sample input's device: a real CPU peak of live tensors (not a sum of activations),
the same under concurrent profiling threads, and one torch thread per measurement."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from archtune.profile.runner import profile_encodings
from archtune.profile.zero_cost import measure_latency_ms, measure_peak_memory_mb, profile_module


def _bytes(*tensors):
    return sum(t.numel() * t.element_size() for t in tensors)


def test_cpu_peak_is_the_most_held_at_once_not_the_sum_of_activations():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), *[nn.ReLU() for _ in range(10)]).eval()
    x = torch.rand(2, 3, 16, 16)
    activation = 2 * 8 * 16 * 16 * 4
    resident = _bytes(*net.parameters(), x)
    # at most two activations live at once (a layer's input and its output), however deep the chain
    assert measure_peak_memory_mb(net, x) * 2**20 == resident + 2 * activation
    inplace = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), *[nn.ReLU(inplace=True) for _ in range(10)]).eval()
    assert measure_peak_memory_mb(inplace, x) * 2**20 == resident + activation


def test_cpu_peak_is_the_same_while_other_threads_profile():
    def make():
        return nn.Sequential(
            nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 16, 3), nn.Flatten(), nn.Linear(16 * 12 * 12, 10)
        )

    x = torch.rand(4, 3, 16, 16)
    alone = measure_peak_memory_mb(make().eval(), x)
    seen, errors = [], []

    def work():
        try:
            for _ in range(5):
                seen.append(measure_peak_memory_mb(make().eval(), x))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(seen) == 20 and set(seen) == {alone}


def test_latency_and_device_argument():
    net = nn.Sequential(nn.Flatten(), nn.Linear(48, 4))
    x = torch.rand(2, 3, 4, 4)
    assert measure_latency_ms(net, x, repeats=3) > 0
    m = profile_module(net, x, latency_repeats=2, device="cpu")
    assert m["params"] == 196 and m["flops"] == 2 * 2 * 48 * 4 and m["latency_ms"] > 0
    with pytest.raises(RuntimeError):
        profile_module(net, x, device="meta_not_a_device")


def test_profiling_uses_one_torch_thread_per_measurement_and_restores_the_setting():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(torch.get_num_threads())
            return x

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        out = profile_encodings(
            [0, 1], lambda _: Probe(), torch.rand(1, 4), threads=1, progress=False, metrics=("latency_ms",)
        )
        assert not out.errors and set(seen) == {1} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
