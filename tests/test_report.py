"""The HTML report and the dashboard, as a person sees them: rendered for real searches and opened in a
real headless Chromium. Each case checks the page loads without a JavaScript error, needs no network,
and that each plot has its data points (counted in the SVG the browser drew); each saves a screenshot
under test-artifacts/report/ (printed at the end of the run)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from archtune import SearchInstance, create_search_space
from archtune.cli import main
from archtune.errors import ArchtuneError, SearchStoppedError
from archtune.report import Dashboard, load_report_data, report_figures, report_payload, write_report
from archtune.report.browser import chromium_path, open_page, plot_marks
from archtune.storage.base import COMPLETE, FAILED, Trial
from archtune.storage.sqlite import SQLiteStorage
from archtune_experiments.systems.report_open import fast_folder, run_real_search, write_synthetic_search

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "report"
ENCODINGS = [
    (d, w, b) for d, w, b in itertools.product((1, 2, 3, 4), (8, 16, 32, 64), ("conv", "res", "mbconv"))
]


def objective(encoding: tuple) -> dict:
    """A cheap formula shaped like the image-classification evaluator's result (value in %, a curve)."""
    depth, width, block = encoding
    if block == "mbconv" and depth == 4:
        raise RuntimeError("CUDA out of memory (simulated)")
    final = (
        0.5 + 0.08 * depth + 0.1 * np.log2(width / 8) / 3 + {"conv": 0.0, "res": 0.05, "mbconv": 0.03}[block]
    )
    curve = [{"epoch": e, "eval_accuracy": final * (1 - 0.5**e), "lr": 0.1} for e in range(1, 5)]
    return {"value": 100 * curve[-1]["eval_accuracy"], "curve": curve}


def lo_objective(encoding: tuple) -> float:
    return objective(encoding)["value"] - 5.0


@pytest.fixture
def folder():
    path = fast_folder()  # in memory where possible: SQLite's fsync per trial costs nothing there
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def chromium():
    if chromium_path() is None:
        pytest.skip(
            "chromium is not installed (apt-get install chromium): the browser tests need a real Chromium"
        )
    pytest.importorskip("playwright", reason="playwright is not installed: pip install -e '.[dev]'")
    from archtune.report.browser import browser

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with browser() as context:
        yield context


def _space(folder: Path) -> Path:
    path = folder / "s.space"
    create_search_space("s", str(path), encodings=ENCODINGS)
    return path


def _search(folder: Path, name: str = "run", **kwargs) -> SearchInstance:
    args = {
        "hi_fi_eval": objective,
        "hi_fi_cost": 4.0,
        "lo_fi_eval": lo_objective,
        "lo_fi_cost": 1.0,
        "strategy": "random",
        "progress": False,
        "max_consecutive_failures": 10,
    }
    args.update(kwargs)
    return SearchInstance(name, str(folder / f"{name}.search"), str(_space(folder)), **args)


def _open(chromium, html: Path, case: str):
    """Open a report, check it drew without errors or network, save its screenshot; returns (page, marks)."""
    page, log = open_page(chromium, html.resolve().as_uri())
    assert log.errors == [], f"JavaScript errors in the {case} report: {log.errors}"
    assert log.blocked == [], f"the {case} report asked for the network: {log.blocked}"
    assert page.is_hidden("#boot-error")
    marks = plot_marks(page)
    page.screenshot(path=str(ARTIFACTS / f"{case}.png"), full_page=True)
    return page, marks


def _table_rows(page) -> int:
    return int(page.inner_text("#pager").split(" of ")[-1]) if "of" in page.inner_text("#pager") else 0


def test_finished_search_report(chromium, folder):
    with _search(folder, strategy="bo", seed=1) as s:
        s.run_search(eval_budget=10)
    data = load_report_data(folder / "run.search")
    trials = data.trials
    assert {t.fidelity for t in trials} == {"lo", "hi"} and any(not t.ok for t in trials)
    html = write_report(folder / "run.search", folder / "report.html")
    assert not [p for p in folder.iterdir() if p.name.startswith(".report")]  # no temp file left beside it
    page, marks = _open(chromium, html, "finished")
    assert set(marks) == {"best", "trials", "curves", "effects", "importance"}
    assert marks["trials"]["points"] == len(trials)  # every trial a point, failed ones included
    assert marks["best"]["lines"] >= 1 and marks["best"]["points"] >= 1
    with_curve = [t for t in trials if t.ok and "curve" in t.metrics]
    assert marks["curves"]["lines"] == len(with_curve)
    assert marks["effects"]["boxes"] >= 3 and marks["effects"]["box_points"] >= sum(t.ok for t in trials)
    assert marks["importance"]["bars"] == 3  # depth, width, block
    assert _table_rows(page) == len(trials)
    assert "out of memory" in page.inner_text("#trials-table")  # failed trials with their error
    settings = page.inner_text("#settings")
    for text in (
        "48 encodings",
        "strategy\tbo",
        "seed\t1",
        "high-fidelity cost\t4.0",
        "budget spent",
        "budget (high-fidelity evaluations)",
    ):
        assert text in settings
    # the table sorts: by value, descending on the second click
    page.click("#trials-table th:has-text('value')")
    page.click("#trials-table th:has-text('value')")
    first = page.inner_text("#trials-table tbody tr:first-child td:nth-child(4)")
    assert float(first) == pytest.approx(max(t.value for t in trials if t.ok), rel=1e-4)
    page.close()


