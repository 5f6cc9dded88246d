"""The SearchSpace: encodings, their features, zero-cost metrics and the pretrained surrogate, in one file.

The file is a ``torch.save`` archive holding only tensors, strings and numbers, read back with
``torch.load(weights_only=True)``: opening a space from a stranger runs no code. The network builder
is kept as an import path (``"mypkg.nets:encoding_to_net"``); a path read from a file is imported only
when the user trusts the file (``trust_builder=True``) or it is the builder of a built-in space.

Format ``archtune.space/2`` stores a SHA-256 checksum of every field (see :func:`payload_checksum`),
checked at load, and every field is validated, so a damaged or hand-edited file raises
:class:`~archtune.errors.SpaceFileError` instead of loading changed numbers. Files of format
``archtune.space/1`` (written before the checksum) still load, validated but not checksummed.

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

import hashlib
import json
import math
import os
import struct
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import torch

from archtune.errors import SpaceError, SpaceFileError, UntrustedBuilderError
from archtune.space.builders import callable_path, is_builtin_builder, resolve_path
from archtune.space.encoding import (
    Encoding,
    encoding_key,
    gc_paused,
    position_values,
    validate_encodings,
)
from archtune.space.featurize import Featurizer, _is_numeric, featurize
from archtune.surrogate.ensemble import DeepEnsemble, EnsembleConfig

if TYPE_CHECKING:
    from archtune.space.product import ProductSpace

FORMAT = "archtune.space/2"
LEGACY_FORMATS = ("archtune.space/1",)  # read without a checksum check (the format had none)
FIELDS = (
    "name",
    "encodings",
    "builder",
    "featurizer_plans",
    "featurizer_path",
    "custom_features",
    "metrics",
    "excluded",
    "surrogate",
)
_SURROGATE_FIELDS = ("config", "metric_names", "metric_norm", "n_features", "state")
_MAX_DEPTH = 16  # a real payload nests 4 deep (payload > surrogate > state > tensor)
_DAMAGED_FIX = "restore the file from a copy, or recreate it with create_search_space (and preprocess)"


class _Malformed(Exception):
    """A problem with a field of a space file; load_search_space adds the file name and the fix."""


def _length(n: int) -> bytes:
    return struct.pack("<Q", n)


def _feed(h: Any, value: Any, where: str, depth: int = 0) -> None:
    """Feed ``value`` to the hash ``h`` in a canonical, self-delimiting form.

    Every value is a type tag, then a length where the size varies, then its bytes, so no two
    different payloads feed the same bytes: ``["ab"]`` and ``["a", "b"]`` differ, as do ``1``,
    ``1.0``, ``True`` and ``"1"``. Dict keys go in sorted order, since the order of a payload's dicts
    carries no meaning. Tensors feed their dtype, shape and raw C-order bytes.
    """
    if depth > _MAX_DEPTH:
        raise _Malformed(f"{where} is nested more than {_MAX_DEPTH} deep")
    if value is None:
        h.update(b"N")
    elif isinstance(value, bool):
        h.update(b"T" if value else b"F")
    elif isinstance(value, int):
        # bytes, not decimal text: str() refuses integers of over 4300 digits
        raw = value.to_bytes(value.bit_length() // 8 + 1, "little", signed=True)
        h.update(b"I" + _length(len(raw)) + raw)
    elif isinstance(value, float):
        h.update(b"D" + struct.pack("<d", value))
    elif isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
        h.update(b"S" + _length(len(raw)) + raw)
    elif isinstance(value, list | tuple):
        h.update((b"L" if isinstance(value, list) else b"U") + _length(len(value)))
        for i, item in enumerate(value):
            _feed(h, item, f"{where}[{i}]", depth + 1)
    elif isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise _Malformed(f"{where} has a key that is not a string")
        h.update(b"M" + _length(len(value)))
        for key in sorted(value):
            _feed(h, key, where, depth + 1)
            _feed(h, value[key], f"{where}[{key!r}]", depth + 1)
    elif isinstance(value, torch.Tensor):
        if value.layout != torch.strided or value.is_quantized:
            raise _Malformed(f"{where} is a {value.layout} tensor; a space file holds dense tensors only")
        dtype = str(value.dtype).encode()
        h.update(b"X" + _length(len(dtype)) + dtype + _length(value.dim()))
        h.update(b"".join(_length(d) for d in value.shape))
        flat = value.detach().cpu().contiguous().reshape(-1)
        h.update(flat.view(torch.uint8).numpy() if flat.numel() else b"")
    else:
        raise _Malformed(f"{where} holds a {type(value).__name__}, which a space file never holds")


def payload_checksum(payload: Mapping[str, Any]) -> str:
    """``"sha256:<hex>"`` of every field of a space-file payload but ``"checksum"`` itself.

    The digest covers the format string, the JSON texts and the raw bytes of every tensor, the
    pretrained surrogate's included, so any change to a number shows.

    Example:
        >>> a = payload_checksum({"format": FORMAT, "w": torch.tensor([0.08])})
        >>> a == payload_checksum({"format": FORMAT, "w": torch.tensor([0.08]), "checksum": "x"})
        True
        >>> a == payload_checksum({"format": FORMAT, "w": torch.tensor([3e26])})
        False
    """
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in payload.items() if k != "checksum"}, "the payload")
    return "sha256:" + h.hexdigest()


class SearchSpace:
    """A list of encodings and everything archtune knows about them before any training.

    Attributes:
        name: the space's name.
        encodings: the encodings, in the user's order (lists turned to tuples).
        features: float32 matrix, one row per encoding.
        metrics: zero-cost metric name -> float64 array (NaN where not profiled).
        excluded: index -> why that encoding cannot be built; the search skips these.
        builder_trusted: whether a builder given as an import path may be imported; False for a
            path read from a file that the user has not trusted (see :func:`load_search_space`).
    """

    #: the form, as ``SearchInstance`` and the strategies ask: every encoding is listed
    listed = True

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
        builder_trusted: bool = True,
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
        self.builder_trusted = builder_trusted

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
        """The network builder; a stored import path is imported here, on first use.

        Raises:
            UntrustedBuilderError: when the path comes from a file the user has not trusted: importing
                it would run whatever code the file's author chose (``"os:system"`` runs shell commands).
            SpaceFileError: when a trusted path cannot be imported.
        """
        if isinstance(self._builder, str):
            if not self.builder_trusted:
                source = str(self.save_filename) if self.save_filename is not None else "the space file"
                raise UntrustedBuilderError(
                    f"space file {source!r} names the network builder {self._builder!r}, which archtune does "
                    "not import from a file on its own (importing runs code); if you trust the file, load it "
                    "with load_search_space(path, trust_builder=True), or pass your own builder: "
                    "load_search_space(path, encoding_to_net=...)"
                )
            self._builder = resolve_path(self._builder)
        return self._builder

    # -- identity --------------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, str | int]:
        """Hashes that identify the space's content, e.g. to check that a search file belongs to it.

        ``encodings`` is the SHA-256 of the canonical keys in order (joined by newlines, which JSON
        keys never contain), ``features`` of the float32 little-endian feature matrix in C order, and
        ``featurizer`` of the automatic featurizer's plans (or of the custom featurizer's import path).
        Each is one pass over contiguous bytes: well under a second for a million encodings.

        Example:
            >>> a = create_search_space("fp", None, encodings=[(1,), (2,)])
            >>> fp = a.fingerprint()
            >>> fp["n_encodings"], fp["n_features"], fp["encodings"][:12]
            (2, 1, '382569847273')
            >>> fp == create_search_space("other name", None, encodings=[(1,), (2,)]).fingerprint()
            True
            >>> fp == create_search_space("fp", None, encodings=[(2,), (1,)]).fingerprint()
            False
        """
        features = np.ascontiguousarray(self.features, dtype="<f4")
        if self.featurizer_plans is not None:
            featurizer = "plans:" + json.dumps(self.featurizer_plans, sort_keys=True, separators=(",", ":"))
        else:
            path = self._featurizer if isinstance(self._featurizer, str) else callable_path(self._featurizer)
            featurizer = f"custom:{path or ''}"
        return {
            "n_encodings": len(self),
            "n_features": int(features.shape[1]) if features.ndim == 2 else 0,
            "encodings": hashlib.sha256("\n".join(self.keys).encode("utf-8", "surrogatepass")).hexdigest(),
            "features": hashlib.sha256(features.data if features.size else b"").hexdigest(),
            "featurizer": hashlib.sha256(featurizer.encode("utf-8", "surrogatepass")).hexdigest(),
        }

    # -- zero-cost data and pretraining ----------------------------------------------------------
    def set_pretraining_data(
        self, table: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]]
    ) -> None:
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
                [self.encodings[i] for i in chosen],
                builder,
                sample_input,
                threads=threads,
                progress=progress,
                latency_repeats=latency_repeats,
            )
            self.metrics = {}
            for name, values in result.metrics.items():
                col = np.full(len(self), np.nan)
                col[chosen] = values
                self.metrics[name] = col
            failures = {int(chosen[i]): msg for i, msg in result.errors.items()}
            self.excluded.update(failures)
            report_builder_failures(failures, len(chosen), self.encodings, "SearchSpace")
        self.surrogate = pretrained_surrogate(self.features, self.metrics, surrogate, seed)
        if self.save_filename is not None:
            self.save()
        return self

    # -- persistence -----------------------------------------------------------------------------
    def save(self, filename: str | os.PathLike[str] | None = None) -> Path:
        """Write the space file atomically (a temporary file renamed over the target), with a checksum.

        Raises:
            SpaceFileError: when there is no file name, or the file cannot be written there (its
                folder is missing, it is a folder, no permission), naming the path.
        """
        argument = "filename" if filename is not None else "save_filename"
        if filename is None and self.save_filename is None:
            raise SpaceFileError("this space has no save_filename; pass one to save()")
        path = _target_path(filename if filename is not None else self.save_filename, argument)
        featurizer_path = (
            self._featurizer if isinstance(self._featurizer, str) else callable_path(self._featurizer)
        )
        payload = {
            "format": FORMAT,
            "name": self.name,
            "encodings": json.dumps(self.keys),
            "builder": self._builder if isinstance(self._builder, str) else callable_path(self._builder),
            "featurizer_plans": json.dumps(self.featurizer_plans),
            "featurizer_path": featurizer_path,
            "custom_features": torch.from_numpy(self.features) if self.featurizer_plans is None else None,
            "metrics": {
                k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in self.metrics.items()
            },
            "excluded": json.dumps({str(k): v for k, v in self.excluded.items()}),
            "surrogate": self.surrogate,
        }
        return write_space_file(payload, path, argument)


def write_space_file(payload: dict[str, Any], path: Path, argument: str) -> Path:
    """Add the checksum to ``payload`` and write it to ``path`` atomically (a temporary file renamed over
    the target); both space forms save through here.

    Raises:
        SpaceFileError: a value no space file holds, or the file cannot be written, naming ``argument``.
    """
    try:
        payload["checksum"] = payload_checksum(payload)
    except _Malformed as err:
        raise SpaceFileError(f"cannot save the space to {str(path)!r}: {err}") from None
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise SpaceFileError(
            f"cannot write the space file {argument}={str(path)!r}: {err.strerror or err}; "
            f"give a writable file path in an existing folder"
        ) from err
    return path


def report_builder_failures(
    failures: dict[int, str], profiled: int, encodings: Sequence[Any], form: str
) -> None:
    """Warn of the encodings whose builder raised while profiling (they are excluded from searches);
    a :class:`~archtune.errors.SpaceError` when every profiled one did."""
    if not failures:
        return
    first = next(iter(failures.items()))
    if len(failures) == profiled:
        raise SpaceError(f"encoding_to_net failed for every profiled encoding; first: {first[1]}")
    warnings.warn(
        f"encoding_to_net failed for {len(failures)} encoding(s); they are excluded from searches "
        f"(first: encoding {first[0]} {encodings[first[0]]!r}: {first[1]}). See {form}.excluded for all.",
        stacklevel=3,
    )


def pretrained_surrogate(
    features: np.ndarray, metrics: dict[str, np.ndarray], config: EnsembleConfig | None, seed: int
) -> dict[str, Any]:
    """The payload of an ensemble pretrained on ``metrics`` of the encodings whose rows are ``features``
    (what both space forms store after :meth:`SearchSpace.preprocess`)."""
    ensemble = DeepEnsemble(features.shape[1], sorted(metrics), ["hi"], config or EnsembleConfig(), seed=seed)
    ensemble.pretrain(features, metrics, seed=seed)
    return ensemble.pretrained_payload()


def _target_path(filename: Any, argument: str) -> Path:
    """``filename`` as a Path a space file can be written to, checked before any work is done.

    Raises:
        SpaceFileError: naming ``argument`` when it is no path, is a folder, or its folder is missing.
    """
    if not isinstance(filename, str | os.PathLike) or not str(filename):
        raise SpaceFileError(f"{argument} must be a file path (str or pathlib.Path); got {filename!r}")
    path = Path(filename)
    if path.is_dir():
        raise SpaceFileError(
            f"{argument}={str(path)!r} is a folder; give a file path such as {str(path / 'name.space')!r}"
        )
    if not path.parent.is_dir():
        raise SpaceFileError(
            f"{argument}={str(path)!r}: the folder {str(path.parent)!r} does not exist; create it first "
            "(e.g. os.makedirs) or choose another path"
        )
    return path


@overload
def create_search_space(
    name: str,
    save_filename: str | os.PathLike[str] | None,
    encodings: Sequence[Any],
    encoding_to_net: Callable[[Any], torch.nn.Module] | None = None,
    featurizer: Callable[[Sequence[Any]], Any] | None = None,
    pretraining_data: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]] | None = None,
) -> SearchSpace: ...


@overload
def create_search_space(
    name: str,
    save_filename: str | os.PathLike[str] | None,
    encodings: None = None,
    encoding_to_net: Callable[[Any], torch.nn.Module] | None = None,
    featurizer: None = None,
    pretraining_data: Sequence[Mapping[str, Any]] | None = None,
    *,
    knobs: Mapping[str, Any],
    feasible: Callable[[dict[str, Any]], bool] | None = None,
) -> ProductSpace: ...


def create_search_space(
    name: str,
    save_filename: str | os.PathLike[str] | None,
    encodings: Sequence[Any] | None = None,
    encoding_to_net: Callable[[Any], torch.nn.Module] | None = None,
    featurizer: Callable[[Sequence[Any]], Any] | None = None,
    pretraining_data: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]] | None = None,
    knobs: Mapping[str, Any] | None = None,
    feasible: Callable[[dict[str, Any]], bool] | None = None,
) -> SearchSpace | ProductSpace:
    """Create (and, with a ``save_filename``, save) a search space from a list of encodings or from knobs.

    Args:
        name: a name for the space.
        save_filename: where the space file goes (None: keep it in memory only).
        encodings: tuples of numbers/strings, dicts of them, or strings; all of one shape, no duplicates.
        knobs: instead of ``encodings``, knob name -> choices (a list, a ``range``, or a numeric range
            ``{"low", "high", "step" | "num", "log"}``): a :class:`~archtune.space.product.ProductSpace`
            of every combination, never listed (10^12 encodings cost nothing); its encodings are dicts.
        feasible: with ``knobs``, encoding -> bool, False for combinations that cannot be built (saved
            as an import path, so define it at the top level of a module).
        encoding_to_net: encoding -> ``torch.nn.Module``, used by :meth:`SearchSpace.preprocess`.
            Saved as an import path when it has one; otherwise pass it again to :func:`load_search_space`.
        featurizer: optional callable mapping the list of encodings to a 2-D feature array; by default
            numeric positions are scaled to [0, 1] and the others one-hot encoded.
        pretraining_data: zero-cost metrics you already have (see :meth:`SearchSpace.set_pretraining_data`).

    Raises:
        SpaceError: for a bad name or bad encodings, naming the index and position of the problem.
        SpaceFileError: when ``save_filename`` cannot be written (checked before the work starts).

    Example:
        >>> ss = create_search_space("demo", None, encodings=[{"depth": d, "act": a} for d in (2, 4) for a in ("relu", "gelu")])
        >>> ss.features.tolist()[1]  # act one-hot (relu, gelu in order of appearance), depth scaled
        [0.0, 1.0, 0.0]
        >>> big = create_search_space("big", None, knobs={f"layer{i}": ["conv3", "conv5", "skip", "mbconv"] for i in range(20)})
        >>> big.size, big.encodings[0]["layer19"]
        (1099511627776, 'conv3')
    """
    if not isinstance(name, str) or not name:
        raise SpaceError(f"name must be a non-empty string naming the search space; got {name!r}")
    if save_filename is not None:
        _target_path(save_filename, "save_filename")  # fail now, not after featurizing a big space
    if encodings is not None and knobs is not None:
        raise SpaceError("give encodings (a list) or knobs (knob name -> choices), not both")
    if encodings is None and knobs is None:
        raise SpaceError(
            "encodings must be a list of encodings, got NoneType; or give knobs instead: "
            'create_search_space("s", "s.space", knobs={"depth": [1, 2, 3], "block": ["conv", "mbconv"]})'
        )
    if knobs is not None:
        from archtune.space.product import ProductSpace

        if featurizer is not None:
            raise SpaceError(
                "featurizer is for a list of encodings; a knobs space featurizes its knobs itself"
            )
        product = ProductSpace(knobs, name, save_filename, encoding_to_net, feasible)
        if pretraining_data is not None:
            product.set_pretraining_data(pretraining_data)
        if save_filename is not None:
            product.save()
        return product
    if feasible is not None:
        raise SpaceError(
            "feasible is for a knobs space; leave the infeasible encodings out of the list instead"
        )
    assert encodings is not None  # exactly one of the two, checked above
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
    trust_builder: bool = False,
    feasible: Callable[[dict[str, Any]], bool] | None = None,
) -> SearchSpace | ProductSpace:
    """Open a space file (no code runs: tensors and JSON only), checking its checksum and every field.

    Args:
        filename: the space file.
        encoding_to_net: the network builder to use; without it, the import path stored in the file is
            used only if it is the builder of a built-in space or ``trust_builder`` is True.
        featurizer: the custom featurizer, for a space created with one; without it the stored features
            are used. A featurizer import path stored in the file is never imported.
        trust_builder: import the builder path the file names when networks are built (and, for a
            knobs space, its feasibility function). Importing runs code, so set it only for files you
            wrote or trust.
        feasible: for a knobs space whose file names a feasibility function: the function to use.

    Returns:
        a :class:`SearchSpace`, or a :class:`~archtune.space.product.ProductSpace` for a file written
        from knobs.

    Raises:
        SpaceFileError: when the file is missing, damaged (checksum mismatch), malformed or not an
            archtune space, naming the file and what is wrong.
    """
    if not isinstance(filename, str | os.PathLike) or not str(filename):
        raise SpaceFileError(
            f"filename must be the path of a space file (str or pathlib.Path); got {filename!r}"
        )
    path = Path(filename)
    where = f"space file {str(path)!r}"
    if not path.exists():
        raise SpaceFileError(f"no search-space file at {str(path)!r}; check the path")
    if path.is_dir():
        raise SpaceFileError(f"{where} is a folder; give the path of the .space file inside it")
    try:
        payload = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # any damage surfaces here as whatever the zip or unpickler trips on
        raise SpaceFileError(
            f"{where} is not a readable archtune space file ({type(err).__name__}: {_first_line(err)}); "
            f"{_DAMAGED_FIX}"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") not in (FORMAT, *LEGACY_FORMATS):
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise SpaceFileError(
            f"{where} is not an archtune space file (format {FORMAT} or {', '.join(LEGACY_FORMATS)}; "
            f"found {_short(found)}); give a file written by create_search_space"
        )
    if payload.get("form") == "product":
        from archtune.space.product_file import product_space_from_payload

        try:
            return product_space_from_payload(payload, path, encoding_to_net, feasible, trust_builder)
        except _Malformed as err:
            raise SpaceFileError(f"{where} is damaged or malformed: {err}; {_DAMAGED_FIX}") from None
    try:
        fields = _check_payload(payload, featurizer)
    except _Malformed as err:
        raise SpaceFileError(f"{where} is damaged or malformed: {err}; {_DAMAGED_FIX}") from None
    builder = payload["builder"]
    return SearchSpace(
        save_filename=path,
        encoding_to_net=encoding_to_net or builder,
        featurizer=featurizer or payload["featurizer_path"],
        # a path from the file runs its author's code when imported: only the user or the allowlist of
        # built-in builders may allow that; a builder passed here is the user's own
        builder_trusted=encoding_to_net is not None or trust_builder or is_builtin_builder(builder),
        **fields,
    )


def _first_line(err: BaseException) -> str:
    """The first line of an error's text: messages are one line, torch's can span many."""
    text = str(err).strip()
    return _short(text.splitlines()[0] if text else "no detail")


def _short(value: Any, limit: int = 120) -> str:
    """``repr``-like text of a value read from a file, cut to ``limit`` characters."""
    try:
        text = value if isinstance(value, str) else repr(value)
    except Exception:  # a value read from a damaged file can be anything, its repr included
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_payload(payload: dict[str, Any], featurizer: Callable[..., Any] | None) -> dict[str, Any]:
    """Verify the checksum (format /2) and every field; the SearchSpace arguments they make.

    Raises:
        _Malformed: describing the first problem found.
    """
    missing = [k for k in FIELDS if k not in payload]
    checksummed = payload["format"] == FORMAT or "checksum" in payload
    if checksummed:
        # a checksum is checked whatever the format says: damage that turned "/2" into "/1" must not
        # switch the check off (the checksum covers the format string, so that damage shows)
        if "checksum" not in payload:
            missing.append("checksum")
        elif missing:
            pass  # reported below: a missing field explains the mismatch better than the mismatch
        elif not isinstance(payload["checksum"], str) or payload_checksum(payload) != payload["checksum"]:
            raise _Malformed("its checksum does not match its content (bytes changed after it was written)")
    if missing:
        raise _Malformed(f"it lacks the field(s) {', '.join(map(repr, missing))}")
    name = payload["name"]
    if not isinstance(name, str) or not name:
        raise _Malformed(f"'name' must be a non-empty string, not {_short(name)}")
    keys, encodings = _check_encodings(payload, checksummed)
    n = len(encodings)
    plans = _parse_json(payload, "featurizer_plans")
    custom = payload["custom_features"]
    if plans is not None:
        if custom is not None:
            raise _Malformed(
                "it holds both featurizer_plans and custom_features; a space has one or the other"
            )
        features = _check_plans(plans, encodings)
    else:
        if not isinstance(custom, torch.Tensor):
            raise _Malformed(
                f"it has no featurizer_plans, so 'custom_features' must be a tensor, not {_short(custom)}"
            )
        if (
            custom.layout != torch.strided
            or custom.dtype != torch.float32
            or custom.dim() != 2
            or len(custom) != n
        ):
            raise _Malformed(
                f"'custom_features' must be a float32 matrix with one row per encoding ({n}); "
                f"got a {custom.dtype} tensor of shape {tuple(custom.shape)}"
            )
        features = custom.numpy()
        if not np.isfinite(features).all():
            raise _Malformed("'custom_features' holds NaN or infinite values")
        if featurizer is not None:
            features = featurize(encodings, featurizer)  # the user's own code, passed to this call
    for field in ("builder", "featurizer_path"):
        path = payload[field]
        if path is not None and not (
            isinstance(path, str) and path.partition(":")[0] and path.partition(":")[2]
        ):
            raise _Malformed(
                f"{field!r} must be None or an import path 'module:function', not {_short(path)}"
            )
    return {
        "name": name,
        "encodings": encodings,
        "keys": keys,
        "features": features,
        "featurizer_plans": plans,
        "metrics": _check_metrics(payload["metrics"], n),
        "excluded": _check_excluded(_parse_json(payload, "excluded"), n),
        "surrogate": _check_surrogate(payload["surrogate"], features.shape[1]),
    }


def _parse_json(payload: dict[str, Any], field: str) -> Any:
    text = payload[field]
    if not isinstance(text, str):
        raise _Malformed(f"{field!r} must be JSON text, not a {type(text).__name__}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise _Malformed(f"{field!r} is not valid JSON ({_first_line(err)})") from None


def _check_encodings(payload: dict[str, Any], checksummed: bool) -> tuple[list[str], list[Encoding]]:
    """The stored keys and their encodings, checked.

    The keys are decoded in one JSON parse of their concatenation (faster than a parse per key). A
    file without a checksum gets the full check create_search_space makes (values, one shape, no
    duplicates) and its keys are compared with the re-encoded ones, which catches keys not in
    canonical form and a key that is not JSON on its own yet parsed in the concatenation. A file
    whose checksum matched holds exactly the keys save() wrote, which create_search_space had
    made canonical; it gets the cheap checks (one kind and shape, no duplicate key), since the
    full one costs about 3 s per million encodings, more than the rest of the load.
    """
    with gc_paused():
        keys = _parse_json(payload, "encodings")
        if not isinstance(keys, list) or not keys:
            raise _Malformed("'encodings' must be a non-empty JSON list of encoding keys")
        if set(map(type, keys)) != {str}:
            raise _Malformed("'encodings' must list the encodings' keys as strings")
        try:
            values = json.loads("[" + ",".join(keys) + "]")
        except (ValueError, RecursionError):
            values = None
        if not isinstance(values, list) or len(values) != len(keys):
            for i, key in enumerate(keys):
                try:
                    json.loads(key)
                except (ValueError, RecursionError):
                    raise _Malformed(f"encoding key {i} is not valid JSON: {_short(key)}") from None
            raise _Malformed("the encoding keys do not decode one encoding each")
        decoded = [tuple(v) if type(v) is list else v for v in values]
        del values
        if checksummed:
            return keys, _check_shape(keys, decoded)
        try:
            encodings, fresh = validate_encodings(decoded)
        except SpaceError as err:
            raise _Malformed(f"its encodings are invalid: {err}") from None
    if fresh != keys:
        i = next(i for i, (a, b) in enumerate(zip(fresh, keys, strict=True)) if a != b)
        raise _Malformed(f"encoding key {i} {_short(keys[i])} is not in canonical form ({_short(fresh[i])})")
    return keys, encodings


def _check_shape(keys: list[str], encodings: list[Any]) -> list[Encoding]:
    """``encodings`` after the cheap checks: one kind, one shape, no duplicate key."""
    kinds = set(map(type, encodings))
    if len(kinds) != 1 or not kinds <= {tuple, dict, str}:
        raise _Malformed("its encodings are not all tuples, all dicts or all strings")
    if (tuple in kinds and len(set(map(len, encodings))) != 1) or (
        dict in kinds and len(set(map(frozenset, encodings))) != 1
    ):
        raise _Malformed("its encodings do not all have one shape")
    if len(set(keys)) != len(keys):
        seen: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key in seen:
                raise _Malformed(f"encoding {i} duplicates encoding {seen[key]}: {_short(key)}")
            seen[key] = i
    return encodings


def _check_plans(plans: Any, encodings: list[Encoding]) -> np.ndarray:
    """The features the automatic featurizer's stored plans give, after checking the plans fit the encodings."""
    with gc_paused():
        columns = position_values(encodings)
    names = list(columns)
    if not isinstance(plans, list) or len(plans) != len(names):
        raise _Malformed(f"'featurizer_plans' must list one plan per position ({len(names)})")
    for i, (plan, name) in enumerate(zip(plans, names, strict=True)):
        if not isinstance(plan, dict) or plan.get("position") != name:
            raise _Malformed(f"featurizer plan {i} must be a dict for position {name!r}")
        kind = "numeric" if _is_numeric(columns[name]) else "onehot"
        if plan.get("kind") != kind:
            raise _Malformed(f"featurizer plan {i} must be {kind!r} for the values of position {name!r}")
        if kind == "numeric":
            bounds = [plan.get("low"), plan.get("high")]
            if not all(
                isinstance(b, int | float) and not isinstance(b, bool) and math.isfinite(b) for b in bounds
            ):
                raise _Malformed(f"featurizer plan {i} needs finite numbers 'low' and 'high'")
            if float(bounds[0]) > float(bounds[1]):  # type: ignore[arg-type]  # checked numbers above
                raise _Malformed(f"featurizer plan {i} has 'low' above 'high'")
        else:
            categories = plan.get("categories")
            if not isinstance(categories, list) or not categories:
                raise _Malformed(f"featurizer plan {i} needs a non-empty list 'categories'")
            if not all(isinstance(c, int | float | str | bool | type(None)) for c in categories):
                raise _Malformed(f"featurizer plan {i} has a category that is not a number, string or null")
            if len({Featurizer._category_key(c) for c in categories}) != len(categories):
                raise _Malformed(f"featurizer plan {i} lists a category twice")
    try:
        with gc_paused():
            features = Featurizer(plans).transform(encodings, columns)
    except (SpaceError, ValueError, TypeError, KeyError, OverflowError) as err:
        raise _Malformed(f"'featurizer_plans' do not fit the encodings ({_first_line(err)})") from None
    if features.size and not (
        np.isfinite(features).all() and features.min() >= 0.0 and features.max() <= 1.0
    ):
        raise _Malformed("'featurizer_plans' bounds do not cover the encodings' values")
    return features


