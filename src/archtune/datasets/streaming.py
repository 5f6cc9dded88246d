"""Streaming image data for the evaluator: images are decoded, resized, normalised and augmented one at a
time by ``torch.utils.data`` worker processes, so memory does not grow with the dataset.

A *source* knows how many images a split has, their labels (a compact NumPy array) and how to decode image
``i``; it never holds decoded images, except the small built-in sets, which live in memory anyway:

- :class:`TensorSource`: ``"mnist5k"`` and ``"digits"`` (and any in-memory tensors);
- :class:`FolderSource`: ``DIR/<split>/<class>/<image>`` (paths kept as one NumPy byte array, so forked
  workers do not copy them page by page through reference counts);
- :class:`HFSource`: a ``save_to_disk`` folder or a Hugging Face hub name (with an optional config); the
  Arrow files are memory-mapped and an image is decoded only when asked for;
- :class:`StreamingImages`: ``streaming=True``, the dataset read as a stream (hub streaming, or a
  ``save_to_disk`` folder read sequentially), shuffled through a buffer and split among ranks.

:class:`ImageDataset` turns a source into a map-style dataset of ``(image, label)``; an index is
``(epoch, i)``, and the random crop and flip of image ``i`` in ``epoch`` are drawn from a generator seeded
with ``(seed, epoch, i)``, so the result does not depend on the number of workers, on the data-parallel
rank that draws it, or on where a resumed run starts.

Example:
    >>> cfg = DatasetConfig(image_size=16, channels=3)
    >>> train = open_split("mnist5k", "train", cfg)
    >>> len(train), train.n_classes, train.channels
    (4000, 10, 3)
    >>> image, label = train[(1, 0)]
    >>> tuple(image.shape), image.dtype, label in range(10)
    ((3, 16, 16), torch.float32, True)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archtune.datasets.images import (
    BUILT_IN,
    IMAGE_SUFFIXES,
    DatasetConfig,
    _builtin,
    _hf_split,
    _pil_to_array,
)
from archtune.errors import ConfigError

#: Images (at most) whose pixels give the normalisation mean and std when ``dataset_config`` does not.
STATS_IMAGES = 2048


class TensorSource:
    """Images already in memory as float (N, C, H, W) in [0, 1] and int64 labels (the built-in sets)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels.numpy().astype(np.int64)
        self.n_classes = int(self.labels.max()) + 1 if len(self.labels) else 0

    def __len__(self) -> int:
        return len(self.labels)

    def load(self, i: int) -> torch.Tensor:
        return self.images[i]


def _decode(image: Any, image_size: int | None) -> torch.Tensor:
    """A PIL image as float (C, H, W) in [0, 1]; JPEG decoders shrink by a power of two first when the
    target size allows it (``draft``), so large photos are never decoded at full resolution for nothing."""
    if image_size is not None and getattr(image, "format", None) == "JPEG":
        image.draft(image.mode if image.mode in ("L", "RGB") else "RGB", (image_size, image_size))
    return torch.from_numpy(_pil_to_array(image))


class FolderSource:
    """An image folder split: ``root/split/<class>/<image>``; class names sorted give the labels."""

    def __init__(self, root: Path, split: str, image_size: int | None) -> None:
        base = root / split
        if not base.is_dir():
            raise ConfigError(f"image folder {root} has no {split!r} split (expected {base}/<class>/<image>)")
        # class names from every split, so that a split missing a class keeps the others' labels
        self.classes = sorted(
            {p.name for d in root.iterdir() if d.is_dir() for p in d.iterdir() if p.is_dir()}
        )
        if not self.classes:
            raise ConfigError(f"no class folders in {base}")
        paths, labels = [], []
        for label, name in enumerate(self.classes):
            folder = base / name
            for entry in sorted(os.scandir(folder), key=lambda e: e.name) if folder.is_dir() else []:
                if os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
                    paths.append(os.fsencode(entry.path))
                    labels.append(label)
        if not paths:
            raise ConfigError(f"no images under {base}")
        self.paths, self.labels = np.array(paths), np.array(labels, dtype=np.int64)
        self.n_classes, self.image_size = len(self.classes), image_size

    def __len__(self) -> int:
        return len(self.labels)

    def load(self, i: int) -> torch.Tensor:
        from PIL import Image

        with Image.open(os.fsdecode(self.paths[i])) as image:
            return _decode(image, self.image_size)


