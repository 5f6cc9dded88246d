"""``create_img_class_evaluator``: an objective that trains a network of the space on an image dataset for a
number of epochs (its fidelity) and returns the evaluation accuracy with the learning curve.

The network comes from ``config_to_model_file``: ``"package.module:function"`` or
``"path/to/file.py:function"`` (a file without ``:function`` must define ``config_to_model``), a function
``(encoding, n_classes) -> nn.Module`` (it also receives ``in_channels=`` when it accepts it). A path
rather than a Python object lets the data-parallel worker processes build the same network.

With ``n_gpus > 1`` or ``n_procs > 1`` each evaluation is a ``torchrun`` job (DDP; NCCL on GPUs, Gloo on
CPU) that the evaluator launches, waits for and cleans up; otherwise it trains in the calling process
(on the GPU when ``n_gpus == 1``). A crash, NaN loss, out-of-memory or overrun of ``time_limit`` raises,
which a search records as a failed trial.

Example:
    >>> evaluator = create_img_class_evaluator("digits", dataset_config={"channels": 3},
    ...     config_to_model_file="archtune.spaces.mobileone:encoding_to_model", progress=False)
    >>> result = evaluator((0, 0.25, 0, 0.25, 0, 0.25, 1, 0.25, "no", 1), epochs=1)
    >>> sorted(result)
    ['curve', 'epochs', 'inference_parameters', 'parameters', 'seconds', 'value']
    >>> 0 <= result["value"] <= 100, len(result["curve"])
    (True, 1)
    >>> lo_fi, hi_fi = evaluator.at_epochs(1), evaluator.at_epochs(3)   # for SearchInstance(lo_fi_eval=..., hi_fi_eval=...)
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archtune.datasets.images import DatasetConfig, ImageSplit, load_split
from archtune.errors import ConfigError
from archtune.evaluate.training import (
    SINGLE_PROCESS,
    Rank,
    TrainingRecipe,
    evaluate_accuracy,
    train_and_evaluate,
)
from archtune.nets.mobileone import reparameterize
from archtune.profile.zero_cost import count_parameters

DEFAULT_BUILDER = "archtune.spaces.mobileone:encoding_to_model"


@cache
def load_builder(spec: str) -> Callable[..., nn.Module]:
    """The model function named by ``"module:function"``, ``"file.py:function"`` or ``"file.py"``; a file is
    executed once per process, not once per evaluation."""
    target, _, name = spec.partition(":")
    if target.endswith(".py") or os.sep in target:
        path = Path(target)
        if not path.is_file():
            raise ConfigError(f"config_to_model_file {target} does not exist")
        module_spec = importlib.util.spec_from_file_location(f"archtune_user_model_{abs(hash(path.resolve()))}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)  # type: ignore[union-attr]
    else:
        module = importlib.import_module(target)
    name = name or "config_to_model"
    if not callable(getattr(module, name, None)):
        raise ConfigError(f"{spec}: no function {name!r} in {target}")
    return getattr(module, name)


def build_model(builder: str, encoding: Any, n_classes: int, in_channels: int) -> nn.Module:
    function = load_builder(builder)
    kwargs = {"in_channels": in_channels} if "in_channels" in inspect.signature(function).parameters else {}
    return function(encoding, n_classes, **kwargs)


@lru_cache(maxsize=4)
def _splits(dataset: str, train_split: str, eval_split: str, config: DatasetConfig) -> tuple[ImageSplit, ImageSplit]:
    train = load_split(dataset, train_split, config)
    return train, load_split(dataset, eval_split, config, normalise_with=train)


def _plain(encoding: Any) -> Any:
    """Encodings as JSON values (tuples become lists) for the worker's job file."""
    return list(encoding) if isinstance(encoding, tuple) else encoding


@dataclass
class Job:
    """One evaluation, as the worker processes receive it (JSON)."""

    encoding: Any
    epochs: int
    dataset: str
    train_split: str
    eval_split: str
    dataset_config: dict[str, Any]
    n_classes: int | None
    builder: str
    recipe: dict[str, Any]
    seed: int
    reparam: bool
    device: str
    time_limit: float | None
    progress: bool
    label: str = ""
    result_path: str = ""


