"""A trained accuracy predictor as a search fidelity: train k epochs, predict the final accuracy.

:class:`PredictedFidelity` turns an objective that trains for k epochs and reports per-epoch metrics into
a low-fidelity objective for :class:`~archtune.search.instance.SearchInstance`: it returns the predictor's
estimate of the fully trained value (the search's ``value``) and keeps the measured curve beside it.

Example (with a stand-in for training and a linear "predictor")::

    lo = PredictedFidelity(train_9_epochs, predictor, features=lambda enc, curve: [curve[-1]["accuracy"]])
    SearchInstance(..., hi_fi_eval=train_90_epochs, hi_fi_cost=90, lo_fi_eval=lo, lo_fi_cost=9)

    >>> class Plus5:
    ...     def predict(self, X): return [row[0] + 5 for row in X]
    >>> lo = PredictedFidelity(lambda enc: [{"accuracy": 60.0 + enc[0]}], Plus5(),
    ...                        features=lambda enc, curve: [curve[-1]["accuracy"]])
    >>> lo((2,))
    {'value': 67.0, 'curve': [{'accuracy': 62.0}]}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class PredictedFidelity:
    """``encoding -> {"value": predicted final value, "curve": per-epoch metrics}``.

    Args:
        partial_objective: trains ``encoding`` for a few epochs; returns a list of per-epoch metric dicts.
        predictor: anything with ``predict(X) -> values`` (scikit-learn regressors, archtune predictors).
        features: ``(encoding, curve) -> feature vector`` the predictor was trained on.
    """

    def __init__(
        self,
        partial_objective: Callable[[Any], Sequence[dict[str, float]]],
        predictor: Any,
        features: Callable[[Any, Sequence[dict[str, float]]], Sequence[float]],
    ):
        self.partial_objective = partial_objective
        self.predictor = predictor
        self.features = features

    def __call__(self, encoding: Any) -> dict[str, Any]:
        curve = list(self.partial_objective(encoding))
        x = np.asarray([self.features(encoding, curve)], dtype=np.float64)
        return {"value": float(np.asarray(self.predictor.predict(x))[0]), "curve": curve}
