"""The ask/tell contract every search strategy follows.

A strategy decides what to evaluate next and at which fidelity; it never trains networks or touches
files. It sees the space through a :class:`SearchContext` and learns results through :meth:`Strategy.tell`.

Determinism: ``ask`` draws its randomness from a generator seeded by (seed, trials told, trials
pending), so replaying a stored history through ``tell`` puts a new strategy object in exactly the
state of the one that produced it. This is what makes a killed search resume identically.

Example:
    >>> import numpy as np
    >>> ctx = SearchContext(features=np.eye(3, dtype=np.float32), fidelities=[Fidelity("hi", 1.0)], seed=0)
    >>> from archtune.strategy.random_search import RandomSearch
    >>> s = RandomSearch(); s.setup(ctx)
    >>> [sug.fidelity for sug in s.ask(2)]
    ['hi', 'hi']
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from archtune.errors import ConfigError

if TYPE_CHECKING:
    from archtune.space.product import ProductSpace

#: a product space at most this large is enumerated when uniform draws find no free encoding
ENUMERATE_BELOW = 2**20


@dataclass(frozen=True)
class Fidelity:
    """A way to evaluate: its name (``"lo"``/``"hi"``) and its cost in the user's units."""

    name: str
    cost: float


@dataclass(frozen=True)
class Suggestion:
    """What to evaluate: an index into the space and a fidelity name."""

    index: int
    fidelity: str


@dataclass(frozen=True)
class Observation:
    """A finished evaluation as a strategy sees it (value None when it failed)."""

    index: int
    fidelity: str
    value: float | None
    cost: float


@dataclass
class SearchContext:
    """What a strategy may know of the search.

    Attributes:
        features: float32 matrix, one row per encoding of the space.
        fidelities: from cheapest to most expensive; the last one is the objective that counts.
        seed: the run's seed.
        searchable: mask of encodings that may be proposed (None: all).
        metrics: zero-cost metrics per encoding (NaN = unknown), for pretraining.
        pretrained: a stored pretrained surrogate (see :meth:`~archtune.surrogate.ensemble.DeepEnsemble.pretrained_payload`).
        neighbors: index -> indices one mutation away (for evolution and local search).
        feature_plans: the default featurizer's plan per position (numeric or one-hot), or None.
        known_objectives: for a multi-objective search, the objectives known for every encoding before
            any training (zero-cost ones), shape (encodings, k), maximised form; None for one objective.
            The values told are the learned objective, maximised form too. For a product space, an
            object indexed the same way by rows (``known[i]``, ``known[indices]``), computed on demand
            (:class:`~archtune.search.objectives.KnownOnDemand`).
        product: the space when it is a :class:`~archtune.space.product.ProductSpace` (never listed):
            then ``features`` is empty, rows come from :meth:`features_of`, and ``searchable`` is None
            (the space says which encodings are allowed).
        admissible: for a product space, the search's own test on top of the space's, indices -> a
            boolean array (the constraints on zero-cost metrics, judged by the pretrained surrogate
            where unmeasured); None: every allowed encoding.
        metric_indices: the encodings ``metrics`` describe (a product space's profiled sample); None:
            one value per encoding of the space.
    """

    features: np.ndarray
    fidelities: list[Fidelity]
    seed: int = 0
    searchable: np.ndarray | None = None
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    pretrained: dict[str, Any] | None = None
    neighbors: Callable[[int], Sequence[int]] | None = None
    feature_plans: list[dict[str, Any]] | None = None
    known_objectives: Any = None  # np.ndarray, or rows on demand for a product space (see above)
    product: ProductSpace | None = None
    metric_indices: np.ndarray | None = None
    admissible: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def n(self) -> int:
        return self.product.size if self.product is not None else len(self.features)

    @property
    def n_features(self) -> int:
        return self.product.n_features if self.product is not None else int(self.features.shape[1])

    def features_of(self, indices: np.ndarray) -> np.ndarray:
        """Feature rows of encoding indices (computed on demand for a product space)."""
        if self.product is not None:
            return self.product.features_of(indices)
        return self.features[indices]

    def metric_features(self) -> np.ndarray:
        """Feature rows of the encodings ``metrics`` describe (for pretraining)."""
        if self.metric_indices is None:
            return self.features
        return self.features_of(self.metric_indices)

    @property
    def top(self) -> str:
        """Name of the highest fidelity."""
        return self.fidelities[-1].name

    def cost_of(self, fidelity: str) -> float:
        for f in self.fidelities:
            if f.name == fidelity:
                return f.cost
        raise ConfigError(f"unknown fidelity {fidelity!r}")


