"""A Gaussian-process surrogate for the small-data case: no zero-cost data to pretrain an ensemble on.

The deep ensemble's strength is what it learns before the first evaluation (zero-cost pretraining) and
across fidelities. Without either, a search has a few dozen observations and nothing else, which is
where a Gaussian process is the standard tool. This one is the GP of Optuna's ``GPSampler`` in form: a
Matern-5/2 kernel with one inverse squared length scale per feature (on one-hot features, one per
option of a knob, so that a distance counts the knobs that differ), an amplitude and a noise variance,
fitted as the maximum a posteriori estimate under weak priors (a length-scale prior that keeps an
unused feature's scale finite, gamma priors on amplitude and noise) by L-BFGS on the marginal
likelihood, with exact gradients from torch. Inputs are scaled to [0, 1] by the observed range and the
values standardised. With two fidelities the fidelity's index is one more input, so that the screening
informs the high-fidelity prediction through the kernel.

It serves :class:`~archtune.strategy.bo.BayesianOptimization` through the same two calls as the deep
ensemble (``fit`` and ``predict_members``): the "members" it returns are the posterior mean shifted by
fixed multiples of the posterior standard deviation (their mean and spread are exactly the posterior's),
so UCB and EI score exactly the GP's posterior, and a Thompson pick draws one multiple for all
candidates. Every fit starts from the same initial hyper-parameters: the model is a pure function of
the observations, so a resumed search predicts what an uninterrupted one would.

Example:
    >>> import numpy as np
    >>> x = np.linspace(0, 1, 12)[:, None]
    >>> gp = GaussianProcessSurrogate(["hi"])
    >>> gp.fit(x, np.sin(6 * x[:, 0]), np.zeros(12, dtype=np.int64))
    >>> members = gp.predict_members(np.array([[0.25], [0.9]]), 0)
    >>> members.shape, bool(abs(members.mean(axis=0)[0] - np.sin(1.5)) < 0.05)
    ((5, 2), True)
    >>> feature_groups([{"kind": "onehot", "categories": ["a", "b", "c"]}, {"kind": "numeric"}])
    [0, 0, 0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.stats import norm, yeojohnson, yeojohnson_normmax
from threadpoolctl import threadpool_limits

#: how many "members" a prediction has, enough for a Thompson pick to vary and few enough to stay cheap
MEMBERS = 5
#: lower bound of the noise variance in standardised units, which keeps the Cholesky factorisation stable
MIN_NOISE = 1e-6


def feature_groups(plans: Sequence[dict[str, Any]]) -> list[int]:
    """The length-scale group of each feature column of a listed space's featurizer plans: a knob's
    one-hot columns share one, a numeric knob's column has its own."""
    groups: list[int] = []
    for k, plan in enumerate(plans):
        groups += [k] * (1 if plan["kind"] == "numeric" else len(plan["categories"]))
    return groups


#: the range the Yeo-Johnson exponent is kept in (an exponent far out makes the inverse ill-conditioned)
WARP_EXPONENT_RANGE = (-2.0, 6.0)
WARPS = (None, "yeo-johnson")
#: the length-scale priors, "weak" (Optuna GPSampler's, on each inverse squared length scale), "dimension"
#: (log-normal on each length scale, its median growing with the square root of their number, after
#: Hvarfner, Hellsten and Nardi 2024) and "auto" (see GPConfig)
LENGTH_SCALE_PRIORS = ("weak", "dimension", "auto")


