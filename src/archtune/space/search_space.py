"""The SearchSpace: encodings, their features, zero-cost metrics and the pretrained surrogate, in one file.

The file is a ``torch.save`` archive holding only tensors, strings and numbers, read back with
``torch.load(weights_only=True)``: opening a space from a stranger runs no code. The network builder
is kept as an import path (``"mypkg.nets:encoding_to_net"``) and imported only when networks are built.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.space")
    >>> ss = create_search_space("tiny", path, encodings=[(w, d) for w in (8, 16) for d in (1, 2)])
    >>> len(ss), ss.features.shape
    (4, (4, 2))
    >>> load_search_space(path).encodings[3]
    (16, 2)
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archtune.errors import SpaceError, SpaceFileError
from archtune.space.builders import callable_path, resolve_path
from archtune.space.encoding import (
    Encoding,
    decode_key,
    encoding_key,
    gc_paused,
    position_values,
    validate_encodings,
)
from archtune.space.featurize import Featurizer, featurize
from archtune.surrogate.ensemble import DeepEnsemble, EnsembleConfig

FORMAT = "archtune.space/1"


class SearchSpace:
    """A list of encodings and everything archtune knows about them before any training.

    Attributes:
        name: the space's name.
        encodings: the encodings, in the user's order (lists turned to tuples).
        features: float32 matrix, one row per encoding.
        metrics: zero-cost metric name -> float64 array (NaN where not profiled).
        excluded: index -> why that encoding cannot be built; the search skips these.
    """

    def __init__(
        self,
        name: str,
        save_filename: str | os.PathLike[str] | None,
        encodings: list[Encoding],
        keys: list[str],
        features: np.ndarray,
        featurizer_plans: list[dict[str, Any]] | None,
        encoding_to_net: Callable[[Any], torch.nn.Module] | str | None = None,
        featurizer: Callable[[Sequence[Encoding]], Any] | str | None = None,
        metrics: dict[str, np.ndarray] | None = None,
        excluded: dict[int, str] | None = None,
        surrogate: dict[str, Any] | None = None,
    ):
        self.name = name
        self.save_filename = Path(save_filename) if save_filename is not None else None
        self.encodings = encodings
        self.keys = keys
        self.index = {k: i for i, k in enumerate(keys)}
        self.features = features
        self.featurizer_plans = featurizer_plans
        self._builder = encoding_to_net
        self._featurizer = featurizer
        self.metrics: dict[str, np.ndarray] = metrics or {}
        self.excluded: dict[int, str] = excluded or {}
        self.surrogate: dict[str, Any] | None = surrogate
        self._domains: dict[str, list[Any]] | None = None

    def __len__(self) -> int:
        return len(self.encodings)

    def __repr__(self) -> str:
        return f"SearchSpace(name={self.name!r}, encodings={len(self)}, metrics={sorted(self.metrics)})"

    # -- lookups ---------------------------------------------------------------------------------
    def index_of(self, encoding: Encoding) -> int:
        """Position of ``encoding`` in the space.

        Raises:
            SpaceError: if the encoding is not in the space.
        """
        key = encoding_key(tuple(encoding) if isinstance(encoding, list) else encoding)
        try:
            return self.index[key]
        except KeyError:
            raise SpaceError(f"{encoding!r} is not an encoding of space {self.name!r}") from None

    @property
    def searchable(self) -> np.ndarray:
        """Boolean mask of the encodings a search may propose (builder failures are excluded)."""
        mask = np.ones(len(self), dtype=bool)
        if self.excluded:
            mask[list(self.excluded)] = False
        return mask

    def neighbors(self, index: int) -> list[int]:
        """Indices of the encodings that differ from encoding ``index`` at exactly one position.

        Example:
            >>> ss = create_search_space("g", None, encodings=[(a, b) for a in "xy" for b in (1, 2, 3)])
            >>> [ss.encodings[i] for i in ss.neighbors(0)]
            [('y', 1), ('x', 2), ('x', 3)]
        """
        enc = self.encodings[index]
        if isinstance(enc, str):
            return []
        if self._domains is None:
            self._domains = {}
            for name, values in position_values(self.encodings).items():
                seen: dict[str, Any] = {}
                for v in values:
                    seen.setdefault(encoding_key((v,)), v)
                self._domains[name] = list(seen.values())
        out = []
        for name, domain in self._domains.items():
            for value in domain:
                if isinstance(enc, dict):
                    if enc[name] == value and type(enc[name]) is type(value):
                        continue
                    other: Encoding = {**enc, name: value}
                else:
                    pos = int(name)
                    if enc[pos] == value and type(enc[pos]) is type(value):
                        continue
                    other = enc[:pos] + (value,) + enc[pos + 1 :]
                j = self.index.get(encoding_key(other))
                if j is not None:
                    out.append(j)
        return out

    # -- builder ---------------------------------------------------------------------------------
    @property
    def encoding_to_net(self) -> Callable[[Any], torch.nn.Module] | None:
        """The network builder; a stored import path is imported here, on first use."""
        if isinstance(self._builder, str):
            self._builder = resolve_path(self._builder)
        return self._builder

    # -- zero-cost data and pretraining ----------------------------------------------------------
    def set_pretraining_data(self, table: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]]) -> None:
        """Give zero-cost metrics yourself (e.g. from another framework) instead of profiling.

        ``table`` is either columns aligned with :attr:`encodings` (``{"params": [...], "latency": [...]}``)
        or rows ``[{"encoding": enc, "params": ..., ...}, ...]`` for any subset of the encodings.

        Example:
            >>> ss = create_search_space("t", None, encodings=["a", "b"])
            >>> ss.set_pretraining_data([{"encoding": "b", "latency": 3.0}])
            >>> ss.metrics["latency"].tolist()
            [nan, 3.0]
        """
        n = len(self)
        columns: dict[str, np.ndarray] = {}
        if isinstance(table, Mapping):
            for name, values in table.items():
                arr = np.asarray(values, dtype=np.float64)
                if arr.shape != (n,):
                    raise SpaceError(
                        f"pretraining column {name!r} has {arr.size} values; the space has {n} encodings "
                        "(give one value per encoding, NaN where unknown, or use the rows form)"
                    )
                columns[name] = arr
        else:
            for row_number, row in enumerate(table):
                if "encoding" not in row:
                    raise SpaceError(f"pretraining row {row_number} has no 'encoding' key")
                i = self.index_of(row["encoding"])
                for name, value in row.items():
                    if name == "encoding":
                        continue
                    columns.setdefault(name, np.full(n, np.nan))[i] = float(value)
        if not columns:
            raise SpaceError("the pretraining table holds no metric")
        for name, arr in columns.items():
            if np.isinf(arr).any():
                raise SpaceError(f"pretraining column {name!r} holds infinite values")
            if np.isnan(arr).all():
                raise SpaceError(f"pretraining column {name!r} holds no value")
        self.metrics = columns

    def preprocess(
        self,
        sample_input: torch.Tensor | None = None,
        threads: int = 1,
        sample_size: int | None = None,
        pretraining_data: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]] | None = None,
        surrogate: EnsembleConfig | None = None,
        seed: int = 0,
        progress: bool = True,
        latency_repeats: int = 5,
    ) -> SearchSpace:
        """Profile the networks (or take ``pretraining_data``), pretrain the surrogate, save the space.

        Args:
            sample_input: a tensor the networks accept, e.g. ``torch.rand(16, 3, 224, 224)``.
            threads: networks profiled in parallel.
            sample_size: profile only this many encodings, drawn at random with ``seed`` (big spaces).
            pretraining_data: metrics per encoding, instead of profiling (see :meth:`set_pretraining_data`).
            surrogate: ensemble hyper-parameters; the defaults suit most spaces.

        Encodings whose builder raises are reported in a warning and excluded from searches.
        """
        from archtune.profile.runner import profile_encodings

        if pretraining_data is not None:
            self.set_pretraining_data(pretraining_data)
        else:
            builder = self.encoding_to_net
            if builder is None:
                raise SpaceError(
                    "preprocess needs encoding_to_net (given to create_search_space or load_search_space) "
                    "or pretraining_data"
                )
            if sample_input is None:
                raise SpaceError("preprocess needs sample_input, a tensor the networks accept")
            rng = np.random.default_rng(seed)
            if sample_size is not None and sample_size < len(self):
                chosen = np.sort(rng.choice(len(self), size=sample_size, replace=False))
            else:
                chosen = np.arange(len(self))
            result = profile_encodings(
                [self.encodings[i] for i in chosen], builder, sample_input, threads=threads,
                progress=progress, latency_repeats=latency_repeats,
            )
            self.metrics = {}
            for name, values in result.metrics.items():
                col = np.full(len(self), np.nan)
                col[chosen] = values
                self.metrics[name] = col
            failures = {int(chosen[i]): msg for i, msg in result.errors.items()}
            if failures:
                self.excluded.update(failures)
                first = next(iter(failures.items()))
                warnings.warn(
                    f"encoding_to_net failed for {len(failures)} encoding(s); they are excluded from searches "
                    f"(first: encoding {first[0]} {self.encodings[first[0]]!r}: {first[1]}). "
                    "See SearchSpace.excluded for all.",
                    stacklevel=2,
                )
            if len(failures) == len(chosen):
                raise SpaceError(f"encoding_to_net failed for every profiled encoding; first: {first[1]}")
        names = sorted(self.metrics)
        ensemble = DeepEnsemble(self.features.shape[1], names, ["hi"], surrogate or EnsembleConfig(), seed=seed)
        ensemble.pretrain(self.features, self.metrics, seed=seed)
        self.surrogate = ensemble.pretrained_payload()
        if self.save_filename is not None:
            self.save()
        return self

    # -- persistence -----------------------------------------------------------------------------
    def save(self, filename: str | os.PathLike[str] | None = None) -> Path:
        """Write the space file atomically (a temporary file renamed over the target)."""
        path = Path(filename) if filename is not None else self.save_filename
        if path is None:
            raise SpaceFileError("this space has no save_filename; pass one to save()")
        featurizer_path = self._featurizer if isinstance(self._featurizer, str) else callable_path(self._featurizer)
        payload = {
            "format": FORMAT,
            "name": self.name,
            "encodings": json.dumps(self.keys),
            "builder": self._builder if isinstance(self._builder, str) else callable_path(self._builder),
            "featurizer_plans": json.dumps(self.featurizer_plans),
            "featurizer_path": featurizer_path,
            "custom_features": torch.from_numpy(self.features) if self.featurizer_plans is None else None,
            "metrics": {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in self.metrics.items()},
            "excluded": json.dumps({str(k): v for k, v in self.excluded.items()}),
            "surrogate": self.surrogate,
        }
        tmp = path.with_name(path.name + ".tmp")
        torch.save(payload, tmp)
        os.replace(tmp, path)
        return path


def create_search_space(
    name: str,
    save_filename: str | os.PathLike[str] | None,
    encodings: Sequence[Any],
    encoding_to_net: Callable[[Any], torch.nn.Module] | None = None,
    featurizer: Callable[[Sequence[Encoding]], Any] | None = None,
    pretraining_data: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]] | None = None,
) -> SearchSpace:
    """Create (and, with a ``save_filename``, save) a search space from a list of encodings.

    Args:
        name: a name for the space.
        save_filename: where the space file goes (None: keep it in memory only).
        encodings: tuples of numbers/strings, dicts of them, or strings; all of one shape, no duplicates.
        encoding_to_net: encoding -> ``torch.nn.Module``, used by :meth:`SearchSpace.preprocess`.
            Saved as an import path when it has one; otherwise pass it again to :func:`load_search_space`.
        featurizer: optional callable mapping the list of encodings to a 2-D feature array; by default
            numeric positions are scaled to [0, 1] and the others one-hot encoded.
        pretraining_data: zero-cost metrics you already have (see :meth:`SearchSpace.set_pretraining_data`).

    Raises:
        SpaceError: for bad encodings, naming the index and position of the problem.

    Example:
        >>> ss = create_search_space("demo", None, encodings=[{"depth": d, "act": a} for d in (2, 4) for a in ("relu", "gelu")])
        >>> ss.features.tolist()[1]  # act one-hot (relu, gelu in order of appearance), depth scaled
        [0.0, 1.0, 0.0]
    """
    if not isinstance(name, str) or not name:
        raise SpaceError("a search space needs a non-empty string name")
    with gc_paused():
        canonical, keys = validate_encodings(encodings)
        if featurizer is None:
            columns = position_values(canonical)
            plan = Featurizer.fit(canonical, columns)
            features, plans = plan.transform(canonical, columns), plan.to_json()
            del columns
        else:
            features, plans = featurize(canonical, featurizer), None
    ss = SearchSpace(name, save_filename, canonical, keys, features, plans, encoding_to_net, featurizer)
    if pretraining_data is not None:
        ss.set_pretraining_data(pretraining_data)
    if save_filename is not None:
        ss.save()
    return ss


def load_search_space(
    filename: str | os.PathLike[str],
    encoding_to_net: Callable[[Any], torch.nn.Module] | None = None,
    featurizer: Callable[[Sequence[Encoding]], Any] | None = None,
) -> SearchSpace:
    """Open a space file (no code runs: tensors and JSON only).

    Raises:
        SpaceFileError: when the file is missing, corrupt or not an archtune space.
    """
    path = Path(filename)
    if not path.exists():
        raise SpaceFileError(f"no search-space file at {str(path)!r}")
    try:
        payload = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:
        raise SpaceFileError(f"{str(path)!r} is not a readable archtune space file: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SpaceFileError(f"{str(path)!r} is not an archtune space file (format {FORMAT})")
    with gc_paused():
        keys = json.loads(payload["encodings"])
        encodings = [decode_key(k) for k in keys]
    plans = json.loads(payload["featurizer_plans"])
    if plans is not None:
        with gc_paused():
            features = Featurizer(plans).transform(encodings)
    elif featurizer is not None:
        features = featurize(encodings, featurizer)
    else:
        features = payload["custom_features"].numpy()
    return SearchSpace(
        name=payload["name"],
        save_filename=path,
        encodings=encodings,
        keys=keys,
        features=features,
        featurizer_plans=plans,
        encoding_to_net=encoding_to_net or payload["builder"],
        featurizer=featurizer or payload["featurizer_path"],
        metrics={k: v.numpy() for k, v in payload["metrics"].items()},
        excluded={int(k): v for k, v in json.loads(payload["excluded"]).items()},
        surrogate=payload["surrogate"],
    )
