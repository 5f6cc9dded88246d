"""Checkpoints of a training run at every epoch boundary, resume after a kill, continuation of a lower
fidelity, and the trained model file.

An :class:`EpochCheckpoint` is the hook :func:`archtune.evaluate.training.train_and_evaluate` calls: at the
start (:meth:`~EpochCheckpoint.restore`) and after every epoch (:meth:`~EpochCheckpoint.save`). What it
saves is everything the rest of the run depends on: the model, the optimiser, an LR scheduler and AMP
grad scaler when there are any, the training generator (shuffling, augmentation), the global RNGs of
Python, NumPy and torch (+ CUDA), the step counter and the learning curve so far. A run restored from
it continues exactly as the uninterrupted run would have (bit for bit on CPU with deterministic
kernels).

Files are written atomically (a temporary file in the same folder, fsynced, then ``os.replace``), so a
kill at any moment leaves the previous epoch's checkpoint or the new one, never half of one. They are
read with ``torch.load(weights_only=True)``: tensors, numbers, strings, lists and dicts only, no pickled
objects, so a checkpoint cannot run code when it is loaded.

A checkpoint is used only by the training it belongs to: it carries a fingerprint of the job
(encoding, data, builder, recipe, seed, epochs, schedule length ...) and one of its *lineage* (the same
without the epochs). A re-sent evaluation resumes from its own checkpoint when the fingerprint matches;
a high-fidelity evaluation continues from a low-fidelity checkpoint when the lineage matches; anything
else starts afresh.

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "checkpoint.pt"
    >>> net, gen = torch.nn.Linear(2, 1), torch.Generator().manual_seed(0)
    >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
    >>> hook = EpochCheckpoint(stop_after=3, path=path, fingerprint="job-a", lineage="a")
    >>> hook.restore(net, opt, gen)                      # nothing saved yet: from epoch 0
    (0, 0, [])
    >>> hook.save(1, 10, [{"epoch": 1}], net, opt, gen)  # True: train on
    True
    >>> again = EpochCheckpoint(stop_after=3, path=path, fingerprint="job-a", lineage="a")
    >>> again.restore(net, opt, gen), again.report()
    ((1, 10, [{'epoch': 1}]), {'resumed_from_epoch': 1})
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from archtune.errors import ConfigError
from archtune.execute.trial_context import CHECKPOINT_FILE, CONTINUED_METRIC, MODEL_FILE, current_trial

CHECKPOINT_FORMAT = "archtune.checkpoint/1"
MODEL_FORMAT = "archtune.model/1"
#: job fields that do not change what is trained (where it is printed, how long it may take, where
#: files go): left out of the fingerprint, so a re-sent job with another time limit still resumes
_NOT_TRAINING = {
    "label",
    "result_path",
    "progress",
    "time_limit",
    "checkpoint_dir",
    "continue_from",
    "device",
}


def atomic_save(payload: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(payload, path)`` so that ``path`` holds the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def load_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint or model file, loaded with ``weights_only=True`` onto the CPU."""
    return torch.load(path, map_location="cpu", weights_only=True)