@dataclass(frozen=True)
class GPConfig:
    """Settings of BO's Gaussian-process surrogate (``BayesianOptimization(gp=GPConfig(...))``).

    Args:
        warp: None (default) or ``"yeo-johnson"``: model the Yeo-Johnson transform of the values
            (exponent of maximum likelihood) instead of the values. On NAS-Bench-201 it helped on
            CIFAR-10 and cost on CIFAR-100 (docs/benchmarks/nb201.md), so it is off by default.
        gtol: the hyper-parameter fit's gradient tolerance (L-BFGS-B); 1e-2 as in Optuna's GPSampler,
            which on NAS-Bench-201 found the optimum as often as 1e-5 did, in fewer iterations.
        zero_cost_inputs: where the search has zero-cost data (a pretrained surrogate, or metrics
            to pretrain one), the zero-cost metrics of every encoding as the pretrained heads predict
            them are extra inputs of the GP, each with its own length scale: what the metrics say
            about the objective is learnt from the first evaluations on.
        length_scale_prior: ``"weak"`` (Optuna GPSampler's), ``"dimension"`` (a log-normal prior whose
            median length scale grows with the square root of the number of length scales, as Hvarfner
            et al. 2024 propose for many inputs) or ``"auto"`` (default): ``"dimension"`` when the
            zero-cost metrics are inputs too (a length scale per knob and per metric), else ``"weak"``,
            each where it was measured ahead (docs/benchmarks/nb201.md, other-tables.md).

    Example:
        >>> GPConfig().gtol, GPConfig(warp="yeo-johnson").warp
        (0.01, 'yeo-johnson')
    """

    warp: str | None = None
    gtol: float = 1e-2
    zero_cost_inputs: bool = True
    length_scale_prior: str = "auto"

    def prior_for(self, zero_cost_inputs: bool) -> str:
        """The length-scale prior a GP gets ("auto" resolved: "dimension" with the metrics as inputs)."""
        if self.length_scale_prior != "auto":
            return self.length_scale_prior
        return "dimension" if zero_cost_inputs else "weak"

    def __post_init__(self) -> None:
        from archtune.errors import ConfigError

        if self.warp not in WARPS:
            raise ConfigError(f"GPConfig(warp=...) must be one of {WARPS}, got {self.warp!r}")
        if not self.gtol > 0:
            raise ConfigError(f"GPConfig(gtol=...) must be positive, got {self.gtol!r}")
        if self.length_scale_prior not in LENGTH_SCALE_PRIORS:
            raise ConfigError(
                f"GPConfig(length_scale_prior=...) must be one of {LENGTH_SCALE_PRIORS}, "
                f"got {self.length_scale_prior!r}"
            )


def _yeojohnson_inverse(w: np.ndarray, lam: float) -> np.ndarray:
    """The inverse of :func:`scipy.stats.yeojohnson` at exponent ``lam``, for any real ``w``: a value
    the forward map never reaches (beyond its asymptote) is clipped to just inside it."""
    w = np.asarray(w, dtype=np.float64)
    out = np.empty_like(w)
    pos = w >= 0
    if abs(lam) < 1e-12:
        out[pos] = np.expm1(w[pos])
    else:
        base = w[pos] * lam + 1.0
        out[pos] = np.power(np.maximum(base, 1e-12), 1.0 / lam) - 1.0
    if abs(lam - 2.0) < 1e-12:
        out[~pos] = -np.expm1(-w[~pos])
    else:
        base = 1.0 - (2.0 - lam) * w[~pos]
        out[~pos] = 1.0 - np.power(np.maximum(base, 1e-12), 1.0 / (2.0 - lam))
    return out


def _unit_spread(k: int) -> np.ndarray:
    """``k`` symmetric normal quantiles scaled to mean 0 and (population) standard deviation 1."""
    z = norm.ppf((np.arange(k) + 0.5) / k)
    return np.asarray(z / z.std())


def _matern52(sq_dist: torch.Tensor) -> torch.Tensor:
    d = torch.sqrt(sq_dist.clamp_min(1e-30)) * math.sqrt(5.0)
    return (1.0 + d + d * d / 3.0) * torch.exp(-d)


