"""Metrics of predicted class distributions: the ranked probability score and the
squared EMD."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._labels import categories_of, check_labels, positions
from ._base import ClassOrder, _check_weights, _class_order, _mean

# Rows of a probability matrix may miss 1 by this much (float32 softmax outputs
# over a few dozen classes are off by about 1e-7).
_PROBA_TOL = 1e-6


def _check_proba(
    y_true: ArrayLike,
    y_proba: ArrayLike,
    classes: ClassOrder,
    sample_weight: ArrayLike | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Ranks of the true labels, the probabilities as float64 and the weights.

    Call it from the public function, as :func:`_check_targets`.
    """
    if classes is None:
        classes = _sorted_categories(y_true)
    true_labels = check_labels(y_true, "y_true")
    proba = np.asarray(y_proba)
    if proba.ndim != 2:
        raise ValueError(
            f"y_proba must have shape (n_samples, n_classes); got shape {proba.shape}."
        )
    if proba.dtype.kind not in "biuf":
        raise ValueError(f"y_proba must be numeric; got dtype {proba.dtype}.")
    n_samples, n_columns = proba.shape
    if n_samples != true_labels.shape[0]:
        raise ValueError(
            f"y_true has {true_labels.shape[0]} samples but y_proba has "
            f"{n_samples} rows."
        )

    order = _class_order(classes, (), (true_labels,), stacklevel=3)
    if order.size != n_columns:
        if classes is None:
            raise ValueError(
                f"y_proba has {n_columns} columns but y_true contains "
                f"{order.size} distinct classes, so the columns cannot be matched "
                "to classes; pass classes= (the labels in column order, or the "
                "fitted estimator)."
            )
        raise ValueError(
            f"y_proba has {n_columns} columns but there are {order.size} "
            "classes; there must be one column per class."
        )
    proba = _check_distributions(proba)
    true_ranks = positions(true_labels, order, name="y_true")
    weights, _ = _check_weights(sample_weight, n_samples)
    return true_ranks, proba, weights


def _sorted_categories(y_true: ArrayLike) -> np.ndarray | None:
    """The categories of an ordered ``Categorical`` ``y_true``, if sorted."""
    categories = categories_of(y_true)
    if categories is not None and categories.tolist() != sorted(categories.tolist()):
        # The columns follow the estimator: EMDClassifier keeps the categories'
        # order, scikit-learn's classifiers sort the labels.
        raise ValueError(
            "y_true is an ordered Categorical whose categories are not in sorted "
            "order, so the order of the y_proba columns is not known; pass "
            "classes= (the fitted estimator, or its classes_)."
        )
    return categories


def _check_distributions(proba: np.ndarray) -> np.ndarray:
    """Rows of probabilities as float64: finite, non-negative, summing to 1."""
    # Sums are taken in float64, but a low-precision input is only as exact as
    # its own dtype.
    tol = _PROBA_TOL
    if proba.dtype.kind == "f":
        tol = max(tol, proba.shape[1] * float(np.finfo(proba.dtype).eps))
    proba = proba.astype(np.float64, copy=False)
    finite = np.isfinite(proba).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"y_proba contains NaN or infinity (first in row {int(np.argmin(finite))})."
        )
    nonnegative = (proba >= 0).all(axis=1)
    if not nonnegative.all():
        raise ValueError(
            "y_proba contains negative probabilities (first in row "
            f"{int(np.argmin(nonnegative))})."
        )
    totals = proba.sum(axis=1)
    normalised = np.abs(totals - 1.0) <= tol
    if not normalised.all():
        row = int(np.argmin(normalised))
        raise ValueError(
            f"y_proba rows must sum to 1; row {row} sums to {totals[row]:.9g}."
        )
    return proba


