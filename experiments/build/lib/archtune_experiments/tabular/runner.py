"""Multi-seed tabular benchmarks: strategies side by side, evaluations to the global optimum.

Every strategy runs through :class:`~archtune.search.instance.SearchInstance` (in memory) on table
lookups, the search loop a user's search runs; costs are in high-fidelity units (a 12-epoch evaluation
costs 12/200). Seeds run in parallel processes. The table is NAS-Bench-201
by default; ``table="nb101"`` or ``"nb301"`` runs the same protocol on NASLib's NAS-Bench-101 and -301
samples (:mod:`archtune.bench.tabular`: one fidelity, zero-cost proxies as pretraining data), spaces
whose structure archtune's defaults were not tuned on. Strategy names are the
variants of :mod:`archtune_experiments.tabular.variants` (ablations included). A constraint such as
``("lat_pixel3", 20.0)`` restricts the search to cells whose latency is at most 20 ms; the optimum is
then the best cell that satisfies it. The peers of :mod:`archtune_experiments.tabular.peers` (Optuna, SMAC3, HEBO,
Syne Tune) run through the same loop; every proposal is paid for, and a repeated one is counted.
Each run records its median step time (ask + tell) and the two apart; given several datasets, the CLI
also writes ``nb201_all.md``, the datasets side by side.

Example::

    archtune bench nb201 --dataset cifar10 --strategies bo,random,rea,ls --seeds 30 --budget 300
    archtune bench nb201 --dataset cifar10,cifar100,imagenet16 --strategies optuna-tpe,optuna-gp,smac:10,bo-bare,bo \
        --seeds 30 --budget 150 --stop-at-optimum --out benchmarks/results/nb201_peers
    archtune bench nb101 --strategies bo,bo-bare,random,rea,optuna-gp --seeds 30 --budget 150 --stop-at-optimum

On a sampled table a peer's proposal (any combination of knob values) that is not a cell of the sample
is mapped to the nearest cell it has not proposed yet (fewest knobs differing, first in the table on a
tie) and told that cell's value (:class:`~archtune_experiments.tabular.peers.PeerStrategy`, ``snap``).
"""

from __future__ import annotations

import copy
import functools
import json
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archtune.bench.tabular import TABLES, TabularBenchmark, check_table, tabular_benchmark
from archtune.errors import ConfigError
from archtune.report.benchmarks import best_at, cost_to_target, format_cost, plot_best_so_far
from archtune.space.search_space import SearchSpace, create_search_space
from archtune.surrogate.ensemble import DeepEnsemble, EnsembleConfig
from archtune_experiments.in_memory import search_in_memory, step_seconds, time_steps
from archtune_experiments.tabular.peers import PEERS
from archtune_experiments.tabular.variants import variant

CHECKPOINTS = (10, 25, 50, 100, 200)
Constraint = tuple[str, float]  # (metric column, maximum allowed value)


@functools.cache
def _space(table: str = "nb201") -> SearchSpace:
    """The table's space, built once per process (not once per seed)."""
    return create_search_space(table, None, tabular_benchmark(table, TABLES[table][0]).encodings)


def feasible_mask(bench: TabularBenchmark, constraint: Constraint | None) -> np.ndarray:
    """Cells that satisfy ``constraint`` (all of them without one)."""
    if constraint is None:
        return np.ones(len(bench.encodings), dtype=bool)
    column, limit = constraint
    if column not in bench.constraints:
        raise ConfigError(
            f"unknown constraint column {column!r}; valid: {', '.join(sorted(bench.constraints))}"
        )
    mask = bench.constraints[column] <= limit
    if not mask.any():
        raise ConfigError(f"no {bench.table} cell has {column} <= {limit:g}")
    return mask