def run_job(job: Job, rank: Rank = SINGLE_PROCESS, local_rank: int = 0) -> dict[str, Any]:
    """Train and evaluate one job in this process (one rank of it under DDP)."""
    started = time.monotonic()
    config = DatasetConfig.from_dict(job.dataset_config)
    train, test = _splits(job.dataset, job.train_split, job.eval_split, config)
    n_classes = job.n_classes or train.n_classes
    device = torch.device(f"cuda:{local_rank}" if job.device == "cuda" else "cpu")
    torch.manual_seed(job.seed)
    encoding = tuple(job.encoding) if isinstance(job.encoding, list) else job.encoding
    model = build_model(job.builder, encoding, n_classes, train.images.shape[1]).to(device)
    trained: nn.Module = model
    if rank.world > 1:
        trained = nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if job.device == "cuda" else None)

    def report(row: dict[str, float]) -> None:
        if job.progress and rank.rank == 0:
            print(f"[archtune] {job.label} epoch {int(row['epoch'])}/{job.epochs}: loss {row['train_loss_mean']:.4f}, "
                  f"eval accuracy {100 * row['eval_accuracy']:.2f}% ({row['seconds']:.1f} s)", file=sys.stderr, flush=True)

    augment = (config.pad, config.hflip) if config.augment else None
    deadline = None if job.time_limit is None else started + job.time_limit
    curve = train_and_evaluate(trained, train, test, job.epochs, TrainingRecipe.from_dict(job.recipe), job.seed,
                               augment, device, rank, deadline, report)
    value = 100 * curve[-1]["eval_accuracy"]
    inference = model
    if job.reparam:
        inference = reparameterize(model)
        value = 100 * evaluate_accuracy(inference, test, device, rank)
    return {"value": value, "curve": curve, "epochs": job.epochs, "parameters": count_parameters(model),
            "inference_parameters": count_parameters(inference if job.reparam else reparameterize(model)),
            "seconds": time.monotonic() - started}


class DistributedTrainingError(RuntimeError):
    """A torchrun job failed; the message holds the end of its log."""


def _relay(stream: Any, lines: list[str], progress: bool) -> None:
    """Keep every line of the job's output; pass rank 0's progress lines on as they come."""
    for line in stream:
        lines.append(line)
        if progress and line.startswith("[archtune]"):
            sys.stderr.write(line)
            sys.stderr.flush()


# torchrun's rendezvous defaults are tuned for clusters, and several are seconds long: a store operation
# gives up after 60 s, a keep-alive heartbeat after 5 s, and a node whose heartbeats are 15 s late
# (3 x 5 s) counts as dead, upon which the agent tears the worker group down mid-training. A machine
# busy with other work (a test suite, other jobs) can be that slow, so every one of them gets minutes
# here. Training time itself is bounded by the job's time_limit, not by these.
RDZV_CONF = ",".join([
    "join_timeout=1800", "last_call_timeout=30", "close_timeout=600", "read_timeout=600",
    "heartbeat_timeout=600", "keep_alive_interval=5", "keep_alive_max_attempt=120",
])


def _run_torchrun(job: Job, n_procs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="archtune-ddp-") as tmp:
        job.result_path = str(Path(tmp) / "result.json")
        spec = Path(tmp) / "job.json"
        spec.write_text(json.dumps(job.__dict__))
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n_procs}",
                   "--rdzv-conf", RDZV_CONF, "-m", "archtune.evaluate.ddp_worker", str(spec)]
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        # a session of its own, so a timeout kills torchrun and every rank it started
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                env=env, start_new_session=True)
        lines: list[str] = []
        relay = threading.Thread(target=_relay, args=(proc.stdout, lines, job.progress), daemon=True)
        relay.start()
        try:
            proc.wait(timeout=None if job.time_limit is None else job.time_limit + 60)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"distributed training of {job.label} passed its time limit") from None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            relay.join(timeout=5)
        if proc.returncode != 0 or not Path(job.result_path).exists():
            text = "".join(lines)
            raise DistributedTrainingError(f"torchrun ({n_procs} processes) exited with {proc.returncode}:\n{text[-3000:]}")
        return json.loads(Path(job.result_path).read_text())