def _digest(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def job_fingerprints(job_fields: dict[str, Any]) -> tuple[str, str]:
    """``(fingerprint, lineage)`` of a training job given as a dict of its fields: the fingerprint names
    the whole job, the lineage the same training without its length (``epochs``, ``schedule_epochs``)."""
    training = {k: v for k, v in job_fields.items() if k not in _NOT_TRAINING}
    lineage = {k: v for k, v in training.items() if k not in ("epochs", "schedule_epochs")}
    return _digest(training), _digest(lineage)


def _unwrap(model: nn.Module) -> nn.Module:
    """The user's module inside DDP (``.module``) or ``torch.compile`` (``._orig_mod``) wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """The random states a training run draws from, as tensors and plain values (``weights_only``-safe)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    return {
        "python": [version, list(internal), gauss],
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        # only when CUDA is in use: querying it otherwise would initialise it
        "cuda": torch.cuda.get_rng_state_all()
        if torch.cuda.is_available() and torch.cuda.is_initialized()
        else [],
        "generator": None if generator is None else generator.get_state(),
    }


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Inverse of :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and state["generator"] is not None:
        generator.set_state(state["generator"])


@dataclass
class EpochCheckpoint:
    """The epoch-boundary hook of the training loop.

    Attributes:
        stop_after: epochs this job trains; the schedule may span more (a low fidelity that is the
            first epochs of the high fidelity's schedule), :meth:`save` then ends training early.
        path: this evaluation's checkpoint file (None: nothing is written or resumed).
        fingerprint, lineage: see :func:`job_fingerprints`.
        continue_from: a lower fidelity's final checkpoint of the same lineage to start from.
        writer: whether this process writes (rank 0 of a data-parallel group).
        resumed_from, continued_from: after :meth:`restore`, the epoch it started from and how.
    """

    stop_after: int
    path: Path | None = None
    fingerprint: str = ""
    lineage: str = ""
    continue_from: Path | None = None
    writer: bool = True
    resumed_from: int = 0
    continued_from: int = 0
    ignored: list[str] = field(default_factory=list)

    def _read(self, path: Path | None) -> dict[str, Any] | None:
        if path is None or not path.is_file():
            return None
        try:
            state = load_file(path)
        except Exception as err:  # noqa: BLE001 - an unreadable checkpoint costs a restart, not the trial
            self.ignored.append(f"{path.name}: unreadable ({type(err).__name__})")
            return None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            self.ignored.append(f"{path.name}: not an archtune checkpoint")
            return None
        return state

    def restore(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator | None,
        scaler: Any = None,
        scheduler: Any = None,
    ) -> tuple[int, int, list[dict[str, float]]]:
        """Load the newest state this job may start from into the objects given; returns
        ``(epochs done, steps done, curve so far)``, ``(0, 0, [])`` when there is none."""
        state = self._read(self.path)
        if state is not None and state["fingerprint"] != self.fingerprint:
            self.ignored.append("own checkpoint: another job (settings changed)")
            state = None
        if state is not None:
            self.resumed_from = int(state["epoch"])
            self.continued_from = int(state.get("continued_from", 0))
        else:
            state = self._read(self.continue_from)
            if state is not None and (
                state["lineage"] != self.lineage or int(state["epoch"]) > self.stop_after
            ):
                self.ignored.append("lower-fidelity checkpoint: another training")
                state = None
            if state is None:
                return 0, 0, []
            self.continued_from = int(state["epoch"])
        _unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler") is not None:
            scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"], generator)
        return int(state["epoch"]), int(state["step"]), [dict(row) for row in state["curve"]]

    def save(
        self,
        epoch: int,
        step: int,
        curve: list[dict[str, float]],
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator | None,
        scaler: Any = None,
        scheduler: Any = None,
    ) -> bool:
        """Write the state after ``epoch`` (when this process writes); returns whether to train on."""
        if self.path is not None and self.writer:
            atomic_save(
                {
                    "format": CHECKPOINT_FORMAT,
                    "fingerprint": self.fingerprint,
                    "lineage": self.lineage,
                    "epoch": epoch,
                    "step": step,
                    "curve": [dict(row) for row in curve],
                    "continued_from": self.continued_from,
                    "model": _unwrap(model).state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": None if scheduler is None else scheduler.state_dict(),
                    "scaler": None if scaler is None else scaler.state_dict(),
                    "rng": rng_state(generator),
                },
                self.path,
            )
        return epoch < self.stop_after

    def report(self) -> dict[str, Any]:
        """What the result should say about it: where training started (empty when from scratch)."""
        out: dict[str, Any] = {}
        if self.resumed_from:
            out["resumed_from_epoch"] = self.resumed_from
        if self.continued_from:
            out[CONTINUED_METRIC] = self.continued_from
        if self.ignored:
            out["checkpoints_ignored"] = list(self.ignored)
        return out

    def save_model(
        self, model: nn.Module, description: dict[str, Any], reparameterized: nn.Module | None = None
    ) -> None:
        """Write the trained weights (and the fused network's, with ``reparameterized``) beside the checkpoint."""
        if self.path is None or not self.writer:
            return
        save_model_file(self.path.with_name(MODEL_FILE), model, description, reparameterized)


def save_model_file(
    path: str | os.PathLike[str],
    model: nn.Module,
    description: dict[str, Any],
    reparameterized: nn.Module | None = None,
) -> None:
    """A model file: ``state_dict`` (+ ``reparam_state_dict``) and ``description`` (the encoding as JSON
    text, the builder, classes, input shape ...), all loadable with ``weights_only=True``."""
    atomic_save(
        {
            "format": MODEL_FORMAT,
            **description,
            "state_dict": _unwrap(model).state_dict(),
            "reparam_state_dict": None if reparameterized is None else reparameterized.state_dict(),
        },
        path,
    )


def job_checkpoint(job: Any, writer: bool = True) -> EpochCheckpoint:
    """The hook for an image-classification job (its ``checkpoint_dir`` empty: nothing is kept)."""
    fingerprint, lineage = job_fingerprints(dict(vars(job)))
    path = Path(job.checkpoint_dir) / CHECKPOINT_FILE if job.checkpoint_dir else None
    source = Path(job.continue_from) if job.continue_from else None
    return EpochCheckpoint(job.epochs, path, fingerprint, lineage, source, writer)


def schedule_length(epochs: int, schedule_epochs: int | None) -> int:
    """The epochs the learning-rate schedule spans: ``schedule_epochs`` when longer than the run."""
    return max(epochs, schedule_epochs or 0)


def trial_paths(enabled: bool) -> dict[str, str]:
    """``checkpoint_dir`` and ``continue_from`` for a job started now, read from the current trial
    (empty outside a search or with checkpoints off)."""
    trial = current_trial()
    if not enabled or trial is None:
        return {"checkpoint_dir": "", "continue_from": ""}
    return {"checkpoint_dir": str(trial.trial_dir), "continue_from": trial.continue_from or ""}


def continuation_exact(recipe: Any, lo_schedule: int, hi_schedule: int) -> bool:
    """Whether the first epochs of a run with schedule length ``hi_schedule`` see the learning rates a
    run with ``lo_schedule`` saw, so continuing the shorter run equals training the longer from scratch:
    the same schedule length, or a step schedule whose warm-up both runs give the same length."""
    if lo_schedule == hi_schedule:
        return True
    return recipe.schedule == "step" and min(recipe.warmup_epochs, lo_schedule / 2) == min(
        recipe.warmup_epochs, hi_schedule / 2
    )


def may_continue(hi: Any, lo: Any) -> bool:
    """Whether the objective ``hi`` (an ``evaluator.at_epochs(k)``) may continue from ``lo``'s final
    checkpoint: the same evaluator settings, fewer epochs, and the evaluator's ``continue_lo_fi``
    policy (None: only when :func:`continuation_exact`)."""
    if (
        type(hi) is not type(lo)
        or hi.evaluator.__dict__ != lo.evaluator.__dict__
        or not lo.epochs < hi.epochs
    ):
        return False
    ev = hi.evaluator
    if not ev.checkpoint or ev.continue_lo_fi is False:
        return False
    if ev.continue_lo_fi:
        return True
    return continuation_exact(
        ev.recipe,
        schedule_length(lo.epochs, ev.schedule_epochs),
        schedule_length(hi.epochs, ev.schedule_epochs),
    )


def check_policy(checkpoint: Any, schedule_epochs: Any, continue_lo_fi: Any) -> None:
    """Refuse bad ``checkpoint``, ``schedule_epochs`` and ``continue_lo_fi`` arguments of the evaluator."""
    if not isinstance(checkpoint, bool):
        raise ConfigError(f"checkpoint must be True or False, got {checkpoint!r}")
    if schedule_epochs is not None and (
        isinstance(schedule_epochs, bool) or not isinstance(schedule_epochs, int) or schedule_epochs < 1
    ):
        raise ConfigError(
            f"schedule_epochs must be a positive integer or None, got {schedule_epochs!r}; "
            "pass e.g. schedule_epochs=3 (the high fidelity's epochs)"
        )
    if continue_lo_fi not in (None, True, False):
        raise ConfigError(f"continue_lo_fi must be None (when exact), True or False, got {continue_lo_fi!r}")
