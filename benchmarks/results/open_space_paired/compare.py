"""Paired comparison behind comparison.md: BO through SearchInstance (``archtune bench open-space
--strategies bo --seeds 30 --budget 200``, open_space.runs.jsonl) against the removed OpenSpaceBO, whose
seeds 0-9 are its recorded runs (benchmarks/results/open_space.json at commit 3986fba) and seeds 10-29
the reruns of run_removed_class.py (seeds 10 on). Run from this folder: ``python compare.py > comparison.md``."""

import json
import subprocess

import numpy as np

new = {r["seed"]: r for r in map(json.loads, open("open_space.runs.jsonl")) if r["strategy"] == "bo"}
rerun = {r["seed"]: r for r in map(json.loads, open("open_bo_removed_class.runs.jsonl"))}
recorded_text = subprocess.run(
    ["git", "show", "3986fba:benchmarks/results/open_space.json"], capture_output=True, text=True, check=True
).stdout
recorded = {r["seed"]: r for r in json.loads(recorded_text)["runs"] if r["strategy"] == "open-bo"}
old = {s: recorded[s] for s in range(10)} | {s: r for s, r in rerun.items() if s >= 10}
seeds = sorted(set(new) & set(old))
optimum = new[0]["optimum"]


def regret(run, units):
    return optimum - run["best_curve"][units - 1]


print(f"Open space (three NB201 cells, 3.8e12 encodings), mean regret over {len(seeds)} seeds, paired by seed\n")
print("| units | BO through SearchInstance | removed OpenSpaceBO | difference (new - old) | standard error | seeds new better |")
print("|---|---|---|---|---|---|")
for units in (25, 50, 100, 200):
    d = np.array([regret(new[s], units) - regret(old[s], units) for s in seeds])
    print(
        f"| {units} | {np.mean([regret(new[s], units) for s in seeds]):.2f} "
        f"| {np.mean([regret(old[s], units) for s in seeds]):.2f} | {d.mean():+.2f} "
        f"| {d.std(ddof=1) / np.sqrt(len(seeds)):.2f} | {(d < 0).sum()} of {len(seeds)} |"
    )
print(
    f"\nThe removed class's seed 0, rerun: regret {regret(rerun[0], 200):.2f} at 200 units, recorded "
    f"{regret(recorded[0], 200):.2f}: its runs are not bit-reproducible across runs either."
)
