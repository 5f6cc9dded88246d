"""Our NAAP-440 predictor: the paper's regressors see six summary numbers of a scheme; ours sees the
scheme itself (kernel, width, stride and residual flag of every layer) and averages three regressors.

* Features: the six scheme features (log #params, log #MACs, #layers, #stages, first and last width)
  plus the per-layer encoding of :func:`~archtune.naap.schemes.scheme_to_encoding`; with k > 0 epochs
  the paper's per-epoch features may be added too.
* Model: the mean of a random forest (200 trees), gradient boosting (100 stages) and an RBF SVR, on
  features scaled on the training split.
* Choice without peeking at the test set: for k > 0, 5-fold cross-validation on the 400 training
  architectures picks between "scheme only" and "scheme + epochs" by the share of violated pairs.

Run ``archtune naap ours`` for the comparison with Table 3's best baseline.

Example (``evaluate_ours(0)`` runs the whole protocol: 24 violations, against the paper's best 42):
    >>> X = scheme_features(load_naap440()); X.shape
    (440, 23)
    >>> model = AveragedRegressor(seed=0).fit(X[:400], load_naap440().max_accuracy[:400])
    >>> model.predict(X[400:]).shape
    (40,)
"""

from __future__ import annotations

import numpy as np
from sklearn import ensemble, preprocessing, svm
from sklearn.model_selection import KFold

from archtune.naap.baseline import Result, feature_matrix, median_run, split_rows
from archtune.naap.data import NAAP440, load_naap440
from archtune.naap.metrics import monotonicity_violations
from archtune.naap.schemes import generate_schemes, scheme_to_encoding


class AveragedRegressor:
    """Mean prediction of a random forest, gradient boosting and an RBF SVR."""

    def __init__(self, seed: int = 0):
        self.models = [
            ensemble.RandomForestRegressor(n_estimators=200, random_state=seed),
            ensemble.GradientBoostingRegressor(n_estimators=100, random_state=seed),
            svm.SVR(kernel="rbf", epsilon=0.001, C=0.1),
        ]

    def fit(self, X: np.ndarray, y: np.ndarray) -> AveragedRegressor:
        for model in self.models:
            model.fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.mean([model.predict(X) for model in self.models], axis=0)


def scheme_features(table: NAAP440) -> np.ndarray:
    """Six summary features and the per-layer scheme encoding, one row per architecture."""
    layers = [scheme_to_encoding(s) for s in generate_schemes()]
    per_layer = np.array([[enc[k] for k in sorted(enc)] for enc in layers], dtype=np.float64)
    return np.column_stack([feature_matrix(table, 1)[:, :6], per_layer])


def _fit_predict(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, seed: int) -> np.ndarray:
    scaler = preprocessing.StandardScaler().fit(X_train)
    return AveragedRegressor(seed).fit(scaler.transform(X_train), y_train).predict(scaler.transform(X_test))


def cross_validated_violations(X: np.ndarray, y: np.ndarray, folds: int = 5) -> float:
    """Mean share of violated pairs over ``folds`` folds of the given (training) rows."""
    shares = []
    for k, (a, b) in enumerate(KFold(folds, shuffle=True, random_state=0).split(X)):
        predicted = _fit_predict(X[a], y[a], X[b], seed=k)
        n = len(b)
        shares.append(monotonicity_violations(y[b], predicted) / (n * (n - 1) / 2))
    return float(np.mean(shares))


def evaluate_ours(epochs: int, table: NAAP440 | None = None) -> Result:
    """Our predictor on the paper's split (feature set chosen by CV on the training split for k > 0)."""
    table = table or load_naap440()
    y = table.max_accuracy
    train, test = split_rows(table)
    candidates = {"scheme": scheme_features(table)}
    if epochs > 0:
        candidates["scheme + epochs"] = np.column_stack([candidates["scheme"], feature_matrix(table, epochs)[:, 6:]])
    chosen = min(candidates, key=lambda name: cross_validated_violations(candidates[name][train], y[train]))
    X = candidates[chosen]
    violations, mae, score = median_run(y[test], lambda seed: _fit_predict(X[train], y[train], X[test], seed))
    return Result(f"ours ({chosen})", epochs, mae, score, violations)