class ImageClassificationEvaluator:
    """``evaluator(encoding, epochs)`` -> ``{"value": accuracy in %, "curve": per-epoch metrics, ...}``.

    Use :meth:`at_epochs` for a one-argument objective of a fixed fidelity.
    """

    def __init__(self, dataset: str, n_classes: int | None, n_gpus: int, n_procs: int, builder: str,
                 dataset_config: dict[str, Any], train_split: str, eval_split: str, reparam: bool,
                 recipe: TrainingRecipe, seed: int, time_limit: float | None, progress: bool) -> None:
        self.dataset, self.n_classes, self.builder = dataset, n_classes, builder
        self.n_gpus, self.n_procs = n_gpus, max(n_procs, n_gpus)
        self.dataset_config, self.train_split, self.eval_split = dataset_config, train_split, eval_split
        self.reparam, self.recipe, self.seed = reparam, recipe, seed
        self.time_limit, self.progress = time_limit, progress

    def job(self, encoding: Any, epochs: int) -> Job:
        if not isinstance(epochs, int) or epochs < 1:
            raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
        return Job(_plain(encoding), epochs, self.dataset, self.train_split, self.eval_split, self.dataset_config,
                   self.n_classes, self.builder, self.recipe.to_dict(), self.seed, self.reparam,
                   "cuda" if self.n_gpus > 0 else "cpu", self.time_limit, self.progress, label=str(encoding))

    def data(self) -> tuple[ImageSplit, ImageSplit]:
        """The (train, eval) splits this process trains and evaluates on (loaded once, then cached)."""
        return _splits(self.dataset, self.train_split, self.eval_split, DatasetConfig.from_dict(self.dataset_config))

    def __call__(self, encoding: Any, epochs: int) -> dict[str, Any]:
        job = self.job(encoding, epochs)
        if self.n_procs > 1:
            return _run_torchrun(job, self.n_procs)
        return run_job(job)

    def at_epochs(self, epochs: int) -> AtEpochs:
        """The objective ``encoding -> result`` that trains for ``epochs`` (picklable, for worker pools)."""
        return AtEpochs(self, epochs)


@dataclass
class AtEpochs:
    evaluator: ImageClassificationEvaluator
    epochs: int

    def __call__(self, encoding: Any) -> dict[str, Any]:
        return self.evaluator(encoding, self.epochs)


def create_img_class_evaluator(dataset: str = "mnist5k", n_classes: int | None = None, n_gpus: int = 0,
                               config_to_model_file: str = DEFAULT_BUILDER,
                               dataset_config: dict[str, Any] | None = None, eval_split: str = "test",
                               reparam: bool = False, *, train_split: str = "train", n_procs: int = 1,
                               recipe: TrainingRecipe | dict[str, Any] | None = None, seed: int = 0,
                               time_limit: float | None = None, progress: bool = True) -> ImageClassificationEvaluator:
    """An epochs-as-fidelity objective training networks of a space on an image-classification dataset.

    Args:
        dataset: ``"mnist5k"``, ``"digits"``, an image folder, a ``save_to_disk`` folder or a hub name
            (see :mod:`archtune.datasets.images`).
        n_classes: classes of the head (None: read from the training labels).
        n_gpus: GPUs to train on (0: CPU; more than 1: a torchrun DDP job with NCCL).
        config_to_model_file: where the ``(encoding, n_classes) -> nn.Module`` function is.
        dataset_config: image size, channels, normalisation, augmentation (:class:`~archtune.datasets.images.DatasetConfig`).
        eval_split: the split whose accuracy is the objective (``train_split`` trains).
        reparam: evaluate the re-parameterized (fused) network, for spaces with MobileOne blocks.
        n_procs: CPU processes for DDP (Gloo) when ``n_gpus`` is 0.
        recipe: :class:`~archtune.evaluate.training.TrainingRecipe` or a dict of its fields (optimizer, lr, schedule, label smoothing, ...).
        seed: seeds initialisation, shuffling and augmentation: the same call gives the same result.
        time_limit: seconds per evaluation.
        progress: a line per epoch on stderr.
    """
    if n_gpus < 0 or n_procs < 1:
        raise ConfigError("n_gpus must be >= 0 and n_procs >= 1")
    if n_gpus > 0 and not torch.cuda.is_available():
        raise ConfigError(f"n_gpus={n_gpus} but CUDA is not available here")
    if n_gpus > 0 and n_procs not in (1, n_gpus):
        raise ConfigError(f"with GPUs there is one process per GPU: n_procs={n_procs} does not match n_gpus={n_gpus}")
    load_builder(config_to_model_file)  # fail now, not at the first evaluation
    config = DatasetConfig.from_dict(dataset_config)
    return ImageClassificationEvaluator(dataset, n_classes, n_gpus, n_procs, config_to_model_file,
                                        dict(config.__dict__), train_split, eval_split,
                                        reparam, TrainingRecipe.from_dict(recipe), seed, time_limit, progress)

