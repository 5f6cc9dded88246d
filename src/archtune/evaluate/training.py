"""The training loop of the image-classification evaluator: one recipe for one process or for a rank of a
data-parallel (DDP) group, deterministic under a seed, with per-epoch metrics.

Data come through ``torch.utils.data.DataLoader`` (worker processes decode and augment; pinned memory on
GPU). Data parallelism is arranged so that W ranks compute what one process computes: every rank draws the
same global shuffle of the epoch, keeps its 1/W slice of each global batch, and DDP averages the gradients,
which equals the gradient of the global batch's mean loss (networks with batch norm see per-rank batch
statistics, as with any DDP training without SyncBatchNorm). An image's augmentation is seeded by
(seed, epoch, image), so it is the same whichever rank or worker prepares it.

On GPU (:class:`DeviceOptions`): automatic mixed precision (bf16 where the GPU supports it, else fp16 with a
gradient scaler; off on CPU unless asked for), channels-last memory format, cuDNN autotuning and optionally
``torch.compile``.

Example:
    >>> import torch
    >>> from archtune.datasets.images import ImageSplit
    >>> x, y = torch.randn(64, 1, 4, 4), torch.randint(0, 2, (64,))
    >>> data = ImageSplit(x, y, 2, (0.0,), (1.0,))
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    >>> curve = train_and_evaluate(net, data, data, epochs=2, recipe=TrainingRecipe(batch_size=16), seed=0)
    >>> [sorted(row) for row in curve][0]
    ['epoch', 'eval_accuracy', 'lr', 'seconds', 'train_loss_mean', 'train_loss_median']
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, default_collate

from archtune.datasets.images import ImageSplit
from archtune.datasets.streaming import ImageDataset, StreamingImages, augment_one
from archtune.errors import ConfigError


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite: the trial fails, the search goes on."""


class TrainingTimeout(TimeoutError):
    """The evaluation ran past its time limit."""


