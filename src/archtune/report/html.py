"""The HTML report: one self-contained file that opens offline, with no server and no file beside it.

The page holds plotly.js (the copy the ``plotly`` package ships) and the report's data, both gzip-
compressed and base64-encoded, and unpacks them with the browser's own ``DecompressionStream``: the
full plotly.js is 4.8 MB, so without compression a report could not stay under 5 MB. The figures are
drawn by plotly from the JSON of :mod:`archtune.report.figures`; the trial table is sortable and
filterable, failed trials show their error. The dashboard (:mod:`archtune.report.dashboard`) serves
the same page and refreshes it from a JSON endpoint.

Example:
    >>> import os, tempfile
    >>> from archtune import SearchInstance, create_search_space
    >>> d = tempfile.mkdtemp()
    >>> ss = create_search_space("h", None, [(i,) for i in range(10)])
    >>> s = SearchInstance("h", os.path.join(d, "h.search"), search_space=ss, strategy="random", progress=False,
    ...                    hi_fi_eval=lambda e: -abs(e[0] - 4))
    >>> s.run_search(eval_budget=5); s.close()
    >>> out = write_report(os.path.join(d, "h.search"), os.path.join(d, "report.html"))
    >>> out.name, out.stat().st_size < 5_000_000
    ('report.html', True)
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import plotly.io as pio

from archtune.errors import ConfigError
from archtune.report.data import ReportData, load_report_data
from archtune.report.figures import FIGURES, _last_line

MAX_ERROR_CHARS = 4000  # of a failed trial's traceback kept in the table (its end: where it failed)

ABSENT = {
    "curves": 'No learning curves: no objective returned a "curve" (the image-classification evaluator does).',
    "effects": "No completed trial yet.",
    "importance": "Knob importance needs at least 8 completed trials and a knob that takes two values.",
}


def _summary(data: ReportData) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {}
    for t in data.trials:
        counts.setdefault(t.fidelity, {"COMPLETE": 0, "FAILED": 0})
        counts[t.fidelity][t.status] = counts[t.fidelity].get(t.status, 0) + 1
    sense = data.objectives[data.primary]
    hits = [t for t in data.trials if t.ok and t.fidelity == "hi" and t.value is not None]
    best = (max if sense == "max" else min)(hits, key=lambda t: t.value) if hits else None  # type: ignore[arg-type, return-value]
    spent = sum(t.cost for t in data.trials) / data.hi_cost
    return {
        "name": data.name,
        "file": str(data.path),
        "n_trials": len(data.trials),
        "n_failed": sum(not t.ok for t in data.trials),
        "n_pending": len(data.pending),
        "counts": counts,
        "spent_hi_units": spent,
        "best": None if best is None else {"value": best.value, "encoding": best.key, "number": best.number},
        "objectives": data.objectives,
    }


def _settings(data: ReportData) -> list[list[str]]:
    meta = data.meta
    rows = [["search", data.name], ["file", str(data.path)]]
    labels = [
        ("strategy", "strategy"),
        ("seed", "seed"),
        ("hi_fi_cost", "high-fidelity cost"),
        ("lo_fi_cost", "low-fidelity cost"),
        ("constraints", "constraints"),
        ("objectives", "objectives"),
        ("space_file", "space file"),
        ("eval_budget", "budget (high-fidelity evaluations)"),
        ("format", "file format"),
    ]
    for key, label in labels:
        if key in meta:
            value = meta[key]
            if key == "lo_fi_cost" and value == "None":
                value = "none (one fidelity)"
            rows.append([label, value])
    size = data.space_size
    rows.append(["space size", "unknown" if size is None else f"{size:,} encodings"])
    rows.append(["knobs", ", ".join(data.knobs) or "none yet"])
    rows.append(
        ["budget spent", f"{sum(t.cost for t in data.trials) / data.hi_cost:.4g} high-fidelity evaluations"]
    )
    rows.append(
        [
            "in flight",
            f"{len(data.pending)} evaluations"
            + (" (running, or stopped while they ran)" if data.pending else ""),
        ]
    )
    return rows


def _table(data: ReportData) -> dict[str, Any]:
    extra = [n for n in data.objectives if n != data.primary]
    columns = ["#", "fidelity", "status", data.primary, *extra, "cost", "seconds", "encoding", "error"]
    others = (
        data.objective_values(data.trials)[:, [list(data.objectives).index(n) for n in extra]]
        if extra
        else None
    )
    rows = []
    for i, t in enumerate(data.trials):
        error = None
        if t.error:
            text = t.error.strip()
            error = [_last_line(text), text[-MAX_ERROR_CHARS:]]
        row: list[Any] = [t.number, t.fidelity, t.status, t.value]
        if others is not None:
            row += [None if v != v else float(v) for v in others[i]]
        row += [t.cost, round(t.duration, 3), t.key, error]
        rows.append(row)
    return {"columns": columns, "rows": rows}


def report_payload(source: ReportData | str | os.PathLike[str]) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data (the dashboard's ``/api/payload``).

    Example:
        >>> report_payload("/nonexistent.search")
        Traceback (most recent call last):
        ...
        archtune.errors.StorageError: no search file at '/nonexistent.search'
    """
    data = source if isinstance(source, ReportData) else load_report_data(source)
    figures: dict[str, Any] = {}
    for name, make in FIGURES.items():
        fig = make(data)
        if fig is not None:
            figures[name] = json.loads(pio.to_json(fig, validate=False))
    return {
        "format": "archtune.report/1",
        "summary": _summary(data),
        "settings": _settings(data),
        "figures": figures,
        "absent": {k: v for k, v in ABSENT.items() if k not in figures},
        "table": _table(data),
        "notes": list(data.notes),
    }


