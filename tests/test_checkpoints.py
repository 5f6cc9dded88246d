"""Checkpoints of the image-classification evaluator: resume after a real SIGKILL of the search, continuation
of the low fidelity by the high fidelity (and its charge), the kept best model, the file format."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from archtune import SearchInstance, create_search_space
from archtune.errors import ConfigError
from archtune.evaluate.checkpoint import (
    EpochCheckpoint,
    continuation_exact,
    load_file,
    rng_state,
    set_rng_state,
)
from archtune.evaluate.image_classification import create_img_class_evaluator
from archtune.evaluate.training import TrainingRecipe
from archtune.strategy.base import Strategy, Suggestion

MODEL_FILE = textwrap.dedent("""
    import time
    from torch import nn

    class Slow(nn.Module):
        def forward(self, x):
            time.sleep(0.03)  # about half a second per epoch: room to kill the search inside one
            return x

    def config_to_model(encoding, n_classes, in_channels=1):
        width, kind = encoding
        layers = [nn.Flatten(), nn.Linear(in_channels * 8 * 8, width), nn.ReLU(), nn.Linear(width, n_classes)]
        if kind == "slow":
            layers.append(Slow())
        return nn.Sequential(*layers)
""")

# one search with one 5-epoch evaluation, run as a real process (it is what gets killed)
SEARCH_SCRIPT = textwrap.dedent("""
    import json, sys, torch
    torch.set_num_threads(1)
    from archtune import SearchInstance, create_search_space
    from archtune.evaluate.image_classification import create_img_class_evaluator

    folder, model_file = sys.argv[1], sys.argv[2]
    ev = create_img_class_evaluator("digits", config_to_model_file=model_file,
                                    recipe={"batch_size": 64, "lr": 0.1}, progress=False)
    ss = create_search_space("k", None, [(32, "slow")])
    s = SearchInstance("k", folder + "/k.search", search_space=ss, hi_fi_eval=ev.at_epochs(5), hi_fi_cost=5,
                       strategy="random", progress=False)
    s.run_search(eval_budget=1)
    print(json.dumps({"history": s.history(), "model": str(s.best_model_path())}))
