"""The trained model of a search, written out: ``archtune export run.search --out best/``.

A search whose objective keeps its trained model (the image-classification evaluator does) has the best
high-fidelity trial's model file in its work directory (:meth:`SearchInstance.best_model_path
<archtune.search.instance.SearchInstance.best_model_path>`). :func:`export_search` writes it out as

- ``state_dict.pt``: the trained network's state dict (``torch.load(..., weights_only=True)``), and
  ``state_dict_reparam.pt`` for the fused network of a ``reparam=True`` evaluator (MobileOne);
- ``encoding.json``: the encoding, the builder (``"module:function"``), the classes, the input shape
  and the trial's value: enough to build the network again and load the weights into it;
- with ``torchscript=True``, ``model.torchscript.pt`` (traced; the fused network when there is one),
  and with ``onnx=True``, ``model.onnx`` (needs the ``onnx`` package: ``pip install onnx onnxscript``).

Building the network (:func:`load_model`, TorchScript, ONNX) imports the builder named in the file: do it
only for files you trust (your own search). Writing the state dict and encoding does not.

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from archtune.evaluate.checkpoint import save_model_file
    >>> d = Path(tempfile.mkdtemp())
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> save_model_file(d / "model.pt", net, {"encoding": "[1]", "builder": "m:f", "n_classes": 3,
    ...                                       "input_shape": [1, 2, 2], "value": 90.0})
    >>> sorted(p.name for p in export_model(d / "model.pt", d / "out").values())
    ['encoding.json', 'state_dict.pt']
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archtune.errors import ConfigError
from archtune.evaluate.checkpoint import MODEL_FORMAT, load_file
from archtune.search.workdir import WorkDir, default_work_dir
from archtune.space.encoding import decode_key
from archtune.storage.sqlite import read_snapshot


def read_model_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A model file (see :meth:`~archtune.search.instance.SearchInstance.best_model_path`), checked to be one."""
    try:
        state = load_file(path)
    except FileNotFoundError:
        raise ConfigError(f"no model file at {str(path)!r}") from None
    except Exception as err:  # noqa: BLE001 - a damaged or foreign file
        raise ConfigError(
            f"{str(path)!r} is not an archtune model file: {type(err).__name__}: {err}"
        ) from err
    if not isinstance(state, dict) or state.get("format") != MODEL_FORMAT:
        raise ConfigError(f"{str(path)!r} is not an archtune model file (format {MODEL_FORMAT})")
    return state


def load_model(path: str | os.PathLike[str], reparam: bool = False) -> nn.Module:
    """The network of a model file, built from its encoding with its builder, weights loaded, in eval mode.

    ``reparam=True``: the fused (re-parameterized) network, for files from a ``reparam=True`` evaluator.
    Imports the builder the file names: use it on your own files.
    """
    from archtune.evaluate.image_classification import build_model  # imports the user's builder on use only
    from archtune.nets.mobileone import reparameterize

    state = read_model_file(path)
    model = build_model(
        state["builder"], decode_key(state["encoding"]), int(state["n_classes"]), int(state["input_shape"][0])
    )
    model.load_state_dict(state["state_dict"])
    if reparam:
        if state.get("reparam_state_dict") is None:
            raise ConfigError(
                f"{str(path)!r} holds no re-parameterized network (its evaluator had reparam=False)"
            )
        model = reparameterize(model)
        model.load_state_dict(state["reparam_state_dict"])
    return model.eval()


def export_model(
    path: str | os.PathLike[str], out: str | os.PathLike[str], torchscript: bool = False, onnx: bool = False
) -> dict[str, Path]:
    """Write the model file ``path`` out into the folder ``out`` (see the module doc); returns ``{what: path}``."""
    if onnx and importlib.util.find_spec("onnx") is None:
        raise ConfigError(
            "onnx=True needs the onnx package: pip install onnx onnxscript (or export without --onnx)"
        )
    state = read_model_file(path)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = {"state_dict": folder / "state_dict.pt", "encoding": folder / "encoding.json"}
    torch.save(state["state_dict"], written["state_dict"])
    description = {k: v for k, v in state.items() if k not in ("state_dict", "reparam_state_dict", "format")}
    description["encoding"] = decode_key(state["encoding"])
    if state.get("reparam_state_dict") is not None:
        written["state_dict_reparam"] = folder / "state_dict_reparam.pt"
        torch.save(state["reparam_state_dict"], written["state_dict_reparam"])
    description["files"] = {k: p.name for k, p in written.items() if k != "encoding"}
    if torchscript or onnx:
        model = load_model(path, reparam=state.get("reparam_state_dict") is not None)
        example = torch.zeros(1, *state["input_shape"])
        if torchscript:
            written["torchscript"] = folder / "model.torchscript.pt"
            torch.jit.trace(model, example).save(str(written["torchscript"]))
        if onnx:
            written["onnx"] = folder / "model.onnx"
            torch.onnx.export(model, (example,), str(written["onnx"]))
        description["files"] = {k: p.name for k, p in written.items() if k != "encoding"}
    written["encoding"].write_text(json.dumps(description, indent=2) + "\n")
    return written


def search_model_file(search_file: str | os.PathLike[str], trial: int | None = None) -> Path:
    """The kept model file of the best high-fidelity trial of a search (or of trial number ``trial``)."""
    meta, trials, _ = read_snapshot(search_file)
    top = "hi"
    if trial is None:
        senses = json.loads(meta.get("objectives") or "{}") or {"value": "max"}
        if len(senses) > 1:
            raise ConfigError(
                "a search with several objectives has no single best model: pass --trial N "
                "(a trial of its Pareto front, see archtune status)"
            )
        sign = 1.0 if next(iter(senses.values())) == "max" else -1.0
        hits = [t for t in trials if t.ok and t.fidelity == top and t.value is not None]
        if not hits:
            raise ConfigError(
                f"{str(search_file)!r} has no finished high-fidelity trial yet: nothing to export"
            )
        trial = max(hits, key=lambda t: sign * t.value).number  # type: ignore[operator]
    work = WorkDir(meta.get("work_dir") or default_work_dir(search_file))
    path = work.best_model(trial)
    if path is None:
        raise ConfigError(
            f"no trained model kept for trial {trial} in {str(work.path)!r}: only the best "
            "high-fidelity trial's is kept, and only by objectives that save one "
            "(create_img_class_evaluator does)"
        )
    return path


def export_search(
    search_file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    trial: int | None = None,
    torchscript: bool = False,
    onnx: bool = False,
) -> dict[str, Path]:
    """:func:`export_model` of the best high-fidelity trial's model (or trial ``trial``'s) of a search file."""
    return export_model(search_model_file(search_file, trial), out, torchscript, onnx)
