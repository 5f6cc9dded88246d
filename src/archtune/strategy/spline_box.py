"""The spline's view of a product space: numeric knobs as the dimensions of a box, the others as combinations.

Paper 004 fits a polyharmonic spline over numeric knobs (section 3) and gives knobs "with only a few
choices" a spline each. On a :class:`~archtune.space.product.ProductSpace` (knobs, never listed) a
numeric knob's options sit at the unit coordinates their features hold
(:meth:`~archtune.space.product.ProductSpace.unit_coordinates`: the value scaled to [0, 1], its log for
a log range); a point of the box snaps to the nearest option of each knob. The other knobs, and the
numeric ones with one option, make the combinations, one spline each.

The search box may start narrower than the knobs' ranges (``box={"width": (32, 128)}``) and widen as
paper 004's section 5.3 does: once the search converges with its best point on an edge of the box,
that side moves out by the box's width, up to the knob's range.

Example:
    >>> from archtune.space.product import ProductSpace
    >>> space = ProductSpace({"w": range(16, 257, 16), "block": ["conv", "mbconv"]})
    >>> view = KnobBox(space, box={"w": (32, 128)})
    >>> view.n_combos, [space.encodings[i]["w"] for i in view.design()[:3]]
    (2, [128, 32, 80])
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.stats import qmc

from archtune.errors import ConfigError
from archtune.space.product import ProductSpace
from archtune.strategy.spline_design import NumericDimension, initial_design

#: at most this many combinations of the non-numeric knobs (each gets its own spline and design)
MAX_COMBOS = 256


class KnobBox:
    """Coordinates, combinations, snapping and the initial design of a product space (module doc).

    Args:
        space: the product space.
        box: ``{numeric knob: (low, high)}`` in the knob's values: where the search starts (default:
            each knob's whole range); it widens within the range (section 5.3).

    Raises:
        ConfigError: no numeric knob, too many combinations, or a box that names no numeric knob or
            leaves its knob's range.
    """

    def __init__(self, space: ProductSpace, box: Mapping[str, tuple[float, float]] | None = None):
        self.space = space
        units = space.unit_coordinates()
        self.dims = sorted(units)
        if not self.dims:
            raise ConfigError(
                "the spline strategy needs at least one numeric knob with two or more options; "
                f"the knobs {space.names} have none"
            )
        self.units = [units[k] for k in self.dims]
        self._order = [np.argsort(u, kind="stable") for u in self.units]
        self._sorted = [u[o] for u, o in zip(self.units, self._order, strict=True)]
        self.cats = [k for k in range(len(space.names)) if k not in units]
        self._cat_sizes = [space.vocab_sizes[k] for k in self.cats]
        self.n_combos = math.prod(self._cat_sizes)
        if self.n_combos > MAX_COMBOS:
            raise ConfigError(
                f"the spline strategy fits one spline per combination of the knobs {[space.names[k] for k in self.cats]}, "
                f"which make {self.n_combos} (at most {MAX_COMBOS}); make knobs numeric or use strategy='bo'"
            )
        self.lo = np.zeros(len(self.dims))
        self.hi = np.ones(len(self.dims))
        self.boxed: set[int] = set()
        for name, bounds in (box or {}).items():
            self._start_box(name, bounds)
        self.widenings = 0

    def _start_box(self, name: str, bounds: tuple[float, float]) -> None:
        numeric = {self.space.names[k]: j for j, k in enumerate(self.dims)}
        if name not in numeric:
            raise ConfigError(f"box names {name!r}, not a numeric knob; numeric knobs: {', '.join(numeric)}")
        j = numeric[name]
        options = self.space.options[self.dims[j]]
        try:
            low, high = (float(v) for v in bounds)
        except (TypeError, ValueError):
            raise ConfigError(f"box[{name!r}] must be (low, high), got {bounds!r}") from None
        if not (min(options) <= low < high <= max(options)):
            raise ConfigError(
                f"box[{name!r}] = ({low:g}, {high:g}) must hold two options inside the knob's range "
                f"[{min(options)}, {max(options)}]"
            )
        nearest = [int(np.argmin([abs(float(o) - v) for o in options])) for v in (low, high)]
        self.lo[j], self.hi[j] = self.units[j][nearest[0]], self.units[j][nearest[1]]
        if not self.lo[j] < self.hi[j]:
            raise ConfigError(f"box[{name!r}] = ({low:g}, {high:g}) holds only one option of the knob")
        self.boxed.add(j)

    # -- indices <-> coordinates and combinations ------------------------------------------------
    def coordinates(self, indices: np.ndarray) -> np.ndarray:
        """Unit coordinates (n, dims) of encoding indices."""
        tokens = self.space.tokens_of(indices)
        return np.stack([u[tokens[:, k]] for u, k in zip(self.units, self.dims, strict=True)], axis=1)

    def combos_of(self, indices: np.ndarray) -> np.ndarray:
        """The combination number of each encoding (mixed radix of its non-numeric knobs' choices)."""
        tokens = self.space.tokens_of(indices)
        combo = np.zeros(len(tokens), dtype=np.int64)
        for k, size in zip(self.cats, self._cat_sizes, strict=True):
            combo = combo * size + tokens[:, k]
        return combo

    def snap(self, U: np.ndarray) -> np.ndarray:
        """The nearest option's token per dimension for each point of the box (n, dims)."""
        out = np.empty(U.shape, dtype=np.int64)
        for j, (coords, order) in enumerate(zip(self._sorted, self._order, strict=True)):
            right = np.clip(np.searchsorted(coords, U[:, j]), 1, len(coords) - 1)
            left = right - 1
            take = np.where(U[:, j] - coords[left] <= coords[right] - U[:, j], left, right)
            out[:, j] = order[take]
        return out

    def indices(self, combo: int, tokens: np.ndarray) -> np.ndarray:
        """Encoding indices of numeric-knob token rows within combination ``combo``."""
        full = np.zeros((len(tokens), len(self.space.names)), dtype=np.int64)
        full[:, self.dims] = tokens
        for k, size in reversed(list(zip(self.cats, self._cat_sizes, strict=True))):
            full[:, k] = combo % size
            combo //= size
        return self.space.index_of_tokens(full)

    # -- the design, the argmax's samples, widening -----------------------------------------------
    def design(self) -> list[int]:
        """Section 4.1's design in the current box, per combination, snapped to options, repeats dropped."""
        dims = [
            NumericDimension(f"x{j}", lo, hi, integer=False)
            for j, (lo, hi) in enumerate(zip(self.lo, self.hi, strict=True))
        ]
        tokens = self.snap(initial_design(dims))
        out: list[int] = []
        for combo in range(self.n_combos):
            out += [int(i) for i in dict.fromkeys(self.indices(combo, tokens).tolist())]
        return out

    def samples(self, predict: object, samples: int, rounds: int, shrink: float) -> np.ndarray:
        """Token rows the argmax chooses among. A grid of the numeric knobs with at most
        ``samples * rounds`` points is listed whole (the argmax is exact); a larger one gets section
        4.2's hierarchical Monte Carlo: Halton points in the box, then in a box shrunk around the best
        so far, ``rounds`` times; ``predict`` maps unit coordinates to predicted values. Unscrambled
        Halton: the same support gives the same points."""
        sizes = [len(u) for u in self.units]
        if math.prod(sizes) <= samples * rounds:
            grid = np.stack(np.meshgrid(*[np.arange(n) for n in sizes], indexing="ij"), -1).reshape(
                -1, len(sizes)
            )
            return grid[self.in_box(self.token_coordinates(grid))]
        d = len(self.dims)
        halton = qmc.Halton(d, scramble=False)
        halton.fast_forward(1)  # its first point is the box's corner, already in the design
        centre, half = (self.lo + self.hi) / 2, (self.hi - self.lo) / 2
        found, best = [], -np.inf
        for _ in range(rounds):
            lo, hi = np.maximum(centre - half, self.lo), np.minimum(centre + half, self.hi)
            tokens = self.snap(lo + halton.random(samples) * (hi - lo))
            found.append(tokens)
            values = predict(self.token_coordinates(tokens))  # type: ignore[operator]
            top = int(np.argmax(values))
            if values[top] > best:
                best, centre = float(values[top]), self.token_coordinates(tokens[top : top + 1])[0]
            half = half * shrink
        return np.unique(np.concatenate(found), axis=0)

    def token_coordinates(self, tokens: np.ndarray) -> np.ndarray:
        """Unit coordinates of numeric-knob token rows."""
        return np.stack([u[tokens[:, j]] for j, u in enumerate(self.units)], axis=1)

    def in_box(self, X: np.ndarray) -> np.ndarray:
        """Which unit-coordinate rows lie in the current box."""
        eps = 1e-12
        return np.all((self.lo - eps <= X) & (self.hi + eps >= X), axis=1)

    def widen(self, best: int) -> bool:
        """Section 5.3: each side of the box the best point sits on moves out by the box's width (boxed
        knobs only, up to their range). Returns whether the box changed."""
        x = self.coordinates(np.array([best]))[0]
        changed = False
        for j in sorted(self.boxed):
            coords, width = self._sorted[j], self.hi[j] - self.lo[j]
            if x[j] >= self.hi[j] - 1e-12 and self.hi[j] < 1.0:  # the box's sides stay on options
                self.hi[j] = coords[np.searchsorted(coords, self.hi[j] + width + 1e-12, side="right") - 1]
                changed = True
            if x[j] <= self.lo[j] + 1e-12 and self.lo[j] > 0.0:
                self.lo[j] = coords[np.searchsorted(coords, self.lo[j] - width - 1e-12, side="left")]
                changed = True
        self.widenings += changed
        return changed
