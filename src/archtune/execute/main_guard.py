"""The ``if __name__ == "__main__":`` guard: a script that starts worker processes without it gets one clear line.

``executor="process"`` and ``executor="dask"`` start their workers with ``spawn``: each worker is a new
interpreter that imports the user's script again. Code at the script's top level, outside the guard,
then runs again in every worker, starts a search there, and fails deep inside ``multiprocessing`` or
``distributed`` ("Nanny failed to start", "An attempt has been made to start a new process before the
current process has finished its bootstrapping phase") or on the search file's lock. Two checks:

- before any worker starts, ``check_main_guard`` finds the statement of the ``__main__`` script that
  led to this call and refuses, with the fix, when it lies outside an ``if __name__ == "__main__":`` block;
- ``is_bootstrap_failure`` recognises the failure itself, for calls the first check cannot see
  (code run through ``exec``), so that it too is reported as the missing guard.

``executor="slurm"`` (and ``"pbs"``, ``"lsf"``) needs no guard: its workers are started by batch jobs
running ``python -m distributed.cli.dask_worker``, which never import the script; an unguarded script
works there (tests/test_slurm.py runs one).

Example:
    >>> check_main_guard("process")   # called from a doctest, not from a script's top level: nothing to say
"""

from __future__ import annotations

import ast
import sys
import traceback
from types import FrameType

from archtune.errors import ConfigError

_MARKERS = ("bootstrapping phase", "freeze_support()")


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(mains) == 1


def _top_level_frame() -> FrameType | None:
    """The frame running the ``__main__`` module's top-level code, if this call came from it."""
    main = sys.modules.get("__main__")
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if main is not None and frame.f_globals is vars(main) and frame.f_code.co_name == "<module>":
            return frame
        frame = frame.f_back
    return None


def unguarded_line() -> tuple[str, int] | None:
    """``(script, line)`` of the top-level statement outside the guard that led here, else None."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    frame = _top_level_frame()
    if not path or frame is None or frame.f_code.co_filename != path:
        return None  # an interactive session, python -c, a notebook: spawn does not run anything again
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    line = frame.f_lineno
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.If)
            and _is_main_test(node.test)
            and node.lineno <= line <= (node.end_lineno or line)
        ):
            return None
    return path, line


def guard_message(kind: str, where: tuple[str, int] | None = None) -> str:
    """The one line that tells the user to add the guard."""
    place = f" ({where[0]}, line {where[1]})" if where else ""
    return (
        f"executor={kind!r} starts worker processes that import your script again, which then runs the search "
        f'again{place}: put the code that runs it under `if __name__ == "__main__":`'
    )


def check_main_guard(kind: str) -> None:
    """Refuse to start ``spawn`` workers from a script's top level outside the guard.

    Raises:
        ConfigError: the call came from unguarded top-level code of the ``__main__`` script.
    """
    where = unguarded_line()
    if where is not None:
        raise ConfigError(guard_message(kind, where))


def is_bootstrap_failure(error: BaseException) -> bool:
    """Whether ``error`` (or an exception it was raised from) is the spawn bootstrapping failure."""
    text = "".join(traceback.format_exception(error))
    if any(marker in text for marker in _MARKERS):
        return True
    # the child re-running the script usually dies on something else first (the search file's lock), and
    # the parent only learns that its nanny failed: the guard is the likely cause when spawn re-imports a file
    main = sys.modules.get("__main__")
    return "Nanny failed to start" in text and bool(getattr(main, "__file__", None))
