"""The report's figures as plotly figures, for the HTML report, the dashboard and notebooks alike.

Each function takes a :class:`~archtune.report.data.ReportData` (or a search file's path) and returns
a ``plotly.graph_objects.Figure``, or None when the search has nothing to show for it (no
multi-objective setting, no learning curves, ...). In a notebook, ``fig.show()`` draws it.

Example:
    >>> import os, tempfile
    >>> from archtune import SearchInstance, create_search_space
    >>> d = tempfile.mkdtemp()
    >>> ss = create_search_space("f", None, [(w, k) for w in (8, 16, 32) for k in (1, 3, 5)])
    >>> s = SearchInstance("f", os.path.join(d, "f.search"), search_space=ss, strategy="random", progress=False,
    ...                    hi_fi_eval=lambda e: e[0] / 32 - abs(e[1] - 3))
    >>> s.run_search(eval_budget=6); s.close()
    >>> figures = report_figures(os.path.join(d, "f.search"))
    >>> sorted(figures)
    ['best', 'effects', 'trials']
    >>> len(figures["trials"].data[0].x)
    6
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from archtune.report.data import ReportData, is_number, knob_values, load_report_data
from archtune.report.importance import MIN_TRIALS, knob_importance

HI_COLOUR, LO_COLOUR, FAILED_COLOUR, FRONT_COLOUR = "#1f77b4", "#ff7f0e", "#d62728", "#2ca02c"
FIDELITY_NAMES = {"hi": "high fidelity", "lo": "low fidelity"}
MAX_CURVES = 100  # learning curves drawn: the best trials' (thousands of lines tell nothing)
MAX_KNOBS = 12
MAX_CATEGORIES = 24  # a knob with more distinct values is drawn as a scatter, not as boxes
BOX_POINTS_LIMIT = 300  # below this many trials every point is drawn beside the boxes
TEMPLATE = "plotly_white"


def _as_data(source: ReportData | str | os.PathLike[str]) -> ReportData:
    return source if isinstance(source, ReportData) else load_report_data(source)


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 420) -> go.Figure:
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.18},
    )
    fig.update_xaxes(title=x)
    fig.update_yaxes(title=y)
    return fig


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _last_line(error: str | None) -> str:
    lines = [line for line in (error or "").strip().splitlines() if line.strip()]
    return _short(lines[-1].strip(), 120) if lines else "failed"


def _sense(data: ReportData) -> str:
    return data.objectives[data.primary]


def best_so_far_figure(source: ReportData | str | os.PathLike[str]) -> go.Figure:
    """The best objective value so far against the budget spent (in high-fidelity evaluations).

    Example:
        >>> from pathlib import Path
        >>> from archtune.report.data import ReportData
        >>> empty = ReportData(Path("x.search"), {}, [], [], {"value": "max"}, [], [])
        >>> best_so_far_figure(empty).layout.title.text
        'Best value so far (no result yet)'
    """
    data = _as_data(source)
    spent = data.spent_units()
    sense = _sense(data)
    fig = go.Figure()
    found = False
    for fidelity, colour, dash in (("hi", HI_COLOUR, "solid"), ("lo", LO_COLOUR, "dot")):
        best, ys, marks = None, [], []
        for i, t in enumerate(data.trials):
            if t.ok and t.fidelity == fidelity and t.value is not None:
                better = best is None or (t.value > best if sense == "max" else t.value < best)
                if better:
                    best = t.value
                    marks.append(i)
            ys.append(np.nan if best is None else best)
        if not marks:
            continue
        found = True
        fig.add_trace(
            go.Scatter(
                x=spent,
                y=np.asarray(ys),
                mode="lines",
                line={"shape": "hv", "color": colour, "dash": dash},
                name=f"best {FIDELITY_NAMES[fidelity]}",
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=spent[marks],
                y=np.asarray(ys)[marks],
                mode="markers",
                marker={"color": colour, "size": 8},
                name=f"new best ({FIDELITY_NAMES[fidelity]})",
                text=[f"trial {data.trials[i].number}: {_short(data.trials[i].key)}" for i in marks],
                hovertemplate="%{text}<br>value %{y:.4g}<br>spent %{x:.3g}<extra></extra>",
            )
        )
    title = "Best value so far" + ("" if found else " (no result yet)")
    return _layout(fig, title, "budget spent (high-fidelity evaluations)", data.primary)


def trials_figure(source: ReportData | str | os.PathLike[str]) -> go.Figure:
    """Every trial as a point: its value against the budget spent when it finished, coloured by fidelity.

    Failed trials are red crosses along the bottom of the plot (they have no value); hovering one shows
    its error.

    Example:
        >>> from pathlib import Path
        >>> from archtune.report.data import ReportData
        >>> from archtune.storage.base import Trial
        >>> data = ReportData(Path("x.search"), {}, [Trial(0, "[1]", "hi", 1.0, "FAILED", error="oom")], [],
        ...                   {"value": "max"}, ["0"], [(1,)])
        >>> [trace.name for trace in trials_figure(data).data]
        ['failed']
    """
    data = _as_data(source)
    spent = data.spent_units()
    fig = go.Figure()
    ok_values = [t.value for t in data.trials if t.ok and t.value is not None]
    for fidelity, colour in (("hi", HI_COLOUR), ("lo", LO_COLOUR)):
        idx = [
            i for i, t in enumerate(data.trials) if t.ok and t.fidelity == fidelity and t.value is not None
        ]
        if not idx:
            continue
        fig.add_trace(
            go.Scatter(
                x=spent[idx],
                y=np.array([data.trials[i].value for i in idx], dtype=np.float64),
                mode="markers",
                name=FIDELITY_NAMES[fidelity],
                marker={"color": colour, "size": 6, "opacity": 0.75},
                text=[f"trial {data.trials[i].number}: {_short(data.trials[i].key)}" for i in idx],
                hovertemplate="%{text}<br>value %{y:.4g}<br>spent %{x:.3g}<extra></extra>",
            )
        )
    failed = [i for i, t in enumerate(data.trials) if not t.ok]
    if failed:
        floor = min(ok_values) if ok_values else 0.0
        fig.add_trace(
            go.Scatter(
                x=spent[failed],
                y=np.full(len(failed), floor, dtype=np.float64),
                mode="markers",
                name="failed",
                marker={"color": FAILED_COLOUR, "symbol": "x", "size": 8},
                text=[
                    f"trial {data.trials[i].number} ({data.trials[i].fidelity}) failed: {_last_line(data.trials[i].error)}"
                    for i in failed
                ],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    return _layout(
        fig,
        f"Trials ({len(data.trials)}, {len(failed)} failed)",
        "budget spent when the trial finished (high-fidelity evaluations)",
        data.primary,
    )


def pareto_figure(source: ReportData | str | os.PathLike[str]) -> go.Figure | None:
    """The Pareto front of a multi-objective search: high-fidelity completed trials, the front highlighted.

    With more than two objectives, one panel per pair of objectives (the first three pairs).
    Returns None for a single-objective search.
    """
    data = _as_data(source)
    names = list(data.objectives)
    if len(names) < 2:
        return None
    from archtune.strategy.pareto import non_dominated  # here: single-objective reports never need it

    trials = [t for t in data.trials if t.ok and t.fidelity == "hi"]
    values = data.objective_values(trials)
    complete = ~np.isnan(values).any(axis=1)
    front = np.zeros(len(trials), dtype=bool)
    if complete.any():
        front[complete] = non_dominated(values[complete], [data.objectives[n] for n in names])
    pairs = [(a, b) for a in range(len(names)) for b in range(a + 1, len(names))][:3]
    fig = make_subplots(rows=1, cols=len(pairs))
    labels = np.array([f"trial {t.number}: {_short(t.key)}" for t in trials], dtype=object)
    for col, (a, b) in enumerate(pairs, start=1):
        legend = col == 1
        rest = complete & ~front
        fig.add_trace(
            go.Scatter(
                x=values[rest, a],
                y=values[rest, b],
                mode="markers",
                name="dominated",
                marker={"color": "#9e9e9e", "size": 6},
                text=labels[rest],
                showlegend=legend,
                hovertemplate="%{text}<br>%{x:.4g}, %{y:.4g}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        order = np.argsort(values[front, a], kind="stable")
        fig.add_trace(
            go.Scatter(
                x=values[front, a][order],
                y=values[front, b][order],
                mode="markers+lines",
                name="Pareto front",
                marker={"color": FRONT_COLOUR, "size": 9},
                line={"color": FRONT_COLOUR, "shape": "hv" if len(names) == 2 else "linear"},
                text=labels[front][order],
                showlegend=legend,
                hovertemplate="%{text}<br>%{x:.4g}, %{y:.4g}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title=f"{names[a]} ({data.objectives[names[a]]})", row=1, col=col)
        fig.update_yaxes(title=f"{names[b]} ({data.objectives[names[b]]})", row=1, col=col)
    missing = int((~complete).sum())
    title = f"Pareto front ({int(front.sum())} of {int(complete.sum())} high-fidelity results)"
    if missing:
        title += f"; {missing} lack an objective"
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        height=450,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.18},
    )
    return fig


def _curve(curve: Any) -> tuple[list[float], list[float], str] | None:
    """(x, y, y label) of a stored learning curve: the image evaluator's per-epoch dicts, or plain numbers."""
    if not isinstance(curve, list) or not curve:
        return None
    if all(is_number(v) for v in curve):
        return list(range(1, len(curve) + 1)), [float(v) for v in curve], "value"
    if not all(isinstance(row, dict) for row in curve):
        return None
    key = next(
        (k for k in ("eval_accuracy", "value", "accuracy") if all(is_number(r.get(k)) for r in curve)), None
    )
    if key is None:
        key = next(
            (
                k
                for k in curve[0]
                if k not in ("epoch", "lr", "seconds") and all(is_number(r.get(k)) for r in curve)
            ),
            None,
        )
    if key is None:
        return None
    xs = [float(r["epoch"]) if is_number(r.get("epoch")) else float(i + 1) for i, r in enumerate(curve)]
    return xs, [float(r[key]) for r in curve], key


