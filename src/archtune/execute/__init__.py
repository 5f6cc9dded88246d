"""Where evaluations run: in-process by default, or any concurrent.futures-style executor."""

from archtune.execute.evaluation import Outcome, run_objective

__all__ = ["Outcome", "run_objective"]
