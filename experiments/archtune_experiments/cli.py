"""The experiments' commands, added to archtune's CLI through the ``archtune.commands`` entry point:
``archtune bench ...``, ``archtune naap ...``, ``archtune nss`` and ``archtune tnas oneshot``.

Each command runs a driver of this package and writes its markdown table and JSON under ``--out``;
the committed results live in the repository's ``benchmarks/results/``.

Example (the parser archtune's CLI builds holds these commands once this package is installed):
    >>> from archtune.cli import build_parser
    >>> build_parser().parse_args(["bench", "nb201", "--seeds", "3"]).seeds
    3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from archtune.errors import ConfigError


def add_commands(sub: Any) -> None:
    """Add ``bench``, ``naap``, ``nss`` and ``tnas`` to archtune's sub-parsers (``sub``)."""
    naap = sub.add_parser(
        "naap", help="NAAP-440 accuracy predictors (paper 001)", epilog="docs: docs/benchmarks/naap.md"
    )
    naap.add_argument(
        "task",
        choices=["baseline", "ours", "search"],
        help="baseline: reproduce the paper's Table 3; ours: our predictor beside it; search: "
        "units saved by a predicted fidelity inside a search",
    )
    naap.add_argument("--seeds", type=int, default=10, help="for 'search'")
    naap.add_argument("--budget", type=float, default=40.0, help="for 'search': full-training units")
    naap.add_argument(
        "--epochs", type=int, default=9, help="for 'search': epochs behind the predicted fidelity"
    )
    naap.add_argument("--regressors", default=None, help="comma-separated names (default: all of Table 3)")
    naap.add_argument("--out", default=None, help="folder for naap440_table3.md and .json")
    naap.set_defaults(func=_naap)
    tnas = sub.add_parser(
        "tnas",
        help="TNAS one-shot: SPOS vs TNAS-sampled supernet on MNIST-5k (paper 002)",
        epilog="docs: docs/benchmarks/tnas.md",
    )
    tnas.add_argument("task", choices=["oneshot"])
    tnas.add_argument("--samplers", default="spos,tnas", help="comma-separated: spos, tnas")
    tnas.add_argument("--cells", type=int, default=24, help="random cells trained alone to rate the supernet")
    tnas.add_argument("--channels", type=int, default=8, help="stem width C (NB201: 16)")
    tnas.add_argument("--cells-per-stage", type=int, default=1, help="N (NB201: 5)")
    tnas.add_argument("--epochs", type=int, default=10, help="supernet training epochs")
    tnas.add_argument("--standalone-epochs", type=int, default=10, help="epochs of each stand-alone training")
    tnas.add_argument("--queries", type=int, default=200, help="evolution's supernet ratings")
    tnas.add_argument("--eps-inc", type=float, default=0.1)
    tnas.add_argument("--seed", type=int, default=0)
    tnas.add_argument("--workers", type=int, default=1, help="processes for the stand-alone trainings")
    tnas.add_argument(
        "--out", default=None, help="folder for tnas_oneshot.md/.json and the stand-alone cache"
    )
    tnas.set_defaults(func=_tnas)
    nss = sub.add_parser(
        "nss",
        help="Network Space Search at CPU scale: Elite vs Expanded space (paper 003, Table 1)",
        epilog="docs: docs/benchmarks/nss.md",
    )
    nss.add_argument(
        "--targets", default="2,6,15", help="comma-separated FLOPs targets in MFLOPs (default 2,6,15)"
    )
    nss.add_argument("--epochs", type=int, default=10, help="NSS epochs (25%% warm-up)")
    nss.add_argument("--depth-chunk", type=int, default=1, help="depths per network space (d_max 4)")
    nss.add_argument("--width-chunk", type=int, default=2, help="widths per network space (w_max 32)")
    nss.add_argument("--theta-lr", type=float, default=0.05)
    nss.add_argument(
        "--train-epochs", type=int, default=3, help="stand-alone training of found architectures"
    )
    nss.add_argument("--repeats", type=int, default=20, help="NAS runs averaged for the sample counts")
    nss.add_argument("--seed", type=int, default=0)
    nss.add_argument("--out", default=None, help="folder for nss_table1.md/.json and nss_edf.png")
    nss.set_defaults(func=_nss)
    bench = sub.add_parser(
        "bench",
        help="benchmarks: strategies side by side on NAS-Bench-201",
        epilog="docs: docs/benchmarks/index.md",
    )
    bench.add_argument(
        "benchmark",
        choices=[
            "nb201",
            "nb101",
            "nb301",
            "spline",
            "spline-tables",
            "parallel",
            "tnas-table",
            "open-space",
            "product-step",
            "featurize",
            "report-open",
            "nb201-mo",
            "slurm",
            "checkpoint-reuse",
            "throughput",
            "memory",
        ],
        help="nb201: strategies side by side on NAS-Bench-201; nb101, nb301: the same on NASLib's "
        "NAS-Bench-101 (500 cells) and NAS-Bench-301 (725 DARTS genotypes) samples, one fidelity, "
        "zero-cost proxies as pretraining data; spline: spline vs BO vs random on "
        "standard functions; spline-tables: paper 004's spline predictions vs ours; parallel: "
        "asynchronous BO with 1/2/4 workers on NAS-Bench-201 with simulated training times; "
        "tnas-table: paper 002's Table 4 (TNAS sampler vs random and evolution, --budget = "
        "queries per run); open-space: three NB201 cells as one 3.8e12-encoding space, searched "
        "without enumeration (VAE-proposed BO vs evolution vs random); product-step: BO's step time on "
        "knobs spaces of 10^4 and 10^12 encodings (e.g. --seeds 5 --budget 60); featurize: time and "
        "memory to featurize a million encodings; report-open: seconds to open a 10,000-trial HTML "
        "report in headless Chromium; slurm: wall-clock speed-up of 1/2/4 SLURM-job workers (needs a SLURM, see "
        "scripts/start_slurm.sh); nb201-mo: accuracy against latency, hypervolume regret and front "
        "recall (bo, random, rea-mo, and Optuna's nsga2/motpe with the 'bench' extra); throughput: training "
        "images/s of the image-classification evaluator against a plain PyTorch loop over the same "
        "DataLoader (MobileOne-s0 on an MNIST-5k image folder, alternating runs, medians); memory: the "
        "evaluator's peak resident memory over one epoch against dataset size (generated PNG folders)",
    )
    bench.add_argument("--trials", type=int, default=10_000, help="for 'report-open': trials in the search")
    bench.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="for 'report-open': timed openings (default 5); for 'throughput': runs of each loop (default 3)",
    )
    bench.add_argument(
        "--synthetic",
        action="store_true",
        help="for 'report-open': write the trials through the storage instead of running the search",
    )
    bench.add_argument(
        "--eps-start", type=float, default=0.0, help="for 'tnas-table': eps of the first round"
    )
    bench.add_argument(
        "--parallel-workers",
        default="1,2,4",
        help="for 'parallel' and 'slurm': comma-separated numbers of evaluation workers (default 1,2,4)",
    )
    bench.add_argument(
        "--clock",
        choices=["virtual", "real"],
        default="virtual",
        help="for 'parallel': virtual (simulated workers, no waiting) or real (Dask workers sleep)",
    )
    bench.add_argument(
        "--unit-seconds",
        type=float,
        default=60.0,
        help="for 'parallel': simulated seconds of one 200-epoch training of an average cell; for "
        "'slurm': seconds each evaluation sleeps",
    )
    bench.add_argument(
        "--functions",
        default="branin,hartmann6",
        help="for 'spline': branin, hartmann6, mnist_widths (real training on MNIST-5k)",
    )
    bench.add_argument(
        "--dataset",
        default="cifar10",
        help="cifar10, cifar100 or imagenet16 (nb101 and nb301: cifar10 only); several comma-separated run one "
        "after another",
    )
    bench.add_argument(
        "--strategies",
        default=None,
        help="comma-separated: bo, bo-ei, bo-ts, bo-single, bo-seq, bo-nopre, bo-bare, bo-gp, bo-gp-ei10, bo-vae, bo-notail, bo-explore, random, rea, ls, tnas, "
        "spline; for nb201 also the peers optuna-tpe, optuna-gp, optuna-tpe-sha, optuna-tpe-hb, smac, "
        "hebo, syne-bore, syne-tpe, syne-asha, syne-asha-bore ('peers' extra), and name:k runs only the "
        "first k seeds of that one "
        "(default: bo,random,rea,ls for nb201; spline,bo,random for spline; "
        "bo,bo-novae,bo-nopre,bo-mf,rea,random for open-space, each through SearchInstance; "
        "bo,random,rea-mo,nsga2,motpe for nb201-mo, whose BO variants are bo-ehvi, bo-ehvi-lo50, "
        "bo-ehvi-lo20, bo-ehvi-hi, bo-lo20, bo-hi)",
    )
    bench.add_argument(
        "--constraint",
        default=None,
        help="search only cells with a latency column at most a value, e.g. lat_pixel3<=20",
    )
    bench.add_argument(
        "--latency",
        default="lat_pixel3",
        help="for 'nb201-mo': the latency column traded against accuracy (any lat_* of the table)",
    )
    bench.add_argument("--no-plot", action="store_true", help="skip the PNG best-so-far plot")
    bench.add_argument(
        "--report-only",
        action="store_true",
        help="nb201: run nothing, report the runs recorded under --out (partial seeds allowed)",
    )
    bench.add_argument("--seeds", type=int, default=30)
    bench.add_argument("--budget", type=float, default=300.0, help="high-fidelity units per search")
    bench.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="pixels: for 'checkpoint-reuse' (default 8), 'throughput' and 'memory' (default 64)",
    )
    bench.add_argument("--epochs", type=int, default=1, help="for 'throughput': epochs per run")
    bench.add_argument("--batch-size", type=int, default=64, help="for 'throughput' and 'memory'")
    bench.add_argument("--train-images", type=int, default=1024, help="for 'throughput': training images")
    bench.add_argument("--gpu", action="store_true", help="for 'throughput': also measure on cuda (AMP on)")
    bench.add_argument("--sizes", default="2000,20000", help="for 'memory': comma-separated dataset sizes")
    bench.add_argument(
        "--workers",
        type=int,
        default=None,
        help="seeds run in parallel processes (default 2; for 'parallel': virtual-clock runs at a time; for "
        "'throughput' and 'memory': DataLoader workers, default 1)",
    )
    bench.add_argument("--out", default=None, help="folder for the markdown table, JSON and PNG plot")
    bench.add_argument(
        "--stop-at-optimum",
        action="store_true",
        help="stop each search once it has evaluated the global optimum (faster; units-to-optimum only)",
    )
    bench.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    # options shared by benchmarks that mean different things: the defaults of each
    evaluator = args.benchmark in ("throughput", "memory")
    if args.workers is None:
        args.workers = 1 if evaluator else 2  # DataLoader workers; else seeds run at a time
    if args.repeats is None:
        args.repeats = 3 if evaluator else 5
    if args.image_size is None:
        args.image_size = 64 if evaluator else 8
    if evaluator:
        return _evaluator_benchmark(args)
    if args.benchmark == "spline-tables":
        return _spline_tables(args.out)
    if args.benchmark == "spline":
        from archtune_experiments.spline.benchmark import run_spline_benchmark

        strategies = (args.strategies or "spline,bo,random").split(",")
        run_spline_benchmark(args.functions.split(","), strategies, args.seeds, int(args.budget), args.out)
        return 0
    if args.benchmark == "tnas-table":
        from archtune_experiments.tnas.table4 import run_tnas_table

        run_tnas_table(
            args.dataset.split(","), args.seeds, int(args.budget), args.eps_start, args.out, args.workers
        )
        return 0
    if args.benchmark == "open-space":
        from archtune_experiments.tnas.open_space import (
            STRATEGIES,
            ThreeCellObjective,
            run_open_space_benchmark,
            to_markdown,
        )

        strategies = (args.strategies or ",".join(STRATEGIES)).split(",")
        rows = run_open_space_benchmark(args.seeds, int(args.budget), strategies, args.workers, args.out)
        print(to_markdown(rows, int(args.budget), ThreeCellObjective().optimum))
        return 0
    if args.benchmark == "product-step":
        from archtune_experiments.tnas.product_step import run_product_step_benchmark, to_markdown

        result = run_product_step_benchmark(
            args.seeds, int(args.budget), args.out, report=lambda line: print(line, flush=True)
        )
        print(to_markdown(result))
        return 0
    if args.benchmark == "report-open":
        from archtune_experiments.systems.report_open import run_report_open_benchmark

        result = run_report_open_benchmark(args.trials, args.repeats, args.out, synthetic=args.synthetic)
        print(json.dumps(result, indent=2))
        return 0
    if args.benchmark == "nb201-mo":
        from archtune_experiments.tabular.multi_objective import DEFAULT_STRATEGIES as MO_STRATEGIES
        from archtune_experiments.tabular.multi_objective import run_nb201_mo, to_markdown

        strategies = (args.strategies or ",".join(MO_STRATEGIES)).split(",")
        summary = run_nb201_mo(
            args.dataset.split(","), args.latency, strategies, args.seeds, args.budget, args.workers, args.out
        )
        print(to_markdown(summary, args.latency))
        return 0
    if args.benchmark == "checkpoint-reuse":
        from archtune_experiments.systems.checkpoint_reuse import run_checkpoint_reuse

        print(json.dumps(run_checkpoint_reuse(args.budget, args.image_size, args.out), indent=2))
        return 0
    if args.benchmark == "featurize":
        from archtune_experiments.systems.featurize import measure_featurize

        result = measure_featurize()
        print(json.dumps({k: result[k] for k in ("n", "seconds", "extra_bytes", "shape")}, indent=2))
        return 0
    if args.benchmark == "slurm":
        from archtune_experiments.systems.slurm import run_slurm_benchmark

        workers = [int(k) for k in args.parallel_workers.split(",")]
        run_slurm_benchmark(workers, args.budget, args.unit_seconds, args.out)
        return 0
    if args.benchmark == "parallel":
        from archtune_experiments.systems.parallel import run_parallel_benchmark

        workers = [int(k) for k in args.parallel_workers.split(",")]
        for dataset in args.dataset.split(","):
            run_parallel_benchmark(
                dataset,
                workers,
                args.seeds,
                args.budget,
                args.clock,
                args.unit_seconds,
                args.stop_at_optimum,
                args.workers,
                args.out,
            )
        return 0
    from archtune_experiments.tabular.runner import run_benchmark

    constraint = _parse_constraint(args.constraint) if args.constraint else None
    summaries = {}
    for dataset in args.dataset.split(","):
        summaries[dataset] = run_benchmark(
            dataset,
            (args.strategies or "bo,random,rea,ls").split(","),
            args.seeds,
            args.budget,
            args.workers,
            args.out,
            stop_at_optimum=args.stop_at_optimum,
            constraint=constraint,
            plot=not args.no_plot,
            report_only=args.report_only,
            table=args.benchmark,
        )
    if len(summaries) > 1:  # the datasets side by side, one row per strategy
        from pathlib import Path

        from archtune_experiments.tabular.runner import combined_markdown

        md = combined_markdown(summaries, args.budget)
        print(md)
        if args.out:
            Path(args.out, "nb201_all.md").write_text(md)
    return 0


