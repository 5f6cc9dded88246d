"""Network Space Search (paper 003, sections 3.3-3.4): learn a distribution over network spaces with
Gumbel-softmax and a FLOPs loss, then keep an Elite Space.

Each stage has logits over its depth chunks and its width chunks (Theta). A step draws Gumbel-softmax
weights g over the chunks (temperature annealed linearly from 5 to 0.001), draws one architecture
uniformly inside every chunk (eq. 3: architectures are uniform inside a space), and runs the supernet
with the g-weighted mixture of their width masks and depth outputs, so the task loss is differentiable
in Theta. The FLOPs loss ``lambda * |E[FLOPs] / target - 1|`` (eqs. 4-5) uses the exact expected FLOPs
of the relaxed space. The supernet's weights learn on one half of the training data and Theta on the
other (DARTS's first-order alternation); the first 25% of epochs train weights only, on architectures
drawn uniformly from the whole Expanded space with warm-up enabling annealed from 1 to 0.

The Elite Space: n = 5 spaces drawn from softmax(Theta), the one whose expected FLOPs is closest to the
target; :func:`elite_search_space` makes it a search space for BO, spline, TNAS or any other strategy.

Example (tiny; real runs: ``archtune nss``):
    >>> import torch
    >>> from archtune.nss.expanded_space import ExpandedSpace
    >>> space = ExpandedSpace(d_max=2, w_max=8, depth_chunk=1, width_chunk=4, image_size=8, in_channels=1)
    >>> x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    >>> result = run_nss(space, (x, y), flops_target=20_000, config=NSSConfig(epochs=2, batch_size=16), progress=False)
    >>> len(result.elite.depth_chunks), len(result.history)
    (3, 2)
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from archtune.nss.expanded_space import ExpandedSpace, architecture_flops, expected_flops, space_architectures
from archtune.nss.supernet import Supernet, depth_weights, width_mask


@dataclass(frozen=True)
class NSSConfig:
    """Search settings (paper: 50 epochs, 15 of warm-up, temperature 5 -> 0.001, batch 64)."""

    epochs: int = 50
    warmup_fraction: float = 0.25
    tau_start: float = 5.0
    tau_end: float = 0.001
    flops_weight: float = 1.0  # lambda of eq. 5
    weight_lr: float = 0.05
    theta_lr: float = 0.01
    batch_size: int = 64
    n_candidates: int = 5
    seed: int = 0


@dataclass(frozen=True)
class NetworkSpace:
    """One network space: a depth chunk and a width chunk per stage."""

    depth_chunks: tuple[int, ...]
    width_chunks: tuple[int, ...]

    def expected_flops(self, space: ExpandedSpace) -> float:
        eye_d = torch.eye(space.depth_chunks, dtype=torch.float64)
        eye_w = torch.eye(space.width_chunks, dtype=torch.float64)
        return float(expected_flops(space, eye_d[list(self.depth_chunks)], eye_w[list(self.width_chunks)]))

    def sample(
        self, space: ExpandedSpace, generator: torch.Generator
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """An architecture drawn uniformly from this space."""
        depths = tuple(_draw(space.depth_range(c), generator) for c in self.depth_chunks)
        widths = tuple(_draw(space.width_range(c), generator) for c in self.width_chunks)
        return depths, widths


def elite_search_space(
    space: ExpandedSpace, network_space: NetworkSpace, name: str = "elite", save_filename: str | None = None
):
    """The network space as a :class:`~archtune.space.search_space.SearchSpace` any strategy can search:
    encodings ``(d1, ..., dN, w1, ..., wN)``, each with its analytical FLOPs as zero-cost data (the
    ``flops`` column, usable in ``constraints=``).

    Example:
        >>> space = ExpandedSpace(d_max=4, w_max=16, depth_chunk=2, width_chunk=8)
        >>> ss = elite_search_space(space, NetworkSpace((0, 1, 0), (1, 0, 0)))
        >>> len(ss), ss.encodings[0]
        (4096, (1, 3, 1, 9, 1, 1))
    """
    from archtune.space.search_space import create_search_space

    archs = list(space_architectures(space, network_space.depth_chunks, network_space.width_chunks))
    encodings = [(*d, *w) for d, w in archs]
    return create_search_space(
        name,
        save_filename,
        encodings,
        pretraining_data={"flops": [float(architecture_flops(space, a)) for a in archs]},
    )


def sample_expanded(
    space: ExpandedSpace, generator: torch.Generator
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """An architecture drawn uniformly from the whole Expanded Search Space."""
    depths = tuple(1 + _randint(space.d_max, generator) for _ in range(space.stages))
    widths = tuple(1 + _randint(space.w_max, generator) for _ in range(space.stages))
    return depths, widths


def _randint(n: int, generator: torch.Generator) -> int:
    return int(torch.randint(n, (1,), generator=generator))


def _draw(values: range, generator: torch.Generator) -> int:
    """One of ``values``, uniformly."""
    return values[_randint(len(values), generator)]


@dataclass
class NSSResult:
    theta_depth: list[list[float]]
    theta_width: list[list[float]]
    elite: NetworkSpace
    elite_flops: float
    candidates: list[dict[str, Any]]
    history: list[dict[str, float]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def _gumbel_softmax(logits: torch.Tensor, tau: float, generator: torch.Generator) -> torch.Tensor:
    # torch.nn.functional.gumbel_softmax draws from the global RNG; the search draws from its own generator
    uniform = torch.rand(logits.shape, generator=generator).clamp(1e-10, 1 - 1e-10)
    return torch.softmax((logits - torch.log(-torch.log(uniform))) / tau, dim=-1)


def _mixture(
    space: ExpandedSpace, g_depth: torch.Tensor, g_width: torch.Tensor, generator: torch.Generator
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per stage, the g-weighted width masks and depth weights of one architecture drawn in each chunk."""
    masks, depths = [], []
    for stage in range(space.stages):
        drawn_w = [_draw(space.width_range(c), generator) for c in range(space.width_chunks)]
        drawn_d = [_draw(space.depth_range(c), generator) for c in range(space.depth_chunks)]
        masks.append(sum(g_width[stage, c] * width_mask(w, space.w_max) for c, w in enumerate(drawn_w)))
        depths.append(sum(g_depth[stage, c] * depth_weights(d, space.d_max) for c, d in enumerate(drawn_d)))
    return masks, depths