def learning_curves_figure(source: ReportData | str | os.PathLike[str]) -> go.Figure | None:
    """Per-epoch learning curves of the trials whose objective returned a ``curve`` (the best 100).

    The image-classification evaluator returns ``curve`` as one dict per epoch (``epoch``,
    ``eval_accuracy``, ...); a plain list of numbers is drawn too. Returns None when no trial has one.
    """
    data = _as_data(source)
    found = [(t, c) for t in data.trials if t.ok and (c := _curve(t.metrics.get("curve"))) is not None]
    if not found:
        return None
    sense = _sense(data)
    found.sort(key=lambda tc: -(tc[0].value or 0.0) if sense == "max" else (tc[0].value or 0.0))
    shown = found[:MAX_CURVES]
    fig = go.Figure()
    for t, (xs, ys, _key) in sorted(shown, key=lambda tc: tc[0].number):
        colour = HI_COLOUR if t.fidelity == "hi" else LO_COLOUR
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                name=f"trial {t.number} ({t.fidelity})",
                line={"color": colour, "width": 1.5},
                marker={"size": 4},
                opacity=0.7,
                hovertemplate=f"trial {t.number}: {_short(t.key)}<br>epoch %{{x}}<br>%{{y:.4g}}<extra></extra>",
            )
        )
    label = shown[0][1][2]
    title = f"Learning curves ({len(shown)} of {len(found)} trials with a curve"
    title += ", the best shown)" if len(found) > len(shown) else ")"
    fig = _layout(fig, title, "epoch", label)
    fig.update_layout(showlegend=len(shown) <= 12)
    return fig


