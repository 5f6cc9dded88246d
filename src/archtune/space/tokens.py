"""Encodings as token sequences (one token per position), for sequence models such as the TNAS VAE.

Built from what every strategy sees (the feature matrix and the featurizer's plan per position), so
it works for any space made by :func:`create_search_space` without its raw encodings: a one-hot
position's token is its category index; a numeric position's token is the rank of its value among the
values that position takes in the space.

Example:
    >>> import numpy as np
    >>> plans = [{"kind": "numeric", "low": 8, "high": 32}, {"kind": "onehot", "categories": ["a", "b", "c"]}]
    >>> features = np.array([[0.0, 1, 0, 0], [1.0, 0, 0, 1], [0.5, 0, 1, 0]], dtype=np.float32)
    >>> tokens, vocab = tokenize(features, plans)
    >>> tokens.tolist(), vocab
    ([[0, 0], [2, 2], [1, 1]], [3, 3])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from archtune.errors import ConfigError

MAX_NUMERIC_CHOICES = 256  # a numeric position with more distinct values is not a choice among tokens


def tokenize(features: np.ndarray, plans: list[dict[str, Any]] | None) -> tuple[np.ndarray, list[int]]:
    """(tokens of shape (n, positions), number of choices per position)."""
    if plans is None:  # a custom featurizer: every feature column is a position
        plans = [{"kind": "numeric"} for _ in range(features.shape[1])]
    columns, vocab, col = [], [], 0
    for position, plan in enumerate(plans):
        if plan["kind"] == "onehot":
            width = len(plan["categories"])
            columns.append(np.argmax(features[:, col : col + width], axis=1))
            vocab.append(width)
            col += width
        else:
            values, inverse = np.unique(features[:, col], return_inverse=True)
            if len(values) > MAX_NUMERIC_CHOICES:
                raise ConfigError(
                    f"position {position} takes {len(values)} numeric values; a token model needs "
                    f"at most {MAX_NUMERIC_CHOICES} choices per position"
                )
            columns.append(inverse.reshape(-1))
            vocab.append(len(values))
            col += 1
    return np.stack(columns, axis=1).astype(np.int64), vocab
