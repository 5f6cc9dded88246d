"""A script that starts spawn workers without ``if __name__ == "__main__":`` gets one clear line, not Dask's traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from archtune import create_search_space

_SCRIPT = textwrap.dedent("""
    import sys
    from archtune import SearchInstance

    def objective(enc):
        return float(enc[0])

    {guard}s = SearchInstance("g", sys.argv[1], sys.argv[2], hi_fi_eval=objective, strategy="random",
    {indent}                   executor=sys.argv[3], progress=False)
    {indent}s.run_search(eval_budget=2, n_workers=1)
    {indent}print("finished", len(s.history()))
""")


def _run(tmp_path, executor, guarded):
    space = tmp_path / "line.space"
    create_search_space("line", space, [(i,) for i in range(4)])
    script = tmp_path / "search.py"
    script.write_text(
        _SCRIPT.format(
            guard='if __name__ == "__main__":\n    ' if guarded else "", indent="    " if guarded else ""
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path / "g.search"), str(space), executor],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.mark.parametrize("executor", ["process", "dask"])
def test_unguarded_script_gets_one_line_that_shows_the_guard(tmp_path, executor):
    out = _run(tmp_path, executor, guarded=False)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("archtune.errors.ConfigError: executor=") and executor in last
    assert 'if __name__ == "__main__":' in last and "search.py, line 10" in last  # the run_search call
    assert "bootstrapping" not in out.stderr and "Nanny failed" not in out.stderr  # nothing from deep inside
    assert not (tmp_path / "g.search").exists() or "finished" not in out.stdout


def test_guarded_script_runs(tmp_path):
    out = _run(tmp_path, "process", guarded=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "finished 2" in out.stdout
