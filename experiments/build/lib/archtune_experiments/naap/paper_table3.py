"""Paper 001's Table 3 as printed (MAE, monotonicity score, violations at 0, 3, 6 and 9 epochs), to show
beside our reproduction. These are the paper's numbers, not ours.

Example:
    >>> PAPER_TABLE3["Random Forest (N=200)"][3]
    (0.004, 0.968, 25)
"""

from __future__ import annotations

_ROWS = """
1-NN | 0.007 0.933 52 | 0.009 0.929 55 | 0.007 0.940 47 | 0.006 0.959 32
3-NN | 0.009 0.918 64 | 0.007 0.944 44 | 0.007 0.950 39 | 0.007 0.951 38
5-NN | 0.010 0.908 72 | 0.008 0.942 45 | 0.007 0.941 46 | 0.007 0.949 40
7-NN | 0.009 0.909 71 | 0.007 0.950 39 | 0.007 0.951 38 | 0.006 0.962 30
9-NN | 0.010 0.914 67 | 0.009 0.942 45 | 0.007 0.960 31 | 0.007 0.951 38
Linear Regression | 0.017 0.918 64 | 0.009 0.926 58 | 0.008 0.941 46 | 0.007 0.942 45
Linear Regression (D=0.5) | 0.015 0.919 63 | 0.008 0.932 53 | 0.007 0.942 45 | 0.006 0.947 41
Linear Regression (D=0.25) | 0.013 0.919 63 | 0.008 0.935 51 | 0.007 0.942 45 | 0.006 0.947 41
Decision Tree | 0.007 0.931 54 | 0.007 0.929 55 | 0.008 0.924 59 | 0.007 0.933 52
Gradient Boosting (N=25) | 0.009 0.944 44 | 0.008 0.953 37 | 0.006 0.951 38 | 0.006 0.958 33
Gradient Boosting (N=50) | 0.007 0.940 47 | 0.006 0.955 35 | 0.006 0.953 37 | 0.005 0.956 34
Gradient Boosting (N=100) | 0.006 0.946 42 | 0.006 0.958 33 | 0.006 0.960 31 | 0.006 0.959 32
Gradient Boosting (N=200) | 0.005 0.945 43 | 0.006 0.951 38 | 0.006 0.962 30 | 0.006 0.958 33
AdaBoost (N=25) | 0.010 0.933 52 | 0.009 0.947 41 | 0.007 0.953 37 | 0.006 0.955 35
AdaBoost (N=50) | 0.010 0.933 52 | 0.008 0.945 43 | 0.006 0.953 37 | 0.006 0.958 33
AdaBoost (N=100) | 0.010 0.933 52 | 0.008 0.944 44 | 0.007 0.951 38 | 0.005 0.955 35
AdaBoost (N=200) | 0.010 0.933 52 | 0.008 0.944 44 | 0.007 0.951 38 | 0.006 0.954 36
SVR (RBF kernel) | 0.009 0.913 68 | 0.007 0.949 40 | 0.005 0.962 30 | 0.005 0.960 31
SVR (Polynomial kernel) | 0.020 0.911 69 | 0.008 0.940 47 | 0.009 0.919 63 | 0.010 0.918 64
SVR (Linear kernel) | 0.017 0.917 65 | 0.009 0.933 52 | 0.008 0.944 44 | 0.007 0.947 41
Random Forest (N=25) | 0.007 0.935 51 | 0.006 0.954 36 | 0.005 0.958 33 | 0.004 0.964 28
Random Forest (N=50) | 0.006 0.936 50 | 0.006 0.956 34 | 0.005 0.963 29 | 0.005 0.964 28
Random Forest (N=100) | 0.006 0.939 48 | 0.005 0.956 34 | 0.005 0.967 26 | 0.004 0.965 27
Random Forest (N=200) | 0.006 0.939 48 | 0.005 0.959 32 | 0.005 0.968 25 | 0.004 0.968 25
"""


def _parse(text: str) -> dict[str, list[tuple[float, float, int]]]:
    table = {}
    for line in text.strip().splitlines():
        name, *cells = (part.strip() for part in line.split("|"))
        table[name] = [(float(m), float(s), int(v)) for m, s, v in (cell.split() for cell in cells)]
    return table


PAPER_TABLE3 = _parse(_ROWS)
