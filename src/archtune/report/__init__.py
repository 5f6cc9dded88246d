"""Reports and figures drawn from search files: the HTML report, the live dashboard, spline projections.

The same figures the report shows are plotly figures a notebook can show:

Example:
    >>> import os, tempfile
    >>> from archtune import SearchInstance, create_search_space
    >>> d = tempfile.mkdtemp()
    >>> ss = create_search_space("n", None, [(i, j) for i in range(4) for j in range(4)])
    >>> s = SearchInstance("n", os.path.join(d, "n.search"), search_space=ss, strategy="random", progress=False,
    ...                    hi_fi_eval=lambda e: e[0] - abs(e[1] - 2))
    >>> s.run_search(eval_budget=10); s.close()
    >>> figures = report_figures(os.path.join(d, "n.search"))   # figures["trials"].show() in a notebook
    >>> sorted(figures)
    ['best', 'effects', 'importance', 'trials']
    >>> write_report(os.path.join(d, "n.search"), os.path.join(d, "report.html")).name
    'report.html'
"""

from archtune.report.dashboard import Dashboard, serve_dashboard
from archtune.report.data import ReportData, load_report_data
from archtune.report.figures import (
    best_so_far_figure,
    importance_figure,
    knob_effects_figure,
    learning_curves_figure,
    pareto_figure,
    report_figures,
    trials_figure,
)
from archtune.report.html import render_report, report_payload, write_report
from archtune.report.importance import Importance, knob_importance

__all__ = [
    "Dashboard",
    "Importance",
    "ReportData",
    "best_so_far_figure",
    "importance_figure",
    "knob_effects_figure",
    "knob_importance",
    "learning_curves_figure",
    "load_report_data",
    "pareto_figure",
    "render_report",
    "report_figures",
    "report_payload",
    "serve_dashboard",
    "trials_figure",
    "write_report",
]