def _log_prior(ils: torch.Tensor, scale: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Weak priors: inverse squared length scales pulled from 0 and infinity alike, gamma priors on the
    amplitude (shape 2, rate 1) and on the noise variance (shape 1.1, rate 30: small noise expected)."""
    return (
        -(0.1 / ils + 0.1 * ils).sum() + (torch.log(scale) - scale) + (0.1 * torch.log(noise) - 30.0 * noise)
    )


class GaussianProcessSurrogate:
    """A GP over the features (and the fidelity index when there are two fidelities); see the module doc.

    Args:
        fidelities: the fidelities' names, cheapest first (as the ensemble takes them).
        seed: unused (the fit is deterministic); kept so that both surrogates are made alike.
        groups: for each feature column, the length scale it shares (columns of one knob's one-hot
            encoding share one: a distance then counts the knobs that differ, as Optuna's Hamming
            kernel does); None: one length scale per column.
        warp, gtol: as in :class:`GPConfig`.
        length_scale_prior: ``"weak"`` or ``"dimension"`` (:class:`GPConfig` resolves its ``"auto"``).
    """

    def __init__(
        self,
        fidelities: Sequence[str],
        seed: int = 0,
        groups: Sequence[int] | None = None,
        warp: str | None = None,
        gtol: float = 1e-2,
        length_scale_prior: str = "weak",
    ) -> None:
        if length_scale_prior not in ("weak", "dimension"):
            raise ValueError(f"length_scale_prior must be 'weak' or 'dimension', got {length_scale_prior!r}")
        self.length_scale_prior = length_scale_prior
        if warp not in WARPS:
            raise ValueError(f"warp must be one of {WARPS}, got {warp!r}")
        self.fidelities = list(fidelities)
        self.seed = seed
        self.warp = warp
        self.gtol = gtol
        self.groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        self._spread = _unit_spread(MEMBERS)
        self._fitted = False

    def _inputs(self, features: np.ndarray, fidelity_index: np.ndarray | int) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        if len(self.fidelities) < 2:
            return x
        column = np.broadcast_to(np.asarray(fidelity_index, dtype=np.float64), (len(x),))
        return np.column_stack([x, column / (len(self.fidelities) - 1)])

    def _column_groups(self, n_columns: int) -> np.ndarray:
        """Each input column's length-scale group, numbered 0..; the fidelity column its own."""
        if self.groups is None:
            return np.arange(n_columns)
        extra = n_columns - len(self.groups)  # the fidelity column, when there are two fidelities
        if extra not in (0, 1):
            raise ValueError(f"groups name {len(self.groups)} columns, the features have {n_columns - extra}")
        _, numbered = np.unique(self.groups, return_inverse=True)
        return np.concatenate([numbered, [numbered.max() + 1] * extra]).astype(np.int64)

    def _scaled(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((x - self._lo) / self._span, dtype=torch.float64)

    def _kernel(self, a: torch.Tensor, b: torch.Tensor, ils: torch.Tensor) -> torch.Tensor:
        # |a - b|^2 weighted, as norms and one product: no (m, n, d) array for a large candidate set
        root = torch.sqrt(ils)
        a, b = a * root, b * root
        sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
        return _matern52(sq.clamp_min(0.0))

    def fit(
        self, features: np.ndarray, values: np.ndarray, fidelity_index: np.ndarray, seed: int = 0
    ) -> None:
        """Fit the hyper-parameters (MAP) and the posterior on every observation."""
        x = self._inputs(features, fidelity_index)
        y = np.asarray(values, dtype=np.float64)
        self._lo = x.min(axis=0)
        span = x.max(axis=0) - self._lo
        self._span = np.where(span > 0, span, 1.0)
        self._y_mean = float(y.mean())
        self._y_std = float(y.std()) if len(y) > 1 and y.std() > 1e-12 else 1.0
        xt = self._scaled(x)
        yt = torch.as_tensor(self._warped((y - self._y_mean) / self._y_std), dtype=torch.float64)
        n = len(xt)
        column_group = self._column_groups(x.shape[1])
        d = int(column_group.max()) + 1  # one length scale per group
        expand = torch.as_tensor(column_group)
        diff2 = (xt[:, None, :] - xt[None, :, :]) ** 2  # (n, n, d): the kernel is a function of it
        eye = torch.eye(n, dtype=torch.float64)

        def unpack(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            """(per-column inverse squared length scales, amplitude, noise variance)"""
            return torch.exp(theta[:d])[expand], torch.exp(theta[d]), torch.exp(theta[d + 1]) + MIN_NOISE

        def loss_and_grad(raw: np.ndarray) -> tuple[float, np.ndarray]:
            theta = torch.tensor(raw, dtype=torch.float64, requires_grad=True)
            ils, scale, noise = unpack(theta)
            cov = scale * _matern52((diff2 * ils).sum(-1)) + noise * eye
            chol, info = torch.linalg.cholesky_ex(cov)
            if int(info) != 0:
                return 1e10, np.zeros_like(raw)
            alpha = torch.cholesky_solve(yt[:, None], chol)[:, 0]
            log_lik = (
                -0.5 * (yt @ alpha) - torch.log(torch.diagonal(chol)).sum() - 0.5 * n * math.log(2 * math.pi)
            )
            if self.length_scale_prior == "dimension":
                # log length scale = -theta / 2 ~ Normal(sqrt 2 + log(d) / 2, sqrt 3): Hvarfner et al. 2024
                log_ls = -0.5 * theta[:d]
                prior = -((log_ls - ls_mu) ** 2).sum() / 6.0 + _log_prior(torch.ones(1), scale, noise)
            else:
                prior = _log_prior(torch.exp(theta[:d]), scale, noise)
            loss = -(log_lik + prior)
            loss.backward()  # type: ignore[no-untyped-call]
            assert theta.grad is not None
            return float(loss.detach()), theta.grad.numpy().copy()

        ls_mu = math.sqrt(2.0) + 0.5 * math.log(d)
        first = np.full(d, -2.0 * ls_mu) if self.length_scale_prior == "dimension" else np.zeros(d)
        start = np.concatenate(
            [first, [0.0, math.log(0.01)]]
        )  # (ils 1 or the prior's), amplitude 1, noise 0.01
        # one BLAS thread for L-BFGS-B's small vector work: with more, scipy's OpenBLAS threads and
        # torch's contend for the cores and the fit ran about twice as long (as Optuna's GPSampler found)
        with threadpool_limits(limits=1, user_api="blas"):
            result = minimize(
                loss_and_grad, start, jac=True, method="L-BFGS-B", options={"maxiter": 200, "gtol": self.gtol}
            )
        self.fit_iterations = int(result.nit)
        theta = torch.as_tensor(result.x, dtype=torch.float64)
        ils, scale, noise = unpack(theta)
        cov = scale * _matern52((diff2 * ils).sum(-1)) + noise * eye
        self._ils, self._scale = ils, scale
        self._x = xt
        self._chol = torch.linalg.cholesky(cov)
        self._alpha = torch.cholesky_solve(yt[:, None], self._chol)[:, 0]
        self._fitted = True

    def _warped(self, standardised: np.ndarray) -> np.ndarray:
        """The values the GP models: the standardised values, or (``warp="yeo-johnson"``) their
        Yeo-Johnson transform at the exponent of maximum likelihood, standardised again. A skewed
        objective (most cells of a space fail badly, a few are good) is then nearer the GP's Gaussian."""
        self._exponent: float | None = None
        if self.warp is None or len(standardised) < 3 or np.ptp(standardised) <= 0:
            return standardised
        self._exponent = float(np.clip(yeojohnson_normmax(standardised), *WARP_EXPONENT_RANGE))
        w = np.asarray(yeojohnson(standardised, self._exponent))
        self._w_mean, self._w_std = float(w.mean()), float(w.std()) if w.std() > 1e-12 else 1.0
        return (w - self._w_mean) / self._w_std

    def _unwarped(self, modelled: np.ndarray) -> np.ndarray:
        """Values the GP models back in objective units (the inverse of :meth:`_warped`)."""
        if self._exponent is not None:
            modelled = _yeojohnson_inverse(modelled * self._w_std + self._w_mean, self._exponent)
        return modelled * self._y_std + self._y_mean

    def predict(self, features: np.ndarray, fidelity: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation over the members, in objective units (as the ensemble's)."""
        members = self.predict_members(features, fidelity)
        return members.mean(axis=0), members.std(axis=0)

    @torch.no_grad()
    def predict_members(self, features: np.ndarray, fidelity: int, chunk: int = 16384) -> np.ndarray:
        """Posterior mean + fixed multiples of the posterior std, shape (members, n), in objective units."""
        if not self._fitted:
            raise RuntimeError("GaussianProcessSurrogate.predict_members before fit")
        means, stds = [], []
        for start in range(0, len(features), chunk):
            xq = self._scaled(self._inputs(features[start : start + chunk], fidelity))
            k = self._scale * self._kernel(xq, self._x, self._ils)  # (m, n)
            means.append(k @ self._alpha)
            v = torch.linalg.solve_triangular(self._chol, k.T, upper=False)
            stds.append(torch.sqrt((self._scale - (v * v).sum(0)).clamp_min(0.0)))
        mean, std = torch.cat(means).numpy(), torch.cat(stds).numpy()
        # quantiles of the posterior in the modelled units map to quantiles in objective units
        return np.asarray(self._unwarped(mean[None, :] + self._spread[:, None] * std[None, :]))
