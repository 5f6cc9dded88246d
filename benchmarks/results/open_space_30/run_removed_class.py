"""The removed OpenSpaceBO (commit 3b42b84^) on seeds 0 and 10-29 of the open-space benchmark, 200 units
each: run from this folder with a worktree of that commit (git worktree add /tmp/oldtree 3b42b84^)."""

import json
import sys

sys.path.insert(0, "/tmp/oldtree/src")
from archtune.bench.open_space_bench import run_seed  # noqa: E402  (the old tree's module)

out = "open_bo_removed_class.runs.jsonl"
done = set()
try:
    done = {json.loads(line)["seed"] for line in open(out)}
except FileNotFoundError:
    pass
for seed in [0] + list(range(10, 30)):
    if seed in done:
        continue
    r = run_seed("open-bo", seed, 200)
    with open(out, "a") as fh:
        fh.write(json.dumps(r) + "\n")
    print(seed, r["best_curve"][-1], flush=True)