def _spline_tables(out: str | None) -> int:
    """Paper 004's Tables 1, 4 and 5: its spline predictions next to ours."""
    from pathlib import Path

    from archtune_experiments.spline.paper_tables import reproduce, to_markdown

    text = "\n".join(to_markdown(name, reproduce(name)) for name in ("table1", "table4", "table5"))
    print(text)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "paper004_tables.md").write_text(text)
    return 0


def _naap(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from archtune_experiments.naap.baseline import table3, to_json, to_markdown
    from archtune_experiments.naap.paper_table3 import PAPER_TABLE3

    if args.task == "search":
        from archtune_experiments.naap.fidelity_search import run_naap_search_benchmark

        run_naap_search_benchmark(args.seeds, args.budget, args.epochs, args.out)
        return 0
    if args.task == "ours":
        from archtune_experiments.naap.predictor import evaluate_ours

        baseline = "Random Forest (N=200)"
        results = []
        for k in (0, 3, 6, 9):  # minutes each: cross-validation fits every model on every feature set
            print(f"our predictor, {k} epochs ...", file=sys.stderr, flush=True)
            results.append(evaluate_ours(k))
        results += table3([baseline])
        text = "Our predictor beside the paper's Random Forest (N=200) and Table 3's printed values\n\n"
        stem = "naap440_ours"
    else:
        results = table3(args.regressors.split(",") if args.regressors else None)
        text = "Paper 001, Table 3 (MAE / monotonicity score / violations on the 40 test architectures)\n\n"
        stem = "naap440_table3"
    text += to_markdown(results, PAPER_TABLE3)
    chosen = [f"ours at {r.epochs} epochs: {r.chosen}" for r in results if r.chosen]
    if chosen:
        text += (
            "\nModel and features chosen by 5-fold cross-validation on the training split:\n"
            + "\n".join(chosen)
            + "\n"
        )
    print(text)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / f"{stem}.md").write_text(text)
        (Path(args.out) / f"{stem}.json").write_text(json.dumps(to_json(results), indent=1))
    return 0


