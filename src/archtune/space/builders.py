"""Storing user callables (network builders, featurizers) as import paths, never as pickles.

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
    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise SpaceFileError(f"cannot import {path!r}: {err}") from err
    if not callable(obj):
        raise SpaceFileError(f"{path!r} is not callable")
    return obj
