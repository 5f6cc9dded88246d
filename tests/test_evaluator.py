"""The image-classification evaluator: single process, 2-process DDP, failures, determinism, data sources."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

from archtune import SearchInstance, create_search_space
from archtune.datasets.images import augment_batch, load_split
from archtune.errors import ConfigError
from archtune.evaluate.image_classification import DistributedTrainingError, create_img_class_evaluator
from archtune.evaluate.training import TrainingDiverged, TrainingRecipe, TrainingTimeout

MODEL_FILE = textwrap.dedent("""
    import math, time
    import torch
    from torch import nn

    class Blow(nn.Module):
        def forward(self, x):
            return x * float("nan")

    def config_to_model(encoding, n_classes, in_channels=1):
        width, kind = encoding
        if kind == "crash":
            raise RuntimeError("this architecture cannot be built")
        layers = [nn.Flatten(), nn.Linear(in_channels * 8 * 8, width), nn.ReLU(), nn.Linear(width, n_classes)]
        if kind == "nan":
            layers.append(Blow())
        if kind == "slow":
            class Slow(nn.Module):
                def forward(self, x):
                    time.sleep(0.05)
                    return x
            layers.append(Slow())
        return nn.Sequential(*layers)
""")


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODEL_FILE)
    return str(path)


def _evaluator(model_file, **kw):
    kw = {"recipe": {"batch_size": 64, "lr": 0.1}, "progress": False, **kw}
    return create_img_class_evaluator("digits", config_to_model_file=model_file, **kw)


def test_single_process_learns_and_is_deterministic(model_file):
    ev = _evaluator(model_file)
    a, b = ev((32, "mlp"), 3), ev((32, "mlp"), 3)
    assert a["value"] > 85 and len(a["curve"]) == 3 and a["epochs"] == 3
    assert [r["train_loss_mean"] for r in a["curve"]] == [r["train_loss_mean"] for r in b["curve"]]
    assert a["value"] == b["value"]
    assert a["curve"][0]["train_loss_mean"] > a["curve"][-1]["train_loss_mean"]
    other_seed = _evaluator(model_file, seed=1)((32, "mlp"), 3)
    assert other_seed["curve"][0]["train_loss_mean"] != a["curve"][0]["train_loss_mean"]


def test_two_process_ddp_equals_single_process_training(model_file):
    single = _evaluator(model_file)((32, "mlp"), 2)
    ddp = _evaluator(model_file, n_procs=2)((32, "mlp"), 2)
    for s, d in zip(single["curve"], ddp["curve"], strict=True):
        assert abs(s["train_loss_mean"] - d["train_loss_mean"]) < 1e-4
        assert abs(s["eval_accuracy"] - d["eval_accuracy"]) <= 2 / 540  # at most a couple of images
    assert abs(single["value"] - ddp["value"]) < 0.5


def test_failures_raise_and_a_search_records_them(model_file, tmp_path):
    with pytest.raises(TrainingDiverged):
        _evaluator(model_file)((8, "nan"), 1)
    with pytest.raises(TrainingTimeout):
        _evaluator(model_file, time_limit=0.5)((8, "slow"), 5)
    with pytest.raises(DistributedTrainingError, match="cannot be built"):
        _evaluator(model_file, n_procs=2)((8, "crash"), 1)
    with pytest.raises(ConfigError):
        _evaluator(model_file)((8, "mlp"), 0)
    with pytest.raises(ConfigError, match="no function"):
        create_img_class_evaluator("digits", config_to_model_file=model_file + ":missing")
    ev = _evaluator(model_file)
    ss = create_search_space("e", None, [(8, "nan"), (8, "crash"), (16, "mlp"), (32, "mlp")])
    s = SearchInstance(
        "e",
        tmp_path / "e.search",
        search_space=ss,
        hi_fi_eval=ev.at_epochs(1),
        strategy="random",
        progress=False,
        max_consecutive_failures=10,
    )
    s.run_search(eval_budget=4)
    statuses = sorted(h["status"] for h in s.history())
    assert statuses.count("FAILED") == 2 and statuses.count("COMPLETE") == 2, statuses
    curves = [h for h in s.history() if h["status"] == "COMPLETE"]
    assert all(len(h["metrics"]["curve"]) == 1 for h in curves)  # the learning curve is stored with the trial
    s.close()


def test_reparam_evaluates_the_fused_network_with_the_same_accuracy():
    kw = {"dataset_config": {"channels": 3}, "recipe": {"batch_size": 64}, "progress": False}
    enc = (0, 0.25, 0, 0.25, 1, 0.25, 1, 0.25, "yes", 4)
    plain = create_img_class_evaluator("digits", **kw)(enc, 1)
    fused = create_img_class_evaluator("digits", reparam=True, **kw)(enc, 1)
    assert abs(plain["value"] - fused["value"]) < 0.5
    assert fused["inference_parameters"] < fused["parameters"]


def test_image_folder_dataset(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("val", 2)):
        for label, name in enumerate(["cat", "dog"]):
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(n):
                pixels = (
                    (rng.random((10, 12, 3)) * 255).astype(np.uint8)
                    if label
                    else np.zeros((10, 12, 3), np.uint8)
                )
                Image.fromarray(pixels).save(tmp_path / split / name / f"{i}.png")
    train = load_split(str(tmp_path), "train", {"image_size": 8})
    val = load_split(str(tmp_path), "val", {"image_size": 8}, normalise_with=train)
    assert tuple(train.images.shape) == (12, 3, 8, 8) and train.labels.tolist() == [0] * 6 + [1] * 6
    assert train.n_classes == 2 and len(val.labels) == 4
    with pytest.raises(ConfigError, match="no 'test' split"):
        load_split(str(tmp_path), "test")
    (tmp_path / "only_dogs" / "dog").mkdir(parents=True)  # a split without one class keeps the others' labels
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(tmp_path / "only_dogs" / "dog" / "0.png")
    assert load_split(str(tmp_path), "only_dogs").labels.tolist() == [1]


def test_hugging_face_save_to_disk_folder(tmp_path):
    import datasets  # in the dev extra: CI runs this
    from PIL import Image

    def split(n, offset):
        images = [Image.fromarray(np.full((6, 6), 40 * (i % 3) + offset, np.uint8)) for i in range(n)]
        features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=3)})
        return datasets.Dataset.from_dict(
            {"image": images, "label": [i % 3 for i in range(n)]}, features=features
        )

    datasets.DatasetDict({"train": split(9, 0), "validation": split(3, 1)}).save_to_disk(
        str(tmp_path / "saved")
    )
    cfg = {"image_size": 4, "channels": 3}
    train = load_split(str(tmp_path / "saved"), "train", cfg)
    val = load_split(str(tmp_path / "saved"), "validation", cfg, normalise_with=train)
    assert tuple(train.images.shape) == (9, 3, 4, 4) and train.labels.tolist() == [0, 1, 2] * 3
    assert train.n_classes == 3 and len(val.labels) == 3
    # brightness encodes the label: the images differ between classes, in class order
    assert train.images[0].mean() < train.images[1].mean() < train.images[2].mean()
    with pytest.raises(ConfigError, match="splits"):
        load_split(str(tmp_path / "saved"), "test")


def test_recipe_schedules_and_augmentation():
    cos = TrainingRecipe(lr=0.1, schedule="cosine")
    lrs = [cos.lr_at(s, 10, 2) for s in range(20)]
    assert (
        lrs[0] == 0.1
        and all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
        and lrs[10] == pytest.approx(0.05)
    )
    step = TrainingRecipe(lr=0.1, schedule="step", step_epochs=2, gamma=0.5)
    assert [step.lr_at(s * 10, 10, 6) for s in range(6)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    )
    warm = TrainingRecipe(lr=0.1, warmup_epochs=1)
    assert [warm.lr_at(s, 4, 4) for s in range(5)] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1])
    assert warm.lr_at(15, 4, 4) < 0.01
    with pytest.raises(ConfigError):
        TrainingRecipe(optimizer="lbfgs")
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    a = augment_batch(x, torch.Generator().manual_seed(0), 1, True)
    b = augment_batch(x, torch.Generator().manual_seed(0), 1, True)
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)


@pytest.mark.slow
def test_mobileone_example_runs_end_to_end(tmp_path):
    """The examples/ script at a small scale (8x8 images, budget 2): a search with real training, then
    MobileOne-s0 trained the same way, both reported."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "examples" / "tune_mobileone_mnist.py"
    subprocess.run(
        [
            sys.executable,
            str(script),
            "--budget",
            "2",
            "--image-size",
            "8",
            "--out",
            str(tmp_path),
            "--workdir",
            str(tmp_path / "work"),
        ],
        check=True,
        timeout=1800,
    )
    result = json.loads((tmp_path / "mobileone_mnist.json").read_text())
    assert result["evaluations"] >= 2 and 0 <= result["found"]["accuracy"] <= 100
    assert 860_000 <= result["found"]["inference_parameters"] <= 1_260_000
    assert result["mobileone_s0"]["inference_parameters"] == 1_063_754
    assert "MobileOne-s0" in (tmp_path / "mobileone_mnist.md").read_text()


