"""Storing user callables (network builders, featurizers) as import paths, never as pickles.

Importing a path runs the module's code, so a path read from a space file is imported only when the
user trusts that file (``load_search_space(..., trust_builder=True)``) or when it is exactly the builder
of one of archtune's built-in spaces (:data:`BUILTIN_BUILDERS`).

Example:
    >>> import os.path
    >>> callable_path(os.path.join)
    'posixpath:join'
    >>> resolve_path('posixpath:join') is os.path.join
    True
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from archtune.errors import SpaceFileError

#: The builders of the spaces registered in archtune.spaces.registry, imported from a space file without
#: ``trust_builder=True``. Spelled out rather than computed: computing them would build every built-in
#: space (seconds) on each load, and an explicit list cannot grow by accident (a prefix rule such as
#: "archtune.*" would trust any archtune function, e.g. one that writes files).
#: tests/test_space_file_integrity.py checks the list against the registry.
BUILTIN_BUILDERS: frozenset[str] = frozenset(
    {
        "archtune.nets.nb201:nb201_net",
        "archtune.spaces.digits_cnn:encoding_to_net",
        "archtune.naap.schemes:encoding_to_net",
        "archtune.spaces.mobileone:encoding_to_net",
        "archtune.spaces.mobileone_swiftformer:encoding_to_net",
        "archtune.spaces.mobileone_swiftformer:encoding_to_net_1_branch",
    }
)


#: Builders that moved, keyed by the path older space files name them with; such a file still loads,
#: and still counts as built-in (NB201's network moved from archtune.spaces to archtune.nets, beside
#: the other networks).
RENAMED_BUILDERS: dict[str, str] = {"archtune.spaces.nb201_net:nb201_net": "archtune.nets.nb201:nb201_net"}


def is_builtin_builder(path: str | None) -> bool:
    """Whether a path read from a space file is one of :data:`BUILTIN_BUILDERS` (under a current or older name).

    Example:
        >>> is_builtin_builder("archtune.spaces.nb201_net:nb201_net"), is_builtin_builder("os:system")
        (True, False)
    """
    return path is not None and RENAMED_BUILDERS.get(path, path) in BUILTIN_BUILDERS


def callable_path(fn: Callable[..., Any] | None) -> str | None:
    """``"module:qualname"`` when ``fn`` can be imported back by that path, else None (lambdas, locals, __main__)."""
    if fn is None:
        return None
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    try:
        if resolve_path(f"{module}:{qualname}") is not fn:
            return None
    except SpaceFileError:
        return None
    return f"{module}:{qualname}"


def resolve_path(path: str) -> Callable[..., Any]:
    """Import ``"module:qualname"``. Called only when the user asks for networks to be built."""
    module_name, _, qualname = RENAMED_BUILDERS.get(path, path).partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError) as err:  # ValueError: an empty module name
        raise SpaceFileError(f"cannot import {path!r}: {err}") from err
    if not callable(obj):
        raise SpaceFileError(f"{path!r} is not callable")
    return obj