def _hf_columns(features: Any, dataset: str) -> tuple[str, str]:
    import datasets

    image_columns = [k for k, f in features.items() if isinstance(f, datasets.Image)]
    label_column = next((k for k in ("label", "labels") if k in features), None)
    if not image_columns or label_column is None:
        raise ConfigError(f"{dataset}: need an image column and a 'label' column; found {sorted(features)}")
    return image_columns[0], label_column


class HFSource:
    """A Hugging Face split with random access (memory-mapped Arrow): labels read as one column, images
    decoded one by one."""

    def __init__(self, dataset: str, split: str, config: DatasetConfig) -> None:
        self.data = _hf_split(dataset, split, config.hf_config, streaming=False)
        self.image_column, label_column = _hf_columns(self.data.features, dataset)
        self.labels = np.asarray(self.data[label_column], dtype=np.int64)
        names = getattr(self.data.features[label_column], "num_classes", None)
        self.n_classes = int(names or (self.labels.max() + 1))
        self.image_size = config.image_size

    def __len__(self) -> int:
        return len(self.labels)

    def load(self, i: int) -> torch.Tensor:
        return _decode(self.data[int(i)][self.image_column], self.image_size)


def open_source(dataset: str, split: str, config: DatasetConfig) -> TensorSource | FolderSource | HFSource:
    """The random-access source of ``dataset``'s ``split`` (see the module docstring)."""
    if dataset in BUILT_IN:
        return TensorSource(*_builtin(dataset, split))
    path = Path(dataset)
    if (
        path.is_dir()
        and not (path / "dataset_dict.json").exists()
        and not (path / "dataset_info.json").exists()
    ):
        return FolderSource(path, split, config.image_size)
    return HFSource(dataset, split, config)


def prepare(image: torch.Tensor, config: DatasetConfig) -> torch.Tensor:
    """A decoded (C, H, W) image resized (antialiased bilinear) and channel-matched as ``config`` says."""
    if config.image_size is not None and image.shape[-2:] != (config.image_size, config.image_size):
        image = torch.nn.functional.interpolate(
            image[None], size=(config.image_size,) * 2, mode="bilinear", antialias=True, align_corners=False
        )[0]
    if config.channels is not None and image.shape[0] != config.channels:
        if config.channels == 3 and image.shape[0] == 1:
            image = image.expand(3, *image.shape[1:])
        elif config.channels == 1:
            image = image.mean(dim=0, keepdim=True)
        else:
            raise ConfigError(f"cannot turn {image.shape[0]}-channel images into {config.channels} channels")
    return image


