"""Image-classification data for the evaluator: built-in sets, image folders and Hugging Face datasets,
as in-memory tensors resized, channel-matched and normalised by a :class:`DatasetConfig`.

Sources (``dataset``):

- ``"mnist5k"`` (ships with archtune; splits ``train`` 4,000 / ``test`` 1,000, stratified) and
  ``"digits"`` (scikit-learn's 8x8 digits; ``train`` 70% / ``test`` 30%);
- a directory in ``imagefolder`` layout, ``DIR/<split>/<class>/<image>`` (class names sorted give the
  labels; Pillow reads the images);
- a directory written by ``datasets.Dataset(Dict).save_to_disk`` or a Hugging Face hub name: both through
  the optional ``datasets`` package (``pip install 'archtune[hf]'``); the first image column and the
  ``label``/``labels`` column are used. Saved folders and the local hub cache work offline.

Example:
    >>> cfg = DatasetConfig(image_size=16, channels=3)
    >>> train = load_split("mnist5k", "train", cfg)
    >>> tuple(train.images.shape), train.n_classes
    ((4000, 3, 16, 16), 10)
    >>> test = load_split("mnist5k", "test", cfg, normalise_with=train)   # the training split's statistics
    >>> len(test.labels)
    1000
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archtune.errors import ConfigError

BUILT_IN = ("mnist5k", "digits")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True)
class DatasetConfig:
    """How images reach the network.

    Args:
        image_size: square side the images are resized to (None: as stored; all must then agree).
        channels: 1 or 3; grey images are repeated to 3 channels, colour ones averaged to 1 (None: as stored).
        mean, std: per-channel normalisation (None: measured on the training split).
        augment: random crop (zero padding ``pad``) and horizontal flip during training.
        hflip: allow the horizontal flip when ``augment`` (off for digits, where a flip changes the class).
        pad: padding of the random crop, in pixels.
        num_workers: ``torch.utils.data`` worker processes that decode and prepare images for the evaluator
            (None: none for the in-memory built-in sets, else the cores left per training process, 1 to 8).
        hf_config: the configuration of a Hugging Face hub dataset (``load_dataset(name, hf_config)``).
        streaming: read a Hugging Face dataset as a stream (hub streaming, or a ``save_to_disk`` folder
            read sequentially) instead of by random access; shuffled through ``shuffle_buffer`` images.
    """

    image_size: int | None = None
    channels: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    augment: bool = False
    hflip: bool = True
    pad: int = 2
    num_workers: int | None = None
    hf_config: str | None = None
    streaming: bool = False
    shuffle_buffer: int = 1000

    @classmethod
    def from_dict(cls, config: dict[str, Any] | DatasetConfig | None) -> DatasetConfig:
        if config is None:
            return cls()
        if isinstance(config, DatasetConfig):
            return config
        unknown = set(config) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(
                f"unknown dataset_config keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}"
            )
        values = {k: tuple(v) if k in ("mean", "std") and v is not None else v for k, v in config.items()}
        return cls(**values)


@dataclass
class ImageSplit:
    """Float images (N, C, H, W), normalised, and int64 labels."""

    images: torch.Tensor
    labels: torch.Tensor
    n_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


def _builtin(dataset: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    if dataset == "mnist5k":
        from archtune.datasets.mnist5k import load_mnist5k, stratified_split

        images, labels = load_mnist5k()
        train, test = stratified_split(labels, test_per_class=100, seed=0)
        splits = {"train": (images[train], labels[train]), "test": (images[test], labels[test])}
    else:
        from archtune.datasets.digits import digits_split

        x_train, y_train, x_test, y_test = digits_split()
        splits = {"train": (x_train, y_train), "test": (x_test, y_test)}
    if split not in splits:
        raise ConfigError(f"{dataset} has splits {sorted(splits)}, not {split!r}")
    return splits[split]


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) images as size x size (antialiased bilinear), unchanged when already so."""
    if images.shape[-2:] == (size, size):
        return images
    return torch.nn.functional.interpolate(
        images, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )


def _pil_to_array(image: Any) -> np.ndarray:
    array = (
        np.asarray(image.convert("L" if image.mode in ("L", "1", "I", "F") else "RGB"), dtype=np.float32)
        / 255.0
    )
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _stack(arrays: list[np.ndarray], image_size: int | None, where: str) -> torch.Tensor:
    if image_size is None and len({a.shape for a in arrays}) > 1:
        raise ConfigError(f"images in {where} differ in size; set dataset_config image_size")
    channels = max(a.shape[0] for a in arrays)
    out = []
    for a in arrays:
        t = torch.from_numpy(a)
        if t.shape[0] != channels:
            t = t.expand(channels, *t.shape[1:])
        if image_size is not None:
            t = _resize(t[None], image_size)[0]
        out.append(t)
    return torch.stack(out)


