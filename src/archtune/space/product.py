"""A space given by its knobs instead of a list: every combination of the options of named knobs.

Its size is only a number (10^12 encodings cost nothing), so strategies that work on it draw, mutate and
featurize encodings without listing the space (:class:`~archtune.strategy.open_space.OpenSpaceBO`).
The enumerated form is :class:`~archtune.space.search_space.SearchSpace`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from archtune.errors import ConfigError

__all__ = ["ProductSpace"]


class ProductSpace:
    """Every combination of the options of named knobs; encodings are dicts knob -> option.

    Internally an encoding is a row of choice indices ("tokens"), one per knob in the given order.

    Example:
        >>> s = ProductSpace({"op": ("conv", "pool"), "width": (8, 16, 32)})
        >>> s.size, s.decode(np.array([1, 2]))
        (6, {'op': 'pool', 'width': 32})
        >>> s.features(np.array([[1, 2]])).tolist()
        [[0.0, 1.0, 0.0, 0.0, 1.0]]
    """

    def __init__(self, knobs: Mapping[str, Sequence[Any]]):
        if not knobs:
            raise ConfigError("a ProductSpace needs at least one knob")
        self.names = list(knobs)
        self.options = [tuple(options) for options in knobs.values()]
        for name, options in zip(self.names, self.options, strict=True):
            if not options:
                raise ConfigError(f"knob {name!r} has no options")
            if len(set(map(repr, options))) != len(options):
                raise ConfigError(f"knob {name!r} lists an option twice: {options}")
        self.vocab_sizes = [len(options) for options in self.options]
        self._offsets = np.concatenate([[0], np.cumsum(self.vocab_sizes)[:-1]]).astype(np.int64)
        self._lookup = [{repr(o): i for i, o in enumerate(options)} for options in self.options]

    @property
    def size(self) -> int:
        return math.prod(self.vocab_sizes)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniform draws, shape (n, knobs)."""
        return np.stack([rng.integers(v, size=n, dtype=np.int64) for v in self.vocab_sizes], axis=1)

    def features(self, tokens: np.ndarray) -> np.ndarray:
        """One-hot rows (one block per knob), float32."""
        tokens = np.atleast_2d(tokens)
        out = np.zeros((len(tokens), sum(self.vocab_sizes)), dtype=np.float32)
        np.put_along_axis(out, tokens + self._offsets, 1.0, axis=1)
        return out

    def decode(self, row: np.ndarray) -> dict[str, Any]:
        return {name: options[int(t)] for name, options, t in zip(self.names, self.options, row, strict=True)}

    def encode(self, encoding: Mapping[str, Any]) -> np.ndarray:
        """Token row of an encoding dict; unknown knobs or options are refused."""
        if set(encoding) != set(self.names):
            raise ConfigError(f"an encoding of this space has the knobs {self.names}, got {sorted(encoding)}")
        try:
            return np.array(
                [lookup[repr(encoding[name])] for name, lookup in zip(self.names, self._lookup, strict=True)],
                dtype=np.int64,
            )
        except KeyError as err:
            raise ConfigError(f"option {err.args[0]} is not in this space") from None

    def mutations(self, row: np.ndarray) -> np.ndarray:
        """Every encoding one knob away from ``row``."""
        out = []
        for k, v in enumerate(self.vocab_sizes):
            for t in range(v):
                if t != row[k]:
                    child = row.copy()
                    child[k] = t
                    out.append(child)
        return np.array(out, dtype=np.int64).reshape(-1, len(self.vocab_sizes))
