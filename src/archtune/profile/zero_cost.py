"""Zero-cost metrics of one network: trainable parameters, FLOPs, latency and peak memory.

These cost nothing compared with training, and the surrogate is pretrained on them (paper 000,
"simultaneous pretraining"). Parameters, FLOPs and CPU peak memory are counted, so they are the same on
every run; latency is timed, so it differs run to run (see docs/reproducibility.md). ``metrics=``
chooses which are computed.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
    >>> m = profile_module(net, torch.rand(1, 3, 16, 16), latency_repeats=2)
    >>> m["params"], m["flops"]
    (224.0, 84672.0)
    >>> profile_module(net, torch.rand(1, 3, 16, 16), metrics=COUNTED_METRICS)
    {'params': 224.0, 'flops': 84672.0}
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

from archtune.errors import ConfigError

#: Every zero-cost metric profiling can compute.
METRICS = ("params", "flops", "latency_ms", "peak_memory_mb")
#: The metrics counted from the network's structure (not timed), the same on every run and every machine.
COUNTED_METRICS = ("params", "flops")


def check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    """``metrics`` as a tuple, after checking each is one of :data:`~archtune.profile.zero_cost.METRICS` (and there is at least one)."""
    chosen = tuple(metrics)
    unknown = [m for m in chosen if m not in METRICS]
    if unknown or not chosen:
        raise ConfigError(f"unknown profiling metric(s) {unknown or chosen!r}; valid: {', '.join(METRICS)}")
    return chosen


def count_parameters(net: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def count_flops(net: torch.nn.Module, sample_input: torch.Tensor) -> int:
    """FLOPs of one forward pass on ``sample_input`` (torch's counter: a multiply-add counts 2)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(sample_input)
    return int(counter.get_total_flops())


def measure_latency_ms(net: torch.nn.Module, sample_input: torch.Tensor, repeats: int = 5, warmup: int = 2) -> float:
    """Median wall time of a forward pass in milliseconds, after ``warmup`` untimed passes."""
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            net(sample_input)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000.0)
    return float(statistics.median(times))


def measure_peak_memory_mb(net: torch.nn.Module, sample_input: torch.Tensor) -> float:
    """Peak memory of a forward pass in MiB: CUDA's allocator statistics on GPU, else the parameter,
    buffer and activation bytes seen by a forward hook (counted, so the same on every run).

    No tracemalloc on CPU: it does not see torch's allocator, and it is process-wide, so with several
    profiling threads it counted the other threads' Python allocations and made this metric vary."""
    if sample_input.is_cuda:
        torch.cuda.reset_peak_memory_stats(sample_input.device)
        with torch.no_grad():
            net(sample_input)
        return torch.cuda.max_memory_allocated(sample_input.device) / 2**20
    activation_bytes = 0

    def hook(_module, _inputs, output):
        nonlocal activation_bytes
        if isinstance(output, torch.Tensor):
            activation_bytes += output.numel() * output.element_size()

    leaves = [m for m in net.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            net(sample_input)
    finally:
        for h in handles:
            h.remove()
    param_bytes = sum(p.numel() * p.element_size() for p in net.parameters())
    param_bytes += sum(b.numel() * b.element_size() for b in net.buffers())
    return (param_bytes + activation_bytes) / 2**20


def profile_module(
    net: torch.nn.Module, sample_input: torch.Tensor, latency_repeats: int = 5, metrics: Sequence[str] = METRICS
) -> dict[str, float]:
    """The zero-cost ``metrics`` (default: all of :data:`~archtune.profile.zero_cost.METRICS`) of ``net`` (in eval mode) on ``sample_input``."""
    chosen = check_metrics(metrics)
    net.eval()
    compute = {
        "params": lambda: float(count_parameters(net)),
        "flops": lambda: float(count_flops(net, sample_input)),
        "latency_ms": lambda: measure_latency_ms(net, sample_input, repeats=latency_repeats),
        "peak_memory_mb": lambda: measure_peak_memory_mb(net, sample_input),
    }
    return {m: compute[m]() for m in chosen}