def _imagefolder(root: Path, split: str, image_size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image

    base = root / split
    if not base.is_dir():
        raise ConfigError(f"image folder {root} has no {split!r} split (expected {base}/<class>/<image>)")
    # class names from every split, so that a split missing a class keeps the others' labels
    classes = sorted({p.name for d in root.iterdir() if d.is_dir() for p in d.iterdir() if p.is_dir()})
    if not classes:
        raise ConfigError(f"no class folders in {base}")
    arrays, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((base / name).iterdir()) if (base / name).is_dir() else []:
            if file.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(file) as image:
                    arrays.append(_pil_to_array(image))
                labels.append(label)
    if not arrays:
        raise ConfigError(f"no images under {base}")
    return _stack(arrays, image_size, str(base)), torch.tensor(labels, dtype=torch.long)


def _import_datasets(dataset: str) -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise ConfigError(
            f"{dataset!r} is neither built in ({', '.join(BUILT_IN)}) nor an image folder; Hugging "
            "Face datasets need the optional package: pip install 'archtune[hf]'"
        ) from exc
    return datasets


def _hf_split(dataset: str, split: str, hf_config: str | None = None, streaming: bool = False) -> Any:
    """One split of a Hugging Face set: a ``save_to_disk`` folder, or a hub name (with ``hf_config``)."""
    datasets = _import_datasets(dataset)
    if os.path.isdir(dataset):
        loaded = datasets.load_from_disk(dataset)
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise ConfigError(f"{dataset} has splits {sorted(loaded)}, not {split!r}")
            loaded = loaded[split]
        return loaded
    return datasets.load_dataset(dataset, hf_config, split=split, streaming=streaming)


def _hugging_face(dataset: str, split: str, image_size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    datasets = _import_datasets(dataset)
    loaded = _hf_split(dataset, split)
    image_columns = [k for k, f in loaded.features.items() if isinstance(f, datasets.Image)]
    label_column = next((k for k in ("label", "labels") if k in loaded.features), None)
    if not image_columns or label_column is None:
        raise ConfigError(
            f"{dataset}: need an image column and a 'label' column; found {sorted(loaded.features)}"
        )
    arrays = [_pil_to_array(image) for image in loaded[image_columns[0]]]
    return _stack(arrays, image_size, dataset), torch.tensor(loaded[label_column], dtype=torch.long)


def _raw_split(dataset: str, split: str, image_size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    if dataset in BUILT_IN:
        return _builtin(dataset, split)
    path = Path(dataset)
    if (
        path.is_dir()
        and not (path / "dataset_dict.json").exists()
        and not (path / "dataset_info.json").exists()
    ):
        return _imagefolder(path, split, image_size)
    return _hugging_face(dataset, split, image_size)


def load_split(
    dataset: str,
    split: str,
    config: DatasetConfig | dict[str, Any] | None = None,
    normalise_with: ImageSplit | None = None,
) -> ImageSplit:
    """One split as normalised tensors; ``normalise_with`` reuses another split's mean, std and class count."""
    cfg = DatasetConfig.from_dict(config)
    images, labels = _raw_split(dataset, split, cfg.image_size)
    if cfg.image_size is not None:
        images = _resize(images, cfg.image_size)  # built-in sets (folders and HF sets arrive resized)
    if cfg.channels is not None and images.shape[1] != cfg.channels:
        if cfg.channels == 3 and images.shape[1] == 1:
            images = images.repeat(1, 3, 1, 1)
        elif cfg.channels == 1:
            images = images.mean(dim=1, keepdim=True)
        else:
            raise ConfigError(f"cannot turn {images.shape[1]}-channel images into {cfg.channels} channels")
    if normalise_with is not None:
        mean, std, n_classes = normalise_with.mean, normalise_with.std, normalise_with.n_classes
    else:
        mean = cfg.mean or tuple(images.mean(dim=(0, 2, 3)).tolist())
        std = cfg.std or tuple(images.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist())
        n_classes = int(labels.max()) + 1
    if len(mean) != images.shape[1] or len(std) != images.shape[1]:
        raise ConfigError(
            f"mean/std have {len(mean)}/{len(std)} entries for {images.shape[1]}-channel images"
        )
    images = (images - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    return ImageSplit(images.contiguous(), labels, n_classes, tuple(mean), tuple(std))


def augment_batch(images: torch.Tensor, generator: torch.Generator, pad: int, hflip: bool) -> torch.Tensor:
    """Random crop after zero padding, and random horizontal flip, drawn from ``generator`` for the whole
    batch at once (so a data-parallel rank can draw the global batch's and keep its own slice)."""
    n, _, h, w = images.shape
    padded = torch.nn.functional.pad(images, [pad] * 4)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5 if hflip else torch.zeros(n, dtype=torch.bool)
    cropped = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    return torch.where(flip.view(n, 1, 1, 1), cropped.flip(3), cropped)
