"""Checking the inputs of the metrics: labels as ranks in the class order, and
sample weights."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import numpy as np
from numpy.typing import ArrayLike

from .._labels import (
    categories_of,
    check_label_pair,
    check_order,
    check_sample_weight,
    positions,
    sorted_order,
)


class _HasClasses(Protocol):
    classes_: Any


ClassOrder = ArrayLike | _HasClasses | None


def _class_order(
    classes: ClassOrder, targets: tuple, labels: tuple, *, stacklevel: int
) -> np.ndarray:
    """The classes in order, lowest first.

    ``classes`` itself (labels, or a fitted estimator's ``classes_``), else the
    categories of the first ordered pandas ``Categorical`` among ``targets``,
    else the sorted distinct ``labels``, with a ClassOrderWarning for text.
    ``stacklevel`` counts the frames from this function's caller to the user's
    call (1: the caller), as :func:`warnings.warn` does.
    """
    if classes is None:
        for target in targets:
            classes = categories_of(target)
            if classes is not None:
                break
    if classes is not None:
        return check_order(classes)
    return sorted_order(*labels, stacklevel=stacklevel + 1)


def _check_weights(
    sample_weight: ArrayLike | None, n_samples: int
) -> tuple[np.ndarray | None, float]:
    """Checked weights divided by the largest one, and that largest weight.

    Every weighted figure here is a ratio of weighted sums (or of products of
    such sums), which scaling all weights leaves unchanged. Summing weights of
    at most 1 keeps those sums, and their products in the kappas and the rank
    correlations, clear of overflow and underflow at any scale of the weights.
    """
    # One weight per sample, as scikit-learn's metrics take them: no scalar.
    weights = check_sample_weight(sample_weight, n_samples, scalar=False)
    if weights is None:
        return None, 1.0
    largest = float(weights.max())
    return weights / largest, largest


class _Targets(NamedTuple):
    """Checked labels as ranks in the class order, and checked weights."""

    true_ranks: np.ndarray
    pred_ranks: np.ndarray
    order: np.ndarray
    # Divided by the largest weight (see _check_weights); None for no weights.
    weights: np.ndarray | None
    # The largest weight, to give totals of weight back in the user's units.
    weight_scale: float


def _check_targets(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    classes: ClassOrder,
    sample_weight: ArrayLike | None,
) -> _Targets:
    """Check the inputs of a label metric; call it from the public function.

    A ClassOrderWarning is issued two frames up, at the user's call of the
    public function.
    """
    true_labels, pred_labels = check_label_pair(y_true, y_pred)
    order = _class_order(
        classes, (y_true, y_pred), (true_labels, pred_labels), stacklevel=3
    )
    true_ranks = positions(true_labels, order, name="y_true")
    pred_ranks = positions(pred_labels, order, name="y_pred")
    weights, scale = _check_weights(sample_weight, true_ranks.size)
    return _Targets(true_ranks, pred_ranks, order, weights, scale)


def _mean(values: np.ndarray, weights: np.ndarray | None) -> float:
    """Mean of ``values``, weighted by ``weights`` unless they are ``None``."""
    if weights is None:
        return float(np.mean(values))
    return float(np.average(values, weights=weights))