def _check_metrics(metrics: Any, n: int) -> dict[str, np.ndarray]:
    if not isinstance(metrics, dict):
        raise _Malformed(f"'metrics' must map metric names to tensors, not {_short(metrics)}")
    out = {}
    for name, column in metrics.items():
        if not isinstance(name, str) or not name:
            raise _Malformed(f"'metrics' has a name that is not a non-empty string: {_short(name)}")
        if (
            not isinstance(column, torch.Tensor)
            or column.layout != torch.strided
            or not column.is_floating_point()
        ):
            kind = (
                f"a {column.dtype} tensor"
                if isinstance(column, torch.Tensor)
                else f"a {type(column).__name__}"
            )
            raise _Malformed(f"metric {name!r} must be a float tensor, not {kind}")
        if column.shape != (n,):
            raise _Malformed(f"metric {name!r} has shape {tuple(column.shape)}; the space has {n} encodings")
        out[name] = column.to(torch.float64).numpy()
    return out


def _check_excluded(excluded: Any, n: int) -> dict[int, str]:
    if not isinstance(excluded, dict):
        raise _Malformed("'excluded' must be a JSON object: encoding index -> reason")
    out = {}
    for key, why in excluded.items():
        if not (key.isascii() and key.isdigit() and str(int(key)) == key and int(key) < n):
            raise _Malformed(f"'excluded' names encoding {_short(key)}, not an index from 0 to {n - 1}")
        if not isinstance(why, str):
            raise _Malformed(f"'excluded' gives encoding {key} a reason that is not a string")
        out[int(key)] = why
    return out