def _knob_rows(data: ReportData, idx: Sequence[int]) -> list[dict[str, Any]]:
    return [knob_values(data.encodings[i]) for i in idx]


def _importance_trials(data: ReportData) -> tuple[list[int], str]:
    """Completed trials the importance is learnt from: the high-fidelity ones, or all when too few."""
    hi = [i for i, t in enumerate(data.trials) if t.ok and t.fidelity == "hi" and t.value is not None]
    if len(hi) >= MIN_TRIALS or len(hi) == sum(t.ok for t in data.trials):
        return hi, f"{len(hi)} high-fidelity trials"
    every = [i for i, t in enumerate(data.trials) if t.ok and t.value is not None]
    return every, f"{len(every)} trials of both fidelities"


def knob_effects_figure(source: ReportData | str | os.PathLike[str]) -> go.Figure | None:
    """One panel per knob: the objective against the knob's values (boxes per value, by fidelity).

    A knob with many distinct numeric values is drawn as a scatter instead. Returns None when no trial
    completed.
    """
    data = _as_data(source)
    idx = [i for i, t in enumerate(data.trials) if t.ok and t.value is not None]
    if not idx or not data.knobs:
        return None
    knobs = data.knobs[:MAX_KNOBS]
    cols = min(3, len(knobs))
    rows = -(-len(knobs) // cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"knob {k}" for k in knobs],
        vertical_spacing=0.5 / rows if rows > 1 else 0.1,
    )
    by_fidelity = {f: [i for i in idx if data.trials[i].fidelity == f] for f in ("hi", "lo")}
    by_fidelity = {f: v for f, v in by_fidelity.items() if v}
    for n, knob in enumerate(knobs):
        row, col = n // cols + 1, n % cols + 1
        values = [knob_values(data.encodings[i]).get(knob) for i in idx]
        distinct = {repr(v) for v in values}
        numeric = all(is_number(v) for v in values)
        as_boxes = len(distinct) <= MAX_CATEGORIES or not numeric
        order = sorted({v for v in values}, key=lambda v: (0, float(v)) if is_number(v) else (1, repr(v)))
        for fidelity, members in by_fidelity.items():
            raw = [knob_values(data.encodings[i]).get(knob) for i in members]
            ys = np.array([data.trials[i].value for i in members], dtype=np.float64)
            colour = HI_COLOUR if fidelity == "hi" else LO_COLOUR
            common = {
                "name": FIDELITY_NAMES[fidelity],
                "legendgroup": fidelity,
                "showlegend": n == 0,
                "marker": {"color": colour, "size": 4},
            }
            if as_boxes:
                fig.add_trace(
                    go.Box(
                        x=[str(v) for v in raw],
                        y=ys,
                        boxpoints="all" if len(members) <= BOX_POINTS_LIMIT else "outliers",
                        jitter=0.4,
                        pointpos=0,
                        **common,
                    ),
                    row=row,
                    col=col,
                )
            else:
                fig.add_trace(
                    go.Scatter(x=np.array(raw, dtype=np.float64), y=ys, mode="markers", **common),
                    row=row,
                    col=col,
                )
        if as_boxes:
            fig.update_xaxes(
                type="category",
                categoryorder="array",
                categoryarray=[str(v) for v in order],
                row=row,
                col=col,
            )
        fig.update_yaxes(title=data.primary if col == 1 else None, row=row, col=col)
    fig.update_layout(
        title="Objective against each knob",
        template=TEMPLATE,
        boxmode="group",
        height=320 * rows + 80,
        margin={"l": 60, "r": 20, "t": 70, "b": 40},
        legend={"orientation": "h", "y": -0.08 / rows},
    )
    return fig