def _tnas(args: argparse.Namespace) -> int:
    from archtune_experiments.tnas.oneshot import run_oneshot

    run_oneshot(
        args.samplers.split(","),
        n_cells=args.cells,
        channels=args.channels,
        cells_per_stage=args.cells_per_stage,
        epochs=args.epochs,
        standalone_epochs=args.standalone_epochs,
        queries=args.queries,
        seed=args.seed,
        eps_inc=args.eps_inc,
        out_dir=args.out,
        workers=args.workers,
    )
    return 0


def _nss(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from archtune.nss.search import NSSConfig
    from archtune_experiments.nss.experiment import CPU_SPACE, run_nss_experiment

    targets = [float(t) * 1e6 for t in args.targets.split(",")]
    space = replace(CPU_SPACE, depth_chunk=args.depth_chunk, width_chunk=args.width_chunk)
    run_nss_experiment(
        targets,
        space,
        config=NSSConfig(epochs=args.epochs, theta_lr=args.theta_lr, seed=args.seed),
        train_epochs=args.train_epochs,
        repeats=args.repeats,
        out_dir=args.out,
    )
    return 0


def _parse_constraint(text: str) -> tuple[str, float]:
    """``"lat_pixel3<=20"`` -> ``("lat_pixel3", 20.0)``."""
    column, sep, limit = text.partition("<=")
    try:
        if not sep or not column.strip():
            raise ValueError
        return column.strip(), float(limit)
    except ValueError:
        raise ConfigError(f"a constraint reads COLUMN<=NUMBER, e.g. lat_pixel3<=20; got {text!r}") from None


def _evaluator_benchmark(args: argparse.Namespace) -> int:
    """``archtune bench throughput`` and ``bench memory``: the image-classification evaluator measured."""
    if args.benchmark == "memory":
        from archtune_experiments.systems.memory import measure_memory, memory_markdown

        result = measure_memory(
            tuple(int(n) for n in args.sizes.split(",")),
            image_size=args.image_size,
            batch_size=args.batch_size,
            num_workers=args.workers,
        )
        name, markdown = "evaluator_memory", memory_markdown(result)
    else:
        from archtune_experiments.systems.throughput import measure_throughput, throughput_markdown

        devices = ["cpu"] + (["cuda"] if args.gpu else [])
        result = {
            "runs": [
                measure_throughput(
                    image_size=args.image_size,
                    epochs=args.epochs,
                    repeats=args.repeats,
                    batch_size=args.batch_size,
                    train_images=args.train_images,
                    num_workers=args.workers,
                    device=d,
                )
                for d in devices
            ]
        }
        name, markdown = "evaluator_throughput", throughput_markdown(result["runs"])
    text = json.dumps(result, indent=2)
    print(text)
    print(markdown)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / f"{name}.json").write_text(text + "\n")
        (Path(args.out) / f"{name}.md").write_text(markdown)
    return 0