@dataclass(frozen=True)
class TrainingRecipe:
    """Optimiser, schedule and batch: SGD (momentum, nesterov off) or AdamW; a cosine schedule over all
    steps of the run or a step schedule (``gamma`` every ``step_epochs``), after an optional linear warm-up
    of ``warmup_epochs`` (fractions allowed; capped at half the run); optional label smoothing."""

    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    step_epochs: int = 30
    gamma: float = 0.1
    label_smoothing: float = 0.0
    batch_size: int = 128
    warmup_epochs: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adamw"):
            raise ConfigError(f"optimizer must be 'sgd' or 'adamw', not {self.optimizer!r}")
        if self.schedule not in ("cosine", "step"):
            raise ConfigError(f"schedule must be 'cosine' or 'step', not {self.schedule!r}")
        if self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("batch_size and lr must be positive")

    @classmethod
    def from_dict(cls, recipe: dict[str, Any] | TrainingRecipe | None) -> TrainingRecipe:
        if recipe is None or isinstance(recipe, TrainingRecipe):
            return recipe or cls()
        unknown = set(recipe) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(
                f"unknown recipe keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**recipe)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        if self.optimizer == "sgd":
            return torch.optim.SGD(
                model.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
            )
        return torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def lr_at(self, step: int, steps_per_epoch: int, epochs: int) -> float:
        """Learning rate of optimisation step ``step`` (0-based) in a run of ``epochs`` epochs."""
        warmup = int(min(self.warmup_epochs, epochs / 2) * steps_per_epoch)
        if step < warmup:
            return self.lr * (step + 1) / warmup
        if self.schedule == "cosine":
            total = max(1, steps_per_epoch * epochs - warmup)
            return 0.5 * self.lr * (1 + math.cos(math.pi * (step - warmup) / total))
        return self.lr * self.gamma ** ((step // steps_per_epoch) // self.step_epochs)


AMP_MODES = ("auto", "bf16", "fp16", "off")


@dataclass(frozen=True)
class DeviceOptions:
    """How the loop uses its device.

    Args:
        amp: ``"auto"`` (bf16 on a GPU that supports it, else fp16 with a gradient scaler; off on CPU),
            ``"bf16"``, ``"fp16"`` (with a gradient scaler) or ``"off"`` (float32). bf16/fp16 also work on
            CPU when asked for explicitly.
        channels_last: NHWC memory format for the network and its inputs (None: on for CUDA).
        cudnn_benchmark: let cuDNN time its algorithms per input shape (None: on for CUDA; results may
            then differ in the last bits between runs).
        compile: ``torch.compile`` the network (minutes of compilation per network; pays off for long runs).
    """

    amp: str = "auto"
    channels_last: bool | None = None
    cudnn_benchmark: bool | None = None
    compile: bool = False

    def __post_init__(self) -> None:
        if self.amp not in AMP_MODES:
            raise ConfigError(f"amp must be one of {', '.join(AMP_MODES)}, not {self.amp!r}")

    @classmethod
    def from_dict(cls, options: dict[str, Any] | DeviceOptions | None) -> DeviceOptions:
        if options is None or isinstance(options, DeviceOptions):
            return options or cls()
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(
                f"unknown device option keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**options)

    def amp_dtype(self, device: torch.device) -> torch.dtype | None:
        """The autocast dtype on ``device`` (None: float32)."""
        if self.amp == "off" or (self.amp == "auto" and device.type != "cuda"):
            return None
        if self.amp == "auto":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if self.amp == "bf16" else torch.float16

    def uses_channels_last(self, device: torch.device) -> bool:
        return device.type == "cuda" if self.channels_last is None else self.channels_last


@dataclass(frozen=True)
class Rank:
    """This process's place in a data-parallel group (``world == 1``: a single process); collectives run
    on ``device`` (NCCL only reduces GPU tensors)."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        return self._reduce(values, "sum")

    def all_min(self, values: torch.Tensor) -> torch.Tensor:
        return self._reduce(values, "min")

    def _reduce(self, values: torch.Tensor, op: str) -> torch.Tensor:
        if self.world == 1:
            return values
        import torch.distributed as dist

        out = values.to(self.device, copy=True)
        dist.all_reduce(out, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MIN)
        return out.to(values.device)


SINGLE_PROCESS = Rank()


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of ``epoch``'s shuffle: a function of (seed, epoch) alone, so a run resumed at any
    epoch draws the same order as an uninterrupted one."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence((seed, epoch)).generate_state(1)[0]))


class TensorImages(torch.utils.data.Dataset):
    """An in-memory :class:`~archtune.datasets.images.ImageSplit` as a dataset of ``(epoch, i)`` keys,
    fetched a batch at a time (no per-image Python work unless augmenting)."""

    def __init__(self, split: ImageSplit, augment: tuple[int, bool] | None, seed: int) -> None:
        self.split, self.augment, self.seed, self.n_classes = split, augment, seed, split.n_classes
        self.labels = split.labels

    def __len__(self) -> int:
        return len(self.split.labels)

    def __getitems__(self, keys: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.tensor([i for _, i in keys], dtype=torch.long)
        images = self.split.images[index]
        if self.augment is not None:
            images = torch.stack(
                [
                    augment_one(im, np.random.default_rng((self.seed, e, i)), *self.augment)
                    for im, (e, i) in zip(images, keys, strict=True)
                ]
            )
        return images, self.split.labels[index]


def _collate(batch: Any) -> Any:
    """Batches already assembled by ``__getitems__`` pass through; lists of samples are stacked."""
    return batch if isinstance(batch, tuple) else default_collate(batch)


class GlobalBatches(torch.utils.data.Sampler):
    """This rank's part of each global batch of an epoch, as ``(epoch, i)`` keys: the permutation comes
    from :func:`epoch_generator`; the last, partial batch is dropped when a full one exists (so every rank
    gets an equal share). Call ``set_epoch()`` before iterating."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: Rank) -> None:
        self.n, self.batch_size, self.seed, self.rank, self.epoch = n, batch_size, seed, rank, 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return max(1, self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = torch.randperm(self.n, generator=epoch_generator(self.seed, self.epoch)).tolist()
        full = [
            order[i : i + self.batch_size] for i in range(0, self.n - self.batch_size + 1, self.batch_size)
        ]
        for batch in full or [order]:
            share = len(batch) // self.rank.world
            yield [(self.epoch, i) for i in batch[self.rank.rank * share : (self.rank.rank + 1) * share]]


class StridedChunks(torch.utils.data.Sampler):
    """Evaluation: this rank's strided share of the split, ``chunk`` images at a time."""

    def __init__(self, n: int, chunk: int, rank: Rank) -> None:
        self.index, self.chunk = list(range(rank.rank, n, rank.world)), chunk

    def __len__(self) -> int:
        return math.ceil(len(self.index) / self.chunk)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for start in range(0, len(self.index), self.chunk):
            yield [(0, i) for i in self.index[start : start + self.chunk]]


Data = ImageSplit | ImageDataset | StreamingImages | TensorImages


def as_dataset(data: Data, augment: tuple[int, bool] | None = None, seed: int = 0) -> Any:
    """In-memory splits wrapped as :class:`TensorImages` (``augment``: their crop padding and flip);
    streaming and on-the-fly datasets as they are (they carry their own augmentation)."""
    return TensorImages(data, augment, seed) if isinstance(data, ImageSplit) else data


def make_loader(
    data: Any,
    batch_size: int,
    rank: Rank,
    seed: int,
    train: bool,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """The DataLoader of one split: global batches (training) or strided chunks (evaluation) for
    random-access data, per-rank batches of a stream; workers stay alive across epochs."""
    common: dict[str, Any] = {
        "num_workers": num_workers,
        "pin_memory": pin_memory,
        "persistent_workers": num_workers > 0,
        "collate_fn": _collate,
    }
    if num_workers > 0:
        common["prefetch_factor"] = 4
    if isinstance(data, StreamingImages):
        return DataLoader(data, batch_size=batch_size // rank.world, drop_last=train, **common)
    sampler = (
        GlobalBatches(len(data), batch_size, seed, rank)
        if train
        else StridedChunks(len(data), batch_size, rank)
    )
    return DataLoader(data, batch_sampler=sampler, **common)


def _set_epoch(loader: DataLoader, epoch: int) -> None:
    for part in (loader.batch_sampler, loader.dataset):
        if hasattr(part, "set_epoch"):
            part.set_epoch(epoch)


def _agreed(batches: Iterator[Any], rank: Rank, streaming: bool) -> Iterator[Any]:
    """A stream's ranks may hold unequal shares: stop every rank at the first step where one has no batch
    left (a rank stepping alone would wait for its peers' gradients forever)."""
    if not streaming or rank.world == 1:
        yield from batches
        return
    while True:
        batch = next(batches, None)
        if float(rank.all_min(torch.tensor([0.0 if batch is None else 1.0]))[0]) == 0.0:
            return
        yield batch


@dataclass
class TrainState:
    """Everything one training run carries from epoch to epoch: the network (DDP-wrapped or compiled as
    it trains), its optimiser, the fp16 gradient scaler (or None), the optimisation steps taken and the
    per-epoch metrics so far (``len(curve)`` epochs are done)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None = None
    step: int = 0
    curve: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class LoopSettings:
    """The fixed parts of a run that every epoch needs."""

    recipe: TrainingRecipe
    epochs: int
    steps_per_epoch: int
    device: torch.device
    rank: Rank
    amp_dtype: torch.dtype | None
    channels_last: bool
    deadline: float | None
    streaming: bool

    def to_device(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.to(self.device, non_blocking=True)
        if self.channels_last and images.dim() == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels.to(self.device, non_blocking=True)

    def autocast(self) -> Any:
        return torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        )


def train_one_epoch(
    state: TrainState, loader: DataLoader, epoch: int, settings: LoopSettings, criterion: nn.Module
) -> tuple[list[float], float]:
    """One epoch of minibatch training; returns this rank's batch losses and the last learning rate.

    Losses stay on the device and are read back every few steps on GPU (each read waits for the GPU), every
    step on CPU; a non-finite one raises :class:`TrainingDiverged`."""
    _set_epoch(loader, epoch)
    state.model.train()
    check_every = 16 if settings.device.type == "cuda" else 1
    pending: list[torch.Tensor] = []
    losses: list[float] = []
    lr = settings.recipe.lr_at(state.step, settings.steps_per_epoch, settings.epochs)

    def flush() -> None:
        values = torch.stack(pending).float().tolist() if pending else []
        pending.clear()
        for value in values:
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"non-finite training loss {value} at epoch {epoch}, step {state.step}"
                )
        losses.extend(values)

    batches = itertools.islice(iter(loader), settings.steps_per_epoch)
    for images, labels in _agreed(batches, settings.rank, settings.streaming):
        lr = settings.recipe.lr_at(state.step, settings.steps_per_epoch, settings.epochs)
        for group in state.optimizer.param_groups:
            group["lr"] = lr
        images, labels = settings.to_device(images, labels)
        with settings.autocast():
            loss = criterion(state.model(images), labels)
        state.optimizer.zero_grad(set_to_none=True)
        if state.scaler is not None:
            state.scaler.scale(loss).backward()
            state.scaler.step(state.optimizer)
            state.scaler.update()
        else:
            loss.backward()
            state.optimizer.step()
        pending.append(loss.detach())
        state.step += 1
        if len(pending) >= check_every:
            flush()
        if settings.deadline is not None and time.monotonic() > settings.deadline:
            raise TrainingTimeout(f"time limit reached during epoch {epoch}")
    flush()
    return losses, lr


@torch.no_grad()
def evaluate_accuracy(
    model: nn.Module,
    data: Data,
    device: torch.device | str,
    rank: Rank = SINGLE_PROCESS,
    chunk: int = 500,
    loader: DataLoader | None = None,
    settings: LoopSettings | None = None,
) -> float:
    """Share of ``data`` classified correctly (each rank counts its share; summed over ranks)."""
    device = torch.device(device)
    loader = loader or make_loader(as_dataset(data), chunk, rank, 0, train=False)
    model.eval()
    correct = counted = 0
    for images, labels in _agreed(iter(loader), rank, isinstance(loader.dataset, StreamingImages)):
        if settings is not None:
            images, labels = settings.to_device(images, labels)
            with settings.autocast():
                logits = model(images)
        else:
            images, labels = images.to(device), labels.to(device)
            logits = model(images)
        correct += int((logits.argmax(dim=1) == labels).sum())
        counted += len(labels)
    total = rank.all_sum(torch.tensor([float(correct), float(counted)], dtype=torch.float64))
    return float(total[0]) / max(1.0, float(total[1]))


def new_state(
    model: nn.Module, recipe: TrainingRecipe, device: torch.device, amp_dtype: torch.dtype | None
) -> TrainState:
    """A fresh run: the recipe's optimiser, and a gradient scaler when training in fp16."""
    scaler = torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None
    return TrainState(model, recipe.make_optimizer(model), scaler)


def train_and_evaluate(
    model: nn.Module,
    train: Data,
    test: Data,
    epochs: int,
    recipe: TrainingRecipe,
    seed: int,
    augment: tuple[int, bool] | None = None,
    device: torch.device | str = "cpu",
    rank: Rank = SINGLE_PROCESS,
    deadline: float | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    *,
    options: DeviceOptions | None = None,
    num_workers: int = 0,
    state: TrainState | None = None,
    checkpoint: Any = None,
) -> list[dict[str, float]]:
    """Train ``model`` (already on ``device``, and wrapped in DDP when ``rank.world > 1``) for ``epochs``
    and return one dict of metrics per epoch.

    ``train``/``test`` are in-memory :class:`~archtune.datasets.images.ImageSplit` (``augment`` = (pad,
    hflip) turns on their random crops/flips) or :class:`~archtune.datasets.streaming.ImageDataset` /
    :class:`~archtune.datasets.streaming.StreamingImages` (augmented as they were opened), read by
    ``num_workers`` loader processes. ``deadline`` is a ``time.monotonic()`` value past which
    :class:`TrainingTimeout` is raised. ``state`` continues a run (its ``curve`` says how many epochs are
    done); by default a fresh one starts. ``checkpoint`` (an
    :class:`~archtune.evaluate.checkpoint.EpochCheckpoint`) restores the state it holds before the first
    epoch and saves it after each; its ``save`` returning False ends the run early (a low fidelity that
    trains the first epochs of a longer schedule).

    Raises:
        TrainingDiverged: on a non-finite loss.
    """
    device = torch.device(device)
    options = options or DeviceOptions()
    if recipe.batch_size % rank.world:
        raise ConfigError(
            f"batch_size {recipe.batch_size} must divide among {rank.world} data-parallel processes"
        )
    train_data, test_data = as_dataset(train, augment, seed), as_dataset(test)
    pin = device.type == "cuda"
    train_loader = make_loader(train_data, recipe.batch_size, rank, seed, True, num_workers, pin)
    test_loader = make_loader(test_data, min(500, 2 * recipe.batch_size), rank, seed, False, num_workers, pin)
    amp_dtype = options.amp_dtype(device)
    settings = LoopSettings(
        recipe,
        epochs,
        max(1, len(train_data) // recipe.batch_size),
        device,
        rank,
        amp_dtype,
        options.uses_channels_last(device),
        deadline,
        isinstance(train_data, StreamingImages),
    )
    state = state or new_state(model, recipe, device, amp_dtype)
    if checkpoint is not None:
        # no training generator to restore: shuffles and augmentations are functions of (seed, epoch)
        _, state.step, state.curve = checkpoint.restore(state.model, state.optimizer, None, state.scaler)
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    for epoch in range(len(state.curve) + 1, epochs + 1):
        start = time.perf_counter()
        losses, lr = train_one_epoch(state, train_loader, epoch, settings, criterion)
        # every rank's mean over its batches, averaged: the global batches' mean loss (equal shares)
        batch_losses = (rank.all_sum(torch.tensor(losses, dtype=torch.float64)) / rank.world).tolist()
        row = {
            "epoch": epoch,
            "train_loss_mean": statistics.fmean(batch_losses),
            "train_loss_median": statistics.median(batch_losses),
            "eval_accuracy": evaluate_accuracy(
                state.model, test_data, device, rank, loader=test_loader, settings=settings
            ),
            "lr": lr,
            "seconds": time.perf_counter() - start,
        }
        state.curve.append(row)
        if on_epoch is not None:
            on_epoch(row)
        if checkpoint is not None and not checkpoint.save(
            epoch, state.step, state.curve, state.model, state.optimizer, None, state.scaler
        ):
            break
    return state.curve