def _cdf_sq_error_sum(true_ranks: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per sample, ``sum_k (F_k(p) - F_k(t))**2`` over k = 1 .. K - 1."""
    # The k = K term, (1 - 1)**2, is zero; leaving it out keeps the rounding of
    # the row sums out of the score.
    cdf_pred = np.cumsum(proba, axis=1)[:, :-1]
    steps = np.arange(proba.shape[1] - 1)
    cdf_true = steps[None, :] >= true_ranks[:, None]
    return np.sum((cdf_pred - cdf_true) ** 2, axis=1)


def ranked_probability_score(
    y_true: ArrayLike,
    y_proba: ArrayLike,
    *,
    classes: ClassOrder = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    r"""Ranked probability score of predicted class distributions.

    The mean (weighted by ``sample_weight``, if given) over samples of

    .. math:: \sum_{k=1}^{K} \bigl(F_k(p) - F_k(t)\bigr)^2,
       \qquad F_k(p) = p_1 + \dots + p_k,

    where :math:`p` is the predicted distribution and :math:`t` the one-hot true
    class. It is a proper scoring rule for ordered classes: far misses cost more
    than near ones.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities, one column per class in class order (for an
        estimator, the order of its ``classes_``). Rows must be non-negative
        and sum to 1 (to within 1e-6).
    classes : array-like of shape (n_classes,) or fitted estimator, default=None
        The class order: the labels from lowest to highest, or a fitted
        estimator whose ``classes_`` are used. ``None`` takes the categories of
        an ordered pandas ``Categorical`` if they are sorted, else the sorted
        distinct labels of ``y_true`` (warning for text labels), which then
        must contain every class (one per column of ``y_proba``).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, not all zero. ``None`` weighs
        every sample 1.

    Returns
    -------
    score : float
        0 is best; the largest possible value is ``K - 1``.

    See Also
    --------
    squared_emd_score : The same score divided by the number of classes.

    Examples
    --------
    >>> from skemd.metrics import ranked_probability_score
    >>> proba = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]
    >>> ranked_probability_score([0, 2], proba, classes=[0, 1, 2])
    0.625
    """
    true_ranks, proba, weights = _check_proba(y_true, y_proba, classes, sample_weight)
    return _mean(_cdf_sq_error_sum(true_ranks, proba), weights)


def squared_emd_score(
    y_true: ArrayLike,
    y_proba: ArrayLike,
    *,
    classes: ClassOrder = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    r"""Mean squared Earth Mover's Distance of predicted class distributions.

    The mean (weighted by ``sample_weight``, if given) over samples of

    .. math:: \frac{1}{K} \sum_{k=1}^{K} \bigl(F_k(p) - F_k(t)\bigr)^2,

    the loss that :func:`skemd.losses.squared_emd_loss` trains on (with
    ``from_logits=False``, and the same ``sample_weight``), computed here in
    numpy from labels. It is
    :func:`ranked_probability_score` divided by the number of classes ``K``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities, one column per class in class order (for an
        estimator, the order of its ``classes_``). Rows must be non-negative
        and sum to 1 (to within 1e-6).
    classes : array-like of shape (n_classes,) or fitted estimator, default=None
        The class order: the labels from lowest to highest, or a fitted
        estimator whose ``classes_`` are used. ``None`` takes the categories of
        an ordered pandas ``Categorical`` if they are sorted, else the sorted
        distinct labels of ``y_true`` (warning for text labels), which then
        must contain every class (one per column of ``y_proba``).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, not all zero. ``None`` weighs
        every sample 1.

    Returns
    -------
    score : float
        0 is best.

    Examples
    --------
    >>> from skemd.metrics import squared_emd_score
    >>> squared_emd_score(["b", "a"], [[0.5, 0.5], [1.0, 0.0]], classes=["a", "b"])
    0.0625
    """
    true_ranks, proba, weights = _check_proba(y_true, y_proba, classes, sample_weight)
    return _mean(_cdf_sq_error_sum(true_ranks, proba), weights) / proba.shape[1]