def _gzip_b64(data: bytes) -> str:
    # mtime=0: the same search gives the same file
    return base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")


@lru_cache(maxsize=1)
def _plotly_js_gz() -> str:
    from plotly.offline import get_plotlyjs

    return _gzip_b64(get_plotlyjs().encode("utf-8"))


def render_report(source: ReportData | str | os.PathLike[str], live: dict[str, Any] | None = None) -> str:
    """The report page as one HTML string (what :func:`write_report` writes).

    Args:
        source: a search file or its :class:`ReportData`.
        live: for the dashboard: ``{"interval_ms": ...}`` makes the page poll ``api/state`` and redraw.

    Example:
        >>> render_report("/nonexistent.search")
        Traceback (most recent call last):
        ...
        archtune.errors.StorageError: no search file at '/nonexistent.search'
    """
    payload = report_payload(source)
    return _page(payload, live)


def _page(payload: dict[str, Any], live: dict[str, Any] | None) -> str:
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False, default=str)
    title = html.escape(f"archtune report: {payload['summary']['name']}")
    live_js = "null" if live is None else json.dumps(live)
    parts = {
        "__TITLE__": title,
        "__LIVE__": live_js,
        "__PLOTLY_GZ__": _plotly_js_gz(),
        "__PAYLOAD_GZ__": _gzip_b64(text.encode("utf-8")),
    }
    # one pass, so that nothing inserted (a search's name) is taken for a placeholder
    return re.sub("__(TITLE|LIVE|PLOTLY_GZ|PAYLOAD_GZ)__", lambda m: parts[m.group(0)], _TEMPLATE)


