"""A small CNN space trained for real on scikit-learn's 8x8 digits: the embedded demo.

Encoding: (depth, width, kernel, activation). Low fidelity = 1 epoch, high fidelity = 4 epochs.

Example:
    >>> net = encoding_to_net((2, 16, 3, "relu"))
    >>> sum(p.numel() for p in net.parameters()) > 0
    True
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import Any

import torch
from torch import nn

from archtune.datasets.digits import digits_split
from archtune.evaluate.loop import accuracy, train_epoch
from archtune.space.search_space import SearchSpace, create_search_space

DEPTHS, WIDTHS, KERNELS, ACTIVATIONS = (1, 2, 3), (4, 8, 16, 24), (3, 5), ("relu", "gelu", "tanh")
BASELINE = (1, 8, 3, "relu")  # a hand-picked small CNN to compare the search result with
SAMPLE_INPUT_SHAPE = (16, 1, 8, 8)
# torch threads for training: CPU kernels split their sums by thread count, so the accuracies (and so the
# demo's trajectory) would otherwise depend on the machine's core count
TRAIN_THREADS = 2


def encoding_to_net(encoding: tuple[Any, ...]) -> nn.Module:
    """Conv stack (same padding) + global average pooling + linear head, for 8x8 grey images."""
    depth, width, kernel, activation = encoding
    act = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}[activation]
    layers: list[nn.Module] = []
    channels = 1
    for _ in range(depth):
        layers += [nn.Conv2d(channels, width, kernel, padding=kernel // 2), nn.BatchNorm2d(width), act()]
        channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10)]
    return nn.Sequential(*layers)


def digits_cnn_space(save_filename: str | None = None) -> SearchSpace:
    """All 72 combinations of depth, width, kernel and activation."""
    encodings = list(itertools.product(DEPTHS, WIDTHS, KERNELS, ACTIVATIONS))
    return create_search_space("digits_cnn", save_filename, encodings, encoding_to_net=encoding_to_net)


@cache
def train_and_evaluate(
    encoding: tuple[Any, ...], epochs: int, seed: int = 0, batch_size: int = 128, threads: int = TRAIN_THREADS
) -> float:
    """Train with AdamW for ``epochs`` epochs on ``threads`` torch threads; validation accuracy in %.

    Deterministic under ``seed`` and ``threads`` (and the torch build and CPU): the same call gives the
    same accuracy on every run."""
    x_train, y_train, x_val, y_val = digits_split()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        net = encoding_to_net(encoding)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=1e-4)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            train_epoch(net, opt, x_train, y_train, gen, batch_size)
        return accuracy(net, x_val, y_val) * 100
    finally:
        torch.set_num_threads(previous)


def hi_fi_eval(encoding: tuple[Any, ...]) -> float:
    """High fidelity: 4 epochs."""
    return train_and_evaluate(encoding, epochs=4)


def lo_fi_eval(encoding: tuple[Any, ...]) -> float:
    """Low fidelity: 1 epoch."""
    return train_and_evaluate(encoding, epochs=1)
