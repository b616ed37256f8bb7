"""Rules that turn predicted class probabilities into one class per sample.

A probabilistic ordinal classifier can answer with any class; which one is best
depends on how mistakes are charged:

* ``"argmax"`` -- the most probable class; minimises the expected 0-1 loss.
* ``"median"`` -- the median of the predicted distribution; minimises the expected
  absolute rank error ``|i - j|``, i.e. the expected mean absolute error.
* ``"expected_cost"`` -- ``argmin_j sum_i p_i D[i, j]`` for a ground distance
  ``D``; minimises the expected cost under ``D``. With ``D[i, j] = |i - j|`` it
  agrees with the median up to ties.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["DECISIONS", "decide"]

DECISIONS = ("argmax", "median", "expected_cost")

# A cumulative probability is taken to reach one half when it is within this
# fraction of the row total of it. Cumulative sums of float64 rows are off by a few
# ulps, so a row such as [0.1, 0.2, 0.2, 0.5], whose second cumulative sum is
# exactly 0.5 on paper, can come out as 0.49999999999999994. Both neighbouring
# classes are then medians (the expected absolute error is the same), and the
# tolerance makes the choice the lower one, whatever the rounding. It is far above
# float64 rounding and far below any probability gap that matters: when the
# cumulative sum genuinely falls short of 0.5 by less than this, picking the lower
# class costs less than 1e-12 in expected absolute error.
_MEDIAN_TOL = 1e-12


def decide(
    proba: ArrayLike, decision: str, ground_distance: ArrayLike | None = None
) -> np.ndarray:
    """Pick one class index per row of a matrix of class probabilities.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities, columns in class order. Rows are expected
        to sum to 1; the ``"median"`` rule uses half of each row's actual total,
        so rows that are off by rounding are handled.
    decision : {"argmax", "median", "expected_cost"}
        The decision rule:

        - ``"argmax"``: the most probable class (the first one on ties);
        - ``"median"``: the smallest class whose cumulative probability reaches
          one half (up to a relative tolerance of 1e-12, so that rounding in the
          cumulative sum does not skip it); this minimises the expected absolute
          rank error;
        - ``"expected_cost"``: the class ``j`` that minimises the expected cost
          ``sum_i proba[:, i] * ground_distance[i, j]`` (the first one on ties).
    ground_distance : array-like of shape (n_classes, n_classes), default=None
        Cost ``ground_distance[i, j]`` of predicting class ``j`` when the true
        class is ``i``. Required by ``"expected_cost"``, ignored by the other
        rules.

    Returns
    -------
    indices : ndarray of shape (n_samples,), dtype intp
        Class indices in ``0 .. n_classes - 1``.

    Raises
    ------
    ValueError
        If ``decision`` is unknown, ``proba`` is not a finite 2-D matrix, or
        ``ground_distance`` is missing or of the wrong shape for
        ``"expected_cost"``.

    Examples
    --------
    >>> import numpy as np
    >>> from skemd._decision import decide
    >>> proba = np.array([[0.4, 0.0, 0.1, 0.5]])
    >>> decide(proba, "argmax"), decide(proba, "median")
    (array([3]), array([2]))
    >>> distance = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
    >>> decide(proba, "expected_cost", distance)
    array([2])
    """
    if not isinstance(decision, str) or decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}; got {decision!r}.")
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] == 0:
        raise ValueError(
            "proba must have shape (n_samples, n_classes) with at least one class; "
            "got shape "
            f"{proba.shape}."
        )
    if not np.all(np.isfinite(proba)):
        raise ValueError("proba contains NaN or infinity.")

    if decision == "argmax":
        return np.argmax(proba, axis=1)

    if decision == "median":
        cdf = np.cumsum(proba, axis=1)
        threshold = (0.5 - _MEDIAN_TOL) * cdf[:, -1:]
        # argmax of a boolean row is its first True; the last column always
        # reaches the threshold, so every row has one.
        return np.argmax(cdf >= threshold, axis=1)

    n_classes = proba.shape[1]
    if ground_distance is None:
        raise ValueError(
            'decision="expected_cost" needs a ground_distance of shape '
            f"({n_classes}, {n_classes}); got None."
        )
    distance = np.asarray(ground_distance, dtype=np.float64)
    if distance.shape != (n_classes, n_classes):
        raise ValueError(
            f"ground_distance must have shape ({n_classes}, {n_classes}) for "
            f"{n_classes} classes; got shape {distance.shape}."
        )
    if not np.all(np.isfinite(distance)):
        raise ValueError("ground_distance contains NaN or infinity.")
    return np.argmin(proba @ distance, axis=1)