def importance_figure(source: ReportData | str | os.PathLike[str]) -> go.Figure | None:
    """Knobs ranked by importance (:func:`archtune.report.knob_importance`).

    Learnt from the high-fidelity trials, or from every completed trial while fewer than 8 are
    high-fidelity. Returns None with fewer than 8 completed trials or when no knob varies.
    """
    data = _as_data(source)
    idx, which = _importance_trials(data)
    result = knob_importance(
        _knob_rows(data, idx),
        [data.trials[i].value for i in idx],
        seed=int(data.meta.get("seed", "0")) if data.meta.get("seed", "0").lstrip("-").isdigit() else 0,
    )
    if result is None:
        return None
    names = list(result.importances)[::-1]  # plotly draws horizontal bars bottom-up: largest on top
    fig = go.Figure(
        go.Bar(
            x=[result.importances[k] for k in names],
            y=[f"knob {k}" for k in names],
            orientation="h",
            marker={"color": HI_COLOUR},
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    title = f"Knob importance ({result.method}; {which}, out-of-bag R² {result.oob_r2:.2f})"
    return _layout(fig, title, "share of importance", "", height=max(260, 60 + 40 * len(names)))


FIGURES = {
    "best": best_so_far_figure,
    "trials": trials_figure,
    "pareto": pareto_figure,
    "curves": learning_curves_figure,
    "effects": knob_effects_figure,
    "importance": importance_figure,
}


def report_figures(source: ReportData | str | os.PathLike[str]) -> dict[str, go.Figure]:
    """Every figure the report shows, by name (``best``, ``trials``, ``pareto``, ``curves``, ``effects``,
    ``importance``); those with nothing to show are left out.

    Example:
        >>> report_figures("/nonexistent.search")
        Traceback (most recent call last):
        ...
        archtune.errors.StorageError: no search file at '/nonexistent.search'
    """
    data = _as_data(source)
    out: dict[str, go.Figure] = {}
    for name, make in FIGURES.items():
        fig = make(data)
        if fig is not None:
            out[name] = fig
    return out
