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

import gc
import json
import math
import sys
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import Any

import numpy as np

from archtune.errors import SpaceError

Scalar = int | float | str | bool | None
Encoding = tuple[Scalar, ...] | dict[str, Scalar] | str

_SCALARS = (int, float, str, bool, type(None))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a big space is built.

    Building a million small tuples and strings triggers collection after collection, each scanning
    every object alive (the user's list included): about half the time of featurizing a million
    encodings. None of these objects form cycles, so nothing is lost by pausing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def encoding_key(encoding: Encoding) -> str:
    """Canonical JSON text of an encoding: the identity used in files and databases.

    Example:
        >>> encoding_key({"b": 1, "a": "x"})
        '{"a":"x","b":1}'
    """
    plain: Any = list(encoding) if isinstance(encoding, tuple) else encoding
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), allow_nan=False)


def decode_key(key: str) -> Encoding:
    """Inverse of :func:`encoding_key` (JSON lists come back as tuples).

    Example:
        >>> decode_key('{"a":"x"}')
        {'a': 'x'}
    """
    value = json.loads(key)
    return tuple(value) if isinstance(value, list) else value


# Integers beyond the float range cannot be featurized (features are floats) and, past 4300 digits,
# cannot even be written as text by Python; both are refused when the space is created.
_INT_LIMIT = int(sys.float_info.max)


def _safe_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)`` cut to ``limit`` characters, or a placeholder where repr itself fails (an
    integer of over 4300 digits): an error message must never raise an error of its own."""
    try:
        text = repr(value)
    except ValueError:
        return "(not shown: it holds an integer too long to print)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_bad_value(value: Any) -> str | None:
    """Why a value cannot sit at a position of an encoding, or None when it can."""
    if isinstance(value, _SCALARS):
        if isinstance(value, float) and not math.isfinite(value):
            return f"the non-finite number {value!r} (not JSON-serializable)"
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _INT_LIMIT:
            digits = int(abs(value).bit_length() * math.log10(2)) + 1
            return (
                f"an integer of about {digits} digits, beyond the float range features need "
                "(use a smaller number, or a string for an identifier)"
            )
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
        f"an encoding must be a tuple, a dict or a string; got a {type(encoding).__name__}: {_safe_repr(encoding)}"
    )


def validate_encodings(encodings: Sequence[Any]) -> tuple[list[Encoding], list[str]]:
    """Check a list of encodings and return them (lists turned to tuples) with their canonical keys.

    The common case (every position holds plain ints, floats, strings, booleans or None) is checked a
    column at a time at C speed, which keeps a million encodings to a few seconds; anything unusual
    goes through the value-by-value check, which names the first problem precisely.

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
    if not isinstance(encodings, Iterable):
        raise SpaceError(
            f"encodings must be a list of encodings (tuples, dicts or strings); got {type(encodings).__name__}"
            f" {_safe_repr(encodings, 80)}"
        )
    encodings = list(encodings)
    if not encodings:
        raise SpaceError("the list of encodings is empty: a search space needs at least one encoding")
    fast = _validate_by_columns(encodings)
    return fast if fast is not None else _validate_one_by_one(encodings)


def _validate_one_by_one(encodings: list[Any]) -> tuple[list[Encoding], list[str]]:
    """The value-by-value check: slow, but it names the index and position of the first problem."""
    first_kind, first_positions = _positions_of(encodings[0])
    first_names = [name for name, _ in first_positions]
    out: list[Encoding] = []
    keys: list[str] = []
    seen: dict[str, int] = {}
    for index, encoding in enumerate(encodings):
        kind, positions = _positions_of(encoding)
        names = [name for name, _ in positions]
        if kind != first_kind:
            raise SpaceError(
                f"encoding {index} is a {kind} but encoding 0 is a {first_kind}: {_safe_repr(encoding)}"
            )
        if names != first_names:
            shape = f"keys {names}" if kind == "dict" else f"length {len(names)}"
            first_shape = f"keys {first_names}" if kind == "dict" else f"length {len(first_names)}"
            raise SpaceError(
                f"encoding {index} has {shape} but encoding 0 has {first_shape}: all encodings need one shape"
            )
        if any(isinstance(value, np.generic) for _, value in positions):
            encoding = _plain_scalars(encoding)  # numpy scalars -> Python: np.int64(3) is the knob value 3
            positions = _positions_of(encoding)[1]
        for name, value in positions:
            problem = _describe_bad_value(value)
            if problem is not None:
                raise SpaceError(
                    f"encoding {index}, position {name!r} holds {problem}: {_safe_repr(encoding)}"
                )
        canonical: Encoding = tuple(encoding) if isinstance(encoding, list) else encoding
        key = encoding_key(canonical)
        if key in seen:
            raise SpaceError(f"encoding {index} duplicates encoding {seen[key]}: {canonical!r}")
        seen[key] = index
        out.append(canonical)
        keys.append(key)
    return out, keys


