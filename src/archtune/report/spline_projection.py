"""Projections of a search's spline, like paper 004's Figs. 2 and 3: the objective over two knobs with
the other knobs fixed at the incumbent (the best high-fidelity result).

The spline is fitted on the high-fidelity results of a search file that share the incumbent's
categorical values; the plot shows its contours over the box those results span, the measured points
(projected onto the plane) and the incumbent. CLI: ``archtune spline-plot run.search --x width --y depth``.

Example:
    >>> import itertools, os, tempfile
    >>> from archtune import SearchInstance, create_search_space
    >>> d = tempfile.mkdtemp()
    >>> ss = create_search_space("g", None, [{"w": w, "d": k} for w, k in itertools.product(range(8, 65, 8), range(1, 7))])
    >>> s = SearchInstance("g", os.path.join(d, "g.search"), search_space=ss, strategy="spline", progress=False,
    ...                    hi_fi_eval=lambda e: -((e["w"] - 40) / 8) ** 2 - (e["d"] - 4) ** 2)
    >>> s.run_search(eval_budget=12); s.close()
    >>> plot_projection(os.path.join(d, "g.search"), "w", "d", os.path.join(d, "p.png")).name
    'p.png'
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

import numpy as np

from archtune.errors import ConfigError
from archtune.space.encoding import decode_key
from archtune.storage.sqlite import SQLiteStorage
from archtune.surrogate.spline import PolyharmonicSpline


def _positions(encoding: Any) -> dict[str, Any]:
    if isinstance(encoding, dict):
        return dict(encoding)
    if isinstance(encoding, (list, tuple)):
        return {str(i): v for i, v in enumerate(encoding)}
    return {"0": encoding}


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def projection_data(search_file: str | Path) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, Any]]:
    """(numeric knob names, their values per result, objective values, incumbent) for the incumbent's
    categorical combination."""
    storage = SQLiteStorage(Path(search_file), read_only=True)
    try:
        trials = [t for t in storage.trials() if t.ok and t.fidelity == "hi"]
    finally:
        storage.close()
    if not trials:
        raise ConfigError(f"{str(search_file)!r} holds no successful high-fidelity result yet")
    rows = [_positions(decode_key(t.key)) for t in trials]
    values = np.array([t.value for t in trials], dtype=np.float64)
    incumbent = rows[int(np.argmax(values))]
    numeric = [k for k in incumbent if all(_is_number(r[k]) for r in rows)]
    categorical = [k for k in incumbent if k not in numeric]
    keep = [i for i, r in enumerate(rows) if all(r[k] == incumbent[k] for k in categorical)]
    X = np.array([[float(rows[i][k]) for k in numeric] for i in keep], dtype=np.float64)
    return numeric, X, values[keep], incumbent


def plot_projection(search_file: str | Path, x: str, y: str, path: str | Path, resolution: int = 60) -> Path:
    """Write a PNG of the spline over knobs ``x`` and ``y``, the other knobs at the incumbent's values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, X, values, incumbent = projection_data(search_file)
    for knob in (x, y):
        if knob not in names:
            raise ConfigError(
                f"{knob!r} is not a numeric knob of this search; numeric knobs: {', '.join(names)}"
            )
    if x == y:
        raise ConfigError("choose two different knobs for --x and --y")
    spline = PolyharmonicSpline().fit(X, values)
    ix, iy = names.index(x), names.index(y)
    gx = np.linspace(X[:, ix].min(), X[:, ix].max(), resolution)
    gy = np.linspace(X[:, iy].min(), X[:, iy].max(), resolution)
    GX, GY = np.meshgrid(gx, gy)
    grid = np.tile(np.array([float(incumbent[k]) for k in names]), (GX.size, 1))
    grid[:, ix], grid[:, iy] = GX.ravel(), GY.ravel()
    Z = spline.predict(grid).reshape(GX.shape)
    fig, ax = plt.subplots(figsize=(6, 4.8))
    filled = ax.contourf(GX, GY, Z, levels=20, cmap="viridis")
    fig.colorbar(filled, ax=ax, label="spline prediction")
    ax.scatter(X[:, ix], X[:, iy], c="white", edgecolors="black", s=25, label="measured (projected)")
    ax.scatter([incumbent[x]], [incumbent[y]], marker="*", c="red", s=160, label="incumbent")
    fixed = ", ".join(f"{k}={incumbent[k]}" for k in incumbent if k not in (x, y))
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"spline over {x}, {y}" + (f" ({fixed})" if fixed else ""), fontsize=9)
    ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
