"""Search a space too large to enumerate (10^9 encodings and more): the TNAS VAE proposes, the ensemble ranks.

The other strategies score or index every encoding of an enumerated :class:`~archtune.space.search_space.SearchSpace`.
A :class:`~archtune.space.product.ProductSpace` is given by its knobs instead (name -> options, every combination legal), so its
size is only a number. :class:`OpenSpaceBO` never lists it: at each step it scores a candidate set made of

* ``n_vae`` draws from the TNAS VAE (paper 002), retrained every ``round_size`` results on the
  ``top_k`` best so far: the learned distribution of good architectures;
* ``n_uniform`` uniform draws (eq. 11's U: the VAE cannot forget a region it never saw);
* every one-knob mutation of the ``n_parents`` best results (the refinement that evolution does);

with a deep ensemble (paper 000's surrogate, one-hot features) fitted on the results so far, and
proposes the candidate with the highest UCB. Given ``zero_cost`` (encoding -> cheap metrics such as
parameters, FLOPs or a latency), the ensemble is first pretrained on those metrics of
``pretrain_samples`` uniform draws, as BO pretrains on a whole enumerated space. A step costs the same in a 10^4 space as in a 10^12 one.

Determinism: the VAE of round r depends only on the first r * round_size results, the ensemble is rebuilt
from its seed at every step, and each step's draws are seeded by (seed, results told): replaying a
history through :meth:`OpenSpaceBO.tell` gives back the same next proposal. With ``history_file`` every
result is appended to a JSON-lines file as it is told (flushed to disk) and replayed when the search is
created again, so a killed search resumes where it stopped and goes on exactly as an uninterrupted one.

Example:
    >>> space = ProductSpace({"depth": (1, 2, 3), "width": (8, 16, 32, 64), "kernel": (3, 5)})
    >>> space.size
    24
    >>> search = OpenSpaceBO(space, n_init=3, n_vae=8, n_uniform=8, vae_epochs=5, seed=0)
    >>> for _ in range(5):
    ...     encoding = search.ask()
    ...     search.tell(encoding, encoding["depth"] * encoding["width"] / 100)
    >>> len(search.history), sorted(search.best()[0])
    (5, ['depth', 'kernel', 'width'])
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from archtune.errors import ConfigError
from archtune.space.product import ProductSpace
from archtune.strategy.acquisition import score
from archtune.surrogate.ensemble import DeepEnsemble, EnsembleConfig
from archtune.surrogate.vae import ArchitectureVAE


class OpenSpaceBO:
    """Deep-ensemble BO over a :class:`~archtune.space.product.ProductSpace` with VAE, uniform and mutation candidates (module doc).

    Args:
        space: the product space.
        n_init: uniform evaluations before the surrogate is trusted.
        n_vae, n_uniform, n_parents: candidate set per step (see the module doc).
        round_size, top_k, vae_epochs: the VAE's retraining (every ``round_size`` results, on the ``top_k`` best).
        beta: UCB exploration weight.
        ensemble: the surrogate's hyper-parameters.
        seed: every draw of the search.
        zero_cost: encoding -> {metric: value}, computed for ``pretrain_samples`` uniform draws to pretrain
            the ensemble (None: no pretraining).
        history_file: JSON-lines file of results (knob values must be JSON numbers, strings, booleans or
            null); results already in it are replayed first (see the module doc).
    """

    def __init__(
        self,
        space: ProductSpace,
        n_init: int = 10,
        n_vae: int = 500,
        n_uniform: int = 500,
        n_parents: int = 5,
        round_size: int = 10,
        top_k: int = 20,
        vae_epochs: int = 60,
        beta: float = 1.0,
        ensemble: EnsembleConfig | None = None,
        seed: int = 0,
        zero_cost: Callable[[dict[str, Any]], Mapping[str, float]] | None = None,
        pretrain_samples: int = 2000,
        history_file: str | os.PathLike[str] | None = None,
    ):
        if n_init < 1 or n_vae < 0 or n_uniform < 1 or n_parents < 0:
            raise ConfigError("OpenSpaceBO needs n_init >= 1, n_uniform >= 1, n_vae >= 0 and n_parents >= 0")
        if round_size < 1 or top_k < 1 or vae_epochs < 1:
            raise ConfigError("round_size, top_k and vae_epochs must be at least 1")
        self.space = space
        self.n_init, self.n_vae, self.n_uniform, self.n_parents = n_init, n_vae, n_uniform, n_parents
        self.round_size, self.top_k, self.vae_epochs, self.beta = round_size, top_k, vae_epochs, beta
        self.seed = seed
        self.ensemble = ensemble or EnsembleConfig(pretraining="simultaneous" if zero_cost else "none")
        self.zero_cost, self.pretrain_samples = zero_cost, pretrain_samples
        self._model: DeepEnsemble | None = None
        self.history: list[tuple[np.ndarray, float | None]] = []  # (tokens, value; None = failed)
        self._seen: set[bytes] = set()
        self._vae: ArchitectureVAE | None = None
        self._vae_round = 0
        self.history_file = Path(history_file) if history_file is not None else None
        if self.history_file is not None and self.history_file.exists():
            self._replay(self.history_file)

    def tell(self, encoding: Mapping[str, Any], value: float | None) -> None:
        """Record a result (``None`` for a failed evaluation: never proposed again, not learned from)."""
        self._record(encoding, value)
        if self.history_file is not None:
            with self.history_file.open("a") as fh:
                fh.write(json.dumps({"encoding": dict(encoding), "value": self.history[-1][1]}) + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    def _replay(self, path: Path) -> None:
        """Tell every complete result of ``path``; a last line cut short by a crash is dropped from the file
        (so that the next result does not get glued to it)."""
        text = path.read_text()
        good: list[str] = []
        for line in text.splitlines(keepends=True):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            if not line.endswith("\n"):
                break
            self._record(record["encoding"], record["value"])
            good.append(line)
        if sum(map(len, good)) != len(text):
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text("".join(good))
            os.replace(tmp, path)

    def _record(self, encoding: Mapping[str, Any], value: float | None) -> None:
        row = self.space.encode(encoding)
        self.history.append((row, None if value is None else float(value)))
        self._seen.add(row.tobytes())

    def best(self) -> tuple[dict[str, Any], float]:
        scored = [(v, i) for i, (_, v) in enumerate(self.history) if v is not None]
        if not scored:
            raise ConfigError("no successful result yet")
        value, i = max(scored)
        return self.space.decode(self.history[i][0]), value

    def ask(self) -> dict[str, Any]:
        """The next encoding to evaluate (never one already told)."""
        rng = np.random.default_rng([self.seed, len(self.history)])
        scored = [(row, v) for row, v in self.history if v is not None]
        if len(scored) < self.n_init:
            return self.space.decode(self._untried(self.space.sample(rng, 64))[0])
        candidates = self._untried(self._candidates(rng, scored))
        X = self.space.features(np.stack([row for row, _ in scored]))
        y = np.array([v for _, v in scored])
        model = self._surrogate()
        model.fit(X, y, np.zeros(len(y), dtype=np.int64), seed=self.seed + len(self.history))
        members = model.predict_members(self.space.features(candidates), 0)
        pick = int(np.argmax(score("ucb", members, float(y.max()), rng, beta=self.beta)))
        return self.space.decode(candidates[pick])

    def _surrogate(self) -> DeepEnsemble:
        """The ensemble, built (and pretrained) once; every fit starts again from that state (replay-safe)."""
        if self._model is None:
            names: list[str] = []
            if self.zero_cost is not None:
                rows = self.space.sample(np.random.default_rng([self.seed, 2**31]), self.pretrain_samples)
                measured = [dict(self.zero_cost(self.space.decode(row))) for row in rows]
                names = sorted(measured[0])
            model = DeepEnsemble(self.space.n_features, names, ["hi"], self.ensemble, seed=self.seed)
            if names:
                model.pretrain(
                    self.space.features(rows),
                    {n: np.array([m[n] for m in measured]) for n in names},
                    seed=self.seed,
                )
            self._model = model
        return self._model

    # -- candidates --------------------------------------------------------------------------------
    def _candidates(self, rng: np.random.Generator, scored: list[tuple[np.ndarray, float]]) -> np.ndarray:
        ranked = sorted(scored, key=lambda rv: -rv[1])
        parts = [self.space.sample(rng, self.n_uniform)]
        parts += [self.space.mutations(row) for row, _ in ranked[: self.n_parents]]
        vae = self._round_vae()
        if vae is not None and self.n_vae:
            parts.append(vae.sample(self.n_vae, rng))
        return np.unique(np.concatenate(parts).astype(np.int64), axis=0)

    def _round_vae(self) -> ArchitectureVAE | None:
        """The VAE of the latest completed round, trained on that round's history only (replay-safe)."""
        r = len(self.history) // self.round_size
        if r != self._vae_round:
            done = [(row, v) for row, v in self.history[: r * self.round_size] if v is not None]
            if done:
                top = sorted(done, key=lambda rv: -rv[1])[: self.top_k]
                self._vae = ArchitectureVAE(self.space.vocab_sizes, seed=self.seed * 7919 + r)
                self._vae.fit(np.stack([row for row, _ in top]), epochs=self.vae_epochs)
            self._vae_round = r
        return self._vae

    def _untried(self, rows: np.ndarray) -> np.ndarray:
        keep = [row for row in rows if row.tobytes() not in self._seen]
        if not keep and len(self._seen) >= self.space.size:
            raise ConfigError(f"every one of the space's {self.space.size} encodings has been evaluated")
        while not keep:  # every candidate was tried: widen with fresh uniform draws
            rows = self.space.sample(
                np.random.default_rng([self.seed, len(self.history), len(rows)]), 4 * len(rows)
            )
            keep = [row for row in rows if row.tobytes() not in self._seen]
        return np.stack(keep)