def pretrain_payloads(modes: set[str], table: str = "nb201") -> dict[str, dict[str, Any]]:
    """One pretrained ensemble per pretraining mode, on the table's zero-cost columns (shared by every seed)."""
    space = _space(table)
    columns = tabular_benchmark(table, TABLES[table][0]).pretraining  # the same for every dataset of a table
    payloads = {}
    for mode in sorted(modes):
        ens = DeepEnsemble(
            space.features.shape[1], list(columns), ["hi"], EnsembleConfig(pretraining=mode), seed=0
        )
        ens.pretrain(space.features, columns)
        payloads[mode] = ens.pretrained_payload()
    return payloads


def run_seed(
    name: str,
    dataset: str,
    seed: int,
    budget: float,
    pretrained: dict[str, Any] | None,
    stop_at_optimum: bool = False,
    constraint: Constraint | None = None,
    table: str = "nb201",
) -> dict[str, Any]:
    """One search; returns units spent when the optimum was evaluated (None if never), best-so-far curve, timings.

    Every proposal is paid for: a peer (:mod:`archtune_experiments.tabular.peers`) may propose a cell it has already
    evaluated at that fidelity, which costs the same as a new one and is counted in ``repeats``.
    A step is ``ask`` (for BO: refit + scoring the space) plus ``tell``, timed apart and together.
    """
    torch.set_num_threads(1)
    bench, table_space = tabular_benchmark(table, dataset), _space(table)
    hi, lo = bench.hi, bench.lo
    feasible = feasible_mask(bench, constraint)
    optimum = hi[feasible].max()
    v = variant(name)
    two = v.multi_fidelity and lo is not None  # a one-fidelity table runs every strategy at the top only
    # this run's view of the shared space: its pretrained surrogate, and (under a constraint) the cells
    # outside it left out as if unbuildable, so that the strategy sees no metric it could pretrain on
    space = copy.copy(table_space)
    space.surrogate = pretrained
    space.excluded = (
        {int(i): f"outside {constraint[0]} <= {constraint[1]:g}" for i in np.flatnonzero(~feasible)}
        if constraint
        else {}
    )
    # a peer knows NB201's cells by default; on a sampled table it maps its proposals to the sample's cells
    s = v.make(encodings=bench.encodings, snap=True) if v.name in PEERS and table != "nb201" else v.make()
    asks, tells = time_steps(s)
    history = search_in_memory(
        space, lambda e: float(hi[space.index_of(e)]), s, seed, budget,
        lo_objective=(lambda e: float(lo[space.index_of(e)])) if two else None,  # type: ignore[index]
        lo_cost=bench.lo_cost, target=float(optimum) if stop_at_optimum else None,
    )  # fmt: skip
    spent, found, best, curve = 0.0, None, -np.inf, []
    fidelities = ("lo", "hi") if two else ("hi",)
    seen: dict[str, set[int]] = {f: set() for f in fidelities}
    repeats = {f: 0 for f in fidelities}
    for trial in history:
        index, fidelity, value = space.index_of(trial["encoding"]), trial["fidelity"], trial["value"]
        repeats[fidelity] += index in seen[fidelity]
        seen[fidelity].add(index)
        spent += trial["cost"]
        if fidelity == "hi":
            best = max(best, value)
            if found is None and value >= optimum:
                found = spent
        curve.append((spent, best))
    steps = step_seconds(asks, tells)
    return {
        "strategy": name,
        "seed": seed,
        "found_at": found,
        "curve": curve,
        "time_per_iter": float(np.median(steps)) if len(steps) else 0.0,
        "median_ask_s": float(np.median(asks)) if asks else 0.0,
        "median_tell_s": float(np.median(tells)) if tells else 0.0,
        "total_s": float(steps.sum()),
        "iterations": len(steps),
        "evaluations": {f: len(c) for f, c in seen.items()},
        "repeats": repeats,
    }