def _split_halves(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    return order[: n // 2], order[n // 2 :]


def run_nss(
    space: ExpandedSpace,
    data: tuple[torch.Tensor, torch.Tensor],
    flops_target: float,
    config: NSSConfig | None = None,
    progress: bool = True,
) -> NSSResult:
    """Search the distribution over network spaces on ``data`` (images, labels), halves for weights and
    Theta; returns Theta, the Elite Space and a per-epoch history."""
    config = config or NSSConfig()
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    images, labels = data
    weight_rows, theta_rows = _split_halves(len(labels), gen)
    net = Supernet(space)
    theta_d = nn.Parameter(torch.zeros(space.stages, space.depth_chunks))
    theta_w = nn.Parameter(torch.zeros(space.stages, space.width_chunks))
    weight_opt = torch.optim.SGD(net.parameters(), lr=config.weight_lr, momentum=0.9, weight_decay=3e-4)
    theta_opt = torch.optim.Adam([theta_d, theta_w], lr=config.theta_lr, betas=(0.5, 0.999))
    warmup_epochs = math.ceil(config.warmup_fraction * config.epochs)
    steps = max(1, len(weight_rows) // config.batch_size)
    history = []
    for epoch in range(config.epochs):
        tau = config.tau_start + (config.tau_end - config.tau_start) * epoch / max(1, config.epochs - 1)
        warm = epoch < warmup_epochs
        net.train()
        w_order = weight_rows[torch.randperm(len(weight_rows), generator=gen)]
        t_order = theta_rows[torch.randperm(len(theta_rows), generator=gen)]
        task_losses, flops_losses = [], []
        for step in range(steps):
            batch = w_order[step * config.batch_size : (step + 1) * config.batch_size]
            if warm:
                p = 1.0 - (epoch * steps + step) / (warmup_epochs * steps)
                out = net.forward_architecture(
                    images[batch], sample_expanded(space, gen), warmup_probability=p, generator=gen
                )
            else:
                with torch.no_grad():
                    g_d, g_w = _gumbel_softmax(theta_d, tau, gen), _gumbel_softmax(theta_w, tau, gen)
                out = net(images[batch], *_mixture(space, g_d, g_w, gen))
            loss = nn.functional.cross_entropy(out, labels[batch])
            weight_opt.zero_grad(set_to_none=True)
            loss.backward()
            weight_opt.step()
            task_losses.append(float(loss.detach()))
            if warm:
                continue
            tbatch = t_order[(step * config.batch_size) % len(t_order) :][: config.batch_size]
            g_d, g_w = _gumbel_softmax(theta_d, tau, gen), _gumbel_softmax(theta_w, tau, gen)
            task = nn.functional.cross_entropy(
                net(images[tbatch], *_mixture(space, g_d, g_w, gen)), labels[tbatch]
            )
            flops_loss = config.flops_weight * torch.abs(expected_flops(space, g_d, g_w) / flops_target - 1)
            theta_opt.zero_grad(set_to_none=True)
            net.zero_grad(set_to_none=True)
            (task + flops_loss).backward()
            theta_opt.step()
            flops_losses.append(float(flops_loss.detach()))
        with torch.no_grad():
            soft = expected_flops(
                space, torch.softmax(theta_d, -1).double(), torch.softmax(theta_w, -1).double()
            )
        row = {
            "epoch": epoch + 1,
            "tau": tau,
            "warmup": warm,
            "task_loss": sum(task_losses) / len(task_losses),
            "flops_loss": sum(flops_losses) / len(flops_losses) if flops_losses else float("nan"),
            "expected_flops": float(soft),
        }
        history.append(row)
        if progress:
            print(
                f"[nss] epoch {epoch + 1}/{config.epochs} tau {tau:.3f}{' warm-up' if warm else ''}: task loss "
                f"{row['task_loss']:.3f}, E[FLOPs] {row['expected_flops'] / 1e6:.3f}M (target "
                f"{flops_target / 1e6:.3f}M)",
                file=sys.stderr,
                flush=True,
            )
    candidates = sample_spaces(theta_d.detach(), theta_w.detach(), config.n_candidates, gen)
    rated = [
        {
            "depth_chunks": list(c.depth_chunks),
            "width_chunks": list(c.width_chunks),
            "expected_flops": c.expected_flops(space),
        }
        for c in candidates
    ]
    best = min(range(len(candidates)), key=lambda i: abs(rated[i]["expected_flops"] - flops_target))
    return NSSResult(
        theta_d.detach().tolist(),
        theta_w.detach().tolist(),
        candidates[best],
        rated[best]["expected_flops"],
        rated,
        history,
        {**asdict(config), "flops_target": flops_target},
    )


def sample_spaces(
    theta_d: torch.Tensor, theta_w: torch.Tensor, n: int, generator: torch.Generator
) -> list[NetworkSpace]:
    """``n`` network spaces drawn from softmax(Theta), stage by stage."""
    out = []
    for _ in range(n):
        d = torch.multinomial(torch.softmax(theta_d, -1), 1, generator=generator).view(-1)
        w = torch.multinomial(torch.softmax(theta_w, -1), 1, generator=generator).view(-1)
        out.append(NetworkSpace(tuple(d.tolist()), tuple(w.tolist())))
    return out


def samples_until_within(
    space: ExpandedSpace,
    sampler,
    flops_target: float,
    generator: torch.Generator,
    tolerance: float = 0.1,
    limit: int = 100_000,
) -> tuple[int, tuple]:
    """How many architectures ``sampler(generator)`` draws until one is within +-``tolerance`` of the
    target FLOPs, and that architecture (``limit`` draws at most: then (limit, last drawn))."""
    for n in range(1, limit + 1):
        arch = sampler(generator)
        if abs(architecture_flops(space, arch) / flops_target - 1) <= tolerance:
            return n, arch
    return limit, arch
