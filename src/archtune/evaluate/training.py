"""The training loop of the image-classification evaluator: one recipe for one process or for a rank of a
data-parallel (DDP) group, deterministic under a seed, with per-epoch metrics.

Data parallelism is arranged so that W ranks compute what one process computes: every rank draws the same
global shuffle and augmentation, keeps its 1/W slice of each global batch, and DDP averages the gradients,
which equals the gradient of the global batch's mean loss (networks with batch norm see per-rank batch
statistics, as with any DDP training without SyncBatchNorm).

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

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from archtune.datasets.images import ImageSplit, augment_batch
from archtune.errors import ConfigError
from archtune.evaluate.loop import count_correct


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
            raise ConfigError(f"unknown recipe keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**recipe)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        if self.optimizer == "sgd":
            return torch.optim.SGD(model.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
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


@dataclass(frozen=True)
class Rank:
    """This process's place in a data-parallel group (``world == 1``: a single process)."""

    rank: int = 0
    world: int = 1

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            import torch.distributed as dist

            values = values.clone()
            dist.all_reduce(values)
        return values


SINGLE_PROCESS = Rank()


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """The epoch's global batches; the last, partial one is dropped when a full one exists (so every
    data-parallel rank gets equal shares)."""
    order = torch.randperm(n, generator=generator)
    full = [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]
    return full or [order]


def evaluate_accuracy(model: nn.Module, data: ImageSplit, device: torch.device, rank: Rank = SINGLE_PROCESS,
                      chunk: int = 500) -> float:
    """Share of ``data`` classified correctly (each rank counts its strided share; summed over ranks)."""
    index = torch.arange(rank.rank, len(data.labels), rank.world)
    correct = count_correct(model, data.images, data.labels, index, chunk, device)
    return float(rank.all_sum(torch.tensor([float(correct)]))[0]) / len(data.labels)


def train_and_evaluate(model: nn.Module, train: ImageSplit, test: ImageSplit, epochs: int, recipe: TrainingRecipe,
                       seed: int, augment: tuple[int, bool] | None = None, device: torch.device | str = "cpu",
                       rank: Rank = SINGLE_PROCESS, deadline: float | None = None,
                       on_epoch: Callable[[dict[str, float]], None] | None = None) -> list[dict[str, float]]:
    """Train ``model`` (already wrapped in DDP when ``rank.world > 1``) for ``epochs`` and return one dict
    of metrics per epoch. ``augment`` = (pad, hflip) turns on random crops/flips; ``deadline`` is a
    ``time.monotonic()`` value past which :class:`TrainingTimeout` is raised.

    Raises:
        TrainingDiverged: on a non-finite loss.
    """
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    optimizer = recipe.make_optimizer(model)
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    n = len(train.labels)
    if recipe.batch_size % rank.world:
        raise ConfigError(f"batch_size {recipe.batch_size} must divide among {rank.world} data-parallel processes")
    steps_per_epoch = max(1, n // recipe.batch_size)  # len(_batches(...)): full batches, or one partial
    step, curve = 0, []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        losses = []
        for batch in _batches(n, recipe.batch_size, generator):
            images = train.images[batch]
            if augment is not None:
                images = augment_batch(images, generator, *augment)
            share = len(batch) // rank.world
            mine = slice(rank.rank * share, (rank.rank + 1) * share)
            lr = recipe.lr_at(step, steps_per_epoch, epochs)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = criterion(model(images[mine].to(device)), train.labels[batch][mine].to(device))
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"non-finite training loss {float(loss.detach())} at epoch {epoch}, step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            step += 1
            if deadline is not None and time.monotonic() > deadline:
                raise TrainingTimeout(f"time limit reached during epoch {epoch}")
        batch_losses = (rank.all_sum(torch.tensor(losses, dtype=torch.float64)) / rank.world).tolist()
        row = {"epoch": epoch, "train_loss_mean": statistics.fmean(batch_losses),
               "train_loss_median": statistics.median(batch_losses),
               "eval_accuracy": evaluate_accuracy(model, test, device, rank), "lr": lr,
               "seconds": time.perf_counter() - start}
        curve.append(row)
        if on_epoch is not None:
            on_epoch(row)
    return curve