""")


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODEL_FILE)
    return str(path)


def _run_search(folder: Path, model_file: str, script: Path) -> dict:
    folder.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, str(script), str(folder), model_file],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_search_killed_during_epoch_3_of_5_resumes_to_the_uninterrupted_result(tmp_path, model_file):
    script = tmp_path / "search.py"
    script.write_text(SEARCH_SCRIPT)
    killed = tmp_path / "killed"
    killed.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(script), str(killed), model_file],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    checkpoint = killed / "k.search.work" / "trials" / "1" / "checkpoint.pt"
    deadline = time.monotonic() + 300
    try:
        while True:  # the checkpoint is replaced atomically: a read sees a whole one or the previous one
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "epoch 2 never finished"
            if checkpoint.is_file() and load_file(checkpoint)["epoch"] == 2:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert load_file(checkpoint)["epoch"] == 2  # killed before epoch 3 ended: during epoch 3
    resumed = _run_search(killed, model_file, script)
    fresh = _run_search(tmp_path / "fresh", model_file, script)
    (r,), (f,) = resumed["history"], fresh["history"]
    assert r["metrics"]["resumed_from_epoch"] == 2 and "resumed_from_epoch" not in f["metrics"]
    assert abs(r["value"] - f["value"]) < 1e-6
    for a, b in zip(r["metrics"]["curve"], f["metrics"]["curve"], strict=True):
        assert (
            abs(a["train_loss_mean"] - b["train_loss_mean"]) < 1e-6
            and a["eval_accuracy"] == b["eval_accuracy"]
        )
    assert r["cost"] == 5.0  # resumed, not paid twice: one trial charged once
    # the finished trial's checkpoint is gone; the best (only) model is kept
    assert not checkpoint.exists()
    assert resumed["model"].endswith("models/trial-0/model.pt") and Path(resumed["model"]).is_file()


class LoThenHi(Strategy):
    """Screens encoding 0 at the low fidelity, then evaluates it at the high fidelity."""

    name = "lo-then-hi"

    def propose(self, rng, pending, allowed):
        for fidelity in ("lo", "hi"):
            if (
                fidelity in allowed
                and 0 not in self.tried[fidelity]
                and not any(p.fidelity == fidelity for p in pending)
            ):
                return Suggestion(0, fidelity)
        return None


def _lo_then_hi(tmp_path, name, evaluator):
    ss = create_search_space("c", None, [(32, "mlp")])
    s = SearchInstance(
        name,
        tmp_path / f"{name}.search",
        search_space=ss,
        hi_fi_eval=evaluator.at_epochs(4),
        hi_fi_cost=4,
        lo_fi_eval=evaluator.at_epochs(2),
        lo_fi_cost=2,
        strategy=LoThenHi(),
        progress=False,
    )
    s.run_search(eval_budget=1.5)
    return s


def test_high_fidelity_continues_the_low_fidelity_run_and_is_charged_the_rest(tmp_path, model_file):
    # the schedule spans the high fidelity's 4 epochs: the low fidelity is its first 2, continuing is exact
    ev = create_img_class_evaluator(
        "digits",
        config_to_model_file=model_file,
        recipe={"batch_size": 64, "lr": 0.1},
        schedule_epochs=4,
        progress=False,
    )
    s = _lo_then_hi(tmp_path, "exact", ev)
    lo, hi = s.history()
    assert s.work.reuse and hi["metrics"]["continued_from_epoch"] == 2
    assert (lo["cost"], hi["cost"], s.spent) == (2.0, 2.0, 4.0)
    scratch = ev((32, "mlp"), 4)
    assert abs(hi["value"] - scratch["value"]) < 1e-6
    for a, b in zip(hi["metrics"]["curve"], scratch["curve"], strict=True):
        assert abs(a["train_loss_mean"] - b["train_loss_mean"]) < 1e-6 and a["lr"] == b["lr"]
    assert not any((s.work.path / "screened").iterdir())  # used up, removed
    s.close()
    reopened = SearchInstance(
        "exact",
        tmp_path / "exact.search",
        search_space=create_search_space("c", None, [(32, "mlp")]),
        hi_fi_eval=ev.at_epochs(4),
        hi_fi_cost=4,
        lo_fi_eval=ev.at_epochs(2),
        lo_fi_cost=2,
        strategy=LoThenHi(),
        progress=False,
    )
    assert reopened.spent == 4.0  # the charge is the trial's record
    reopened.close()

    # the default recipe's cosine spans each run's own epochs: continuing would change the result, so it is off
    plain = create_img_class_evaluator(
        "digits", config_to_model_file=model_file, recipe={"batch_size": 64, "lr": 0.1}, progress=False
    )
    s = _lo_then_hi(tmp_path, "inexact", plain)
    lo, hi = s.history()
    assert not s.work.reuse and "continued_from_epoch" not in hi["metrics"]
    assert (hi["cost"], s.spent) == (4.0, 6.0)
    assert abs(hi["value"] - plain((32, "mlp"), 4)["value"]) < 1e-6
    s.close()


def test_when_continuation_is_exact():
    cosine, step = TrainingRecipe(schedule="cosine"), TrainingRecipe(schedule="step", step_epochs=2)
    assert continuation_exact(cosine, 4, 4) and not continuation_exact(cosine, 2, 4)
    assert continuation_exact(step, 2, 4)
    assert not continuation_exact(
        TrainingRecipe(schedule="step", warmup_epochs=1.5), 2, 4
    )  # warm-up capped at 1
    assert continuation_exact(TrainingRecipe(schedule="step", warmup_epochs=0.5), 2, 4)
    ev = create_img_class_evaluator(
        "digits",
        config_to_model_file="archtune.spaces.mobileone:encoding_to_model",
        recipe={"schedule": "step"},
        progress=False,
    )
    assert ev.at_epochs(3).can_continue_from(ev.at_epochs(1))
    assert not ev.at_epochs(1).can_continue_from(ev.at_epochs(3))  # only from fewer epochs
    other = create_img_class_evaluator(
        "digits",
        config_to_model_file="archtune.spaces.mobileone:encoding_to_model",
        recipe={"schedule": "step"},
        seed=1,
        progress=False,
    )
    assert not ev.at_epochs(3).can_continue_from(other.at_epochs(1))  # another training
    forced = create_img_class_evaluator(
        "digits", continue_lo_fi=True, progress=False
    )  # cosine: inexact, forced on
    assert forced.at_epochs(3).can_continue_from(forced.at_epochs(1))
    off = create_img_class_evaluator("digits", recipe={"schedule": "step"}, checkpoint=False, progress=False)
    assert not off.at_epochs(3).can_continue_from(off.at_epochs(1))
    for bad in ({"schedule_epochs": 0}, {"continue_lo_fi": "yes"}, {"checkpoint": 1}):
        with pytest.raises(ConfigError):
            create_img_class_evaluator("digits", progress=False, **bad)


def test_checkpoint_file_round_trip_restores_every_random_state(tmp_path):
    import random

    import numpy as np

    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(net.parameters(), lr=0.01)
    net(torch.rand(4, 3)).sum().backward()
    opt.step()
    gen = torch.Generator().manual_seed(5)
    hook = EpochCheckpoint(stop_after=2, path=tmp_path / "c.pt", fingerprint="f", lineage="l")
    assert hook.save(1, 3, [{"epoch": 1, "eval_accuracy": 0.5}], net, opt, gen) is True
    expected = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=gen).item())
    other_net, other_gen = torch.nn.Linear(3, 2), torch.Generator().manual_seed(9)
    other_opt = torch.optim.AdamW(other_net.parameters(), lr=0.01)
    again = EpochCheckpoint(stop_after=2, path=tmp_path / "c.pt", fingerprint="f", lineage="l")
    assert again.restore(other_net, other_opt, other_gen) == (1, 3, [{"epoch": 1, "eval_accuracy": 0.5}])
    assert torch.equal(other_net.weight, net.weight) and other_opt.state_dict()["state"][0]["step"] == 1
    assert (
        random.random(),
        np.random.rand(),
        torch.rand(1).item(),
        torch.rand(1, generator=other_gen).item(),
    ) == expected
    assert again.save(2, 6, [], other_net, other_opt, other_gen) is False  # stop_after reached
    # another job's checkpoint (settings changed) is not resumed
    stranger = EpochCheckpoint(stop_after=2, path=tmp_path / "c.pt", fingerprint="g", lineage="l")
    assert stranger.restore(other_net, other_opt, other_gen) == (0, 0, [])
    assert "checkpoints_ignored" in stranger.report()
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")  # unreadable: start afresh, do not fail
    assert EpochCheckpoint(2, tmp_path / "bad.pt", "f", "l").restore(other_net, other_opt, other_gen) == (
        0,
        0,
        [],
    )
    state = rng_state()
    set_rng_state(state)
    assert torch.equal(torch.get_rng_state(), state["torch"])
    assert sorted(load_file(tmp_path / "c.pt")) == [
        "continued_from",
        "curve",
        "epoch",
        "fingerprint",
        "format",
        "lineage",
        "model",
        "optimizer",
        "rng",
        "scaler",
        "scheduler",
        "step",
    ]


class _TrialId:
    """An objective that reads its trial context (declared, so a time-limited child receives it)."""

    uses_trial_context = True

    def __call__(self, encoding):
        from archtune.execute.trial_context import current_trial

        trial = current_trial()
        return {"value": float(trial.trial_id), "dir": str(trial.trial_dir)}


def test_the_trial_context_reaches_a_time_limited_child_process(tmp_path):
    from archtune.execute.evaluation import run_objective
    from archtune.execute.trial_context import TrialContext

    context = TrialContext(str(tmp_path), 7, "[1]", "hi")
    outcome = run_objective(_TrialId(), (1,), "value", time_limit=120, context=context)
    assert outcome.ok, outcome.error
    assert outcome.value == 7.0 and outcome.metrics["dir"] == str(tmp_path / "trials" / "7")
    assert run_objective(_TrialId(), (1,), context=context).value == 7.0  # in this process too
