"""How long featurizing a million encodings takes, and how much memory it adds: ``archtune bench featurize``.

Runs in a fresh Python process, so the peak resident memory belongs to that one space alone. The
default test run checks the shape and the memory (tests/test_space.py), never the time: speed is this
benchmark's business, on a machine chosen for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

SCRIPT = """
import json, resource, sys, time
import numpy as np
from archtune import create_search_space
n = int(sys.argv[1])
rng = np.random.default_rng(0)
depth = rng.integers(1, 20, n)
encs = [(int(d), i % 7 * 0.5, ("conv", "mbconv", "attn")[i % 3], i) for i, d in enumerate(depth)]
with open("/proc/self/statm") as f:
    rss_before = int(f.read().split()[1]) * resource.getpagesize()
start = time.perf_counter()
ss = create_search_space("big", None, encs)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
probe = min(123456, n - 1)
print(json.dumps({"n": n, "seconds": elapsed, "extra_bytes": peak - rss_before, "shape": list(ss.features.shape),
                  "key": ss.keys[probe], "row": ss.features[probe].tolist(), "enc": list(encs[probe])}))
"""


def measure_featurize(n: int = 1_000_000) -> dict[str, Any]:
    """Create (featurize) a space of ``n`` 4-position encodings in a fresh process.

    Returns ``seconds`` (wall time of :func:`create_search_space`), ``extra_bytes`` (peak resident
    memory above the memory before it), ``shape`` of the feature matrix, and one probe encoding with its
    ``key`` and feature ``row``.
    """
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(n)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)
