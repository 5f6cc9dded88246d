"""TNAS (paper 002): sample architectures from a VAE trained on the best ones seen, mixed with uniform sampling.

The sampler is eq. 11, Gamma_t = (1 - eps) U + eps p(alpha | z): each draw comes from the VAE with
probability eps and uniformly from the untried encodings otherwise. Every ``round_size`` finished
evaluations make a round: the VAE is retrained on the ``top_k`` best architectures of the history up to
that round's end (by the objective the search optimises) and eps rises by ``eps_inc`` (section 5.3).
The VAE of round r depends only on the first r * round_size observations, so a replayed history
rebuilds exactly the same sampler (resumes are exact).

As a stand-alone search (``evolution=True``, the default) the sampler seeds an aging evolution as in
section 4.2: once ``population`` results exist, a share ``mutation_share`` of the proposals mutates one
position of a tournament winner among the latest ``population`` results; the rest come from the sampler.
With ``evolution=False`` every proposal comes from the sampler (the paper's Table 4 analysis).

Example:
    >>> import numpy as np
    >>> from archtune.strategy.base import Fidelity, Observation, SearchContext
    >>> plans = [{"kind": "onehot", "categories": list("abc")}] * 2
    >>> X = np.array([np.r_[np.eye(3)[i], np.eye(3)[j]] for i in range(3) for j in range(3)], dtype=np.float32)
    >>> t = TNAS(round_size=3, top_k=2, eps_inc=0.5, epochs=20); t.setup(SearchContext(X, [Fidelity("hi", 1.0)], feature_plans=plans))
    >>> for i in range(3):
    ...     t.tell(Observation(i, "hi", float(i), 1.0))
    >>> t.epsilon(), t.ask(1)[0].index not in (0, 1, 2)
    (0.5, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from archtune.errors import ConfigError
from archtune.space.tokens import tokenize
from archtune.strategy.base import Observation, SearchContext, Strategy, Suggestion
from archtune.strategy.evolution import mutate_tournament_winner
from archtune.surrogate.vae import ArchitectureVAE

if TYPE_CHECKING:
    from archtune.space.product import ProductSpace

VAE_DRAWS = 64  # VAE samples tried per proposal before falling back to a uniform draw


class TNASSampler:
    """Gamma_t over the encodings of a space, given as token rows (see ``archtune.space.tokens.tokenize``),
    or over a product space's token rows (``product``), computed on demand."""

    def __init__(
        self,
        tokens: np.ndarray | None,
        vocab_sizes: list[int],
        epochs: int = 150,
        seed: int = 0,
        product: ProductSpace | None = None,
    ):
        self.tokens = tokens
        self.vocab_sizes = vocab_sizes
        self.epochs = epochs
        self.seed = seed
        self.product = product
        self.row_of = (
            {tuple(int(t) for t in row): i for i, row in enumerate(tokens)} if tokens is not None else {}
        )
        self.vae: ArchitectureVAE | None = None

    @classmethod
    def for_context(cls, context: SearchContext, epochs: int) -> TNASSampler:
        """The sampler over a search's space: its tokenized features, or a product space's own tokens."""
        if context.product is not None:
            return cls(None, context.product.vocab_sizes, epochs, context.seed, context.product)
        tokens, vocab = tokenize(context.features, context.feature_plans)
        return cls(tokens, vocab, epochs, context.seed)

    def index_of_row(self, row: np.ndarray) -> int | None:
        """The encoding a token row stands for, or None when the space has no such encoding."""
        if self.product is not None:
            return int(self.product.index_of_tokens(row)[0])
        return self.row_of.get(tuple(int(t) for t in row))

    def retrain(self, best: Sequence[int], round_number: int) -> None:
        """Train a fresh VAE on the encodings ``best`` (indices); seeded by the round: replay-safe."""
        self.vae = ArchitectureVAE(self.vocab_sizes, seed=self.seed * 7919 + round_number)
        rows = (
            self.product.tokens_of(np.asarray(best))
            if self.product is not None
            else self.tokens[np.asarray(best)]  # type: ignore[index]
        )
        self.vae.fit(rows, epochs=self.epochs)

    def draw_vae(self, rng: np.random.Generator, available: Any) -> int | None:
        """An available encoding decoded by the VAE, or None when none of ``VAE_DRAWS`` samples is one."""
        if self.vae is None:
            return None
        for row in self.vae.sample(VAE_DRAWS, rng):
            index = self.index_of_row(row)
            if index is not None and available[index]:  # legal in this space, and not tried yet
                return index
        return None

    def draw(self, rng: np.random.Generator, available: Any, epsilon: float) -> tuple[int | None, str]:
        """One draw from Gamma_t; also says where it came from (``"vae"`` or ``"uniform"``)."""
        if rng.random() < epsilon:
            index = self.draw_vae(rng, available)
            if index is not None:
                return index, "vae"
        return Strategy.pick_uniform(rng, available), "uniform"