def _check_surrogate(surrogate: Any, n_features: int) -> dict[str, Any] | None:
    """The stored pretrained surrogate, checked against the ensemble its config describes."""
    if surrogate is None:
        return None
    if not isinstance(surrogate, dict) or any(k not in surrogate for k in _SURROGATE_FIELDS):
        raise _Malformed(f"'surrogate' must be None or a dict with {', '.join(_SURROGATE_FIELDS)}")
    config, names, norm, state = (surrogate[k] for k in ("config", "metric_names", "metric_norm", "state"))
    if type(surrogate["n_features"]) is not int or surrogate["n_features"] != n_features:
        raise _Malformed(
            f"the surrogate was trained on {_short(surrogate['n_features'])} features; the space has {n_features}"
        )
    if (
        not isinstance(names, list)
        or not all(isinstance(m, str) for m in names)
        or len(set(names)) != len(names)
    ):
        raise _Malformed("the surrogate's 'metric_names' must be a list of distinct strings")
    if not isinstance(norm, dict) or not all(
        m in names and isinstance(v, dict) and all(isinstance(x, float) for x in v.values())
        for m, v in norm.items()
    ):
        raise _Malformed("the surrogate's 'metric_norm' must map its metric names to dicts of floats")
    if not isinstance(state, dict) or not all(
        isinstance(t, torch.Tensor) and t.layout == torch.strided and t.is_floating_point()
        for t in state.values()
    ):
        raise _Malformed("the surrogate's 'state' must map names to float tensors")
    if not isinstance(config, dict):
        raise _Malformed("the surrogate's 'config' must be a dict")
    try:
        cfg = EnsembleConfig(**config)
    except (TypeError, ValueError) as err:
        raise _Malformed(f"the surrogate's config is invalid ({_first_line(err)})") from None
    layers = sum(1 for k in state if k.startswith("trunk."))
    sizes = (cfg.members, cfg.hidden, cfg.layers)
    if not all(type(v) is int and v >= 1 for v in sizes) or 2 * cfg.layers != layers:
        raise _Malformed("the surrogate's config does not match its stored layers")
    # the shapes an ensemble of this config has, on the meta device: no memory, whatever the sizes
    with torch.device("meta"):
        expected = DeepEnsemble(n_features, names, ["hi"], cfg).state_dict()
    shapes = {k: tuple(v.shape) for k, v in expected.items() if not k.startswith("fid_")}
    if shapes != {k: tuple(v.shape) for k, v in state.items()}:
        raise _Malformed("the surrogate's stored weights do not have the shapes its config gives")
    if not all(torch.isfinite(t).all() for t in state.values()):
        raise _Malformed("the surrogate's stored weights hold NaN or infinite values")
    return surrogate
