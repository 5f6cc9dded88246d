"""Streaming data: image folders and save_to_disk sets read image by image by DataLoader workers, the same
result whatever the number of workers, per-image seeded augmentation, and streaming=True."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

from archtune.datasets.images import DatasetConfig, load_split
from archtune.datasets.streaming import FolderSource, open_split
from archtune.evaluate.image_classification import create_img_class_evaluator
from archtune.evaluate.training import Rank, make_loader

MODEL_FILE = textwrap.dedent("""
    from torch import nn

    def config_to_model(encoding, n_classes, in_channels=1):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 8 * 8, encoding), nn.ReLU(),
                             nn.Linear(encoding, n_classes))
""")


def _digits_folder(root, per_split=None):
    """scikit-learn's digits as PNG files in DIR/<split>/<class>/<i>.png (grey, 8x8)."""
    from PIL import Image

    from archtune.datasets.digits import digits_split

    x_train, y_train, x_test, y_test = digits_split()
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        n = len(y) if per_split is None else per_split
        for i in range(n):
            folder = root / split / str(int(y[i]))
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((x[i, 0].numpy() * 255).round().astype(np.uint8)).save(folder / f"{i:05d}.png")
    return root


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory):
    return _digits_folder(tmp_path_factory.mktemp("digits"))


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODEL_FILE)
    return str(path)


def test_folder_source_keeps_paths_not_images_and_decodes_like_the_in_memory_reader(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ["cat", "dog"]:
        (tmp_path / "train" / name).mkdir(parents=True)
        for i in range(5):
            Image.fromarray((rng.random((10, 12, 3)) * 255).astype(np.uint8)).save(
                tmp_path / "train" / name / f"{i}.png"
            )
    source = FolderSource(tmp_path, "train", 8)
    assert source.paths.dtype.kind == "S" and source.labels.tolist() == [0] * 5 + [1] * 5  # one compact array
    cfg = {"image_size": 8, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}
    streamed = open_split(str(tmp_path), "train", cfg)
    in_memory = load_split(str(tmp_path), "train", cfg)
    stacked = torch.stack([streamed[(1, i)][0] for i in range(len(streamed))])
    assert torch.allclose(stacked, in_memory.images, atol=1e-5)
    # measured statistics: over the prepared pixels, as the in-memory reader measures them
    measured = open_split(str(tmp_path), "train", {"image_size": 8})
    reference = load_split(str(tmp_path), "train", {"image_size": 8})
    assert np.allclose(measured.mean, reference.mean, atol=1e-6) and np.allclose(
        measured.std, reference.std, rtol=0.02
    )


def test_augmentation_is_seeded_per_image_and_epoch(digits_folder):
    data = open_split(
        str(digits_folder), "train", {"augment": True, "pad": 2, "hflip": True}, augment=True, seed=3
    )
    again = open_split(
        str(digits_folder), "train", {"augment": True, "pad": 2, "hflip": True}, augment=True, seed=3
    )
    assert torch.equal(data[(1, 7)][0], again[(1, 7)][0])
    assert not all(torch.equal(data[(1, i)][0], data[(2, i)][0]) for i in range(8))  # a new draw each epoch
    plain = open_split(str(digits_folder), "train", {}, augment=False)
    assert torch.equal(plain[(1, 7)][0], plain[(2, 7)][0])


def test_loader_workers_give_the_same_batches_as_the_main_process(digits_folder):
    data = open_split(str(digits_folder), "train", {"augment": True, "hflip": False}, augment=True, seed=0)
    batches = []
    for workers in (0, 2):
        loader = make_loader(data, 64, Rank(), seed=0, train=True, num_workers=workers)
        loader.batch_sampler.set_epoch(2)
        batches.append([(x.clone(), y.clone()) for x, y in loader])
    assert len(batches[0]) == len(batches[1]) == len(data) // 64
    for (xa, ya), (xb, yb) in zip(*batches, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # two data-parallel ranks together read exactly one process's global batch
    halves = [next(iter(make_loader(data, 64, Rank(r, 2), seed=0, train=True))) for r in (0, 1)]
    whole = next(iter(make_loader(data, 64, Rank(), seed=0, train=True)))
    assert torch.equal(torch.cat([halves[0][0], halves[1][0]]), whole[0])


def test_evaluator_trains_from_an_image_folder_the_same_with_and_without_workers(digits_folder, model_file):
    kw = {"config_to_model_file": model_file, "recipe": {"batch_size": 64, "lr": 0.1}, "progress": False}
    results = [
        create_img_class_evaluator(str(digits_folder), dataset_config={"num_workers": w}, **kw)(32, 2)
        for w in (0, 2)
    ]
    assert results[0]["value"] > 80  # it learns from the PNG files
    assert [r["train_loss_mean"] for r in results[0]["curve"]] == [
        r["train_loss_mean"] for r in results[1]["curve"]
    ]
    assert results[0]["value"] == results[1]["value"]


def _save_to_disk(path, n_train=120, n_val=40):
    import datasets
    from PIL import Image

    def split(n, seed):
        rng = np.random.default_rng(seed)
        labels = [i % 3 for i in range(n)]
        # brightness says the class: learnable in an epoch or two
        images = [
            Image.fromarray(np.clip(rng.normal(60 + 70 * c, 20, (8, 8)), 0, 255).astype(np.uint8))
            for c in labels
        ]
        features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=3)})
        return datasets.Dataset.from_dict({"image": images, "label": labels}, features=features)

    datasets.DatasetDict({"train": split(n_train, 0), "validation": split(n_val, 1)}).save_to_disk(str(path))
    return str(path)


def test_save_to_disk_set_random_access_and_streaming(tmp_path, model_file):
    saved = _save_to_disk(tmp_path / "saved")
    kw = {
        "config_to_model_file": model_file,
        "recipe": {"batch_size": 16, "lr": 0.1},
        "progress": False,
        "eval_split": "validation",
    }
    mapped = create_img_class_evaluator(saved, dataset_config={"num_workers": 0}, **kw)
    train, val = mapped.data()
    assert len(train) == 120 and len(val) == 40 and train.n_classes == 3
    result = mapped(16, 2)
    assert result["value"] > 60
    streaming = create_img_class_evaluator(
        saved, dataset_config={"streaming": True, "num_workers": 0, "augment": True, "hflip": False}, **kw
    )
    a, b = streaming(16, 2), streaming(16, 2)
    assert len(a["curve"]) == 2 and a["value"] > 60
    assert a["value"] == b["value"] and a["curve"][1]["train_loss_mean"] == b["curve"][1]["train_loss_mean"]


def test_dataset_config_rejects_unknown_keys():
    from archtune.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown dataset_config keys"):
        DatasetConfig.from_dict({"workers": 2})
