"""One suite for every Storage archtune ships (every subclass of archtune.storage.base.Storage): the contract
of its docstring, and the same search history through SearchInstance whichever storage holds it."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os

import numpy as np
import pytest

import archtune.storage  # noqa: F401 - imports every shipped storage, so that each subclass is known
from archtune import SearchInstance, create_search_space
from archtune.errors import ConfigTypeError, SearchLockedError, StorageError
from archtune.storage.base import COMPLETE, FAILED, Storage, Trial
from archtune.storage.sqlite import SQLiteStorage

STORAGES = {cls.__name__: cls for cls in Storage.__subclasses__()}


def test_the_suite_covers_every_storage_archtune_ships():
    assert {"SQLiteStorage", "MemoryStorage"} <= set(STORAGES)


def _open(name, tmp_path):
    cls = STORAGES[name]
    return cls(tmp_path / "s.search") if cls.persistent else cls()


def _trial(number, **changes):
    return dataclasses.replace(
        Trial(number, f"[{number}]", "hi", 1.0, COMPLETE, 0.1 * number, {"n": number}), **changes
    )


@pytest.fixture(params=sorted(STORAGES))
def storage(request, tmp_path):
    store = _open(request.param, tmp_path)
    yield store
    store.close()


def test_trials_come_back_in_completion_order_with_their_fields(storage):
    failed = _trial(1, status=FAILED, value=None, error="Traceback ...", metrics={})
    for t in (_trial(0), failed, _trial(2, metrics={"acc": np.float32(0.5), "bad": float("inf")})):
        storage.append(t)
    got = storage.trials()
    assert [t.number for t in got] == [0, 1, 2]
    assert got[0] == _trial(0) and got[1] == failed
    assert got[2].metrics == {"acc": 0.5, "bad": "inf"}  # the JSON-safe form, whichever storage


def test_a_stored_trial_never_changes(storage):
    storage.append(_trial(0))
    with pytest.raises(StorageError):
        storage.append(_trial(0, value=99.0))  # the same number again: refused, the first one kept
    got = storage.trials()
    got.append(_trial(5))  # the caller's list is not the store
    assert storage.trials() == [_trial(0)]


def test_append_removes_its_dispatch_record_in_the_same_step(storage):
    first, second = storage.add_pending("[0]", "hi"), storage.add_pending("[1]", "lo")
    assert [(p.key, p.fidelity) for p in storage.pending()] == [("[0]", "hi"), ("[1]", "lo")]
    storage.append(_trial(0), pending_id=first)
    assert [p.id for p in storage.pending()] == [second]
    storage.drop_pending(second)
    assert storage.pending() == [] and len(storage.trials()) == 1


def test_meta_holds_strings_and_updates(storage):
    storage.set_meta({"name": "a", "seed": "0"})
    storage.set_meta({"seed": "1"})
    assert storage.get_meta() == {"name": "a", "seed": "1"}


def test_a_closed_storage_refuses_to_write(storage):
    storage.close()
    with pytest.raises(StorageError):
        storage.append(_trial(0))


def _open_in_child(path, queue):
    try:
        SQLiteStorage(path)
        queue.put("opened")
    except SearchLockedError as err:
        queue.put(f"locked: {err}")


@pytest.mark.parametrize("name", sorted(n for n, cls in STORAGES.items() if cls.persistent))
def test_a_persistent_storage_locks_out_a_second_writer_and_reads_without_the_lock(name, tmp_path):
    writer = _open(name, tmp_path)
    writer.append(_trial(0))
    queue = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(
        target=_open_in_child, args=(tmp_path / "s.search", queue)
    )
    child.start()
    child.join(120)
    assert queue.get(timeout=5).startswith("locked")  # another process: SearchLockedError
    reader = STORAGES[name](tmp_path / "s.search", read_only=True)  # no lock taken: opens beside the writer
    assert reader.trials() == [_trial(0)]
    with pytest.raises(StorageError):
        reader.append(_trial(1))
    reader.close()
    writer.close()
    again = STORAGES[name](tmp_path / "s.search")  # the writer gone, the file opens again with its trials
    assert again.trials() == [_trial(0)]
    again.close()


def _objective(enc):
    return {"value": -abs(enc[0] - 13) + 0.1 * enc[1], "size": float(enc[0] * enc[1])}


@pytest.mark.parametrize("strategy", ["random", "bo"])
def test_a_search_has_the_same_history_whichever_storage_holds_it(strategy, tmp_path):
    space = create_search_space(
        "grid", tmp_path / "grid.space", [(a, b) for a in range(20) for b in range(3)]
    )
    histories = {}
    for name in sorted(STORAGES):
        store = None if STORAGES[name] is SQLiteStorage else _open(name, tmp_path)
        s = SearchInstance(
            "same",
            tmp_path / f"{name}.search",
            space,
            hi_fi_eval=_objective,
            lo_fi_eval=_objective,
            lo_fi_cost=0.2,
            strategy=strategy,
            seed=3,
            progress=False,
            storage=store,
        )
        s.run_search(eval_budget=6)
        histories[name] = [(h["encoding"], h["fidelity"], h["value"], h["metrics"]) for h in s.history()]
        s.close()
        assert os.path.exists(tmp_path / f"{name}.search") == STORAGES[name].persistent
    first = next(iter(histories.values()))
    assert len(first) >= 6 and all(h == first for h in histories.values())


def test_storage_must_be_a_storage_object(tmp_path):
    space = create_search_space("g", tmp_path / "g.space", [(i,) for i in range(5)])
    with pytest.raises(ConfigTypeError, match="storage must be None .* or a Storage object"):
        SearchInstance("x", tmp_path / "x.search", space, hi_fi_eval=lambda e: 1.0, storage="memory")
    assert not (tmp_path / "x.search").exists()
