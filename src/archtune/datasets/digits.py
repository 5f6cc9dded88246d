"""scikit-learn's 8x8 digits (1,797 images, shipped inside its wheel) as a fixed train/validation split.

Example:
    >>> x_train, y_train, x_val, y_val = digits_split()
    >>> tuple(x_train.shape), len(y_val)
    ((1257, 1, 8, 8), 540)
"""

from __future__ import annotations

import numpy as np
import torch


def digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's digits as (x_train, y_train, x_val, y_val): a fixed 70/30 shuffle, images in [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(y)))
    x, y = x[order], y[order]
    cut = int(0.7 * len(y))
    return x[:cut], y[:cut], x[cut:], y[cut:]
