"""Zero-cost metrics of one network: trainable parameters, FLOPs, latency and peak memory.

These cost nothing compared with training, and the surrogate is pretrained on them (paper 000,
"simultaneous pretraining"). Everything is measured on the sample input's device (or ``device=``):

- ``params``: trainable parameters (counted);
- ``flops``: FLOPs of one forward pass, a multiply-add counting 2 (counted by ``FlopCounterMode``);
- ``latency_ms``: the median of ``latency_repeats`` timed forward passes after warm-up passes; on GPU
  the device is synchronised before and after each pass, so the time is the GPU's, not the launch's;
- ``peak_memory_mb``: the network's parameters, buffers and input plus the highest amount of memory
  its forward pass holds at once on top of them: on GPU from the CUDA allocator's peak statistics, on
  CPU from the tensors the forward pass allocates and frees, followed op by op in this thread (so it is
  counted, the same on every run, and other threads' work does not enter it).

Parameters, FLOPs and CPU peak memory are the same on every run; latency is timed, so it differs run
to run (see docs/reproducibility.md). ``metrics=`` chooses which are computed.

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
import threading
import time
import weakref
from collections.abc import Sequence
from functools import cache
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
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


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_latency_ms(
    net: torch.nn.Module, sample_input: torch.Tensor, repeats: int = 5, warmup: int = 2
) -> float:
    """Median wall time of a forward pass in milliseconds on the input's device, after ``warmup`` untimed
    passes (which also let cuDNN and the allocator settle); a GPU is synchronised around each pass."""
    times = []
    device = sample_input.device
    with torch.no_grad():
        for i in range(warmup + repeats):
            _synchronize(device)
            start = time.perf_counter()
            net(sample_input)
            _synchronize(device)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000.0)
    return float(statistics.median(times))


def _tensor_bytes(tensors: Any) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


class LiveTensorPeak(TorchDispatchMode):
    """The highest number of bytes held at once by tensors that ops create while the mode is on.

    Each op's outputs are followed through their storage (a view or an in-place result adds nothing);
    a storage counts from its creation until it is freed (a weak reference's callback). Dispatch modes
    are per thread, so threads profiling other networks at the same time do not enter the count."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, int] = {}
        self.current = self.peak = 0

    def _free(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            try:
                storage = t.untyped_storage()
            except (RuntimeError, NotImplementedError):  # opaque layouts (mkldnn) have no storage
                continue
            key, size = storage.data_ptr(), storage.nbytes()
            if key == 0 or key in self.live or size == 0:
                continue
            self.live[key] = size
            self.current += size
            self.peak = max(self.peak, self.current)
            weakref.finalize(storage, self._free, key)
        return out


def measure_peak_memory_mb(net: torch.nn.Module, sample_input: torch.Tensor) -> float:
    """Peak memory of a forward pass in MiB: parameters, buffers and input, plus the most the pass holds
    on top of them at once (CUDA's allocator peak on GPU; :class:`LiveTensorPeak` on CPU, counted).

    Not tracemalloc or the process's resident set on CPU: tracemalloc does not see torch's allocator, and
    both are process-wide, so concurrent profiling threads would enter each other's numbers."""
    resident = _tensor_bytes(net.parameters()) + _tensor_bytes(net.buffers()) + _tensor_bytes([sample_input])
    if sample_input.is_cuda:
        device = sample_input.device
        _synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        with torch.no_grad():
            net(sample_input)
        _synchronize(device)
        return (resident + torch.cuda.max_memory_allocated(device) - before) / 2**20
    tracker = LiveTensorPeak()
    with torch.no_grad(), tracker:
        net(sample_input)
    return (resident + tracker.peak) / 2**20


@cache
def device_lock(device: str) -> Any:
    """One lock per GPU: its timings and allocator statistics are the whole device's, so measurements on
    it run one at a time even when profiling threads build and count networks concurrently."""
    return threading.Lock()


def profile_module(
    net: torch.nn.Module,
    sample_input: torch.Tensor,
    latency_repeats: int = 5,
    metrics: Sequence[str] = METRICS,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """The zero-cost ``metrics`` (default: all of :data:`~archtune.profile.zero_cost.METRICS`) of ``net`` (in
    eval mode) on ``sample_input``, both moved to ``device`` when given (else: the input's device)."""
    chosen = check_metrics(metrics)
    if device is not None:
        sample_input = sample_input.to(device)
    net.eval()
    net = net.to(sample_input.device)
    if sample_input.is_cuda:
        with device_lock(str(sample_input.device)):
            return _profile(net, sample_input, latency_repeats, chosen)
    return _profile(net, sample_input, latency_repeats, chosen)


def _profile(
    net: torch.nn.Module, sample_input: torch.Tensor, latency_repeats: int, chosen: tuple[str, ...]
) -> dict[str, float]:
    compute = {
        "params": lambda: float(count_parameters(net)),
        "flops": lambda: float(count_flops(net, sample_input)),
        "latency_ms": lambda: measure_latency_ms(net, sample_input, repeats=latency_repeats),
        "peak_memory_mb": lambda: measure_peak_memory_mb(net, sample_input),
    }
    return {m: compute[m]() for m in chosen}
