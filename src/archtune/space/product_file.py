"""The space file of a product space: the enumerated form's safe format, with ``"form": "product"``.

The same ``torch.save`` archive of tensors, strings and numbers, read with ``weights_only=True``, with
the same SHA-256 checksum over every field (:func:`~archtune.space.search_space.payload_checksum`).
It stores the knobs (JSON), the builder's and the feasibility function's import paths (imported only
when trusted), the profiled sample's indices and metrics, the excluded encodings and the pretrained
surrogate; never the encodings, which are not listed.

Example:
    >>> import tempfile, os
    >>> from archtune.space.search_space import create_search_space, load_search_space
    >>> path = os.path.join(tempfile.mkdtemp(), "knobs.space")
    >>> s = create_search_space("k", path, knobs={"depth": [1, 2, 3], "block": ["conv", "mbconv"]})
    >>> loaded = load_search_space(path)
    >>> loaded.size, loaded.encodings[4]
    (6, {'depth': 3, 'block': 'conv'})
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archtune.errors import ConfigError, SpaceFileError
from archtune.space.builders import callable_path, is_builtin_builder
from archtune.space.product import ProductSpace, parse_knobs
from archtune.space.search_space import (
    FORMAT,
    _check_surrogate,
    _Malformed,
    _short,
    _target_path,
    payload_checksum,
    write_space_file,
)

FORM = "product"
PRODUCT_FIELDS = (
    "name",
    "knobs",
    "builder",
    "feasible",
    "metric_indices",
    "metrics",
    "excluded",
    "surrogate",
)


def _path_of(value: Any) -> str | None:
    return value if isinstance(value, str) else callable_path(value)


def save_product_space(space: ProductSpace, filename: str | os.PathLike[str] | None = None) -> Path:
    """Write ``space`` atomically (a temporary file renamed over the target), with a checksum."""
    argument = "filename" if filename is not None else "save_filename"
    if filename is None and space.save_filename is None:
        raise SpaceFileError("this space has no save_filename; pass one to save()")
    path = _target_path(filename if filename is not None else space.save_filename, argument)
    if space._feasible is not None and _path_of(space._feasible) is None:
        raise SpaceFileError(
            "the feasibility function has no import path (a lambda, a local function or one in __main__), so the "
            "space file could not name it: define it at the top level of a module you import"
        )
    payload: dict[str, Any] = {
        "format": FORMAT,
        "form": FORM,
        "name": space.name,
        "knobs": json.dumps(space.specs),
        "builder": _path_of(space._builder),
        "feasible": _path_of(space._feasible),
        "metric_indices": torch.from_numpy(space.metric_indices.astype(np.int64)),
        "metrics": {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in space.metrics.items()},
        "excluded": json.dumps({str(k): v for k, v in space.excluded.items()}),
        "surrogate": space.surrogate,
    }
    return write_space_file(payload, path, argument)


def product_space_from_payload(
    payload: dict[str, Any],
    path: Path,
    encoding_to_net: Any = None,
    feasible: Any = None,
    trust_builder: bool = False,
) -> ProductSpace:
    """The product space a checked payload describes.

    Raises:
        _Malformed: describing the first problem (load_search_space adds the file and the fix).
    """
    missing = [k for k in (*PRODUCT_FIELDS, "checksum") if k not in payload]
    if missing:
        raise _Malformed(f"it lacks the field(s) {', '.join(map(repr, missing))}")
    if not isinstance(payload["checksum"], str) or payload_checksum(payload) != payload["checksum"]:
        raise _Malformed("its checksum does not match its content (bytes changed after it was written)")
    name = payload["name"]
    if not isinstance(name, str) or not name:
        raise _Malformed(f"'name' must be a non-empty string, not {_short(name)}")
    try:
        stored = json.loads(payload["knobs"]) if isinstance(payload["knobs"], str) else None
        if not isinstance(stored, list) or not all(
            isinstance(k, dict) and set(k) == {"name", "options", "log"} and isinstance(k["options"], list)
            for k in stored
        ):
            raise _Malformed("'knobs' must be JSON text listing {name, options, log} per knob")
        specs = parse_knobs({k["name"]: k["options"] for k in stored})
        if len(specs) != len(stored):
            raise _Malformed("'knobs' names a knob twice")
        for spec, k in zip(specs, stored, strict=True):
            spec["log"] = bool(k["log"])
    except (ValueError, RecursionError, ConfigError) as err:
        raise _Malformed(f"its knobs are invalid ({str(err).splitlines()[0]})") from None
    space = ProductSpace(specs, name=name)
    indices = payload["metric_indices"]
    if not isinstance(indices, torch.Tensor) or indices.dtype != torch.int64 or indices.dim() != 1:
        raise _Malformed("'metric_indices' must be a 1-D int64 tensor")
    idx = indices.numpy()
    if len(idx) and (idx.min() < 0 or idx.max() >= space.size):
        raise _Malformed(f"'metric_indices' names an encoding outside the space's {space.size}")
    metrics = payload["metrics"]
    if not isinstance(metrics, dict) or not all(
        isinstance(k, str)
        and isinstance(v, torch.Tensor)
        and v.is_floating_point()
        and v.shape == (len(idx),)
        for k, v in metrics.items()
    ):
        raise _Malformed(
            f"'metrics' must map names to float tensors of {len(idx)} values (one per profiled encoding)"
        )
    try:
        excluded = json.loads(payload["excluded"]) if isinstance(payload["excluded"], str) else None
    except (ValueError, RecursionError):
        excluded = None
    if not isinstance(excluded, dict) or not all(
        k.isdigit() and int(k) < space.size and isinstance(v, str) for k, v in excluded.items()
    ):
        raise _Malformed("'excluded' must be a JSON object: encoding index -> reason")
    for field in ("builder", "feasible"):
        value = payload[field]
        if value is not None and not (isinstance(value, str) and value.partition(":")[2]):
            raise _Malformed(
                f"{field!r} must be None or an import path 'module:function', not {_short(value)}"
            )
    builder = payload["builder"]
    return ProductSpace(
        specs,
        name=name,
        save_filename=path,
        encoding_to_net=encoding_to_net or builder,
        feasible=feasible or payload["feasible"],
        metric_indices=idx.copy(),
        metrics={k: v.to(torch.float64).numpy() for k, v in metrics.items()},
        excluded={int(k): v for k, v in excluded.items()},
        surrogate=_check_surrogate(payload["surrogate"], space.n_features),
        # as for the enumerated form: a path from a file runs its author's code when imported
        trusted=trust_builder
        or (
            (encoding_to_net is not None or builder is None or is_builtin_builder(builder))
            and (feasible is not None or payload["feasible"] is None)
        ),
    )
