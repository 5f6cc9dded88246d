"""Processes that die with their parent, and objectives run in a child process that can be killed.

Two leaks this module closes:

- :func:`die_with_parent` makes a worker process exit within about a second of its parent's death,
  even a ``SIGKILL`` that gives the parent no chance to clean up (the process pool of
  :mod:`archtune.execute.executors` runs it in every worker, so a killed driver does not leave workers
  holding a GPU);
- :func:`call_in_child` runs one call of an objective in a child process, in a session of its own,
  and kills that whole session (the process and everything it started, e.g. a ``torchrun``) when the
  call overruns its time limit. A thread cannot be stopped, a process can.

The child is a fresh interpreter started with this file as its script (not ``multiprocessing``): it
imports neither archtune nor the parent's ``__main__`` module, so it starts in a fraction of a second
and a user's script needs no ``if __name__ == "__main__"`` guard. The objective travels by
cloudpickle, so lambdas and closures work; the parent's ``sys.path`` goes with it, so functions
pickled by reference import as they do in the parent. A child whose call ended normally serves the
next call of the same thread (imports are paid once) and exits after :data:`IDLE_EXIT` idle seconds
or with its parent; one that overran, crashed or was interrupted is killed with all it started.
POSIX only (sessions and process groups).

Example:
    >>> call_in_child(lambda enc: enc * 2, 21, time_limit=60)
    {'result': 42}
    >>> "ZeroDivisionError" in call_in_child(lambda enc: 1 / enc, 0, time_limit=60)["error"]
    True
"""

# Only the standard library at module level: this file is also the child's script, and importing
# archtune there (its package __init__ loads torch) would cost seconds per evaluation.
from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
#: how often the watchdog thread checks that the parent is still there (seconds)
WATCH_INTERVAL = 0.5
#: how long the child may take to start and load the objective before it counts as hung (seconds)
STARTUP_LIMIT = 600.0
#: how long an idle child waits for the next call before it exits (seconds)
IDLE_EXIT = 60.0
#: at the parent's exit, how long idle children may take to end by themselves before they are killed
EXIT_GRACE = 10.0


def _set_parent_death_signal(signum: int) -> None:
    """Ask Linux to send ``signum`` to this process when its parent dies; a no-op elsewhere.

    The kernel sends it when the parent *thread* that created this process exits, not only when the
    whole parent process does; callers create their children from a thread that outlives them.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):  # no usable libc: the watchdog still works
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(
            ctypes.c_int(_PR_SET_PDEATHSIG),
            ctypes.c_ulong(signum),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )


def _kill_own_group(*_args: object) -> None:
    """Kill this process and everything in its process group (only when it leads the group)."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os._exit(1)


def die_with_parent(parent_pid: int, kill_group: bool = False) -> None:
    """Make this process exit soon after the process ``parent_pid`` (its parent) dies.

    Two mechanisms, because each misses cases: Linux's parent-death signal (immediate, but tied to
    the parent *thread*, and Linux only) and a daemon thread that polls ``os.getppid()`` every
    :data:`WATCH_INTERVAL` seconds (anywhere, also when the parent died before this call).

    Args:
        parent_pid: the pid of the parent to follow (``os.getpid()`` in the parent, passed down).
        kill_group: also kill this process's group, i.e. whatever it started, when the parent dies.
            Needs the main thread (a signal handler is installed) and a process that leads its group.
    """
    if kill_group:
        # SIGTERM, not SIGKILL: a killed process could not take its own children down with it
        signal.signal(signal.SIGTERM, _kill_own_group)
        _set_parent_death_signal(signal.SIGTERM)
    else:
        _set_parent_death_signal(signal.SIGKILL)

    def exit_alone() -> None:
        os._exit(1)

    die: Callable[[], None] = _kill_own_group if kill_group else exit_alone
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        die()

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(WATCH_INTERVAL)
        die()

    threading.Thread(target=watch, name="archtune-parent-watchdog", daemon=True).start()


# -- the parent's side -------------------------------------------------------------------------------------


