"""The removed OpenSpaceBO (commit 3b42b84^) on seeds of the open-space benchmark, 200 units each (default:
0 and 10-29; ``python run_removed_class.py 30 50`` runs seeds 30-49): run from this folder with a worktree
of that commit (git worktree add /tmp/oldtree 3b42b84^)."""

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
seeds = [0, *range(10, 30)] if len(sys.argv) < 3 else list(range(int(sys.argv[1]), int(sys.argv[2])))
for seed in seeds:
    if seed in done:
        continue
    r = run_seed("open-bo", seed, 200)
    with open(out, "a") as fh:
        fh.write(json.dumps(r) + "\n")
    print(seed, r["best_curve"][-1], flush=True)
