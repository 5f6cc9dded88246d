"""Profiling many encodings in parallel, with a progress bar; builder failures are collected, not fatal.

Example:
    >>> import torch
    >>> def build(width):
    ...     if width == 0:
    ...         raise ValueError("width must be positive")
    ...     return torch.nn.Linear(4, width)
    >>> out = profile_encodings([1, 0, 2], build, torch.rand(1, 4), threads=1, progress=False)
    >>> out.metrics["params"]
    [5.0, nan, 10.0]
    >>> out.errors
    {1: 'ValueError: width must be positive'}
    >>> sorted(profile_encodings([1], build, torch.rand(1, 4), metrics=("params",), progress=False).metrics)
    ['params']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch

from archtune.profile.zero_cost import METRICS, check_metrics, profile_module
from archtune.progress import progress_bar


@dataclass
class ProfileResult:
    """Metrics per encoding (NaN where the builder failed) and the builder's error per failed index."""

    metrics: dict[str, list[float]]
    errors: dict[int, str] = field(default_factory=dict)


def profile_encodings(
    encodings: Sequence[Any],
    encoding_to_net: Callable[[Any], torch.nn.Module],
    sample_input: torch.Tensor,
    threads: int = 1,
    progress: bool = True,
    latency_repeats: int = 5,
    metrics: Sequence[str] = METRICS,
    device: torch.device | str | None = None,
) -> ProfileResult:
    """Build and profile each encoding, ``threads`` at a time, computing ``metrics`` (default: all) on
    ``device`` (default: the sample input's).

    Threads, not processes: torch releases the GIL in its kernels, the user's builder need not be
    picklable, and latency measured on a busy machine is noisy anyway (the surrogate only needs ranks).
    Each measurement runs on one thread: on CPU torch's kernels get one thread while profiling, whatever
    ``threads`` is, so a latency does not depend on how many networks are profiled at once (up to
    ``threads`` cores); on a GPU the timed and memory measurements take the device one at a time.
    Latency is timed, so it differs run to run; ``metrics=COUNTED_METRICS`` (params, FLOPs) gives the
    same table on every run (docs/reproducibility.md).
    """
    n = len(encodings)
    chosen = check_metrics(metrics)
    table = {m: [math.nan] * n for m in chosen}
    errors: dict[int, str] = {}

    def work(i: int) -> tuple[int, dict[str, float] | None, str | None]:
        try:
            net = encoding_to_net(encodings[i])
            if not isinstance(net, torch.nn.Module):
                return (
                    i,
                    None,
                    f"TypeError: encoding_to_net returned {type(net).__name__}, not a torch.nn.Module",
                )
            return (
                i,
                profile_module(
                    net, sample_input, latency_repeats=latency_repeats, metrics=chosen, device=device
                ),
                None,
            )
        except Exception as err:  # the user's builder: report and skip this encoding
            return i, None, f"{type(err).__name__}: {err}"

    threads = max(1, int(threads))
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(
        1
    )  # one kernel thread per measurement: no oversubscription, the same at any `threads`
    try:
        with (
            progress_bar("profiling", total=n, enabled=progress) as advance,
            ThreadPoolExecutor(threads) as pool,
        ):
            for i, result, error in pool.map(work, range(n)):
                if error is not None:
                    errors[i] = error
                else:
                    for m in chosen:
                        table[m][i] = result[m]  # type: ignore[index]
                advance(1)
    finally:
        torch.set_num_threads(torch_threads)
    return ProfileResult(table, errors)