def summarise(
    runs: list[dict[str, Any]], budget: float, seeds: int | dict[str, int] | None = None
) -> dict[str, dict[str, Any]]:
    """Per strategy: units to the optimum (median, p90, share found) and mean best-so-far at checkpoints.

    ``seeds`` is the number of seeds asked for (or a number per strategy name): a seed not (yet) recorded counts as never finding the
    optimum, so a partial report's median and p90 are upper bounds, never flattered by the slow seeds
    that are still running.

    Example:
        >>> run = {"strategy": "bo", "found_at": 5.0, "curve": [[5.0, 1.0]], "time_per_iter": 0.1}
        >>> s = summarise([run, dict(run, found_at=7.0)], budget=10, seeds=3)["bo"]
        >>> s["seeds"], s["seeds_asked"], s["median_units_to_optimum"], s["share_found"]
        (2, 3, 7.0, 0.6666666666666666)
    """
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r["strategy"] for r in runs):
        mine = [r for r in runs if r["strategy"] == name]
        # a seed that never found the optimum counts as "more than the budget" (inf): medians stay honest
        asked = seeds.get(name, 0) if isinstance(seeds, dict) else (seeds or 0)
        found = cost_to_target([r["found_at"] for r in mine], runs_asked=asked)
        out[name] = {
            "seeds": len(mine),
            "seeds_asked": found.runs,
            "median_units_to_optimum": found.median,
            "p90_units_to_optimum": found.p90,
            "share_found": found.share_reached,
            "mean_best_at": {
                str(u): float(np.nanmean([best_at(r["curve"], u) for r in mine]))
                for u in CHECKPOINTS
                if u <= budget
            },
            "median_time_per_iter_s": float(np.median([r["time_per_iter"] for r in mine])),
            # runs recorded before these were kept have none: a repeat-free archtune strategy's 0
            "median_ask_s": float(np.median([r.get("median_ask_s", np.nan) for r in mine])),
            "median_tell_s": float(np.median([r.get("median_tell_s", np.nan) for r in mine])),
            "median_steps": float(np.median([r.get("iterations", np.nan) for r in mine])),
            "repeats": int(sum(sum(r.get("repeats", {}).values()) for r in mine)),
            "proposals": int(sum(r.get("iterations", 0) for r in mine)),
        }
    return out


