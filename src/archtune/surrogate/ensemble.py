"""Deep-ensemble surrogate with a shared trunk and one head per zero-cost metric and per fidelity.

Paper 000, section 2: M networks with different random initialisations; each has one trunk whose
representation feeds a head per pretraining metric (parameters, FLOPs, latency, memory) and a head per
fidelity of the objective. Pretraining on all metrics at once ("simultaneous": one summed loss) shapes
the trunk before any objective value is known; training on observed values then weights high-fidelity
data more. Mean and spread over members are the prediction and its uncertainty.

The M members are evaluated as one batched network (weights stacked along a leading member axis), so
an ensemble costs little more than one network on a CPU.

Example:
    >>> import numpy as np
    >>> X = np.eye(4, dtype=np.float32)
    >>> ens = DeepEnsemble(4, metric_names=["params"], fidelities=["hi"], config=EnsembleConfig(fit_steps=50), seed=0)
    >>> _ = ens.pretrain(X, {"params": np.array([1.0, 2.0, 3.0, 4.0])})
    >>> ens.fit(X[:3], np.array([0.1, 0.5, 0.9]), np.array([0, 0, 0]))
    >>> mean, std = ens.predict(X, fidelity=0)
    >>> mean.shape, bool((std >= 0).all())
    ((4,), True)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

PRETRAINING_MODES = ("simultaneous", "sequential", "none")


@dataclass
class EnsembleConfig:
    """Hyper-parameters of the ensemble. Defaults were chosen on NAS-Bench-201 and are used on every space."""

    members: int = 5
    hidden: int = 64
    layers: int = 2
    pretrain_epochs: int = 60
    pretrain_batch: int = 512
    fit_steps: int = 150
    lr: float = 3e-3
    weight_decay: float = 1e-4
    hi_fi_weight: float = 3.0  # high-fidelity observations count this many times a low-fidelity one
    pretraining: str = "simultaneous"

    def __post_init__(self) -> None:
        if self.pretraining not in PRETRAINING_MODES:
            from archtune.errors import ConfigError

            raise ConfigError(f"pretraining must be one of {PRETRAINING_MODES}, got {self.pretraining!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _init_stack(
    members: int, fan_in: int, fan_out: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    bound = 1.0 / math.sqrt(fan_in)
    w = (torch.rand(members, fan_in, fan_out, generator=gen) * 2 - 1) * bound * math.sqrt(3.0)
    b = (torch.rand(members, 1, fan_out, generator=gen) * 2 - 1) * bound
    return w, b


def _normalise_metric(values: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """Log-scale positive metrics that span orders of magnitude, then standardise (NaNs kept)."""
    finite = values[np.isfinite(values)]
    use_log = bool(finite.size and (finite > 0).all() and finite.max() / max(finite.min(), 1e-12) > 10)
    v = np.log(values) if use_log else values.astype(np.float64)
    mean = float(np.nanmean(v)) if finite.size else 0.0
    std = float(np.nanstd(v)) if finite.size else 1.0
    std = std if std > 1e-12 else 1.0
    return (v - mean) / std, {"log": float(use_log), "mean": mean, "std": std}


def _adam_step(
    params: list[torch.nn.Parameter], lr: float, weight_decay: float
) -> Callable[[Sequence[torch.Tensor]], None]:
    """One Adam update of ``params`` from their gradients, the fused kernel of
    ``torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)`` called directly.

    A refit is 150 steps on a few hundred rows: tiny kernels, where the optimizer's Python wrapper
    (grouping by device, hooks, state dicts) cost about as much as the update itself. The same kernel
    with the same arguments gives the same numbers. A torch without the private kernel gets the
    optimizer itself.
    """
    if not hasattr(torch, "_fused_adam_"):
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)

        def optimizer_step(grads: Sequence[torch.Tensor]) -> None:
            for p, g in zip(params, grads, strict=True):
                p.grad = g
            opt.step()

        return optimizer_step
    exp_avgs = [torch.zeros_like(p) for p in params]
    exp_avg_sqs = [torch.zeros_like(p) for p in params]
    steps = [torch.zeros((), dtype=torch.float32) for _ in params]
    data = [p.data for p in params]

    def fused_step(grads: Sequence[torch.Tensor]) -> None:
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            data, list(grads), exp_avgs, exp_avg_sqs, [], steps,
            amsgrad=False, lr=lr, beta1=0.9, beta2=0.999, weight_decay=weight_decay, eps=1e-8,
            maximize=False, grad_scale=None, found_inf=None,
        )  # fmt: skip

    return fused_step


class DeepEnsemble(torch.nn.Module):
    """M batched MLPs: trunk -> [metric heads | fidelity heads]."""

    def __init__(
        self,
        n_features: int,
        metric_names: list[str],
        fidelities: list[str],
        config: EnsembleConfig | None = None,
        seed: int = 0,
    ):
        super().__init__()
        self.config = config or EnsembleConfig()
        self.metric_names = list(metric_names)
        self.fidelities = list(fidelities)
        self.n_features = n_features
        gen = torch.Generator().manual_seed(seed)
        c = self.config
        self.trunk = torch.nn.ParameterList()
        fan_in = n_features
        for _ in range(c.layers):
            w, b = _init_stack(c.members, fan_in, c.hidden, gen)
            self.trunk.extend([torch.nn.Parameter(w), torch.nn.Parameter(b)])
            fan_in = c.hidden
        mw, mb = _init_stack(c.members, c.hidden, max(1, len(self.metric_names)), gen)
        fw, fb = _init_stack(c.members, c.hidden, max(1, len(self.fidelities)), gen)
        self.metric_w, self.metric_b = torch.nn.Parameter(mw), torch.nn.Parameter(mb)
        self.fid_w, self.fid_b = torch.nn.Parameter(fw), torch.nn.Parameter(fb)
        self.metric_norm: dict[str, dict[str, float]] = {}
        self.pretrained_state: dict[str, torch.Tensor] | None = None
        self.y_mean, self.y_std = 0.0, 1.0

    # -- network ---------------------------------------------------------------------------------
    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """Trunk output, shape (members, n, hidden)."""
        h = x.unsqueeze(0).expand(self.config.members, -1, -1)
        for i in range(0, len(self.trunk), 2):
            h = torch.relu(torch.baddbmm(self.trunk[i + 1], h, self.trunk[i]))
        return h

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(metric outputs, fidelity outputs), each (members, n, heads)."""
        h = self.representation(x)
        return torch.baddbmm(self.metric_b, h, self.metric_w), torch.baddbmm(self.fid_b, h, self.fid_w)

    # -- pretraining -----------------------------------------------------------------------------
    def pretrain(self, features: np.ndarray, metrics: dict[str, np.ndarray], seed: int = 0) -> list[float]:
        """Pretrain trunk and metric heads on zero-cost metrics (NaN = unknown). Returns the loss per epoch.

        ``simultaneous``: one summed loss over every head per step. ``sequential``: one metric after
        another, each for an equal share of the epochs. ``none``: nothing (kept for ablations).
        """
        mode = self.config.pretraining
        if mode == "none" or not metrics:
            return []
        names = self.metric_names
        cols = []
        for name in names:
            z, norm = _normalise_metric(np.asarray(metrics[name], dtype=np.float64))
            self.metric_norm[name] = norm
            cols.append(z)
        targets = torch.tensor(np.stack(cols, axis=1), dtype=torch.float32)
        mask = torch.isfinite(targets)
        targets = torch.nan_to_num(targets)
        rows = mask.any(dim=1)
        x_all, t_all, m_all = torch.as_tensor(features, dtype=torch.float32)[rows], targets[rows], mask[rows]
        gen = torch.Generator().manual_seed(seed)
        c = self.config
        phases = [list(range(len(names)))] if mode == "simultaneous" else [[k] for k in range(len(names))]
        epochs_per_phase = max(1, c.pretrain_epochs // len(phases))
        losses: list[float] = []
        for heads in phases:
            opt = torch.optim.Adam(self.parameters(), lr=c.lr, weight_decay=c.weight_decay)
            head_mask = torch.zeros(len(names), dtype=torch.bool)
            head_mask[heads] = True
            for _ in range(epochs_per_phase):
                order = torch.randperm(len(x_all), generator=gen)
                total = 0.0
                for start in range(0, len(order), c.pretrain_batch):
                    idx = order[start : start + c.pretrain_batch]
                    out, _ = self(x_all[idx])
                    m = m_all[idx] & head_mask
                    err = (out - t_all[idx].unsqueeze(0)) ** 2 * m.unsqueeze(0)
                    loss = err.sum() / (m.sum().clamp(min=1) * c.members)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                losses.append(total / len(x_all))
        self.pretrained_state = copy.deepcopy(self.state_dict())
        return losses

    # -- training on observations ----------------------------------------------------------------
    def fit(
        self, features: np.ndarray, values: np.ndarray, fidelity_index: np.ndarray, seed: int = 0
    ) -> None:
        """Train on observed objective values, starting from the pretrained weights every time (the
        initial ones when there was no pretraining).

        Restarting from the pretrained state (rather than from the last fit) makes the surrogate a pure
        function of (pretrained weights, observations, seed): a resumed search predicts exactly what an
        uninterrupted one would.
        """
        if self.pretrained_state is None:  # never pretrained: every fit starts from the initial weights
            self.pretrained_state = copy.deepcopy(self.state_dict())
        self.load_state_dict(self.pretrained_state)
        c = self.config
        y = np.asarray(values, dtype=np.float64)
        self.y_mean = float(y.mean())
        self.y_std = float(y.std()) if len(y) > 1 and y.std() > 1e-12 else 1.0
        x = torch.as_tensor(features, dtype=torch.float32)
        t = torch.tensor((y - self.y_mean) / self.y_std, dtype=torch.float32)
        fid = torch.as_tensor(fidelity_index, dtype=torch.long)
        top = len(self.fidelities) - 1
        w = torch.where(fid == top, c.hi_fi_weight, 1.0)
        w = w / w.sum()
        torch.manual_seed(seed)
        # only the trunk and fidelity heads learn here
        params = [*self.trunk, self.fid_w, self.fid_b]
        step = _adam_step(params, lr=c.lr, weight_decay=c.weight_decay)
        arange = torch.arange(len(fid))
        layers = [(params[i], params[i + 1]) for i in range(0, len(self.trunk), 2)]  # (weight, bias)
        fid_w, fid_b = self.fid_w, self.fid_b
        x_members = x.unsqueeze(0).expand(c.members, -1, -1)
        for _ in range(c.fit_steps):
            # representation() written out on local names: module attribute look-ups were a visible
            # share of a step this small
            h = x_members
            for weight, bias in layers:
                h = torch.relu(torch.baddbmm(bias, h, weight))
            out = torch.baddbmm(fid_b, h, fid_w)
            pred = out[:, arange, fid]
            loss = (((pred - t.unsqueeze(0)) ** 2) * w.unsqueeze(0)).sum() / c.members
            step(torch.autograd.grad(loss, params))

    @torch.no_grad()
    def predict_members(self, features: np.ndarray, fidelity: int, chunk: int = 65536) -> np.ndarray:
        """Per-member predictions in objective units, shape (members, n); chunked for huge spaces."""
        parts = []
        for start in range(0, len(features), chunk):
            x = torch.as_tensor(features[start : start + chunk], dtype=torch.float32)
            h = self.representation(x)
            out = torch.baddbmm(
                self.fid_b[:, :, fidelity : fidelity + 1], h, self.fid_w[:, :, fidelity : fidelity + 1]
            )
            parts.append(out[..., 0])
        z = torch.cat(parts, dim=1).double().numpy()
        return z * self.y_std + self.y_mean

    def predict(self, features: np.ndarray, fidelity: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation over members, in objective units."""
        members = self.predict_members(features, fidelity)
        return members.mean(axis=0), members.std(axis=0)

    @torch.no_grad()
    def predict_metrics_standardised(self, features: np.ndarray, chunk: int = 65536) -> np.ndarray:
        """Ensemble-mean predictions of every pretraining metric, in their standardised units (the log
        taken where pretraining took it), shape (n, metrics): side information for another model."""
        parts = []
        for start in range(0, len(features), chunk):
            out, _ = self(torch.as_tensor(features[start : start + chunk], dtype=torch.float32))
            parts.append(out.mean(0).double().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, len(self.metric_names)))

    @torch.no_grad()
    def predict_metric(self, features: np.ndarray, name: str) -> np.ndarray:
        """Ensemble-mean prediction of a pretraining metric, in its own units."""
        k = self.metric_names.index(name)
        out, _ = self(torch.as_tensor(features, dtype=torch.float32))
        z = out[:, :, k].mean(0).double().numpy()
        norm = self.metric_norm[name]
        v = z * norm["std"] + norm["mean"]
        return np.exp(v) if norm["log"] else v

    # -- persistence (tensors and JSON-able values only: loadable with weights_only=True) ----------
    def pretrained_payload(self) -> dict[str, Any]:
        """What a space file stores: config, metric names, normalisation and pretrained trunk/heads."""
        state = self.pretrained_state if self.pretrained_state is not None else self.state_dict()
        return {
            "config": self.config.to_dict(),
            "metric_names": self.metric_names,
            "metric_norm": self.metric_norm,
            "n_features": self.n_features,
            "state": {k: v.clone() for k, v in state.items() if not k.startswith("fid_")},
        }

    @classmethod
    def from_pretrained(
        cls, payload: dict[str, Any], fidelities: list[str], seed: int = 0, **overrides: Any
    ) -> DeepEnsemble:
        """An ensemble with the stored trunk and metric heads and fresh fidelity heads."""
        config = EnsembleConfig(**{**payload["config"], **overrides})
        ens = cls(payload["n_features"], payload["metric_names"], fidelities, config, seed=seed)
        if config.pretraining != "none" and payload["config"]["members"] == config.members:
            ens.load_state_dict(payload["state"], strict=False)
            ens.metric_norm = dict(payload["metric_norm"])
            ens.pretrained_state = copy.deepcopy(ens.state_dict())
        return ens