def _free_port_pair():
    """A port p with p + 1 also free (the rendezvous and node 0's job board)."""
    import socket

    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port pair")


@pytest.mark.slow  # two torchrun agents with a static rendezvous: about 40 s on 2 cores
def test_two_nodes_on_localhost_equal_single_process_training(model_file):
    """Multi-node torchrun (static rendezvous, Gloo): node 0 is the evaluator, node 1 a serve_node process."""
    import subprocess
    import sys

    endpoint = f"127.0.0.1:{_free_port_pair()}"
    node1 = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from archtune.evaluate.image_classification import serve_node; "
            f"print(serve_node({endpoint!r}, node_rank=1, nnodes=2, max_jobs=1))",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        two_nodes = _evaluator(model_file, nnodes=2, rdzv_endpoint=endpoint)((32, "mlp"), 2)
        out, _ = node1.communicate(timeout=300)
    finally:
        if node1.poll() is None:
            node1.kill()
    assert node1.returncode == 0 and out.strip().endswith("1"), out[-2000:]
    single = _evaluator(model_file)((32, "mlp"), 2)
    for s, d in zip(single["curve"], two_nodes["curve"], strict=True):
        assert abs(s["train_loss_mean"] - d["train_loss_mean"]) < 1e-4
    assert abs(single["value"] - two_nodes["value"]) < 0.5


