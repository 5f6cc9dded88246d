"""The best model of a search: kept by the search, written out by ``archtune export``, loaded back."""

from __future__ import annotations

import importlib.util
import json
import textwrap

import pytest
import torch

from archtune import SearchInstance, create_search_space
from archtune.cli import main
from archtune.errors import ConfigError
from archtune.evaluate.checkpoint import save_model_file
from archtune.evaluate.image_classification import build_model, create_img_class_evaluator
from archtune.evaluate.training import evaluate_accuracy
from archtune.export import export_model, export_search, load_model
from archtune.nets.mobileone import reparameterize
from archtune.space.encoding import encoding_key

MODEL_FILE = textwrap.dedent("""
    from torch import nn

    def config_to_model(encoding, n_classes, in_channels=1):
        (width,) = encoding
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 8 * 8, width), nn.ReLU(), nn.Linear(width, n_classes))
""")


def test_best_model_is_kept_exported_and_loads_back_with_the_same_outputs(tmp_path, capsys):
    model_file = tmp_path / "models.py"
    model_file.write_text(MODEL_FILE)
    ev = create_img_class_evaluator(
        "digits", config_to_model_file=str(model_file), recipe={"batch_size": 64, "lr": 0.1}, progress=False
    )
    ss = create_search_space("w", None, [(4,), (16,), (32,)])
    s = SearchInstance(
        "w",
        tmp_path / "w.search",
        search_space=ss,
        hi_fi_eval=ev.at_epochs(1),
        strategy="random",
        progress=False,
    )
    s.run_search(eval_budget=3)
    best_encoding, best_value = s.best()
    best_trial = max((h for h in s.history()), key=lambda h: h["value"])
    path = s.best_model_path()
    assert path is not None and path == s.model_path(best_trial["number"])
    kept = sorted(p.name for p in (s.work.path / "models").iterdir())
    assert kept == [f"trial-{best_trial['number']}"]  # only the best trial's model is kept
    assert not any((s.work.path / "trials").iterdir())  # finished trials leave no checkpoint
    s.close()

    out = tmp_path / "exported"
    written = export_search(tmp_path / "w.search", out, torchscript=True)
    description = json.loads((out / "encoding.json").read_text())
    assert tuple(description["encoding"]) == best_encoding and description["value"] == best_value
    # the state dict + encoding alone rebuild the trained network: its accuracy is the trial's value
    net = build_model(
        description["builder"],
        tuple(description["encoding"]),
        description["n_classes"],
        description["input_shape"][0],
    )
    net.load_state_dict(torch.load(written["state_dict"], weights_only=True))
    test = ev.data()[1]
    assert abs(100 * evaluate_accuracy(net, test, torch.device("cpu")) - best_value) < 1e-9
    scripted = torch.jit.load(str(written["torchscript"]))
    x = torch.stack([test[(0, i)][0] for i in range(32)])
    with torch.no_grad():
        assert torch.allclose(scripted(x), net.eval()(x), atol=1e-6)
        assert torch.equal(load_model(path)(x), net(x))

    assert main(["export", str(tmp_path / "w.search"), "--out", str(tmp_path / "cli")]) == 0
    assert "state_dict" in capsys.readouterr().out and (tmp_path / "cli" / "encoding.json").is_file()
    assert main(["export", str(tmp_path / "w.search"), "--trial", "99"]) == 2  # no model kept for it
    if importlib.util.find_spec("onnx") is None:
        with pytest.raises(ConfigError, match="pip install onnx"):
            export_search(tmp_path / "w.search", tmp_path / "onnx", onnx=True)


def test_mobileone_model_file_holds_the_reparameterized_network(tmp_path):
    builder = "archtune.spaces.mobileone:encoding_to_model"
    encoding = (0, 0.25, 0, 0.25, 1, 0.25, 1, 0.25, "yes", 4)
    torch.manual_seed(0)
    net = build_model(builder, encoding, 10, 3).eval()
    fused = reparameterize(net)
    save_model_file(
        tmp_path / "model.pt",
        net,
        {
            "encoding": encoding_key(encoding),
            "builder": builder,
            "n_classes": 10,
            "input_shape": [3, 8, 8],
            "value": 50.0,
        },
        fused,
    )
    written = export_model(tmp_path / "model.pt", tmp_path / "out", torchscript=True)
    assert {"state_dict", "state_dict_reparam", "torchscript", "encoding"} <= set(written)
    x = torch.randn(4, 3, 8, 8)
    loaded = load_model(tmp_path / "model.pt", reparam=True)
    rebuilt = reparameterize(build_model(builder, encoding, 10, 3))
    rebuilt.load_state_dict(torch.load(written["state_dict_reparam"], weights_only=True))
    with torch.no_grad():
        assert torch.equal(loaded(x), fused(x)) and torch.equal(rebuilt.eval()(x), fused(x))
        assert torch.allclose(fused(x), net(x), atol=1e-4)  # the fused network computes the trained one
        assert torch.allclose(torch.jit.load(str(written["torchscript"]))(x), fused(x), atol=1e-5)
    with pytest.raises(ConfigError, match="not an archtune model file"):
        export_model(written["state_dict"], tmp_path / "again")
