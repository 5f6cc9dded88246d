"""A space given by its knobs instead of a list: every combination of the options of named knobs.

The enumerated form, :class:`~archtune.space.search_space.SearchSpace`, lists its encodings. A
:class:`ProductSpace` never does: its size is only a number (10^12 encodings cost nothing), an encoding
is a dict ``{knob: value}``, and its index is the mixed-radix number of its choices (the first knob
most significant). Strategies draw, mutate and featurize encodings on demand, so a search step costs
the same in a 10^4 space as in a 10^12 one. Make one with
``create_search_space(name, save_filename, knobs={...})``; it saves to the same safe space file as
the enumerated form and is accepted by :class:`~archtune.search.instance.SearchInstance`.

A knob is given as

* a list or tuple of choices (numbers, strings, booleans or None): ``[1, 2, 3, 4]``, ``["conv", "mbconv"]``;
* a ``range`` of integers: ``range(16, 257, 16)``;
* a numeric range as a dict: ``{"low": 16, "high": 256, "step": 16}`` (an arithmetic grid, low and
  high included) or ``{"low": 1e-4, "high": 1e-1, "num": 7, "log": True}`` (``num`` points, evenly
  spaced, on a log scale with ``log``).

Knobs whose choices are all numbers are featurized as one number scaled to [0, 1] (the log of the value
for a log range), so the surrogate sees their order; the others are one-hot. ``feasible`` (a function
``encoding -> bool``) removes combinations that cannot be built: they are never proposed.

Example:
    >>> s = ProductSpace({"op": ("conv", "pool"), "width": (8, 16, 32)})
    >>> s.size, s.decode(np.array([1, 2]))
    (6, {'op': 'pool', 'width': 32})
    >>> s.features(np.array([[1, 2]])).tolist()
    [[0.0, 1.0, 1.0]]
    >>> s.encodings[5], s.index[s.keys[5]]
    ({'op': 'pool', 'width': 32}, 5)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archtune.errors import ConfigError, SpaceError, UntrustedBuilderError
from archtune.space.builders import resolve_path
from archtune.space.encoding import decode_key, encoding_key

__all__ = ["MAX_SIZE", "ProductSpace", "parse_knobs"]

#: The largest product space (its indices are int64 numbers).
MAX_SIZE = 2**62
_MAX_GRID = 100_000  # options of one knob; more is not a choice among tokens


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _grid(name: str, spec: Mapping[str, Any]) -> tuple[list[int | float], bool]:
    """The options of a numeric-range knob ``{"low", "high", "step" | "num", "log"}``, and its log flag."""
    unknown = set(spec) - {"low", "high", "step", "num", "log"}
    if unknown or "low" not in spec or "high" not in spec or ("step" in spec) == ("num" in spec):
        raise ConfigError(
            f'knob {name!r}: a numeric range is {{"low": ..., "high": ..., "step": ...}} or '
            f'{{"low": ..., "high": ..., "num": ..., "log": True}}; got {dict(spec)!r}'
        )
    low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
    if not (
        _is_number(low) and _is_number(high) and math.isfinite(low) and math.isfinite(high) and low < high
    ):
        raise ConfigError(
            f"knob {name!r}: low and high must be finite numbers with low < high, got {low!r}, {high!r}"
        )
    if log and low <= 0:
        raise ConfigError(f"knob {name!r}: a log range needs low > 0, got {low!r}")
    if "step" in spec:
        step = spec["step"]
        if not _is_number(step) or not step > 0 or log:
            raise ConfigError(
                f"knob {name!r}: step must be a positive number (and no log with a step), got {step!r}"
            )
        count = int(math.floor((high - low) / step + 1e-9)) + 1
        if count > _MAX_GRID:
            raise ConfigError(
                f"knob {name!r}: the range has {count} options, more than {_MAX_GRID}; use a larger step"
            )
        ints = all(isinstance(v, int) for v in (low, high, step))
        values: list[int | float] = [
            low + k * step if ints else round(low + k * step, 12) for k in range(count)
        ]
        return values, False
    num = spec["num"]
    if not isinstance(num, int) or isinstance(num, bool) or not 2 <= num <= _MAX_GRID:
        raise ConfigError(f"knob {name!r}: num must be an integer from 2 to {_MAX_GRID}, got {num!r}")
    points = np.geomspace(low, high, num) if log else np.linspace(low, high, num)
    return [float(f"{p:.12g}") for p in points], log


def parse_knobs(knobs: Any) -> list[dict[str, Any]]:
    """Knob specifications as the space file stores them: ``[{"name", "options", "log"}, ...]``.

    Raises:
        ConfigError: naming the knob and what is wrong with it.

    Example:
        >>> parse_knobs({"w": range(8, 33, 8), "lr": {"low": 0.01, "high": 1, "num": 3, "log": True}})
        [{'name': 'w', 'options': [8, 16, 24, 32], 'log': False}, {'name': 'lr', 'options': [0.01, 0.1, 1.0], 'log': True}]
    """
    if not isinstance(knobs, Mapping) or not knobs:
        raise ConfigError(
            'knobs must be a non-empty dict of knob name -> choices, e.g. {"depth": [1, 2, 3], "block": ["conv", "mbconv"]}'
        )
    out: list[dict[str, Any]] = []
    for name, spec in knobs.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"knob names must be non-empty strings, got {name!r}")
        log = False
        options: list[Any]
        if isinstance(spec, Mapping):
            options, log = _grid(name, spec)
        elif isinstance(spec, range | list | tuple):
            options = list(spec)
        else:
            raise ConfigError(
                f"knob {name!r} must be a list of choices, a range, or a numeric range dict; got a {type(spec).__name__}"
            )
        if not options:
            raise ConfigError(f"knob {name!r} has no options")
        for value in options:
            if isinstance(value, np.generic):
                raise ConfigError(
                    f"knob {name!r}: give Python numbers, not numpy {type(value).__name__} ({value!r})"
                )
            if not isinstance(value, int | float | str | bool | type(None)) or (
                isinstance(value, float) and not math.isfinite(value)
            ):
                raise ConfigError(
                    f"knob {name!r}: option {value!r} is not a finite number, string, boolean or None (a space file holds JSON values)"
                )
        if len({encoding_key((v,)) for v in options}) != len(options):
            raise ConfigError(f"knob {name!r} lists an option twice: {options}")
        out.append({"name": name, "options": options, "log": log})
    size = math.prod(len(k["options"]) for k in out)
    if size > MAX_SIZE:
        raise ConfigError(
            f"the knobs make {size:.3g} encodings, more than archtune indexes ({MAX_SIZE:.3g}); drop or narrow a knob"
        )
    return out


class _Keys(Sequence[str]):
    """``space.keys[i]``: the canonical key of encoding ``i``, computed on demand."""

    def __init__(self, space: ProductSpace):
        self._space = space

    def __len__(self) -> int:
        return self._space.size

    def __getitem__(self, i: Any) -> Any:
        return encoding_key(self._space.encodings[i])


class _Encodings(Sequence[dict[str, Any]]):
    """``space.encodings[i]``: encoding ``i`` as a dict, computed on demand."""

    def __init__(self, space: ProductSpace):
        self._space = space

    def __len__(self) -> int:
        return self._space.size

    def __getitem__(self, i: Any) -> Any:
        i = int(i)
        if not 0 <= i < self._space.size:
            raise IndexError(f"encoding {i} is outside the space's {self._space.size}")
        return self._space.decode(self._space.tokens_of(np.array([i]))[0])


class _Index(Mapping[str, int]):
    """``space.index[key]``: the index of the encoding with that key (no table: the key is parsed)."""

    def __init__(self, space: ProductSpace):
        self._space = space

    def __getitem__(self, key: str) -> int:
        try:
            value = decode_key(key)
        except (TypeError, ValueError):
            raise KeyError(key) from None
        if not isinstance(value, dict):
            raise KeyError(key)
        try:
            return self._space.index_of(value)
        except SpaceError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        raise TypeError("a product space's encodings are not listed")

    def __len__(self) -> int:
        return self._space.size


class ProductSpace:
    """Every combination of the options of named knobs; encodings are dicts knob -> option (module doc).

    Args:
        knobs: knob name -> choices (see the module doc for the forms), or stored specifications.
        name: the space's name.
        save_filename: where :meth:`save` writes the space file (None: in memory only).
        encoding_to_net: encoding -> ``torch.nn.Module`` (or its import path), for :meth:`preprocess`.
        feasible: encoding -> bool (or its import path): False for a combination that cannot be built.
        metric_indices, metrics: zero-cost metrics measured for a sample: the sample's indices and one
            float array per metric, aligned with them.
        excluded: index -> why that encoding cannot be built (found by profiling).
        surrogate: the pretrained surrogate's payload (see :meth:`preprocess`).
        trusted: whether import paths (builder, feasibility) read from a file may be imported.

    Internally an encoding is a row of choice indices ("tokens"), one per knob in the given order.
    """

    #: the form, as ``SearchInstance`` and the strategies ask: never listed
    listed = False

    def __init__(
        self,
        knobs: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        name: str = "product",
        save_filename: str | os.PathLike[str] | None = None,
        encoding_to_net: Callable[[Any], torch.nn.Module] | str | None = None,
        feasible: Callable[[dict[str, Any]], bool] | str | None = None,
        metric_indices: np.ndarray | None = None,
        metrics: Mapping[str, np.ndarray] | None = None,
        excluded: Mapping[int, str] | None = None,
        surrogate: dict[str, Any] | None = None,
        trusted: bool = True,
    ):
        if not isinstance(name, str) or not name:
            raise SpaceError(f"name must be a non-empty string naming the search space; got {name!r}")
        specs = list(knobs) if isinstance(knobs, list) else parse_knobs(knobs)
        self.name = name
        self.save_filename = Path(save_filename) if save_filename is not None else None
        self.specs = specs
        self.names = [k["name"] for k in specs]
        self.options = [tuple(k["options"]) for k in specs]
        self.vocab_sizes = [len(o) for o in self.options]
        self.size = math.prod(self.vocab_sizes)
        strides = [math.prod(self.vocab_sizes[k + 1 :]) for k in range(len(specs))]
        self._strides = np.array(strides, dtype=np.int64)
        self._vocab = np.array(self.vocab_sizes, dtype=np.int64)
        self._lookup = [{encoding_key((o,)): i for i, o in enumerate(options)} for options in self.options]
        # the numeric knobs' options on [0, 1]: their features, and the order mutations(nearest=) follow
        units = [self._unit_values(k) for k in specs]
        self._units = {k: u for k, u in enumerate(units) if u is not None}
        self._tables = [
            u.astype(np.float32).reshape(-1, 1)
            if u is not None
            else np.eye(len(k["options"]), dtype=np.float32)
            for k, u in zip(specs, units, strict=True)
        ]
        self.n_features = sum(t.shape[1] for t in self._tables)
        self._builder = encoding_to_net
        self._feasible = feasible
        self.trusted = trusted
        self._feasible_cache: dict[int, bool] = {}
        self.metric_indices = (
            np.asarray(metric_indices, dtype=np.int64)
            if metric_indices is not None
            else np.zeros(0, np.int64)
        )
        self.metrics: dict[str, np.ndarray] = {
            k: np.asarray(v, dtype=np.float64) for k, v in (metrics or {}).items()
        }
        self.excluded: dict[int, str] = dict(excluded or {})
        self.surrogate = surrogate
        self.keys = _Keys(self)
        self.encodings = _Encodings(self)
        self.index = _Index(self)

    # -- what it is ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"ProductSpace(name={self.name!r}, knobs={self.names}, size={self.size:.3g})"

    @staticmethod
    def _unit_values(spec: Mapping[str, Any]) -> np.ndarray | None:
        """A numeric knob's options scaled to [0, 1] (their logs for a log range); None for other knobs."""
        options = spec["options"]
        if len(options) < 2 or not all(_is_number(o) for o in options):
            return None
        values = np.array(options, dtype=np.float64)
        if spec.get("log"):
            values = np.log(values)
        return (values - values.min()) / (values.max() - values.min())

    def unit_coordinates(self) -> dict[int, np.ndarray]:
        """Knob position -> its options' coordinates in [0, 1], for the numeric knobs (two or more options,
        all numbers): the number each option's feature holds (of the log for a log range), by option order.

        Example:
            >>> ProductSpace({"op": ["a", "b"], "w": [8, 16, 32]}).unit_coordinates()[1].round(3).tolist()
            [0.0, 0.333, 1.0]
        """
        return {k: u.copy() for k, u in self._units.items()}

    def fingerprint(self) -> dict[str, str | int]:
        """Hashes that identify the space (its knobs in order, options in order): a search file keeps them."""
        knobs = json.dumps(self.specs, sort_keys=True, separators=(",", ":"))
        return {
            "form": "product",
            "n_encodings": self.size,
            "n_features": self.n_features,
            "knobs": hashlib.sha256(knobs.encode()).hexdigest(),
        }

    # -- tokens, indices, encodings --------------------------------------------------------------
    def tokens_of(self, indices: np.ndarray) -> np.ndarray:
        """Token rows (n, knobs) of encoding indices."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1, 1)
        return (idx // self._strides) % self._vocab

    def index_of_tokens(self, tokens: np.ndarray) -> np.ndarray:
        """Encoding indices of token rows."""
        return np.atleast_2d(np.asarray(tokens, dtype=np.int64)) @ self._strides

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniform draws as token rows, shape (n, knobs) (feasibility not applied)."""
        return np.stack([rng.integers(v, size=n, dtype=np.int64) for v in self.vocab_sizes], axis=1)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniform draws as encoding indices (feasibility not applied)."""
        return self.index_of_tokens(self.sample(rng, n))

    def features(self, tokens: np.ndarray) -> np.ndarray:
        """Feature rows of token rows, float32 (see the module doc)."""
        tokens = np.atleast_2d(tokens)
        return np.concatenate([t[tokens[:, k]] for k, t in enumerate(self._tables)], axis=1)

    def features_of(self, indices: np.ndarray) -> np.ndarray:
        """Feature rows of encoding indices."""
        return self.features(self.tokens_of(indices))

    def decode(self, row: np.ndarray) -> dict[str, Any]:
        return {name: options[int(t)] for name, options, t in zip(self.names, self.options, row, strict=True)}

    def encode(self, encoding: Mapping[str, Any]) -> np.ndarray:
        """Token row of an encoding dict; unknown knobs or options are refused."""
        if not isinstance(encoding, Mapping) or set(encoding) != set(self.names):
            got = sorted(encoding) if isinstance(encoding, Mapping) else repr(encoding)
            raise SpaceError(f"an encoding of this space is a dict with the knobs {self.names}, got {got}")
        row = []
        for name, lookup in zip(self.names, self._lookup, strict=True):
            try:
                row.append(lookup[encoding_key((encoding[name],))])
            except (KeyError, TypeError, ValueError):
                raise SpaceError(f"{encoding[name]!r} is not an option of knob {name!r}") from None
        return np.array(row, dtype=np.int64)

    def index_of(self, encoding: Mapping[str, Any]) -> int:
        """Index of an encoding dict.

        Raises:
            SpaceError: for a knob or option not in the space.
        """
        return int(self.index_of_tokens(self.encode(encoding))[0])

    def mutations(self, row: np.ndarray, nearest: int | None = None) -> np.ndarray:
        """Every token row one knob away from ``row``; with ``nearest``, only each knob's ``nearest``
        options closest to the row's (by value for a numeric knob, by position otherwise), so that a
        knob of 1,000 options adds its local moves and not 999 rows.

        Example:
            >>> s = ProductSpace({"w": range(0, 1000), "op": ["a", "b", "c"]})
            >>> [s.decode(r) for r in s.mutations(np.array([500, 0]), nearest=2)]
            [{'w': 499, 'op': 'a'}, {'w': 501, 'op': 'a'}, {'w': 500, 'op': 'b'}, {'w': 500, 'op': 'c'}]
        """
        out = []
        for k, v in enumerate(self.vocab_sizes):
            others = np.array([t for t in range(v) if t != row[k]], dtype=np.int64)
            if nearest is not None and len(others) > nearest:
                position = self._units[k] if k in self._units else np.arange(v, dtype=np.float64)
                gaps = np.abs(position[others] - position[row[k]])
                others = np.sort(others[np.argsort(gaps, kind="stable")[:nearest]])
            for t in others:
                child = row.copy()
                child[k] = t
                out.append(child)
        return np.array(out, dtype=np.int64).reshape(-1, len(self.vocab_sizes))

    def neighbors(self, index: int, nearest: int | None = None) -> list[int]:
        """Indices of the encodings one knob away from encoding ``index`` (feasibility not applied);
        ``nearest`` as for :meth:`mutations`."""
        row = self.tokens_of(np.array([index]))[0]
        return [int(i) for i in self.index_of_tokens(self.mutations(row, nearest))]

    # -- what may be searched --------------------------------------------------------------------
    def _imported(self, path: str, what: str, argument: str) -> Any:
        """``path`` imported, when the file's import paths are trusted (importing runs its author's code)."""
        if not self.trusted:
            raise UntrustedBuilderError(
                f"space file {str(self.save_filename)!r} names the {what} {path!r}, which archtune does not import "
                "from a file on its own (importing runs code); load it with load_search_space(path, "
                f"trust_builder=True) if you trust the file, or pass {argument}=..."
            )
        return resolve_path(path)

    @property
    def feasible(self) -> Callable[[dict[str, Any]], bool] | None:
        """The feasibility predicate; a stored import path is imported here, on first use (see ``trusted``)."""
        feasible = self._feasible
        if isinstance(feasible, str):
            feasible = self._feasible = self._imported(feasible, "feasibility function", "feasible")
        return feasible

    def allowed(self, index: int) -> bool:
        """Whether encoding ``index`` may be proposed: feasible and not excluded."""
        if index in self.excluded:
            return False
        check = self.feasible
        if check is None:
            return True
        known = self._feasible_cache.get(index)
        if known is None:
            known = bool(check(self.encodings[index]))
            if len(self._feasible_cache) < 1_000_000:  # a cache, not a table of the space
                self._feasible_cache[index] = known
        return known

    # -- the builder -----------------------------------------------------------------------------
    @property
    def encoding_to_net(self) -> Callable[[Any], torch.nn.Module] | None:
        """The network builder; a stored import path is imported here, on first use (see ``trusted``)."""
        builder = self._builder
        if isinstance(builder, str):
            builder = self._builder = self._imported(builder, "network builder", "encoding_to_net")
        return builder

    # -- zero-cost data --------------------------------------------------------------------------
    def set_pretraining_data(self, table: Any) -> None:
        """Zero-cost metrics for some encodings, as rows ``[{"encoding": {...}, "params": ..., ...}, ...]``.

        Example:
            >>> s = ProductSpace({"w": [8, 16, 32]})
            >>> s.set_pretraining_data([{"encoding": {"w": 16}, "params": 2.0}])
            >>> s.metric_indices.tolist(), s.metrics["params"].tolist()
            ([1], [2.0])
        """
        if isinstance(table, Mapping) or not isinstance(table, Sequence):
            raise SpaceError(
                'a product space takes pretraining data as rows [{"encoding": {...}, "metric": value}, ...] '
                "(its encodings are not listed, so columns cannot be aligned with them)"
            )
        rows: dict[int, dict[str, float]] = {}
        for number, row in enumerate(table):
            if not isinstance(row, Mapping) or "encoding" not in row:
                raise SpaceError(f"pretraining row {number} must be a dict with an 'encoding' key")
            values = {k: float(v) for k, v in row.items() if k != "encoding"}
            if any(not math.isfinite(v) for v in values.values()):
                raise SpaceError(f"pretraining row {number} holds a value that is not finite")
            rows.setdefault(self.index_of(row["encoding"]), {}).update(values)
        names = sorted({n for values in rows.values() for n in values})
        if not names:
            raise SpaceError("the pretraining table holds no metric")
        order = sorted(rows)
        self.metric_indices = np.array(order, dtype=np.int64)
        self.metrics = {n: np.array([rows[i].get(n, np.nan) for i in order]) for n in names}

    def profile_sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` distinct allowed encodings drawn uniformly (fewer when the space has fewer), sorted."""
        rng = np.random.default_rng([seed, 7])
        chosen: set[int] = set()
        for _ in range(200):
            for i in self.draw(rng, max(64, 2 * n)):
                if len(chosen) >= n:
                    break
                if int(i) not in chosen and self.allowed(int(i)):
                    chosen.add(int(i))
            if len(chosen) >= n:
                break
        return np.array(sorted(chosen), dtype=np.int64)

    def preprocess(
        self,
        sample_input: torch.Tensor | None = None,
        threads: int = 1,
        sample_size: int | None = None,
        pretraining_data: Any = None,
        surrogate: Any = None,
        seed: int = 0,
        progress: bool = True,
        latency_repeats: int = 5,
    ) -> ProductSpace:
        """Profile a uniform sample of ``sample_size`` encodings (default 1000), pretrain the surrogate, save.

        As :meth:`SearchSpace.preprocess <archtune.space.search_space.SearchSpace.preprocess>`, but never over
        the whole space: the pretrained surrogate predicts the metrics of the encodings not profiled.
        """
        from archtune.profile.runner import profile_encodings
        from archtune.space.search_space import pretrained_surrogate, report_builder_failures

        if pretraining_data is not None:
            self.set_pretraining_data(pretraining_data)
        else:
            builder = self.encoding_to_net
            if builder is None:
                raise SpaceError(
                    "preprocess needs encoding_to_net (given to create_search_space) or pretraining_data"
                )
            if sample_input is None:
                raise SpaceError("preprocess needs sample_input, a tensor the networks accept")
            chosen = self.profile_sample(1000 if sample_size is None else sample_size, seed)
            result = profile_encodings(
                [self.encodings[i] for i in chosen],
                builder,
                sample_input,
                threads=threads,
                progress=progress,
                latency_repeats=latency_repeats,
            )
            failures = {int(chosen[i]): why for i, why in result.errors.items()}
            self.excluded.update(failures)
            report_builder_failures(failures, len(chosen), self.encodings, "ProductSpace")
            self.metric_indices = chosen
            self.metrics = {k: np.asarray(v, dtype=np.float64) for k, v in result.metrics.items()}
        self.surrogate = pretrained_surrogate(
            self.features_of(self.metric_indices), self.metrics, surrogate, seed
        )
        if self.save_filename is not None:
            self.save()
        return self

    # -- the file --------------------------------------------------------------------------------
    def save(self, filename: str | os.PathLike[str] | None = None) -> Path:
        """Write the space file (the format of :meth:`~archtune.space.search_space.SearchSpace.save`, with ``form`` "product")."""
        from archtune.space.product_file import save_product_space

        return save_product_space(self, filename)
