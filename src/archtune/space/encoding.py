"""Validation and canonical keys of architecture encodings.

An encoding is what the user calls an architecture: a tuple of numbers/strings, a dict of them, or a
plain string. archtune never interprets it beyond featurization; it is stored as canonical JSON so a
search file can be matched against a space that has since gained encodings.

Example:
    >>> encoding_key((3, "conv", 0.5))
    '[3,"conv",0.5]'
    >>> decode_key('[3,"conv",0.5]')
    (3, 'conv', 0.5)
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Sequence
from typing import Any

from archtune.errors import SpaceError

Scalar = int | float | str | bool | None
Encoding = tuple[Scalar, ...] | dict[str, Scalar] | str

_SCALARS = (int, float, str, bool, type(None))


def encoding_key(encoding: Encoding) -> str:
    """Canonical JSON text of an encoding: the identity used in files and databases.

    Example:
        >>> encoding_key({"b": 1, "a": "x"})
        '{"a":"x","b":1}'
    """
    if isinstance(encoding, tuple):
        encoding = list(encoding)
    return json.dumps(encoding, sort_keys=True, separators=(",", ":"), allow_nan=False)


def decode_key(key: str) -> Encoding:
    """Inverse of :func:`encoding_key` (JSON lists come back as tuples).

    Example:
        >>> decode_key('{"a":"x"}')
        {'a': 'x'}
    """
    value = json.loads(key)
    return tuple(value) if isinstance(value, list) else value


def _describe_bad_value(value: Any) -> str | None:
    """Why a value cannot sit at a position of an encoding, or None when it can."""
    if isinstance(value, _SCALARS):
        if isinstance(value, float) and not math.isfinite(value):
            return f"the non-finite number {value!r} (not JSON-serializable)"
        return None
    if not isinstance(value, Hashable):
        return f"a {type(value).__name__} (unhashable; use a tuple of scalars or flatten it)"
    return f"a {type(value).__name__} (not JSON-serializable; use numbers, strings or booleans)"


def _positions_of(encoding: Any) -> tuple[str, list[tuple[str, Any]]]:
    """The encoding's kind and its (position name, value) pairs."""
    if isinstance(encoding, str):
        return "str", [("0", encoding)]
    if isinstance(encoding, tuple | list):
        return "tuple", [(str(i), v) for i, v in enumerate(encoding)]
    if isinstance(encoding, dict):
        for k in encoding:
            if not isinstance(k, str):
                raise SpaceError(f"dict encodings need string keys; got key {k!r}")
        return "dict", sorted(encoding.items())
    raise SpaceError(
        f"an encoding must be a tuple, a dict or a string; got a {type(encoding).__name__}: {encoding!r}"
    )


def validate_encodings(encodings: Sequence[Any]) -> tuple[list[Encoding], list[str]]:
    """Check a list of encodings and return them (lists turned to tuples) with their canonical keys.

    Raises:
        SpaceError: naming the index (and position) of the first problem: an empty list, an encoding
            of another kind or shape than the first, a value that is unhashable or not serializable,
            or a duplicate (with the index of its first occurrence).

    Example:
        >>> encs, keys = validate_encodings([(1, "a"), (2, "a")])
        >>> keys
        ['[1,"a"]', '[2,"a"]']
        >>> validate_encodings([(1, "a"), (1, "a")])
        Traceback (most recent call last):
        ...
        archtune.errors.SpaceError: encoding 1 duplicates encoding 0: (1, 'a')
    """
    if isinstance(encodings, str | bytes | dict):
        raise SpaceError("encodings must be a list of encodings, not a single encoding")
    encodings = list(encodings)
    if not encodings:
        raise SpaceError("the list of encodings is empty: a search space needs at least one encoding")
    first_kind, first_positions = _positions_of(encodings[0])
    first_names = [name for name, _ in first_positions]
    out: list[Encoding] = []
    keys: list[str] = []
    seen: dict[str, int] = {}
    for index, encoding in enumerate(encodings):
        kind, positions = _positions_of(encoding)
        names = [name for name, _ in positions]
        if kind != first_kind:
            raise SpaceError(f"encoding {index} is a {kind} but encoding 0 is a {first_kind}: {encoding!r}")
        if names != first_names:
            shape = f"keys {names}" if kind == "dict" else f"length {len(names)}"
            first_shape = f"keys {first_names}" if kind == "dict" else f"length {len(first_names)}"
            raise SpaceError(
                f"encoding {index} has {shape} but encoding 0 has {first_shape}: all encodings need one shape"
            )
        for name, value in positions:
            problem = _describe_bad_value(value)
            if problem is not None:
                raise SpaceError(f"encoding {index}, position {name!r} holds {problem}: {encoding!r}")
        canonical: Encoding = tuple(encoding) if isinstance(encoding, list) else encoding
        key = encoding_key(canonical)
        if key in seen:
            raise SpaceError(f"encoding {index} duplicates encoding {seen[key]}: {canonical!r}")
        seen[key] = index
        out.append(canonical)
        keys.append(key)
    return out, keys


def position_values(encodings: Sequence[Encoding]) -> dict[str, list[Scalar]]:
    """Column view of validated encodings: position name -> values, one per encoding.

    Example:
        >>> position_values([(1, "a"), (2, "b")])
        {'0': [1, 2], '1': ['a', 'b']}
    """
    first = encodings[0]
    if isinstance(first, str):
        return {"0": list(encodings)}  # type: ignore[arg-type]
    if isinstance(first, dict):
        return {name: [e[name] for e in encodings] for name in sorted(first)}  # type: ignore[index]
    return {str(i): [e[i] for e in encodings] for i in range(len(first))}  # type: ignore[index]