def _plain_scalars(encoding: Any) -> Any:
    """The encoding with numpy scalars turned into the Python numbers they hold."""

    def plain(v: Any) -> Any:
        return v.item() if isinstance(v, np.generic) else v

    if isinstance(encoding, dict):
        return {k: plain(v) for k, v in encoding.items()}
    if isinstance(encoding, tuple | list):
        return tuple(map(plain, encoding))
    return plain(encoding)


_PLAIN_TYPES = {int, float, str, bool, type(None)}
_JSON_OF_TYPE: dict[type, Callable[[Any], str]] = {
    int: int.__repr__,
    float: float.__repr__,
    str: encode_basestring_ascii,
}


def _scalar_json(value: Scalar) -> str:
    return json.dumps(value, allow_nan=False)


def _column_json(column: Sequence[Scalar], types: set[type]) -> list[str]:
    """JSON text of every value of a column (exactly what ``json.dumps`` writes), a C loop when possible.

    A column of one type with few distinct values (the usual knob) converts each distinct value once.
    Floats are memoised only without zeros, since ``-0.0 == 0.0`` but their texts differ.
    """
    if len(types) != 1 or next(iter(types)) not in _JSON_OF_TYPE:
        return list(map(_scalar_json, column))
    to_json = _JSON_OF_TYPE[next(iter(types))]
    distinct = dict.fromkeys(column)
    if len(distinct) * 4 > len(column) or (types == {float} and 0.0 in distinct):
        return list(map(to_json, column))
    memo = {value: to_json(value) for value in distinct}
    return list(map(memo.__getitem__, column))


def _validate_by_columns(encodings: list[Any]) -> tuple[list[Encoding], list[str]] | None:
    """Fast check and keys for the common case; None when anything needs the value-by-value check."""
    kinds = set(map(type, encodings))
    if kinds <= {tuple, list}:
        canonical: list[Any] = encodings if kinds == {tuple} else [tuple(e) for e in encodings]
        if len(set(map(len, canonical))) != 1:
            return None
        names: list[str] = []
        columns: list[Sequence[Any]] = list(zip(*canonical, strict=True)) if canonical[0] else []
    elif kinds == {dict}:
        if len(set(map(frozenset, encodings))) != 1 or not all(isinstance(k, str) for k in encodings[0]):
            return None
        canonical = encodings
        names = sorted(encodings[0])
        columns = [list(map(itemgetter(name), encodings)) for name in names]
    elif kinds == {str}:
        canonical, names, columns = encodings, [], [encodings]
    else:
        return None
    texts = []
    for column in columns:
        types = set(map(type, column))
        if not types <= _PLAIN_TYPES:
            return None
        if float in types and not np.isfinite(np.asarray([v for v in column if type(v) is float])).all():
            return None
        if int in types:  # min/max run in C; a too-large integer goes to the check that names it
            ints = column if types == {int} else [v for v in column if type(v) is int]
            if max(ints) > _INT_LIMIT or min(ints) < -_INT_LIMIT:
                return None
        texts.append(_column_json(column, types))
    if kinds == {str}:
        keys = texts[0]
    elif kinds == {dict}:
        prefixes = [encode_basestring_ascii(name) + ":" for name in names]
        keys = ["{" + ",".join(map(str.__add__, prefixes, row)) + "}" for row in zip(*texts, strict=True)]
    elif texts:
        keys = ["[" + ",".join(row) + "]" for row in zip(*texts, strict=True)]
    else:
        keys = ["[]"] * len(canonical)
    if len(set(keys)) != len(keys):
        return None  # the value-by-value check names the duplicate
    return canonical, keys


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
        return {name: list(map(itemgetter(name), encodings)) for name in sorted(first)}
    return {str(i): list(column) for i, column in enumerate(zip(*encodings, strict=True))}
