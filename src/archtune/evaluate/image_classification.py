"""``create_img_class_evaluator``: an objective that trains a network of the space on an image dataset for a
number of epochs (its fidelity) and returns the evaluation accuracy with the learning curve.

The network comes from ``config_to_model_file``: ``"package.module:function"`` or
``"path/to/file.py:function"`` (a file without ``:function`` must define ``config_to_model``), a function
``(encoding, n_classes) -> nn.Module`` (it also receives ``in_channels=`` when it accepts it). A path
rather than a Python object lets the data-parallel worker processes build the same network.

Images stream from disk through ``torch.utils.data`` workers (:mod:`archtune.datasets.streaming`): memory
does not grow with the dataset. ``device`` and ``device_options`` choose the device, mixed precision,
channels-last, cuDNN autotuning and ``torch.compile`` (:class:`~archtune.evaluate.training.DeviceOptions`).

With ``n_gpus > 1``, ``n_procs > 1`` or ``nnodes > 1`` each evaluation is a ``torchrun`` job (DDP; NCCL on
GPUs, Gloo on CPU) that the evaluator launches, waits for and cleans up; otherwise it trains in the calling
process. Over several nodes, this process is node 0 and every other node runs :func:`serve_node` (``archtune
evaluator node``), which receives each job from node 0 and starts that node's share of it. A crash, NaN
loss, out-of-memory or overrun of ``time_limit`` raises, which a search records as a failed trial.

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
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archtune.datasets.images import DatasetConfig
from archtune.datasets.streaming import (
    ImageDataset,
    StreamingImages,
    default_workers,
    open_split,
    open_stream,
)
from archtune.errors import ConfigError
from archtune.evaluate.checkpoint import (
    check_policy,
    job_checkpoint,
    may_continue,
    schedule_length,
    trial_paths,
)
from archtune.evaluate.training import (
    SINGLE_PROCESS,
    DeviceOptions,
    Rank,
    TrainingRecipe,
    evaluate_accuracy,
    train_and_evaluate,
)
from archtune.nets.mobileone import reparameterize
from archtune.profile.zero_cost import count_parameters
from archtune.space.encoding import encoding_key

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
        module_spec = importlib.util.spec_from_file_location(
            f"archtune_user_model_{abs(hash(path.resolve()))}", path
        )
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
def _splits(
    dataset: str, train_split: str, eval_split: str, config: DatasetConfig
) -> tuple[ImageDataset, ImageDataset]:
    """The random-access (train, eval) splits, un-augmented: opened once per process (a folder is listed,
    Arrow files mapped, normalisation statistics measured), then shared by every evaluation."""
    train = open_split(dataset, train_split, replace(config, augment=False))
    return train, open_split(dataset, eval_split, config, normalise_with=train)


@lru_cache(maxsize=4)
def _stream_stats(
    dataset: str, train_split: str, config: DatasetConfig
) -> tuple[tuple[float, ...], tuple[float, ...], int]:
    train = open_stream(dataset, train_split, config, None, False, 0)
    return train.mean, train.std, train.n_classes


def open_job_data(
    job: Job, rank: Rank = SINGLE_PROCESS
) -> tuple[ImageDataset | StreamingImages, ImageDataset | StreamingImages]:
    """The (train, eval) datasets of ``job`` as this rank reads them: training augmented under the job's
    seed when the dataset config says so."""
    config = DatasetConfig.from_dict(job.dataset_config)
    if config.streaming:
        if not (config.mean and config.std):
            mean, std, _ = _stream_stats(job.dataset, job.train_split, config)
            config = replace(config, mean=mean, std=std)
        train = open_stream(
            job.dataset, job.train_split, config, None, config.augment, job.seed, rank.rank, rank.world
        )
        return train, open_stream(
            job.dataset, job.eval_split, config, train, False, job.seed, rank.rank, rank.world
        )
    train, test = _splits(job.dataset, job.train_split, job.eval_split, config)
    return replace(train, augment=config.augment, seed=job.seed), test


def _with_statistics(dataset: str, train_split: str, eval_split: str, config: DatasetConfig) -> DatasetConfig:
    """``config`` with the training split's mean and std filled in (measured here once, so the ranks of a
    data-parallel job do not each measure them again)."""
    if config.mean and config.std:
        return config
    if config.streaming:
        mean, std, _ = _stream_stats(dataset, train_split, config)
    else:
        train, _ = _splits(dataset, train_split, eval_split, config)
        mean, std = train.mean, train.std
    return replace(config, mean=tuple(mean), std=tuple(std))


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
    schedule_epochs: int = 0  # the LR schedule's length (>= epochs), see archtune.evaluate.checkpoint
    checkpoint_dir: str = ""  # the trial's folder: a checkpoint per epoch, the model at the end
    continue_from: str = ""  # a lower fidelity's final checkpoint to continue from
    device_options: dict[str, Any] = field(default_factory=dict)  # DeviceOptions fields
    num_workers: int = 0  # loader worker processes per rank


def run_job(job: Job, rank: Rank = SINGLE_PROCESS, local_rank: int = 0) -> dict[str, Any]:
    """Train and evaluate one job in this process (one rank of it under DDP)."""
    started = time.monotonic()
    train, test = open_job_data(job, rank)
    n_classes = job.n_classes or train.n_classes
    device = job_device(job.device, local_rank if rank.world > 1 else None)
    options = DeviceOptions.from_dict(job.device_options)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True if options.cudnn_benchmark is None else options.cudnn_benchmark
    torch.manual_seed(job.seed)
    encoding = tuple(job.encoding) if isinstance(job.encoding, list) else job.encoding
    model = build_model(job.builder, encoding, n_classes, train.channels).to(device)
    if options.uses_channels_last(device):
        model = model.to(memory_format=torch.channels_last)
    trained: nn.Module = model
    if rank.world > 1:
        trained = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if options.compile:
        trained = torch.compile(trained)

    def report(row: dict[str, float]) -> None:
        if job.progress and rank.rank == 0:
            print(
                f"[archtune] {job.label} epoch {int(row['epoch'])}/{job.epochs}: loss {row['train_loss_mean']:.4f}, "
                f"eval accuracy {100 * row['eval_accuracy']:.2f}% ({row['seconds']:.1f} s)",
                file=sys.stderr,
                flush=True,
            )

    deadline = None if job.time_limit is None else started + job.time_limit
    hook = job_checkpoint(job, writer=rank.rank == 0)
    curve = train_and_evaluate(
        trained,
        train,
        test,
        schedule_length(job.epochs, job.schedule_epochs),
        TrainingRecipe.from_dict(job.recipe),
        job.seed,
        None,
        device,
        rank,
        deadline,
        report,
        options=options,
        num_workers=job.num_workers,
        checkpoint=hook,
    )
    value = 100 * curve[-1]["eval_accuracy"]
    inference = model
    if job.reparam:
        inference = reparameterize(model)
        value = 100 * evaluate_accuracy(inference, test, device, rank)
    input_shape = [train.channels, *_image_shape(train, DatasetConfig.from_dict(job.dataset_config))]
    hook.save_model(
        model,
        {
            "encoding": encoding_key(encoding),
            "builder": job.builder,
            "n_classes": n_classes,
            "input_shape": input_shape,
            "epochs": job.epochs,
            "value": value,
        },
        inference if job.reparam else None,
    )
    return {
        "value": value,
        "curve": curve,
        "epochs": job.epochs,
        "parameters": count_parameters(model),
        "inference_parameters": count_parameters(inference if job.reparam else reparameterize(model)),
        "seconds": time.monotonic() - started,
        **hook.report(),
    }


def _image_shape(data: ImageDataset | StreamingImages, config: DatasetConfig) -> list[int]:
    if config.image_size is not None:
        return [config.image_size] * 2
    image = data[(0, 0)][0] if isinstance(data, ImageDataset) else next(iter(data))[0]
    return list(image.shape[1:])


def job_device(name: str, local_rank: int | None = None) -> torch.device:
    """The device a job trains on: ``"cpu"``, ``"cuda"`` / ``"cuda:k"``; a data-parallel rank on GPUs takes
    the GPU of its local rank."""
    if name.startswith("cuda") and local_rank is not None:
        return torch.device("cuda", local_rank)
    return torch.device(name)


def resolve_device(device: str | None, n_gpus: int) -> tuple[str, int]:
    """``(device, n_gpus)`` from the evaluator's arguments: ``device=None`` follows ``n_gpus``; ``"auto"``
    is CUDA when there is one; a CUDA device with ``n_gpus=0`` means one GPU."""
    if device is None:
        return ("cuda" if n_gpus > 0 else "cpu"), n_gpus
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device must be 'cpu', 'cuda', 'cuda:<k>' or 'auto', not {device!r}") from None
    if parsed.type not in ("cpu", "cuda"):
        raise ConfigError(f"device must be 'cpu', 'cuda', 'cuda:<k>' or 'auto', not {device!r}")
    if parsed.type == "cpu":
        if n_gpus > 0:
            raise ConfigError(f"device='cpu' contradicts n_gpus={n_gpus}; drop one of them")
        return "cpu", 0
    if not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} but CUDA is not available here")
    if parsed.index is not None and n_gpus > 1:
        raise ConfigError(f"device={device!r} names one GPU but n_gpus={n_gpus}; use device='cuda'")
    return str(parsed), max(n_gpus, 1)


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
RDZV_CONF = ",".join(
    [
        "join_timeout=1800",
        "last_call_timeout=30",
        "close_timeout=600",
        "read_timeout=600",
        "heartbeat_timeout=600",
        "keep_alive_interval=5",
        "keep_alive_max_attempt=120",
    ]
)


def _split_endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"rdzv_endpoint must be HOST:PORT (node 0's address and a free port), not {endpoint!r}"
        )
    return host, int(port)


class JobBoard:
    """Node 0's list of jobs for the other nodes of a multi-node evaluator: a ``torch.distributed.TCPStore``
    on port ``rdzv port + 1`` of node 0, where job ``n`` is posted as JSON under ``job/<n>``."""

    def __init__(self, endpoint: str, host_it: bool, timeout_s: float = 7 * 24 * 3600) -> None:
        import torch.distributed as dist

        host, port = _split_endpoint(endpoint)
        self.store = dist.TCPStore(
            host, port + 1, is_master=host_it, wait_for_workers=False, timeout=timedelta(seconds=timeout_s)
        )
        self.posted = 0

    def post(self, job: dict[str, Any]) -> int:
        number = self.posted
        self.store.set(f"job/{number}", json.dumps(job))
        self.posted += 1
        return number

    def take(self, number: int) -> dict[str, Any]:
        """Job ``number``, waiting for node 0 to post it."""
        return json.loads(self.store.get(f"job/{number}"))


@cache
def _board(endpoint: str) -> JobBoard:
    return JobBoard(endpoint, host_it=True)


def _torchrun_command(
    spec: Path, n_procs: int, nnodes: int, node_rank: int, endpoint: str | None, run_id: str
) -> list[str]:
    if nnodes == 1:
        rendezvous = ["--standalone", "--rdzv-conf", RDZV_CONF]
    else:
        # static rendezvous: node k's processes are ranks k*P .. k*P+P-1, the same on every run, so a
        # multi-node job computes what one process computes in the same order
        rendezvous = [
            f"--nnodes={nnodes}",
            f"--node-rank={node_rank}",
            "--rdzv-backend=static",
            f"--rdzv-endpoint={endpoint}",
            f"--rdzv-id={run_id}",
            "--rdzv-conf",
            "timeout=1800",
        ]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *rendezvous,
        f"--nproc-per-node={n_procs}",
        "-m",
        "archtune.evaluate.ddp_worker",
        str(spec),
    ]


def _run_torchrun(job: Job, n_procs: int, nnodes: int = 1, endpoint: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="archtune-ddp-") as tmp:
        job.result_path = str(Path(tmp) / "result.json")
        spec = Path(tmp) / "job.json"
        spec.write_text(json.dumps(job.__dict__))
        run_id = "archtune-job"
        if nnodes > 1:
            run_id = f"archtune-job-{_board(endpoint).post(job.__dict__)}"  # type: ignore[arg-type]
        command = _torchrun_command(spec, n_procs, nnodes, 0, endpoint, run_id)
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        # a session of its own, so a timeout kills torchrun and every rank it started
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
            start_new_session=True,
        )
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
            raise DistributedTrainingError(
                f"torchrun ({n_procs} processes x {nnodes} nodes) exited with "
                f"{proc.returncode}:\n{text[-3000:]}"
            )
        return json.loads(Path(job.result_path).read_text())


def serve_node(
    rdzv_endpoint: str, node_rank: int, nnodes: int, nproc_per_node: int = 1, max_jobs: int | None = None
) -> int:
    """Run node ``node_rank``'s share of every job a multi-node evaluator on node 0 posts (see
    :class:`JobBoard`), one after another, until node 0's evaluator goes away or ``max_jobs`` are done;
    returns the number of jobs served. The data and the model file must be at the same paths here.

    Example (on each node but node 0, started before or after the search)::

        serve_node("node0.cluster:29500", node_rank=1, nnodes=2, nproc_per_node=4)
        # or: archtune evaluator node --rdzv-endpoint node0.cluster:29500 --node-rank 1 --nnodes 2 --nproc-per-node 4
    """
    if nnodes < 2 or not 0 < node_rank < nnodes:
        raise ConfigError(
            f"serve_node is for nodes 1..nnodes-1 of a job of nnodes >= 2; got node_rank={node_rank}, "
            f"nnodes={nnodes} (node 0 runs the evaluator itself)"
        )
    board = None
    deadline = time.monotonic() + 3600
    while board is None:  # node 0 may start later than this node
        try:
            board = JobBoard(rdzv_endpoint, host_it=False)
        except Exception:  # noqa: BLE001 - the store is not up yet: wait for it
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)
    served = 0
    while max_jobs is None or served < max_jobs:
        try:
            job = board.take(served)
        except Exception:  # noqa: BLE001 - node 0's evaluator has gone: nothing more to serve
            break
        with tempfile.TemporaryDirectory(prefix="archtune-node-") as tmp:
            spec = Path(tmp) / "job.json"
            spec.write_text(
                json.dumps({**job, "result_path": str(Path(tmp) / "result.json"), "progress": False})
            )
            command = _torchrun_command(
                spec, nproc_per_node, nnodes, node_rank, rdzv_endpoint, f"archtune-job-{served}"
            )
            env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
            # a failed share fails the whole job on node 0 as well; this node goes on to the next job
            subprocess.run(command, env=env, check=False)
        served += 1
    return served


class ImageClassificationEvaluator:
    """``evaluator(encoding, epochs)`` -> ``{"value": accuracy in %, "curve": per-epoch metrics, ...}``.

    Use :meth:`at_epochs` for a one-argument objective of a fixed fidelity.
    """

    def __init__(
        self,
        dataset: str,
        n_classes: int | None,
        n_gpus: int,
        n_procs: int,
        builder: str,
        dataset_config: dict[str, Any],
        train_split: str,
        eval_split: str,
        reparam: bool,
        recipe: TrainingRecipe,
        seed: int,
        time_limit: float | None,
        progress: bool,
        checkpoint: bool = True,
        schedule_epochs: int | None = None,
        continue_lo_fi: bool | None = None,
        device: str | None = None,
        device_options: dict[str, Any] | None = None,
        nnodes: int = 1,
        rdzv_endpoint: str | None = None,
    ) -> None:
        self.dataset, self.n_classes, self.builder = dataset, n_classes, builder
        self.n_gpus, self.n_procs = n_gpus, max(n_procs, n_gpus)
        self.dataset_config, self.train_split, self.eval_split = dataset_config, train_split, eval_split
        self.reparam, self.recipe, self.seed = reparam, recipe, seed
        self.time_limit, self.progress = time_limit, progress
        self.checkpoint, self.schedule_epochs, self.continue_lo_fi = (
            checkpoint,
            schedule_epochs,
            continue_lo_fi,
        )
        self.device = device or ("cuda" if n_gpus > 0 else "cpu")
        self.device_options = dict(device_options or {})
        self.nnodes, self.rdzv_endpoint = nnodes, rdzv_endpoint

    def job(self, encoding: Any, epochs: int) -> Job:
        if not isinstance(epochs, int) or epochs < 1:
            raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
        config = DatasetConfig.from_dict(self.dataset_config)
        workers = (
            config.num_workers
            if config.num_workers is not None
            else default_workers(self.dataset, self.n_procs)
        )
        config = _with_statistics(self.dataset, self.train_split, self.eval_split, config)
        return Job(
            _plain(encoding),
            epochs,
            self.dataset,
            self.train_split,
            self.eval_split,
            dict(config.__dict__),
            self.n_classes,
            self.builder,
            self.recipe.to_dict(),
            self.seed,
            self.reparam,
            self.device,
            self.time_limit,
            self.progress,
            label=str(encoding),
            schedule_epochs=self.schedule_epochs or 0,
            **trial_paths(self.checkpoint),
            device_options=dict(self.device_options),
            num_workers=workers,
        )

    def data(self) -> tuple[ImageDataset | StreamingImages, ImageDataset | StreamingImages]:
        """The (train, eval) datasets an evaluation of this process reads (opened once, then cached)."""
        return open_job_data(self.job(None, 1))

    def __call__(self, encoding: Any, epochs: int) -> dict[str, Any]:
        job = self.job(encoding, epochs)
        if self.n_procs > 1 or self.nnodes > 1:
            return _run_torchrun(job, self.n_procs, self.nnodes, self.rdzv_endpoint)
        return run_job(job)

    def at_epochs(self, epochs: int) -> AtEpochs:
        """The objective ``encoding -> result`` that trains for ``epochs`` (picklable, for worker pools)."""
        return AtEpochs(self, epochs)


@dataclass
class AtEpochs:
    evaluator: ImageClassificationEvaluator
    epochs: int
    #: a time-limited search hands it the trial (for its checkpoint folder) in the child process too
    uses_trial_context = True

    def __call__(self, encoding: Any) -> dict[str, Any]:
        return self.evaluator(encoding, self.epochs)

    def can_continue_from(self, lower: Any) -> bool:
        """Whether this objective may continue ``lower``'s final checkpoint (see
        :func:`archtune.evaluate.checkpoint.may_continue`): asked by a search with both fidelities."""
        return may_continue(self, lower)


def create_img_class_evaluator(
    dataset: str = "mnist5k",
    n_classes: int | None = None,
    n_gpus: int = 0,
    config_to_model_file: str = DEFAULT_BUILDER,
    dataset_config: dict[str, Any] | None = None,
    eval_split: str = "test",
    reparam: bool = False,
    *,
    train_split: str = "train",
    n_procs: int = 1,
    recipe: TrainingRecipe | dict[str, Any] | None = None,
    seed: int = 0,
    time_limit: float | None = None,
    progress: bool = True,
    checkpoint: bool = True,
    schedule_epochs: int | None = None,
    continue_lo_fi: bool | None = None,
    device: str | None = None,
    device_options: DeviceOptions | dict[str, Any] | None = None,
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
) -> ImageClassificationEvaluator:
    """An epochs-as-fidelity objective training networks of a space on an image-classification dataset.

    Args:
        dataset: ``"mnist5k"``, ``"digits"``, an image folder, a ``save_to_disk`` folder or a hub name
            (see :mod:`archtune.datasets.streaming`), read image by image by loader workers.
        n_classes: classes of the head (None: read from the training labels).
        n_gpus: GPUs to train on (0: CPU; more than 1: a torchrun DDP job with NCCL).
        config_to_model_file: where the ``(encoding, n_classes) -> nn.Module`` function is.
        dataset_config: image size, channels, normalisation, augmentation (:class:`~archtune.datasets.images.DatasetConfig`).
        eval_split: the split whose accuracy is the objective (``train_split`` trains).
        reparam: evaluate the re-parameterized (fused) network, for spaces with MobileOne blocks.
        n_procs: CPU processes for DDP (Gloo) when ``n_gpus`` is 0 (per node with ``nnodes``).
        recipe: :class:`~archtune.evaluate.training.TrainingRecipe` or a dict of its fields (optimizer, lr, schedule, label smoothing, ...).
        seed: seeds initialisation, shuffling and augmentation: the same call gives the same result.
        time_limit: seconds per evaluation.
        progress: a line per epoch on stderr.
        checkpoint: inside a search, save the training state after every epoch in the trial's folder of the
            search's work directory (an evaluation sent again resumes from it) and the trained model at the
            end (the search keeps the best one): see docs/guides/checkpoints.md.
        schedule_epochs: the learning-rate schedule's length in epochs when longer than the run's (e.g. the
            high fidelity's epochs: a low fidelity then trains the first epochs of the high fidelity's run).
        continue_lo_fi: whether a high-fidelity evaluation of an encoding already screened continues from the
            low fidelity's final checkpoint (charged the remaining cost): None (default) only when that gives
            the result of training from scratch (the same schedule length, or a step schedule), True also
            when it does not, False never.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:k"`` or ``"auto"`` (None: CUDA when ``n_gpus > 0``); a CUDA
            device with ``n_gpus=0`` means one GPU.
        device_options: mixed precision (``amp``), ``channels_last``, ``cudnn_benchmark``, ``compile``
            (:class:`~archtune.evaluate.training.DeviceOptions`; defaults: bf16/fp16 AMP, channels-last
            and cuDNN autotuning on GPU, float32 on CPU, no compilation).
        nnodes: nodes per evaluation (torchrun multi-node); this process is node 0 and each other node
            runs :func:`serve_node` with the same ``rdzv_endpoint``.
        rdzv_endpoint: ``HOST:PORT`` of node 0 for ``nnodes > 1`` (PORT and PORT+1 must be free).
    """
    if n_gpus < 0 or n_procs < 1 or nnodes < 1:
        raise ConfigError("n_gpus must be >= 0, n_procs >= 1 and nnodes >= 1")
    if nnodes > 1 and not rdzv_endpoint:
        raise ConfigError(f"nnodes={nnodes} needs rdzv_endpoint='HOST:PORT' (node 0's address, a free port)")
    if rdzv_endpoint:
        _split_endpoint(rdzv_endpoint)
    device, n_gpus = resolve_device(device, n_gpus)
    options = DeviceOptions.from_dict(device_options)
    if n_gpus > 0 and not torch.cuda.is_available():
        raise ConfigError(f"n_gpus={n_gpus} but CUDA is not available here")
    if n_gpus > 0 and n_procs not in (1, n_gpus):
        raise ConfigError(
            f"with GPUs there is one process per GPU: n_procs={n_procs} does not match n_gpus={n_gpus}"
        )
    check_policy(checkpoint, schedule_epochs, continue_lo_fi)
    load_builder(config_to_model_file)  # fail now, not at the first evaluation
    config = DatasetConfig.from_dict(dataset_config)
    return ImageClassificationEvaluator(
        dataset,
        n_classes,
        n_gpus,
        n_procs,
        config_to_model_file,
        dict(config.__dict__),
        train_split,
        eval_split,
        reparam,
        TrainingRecipe.from_dict(recipe),
        seed,
        time_limit,
        progress,
        checkpoint,
        schedule_epochs,
        continue_lo_fi,
        device,
        dict(options.__dict__),
        nnodes,
        rdzv_endpoint,
    )
