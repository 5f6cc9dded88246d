"""Checking a search's arguments before anything is written: one clear error per bad value.

Each check names the argument and says what to give instead, and raises a :class:`ConfigError` (a
``ValueError``) for a bad value or a :class:`ConfigTypeError` (also a ``TypeError``) for a bad type.
A search checks all of them before it opens its file, so a mistyped call leaves nothing behind.

Example:
    >>> positive_number(240, "hi_fi_cost")
    240.0
    >>> positive_number("1", "hi_fi_cost")
    Traceback (most recent call last):
    ...
    archtune.errors.ConfigTypeError: hi_fi_cost must be a number, got str '1'; pass e.g. hi_fi_cost=1
    >>> seed_value(-1)
    Traceback (most recent call last):
    ...
    archtune.errors.ConfigError: seed must be a non-negative integer, got -1; pass e.g. seed=0
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from archtune.errors import ConfigError, ConfigTypeError
from archtune.execute.executors import KINDS

_MAX_SEED = 2**63 - 1  # what NumPy and torch generators take


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}"


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def positive_number(value: Any, name: str, example: str = "1", allow_inf: bool = False) -> float:
    """``value`` as a positive finite float (``allow_inf``: infinity too)."""
    if not _is_number(value):
        raise ConfigTypeError(f"{name} must be a number, got {_shown(value)}; pass e.g. {name}={example}")
    out = float(value)
    if math.isnan(out) or out <= 0 or (math.isinf(out) and not allow_inf):
        raise ConfigError(
            f"{name} must be a positive finite number, got {value!r}; pass e.g. {name}={example}"
        )
    return out


def optional_positive_number(value: Any, name: str, example: str = "1") -> float | None:
    """None, or ``value`` as a positive finite float."""
    return None if value is None else positive_number(value, name, example)


def whole_number(value: Any, name: str, minimum: int, example: str) -> int:
    """``value`` as an int of at least ``minimum`` (2.0 is accepted as 2, 2.5 is not)."""
    if isinstance(value, (bool, np.bool_)) or not _is_number(value):
        raise ConfigTypeError(f"{name} must be an integer, got {_shown(value)}; pass e.g. {name}={example}")
    if isinstance(value, numbers.Integral) or math.isfinite(float(value)) and float(value).is_integer():
        out = int(value)
    else:
        raise ConfigError(f"{name} must be a whole number, got {value!r}; pass e.g. {name}={example}")
    if out < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value!r}; pass e.g. {name}={example}")
    return out


def seed_value(value: Any) -> int:
    """The run's seed: an integer in [0, 2**63)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        if _is_number(value) and float(value).is_integer():
            value = int(value)
        else:
            raise ConfigTypeError(
                f"seed must be a non-negative integer, got {_shown(value)}; pass e.g. seed=0"
            )
    if not 0 <= int(value) <= _MAX_SEED:
        raise ConfigError(f"seed must be a non-negative integer, got {value!r}; pass e.g. seed=0")
    return int(value)


def search_name(value: Any) -> str:
    """A search's name: a non-empty string."""
    if not isinstance(value, str):
        raise ConfigTypeError(f'name must be a string, got {_shown(value)}; pass e.g. name="run1"')
    if not value.strip():
        raise ConfigError('name must be a non-empty string; pass e.g. name="run1"')
    return value


def target_value(value: Any) -> float | None:
    """``run_search(target=...)``: None or a finite number (a high-fidelity value to stop at)."""
    if value is None:
        return None
    if not _is_number(value):
        raise ConfigTypeError(f"target must be a number or None, got {_shown(value)}; pass e.g. target=0.9")
    if not math.isfinite(float(value)):
        raise ConfigError(f"target must be a finite number, got {value!r}; pass e.g. target=0.9")
    return float(value)


def check_executor(spec: Any, cluster_options: Any = None) -> dict[str, Any] | None:
    """Refuse an ``executor=`` that :func:`archtune.execute.executors.open_executor` could never open.

    Checked when the search is created, not when :meth:`SearchInstance.run_search` first opens it, so a
    typo fails before anything is written. ``cluster_options`` (for ``"slurm"``, ``"pbs"``, ``"lsf"``)
    are checked too and returned as a dict (see :func:`archtune.execute.jobqueue.check_cluster_options`).

    Example:
        >>> check_executor("dask", cluster_options={"cores": 4})
        Traceback (most recent call last):
        ...
        archtune.errors.ConfigError: cluster_options go with executor= one of ('slurm', 'pbs', 'lsf'), not 'dask'
    """
    from archtune.execute.jobqueue import SYSTEMS, check_cluster_options

    if isinstance(spec, str) and spec in SYSTEMS:
        return check_cluster_options(spec, cluster_options)
    if cluster_options is not None:
        raise ConfigError(f"cluster_options go with executor= one of {tuple(SYSTEMS)}, not {spec!r}")
    if spec is None or spec in KINDS:
        return None
    if isinstance(spec, str):
        if "://" in spec:
            return None
        raise ConfigError(
            f"unknown executor {spec!r}: use one of {KINDS}, a Dask scheduler address (tcp://host:8786), "
            "a distributed.Client or a concurrent.futures.Executor"
        )
    if callable(getattr(spec, "submit", None)) or callable(getattr(spec, "scale", None)):
        return None  # an executor, a Client, or a Dask cluster object (SLURMCluster, LocalCluster)
    raise ConfigTypeError(
        f"executor must be None, one of {KINDS}, an address, a Client or an Executor; got {type(spec).__name__} {spec!r}"
    )
