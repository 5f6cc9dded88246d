"""A search's work directory: each evaluation's folder, the low-fidelity checkpoints kept for the high
fidelity, and the best trained models. Only files: what is in them is the evaluator's business.

Layout (default ``<search file>.work/`` beside the search file)::

    trials/<dispatch id>/   an evaluation's folder while it runs (checkpoint.pt, model.pt); the id is
                            its dispatch record, the same for every re-send of it
    screened/<key hash>.pt  a finished low-fidelity run's final checkpoint, kept when the high fidelity
                            may continue it (removed when that high-fidelity evaluation finished)
    models/trial-<n>/model.pt   the trained model of the best high-fidelity trial (of the Pareto front's
                            trials in a multi-objective search); others are removed

Example:
    >>> import tempfile
    >>> wd = WorkDir(tempfile.mkdtemp())
    >>> ctx = wd.context(3, '[1]', "hi")
    >>> ctx.trial_dir.name, ctx.continue_from
    ('3', None)
    >>> wd.best_model(0) is None                 # nothing kept yet
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from archtune.execute.trial_context import CHECKPOINT_FILE, MODEL_FILE, TrialContext


def default_work_dir(save_filename: str | os.PathLike[str]) -> Path:
    """``<search file>.work`` beside the search file, as an absolute path (workers resolve it the same way)."""
    return Path(os.path.abspath(os.fspath(save_filename) + ".work"))


class WorkDir:
    """The files of one search (see the module doc); ``reuse`` keeps low-fidelity checkpoints for the high fidelity."""

    def __init__(self, path: str | os.PathLike[str], reuse: bool = False):
        self.path = Path(path)
        self.reuse = reuse

    def trial_dir(self, dispatch_id: int) -> Path:
        return self.path / "trials" / str(dispatch_id)

    def screened(self, key: str) -> Path:
        """Where the final low-fidelity checkpoint of the encoding ``key`` is kept."""
        return self.path / "screened" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.pt"

    def model_dir(self, number: int) -> Path:
        return self.path / "models" / f"trial-{number}"

    def can_continue(self, key: str, fidelity: str, top: str) -> bool:
        """Whether a ``fidelity`` evaluation of ``key`` would continue a kept low-fidelity checkpoint."""
        return self.reuse and fidelity == top and self.screened(key).is_file()

    def context(self, dispatch_id: int, key: str, fidelity: str, top: str = "hi") -> TrialContext:
        """The trial context of a dispatch (``top``: the high fidelity's name)."""
        source = str(self.screened(key)) if self.can_continue(key, fidelity, top) else None
        return TrialContext(str(self.path), dispatch_id, key, fidelity, continue_from=source)

    def finish(self, dispatch_id: int, number: int, key: str, fidelity: str, ok: bool, top: str) -> None:
        """After the trial ``number`` of dispatch ``dispatch_id`` is stored: keep what is still needed
        (a low fidelity's final checkpoint, a high fidelity's model) and remove the rest of its folder."""
        folder = self.trial_dir(dispatch_id)
        if ok and fidelity != top and self.reuse and (folder / CHECKPOINT_FILE).is_file():
            self.screened(key).parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder / CHECKPOINT_FILE, self.screened(key))
        if ok and fidelity == top:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.screened(key))  # continued (or superseded): no evaluation needs it now
            if (folder / MODEL_FILE).is_file():
                self.model_dir(number).mkdir(parents=True, exist_ok=True)
                os.replace(folder / MODEL_FILE, self.model_dir(number) / MODEL_FILE)
        shutil.rmtree(folder, ignore_errors=True)

    def keep_models(self, numbers: Iterable[int]) -> None:
        """Remove the kept models of every trial not in ``numbers``."""
        keep = {f"trial-{n}" for n in numbers}
        models = self.path / "models"
        if models.is_dir():
            for entry in models.iterdir():
                if entry.name not in keep:
                    shutil.rmtree(entry, ignore_errors=True)

    def sweep(self, live: Iterable[int]) -> None:
        """Remove the folders of evaluations no longer in flight (their trial was stored by a driver killed
        before it cleaned up); ``live``: the dispatch ids still pending."""
        keep = {str(i) for i in live}
        trials = self.path / "trials"
        if trials.is_dir():
            for entry in trials.iterdir():
                if entry.name not in keep:
                    shutil.rmtree(entry, ignore_errors=True)

    def best_model(self, number: int | None) -> Path | None:
        """The kept model file of trial ``number``, or None."""
        if number is None:
            return None
        path = self.model_dir(number) / MODEL_FILE
        return path if path.is_file() else None