def to_markdown(
    summary: dict[str, dict[str, Any]],
    dataset: str,
    budget: float,
    optimum: float | None = None,
    constraint: Constraint | None = None,
    title: str | None = None,
) -> str:
    checkpoints = [u for u in CHECKPOINTS if u <= budget]
    head = ["strategy", "seeds", "median units to optimum", "p90", "found within budget"]
    head += [f"mean best @{u}" for u in checkpoints] + ["repeats / proposals", "median s/step"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in summary.items():
        fmt = format_cost
        seeds = str(s["seeds"]) if s["seeds"] == s["seeds_asked"] else f"{s['seeds']}/{s['seeds_asked']}"
        row = [
            name,
            seeds,
            fmt(s["median_units_to_optimum"]),
            fmt(s["p90_units_to_optimum"]),
            f"{100 * s['share_found']:.0f}%",
        ]
        row += [f"{s['mean_best_at'][str(u)]:.3f}" for u in checkpoints]
        row += [f"{s.get('repeats', 0)} / {s.get('proposals', 0)}", f"{s['median_time_per_iter_s']:.4f}"]
        lines.append("| " + " | ".join(row) + " |")
    title = f"{title or 'NAS-Bench-201 ' + dataset}, budget {budget:g} high-fidelity units"
    if constraint is not None:
        title += f", constraint {constraint[0]} <= {constraint[1]:g}"
    if optimum is not None:
        title += f", optimum {optimum:.3f}"
    return title + "\n\n" + "\n".join(lines) + "\n"


def _job_key(name: str, seed: int) -> str:
    return f"{name}/{seed}"


def recorded_runs(
    path: Path, meta: dict[str, Any], key: Callable[[dict[str, Any]], Any]
) -> dict[Any, dict[str, Any]]:
    """Runs already recorded in the JSON-lines file ``path`` for the same settings, by ``key(run)``
    (a benchmark resumes where it stopped)."""
    finished: dict[Any, dict[str, Any]] = {}
    if not path.exists():
        return finished
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill: that run is simply run again
        if record.get("meta") == meta:
            finished[key(record["run"])] = record["run"]
    return finished


def parse_strategies(strategies: list[str], seeds: int) -> dict[str, int]:
    """Strategy names to seeds each: ``"hebo:3"`` runs 3 seeds (its first 3) where the others run ``seeds``.

    Example:
        >>> parse_strategies(["bo", "hebo:3"], 30)
        {'bo': 30, 'hebo': 3}
    """
    out: dict[str, int] = {}
    for item in strategies:
        name, _, count = item.partition(":")
        if count and not (count.isdigit() and int(count) > 0):
            raise ConfigError(f"strategy {item!r}: write name:seeds with a positive number, e.g. hebo:3")
        out[name] = int(count) if count else seeds
    return out


def run_benchmark(
    dataset: str,
    strategies: list[str],
    seeds: int,
    budget: float,
    workers: int = 2,
    out_dir: str | None = None,
    stop_at_optimum: bool = False,
    constraint: Constraint | None = None,
    plot: bool = True,
    report_only: bool = False,
    table: str = "nb201",
) -> dict[str, Any]:
    """Run every (strategy, seed), print and optionally write the markdown table, JSON and PNG plot.

    A strategy written ``name:k`` runs its first ``k`` seeds only (for a peer too slow for all of them).
    With ``out_dir``, each finished run is appended at once to ``<stem>.runs.jsonl``; running the same
    command again skips the runs recorded there with the same settings, so a killed benchmark loses
    only the runs in flight and more seeds or strategies can be added later. ``report_only`` runs
    nothing and reports the recorded runs (the table's seeds column says how many each strategy has).
    """
    check_table(table, dataset)
    bench = tabular_benchmark(table, dataset)
    seeds_of = parse_strategies(strategies, seeds)
    variants = [variant(name) for name in seeds_of]  # unknown names fail here, before any work
    for v in variants:
        if v.name in PEERS:
            if constraint is not None:
                raise ConfigError(
                    f"strategy {v.name!r} is a peer: peers search the whole space, without --constraint"
                )
            if PEERS[v.name].multi_fidelity and bench.lo is None:
                raise ConfigError(
                    f"strategy {v.name!r} is a two-fidelity peer; {table} has one fidelity: "
                    f"leave it out or use its one-fidelity form"
                )
            # a peer whose extra is missing fails here too, naming the extra (given the table's cells, so
            # that a sampled table's check does not load NB201's)
            v.make(encodings=bench.encodings)
    feasible = feasible_mask(bench, constraint)
    optimum = float(bench.hi[feasible].max())
    meta = {
        "dataset": dataset,
        "budget": budget,
        "optimum": optimum,
        "constraint": list(constraint) if constraint else None,
        "stop_at_optimum": stop_at_optimum,
    }
    if table != "nb201":  # NB201's records, written before there were other tables, keep matching
        meta["table"] = table
    stem = bench.stem + (f"_{constraint[0]}_le_{constraint[1]:g}" if constraint else "")
    folder = Path(out_dir) if out_dir is not None else None
    finished: dict[str, dict[str, Any]] = {}
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        finished = recorded_runs(
            folder / f"{stem}.runs.jsonl", meta, key=lambda run: _job_key(run["strategy"], run["seed"])
        )
    # seed-major: a benchmark stopped early has the same seeds for every strategy, and the slow ones
    # (BO) do not all wait at the end
    todo = [
        (v, seed)
        for seed in range(max(seeds_of.values()))
        for v in variants
        if seed < seeds_of[v.name] and _job_key(v.name, seed) not in finished
    ]
    if report_only:
        if folder is None:
            raise ConfigError("report_only needs out_dir, where the recorded runs are")
        print(f"report only: {len(finished)} runs recorded, {len(todo)} not run", flush=True)
        todo = []
    elif finished:
        print(f"resuming: {len(finished)} runs already recorded, {len(todo)} to go", flush=True)
    payloads = pretrain_payloads({v.pretraining for v, _ in todo if v.pretraining is not None}, table)
    jobs = [
        (v.name, dataset, seed, budget, payloads.get(v.pretraining or ""), stop_at_optimum, constraint, table)
        for v, seed in todo
    ]
    # spawn, not fork: the parent has run autograd (pretraining), and a forked child of a process with
    # autograd threads cannot backpropagate (PyTorch refuses it on multi-threaded builds)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_seed, *job) for job in jobs]
        for future in as_completed(futures):
            r = future.result()
            finished[_job_key(r["strategy"], r["seed"])] = r
            print(f"{r['strategy']:>9s} seed {r['seed']:3d}: optimum at {r['found_at']}", flush=True)
            if folder is not None:
                # one write call per record, in append mode: several benchmark processes (say, the peers
                # and the BO variants) can record into the same file without interleaving their lines
                with open(folder / f"{stem}.runs.jsonl", "ab") as f:
                    f.write((json.dumps({"meta": meta, "run": r}) + "\n").encode())
    runs = [
        finished[key]
        for v in variants
        for seed in range(seeds_of[v.name])
        if (key := _job_key(v.name, seed)) in finished
    ]
    if not runs:
        raise ConfigError("no recorded run matches these settings")
    summary = summarise(runs, budget, seeds_of)
    md = to_markdown(summary, dataset, budget, optimum, constraint, bench.title)
    if stop_at_optimum:  # best-so-far cannot rise past the optimum, so the curves stay exact
        md += "\nRun with --stop-at-optimum: each search stopped once it evaluated the optimum.\n"
    if any(s["seeds"] < s["seeds_asked"] for s in summary.values()):
        md += (
            "\nSeeds 'a/b': only a of b seeds recorded (the rest were still running when this was written); "
            "the missing ones count as never finding the optimum, so that median and p90 are upper bounds.\n"
        )
    print(md)
    if folder is not None:
        (folder / f"{stem}.md").write_text(md)
        (folder / f"{stem}.json").write_text(
            json.dumps({"meta": {**meta, "seeds": seeds_of}, "summary": summary}, indent=1)
        )
        if plot:
            plot_best_so_far(
                runs,
                budget,
                optimum,
                f"{bench.title}: best so far over {seeds} seeds",
                folder / f"{stem}.png",
            )
    return summary


def combined_markdown(summaries: dict[str, dict[str, dict[str, Any]]], budget: float) -> str:
    """One row per strategy, the datasets side by side: median / p90 / share found, seeds, and time per step.

    The time per step is the median over all the strategy's runs on every dataset of each run's median
    step (ask + tell; for BO the refit and the scoring of every cell are inside ask).

    Example:
        >>> s = {"seeds": 2, "seeds_asked": 2, "median_units_to_optimum": 7.0, "p90_units_to_optimum": float("inf"),
        ...      "share_found": 0.5, "median_time_per_iter_s": 0.1, "repeats": 1, "proposals": 9}
        >>> print(combined_markdown({"cifar10": {"bo": s}}, 150).splitlines()[-1])
        | bo | 7.0 / > 150 / 50% (2) | 1 / 9 | 0.1000 |
    """
    datasets = list(summaries)
    names = list(dict.fromkeys(n for d in datasets for n in summaries[d]))
    fmt = lambda v: f"> {budget:g}" if not np.isfinite(v) else f"{v:.1f}"  # noqa: E731
    head = (
        ["strategy"]
        + [f"{d}: median / p90 / found (seeds)" for d in datasets]
        + ["repeats / proposals", "s per step"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        row, steps, repeats, proposals = [name], [], 0, 0
        for d in datasets:
            s = summaries[d].get(name)
            if s is None:
                row.append("not run")
                continue
            seeds = str(s["seeds"]) if s["seeds"] == s["seeds_asked"] else f"{s['seeds']}/{s['seeds_asked']}"
            row.append(
                f"{fmt(s['median_units_to_optimum'])} / {fmt(s['p90_units_to_optimum'])} / "
                f"{100 * s['share_found']:.0f}% ({seeds})"
            )
            steps.append(s["median_time_per_iter_s"])
            repeats += s.get("repeats", 0)
            proposals += s.get("proposals", 0)
        row += [f"{repeats} / {proposals}", f"{float(np.median(steps)):.4f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
