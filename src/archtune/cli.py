"""Command line: ``archtune demo``, ``archtune status FILE``, ``archtune --version``.

Thin: every command calls the public API.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from rich.console import Console
from rich.table import Table

from archtune import __version__
from archtune.errors import ArchtuneError, ConfigError


def _status(args: argparse.Namespace) -> int:
    from archtune.search.instance import search_summary

    summary = search_summary(args.file)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    table = Table(title=f"search {summary['name']!r} ({args.file})")
    for col in ("fidelity", "complete", "failed"):
        table.add_column(col)
    for fidelity, counts in sorted(summary["counts"].items()):
        table.add_row(fidelity, str(counts["COMPLETE"]), str(counts["FAILED"]))
    console = Console()
    console.print(table)
    console.print(
        f"trials: {summary['n_trials']}   in flight: {len(summary['in_flight'])}   "
        f"budget spent: {summary['spent']:.2f} "
        f"({summary['spent_hi_units']:.2f} high-fidelity evaluations)"
    )
    running = [p for p in summary["in_flight"] if p.get("worker")]
    if summary["in_flight"]:
        console.print(
            f"running: {len(running)} on {len({p['worker'] for p in running})} worker(s); "
            f"waiting for a worker: {len(summary['in_flight']) - len(running)}",
            highlight=False,
        )
        for p in sorted(running, key=lambda p: p["worker"]):
            console.print(f"  {p['worker']}: {p['fidelity']} {p['encoding']}", highlight=False)
    if summary["pareto"] is not None:
        names = list(summary["objectives"])
        front = Table(
            title="Pareto front (high fidelity): "
            + ", ".join(f"{n} ({s})" for n, s in summary["objectives"].items())
        )
        for col in [*names, "encoding"]:
            front.add_column(col)
        for point in summary["pareto"]:
            front.add_row(*[f"{point['values'][n]:.6g}" for n in names], str(point["encoding"]))
        console.print(front if summary["pareto"] else "Pareto front: none yet")
        return 0
    best = summary["best"]
    console.print(
        "best so far: " + ("none yet" if best is None else f"{best['value']:.4f}  {best['encoding']}")
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    from archtune.report import write_report

    out = write_report(args.file, args.out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB; opens offline in any recent browser)")
    if args.screenshot:
        from archtune.report.browser import screenshot

        print(f"wrote {screenshot(out, args.screenshot, full_page=not args.viewport_only)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from archtune.export import export_search

    for what, path in export_search(args.file, args.out, args.trial, args.torchscript, args.onnx).items():
        print(f"{what}: {path}")
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from archtune.report import serve_dashboard

    serve_dashboard(args.file, host=args.host, port=args.port, interval_s=args.interval)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from archtune.demo import run_demo

    run_demo(workdir=args.workdir, budget=args.budget, seed=args.seed)
    return 0


def _spline_plot(args: argparse.Namespace) -> int:
    from archtune.report.spline_projection import plot_projection

    out = plot_projection(args.file, args.x, args.y, args.out)
    print(f"wrote {out}")
    return 0


def _evaluator_node(args: argparse.Namespace) -> int:
    from archtune.evaluate.image_classification import serve_node

    if not args.rdzv_endpoint:
        raise ConfigError("archtune evaluator node needs --rdzv-endpoint HOST:PORT (node 0's)")
    served = serve_node(args.rdzv_endpoint, args.node_rank, args.nnodes, args.nproc_per_node)
    print(f"served {served} job(s)")
    return 0


#: the entry-point group through which other packages add commands: each entry point names a function
#: taking argparse's sub-parsers (the experiments add ``bench``, ``naap``, ``nss`` and ``tnas`` this way)
COMMANDS_GROUP = "archtune.commands"

#: commands that live in the repository's experiments, named in the error when they are not installed
EXPERIMENT_COMMANDS = ("bench", "naap", "nss", "tnas")


def _plugin_commands() -> list[Callable[[Any], None]]:
    """The ``archtune.commands`` entry points, loaded: the library never imports its experiments by name."""
    return [entry.load() for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name)]


def build_parser() -> argparse.ArgumentParser:
    """The ``archtune`` command line: the library's commands and the plugins' (``archtune.commands``)."""
    return build_commands()[0]


def build_commands() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser and its commands' parsers by name (the plugins' included).

    Example:
        >>> parser, commands = build_commands()
        >>> "status" in commands and commands["status"].prog
        'archtune status'
    """
    parser = argparse.ArgumentParser(
        prog="archtune",
        description="Neural architecture tuning.",
        epilog="docs: docs/index.md (getting started: docs/getting-started.md); "
        "each command's --help names its page",
    )
    parser.add_argument("--version", action="version", version=f"archtune {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser(
        "status",
        help="trials by status and fidelity, budget spent, best so far",
        epilog="docs: docs/guides/reports.md",
    )
    status.add_argument("file", help="a search file (SearchInstance save_filename)")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(func=_status)
    report = sub.add_parser(
        "report",
        help="a self-contained HTML report of a search (finished or running)",
        epilog="docs: docs/guides/reports.md",
    )
    report.add_argument("file", help="a search file (opened read-only)")
    report.add_argument(
        "-o", "--out", default="report.html", help="the HTML file to write (default report.html)"
    )
    report.add_argument(
        "--screenshot",
        default=None,
        metavar="PNG",
        help="also save a PNG of the report as headless Chromium draws it (needs chromium and playwright)",
    )
    report.add_argument(
        "--viewport-only", action="store_true", help="with --screenshot: the first screen only"
    )
    report.set_defaults(func=_report)
    dashboard = sub.add_parser(
        "dashboard",
        help="serve the report on localhost, redrawn as trials arrive (read-only)",
        epilog="docs: docs/guides/reports.md",
    )
    dashboard.add_argument("file", help="a search file (opened read-only at each refresh)")
    dashboard.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    dashboard.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    dashboard.add_argument(
        "--interval", type=float, default=2.0, help="seconds between the page's polls (default 2)"
    )
    dashboard.set_defaults(func=_dashboard)
    export = sub.add_parser(
        "export",
        help="the best trained model of a search: state dict + encoding (+ TorchScript/ONNX)",
        epilog="docs: docs/guides/checkpoints.md",
    )
    export.add_argument("file", help="a search file (opened read-only)")
    export.add_argument("-o", "--out", default="best-model", help="folder to write (default best-model)")
    export.add_argument(
        "--trial", type=int, default=None, help="this trial's model instead of the best one's"
    )
    export.add_argument(
        "--torchscript", action="store_true", help="also a traced TorchScript file (imports the builder)"
    )
    export.add_argument(
        "--onnx", action="store_true", help="also an ONNX file (needs pip install onnx onnxscript)"
    )
    export.set_defaults(func=_export)
    demo = sub.add_parser(
        "demo",
        help="run a real search: small CNNs trained on scikit-learn's digits",
        epilog="docs: docs/getting-started.md",
    )
    demo.add_argument(
        "--budget", type=float, default=6.0, help="budget in high-fidelity evaluations (default 6)"
    )
    demo.add_argument(
        "--workdir", default=None, help="where the space and search files go (default: a temp dir)"
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    plot = sub.add_parser(
        "spline-plot",
        help="PNG of a search's spline over two numeric knobs (paper 004, Fig. 2)",
        epilog="docs: docs/benchmarks/spline.md",
    )
    plot.add_argument("file", help="a search file")
    plot.add_argument(
        "--x", required=True, help="numeric knob on the x axis (dict key, or position 0, 1, ...)"
    )
    plot.add_argument("--y", required=True, help="numeric knob on the y axis")
    plot.add_argument(
        "--out", default="spline_projection.png", help="PNG path (default spline_projection.png)"
    )
    plot.set_defaults(func=_spline_plot)
    evaluator = sub.add_parser(
        "evaluator",
        help="the image-classification evaluator (paper 000, section 4): serve a multi-node job's node",
        epilog="docs: docs/guides/image-classification.md (its throughput and memory: archtune bench "
        "throughput|memory)",
    )
    evaluator.add_argument(
        "task", choices=["node"], help="node: serve a multi-node evaluator's jobs on this node"
    )
    evaluator.add_argument("--rdzv-endpoint", default=None, help="HOST:PORT of node 0")
    evaluator.add_argument("--node-rank", type=int, default=1, help="this node's rank (1..nnodes-1)")
    evaluator.add_argument("--nnodes", type=int, default=2, help="nodes per job")
    evaluator.add_argument("--nproc-per-node", type=int, default=1, help="processes (GPUs) on this node")
    evaluator.set_defaults(func=_evaluator_node)
    for register in _plugin_commands():
        register(sub)
    return parser, dict(sub.choices)


def main(argv: list[str] | None = None) -> int:
    parser, commands = build_commands()
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in EXPERIMENT_COMMANDS and argv[0] not in commands:
        print(
            f"archtune: error: 'archtune {argv[0]}' is one of the benchmark commands of the repository's "
            "experiments/ folder, which is not installed: from a checkout, pip install -e experiments",
            file=sys.stderr,
        )
        return 2
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ArchtuneError as err:
        print(f"archtune: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
