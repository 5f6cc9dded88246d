"""Defects found by the fault campaign on the search loop and its file: each test fails on the old code."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from archtune import ConfigError, SearchInstance, SearchLockedError, create_search_space
from archtune.errors import BudgetWarning, ObjectiveContractError, StorageError
from archtune.storage.sqlite import SQLiteStorage


def _line_space(tmp_path, n=20, name="line.space"):
    path = tmp_path / name
    create_search_space("line", path, [(i,) for i in range(n)])
    return str(path)


def _peak(enc):
    return -abs(enc[0] - 13)


def _stored(path):
    st = SQLiteStorage(path, read_only=True)
    try:
        return st.trials(), st.pending()
    finally:
        st.close()


def _search(tmp_path, space, **kw):
    kw.setdefault("hi_fi_eval", _peak)
    kw.setdefault("strategy", "random")
    kw.setdefault("progress", False)
    return SearchInstance("r", tmp_path / "r.search", space, **kw)


# -- 1. Ctrl-C and sys.exit inside an objective stop the search ------------------------------------

INTERRUPT_SCRIPT = """
import os, sys, time
from archtune import SearchInstance
flag, search, space, how = sys.argv[1:5]
calls = []
def objective(enc):
    calls.append(enc)
    if len(calls) == 4:
        open(flag, "w").close()
        if how == "exit":
            sys.exit(3)
        time.sleep(120)   # interrupted here by the test's SIGINT
    return float(enc[0])
