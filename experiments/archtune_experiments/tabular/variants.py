"""The strategies a benchmark compares, ablations included, by name.

A variant is a strategy plus what it is given: the low fidelity or not, and which pretrained surrogate.
``bo`` is the library's default configuration; the others change one thing each:

========== =================================================================
bo         default BO: UCB, simultaneous pretraining, two fidelities, stall-triggered uniform
           screens and every 2nd confirmation by the best screened value
bo-notail  the default without those two (``stall_patience=None, confirm_top_every=None``)
bo-ei      expected improvement instead of UCB
bo-ts      Thompson sampling (one ensemble member per step) instead of UCB
bo-single  high fidelity only (no 12-epoch screening): BO's one-fidelity default, the GP with the
           zero-cost metrics (as the pretrained heads predict them) among its inputs
bo-seq     sequential pretraining (one metric after another)
bo-nopre   no pretraining (surrogate starts from random weights)
bo-bare    high fidelity only and no zero-cost data at all: one fidelity, no pretraining (the GP)
bo-single-ensemble, bo-bare-ensemble
           the same two on the deep ensemble (UCB after 3 random picks): the default before the GP
bo-gp      bo-bare on the GP with UCB after 3 random picks, the fit's tolerance 1e-5
bo-gp-ei10 bo-gp with expected improvement and 10 random evaluations first (Optuna GPSampler's start)
bo-bare-yj bo-bare with the values Yeo-Johnson-warped (``GPConfig(warp="yeo-johnson")``)
bo-single-noinputs
           bo-single with the GP blind to the zero-cost metrics
bo-single-weak, bo-bare-dim
           the two with the other length-scale prior (``GPConfig(length_scale_prior=...)``: "auto"
           gives the dimension-scaled one with the metrics as inputs, Optuna's weak one without)
bo-refit5, bo-refit10
           ``bo`` refitting the ensemble only once the observations grew by 5% / 10% since the last fit
           (``refit_growth``): cheaper steps
bo-tail    the same as ``bo`` (the name its tail runs were recorded under, before it was the default)
bo-vae     candidates from the TNAS VAE (500 VAE + 500 uniform draws) instead of the whole space
random     random search, high fidelity
rea        regularized evolution, high fidelity
ls         local search, high fidelity
tnas       TNAS sampler-seeded evolution (paper 002), high fidelity
========== =================================================================

The peers (Optuna, SMAC3, HEBO, Syne Tune; ``pip install 'archtune[peers]'``) are variants too, listed
in :data:`archtune_experiments.tabular.peers.PEERS`. Any other registered strategy name runs with its defaults at high
fidelity.

Example:
    >>> v = variant("bo-single"); v.multi_fidelity, v.pretraining
    (False, 'simultaneous')
    >>> variant("rea").pretraining is None
    True
    >>> v = variant("bo-bare"); v.multi_fidelity, v.pretraining
    (False, None)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archtune.errors import UnknownNameError
from archtune.strategy.base import Strategy
from archtune.strategy.bo import BayesianOptimization
from archtune.strategy.registry import STRATEGIES, make_strategy
from archtune.strategy.tnas import VAECandidates
from archtune.surrogate.gp import GPConfig
from archtune_experiments.tabular.peers import PEERS


@dataclass(frozen=True)
class Variant:
    """How to run one strategy in a benchmark."""

    name: str
    make: Callable[[], Strategy]
    multi_fidelity: bool = False
    pretraining: str | None = None  # which pretrained surrogate it starts from (None: none)


def _bo(**kwargs: Any) -> Callable[[], Strategy]:
    return lambda: BayesianOptimization(**kwargs)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("bo", _bo(), True, "simultaneous"),
        Variant("bo-explore", _bo(explore_share=0.1), True, "simultaneous"),
        Variant("bo-ei", _bo(acquisition="ei"), True, "simultaneous"),
        Variant("bo-ts", _bo(acquisition="ts"), True, "simultaneous"),
        # one fidelity: BO's default there is the GP (EI after 10 random picks), with the zero-cost
        # metrics as inputs when the search has them
        Variant("bo-single", _bo(), False, "simultaneous"),
        Variant("bo-seq", _bo(), True, "sequential"),
        Variant("bo-nopre", _bo(pretraining="none"), True, None),
        # the BO a user gets with no zero-cost data and no cheap fidelity: the runner gives it no
        # pretrained surrogate and no metrics, and "none" also refuses any pretrained weights
        Variant("bo-bare", _bo(pretraining="none"), False, None),
        # the same two on the deep ensemble (UCB, 3 random picks): one fidelity's default until the GP
        Variant("bo-single-ensemble", _bo(surrogate="ensemble"), False, "simultaneous"),
        Variant("bo-bare-ensemble", _bo(pretraining="none", surrogate="ensemble"), False, None),
        # bo-bare as first measured with the GP: UCB after 3 random picks, and EI after 10; both with
        # the fit's first tolerance (1e-5)
        Variant(
            "bo-gp", _bo(surrogate="gp", acquisition="ucb", n_init=3, gp=GPConfig(gtol=1e-5)), False, None
        ),
        Variant("bo-gp-ei10", _bo(surrogate="gp", gp=GPConfig(gtol=1e-5)), False, None),
        # bo-bare with the values Yeo-Johnson-warped (GPConfig(warp="yeo-johnson"))
        Variant("bo-bare-yj", _bo(pretraining="none", gp=GPConfig(warp="yeo-johnson")), False, None),
        # bo-single with the GP blind to the zero-cost metrics (GPConfig(zero_cost_inputs=False))
        Variant("bo-single-noinputs", _bo(gp=GPConfig(zero_cost_inputs=False)), False, "simultaneous"),
        # the two with the other length-scale prior than GPConfig's "auto" gives them
        Variant("bo-single-weak", _bo(gp=GPConfig(length_scale_prior="weak")), False, "simultaneous"),
        Variant(
            "bo-bare-dim", _bo(pretraining="none", gp=GPConfig(length_scale_prior="dimension")), False, None
        ),
        Variant("bo-refit5", _bo(refit_growth=0.05), True, "simultaneous"),
        Variant("bo-refit10", _bo(refit_growth=0.1), True, "simultaneous"),
        Variant("bo-tail", _bo(stall_patience=30, confirm_top_every=2), True, "simultaneous"),
        Variant("bo-notail", _bo(stall_patience=None, confirm_top_every=None), True, "simultaneous"),
        # a new generator per search: it holds the VAE of that search
        Variant("bo-vae", lambda: BayesianOptimization(candidates=VAECandidates()), True, "simultaneous"),
    )
}
VARIANTS.update({name: Variant(name, peer.make, peer.multi_fidelity) for name, peer in PEERS.items()})


def variant(name: str) -> Variant:
    """The variant called ``name``: one of :data:`VARIANTS` or a registered strategy with defaults."""
    if name in VARIANTS:
        return VARIANTS[name]
    if name in STRATEGIES:
        return Variant(name, lambda: make_strategy(name))
    valid = ", ".join(sorted(set(VARIANTS) | set(STRATEGIES)))
    raise UnknownNameError(f"unknown benchmark strategy {name!r}; valid: {valid}")