class OpenAvailable:
    """The encodings of a product space that may still be proposed at one fidelity: a mask never built.

    ``available[i]`` (an index, or an array of them: a boolean array back) and ``available.any()`` read
    like the enumerated form's boolean mask; :meth:`draw` gives distinct uniform draws among them
    (rejection sampling, and an exact listing of the free ones for a space of at most
    ``ENUMERATE_BELOW`` encodings when draws find none). ``admissible`` is the search's own test on
    top of the space's (constraints: see :attr:`SearchContext.admissible`), asked once per batch.
    """

    def __init__(
        self,
        space: ProductSpace,
        busy: set[int],
        admissible: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        self.space = space
        self.busy = busy
        self.admissible = admissible

    def __getitem__(self, index: Any) -> Any:
        if np.ndim(index) == 0:
            return bool(self.mask(np.array([int(index)]))[0])
        return self.mask(np.asarray(index, dtype=np.int64))

    def mask(self, indices: np.ndarray) -> np.ndarray:
        """Which of ``indices`` are free: not busy, allowed by the space, admitted by the search."""
        ok = np.fromiter(
            (i not in self.busy and self.space.allowed(i) for i in indices.tolist()),
            dtype=bool,
            count=len(indices),
        )
        if self.admissible is not None and ok.any():
            ok[ok] = self.admissible(indices[ok])
        return ok

    def any(self) -> bool:
        return len(self.busy) < self.space.size and bool(len(self.draw(np.random.default_rng(0), 1)))

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Up to ``n`` distinct free encodings, uniformly drawn (fewer only when the space has fewer)."""
        out: dict[int, None] = {}
        for _ in range(32):
            batch = self.space.draw(rng, max(64, 2 * n))
            for i, free in zip(batch.tolist(), self.mask(batch).tolist(), strict=True):
                if free and i not in out:
                    out[i] = None
                    if len(out) == n:
                        return np.fromiter(out, dtype=np.int64, count=n)
        if self.space.size <= ENUMERATE_BELOW:  # a nearly exhausted small space: list what is left
            rest = np.array([i for i in range(self.space.size) if i not in out], dtype=np.int64)
            free = rest[self.mask(rest)] if len(rest) else rest
            take = rng.permutation(len(free))[: n - len(out)]
            out.update({int(free[k]): None for k in take})
        return np.fromiter(out, dtype=np.int64, count=len(out))


class Strategy(ABC):
    """Base class: keeps the observations; subclasses implement :meth:`propose`."""

    name = "strategy"
    #: False for a strategy that is deterministic by design (the seed changes nothing it does)
    uses_seed = True
    #: whether the strategy searches a :class:`~archtune.space.product.ProductSpace` (never listed)
    serves_product_spaces = True
    #: whether the strategy has stopped by its own rule (for the spline, Algorithm 1 converged) and
    #: proposes nothing more, with encodings left untried
    converged = False

    def setup(self, context: SearchContext) -> None:
        """Attach the strategy to a search. Called once, before any ask or tell."""
        self.ctx = context
        self.values: dict[str, dict[int, float]] = {f.name: {} for f in context.fidelities}
        self.tried: dict[str, set[int]] = {f.name: set() for f in context.fidelities}
        self.spent: dict[str, float] = {f.name: 0.0 for f in context.fidelities}
        self.history: list[Observation] = []
        if context.product is not None:
            if not self.serves_product_spaces:
                from archtune.strategy.registry import STRATEGIES  # here: the registry imports this module

                serving = ", ".join(
                    n for n, cls in sorted(STRATEGIES.items()) if getattr(cls, "serves_product_spaces", True)
                )
                raise ConfigError(
                    f"strategy {self.name!r} needs a listed space (create_search_space with encodings=...); "
                    f"a knobs space is searched by {serving}"
                )
            self.searchable = np.ones(0, dtype=bool)  # unused: the product space says what is allowed
        else:
            self.searchable = (
                context.searchable if context.searchable is not None else np.ones(context.n, dtype=bool)
            )

    def tell(self, observation: Observation) -> None:
        """Record a finished evaluation (failed ones are never proposed again at that fidelity)."""
        self.history.append(observation)
        self.tried[observation.fidelity].add(observation.index)
        self.spent[observation.fidelity] += observation.cost
        if observation.value is not None:
            self.values[observation.fidelity][observation.index] = observation.value

    def ask(
        self, n: int = 1, pending: Sequence[Suggestion] = (), allowed: Sequence[str] | None = None
    ) -> list[Suggestion]:
        """Propose ``n`` evaluations, none already tried or pending at the same fidelity.

        Args:
            n: how many suggestions.
            pending: evaluations dispatched but not finished (treated as tried).
            allowed: fidelity names the remaining budget can pay for (None: all).
        """
        allowed = list(allowed) if allowed is not None else [f.name for f in self.ctx.fidelities]
        if not allowed:
            return []
        out: list[Suggestion] = []
        for _ in range(n):
            busy = list(pending) + out
            rng = np.random.default_rng([self.ctx.seed, len(self.history), len(busy)])
            suggestion = self.propose(rng, busy, allowed)
            if suggestion is None:
                break
            out.append(suggestion)
        return out

    @abstractmethod
    def propose(
        self, rng: np.random.Generator, pending: Sequence[Suggestion], allowed: Sequence[str]
    ) -> Suggestion | None:
        """One suggestion (or None when nothing is left to try)."""

    # -- helpers for subclasses ------------------------------------------------------------------
    def available(self, fidelity: str, pending: Sequence[Suggestion]) -> Any:
        """Mask of encodings not yet tried or pending at ``fidelity``: a boolean array for a listed
        space, an :class:`OpenAvailable` (indexable the same way) for a product space."""
        idx = list(self.tried[fidelity]) + [p.index for p in pending if p.fidelity == fidelity]
        if self.ctx.product is not None:
            return OpenAvailable(self.ctx.product, set(idx), self.ctx.admissible)
        mask = self.searchable.copy()
        if idx:
            mask[idx] = False
        return mask

    def is_allowed(self, index: int) -> bool:
        """Whether encoding ``index`` may ever be proposed (searchable, or allowed by the product space)."""
        if self.ctx.product is not None:
            return bool(OpenAvailable(self.ctx.product, set(), self.ctx.admissible)[index])
        return bool(self.searchable[index])

    @staticmethod
    def pick_uniform(rng: np.random.Generator, available: Any) -> int | None:
        """A uniform draw among ``available`` (either form), or None when it is empty."""
        if isinstance(available, OpenAvailable):
            drawn = available.draw(rng, 1)
            return int(drawn[0]) if len(drawn) else None
        candidates = np.flatnonzero(available)
        return int(rng.choice(candidates)) if len(candidates) else None

    def random_available(
        self, rng: np.random.Generator, fidelity: str, pending: Sequence[Suggestion]
    ) -> int | None:
        return self.pick_uniform(rng, self.available(fidelity, pending))

    def top_fidelity(self, allowed: Sequence[str]) -> str | None:
        return self.ctx.top if self.ctx.top in allowed else None