def write_report(search_file: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write the HTML report of ``search_file`` (finished or still running; read-only) to ``out``.

    Args:
        search_file: the search file.
        out: the HTML file to write; its folder must exist.

    Raises:
        ConfigError: when ``out`` is the search file itself or its folder does not exist.
        StorageError: when ``search_file`` is not a search file.

    Example:
        >>> write_report("/nonexistent.search", "/tmp/r.html")
        Traceback (most recent call last):
        ...
        archtune.errors.StorageError: no search file at '/nonexistent.search'
    """
    out = Path(out)
    if Path(search_file).exists() and out.exists() and out.resolve() == Path(search_file).resolve():
        raise ConfigError(f"out={str(out)!r} is the search file itself; give another path, e.g. report.html")
    page = render_report(search_file)
    if not out.parent.is_dir():
        raise ConfigError(
            f"the folder of out={str(out)!r} does not exist; create it first or give another path"
        )
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)  # a reader (or a browser reloading) never sees half a report
    return out


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { background: #263238; color: #fff; padding: 14px 24px; }
header h1 { margin: 0 0 4px; font-size: 1.35em; }
header .sub { opacity: .85; font-size: .95em; }
#live { float: right; font-size: .85em; opacity: .9; }
main { padding: 12px 24px 40px; max-width: 1400px; margin: auto; }
section { background: #fff; border: 1px solid #e0e0e0; border-radius: 6px; margin: 14px 0; padding: 10px 16px; }
section h2 { font-size: 1.1em; margin: 6px 0 8px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.grid section { margin: 0; }
@media (max-width: 1000px) { .grid { grid-template-columns: 1fr; } }
.note { color: #666; font-style: italic; }
table { border-collapse: collapse; font-size: .88em; width: 100%; }
th, td { border-bottom: 1px solid #eee; padding: 3px 8px; text-align: left; vertical-align: top; }
#settings td:first-child { color: #555; width: 16em; }
#trials-table th { cursor: pointer; user-select: none; background: #f5f5f5; position: sticky; top: 0; }
#trials-table th.sorted::after { content: " \25B4"; }
#trials-table th.sorted.desc::after { content: " \25BE"; }
#trials-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
#trials-table tr.failed td { background: #fff3f3; }
#trials-table code { font-size: .95em; word-break: break-all; }
details pre { white-space: pre-wrap; font-size: .85em; max-height: 20em; overflow: auto; background: #f8f8f8; padding: 6px; }
.controls { margin: 6px 0; display: flex; gap: 12px; align-items: center; flex-wrap: wrap; }
#boot-error { color: #b00020; font-weight: bold; }
</style>
</head>
<body data-ready="0">
<header>
<span id="live"></span>
<h1 id="title">archtune report</h1>
<div class="sub" id="headline">loading…</div>
</header>
<main>
<p id="boot-error" hidden></p>
<div id="notes"></div>
<div class="grid">
<section id="sec-best"><div class="plot" id="fig-best" data-figure="best"></div></section>
<section id="sec-trials"><div class="plot" id="fig-trials" data-figure="trials"></div></section>
</div>
<section id="sec-pareto" hidden><div class="plot" id="fig-pareto" data-figure="pareto"></div></section>
<section id="sec-curves"><div class="plot" id="fig-curves" data-figure="curves"></div></section>
<section id="sec-effects"><div class="plot" id="fig-effects" data-figure="effects"></div></section>
<section id="sec-importance"><div class="plot" id="fig-importance" data-figure="importance"></div></section>
<section id="sec-table"><h2>Trials</h2>
<div class="controls">
<label>filter <input id="filter" type="search" placeholder="text in any column"></label>
<button id="prev">&larr;</button><span id="pager"></span><button id="next">&rarr;</button>
</div>
<table id="trials-table"><thead></thead><tbody></tbody></table>
</section>
<section id="sec-settings"><h2>Settings</h2><table id="settings"><tbody></tbody></table></section>
</main>
<script type="application/octet-stream" id="plotly-gz">__PLOTLY_GZ__</script>
<script type="application/octet-stream" id="payload-gz">__PAYLOAD_GZ__</script>
<script>
"use strict";
(function () {
  const LIVE = __LIVE__;
  const FIGS = ["best", "trials", "pareto", "curves", "effects", "importance"];
  const PAGE = 100;
  const state = { columns: [], rows: [], view: [], sortCol: 0, desc: false, page: 0, filter: "", version: null };

  function bytes(b64) {
    const bin = atob(b64.trim());
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  async function gunzip(id) {
    const stream = new Blob([bytes(document.getElementById(id).textContent)]).stream()
      .pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).text();
  }
  function esc(v) {
    return String(v).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  }
  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(5).replace(/\.?0+$/, "");
    return String(v);
  }

  function renderHeader(p) {
    const s = p.summary;
    document.title = "archtune report: " + s.name;
    document.getElementById("title").textContent = "archtune report: " + s.name;
    const best = s.best ? "best " + fmt(s.best.value) + " (trial " + s.best.number + ", " + s.best.encoding + ")" : "no high-fidelity result yet";
    document.getElementById("headline").innerHTML =
      '<span id="n-trials">' + s.n_trials + "</span> trials, " + s.n_failed + " failed, " + s.n_pending +
      " in flight &middot; budget spent " + fmt(s.spent_hi_units) + " high-fidelity evaluations &middot; " + esc(best);
    document.body.dataset.trials = String(s.n_trials);
    const notes = document.getElementById("notes");
    notes.innerHTML = p.notes.map(n => '<p class="note">' + esc(n) + "</p>").join("");
    const rows = p.settings.map(r => "<tr><td>" + esc(r[0]) + "</td><td><code>" + esc(r[1]) + "</code></td></tr>");
    document.querySelector("#settings tbody").innerHTML = rows.join("");
  }

  function renderFigures(p) {
    for (const name of FIGS) {
      const sec = document.getElementById("sec-" + name), div = document.getElementById("fig-" + name);
      let note = sec.querySelector("p.note");
      const fig = p.figures[name];
      if (fig) {
        sec.hidden = false;
        if (note) note.remove();
        Plotly.react(div, fig.data, fig.layout, {responsive: true, displaylogo: false});
      } else {
        if (div.data) Plotly.purge(div);
        const text = p.absent[name];
        sec.hidden = !text;
        if (text) {
          if (!note) { note = document.createElement("p"); note.className = "note"; sec.appendChild(note); }
          note.textContent = text;
        }
      }
    }
  }

  function cmp(a, b) {
    if (a === b) return 0;
    if (a === null || a === undefined) return 1;
    if (b === null || b === undefined) return -1;
    if (Array.isArray(a)) a = a[0];
    if (Array.isArray(b)) b = b[0];
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b));
  }
  function refreshView() {
    const f = state.filter.toLowerCase();
    let rows = state.rows;
    if (f) rows = rows.filter(r => r.some(v => v !== null && String(Array.isArray(v) ? v[1] : v).toLowerCase().includes(f)));
    const c = state.sortCol, sign = state.desc ? -1 : 1;
    state.view = rows.map((r, i) => [r, i]).sort((x, y) => {
      const o = cmp(x[0][c], y[0][c]);
      if (o === 0) return x[1] - y[1];
      if (x[0][c] === null || x[0][c] === undefined || y[0][c] === null || y[0][c] === undefined) return o;
      return sign * o;
    }).map(x => x[0]);
    state.page = Math.min(state.page, Math.max(0, Math.ceil(state.view.length / PAGE) - 1));
    drawTable();
  }
  function drawTable() {
    const head = document.querySelector("#trials-table thead");
    head.innerHTML = "<tr>" + state.columns.map((c, i) =>
      '<th data-col="' + i + '" class="' + (i === state.sortCol ? "sorted" + (state.desc ? " desc" : "") : "") + '">' + esc(c) + "</th>").join("") + "</tr>";
    const start = state.page * PAGE, rows = state.view.slice(start, start + PAGE);
    const statusCol = state.columns.indexOf("status"), errCol = state.columns.indexOf("error"), encCol = state.columns.indexOf("encoding");
    document.querySelector("#trials-table tbody").innerHTML = rows.map(r => {
      const cells = r.map((v, i) => {
        if (i === errCol) return v ? "<td><details><summary>" + esc(v[0]) + "</summary><pre>" + esc(v[1]) + "</pre></details></td>" : "<td></td>";
        if (i === encCol) return "<td><code>" + esc(v) + "</code></td>";
        return typeof v === "number" ? '<td class="num">' + esc(fmt(v)) + "</td>" : "<td>" + esc(fmt(v)) + "</td>";
      });
      return '<tr class="' + (r[statusCol] === "FAILED" ? "failed" : "") + '">' + cells.join("") + "</tr>";
    }).join("");
    const n = state.view.length;
    document.getElementById("pager").textContent = n ? "rows " + (start + 1) + "\u2013" + (start + rows.length) + " of " + n : "no rows";
  }

  function render(p) {
    renderHeader(p);
    renderFigures(p);
    state.columns = p.table.columns;
    state.rows = p.table.rows;
    refreshView();
    document.body.dataset.ready = "1";
  }

  function wire() {
    document.querySelector("#trials-table thead").addEventListener("click", e => {
      const th = e.target.closest("th");
      if (!th) return;
      const col = Number(th.dataset.col);
      state.desc = col === state.sortCol ? !state.desc : false;
      state.sortCol = col;
      refreshView();
    });
    document.getElementById("filter").addEventListener("input", e => { state.filter = e.target.value; state.page = 0; refreshView(); });
    document.getElementById("prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); drawTable(); });
    document.getElementById("next").addEventListener("click", () => {
      state.page = Math.min(Math.max(0, Math.ceil(state.view.length / PAGE) - 1), state.page + 1); drawTable();
    });
  }

  async function poll() {
    const live = document.getElementById("live");
    try {
      const s = await (await fetch("api/state", {cache: "no-store"})).json();
      if (s.version !== state.version) {
        const p = await (await fetch("api/payload", {cache: "no-store"})).json();
        state.version = s.version;
        render(p);
      }
      live.textContent = "live \u00b7 updated " + new Date().toLocaleTimeString();
    } catch (err) {
      live.textContent = "live \u00b7 server unreachable, retrying";
    }
    setTimeout(poll, LIVE.interval_ms);
  }

  async function boot() {
    try {
      const js = await gunzip("plotly-gz");
      const script = document.createElement("script");
      script.textContent = js;
      document.head.appendChild(script);
      wire();
      render(JSON.parse(await gunzip("payload-gz")));
      if (LIVE) { state.version = LIVE.version; setTimeout(poll, LIVE.interval_ms); }
    } catch (err) {
      const box = document.getElementById("boot-error");
      box.hidden = false;
      box.textContent = "The report could not be drawn: " + err + " (it needs a browser with DecompressionStream: Chrome 80, Firefox 113, Safari 16.4 or later).";
      throw err;
    }
  }
  boot();
})();
</script>
</body>
</html>
"""