def test_running_search_report(chromium, folder):
    """A search still running (writer lock held, one evaluation in flight): reported read-only."""
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow(encoding):
        calls.append(encoding)
        if len(calls) == 6:
            started.set()
            release.wait(60)
        return objective(encoding)

    errors = []

    def run():  # SQLite connections belong to the thread that made them: the search lives in this one
        try:
            with _search(folder, hi_fi_eval=slow, lo_fi_eval=None, lo_fi_cost=None) as search:
                search.run_search(eval_budget=8)
        except Exception as err:  # noqa: BLE001 - surfaced below
            errors.append(err)
            started.set()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert started.wait(60) and errors == []
        html = write_report(folder / "run.search", folder / "running.html")
        page, marks = _open(chromium, html, "running")
        headline = page.inner_text("#headline")
        assert "5 trials" in headline and "1 in flight" in headline
        assert marks["trials"]["points"] == 5
        assert "running, or stopped" in page.inner_text("#settings")
        page.close()
    finally:
        release.set()
        thread.join(60)
    assert (
        errors == [] and len(load_report_data(folder / "run.search").trials) == 8
    )  # the search was not disturbed


def test_failed_trials_only_report(chromium, folder):
    def broken(encoding):
        raise ValueError(f"no such layer for {encoding}")

    search = _search(folder, hi_fi_eval=broken, lo_fi_eval=None, lo_fi_cost=None, max_consecutive_failures=4)
    with pytest.raises(SearchStoppedError):
        search.run_search(eval_budget=10)
    search.close()
    html = write_report(folder / "run.search", folder / "failed.html")
    page, marks = _open(chromium, html, "failed-only")
    assert marks["trials"]["points"] == 4 and marks["trials"]["traces"] == 1  # the failed trace only
    assert "no high-fidelity result yet" in page.inner_text("#headline")
    assert page.locator("#trials-table tr.failed").count() == 4
    page.click("#trials-table details >> nth=0")
    assert "no such layer" in page.inner_text("#trials-table details[open] pre")
    assert "No completed trial yet." in page.inner_text("#sec-effects")
    page.close()


def _multi_objective_search(path: Path) -> list[tuple[float, float]]:
    """A search with two objectives written straight through the storage; returns the hi points."""
    rng = np.random.default_rng(3)
    storage = SQLiteStorage(path)
    storage.set_meta(
        {
            "name": "mo",
            "seed": "3",
            "hi_fi_cost": "1.0",
            "lo_fi_cost": "0.25",
            "strategy": "bo",
            "constraints": "{}",
            "space_file": "",
            "format": "archtune.search/1",
            "objectives": json.dumps({"value": "max", "latency_ms": "min"}),
        }
    )
    points = []
    for number in range(60):
        fidelity = "lo" if number % 4 == 0 else "hi"
        if number == 7:
            storage.append(
                Trial(number, f"[{number}]", fidelity, 1.0, FAILED, error="Traceback\nRuntimeError: nan loss")
            )
            continue
        latency = float(rng.uniform(1, 20))
        value = float(50 + 40 * (1 - np.exp(-latency / 6)) + rng.normal(0, 3))
        storage.append(
            Trial(
                number,
                f"[{number}]",
                fidelity,
                1.0 if fidelity == "hi" else 0.25,
                COMPLETE,
                value,
                {"value": value, "latency_ms": latency},
            )
        )
        if fidelity == "hi":
            points.append((value, latency))
    storage.close()
    return points


def test_multi_objective_report(chromium, folder):
    points = _multi_objective_search(folder / "mo.search")
    # the front by brute force: no other point at least as good in both and better in one
    front = [p for p in points if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in points)]
    payload = report_payload(folder / "mo.search")
    assert "latency_ms" in payload["table"]["columns"]
    html = write_report(folder / "mo.search", folder / "mo.html")
    page, marks = _open(chromium, html, "multi-objective")
    assert marks["pareto"]["points"] == len(points)  # dominated + front markers: every high-fidelity result
    assert page.is_visible("#sec-pareto")
    # the front is the second trace: its markers as drawn
    drawn = page.evaluate(
        "() => document.querySelectorAll('#fig-pareto .scatterlayer .trace')[1]"
        ".querySelectorAll('path.point').length"
    )
    assert drawn == len(front)
    page.close()


