"""Paper 004's measured support points (Tables 1, 4 and 5) and our spline's predictions next to theirs.

Each table lists measured points that span an initial spline, then incremental points: the spline
through every measured point above a row predicts that row. :func:`reproduce` refits
:class:`~archtune.surrogate.spline.PolyharmonicSpline` the same way and reports both predictions.
Run ``archtune bench spline-tables`` to print them.

Example:
    >>> rows = reproduce("table4")
    >>> [(r.paper, round(r.ours, 2)) for r in rows][:2]
    [(75.5, 75.51), (85.09, 85.04)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archtune.surrogate.spline import PolyharmonicSpline

# Table 1: simplified ResNet-18 on ImageNet-22k (half), dimensions c1, g1, g2, g3, g4
TABLE1_INITIAL = [
    ([150, 300, 600, 1200, 2400], 38.03),
    ([32, 32, 32, 32, 32], 10.33),
    ([150, 32, 32, 32, 32], 10.54),
    ([32, 300, 32, 32, 32], 15.46),
    ([32, 32, 600, 32, 32], 19.45),
    ([32, 32, 32, 1200, 32], 23.15),
    ([32, 32, 32, 32, 2400], 31.25),
    ([75, 150, 300, 600, 1200], 35.46),
    ([32, 300, 600, 1200, 2400], 38.03),
    ([150, 32, 600, 1200, 2400], 37.15),
    ([150, 300, 32, 1200, 2400], 36.76),
    ([150, 300, 600, 32, 2400], 34.40),
    ([150, 300, 600, 1200, 32], 29.04),
]
TABLE1_INCREMENTAL = [([50, 116, 330, 1200, 2400], 37.31, 41.02), ([80, 208, 475, 736, 2400], None, 38.92)]

# Table 4: BLResNext on ImageNet-1k, dimensions w1..w4 (widths), d1..d4 (depths)
TABLE4_INITIAL = [
    ([32, 32, 32, 32, 2, 2, 2, 2], 52.95),
    ([128, 256, 512, 768, 10, 10, 18, 5], 78.82),
    ([80, 160, 320, 480, 5, 5, 5, 3], 77.61),
    ([128, 32, 32, 32, 2, 2, 2, 2], 60.60),
    ([32, 256, 32, 32, 2, 2, 2, 2], 65.53),
    ([32, 32, 512, 32, 2, 2, 2, 2], 70.19),
    ([32, 32, 32, 768, 2, 2, 2, 2], 69.84),
    ([32, 32, 32, 32, 10, 2, 2, 2], 58.37),
    ([32, 32, 32, 32, 2, 10, 2, 2], 58.83),
    ([32, 32, 32, 32, 2, 2, 18, 2], 59.17),
    ([32, 32, 32, 32, 2, 2, 2, 5], 55.16),
    ([32, 256, 512, 768, 10, 10, 18, 5], 77.68),
    ([128, 32, 512, 768, 10, 10, 18, 5], 78.18),
    ([128, 256, 32, 768, 10, 10, 18, 5], 78.26),
    ([128, 256, 512, 32, 10, 10, 18, 5], 77.78),
    ([128, 256, 512, 768, 2, 10, 18, 5], 78.55),
    ([128, 256, 512, 768, 10, 2, 18, 5], 78.40),
    ([128, 256, 512, 768, 10, 10, 2, 5], 78.44),
    ([128, 256, 512, 768, 10, 10, 18, 2], 79.27),
]
TABLE4_DEFAULT = (
    [64, 128, 256, 512, 3, 4, 6, 3],
    77.02,
    75.50,
)  # BL-ResNext50; predicted from the initial points
TABLE4_INCREMENTAL = [
    ([71, 256, 512, 768, 2, 2, 2, 2], 76.42, 85.09),
    ([91, 72, 512, 768, 6, 7, 10, 2], 77.76, 80.88),
    ([128, 256, 441, 768, 10, 10, 18, 2], None, 79.29),
]

# Table 5: the widened box; its spline also holds Table 4's points and the BL-ResNext50 default (caption)
TABLE5_INITIAL = [
    ([256, 512, 768, 1024, 10, 10, 18, 5], 79.38),
    ([256, 32, 32, 32, 2, 2, 2, 2], 64.91),
    ([32, 512, 32, 32, 2, 2, 2, 2], 68.82),
    ([32, 32, 768, 32, 2, 2, 2, 2], 70.92),
    ([32, 32, 32, 1024, 2, 2, 2, 2], 70.51),
    ([32, 512, 768, 1024, 10, 10, 18, 5], 78.12),
    ([256, 32, 768, 1024, 10, 10, 18, 5], 78.71),
    ([256, 512, 32, 1024, 10, 10, 18, 5], 79.01),
    ([256, 512, 768, 32, 10, 10, 18, 5], 78.81),
    ([256, 512, 768, 1024, 2, 10, 18, 5], 79.10),
    ([256, 512, 768, 1024, 10, 2, 18, 5], 79.25),
    ([256, 512, 768, 1024, 10, 10, 2, 5], 79.11),
    ([256, 512, 768, 1024, 10, 10, 18, 2], 79.17),
]
TABLE5_INCREMENTAL = [
    ([210, 357, 433, 500, 3, 5, 13, 2], 78.83, 81.78),
    ([235, 355, 408, 872, 10, 10, 18, 3], 79.37, 80.13),
    ([130, 289, 417, 489, 3, 4, 9, 3], 78.47, 79.93),
    ([158, 314, 381, 761, 5, 10, 18, 3], 79.04, 79.86),
    ([240, 400, 620, 532, 10, 8, 18, 2], 79.16, 79.76),
    ([256, 385, 433, 1023, 10, 3, 18, 5], 79.31, 79.60),
    ([188, 365, 445, 875, 10, 10, 18, 2], 79.18, 79.51),
    ([256, 293, 363, 1024, 10, 10, 18, 5], 79.24, 79.58),
    ([180, 284, 569, 614, 10, 10, 18, 3], None, 79.51),
]


@dataclass(frozen=True)
class Prediction:
    """One predicted row: the point, its measured value (None if the paper did not measure it), both predictions."""

    point: tuple[float, ...]
    measured: float | None
    paper: float
    ours: float


def _table(name: str) -> tuple[list, list]:
    if name == "table1":
        return list(TABLE1_INITIAL), list(TABLE1_INCREMENTAL)
    if name == "table4":
        return list(TABLE4_INITIAL), [TABLE4_DEFAULT, *TABLE4_INCREMENTAL]
    if name == "table5":
        narrow = TABLE4_INITIAL + [(p, m) for p, m, _ in TABLE4_INCREMENTAL if m is not None]
        return TABLE5_INITIAL + narrow + [TABLE4_DEFAULT[:2]], list(TABLE5_INCREMENTAL)
    raise ValueError(f"unknown table {name!r}; valid: table1, table4, table5")


def reproduce(name: str) -> list[Prediction]:
    """Refit the spline row by row as the paper did and predict each predicted row of ``name``.

    The BL-ResNext50 default of Table 4 is predicted from the initial points only and not added
    (the paper: "not including the default BL-ResNext50 point").
    """
    support, rows = _table(name)
    X = np.array([p for p, _ in support], dtype=np.float64)
    y = np.array([v for _, v in support], dtype=np.float64)
    out = []
    for point, measured, paper in rows:
        ours = float(PolyharmonicSpline().fit(X, y).predict([point])[0])
        out.append(Prediction(tuple(point), measured, paper, ours))
        is_default = name == "table4" and list(point) == TABLE4_DEFAULT[0]
        if measured is not None and not is_default:
            X, y = np.vstack([X, point]), np.append(y, measured)
    return out


def to_markdown(name: str, rows: list[Prediction]) -> str:
    """A markdown table of one reproduction."""
    lines = [
        f"{name}: paper 004's spline predictions and ours",
        "",
        "| point | measured | paper | ours | ours - paper |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        measured = "-" if r.measured is None else f"{r.measured:.2f}"
        lines.append(
            f"| {', '.join(f'{v:g}' for v in r.point)} | {measured} | {r.paper:.2f} | {r.ours:.2f} | "
            f"{r.ours - r.paper:+.2f} |"
        )
    return "\n".join(lines) + "\n"