class TNAS(Strategy):
    """TNAS sampler, optionally driving an aging evolution (see the module doc).

    Args:
        eps_start: eps of round 0 (before the first VAE exists only uniform draws are possible).
        eps_inc: added to eps after each round (capped at 1).
        round_size: finished evaluations per round.
        top_k: architectures the VAE is trained on each round (10: chosen on NB201 CIFAR-10, seeds 100-119,
            among 5, 10 and 20 with eps_inc 0.1/0.2 and mutation share 0.5/0.7; CIFAR-100 and
            ImageNet16-120 were not looked at to choose it).
        epochs: VAE training epochs per round.
        evolution, population, sample, mutation_share: the evolution of section 4.2.
    """

    name = "tnas"

    def __init__(
        self,
        eps_start: float = 0.0,
        eps_inc: float = 0.1,
        round_size: int = 10,
        top_k: int = 10,
        epochs: int = 150,
        evolution: bool = True,
        population: int = 20,
        sample: int = 5,
        mutation_share: float = 0.5,
    ):
        if not 0 <= eps_start <= 1 or eps_inc < 0:
            raise ConfigError("eps_start must be in [0, 1] and eps_inc at least 0")
        if round_size < 1 or top_k < 1 or epochs < 1:
            raise ConfigError("round_size, top_k and epochs must be at least 1")
        if population < 1 or not 1 <= sample <= population or not 0 <= mutation_share <= 1:
            raise ConfigError(
                "evolution needs population >= 1, 1 <= sample <= population, mutation_share in [0, 1]"
            )
        self.eps_start, self.eps_inc = eps_start, eps_inc
        self.round_size, self.top_k, self.epochs = round_size, top_k, epochs
        self.evolution, self.population, self.sample, self.mutation_share = (
            evolution,
            population,
            sample,
            mutation_share,
        )

    def setup(self, context: SearchContext) -> None:
        super().setup(context)
        self.sampler = TNASSampler.for_context(context, self.epochs)
        self._trained_round = 0
        self.sources: dict[str, int] = {"vae": 0, "uniform": 0, "mutation": 0}

    def rounds(self) -> int:
        """Rounds completed: finished evaluations at the top fidelity, by ``round_size``."""
        return sum(1 for o in self.history if o.fidelity == self.ctx.top) // self.round_size

    def epsilon(self) -> float:
        """eps of the current round: ``eps_start + eps_inc * rounds``, at most 1."""
        return min(1.0, self.eps_start + self.eps_inc * self.rounds())

    def _sync(self) -> None:
        """Retrain the VAE for the latest completed round, on that round's history only."""
        r = self.rounds()
        if r == self._trained_round or self.epsilon() == 0.0:  # a VAE nobody draws from is not trained
            return
        seen = [o for o in self.history if o.fidelity == self.ctx.top][: r * self.round_size]
        scored = [o for o in seen if o.value is not None]
        if scored:
            ranked = sorted(scored, key=lambda o: (-o.value, o.index))  # type: ignore[operator]
            self.sampler.retrain([o.index for o in ranked[: self.top_k]], r)
        self._trained_round = r

    def propose(
        self, rng: np.random.Generator, pending: Sequence[Suggestion], allowed: Sequence[str]
    ) -> Suggestion | None:
        fidelity = self.top_fidelity(allowed)
        if fidelity is None:
            return None
        self._sync()
        available = self.available(fidelity, pending)
        done = [o for o in self.history if o.fidelity == fidelity and o.value is not None]
        if (
            self.evolution
            and len(done) >= self.population
            and self.ctx.neighbors is not None
            and rng.random() < self.mutation_share
        ):
            child = mutate_tournament_winner(
                rng, done, self.population, self.sample, self.ctx.neighbors, available
            )
            if child is not None:
                self.sources["mutation"] += 1
                return Suggestion(child, fidelity)
        index, source = self.sampler.draw(rng, available, self.epsilon())
        if index is None:
            return None
        self.sources[source] += 1
        return Suggestion(index, fidelity)


