"""GPU tests (marker `gpu`, skipped without CUDA): AMP (bf16 and fp16 with a grad scaler), channels-last,
2-process NCCL when two GPUs exist, and profiling on the device. Run on a GPU machine with
`pytest -m gpu tests/test_gpu.py` and record the output under benchmarks/results/."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

MODEL_FILE = textwrap.dedent("""
    from torch import nn

    def config_to_model(encoding, n_classes, in_channels=1):
        return nn.Sequential(nn.Conv2d(in_channels, encoding, 3, padding=1), nn.BatchNorm2d(encoding), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(encoding, n_classes))
""")
MLP_FILE = textwrap.dedent("""
    from torch import nn

    def config_to_model(encoding, n_classes, in_channels=1):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 64, encoding), nn.ReLU(), nn.Linear(encoding, n_classes))
""")


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODEL_FILE)
    return str(path)


def _evaluator(path, **kw):
    from archtune.evaluate.image_classification import create_img_class_evaluator

    kw = {"recipe": {"batch_size": 64, "lr": 0.05}, "progress": False, "device": "cuda", **kw}
    return create_img_class_evaluator("digits", config_to_model_file=path, **kw)


def test_amp_modes_and_channels_last_train_on_the_gpu(model_file):
    from archtune.evaluate.training import DeviceOptions

    cuda = torch.device("cuda")
    auto = DeviceOptions().amp_dtype(cuda)
    assert auto == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    assert DeviceOptions().uses_channels_last(cuda)
    results = {}
    for amp in ("off", "bf16", "fp16", "auto"):
        if amp == "bf16" and not torch.cuda.is_bf16_supported():
            continue
        r = _evaluator(model_file, device_options={"amp": amp})(16, 3)
        assert all(torch.isfinite(torch.tensor(row["train_loss_mean"])) for row in r["curve"]), amp
        assert r["curve"][-1]["train_loss_mean"] < r["curve"][0]["train_loss_mean"], amp
        results[amp] = r["value"]
    print("accuracy by amp mode:", results)
    nchw = _evaluator(
        model_file, device_options={"amp": "off", "channels_last": False, "cudnn_benchmark": False}
    )(16, 2)
    assert nchw["value"] > 10


def test_two_process_nccl_equals_one_gpu(tmp_path):
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    path = tmp_path / "mlp.py"
    path.write_text(MLP_FILE)
    kw = {"device_options": {"amp": "off", "cudnn_benchmark": False}}
    one = _evaluator(str(path), **kw)(32, 2)
    two = _evaluator(str(path), n_gpus=2, **kw)(32, 2)
    for a, b in zip(one["curve"], two["curve"], strict=True):
        assert abs(a["train_loss_mean"] - b["train_loss_mean"]) < 1e-3
    assert abs(one["value"] - two["value"]) < 1.0


def test_profiling_on_the_gpu():
    from archtune.profile.zero_cost import profile_module

    net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1))
    x = torch.rand(8, 3, 64, 64)
    m = profile_module(net, x, latency_repeats=10, device="cuda")
    assert next(net.parameters()).is_cuda  # profiled where it was asked
    resident = sum(p.numel() * 4 for p in net.parameters()) + x.numel() * 4
    activation = 8 * 32 * 64 * 64 * 4
    assert m["peak_memory_mb"] * 2**20 >= resident + activation  # the allocator saw at least one activation
    assert 0 < m["latency_ms"] < 1000
    print("gpu profile:", m)
