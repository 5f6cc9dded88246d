"""The embedded demo: a real multi-fidelity BO search training CNNs on scikit-learn's digits.

Example (takes about two minutes on 2 CPU cores)::

    archtune demo --budget 6

The same seed gives the same trajectory: the surrogate is pretrained on counted metrics only
(parameters and FLOPs, never timed latency) and training is seeded and runs on a fixed number of torch
threads. See docs/reproducibility.md for where that promise stops.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from rich.console import Console

from archtune.errors import ConfigError
from archtune.profile import COUNTED_METRICS, profile_encodings
from archtune.search.instance import SearchInstance
from archtune.space.search_space import SearchSpace
from archtune.spaces import digits_cnn

MIN_BUDGET = 4.0


def prepare_space(space_file: str | Path | None, seed: int = 0, progress: bool = True) -> SearchSpace:
    """The digits CNN space, profiled and with its surrogate pretrained (saved to ``space_file`` if given).

    Pretrained on counted metrics only (parameters and FLOPs): measured latency differs run to run, and
    a differently pretrained surrogate sends the same seed down a different trajectory
    (docs/reproducibility.md).
    """
    ss = digits_cnn.digits_cnn_space(None if space_file is None else str(space_file))
    profiled = profile_encodings(
        ss.encodings,
        digits_cnn.encoding_to_net,
        torch.zeros(*digits_cnn.SAMPLE_INPUT_SHAPE),
        threads=2,
        progress=progress,
        metrics=COUNTED_METRICS,
    )
    return ss.preprocess(pretraining_data=profiled.metrics, seed=seed)


def run_demo(workdir: str | None = None, budget: float = 6.0, seed: int = 0) -> dict[str, object]:
    """Create and profile the digits CNN space, search it, and compare with the hand-picked baseline.

    Returns the best result, the baseline's, the two files and the search's history (every trial)."""
    if budget < MIN_BUDGET:
        # BO first screens 10 networks at 1 epoch (10 units of 4 per high-fidelity evaluation); below this
        # budget no network would be trained at high fidelity and there would be no result to show
        raise ConfigError(
            f"the demo needs --budget of at least {MIN_BUDGET:g} high-fidelity evaluations, got {budget:g}"
        )
    console = Console(stderr=True)
    folder = Path(workdir or tempfile.mkdtemp(prefix="archtune-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    space_file, search_file = folder / "digits_cnn.space", folder / "demo.search"
    console.print(f"[bold]archtune demo[/]: files in {folder}")
    ss = prepare_space(space_file, seed)
    console.print(f"profiled {len(ss)} CNNs and pretrained the surrogate; searching with budget {budget}")
    with SearchInstance(
        name="demo",
        save_filename=str(search_file),
        search_space_filename=str(space_file),
        hi_fi_eval=digits_cnn.hi_fi_eval,
        hi_fi_cost=4,
        lo_fi_eval=digits_cnn.lo_fi_eval,
        lo_fi_cost=1,
        seed=seed,
    ) as search:
        search.run_search(eval_budget=budget)
        best, history = search.best(), search.history()
    baseline_value = digits_cnn.hi_fi_eval(digits_cnn.BASELINE)
    if best is None:
        raise ConfigError("the search ended without a high-fidelity result; give a larger --budget")
    console.print(f"best found : {best[0]!r}  accuracy {best[1]:.2f}%")
    console.print(f"baseline   : {digits_cnn.BASELINE!r}  accuracy {baseline_value:.2f}%")
    return {
        "best": best,
        "baseline": (digits_cnn.BASELINE, baseline_value),
        "search_file": str(search_file),
        "space_file": str(space_file),
        "history": history,
    }