def channel_stats(
    source: Any, config: DatasetConfig, limit: int = STATS_IMAGES
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of the prepared pixels of up to ``limit`` images (evenly spaced through the
    split, so the same images every time), accumulated in float64 without keeping the images."""
    n = len(source)
    picks = np.unique(np.linspace(0, n - 1, min(n, limit)).round().astype(np.int64))
    total = squares = None
    pixels = 0
    for i in picks:
        image = prepare(source.load(int(i)), config).double()
        flat = image.reshape(image.shape[0], -1)
        total = flat.sum(1) if total is None else total + flat.sum(1)
        squares = (flat**2).sum(1) if squares is None else squares + (flat**2).sum(1)
        pixels += flat.shape[1]
    mean = total / pixels
    std = (squares / pixels - mean**2).clamp_min(0).sqrt().clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())


def augment_one(image: torch.Tensor, rng: np.random.Generator, pad: int, hflip: bool) -> torch.Tensor:
    """Random crop after zero padding (of the normalised image: the mean colour) and random flip."""
    _, h, w = image.shape
    dy, dx = rng.integers(0, 2 * pad + 1, size=2)
    flip = hflip and rng.random() < 0.5
    padded = torch.nn.functional.pad(image, [pad] * 4)
    out = padded[:, dy : dy + h, dx : dx + w]
    return out.flip(2) if flip else out


@dataclass
class ImageDataset(torch.utils.data.Dataset):
    """``dataset[(epoch, i)]`` -> (normalised float image (C, H, W), label): a source, prepared on the fly.

    ``augment`` turns on the random crop/flip of ``config`` (training); ``seed`` seeds it per image."""

    source: Any
    config: DatasetConfig
    mean: tuple[float, ...]
    std: tuple[float, ...]
    n_classes: int
    augment: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        self.channels = int(prepare(self.source.load(0), self.config).shape[0])
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ConfigError(
                f"mean/std have {len(self.mean)}/{len(self.std)} entries for {self.channels}-channel images"
            )
        self._mean = torch.tensor(self.mean).view(-1, 1, 1)
        self._std = torch.tensor(self.std).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.source)

    @property
    def labels(self) -> np.ndarray:
        return self.source.labels

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int]:
        epoch, i = key
        image = (prepare(self.source.load(i), self.config) - self._mean) / self._std
        if self.augment:
            rng = np.random.default_rng((self.seed, epoch, i))
            image = augment_one(image, rng, self.config.pad, self.config.hflip)
        return image.contiguous(), int(self.source.labels[i])


def open_split(
    dataset: str,
    split: str,
    config: DatasetConfig | dict[str, Any] | None = None,
    normalise_with: ImageDataset | None = None,
    augment: bool = False,
    seed: int = 0,
) -> ImageDataset:
    """``dataset``'s ``split`` as an :class:`ImageDataset`; mean and std come from ``config``, else from
    ``normalise_with`` (the training split), else from :func:`channel_stats` of this split."""
    cfg = DatasetConfig.from_dict(config)
    source = open_source(dataset, split, cfg)
    if normalise_with is not None:
        mean, std, n_classes = normalise_with.mean, normalise_with.std, normalise_with.n_classes
    else:
        mean, std = (cfg.mean, cfg.std) if cfg.mean and cfg.std else channel_stats(source, cfg)
        n_classes = source.n_classes
    return ImageDataset(source, cfg, tuple(cfg.mean or mean), tuple(cfg.std or std), n_classes, augment, seed)


class StreamingImages(torch.utils.data.IterableDataset):
    """``streaming=True``: the split read in order as a stream (never random access), shuffled each epoch
    through a buffer of ``config.shuffle_buffer`` images and split among ``world`` ranks by example; yields
    (image, label) prepared like :class:`ImageDataset`. Call ``set_epoch()`` before each epoch.

    The order depends on the number of loader workers (each reads its own shards), so, unlike the
    random-access sources, the result is reproducible for one setting but not the same across settings."""

    def __init__(
        self,
        dataset: str,
        split: str,
        config: DatasetConfig,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        n_classes: int,
        length: int,
        augment: bool,
        seed: int,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.dataset, self.split, self.config = dataset, split, config
        self.mean, self.std, self.n_classes, self.length = mean, std, n_classes, length
        self.augment, self.seed, self.rank, self.world, self.epoch = augment, seed, rank, world, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    @property
    def channels(self) -> int:
        return len(self.mean)  # one statistic per channel of the prepared images

    def stream(self) -> Any:
        data = _hf_split(self.dataset, self.split, self.config.hf_config, streaming=True)
        if not hasattr(data, "set_epoch"):  # a save_to_disk folder: read it as a sharded stream
            data = data.to_iterable_dataset(num_shards=max(1, min(64, data.num_rows // 256)))
        return data

    def __iter__(self) -> Any:
        from datasets.distributed import split_dataset_by_node

        data = self.stream()
        image_column, label_column = _hf_columns(data.features, self.dataset)
        if self.augment:  # training: a new order every epoch
            data = data.shuffle(seed=self.seed, buffer_size=self.config.shuffle_buffer)
            data.set_epoch(self.epoch)
        if self.world > 1:
            data = split_dataset_by_node(data, rank=self.rank, world_size=self.world)
        mean, std = torch.tensor(self.mean).view(-1, 1, 1), torch.tensor(self.std).view(-1, 1, 1)
        for j, row in enumerate(data):
            image = (prepare(_decode(row[image_column], self.config.image_size), self.config) - mean) / std
            if self.augment:
                rng = np.random.default_rng((self.seed, self.epoch, self.rank, j))
                image = augment_one(image, rng, self.config.pad, self.config.hflip)
            yield image.contiguous(), int(row[label_column])


def open_stream(
    dataset: str,
    split: str,
    config: DatasetConfig,
    normalise_with: ImageDataset | StreamingImages | None,
    augment: bool,
    seed: int,
    rank: int = 0,
    world: int = 1,
) -> StreamingImages:
    """``dataset``'s ``split`` as a :class:`StreamingImages`; its length comes from the dataset's metadata
    (hub) or row count (folder). Normalisation statistics must be given or come from ``normalise_with``:
    a stream cannot be sampled evenly up front, so the first :data:`STATS_IMAGES` images are used."""
    data = _hf_split(dataset, split, config.hf_config, streaming=True)
    if hasattr(data, "num_rows") and data.num_rows is not None and not hasattr(data, "set_epoch"):
        length = int(data.num_rows)
    else:
        splits = getattr(getattr(data, "info", None), "splits", None) or {}
        length = splits[split].num_examples if split in splits else None
        if not length:
            raise ConfigError(
                f"streaming {dataset}: its metadata does not say how many images the {split!r} "
                "split has; use streaming=False"
            )
    if normalise_with is not None:
        mean, std, n_classes = normalise_with.mean, normalise_with.std, normalise_with.n_classes
    else:
        probe = StreamingImages(
            dataset,
            split,
            replace(config, mean=None, std=None),
            (0.0,) * 3,
            (1.0,) * 3,
            0,
            length,
            False,
            seed,
        )
        mean, std, n_classes = _stream_stats(probe, config)
    return StreamingImages(
        dataset,
        split,
        config,
        tuple(config.mean or mean),
        tuple(config.std or std),
        n_classes,
        length,
        augment,
        seed,
        rank,
        world,
    )


def _stream_stats(
    probe: StreamingImages, config: DatasetConfig
) -> tuple[tuple[float, ...], tuple[float, ...], int]:
    data = probe.stream()
    image_column, label_column = _hf_columns(data.features, probe.dataset)
    total = squares = None
    pixels, top = 0, 0
    for j, row in enumerate(data):
        if j >= STATS_IMAGES:
            break
        flat = prepare(_decode(row[image_column], config.image_size), config).double().flatten(1)
        total = flat.sum(1) if total is None else total + flat.sum(1)
        squares = (flat**2).sum(1) if squares is None else squares + (flat**2).sum(1)
        pixels, top = pixels + flat.shape[1], max(top, int(row[label_column]))
    names = getattr(data.features[label_column], "num_classes", None)
    mean = total / pixels
    std = (squares / pixels - mean**2).clamp_min(0).sqrt().clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist()), int(names or top + 1)


def default_workers(dataset: str, processes_per_node: int = 1) -> int:
    """Loader workers when ``dataset_config`` does not say: none for the in-memory built-in sets (nothing
    to decode), else the cores left per training process, at least 1 and at most 8."""
    if dataset in BUILT_IN:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, math.floor(cores / processes_per_node) - 1))