class _Child:
    """One child process, in a session of its own, and the two pipes to it."""

    def __init__(self) -> None:
        from_parent, to_child = os.pipe()  # (read end, write end)
        from_child, to_parent = os.pipe()
        try:
            self.proc = subprocess.Popen(  # -u: what the objective prints is not lost when it is killed
                [
                    sys.executable,
                    "-u",
                    os.path.abspath(__file__),
                    str(from_parent),
                    str(to_parent),
                    str(os.getpid()),
                ],
                pass_fds=(from_parent, to_parent),
                start_new_session=True,
            )
        except BaseException:
            os.close(to_child)
            os.close(from_child)
            raise
        finally:
            os.close(from_parent)
            os.close(to_parent)
        self.inbox = Connection(from_child, writable=False)
        self.outbox = Connection(to_child, readable=False)
        self.owner = os.getpid()

    def send(self, *messages: bytes) -> None:
        # a child that died meanwhile breaks the pipe: the next receive() reports how it ended
        with contextlib.suppress(BrokenPipeError):
            for message in messages:
                self.outbox.send_bytes(message)

    def receive(self, timeout: float) -> tuple[str, Any] | None:
        """The child's next message; None after ``timeout`` s; ``("died", code)`` when it ended without one.

        Waits in short slices so that a dead child is noticed even when a process it forked still
        holds the pipe open.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            left = deadline - time.monotonic()
            if self.inbox.poll(min(max(left, 0.0), 1.0)):
                try:
                    message: tuple[str, Any] | None = pickle.loads(
                        self.inbox.recv_bytes()
                    )  # IPC with our own child, never from disk
                    return message
                except EOFError:
                    return "died", self.proc.wait()
            if self.proc.poll() is not None and not self.inbox.poll(0):
                return "died", self.proc.returncode
            if left <= 0:
                return None

    def kill(self) -> None:
        """Kill the child's whole session (it leads its own group), reap it, close the pipes."""
        with contextlib.suppress(ProcessLookupError, PermissionError):  # nothing left in the group
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.inbox.close()
        self.outbox.close()


# One idle child per calling thread, reused while its evaluations end normally: a fresh interpreter
# per call would pay again for every import of the objective (seconds for a module that loads torch).
_local = threading.local()
_children: set[_Child] = set()  # every live child of this process, for the exit handler
_children_lock = threading.Lock()


def _discard(child: _Child) -> None:
    if getattr(_local, "child", None) is child:
        _local.child = None
    with _children_lock:
        _children.discard(child)
    child.kill()


def _child_for_this_thread(fresh: bool) -> tuple[_Child, bool]:
    """This thread's idle child (``reused`` True) or a new one; ``fresh`` discards the idle one."""
    child: _Child | None = getattr(_local, "child", None)
    if child is not None and (fresh or child.owner != os.getpid() or child.proc.poll() is not None):
        if child.owner == os.getpid():  # a forked copy of this module must not touch its parent's child
            _discard(child)
        child = None
    if child is not None:
        return child, True
    child = _Child()
    _local.child = child
    with _children_lock:
        ended = [c for c in _children if c.proc.poll() is not None]  # idle timeouts, threads that ended
        _children.difference_update(ended)
        _children.add(child)
    for c in ended:
        c.kill()  # reaps it, closes its pipes and kills what it left in its session
    return child, False


@atexit.register
def _close_children() -> None:
    """At exit: let idle children end by themselves (their own exit handlers run), then kill the rest."""
    with _children_lock:
        children = [c for c in _children if c.owner == os.getpid()]
        _children.clear()
    for child in children:
        with contextlib.suppress(OSError):
            child.outbox.close()  # end of input: the child's loop returns
    deadline = time.monotonic() + EXIT_GRACE
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.proc.wait(max(deadline - time.monotonic(), 0.0))
        child.kill()


def _forget_children() -> None:
    global _local
    _local = threading.local()
    with _children_lock:
        _children.clear()


if hasattr(os, "register_at_fork"):  # POSIX; elsewhere call_in_child refuses to run
    os.register_at_fork(after_in_child=_forget_children)


