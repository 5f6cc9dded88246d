from __future__ import annotations

import json
import subprocess
import sys

from archtune import SearchInstance, create_search_space
from archtune.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0
    assert "archtune 0.1.0" in capsys.readouterr().out


def test_status_table_and_json(tmp_path, capsys):
    path = tmp_path / "t.space"
    create_search_space("t", path, [(i,) for i in range(10)])
    s = SearchInstance(
        "t", tmp_path / "t.search", path, hi_fi_eval=lambda e: float(e[0]), strategy="random", progress=False
    )
    s.run_search(eval_budget=4)
    best = s.best()
    s.close()
    assert main(["status", str(tmp_path / "t.search"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_trials"] == 4 and summary["best"]["value"] == best[1]
    assert main(["status", str(tmp_path / "t.search")]) == 0
    out = capsys.readouterr().out
    assert "best so far" in out and "COMPLETE" not in out


def test_help_on_every_command_and_missing_file():
    for args in (
        ["--help"],
        ["status", "--help"],
        ["demo", "--help"],
        ["bench", "--help"],
        ["spline-plot", "--help"],
        ["evaluator", "--help"],
        ["nss", "--help"],
    ):
        out = subprocess.run([sys.executable, "-m", "archtune.cli", *args], capture_output=True, text=True)
        assert out.returncode == 0 and "usage" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "archtune.cli", "status", "/nope.search"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "no search file" in out.stderr


def test_demo_refuses_a_budget_without_room_for_a_high_fidelity_result(capsys):
    assert main(["demo", "--budget", "2"]) == 2
    assert "the demo needs --budget of at least 4" in capsys.readouterr().err