class VAECandidates:
    """The TNAS sampler as BO's candidate generator: the VAE proposes, the surrogate ranks.

    Instead of scoring every untried encoding, BO scores ``n_vae`` VAE draws plus ``n_uniform`` uniform
    draws (eq. 11 with eps = n_vae / (n_vae + n_uniform)), so its cost per step no longer grows with
    the size of the space. The VAE is retrained every ``round_size`` finished evaluations on the
    ``top_k`` best results at the cheapest fidelity that has any (screening results when there are two
    fidelities), from that round's history only (replay-safe).

    Example:
        >>> import numpy as np
        >>> from archtune.strategy.base import Fidelity, Observation, SearchContext
        >>> from archtune.strategy.bo import BayesianOptimization
        >>> X = np.array([np.r_[np.eye(4)[i], np.eye(4)[j]] for i in range(4) for j in range(4)], dtype=np.float32)
        >>> plans = [{"kind": "onehot", "categories": list("abcd")}] * 2
        >>> bo = BayesianOptimization(n_init=2, candidates=VAECandidates(n_vae=4, n_uniform=2, epochs=5))
        >>> bo.setup(SearchContext(X, [Fidelity("hi", 1.0)], feature_plans=plans))
        >>> for i in range(2):
        ...     bo.tell(Observation(i, "hi", float(i), 1.0))
        >>> bo.ask(1)[0].index not in (0, 1)
        True
    """

    def __init__(
        self, n_vae: int = 500, n_uniform: int = 500, round_size: int = 10, top_k: int = 20, epochs: int = 60
    ):
        if n_vae < 0 or n_uniform < 0 or n_vae + n_uniform < 1:
            raise ConfigError("VAECandidates needs n_vae + n_uniform >= 1")
        self.n_vae, self.n_uniform = n_vae, n_uniform
        self.round_size, self.top_k, self.epochs = round_size, top_k, epochs

    def setup(self, context: SearchContext) -> None:
        self.sampler = TNASSampler.for_context(context, self.epochs)
        self.fidelities = [f.name for f in context.fidelities]  # cheapest first
        self._trained_round = 0

    def _sync(self, history: Sequence[Observation]) -> None:
        """Retrain the VAE when a round has completed, on that round's history only (replay-safe)."""
        r = len(history) // self.round_size
        if r != self._trained_round:
            seen = [o for o in history[: r * self.round_size] if o.value is not None]
            with_data = [f for f in self.fidelities if any(o.fidelity == f for o in seen)]
            if with_data:
                scored = [o for o in seen if o.fidelity == with_data[0]]
                ranked = sorted(scored, key=lambda o: (-o.value, o.index))  # type: ignore[operator]
                self.sampler.retrain([o.index for o in ranked[: self.top_k]], r)
            self._trained_round = r

    def draws(self, rng: np.random.Generator, available: Any, history: Sequence[Observation]) -> np.ndarray:
        """The free encodings among ``n_vae`` VAE draws (none before the first round): a product space's
        candidates, beside the uniform draws and mutations BO adds itself."""
        self._sync(history)
        if self.sampler.vae is None or not self.n_vae:
            return np.zeros(0, dtype=np.int64)
        hits = [self.sampler.index_of_row(row) for row in self.sampler.vae.sample(self.n_vae, rng)]
        legal = np.array(sorted({h for h in hits if h is not None}), dtype=np.int64)
        return legal[available[legal]] if len(legal) else legal

    def mask(
        self, rng: np.random.Generator, available: np.ndarray, history: Sequence[Observation]
    ) -> np.ndarray:
        """Candidates to score: VAE draws and uniform draws among ``available``."""
        self._sync(history)
        chosen = np.zeros_like(available)
        if self.sampler.vae is not None and self.n_vae:
            rows = self.sampler.vae.sample(self.n_vae, rng)
            hits = [self.sampler.row_of.get(tuple(int(t) for t in row)) for row in rows]
            hits_a = np.asarray([h for h in hits if h is not None], dtype=np.int64)
            chosen[hits_a[available[hits_a]]] = True
        free = np.flatnonzero(available)
        n_uniform = self.n_uniform + (self.n_vae if self.sampler.vae is None else 0)
        if len(free):
            chosen[rng.choice(free, size=min(n_uniform, len(free)), replace=False)] = True
        return chosen