def test_huge_search_report(chromium, folder):
    """10,000 trials: the file stays under 5 MB and every trial is drawn (opening time: bench report-open)."""
    search = write_synthetic_search(folder / "huge.search", 10_000)
    html = write_report(search, folder / "huge.html")
    assert html.stat().st_size < 5_000_000
    page, marks = _open(chromium, html, "huge")
    assert marks["trials"]["points"] == 10_000
    assert marks["curves"]["lines"] == 100  # the best 100 curves, not 10,000
    assert _table_rows(page) == 10_000
    assert page.locator("#trials-table tbody tr").count() == 100  # a page of rows at a time
    page.close()


@pytest.mark.slow
def test_huge_real_search_report(chromium, folder):
    """The same with a real 10,000-evaluation SearchInstance (about a minute)."""
    search = run_real_search(folder / "real.search", 10_000)
    html = write_report(search, folder / "real.html")
    assert html.stat().st_size < 5_000_000
    _, marks = _open(chromium, html, "huge-real")
    assert marks["trials"]["points"] == 10_000


def test_dashboard_shows_new_trials(chromium, folder):
    with _search(folder, lo_fi_eval=None, lo_fi_cost=None) as s:
        s.run_search(eval_budget=3)
    path = folder / "run.search"
    with Dashboard(path, port=0, interval_s=0.3) as board:
        assert board.url.startswith("http://127.0.0.1:")
        page, log = open_page(chromium, board.url, allow=(board.url,))
        assert page.inner_text("#n-trials") == "3"
        done = threading.Event()

        def more():
            try:
                with _search(folder, lo_fi_eval=None, lo_fi_cost=None) as again:
                    again.run_search(eval_budget=9)
            finally:
                done.set()

        thread = threading.Thread(target=more)
        thread.start()
        try:
            # the page must show the new trials within a few seconds of their arrival
            page.wait_for_function("() => document.body.dataset.trials === '9'", timeout=20_000)
        finally:
            thread.join(60)
        assert done.is_set()
        marks = plot_marks(page)
        assert marks["trials"]["points"] == 9 and _table_rows(page) == 9
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        assert log.errors == [] and log.blocked == []
        page.close()


def test_dashboard_is_read_only(folder):
    with _search(folder, lo_fi_eval=None, lo_fi_cost=None) as s:
        s.run_search(eval_budget=3)
    path = folder / "run.search"
    before = (
        hashlib.sha256(path.read_bytes()).hexdigest(),
        path.stat().st_mtime_ns,
        sorted(os.listdir(folder)),
    )
    with Dashboard(path, port=0) as board:
        for route in ("", "api/state", "api/payload"):
            assert urllib.request.urlopen(board.url + route).status == 200
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(board.url + "api/state", data=b"x", method="POST"))
        assert err.value.code == 501
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(board.url + "nothing")
        assert err.value.code == 404
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before[:2]
    # nothing new beside it but SQLite's own shared-memory index of a reader, with an empty log
    new = set(os.listdir(folder)) - set(before[2])
    assert new <= {"run.search-wal", "run.search-shm"}
    assert not (folder / "run.search-wal").exists() or (folder / "run.search-wal").stat().st_size == 0


def test_figures_for_notebooks(folder):
    with _search(folder, lo_fi_eval=None, lo_fi_cost=None) as s:
        s.run_search(eval_budget=10)
    figures = report_figures(folder / "run.search")
    assert set(figures) == {"best", "trials", "curves", "effects", "importance"}
    assert sum(len(t.x) for t in figures["trials"].data) == 10


def test_missing_space_file_is_a_note(folder):
    points = _multi_objective_search(folder / "mo.search")
    storage = SQLiteStorage(folder / "mo.search")
    storage.set_meta({"space_file": str(folder / "gone.space")})
    storage.close()
    # the second objective is in the trials' metrics, so the front needs no space file
    front = report_figures(folder / "mo.search")["pareto"].data[1]
    assert 0 < len(front.x) < len(points)
    assert report_payload(folder / "mo.search")["notes"] == []
    # a zero-cost objective missing from the metrics is looked up in the space file: its absence is said
    storage = SQLiteStorage(folder / "mo.search")
    storage.set_meta({"objectives": json.dumps({"value": "max", "latency_ms": "min", "params": "min"})})
    storage.close()
    payload = report_payload(folder / "mo.search")
    assert any("gone.space" in note and "missing" in note for note in payload["notes"])
    assert "pareto" in payload["figures"]  # drawn with what there is: every trial lacks params


def test_cli_report_and_errors(folder, capsys):
    with _search(folder, lo_fi_eval=None, lo_fi_cost=None) as s:
        s.run_search(eval_budget=3)
    assert main(["report", str(folder / "run.search"), "-o", str(folder / "cli.html")]) == 0
    assert (folder / "cli.html").stat().st_size > 1_000_000 and "wrote" in capsys.readouterr().out
    assert main(["report", str(folder / "missing.search"), "-o", str(folder / "x.html")]) == 2
    assert "no search file" in capsys.readouterr().err
    assert main(["report", str(folder / "run.search"), "-o", str(folder / "no" / "x.html")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ArchtuneError):
        Dashboard(folder / "run.search", port=0, interval_s=0)