def call_in_child(fn: Callable[[Any], Any], encoding: Any, time_limit: float) -> dict[str, Any]:
    """Run ``fn(encoding)`` in a child process; kill it, and all it started, after ``time_limit`` s.

    The time limit counts from the moment the objective is called: starting the child and loading
    the objective (which may import heavy modules) are not charged to it. A child whose call ended
    normally (a result or an exception) waits, up to :data:`IDLE_EXIT` seconds, for the next call
    from the same thread; any other ending kills it with everything in its session.

    Args:
        fn: the objective; anything cloudpickle can serialise (lambdas and closures included).
        encoding: its argument.
        time_limit: seconds the call may take.

    Returns:
        ``{"result": raw_result}``, or ``{"error": message}`` (the formatted traceback of an exception,
        the time-limit message, or how the child died).

    Raises:
        ConfigError: ``fn`` cannot be sent to, or loaded in, a fresh process.
        KeyboardInterrupt, SystemExit: the objective raised one (re-raised here, to stop the search).
    """
    import cloudpickle  # here, not at module level: the child's script must import nothing heavy

    from archtune.errors import ConfigError

    try:
        payload = cloudpickle.dumps((fn, encoding))
    except Exception as err:
        reason = (str(err).splitlines() or [""])[0]
        raise ConfigError(
            f"time_limit={time_limit} runs the objective in a child process, but cloudpickle cannot serialise "
            f"{fn!r} ({type(err).__name__}: {reason}); make it picklable (no locks, open files or sockets in "
            "its closure) or set time_limit=None"
        ) from err
    if os.name != "posix":
        raise ConfigError(
            "time_limit needs a POSIX system (Linux, macOS) to kill an overrunning evaluation; "
            "set time_limit=None"
        )
    keep = False  # True once the call ended normally: the child is back waiting for the next one
    child, reused = _child_for_this_thread(fresh=False)
    try:
        child.send(json.dumps(sys.path).encode(), payload)
        message = child.receive(STARTUP_LIMIT)
        if reused and message is not None and message[0] == "died":  # it ended its idle wait just now
            _discard(child)
            child, reused = _child_for_this_thread(fresh=True)
            child.send(json.dumps(sys.path).encode(), payload)
            message = child.receive(STARTUP_LIMIT)
        if message is None:
            return {"error": f"the evaluation process did not start within {STARTUP_LIMIT:g} s"}
        if message[0] == "died":
            return {"error": _died(message[1], "before the objective was called")}
        if message[0] == "unloadable":
            keep = True
            raise ConfigError(
                f"time_limit={time_limit} runs the objective in a child process, which could not load it "
                f"({message[1]}); define it in a module that a fresh Python process can import, or set "
                "time_limit=None"
            )
        message = child.receive(time_limit)
        if message is None:
            return {"error": f"time limit of {time_limit} s exceeded"}
        kind, data = message
        if kind == "died":
            return {"error": _died(data, "while the objective ran")}
        if kind == "interrupt":
            raise KeyboardInterrupt
        if kind == "exit":
            raise SystemExit(data)
        keep = True
        if kind == "error":
            return {"error": data}
        try:
            return {"result": pickle.loads(data)}  # IPC with our own child, never from disk
        except Exception:  # noqa: BLE001 - a result the parent cannot rebuild fails the trial
            return {
                "error": "the objective's result could not be received from its process:\n"
                + traceback.format_exc()
            }
    finally:
        if not keep:  # time-out, crash, Ctrl-C (here or in the objective): nothing of it may go on
            _discard(child)


def _died(code: int, when: str) -> str:
    how = f"was killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
    return f"the evaluation process {how} {when} (a crash, os._exit or the out-of-memory killer)"


# -- the child's side --------------------------------------------------------------------------------------


def _child_main(argv: list[str]) -> int:
    """Entry point of the child: load each objective sent, say so, call it, send back what happened."""
    from_parent, to_parent, parent_pid = (int(a) for a in argv)
    os.set_inheritable(to_parent, False)  # programs the objective starts must not hold our pipe open
    inbox = Connection(from_parent, writable=False)
    outbox = Connection(to_parent, readable=False)
    die_with_parent(parent_pid, kill_group=True)

    def send(kind: str, data: Any = None) -> None:
        outbox.send_bytes(pickle.dumps((kind, data)))

    while inbox.poll(IDLE_EXIT):  # an idle child goes: it may hold memory, a GPU, open files
        try:
            path = inbox.recv_bytes()
            payload = inbox.recv_bytes()
        except EOFError:  # the parent is done with us
            return 0
        try:
            sys.path[:] = json.loads(path)
            fn, encoding = pickle.loads(payload)  # IPC from our parent, never from disk
        except BaseException as err:  # noqa: BLE001 - reported to the parent as a configuration problem
            send("unloadable", f"{type(err).__name__}: {err}")
            continue
        send("started")
        try:
            result = fn(encoding)
        except KeyboardInterrupt:
            send("interrupt")
            return 1
        except SystemExit as stop:
            send("exit", stop.code if stop.code is None or isinstance(stop.code, int) else str(stop.code))
            return 1
        except BaseException:  # noqa: BLE001 - everything else the objective raises is a failed trial
            send("error", traceback.format_exc())
            continue
        finally:
            del fn, encoding
        try:
            import cloudpickle

            data = cloudpickle.dumps(result)
        except Exception:  # noqa: BLE001 - an unpicklable result fails the trial, it does not hang it
            send(
                "error",
                "the objective's result cannot be sent back from its process:\n" + traceback.format_exc(),
            )
            continue
        finally:
            del result
        send("result", data)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