s = SearchInstance("i", search, space, hi_fi_eval=objective, strategy="random", progress=False)
s.run_search(eval_budget=10)
print("FINISHED", flush=True)
"""


@pytest.mark.parametrize("how", ["sigint", "exit"])
def test_ctrl_c_or_sys_exit_in_the_objective_stops_the_search_and_resume_sends_it_again(tmp_path, how):
    space = _line_space(tmp_path)
    script, flag, search = tmp_path / "run.py", tmp_path / "flag", tmp_path / "i.search"
    script.write_text(INTERRUPT_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(flag), str(search), space, how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flag.exists(), proc.communicate()
    if how == "sigint":
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)  # a real Ctrl-C, delivered while the objective runs
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0, (out, err)
    assert "FINISHED" not in out
    assert ("KeyboardInterrupt" in err) if how == "sigint" else proc.returncode == 3
    trials, pending = _stored(search)
    assert len(trials) == 3 and all(t.ok for t in trials)  # the interrupted one is neither failed nor charged
    assert len(pending) == 1
    interrupted = pending[0].key
    s = SearchInstance(
        "i", search, space, hi_fi_eval=lambda e: float(e[0]), strategy="random", progress=False
    )
    s.run_search(eval_budget=10)
    history = s.history()
    s.close()
    assert len(history) == 10 and all(h["status"] == "COMPLETE" for h in history)
    assert history[3]["encoding"] == tuple(__import__("json").loads(interrupted))  # sent again first


# -- 2. A result that cannot be converted is a failed trial; no stored record crashes a resume ----


def test_an_unconvertible_result_is_a_failed_trial_and_resume_works(tmp_path):
    space = _line_space(tmp_path)
    s = _search(tmp_path, space, hi_fi_eval=lambda e: 10**400 if e[0] % 2 else float(e[0]))
    s.run_search(eval_budget=8)
    failed = [h for h in s.history() if h["status"] == "FAILED"]
    s.close()
    assert failed and all("OverflowError" in h["error"] for h in failed)
    s = _search(tmp_path, space, hi_fi_eval=lambda e: float(e[0]))  # resume: replays without crashing
    s.run_search(eval_budget=10)
    assert len(s.history()) == 10
    s.close()


def test_metrics_that_json_cannot_hold_are_stored_readably(tmp_path):
    space = _line_space(tmp_path)
    loop: list = []
    loop.append(loop)  # a cycle: json.dumps raises ValueError
    s = _search(
        tmp_path,
        space,
        hi_fi_eval=lambda e: {"value": 1.0, "cycle": loop, "big": 1e308 * 10, "obj": object()},
    )
    s.run_search(eval_budget=3)
    s.close()
    s = _search(tmp_path, space)
    assert len(s.history()) == 3 and s.history()[0]["metrics"]["big"] == "inf"
    s.close()


# -- 3. The search file deleted or replaced mid-run ------------------------------------------------


@pytest.mark.parametrize("replace", [False, True])
def test_search_file_deleted_or_replaced_mid_run_stops_with_a_storage_error_and_keeps_the_trials(
    tmp_path, replace
):
    space = _line_space(tmp_path)
    path = tmp_path / "r.search"
    calls = []

    def objective(enc):
        calls.append(enc)
        if len(calls) == 5:
            os.remove(path)
            if replace:
                path.write_bytes(b"")  # another file at the same path
        return float(enc[0])

    s = _search(tmp_path, space, hi_fi_eval=objective)
    with pytest.raises(StorageError, match="deleted or replaced") as info:
        s.run_search(eval_budget=10)
    s.close()
    assert len(calls) == 5
    rescued = [p for p in tmp_path.iterdir() if ".recovered-" in p.name]
    assert len(rescued) == 1 and str(rescued[0]) in str(info.value)
    trials, _ = _stored(rescued[0])
    assert [t.key for t in trials] == [f"[{e[0]}]" for e in calls[:4]]  # all four committed trials


# -- 4. A failed constructor leaves nothing behind -------------------------------------------------


def test_a_failed_constructor_does_not_poison_the_file(tmp_path):
    space = _line_space(tmp_path)
    path = tmp_path / "r.search"
    with pytest.raises(KeyError, match="unknown strategy 'nope'"):
        SearchInstance("r", path, space, hi_fi_eval=_peak, strategy="nope")
    with pytest.raises(ConfigError, match="seed"):
        SearchInstance("r", path, space, hi_fi_eval=_peak, seed=-1)
    with pytest.raises(ConfigError, match="constraint"):
        SearchInstance("r", path, space, hi_fi_eval=_peak, constraints={"latency": 3})
    assert not path.exists()
    s = SearchInstance(
        "r", path, space, hi_fi_eval=_peak, strategy="random", progress=False
    )  # the right call
    s.run_search(eval_budget=2)
    s.close()


# -- 5. Another space is refused; an extended space is accepted with extend_space=True ------------


def test_reopening_with_another_space_is_refused_saying_what_differs(tmp_path):
    s = _search(tmp_path, _line_space(tmp_path))
    s.run_search(eval_budget=5)
    s.close()
    other = tmp_path / "other.space"
    create_search_space("other", other, [(i, "x") for i in range(20)])
    with pytest.raises(ConfigError, match="started on another space: 20 of its 20 encodings are not in"):
        _search(tmp_path, str(other))
    reordered = tmp_path / "reordered.space"
    create_search_space("line", reordered, [(i,) for i in reversed(range(20))])
    with pytest.raises(ConfigError, match="orders or featurizes them differently"):
        _search(tmp_path, str(reordered))
    s = _search(tmp_path, _line_space(tmp_path))  # the original space still resumes
    assert len(s.history()) == 5
    s.close()


def test_an_extended_space_needs_extend_space_and_keeps_every_trial(tmp_path):
    space = _line_space(tmp_path, n=10)
    s = _search(tmp_path, space, hi_fi_eval=lambda e: float(e[0]))
    s.run_search(eval_budget=6)
    before = s.history()
    s.close()
    create_search_space("line", space, [(i,) for i in range(16)])  # a knob gained values
    with pytest.raises(ConfigError, match="6 encodings more .*extend_space=True"):
        _search(tmp_path, space, hi_fi_eval=lambda e: float(e[0]))
    s = _search(tmp_path, space, hi_fi_eval=lambda e: float(e[0]), extend_space=True)
    assert s.history() == before
    s.run_search(eval_budget=16)
    encodings = [h["encoding"] for h in s.history()]
    assert sorted(encodings) == [(i,) for i in range(16)]  # the strategy saw the new encodings
    assert s.best() == ((15,), 15.0)
    s.close()
    s = _search(tmp_path, space, hi_fi_eval=lambda e: float(e[0]))  # the extension is now the stored space
    assert len(s.history()) == 16
    s.close()


def test_bo_retrains_on_the_extended_spaces_pretraining_data(tmp_path):
    small = tmp_path / "s.space"
    create_search_space("s", small, [(i,) for i in range(30)]).preprocess(
        progress=False, pretraining_data={"size": [float(i) for i in range(30)]}
    )
    s = _search(tmp_path, str(small), hi_fi_eval=lambda e: float(e[0]), strategy="bo")
    s.run_search(eval_budget=5)
    s.close()
    create_search_space("s", small, [(i,) for i in range(60)]).preprocess(
        progress=False, pretraining_data={"size": [float(i) for i in range(60)]}
    )
    s = _search(tmp_path, str(small), hi_fi_eval=lambda e: float(e[0]), strategy="bo", extend_space=True)
    s.run_search(eval_budget=12)
    new = [h["encoding"][0] for h in s.history()[5:]]
    s.close()
    assert max(new) >= 30  # proposals come from the new encodings too


# -- 8. The writer lock is on the real file -------------------------------------------------------


def test_a_symlink_or_another_spelling_of_the_path_is_locked_too(tmp_path):
    space = _line_space(tmp_path)
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.search"
    s = _search(tmp_path, space)
    os.symlink(tmp_path / "r.search", link)
    for other in (link, tmp_path / "sub" / ".." / "r.search", Path(os.path.relpath(tmp_path / "r.search"))):
        with pytest.raises(SearchLockedError):
            SearchInstance("r", other, space, hi_fi_eval=_peak, strategy="random", progress=False)
    s.close()
    SearchInstance("r", link, space, hi_fi_eval=_peak, strategy="random", progress=False).close()


# -- 11. Only a missing file starts a new search ---------------------------------------------------


def test_a_zero_byte_or_foreign_file_is_refused_not_overwritten(tmp_path):
    space = _line_space(tmp_path)
    empty = tmp_path / "empty.search"
    empty.write_bytes(b"")
    with pytest.raises(StorageError, match="empty .0-byte. file"):
        SearchInstance("r", empty, space, hi_fi_eval=_peak, strategy="random", progress=False)
    assert empty.stat().st_size == 0
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="not an archtune search file"):
        SearchInstance("r", foreign, space, hi_fi_eval=_peak, strategy="random", progress=False)
    text = tmp_path / "notes.search"
    text.write_text("my notes\n" * 100)
    with pytest.raises(StorageError, match="not an archtune search file"):
        SearchInstance("r", text, space, hi_fi_eval=_peak, strategy="random", progress=False)
    assert text.read_text() == "my notes\n" * 100


# -- 12. Files the user cannot write: archtune errors, not sqlite3/PermissionError ---------------


def _make_read_only(path: Path) -> None:
    """Read-only for this process: chmod, and for root (whom permissions do not stop) the immutable flag."""
    os.chmod(path, 0o555 if path.is_dir() else 0o444)
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"running as root and chattr +i is not supported here: {done.stderr.strip()}")


def _make_writable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    os.chmod(path, 0o755 if path.is_dir() else 0o644)


def test_read_only_file_or_folder_gives_a_storage_error(tmp_path):
    space = _line_space(tmp_path)
    folder = tmp_path / "runs"
    folder.mkdir()
    SearchInstance(
        "p", folder / "ro.search", space, hi_fi_eval=_peak, strategy="random", progress=False
    ).close()
    _make_read_only(folder / "ro.search")
    try:
        with pytest.raises(StorageError, match="is not writable"):
            SearchInstance(
                "p", folder / "ro.search", space, hi_fi_eval=_peak, strategy="random", progress=False
            )
    finally:
        _make_writable(folder / "ro.search")
    _make_read_only(folder)
    try:
        with pytest.raises(StorageError, match="cannot write in"):
            SearchInstance(
                "p", folder / "new.search", space, hi_fi_eval=_peak, strategy="random", progress=False
            )
    finally:
        _make_writable(folder)
    assert not (folder / "new.search").exists()


def test_search_file_in_a_missing_folder_or_a_folder_itself(tmp_path):
    space = _line_space(tmp_path)
    with pytest.raises(StorageError, match="does not exist; create"):
        SearchInstance("r", tmp_path / "no" / "r.search", space, hi_fi_eval=_peak, strategy="random")
    with pytest.raises(StorageError, match="is a directory"):
        SearchInstance("r", tmp_path, space, hi_fi_eval=_peak, strategy="random")


# -- 13. Budgets that buy nothing are warned about -------------------------------------------------


def test_a_budget_below_one_high_fidelity_evaluation_warns(tmp_path):
    space = _line_space(tmp_path)
    s = _search(tmp_path, space, hi_fi_cost=10, lo_fi_eval=_peak, lo_fi_cost=1)
    with pytest.warns(BudgetWarning, match="cannot buy one high-fidelity evaluation"):
        s.run_search(eval_budget=0.5)
    assert s.best() is None
    s.close()


def test_a_budget_spent_without_a_high_fidelity_result_warns(tmp_path):
    space = _line_space(tmp_path)
    s = _search(tmp_path, space, hi_fi_eval=lambda e: float("nan"), max_consecutive_failures=100)
    with pytest.warns(BudgetWarning, match="no high-fidelity evaluation succeeded"):
        s.run_search(eval_budget=3)
    s.close()
    s = SearchInstance(
        "ok",
        tmp_path / "ok.search",
        _line_space(tmp_path, name="c.space"),
        hi_fi_eval=_peak,
        strategy="random",
        progress=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a normal search warns nothing
        s.run_search(eval_budget=3)
    s.close()


# -- 14. A programming error in the objective stops at the first call ----------------------------


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (None, "returned None; return a float or a dict with 'value'"),
        ({"acc": 0.9}, "a dict without the key 'value' .keys: \\['acc'\\]"),
        (True, "returned bool True"),
        ("3.5", "returned str '3.5'"),
        ({"value": None}, "'value' was None"),
    ],
)
def test_an_objective_returning_the_wrong_thing_stops_at_the_first_call(tmp_path, result, message):
    space = _line_space(tmp_path)
    calls = []

    def objective(enc):
        calls.append(enc)
        return result

    s = _search(tmp_path, space, hi_fi_eval=objective)
    with pytest.raises(ObjectiveContractError, match=message):
        s.run_search(eval_budget=10)
    assert len(calls) == 1 and s.history() == []
    s.close()
    s = _search(tmp_path, space)  # fixed: the resume sends that evaluation again, nothing was charged
    s.run_search(eval_budget=3)
    assert [h["encoding"] for h in s.history()][0] == calls[0] and s.spent == 3
    s.close()


def test_objective_exceptions_stay_failed_trials(tmp_path):
    s = _search(tmp_path, _line_space(tmp_path), hi_fi_eval=lambda e: 1 / 0, max_consecutive_failures=100)
    with pytest.warns(BudgetWarning):
        s.run_search(eval_budget=4)
    assert [h["status"] for h in s.history()] == ["FAILED"] * 4
    s.close()


def test_archtune_status_on_a_directory_is_a_one_line_error(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "archtune.cli", "status", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr and "is a directory" in out.stderr, out.stderr


def test_an_objective_a_time_limit_cannot_send_is_a_config_error_not_failed_trials(tmp_path):
    import threading

    lock = threading.Lock()  # cloudpickle cannot send a lock to the time limit's child process
    s = _search(tmp_path, _line_space(tmp_path), hi_fi_eval=lambda e: float(lock.locked()), time_limit=30)
    with pytest.raises(ConfigError, match="time_limit"):
        s.run_search(eval_budget=3)
    assert s.history() == []
    s.close()