def test_mixed_precision_and_channels_last_on_cpu(model_file):
    """The GPU code paths that also run on CPU: bf16 autocast, fp16 with a gradient scaler, channels-last."""
    from archtune.evaluate.training import DeviceOptions

    base = _evaluator(model_file)((32, "mlp"), 2)
    nhwc = _evaluator(model_file, device_options={"channels_last": True})((32, "mlp"), 2)
    assert abs(base["curve"][-1]["train_loss_mean"] - nhwc["curve"][-1]["train_loss_mean"]) < 1e-4
    for amp in ("bf16", "fp16"):
        low = _evaluator(model_file, device_options={"amp": amp})((32, "mlp"), 2)
        assert low["value"] > 80, amp
        # reduced precision: close to float32, not equal to it
        assert low["curve"][-1]["train_loss_mean"] != base["curve"][-1]["train_loss_mean"]
        assert abs(low["curve"][-1]["train_loss_mean"] - base["curve"][-1]["train_loss_mean"]) < 0.1
    cpu = torch.device("cpu")
    assert (
        DeviceOptions().amp_dtype(cpu) is None and DeviceOptions(amp="fp16").amp_dtype(cpu) == torch.float16
    )
    assert not DeviceOptions().uses_channels_last(cpu)


def test_device_arguments_are_checked(model_file):
    with pytest.raises(ConfigError, match="device must be"):
        _evaluator(model_file, device="tpu")
    with pytest.raises(ConfigError, match="contradicts"):
        _evaluator(model_file, device="cpu", n_gpus=1)
    with pytest.raises(ConfigError, match="rdzv_endpoint"):
        _evaluator(model_file, nnodes=2)
    with pytest.raises(ConfigError, match="HOST:PORT"):
        _evaluator(model_file, nnodes=2, rdzv_endpoint="localhost")
    with pytest.raises(ConfigError, match="amp must be"):
        _evaluator(model_file, device_options={"amp": "fp8"})
    assert _evaluator(model_file, device="auto").device == ("cuda" if torch.cuda.is_available() else "cpu")
