"""Metrics and scorers for ordinal classification.

Ordinal metrics need the order of the classes, which the labels alone do not always
give (``"low" < "mid" < "high"`` is not alphabetical). Every metric here therefore
takes a ``classes`` keyword: the labels in order, or a fitted estimator whose
``classes_`` give the order. Without it, the categories of a pandas ordered
``Categorical`` ``y_true`` (or ``y_pred``) are the order, as for
:class:`~skemd.EMDClassifier`, and otherwise the sorted distinct labels (the
probability metrics then need ``classes`` unless the categories are sorted,
since the columns of ``y_proba`` follow the estimator that made them). Sorted
text labels rarely follow their rank (``"high" < "low" < "mid"``), so that case
issues a :class:`~skemd.exceptions.ClassOrderWarning`; the scorers pass the
estimator's classes and never do. Labels are turned into ranks ``0 .. K-1`` in
that order and errors are counted in ranks. Pass ``classes`` whenever a class
may be missing from the data: with integer labels ``0`` and ``2`` and no ``1``,
the default order puts them one rank apart.

Label metrics, ``metric(y_true, y_pred, *, classes=None, sample_weight=None)``:

* :func:`mae`, :func:`amae`, :func:`mmae` -- mean absolute rank error, overall,
  averaged over the true classes, and for the worst true class (lower is better);
* :func:`qwk`, :func:`linear_weighted_kappa` -- weighted kappa with quadratic and
  linear weights (higher is better);
* :func:`off_by_one_accuracy` -- fraction of predictions at most one class away;
* :func:`spearman_rho`, :func:`kendall_tau_b` -- rank correlations between true
  and predicted classes (higher is better);
* :func:`minimum_sensitivity`, :func:`geometric_mean_sensitivity` -- the smallest
  and the geometric mean of the per-class recalls (higher is better).

Probability metrics, ``metric(y_true, y_proba, *, classes=None,
sample_weight=None)``, columns of ``y_proba`` in class order (lower is better):

* :func:`ranked_probability_score`;
* :func:`squared_emd_score`, the squared-EMD loss of
  :func:`skemd.losses.squared_emd_loss` on probabilities.

``sample_weight`` weighs the samples as scikit-learn's metrics do: the per-sample
quantity (rank error, hit within one class, ranked probability score, squared EMD)
is averaged with the weights; :func:`amae`, :func:`mmae` and the two sensitivity
metrics weigh the samples within each true class, a class whose samples all have
weight 0 counting as absent; the kappas count weights instead of samples in the
confusion matrix, as ``sklearn.metrics.cohen_kappa_score(..., sample_weight=...)``
does, and the rank correlations count a pair of samples by the product of their
weights. An integer weight counts like repeating the sample that many times,
and only the weights' ratios count: multiplying all of them by any positive
number, however large or small, gives the same scores. A sample of weight 0
still takes part in the default class order (and in checking the labels), so it
is the same as leaving the sample out only when ``classes`` is given.

Scorers for :class:`~sklearn.model_selection.GridSearchCV` and
:func:`~sklearn.model_selection.cross_validate` (greater is better; the class order
is taken from the estimator's ``classes_``): ``neg_mae_scorer``,
``neg_amae_scorer``, ``neg_mmae_scorer``, ``qwk_scorer``,
``linear_weighted_kappa_scorer``, ``off_by_one_accuracy_scorer``,
``spearman_rho_scorer``, ``kendall_tau_b_scorer``, ``minimum_sensitivity_scorer``,
``geometric_mean_sensitivity_scorer``, ``neg_ranked_probability_score_scorer`` and
``neg_squared_emd_score_scorer``, also available by name through :func:`get_scorer`
and :data:`SCORERS`. A scorer takes ``sample_weight`` as
``scorer(estimator, X, y, sample_weight=w)``. With scikit-learn's metadata routing
enabled, ``scorer.set_score_request(sample_weight=True)`` has
:func:`~sklearn.model_selection.cross_validate` and the searches pass each test
fold's weights to it; :func:`get_scorer` returns a new scorer on every call, so a
request set on it does not reach other users of the same scorer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import numpy as np
from numpy.typing import ArrayLike
from sklearn import get_config
from sklearn.utils.metadata_routing import UNCHANGED, MetadataRequest

from ._labels import (
    categories_of,
    check_labels,
    check_order,
    check_sample_weight,
    positions,
    sorted_order,
)

__all__ = [
    "SCORERS",
    "amae",
    "geometric_mean_sensitivity",
    "geometric_mean_sensitivity_scorer",
    "get_scorer",
    "kendall_tau_b",
    "kendall_tau_b_scorer",
    "linear_weighted_kappa",
    "linear_weighted_kappa_scorer",
    "mae",
    "minimum_sensitivity",
    "minimum_sensitivity_scorer",
    "mmae",
    "neg_amae_scorer",
    "neg_mae_scorer",
    "neg_mmae_scorer",
    "neg_ranked_probability_score_scorer",
    "neg_squared_emd_score_scorer",
    "off_by_one_accuracy",
    "off_by_one_accuracy_scorer",
    "ordinal_report",
    "qwk",
    "qwk_scorer",
    "ranked_probability_score",
    "spearman_rho",
    "spearman_rho_scorer",
    "squared_emd_score",
]

# Rows of a probability matrix may miss 1 by this much (float32 softmax outputs
# over a few dozen classes are off by about 1e-7).
_PROBA_TOL = 1e-6


class _HasClasses(Protocol):
    classes_: Any


ClassOrder = ArrayLike | _HasClasses | None


# ---------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------


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
    true_labels = check_labels(y_true, "y_true")
    pred_labels = check_labels(y_pred, "y_pred")
    if true_labels.shape[0] != pred_labels.shape[0]:
        raise ValueError(
            f"y_true has {true_labels.shape[0]} samples but y_pred has "
            f"{pred_labels.shape[0]}."
        )
    order = _class_order(
        classes, (y_true, y_pred), (true_labels, pred_labels), stacklevel=3
    )
    true_ranks = positions(true_labels, order, name="y_true")
    pred_ranks = positions(pred_labels, order, name="y_pred")
    weights, scale = _check_weights(sample_weight, true_ranks.size)
    return _Targets(true_ranks, pred_ranks, order, weights, scale)


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
        categories = categories_of(y_true)
        if categories is not None and categories.tolist() != sorted(
            categories.tolist()
        ):
            # The columns follow the estimator: EMDClassifier keeps the
            # categories' order, scikit-learn's classifiers sort the labels.
            raise ValueError(
                "y_true is an ordered Categorical whose categories are not in "
                "sorted order, so the order of the y_proba columns is not known; "
                "pass classes= (the fitted estimator, or its classes_)."
            )
        classes = categories
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

    # Sums are taken in float64, but a low-precision input is only as exact as
    # its own dtype.
    tol = _PROBA_TOL
    if proba.dtype.kind == "f":
        tol = max(tol, n_columns * float(np.finfo(proba.dtype).eps))
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
    true_ranks = positions(true_labels, order, name="y_true")
    weights, _ = _check_weights(sample_weight, n_samples)
    return true_ranks, proba, weights


def _mean(values: np.ndarray, weights: np.ndarray | None) -> float:
    """Mean of ``values``, weighted by ``weights`` unless they are ``None``."""
    if weights is None:
        return float(np.mean(values))
    return float(np.average(values, weights=weights))


def _per_class_mae(targets: _Targets) -> np.ndarray:
    """MAE of each true class that occurs (with positive weight), in class order."""
    true_ranks, weights = targets.true_ranks, targets.weights
    n_classes = targets.order.size
    errors = np.abs(targets.pred_ranks - true_ranks)
    if weights is None:
        totals = np.bincount(true_ranks, weights=errors, minlength=n_classes)
        counts = np.bincount(true_ranks, minlength=n_classes)
    else:
        totals = np.bincount(true_ranks, weights=errors * weights, minlength=n_classes)
        counts = np.bincount(true_ranks, weights=weights, minlength=n_classes)
    present = counts > 0
    return totals[present] / counts[present]


def _confusion(targets: _Targets) -> np.ndarray:
    """K x K matrix of (weighted) counts, true classes in rows, in class order.

    With weights the entries are in units of the largest weight.
    """
    n_classes = targets.order.size
    return np.bincount(
        targets.true_ranks * n_classes + targets.pred_ranks,
        weights=targets.weights,
        minlength=n_classes * n_classes,
    ).reshape(n_classes, n_classes)


def _sensitivities(confusion: np.ndarray) -> np.ndarray:
    """Recall of each true class with a positive total, in class order."""
    totals = confusion.sum(axis=1)
    present = totals > 0
    return np.diagonal(confusion)[present] / totals[present]


# ---------------------------------------------------------------------------
# Label metrics
# ---------------------------------------------------------------------------


def mae(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    classes: ClassOrder = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Mean absolute error between the ranks of true and predicted classes.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    classes : array-like of shape (n_classes,) or fitted estimator, default=None
        The class order: the labels from lowest to highest, or a fitted
        estimator whose ``classes_`` are used. ``None`` takes the categories of
        an ordered pandas ``Categorical``, else the sorted distinct labels of
        ``y_true`` and ``y_pred`` together, warning for text labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, not all zero. ``None`` weighs
        every sample 1.

    Returns
    -------
    score : float
        Mean of ``|rank(y_pred) - rank(y_true)|``, weighted by ``sample_weight``
        if given; 0 is best.

    See Also
    --------
    amae : The same error averaged per true class, robust to class imbalance.

    Examples
    --------
    >>> from skemd.metrics import mae
    >>> mae(["low", "high", "mid"], ["mid", "low", "mid"],
    ...     classes=["low", "mid", "high"])
    1.0
    >>> mae([0, 1, 2], [0, 2, 0], sample_weight=[1, 1, 2])
    1.25
    """
    targets = _check_targets(y_true, y_pred, classes, sample_weight)
    errors = np.abs(targets.pred_ranks - targets.true_ranks)
    return _mean(errors, targets.weights)


def amae(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    classes: ClassOrder = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Average of the per-class mean absolute errors.

    The MAE is computed separately for the samples of each true class that occurs
    in ``y_true`` and the results are averaged, so every class counts the same
    however many samples it has. With ``sample_weight`` each class's MAE is
    weighted within the class, and a class whose samples all have weight 0 is
    left out like a class without samples.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    classes : array-like of shape (n_classes,) or fitted estimator, default=None
        The class order: the labels from lowest to highest, or a fitted
        estimator whose ``classes_`` are used. ``None`` takes the categories of
        an ordered pandas ``Categorical``, else the sorted distinct labels of
        ``y_true`` and ``y_pred`` together, warning for text labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, not all zero. ``None`` weighs
        every sample 1.

    Returns
    -------
    score : float
        0 is best.

    See Also
    --------
    mae : The plain mean absolute rank error.
    mmae : The largest per-class error instead of the average.

    Examples
    --------
    >>> from skemd.metrics import amae
    >>> amae([0, 0, 0, 2], [0, 0, 0, 0], classes=[0, 1, 2])
    1.0
    """
    targets = _check_targets(y_true, y_pred, classes, sample_weight)
    return float(np.mean(_per_class_mae(targets)))


def mmae(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    classes: ClassOrder = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Largest of the per-class mean absolute errors.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    classes : array-like of shape (n_classes,) or fitted estimator, default=None
        The class order: the labels from lowest to highest, or a fitted
        estimator whose ``classes_`` are used. ``None`` takes the categories of
        an ordered pandas ``Categorical``, else the sorted distinct labels of
        ``y_true`` and ``y_pred`` together, warning for text labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, not all zero. ``None`` weighs
        every sample 1.

    Returns
    -------
    score : float
        The MAE of the worst-served true class occurring in ``y_true`` (with a
        positive total weight); 0 is best.

    See Also
    --------
    amae : The average of the per-class errors.

    Examples
    --------
    >>> from skemd.metrics import mmae
    >>> mmae([0, 0, 0, 2], [0, 0, 0, 0], classes=[0, 1, 2])
    2.0
    """
    targets = _check_targets(y_true, y_pred, classes, sample_weight)
    return float(np.max(_per_class_mae(targets)))


def qwk(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    classes: ClassOrder = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Quadratic weighted kappa (Cohen's kappa with quadratic weights).

    With ``O`` the confusion matrix over all classes, ``E`` the outer product of
    its row and column sums divided by the number of samples (the counts expected
    by chance) and ``W[i, j] = (i - j)**2``, the score is
    ``1 - sum(W * O) / sum(W * E)``. It equals
    ``sklearn.metrics.cohen_kappa_score(..., weights="quadratic")`` with the same
    labels in the same order. With ``sample_weight``, ``O`` sums the weights
    instead of counting samples and ``E`` is divided by the total weight, as in
    ``cohen_kappa_score(..., sample_weight=...)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    classes : array-like of shape (n_classes,) or fitted estimator, default=None
        The class order: the labels from lowest to highest, or a fitted
        estimator whose ``classes_`` are used. ``None`` takes the categories of
        an ordered pandas ``Categorical``, else the sorted distinct labels of
        ``y_true`` and ``y_pred`` together, warning for text labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, not all zero. ``None`` weighs
        every sample 1.

    Returns
    -------
    score : float
        1 for perfect agreement, 0 for agreement at chance level, negative below.

    Notes
    -----
    The chance disagreement ``sum(W * E)`` is zero only when every true and every
    predicted label is one and the same class. All predictions are then right,
    and the score is 1.0. (scikit-learn calls kappa undefined there and returns
    its ``replace_undefined_by``, NaN by default, with a warning.)

    Examples
    --------
    >>> from skemd.metrics import qwk
    >>> qwk([0, 1, 2, 3], [0, 1, 2, 3])
    1.0
    >>> round(qwk([0, 1, 2, 3], [0, 2, 2, 3]), 4)
    0.9
    """
    targets = _check_targets(y_true, y_pred, classes, sample_weight)
    observed = _confusion(targets)
    return _weighted_kappa(observed, power=2)


def _weighted_kappa(observed: np.ndarray, power: int) -> float:
    """Cohen's kappa of a confusion matrix with disagreement weights |i - j|**power."""
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    steps = np.arange(observed.shape[0])
    weights = np.abs(steps[:, None] - steps[None, :]) ** power
    chance = float(np.sum(weights * expected))
    # Exact: a sum of non-negative terms is zero only if each term is.
    if chance == 0.0:
        return 1.0
    return float(1.0 - np.sum(weights * observed) / chance)


def linear_weighted_kappa(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    classes: ClassOrder = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Linear weighted kappa (Cohen's kappa with weights ``|i - j|``).

    As :func:`qwk`, with disagreements weighted by the distance in classes
    instead of its square, so that far misses weigh less against near ones. It
    equals ``sklearn.metrics.cohen_kappa_score(..., weights="linear")`` with the
    same labels in the same order, and is the weighted kappa reported by the
    ORCA ordinal benchmark toolbox.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    classes : array-like of shape (n_classes,) or fitted estimator, default=None
        The class order: the labels from lowest to highest, or a fitted
        estimator whose ``classes_`` are used. ``None`` takes the categories of
        an ordered pandas ``Categorical``, else the sorted distinct labels of
        ``y_true`` and ``y_pred`` together, warning for text labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, not all zero. ``None`` weighs
        every sample 1.

    Returns
    -------
    score : float
        1 for perfect agreement, 0 for agreement at chance level, negative below;
        1.0 when every true and predicted label is one and the same class (see
        :func:`qwk`).

    See Also
    --------
    qwk : The same with quadratic weights.

    Examples
    --------
    >>> from skemd.metrics import linear_weighted_kappa
    >>> round(linear_weighted_kappa([0, 1, 2, 3], [0, 2, 2, 3]), 4)
    0.8
    """
    targets = _check_targets(y_true, y_pred, classes, sample_weight)
    observed = _confusion(targets)
    return _weighted_kappa(observed, power=1)


def off_by_one_accuracy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    classes: ClassOrder = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Fraction of predictions at most one class away from the truth.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    classes : array-like of shape (n_classes,) or fitted estimator, default=None
        The class order: the labels from lowest to highest, or a fitted
        estimator whose ``classes_`` are used. ``None`` takes the categories of
        an ordered pandas ``Categorical``, else the sorted distinct labels of
        ``y_true`` and ``y_pred`` together, warning for text labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, not all zero. ``None`` weighs
        every sample 1.

    Returns
    -------
    score : float
        Fraction of samples (of the total weight, with ``sample_weight``) with
        ``|rank(y_pred) - rank(y_true)| <= 1``; 1 is best.

    Examples
    --------
    >>> from skemd.metrics import off_by_one_accuracy
    >>> off_by_one_accuracy([0, 1, 2, 3], [1, 1, 0, 3])
    0.75
    """
    targets = _check_targets(y_true, y_pred, classes, sample_weight)
    hits = np.abs(targets.pred_ranks - targets.true_ranks) <= 1
    return _mean(hits, targets.weights)


def minimum_sensitivity(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    classes: ClassOrder = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Smallest recall over the true classes: the accuracy of the worst-served class.

    The sensitivity (recall) of a class is the share of its samples predicted as
    that class. The minimum is taken over the classes that occur in ``y_true``
    (with a positive total weight), so a model that never predicts a rare class
    scores 0 however accurate it is elsewhere. It counts hits and misses only,
    not how far a miss lands; :func:`mmae` is its ordinal counterpart.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    classes : array-like of shape (n_classes,) or fitted estimator, default=None
        The class order: the labels from lowest to highest, or a fitted
        estimator whose ``classes_`` are used. ``None`` takes the categories of
        an ordered pandas ``Categorical``, else the sorted distinct labels of
        ``y_true`` and ``y_pred`` together, warning for text labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, not all zero. ``None`` weighs
        every sample 1.

    Returns
    -------
    score : float
        Between 0 and 1; 1 is best.

    See Also
    --------
    geometric_mean_sensitivity : The geometric mean of the same recalls.
    mmae : The largest per-class mean absolute error.

    Examples
    --------
    >>> from skemd.metrics import minimum_sensitivity
    >>> minimum_sensitivity([0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 2])
    0.5
    """
    targets = _check_targets(y_true, y_pred, classes, sample_weight)
    confusion = _confusion(targets)
    return float(np.min(_sensitivities(confusion)))


def geometric_mean_sensitivity(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    classes: ClassOrder = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Geometric mean of the recalls of the true classes.

    The recall of each class that occurs in ``y_true`` (with a positive total
    weight) is taken, and their geometric mean returned: 0 as soon as one class
    is never predicted right, and high only when every class is served. Like
    :func:`minimum_sensitivity` it counts hits and misses, not distances.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    classes : array-like of shape (n_classes,) or fitted estimator, default=None
        The class order: the labels from lowest to highest, or a fitted
        estimator whose ``classes_`` are used. ``None`` takes the categories of
        an ordered pandas ``Categorical``, else the sorted distinct labels of
        ``y_true`` and ``y_pred`` together, warning for text labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, not all zero. ``None`` weighs
        every sample 1.

    Returns
    -------
    score : float
        Between 0 and 1; 1 is best.

    See Also
    --------
    minimum_sensitivity : The smallest of the same recalls.

    Examples
    --------
    >>> from skemd.metrics import geometric_mean_sensitivity
    >>> geometric_mean_sensitivity([0, 0, 1, 1], [0, 0, 1, 0])
    0.7071067811865476
    """
    targets = _check_targets(y_true, y_pred, classes, sample_weight)
    recalls = _sensitivities(_confusion(targets))
    if np.any(recalls == 0.0):
        return 0.0
    return float(np.exp(np.mean(np.log(recalls))))


def _midranks(totals: np.ndarray) -> np.ndarray:
    """Mid-rank of each class from the (weighted) number of samples per class.

    Shifted by a constant from the average rank 1..n of tied samples, which a
    correlation ignores; with real weights it is the weight below the class plus
    half the class's own weight.
    """
    return np.cumsum(totals) - totals / 2.0


def spearman_rho(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    classes: ClassOrder = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Spearman's rank correlation between true and predicted classes.

    The Pearson correlation of the ranks of ``y_true`` and ``y_pred``, tied
    samples (every sample of one class) sharing their average rank, as
    ``scipy.stats.spearmanr`` computes it on the class ranks. With
    ``sample_weight`` a sample of weight ``w`` counts like ``w`` copies of it,
    both in the ranks and in the correlation.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    classes : array-like of shape (n_classes,) or fitted estimator, default=None
        The class order: the labels from lowest to highest, or a fitted
        estimator whose ``classes_`` are used. ``None`` takes the categories of
        an ordered pandas ``Categorical``, else the sorted distinct labels of
        ``y_true`` and ``y_pred`` together, warning for text labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, not all zero. ``None`` weighs
        every sample 1.

    Returns
    -------
    score : float
        Between -1 and 1; 1 is best (the predictions rank the samples as the
        truth does).

    Notes
    -----
    The correlation is undefined when the true or the predicted labels (of
    positive weight) are all one class. The score is then 0.0, no association,
    as ``sklearn.metrics.matthews_corrcoef`` does for the same case; scipy
    returns NaN with a warning.

    See Also
    --------
    kendall_tau_b : Kendall's rank correlation, from pairs of samples.

    Examples
    --------
    >>> from skemd.metrics import spearman_rho
    >>> spearman_rho(["low", "mid", "high"], ["low", "high", "high"],
    ...              classes=["low", "mid", "high"])
    0.8660254037844387
    """
    targets = _check_targets(y_true, y_pred, classes, sample_weight)
    confusion = _confusion(targets)
    true_totals, pred_totals = confusion.sum(axis=1), confusion.sum(axis=0)
    if np.count_nonzero(true_totals) < 2 or np.count_nonzero(pred_totals) < 2:
        return 0.0
    total = true_totals.sum()
    true_dev = _midranks(true_totals)
    true_dev -= true_totals @ true_dev / total
    pred_dev = _midranks(pred_totals)
    pred_dev -= pred_totals @ pred_dev / total
    covariance = true_dev @ confusion @ pred_dev
    true_var = true_totals @ true_dev**2
    pred_var = pred_totals @ pred_dev**2
    return float(np.clip(covariance / np.sqrt(true_var * pred_var), -1.0, 1.0))


def kendall_tau_b(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    classes: ClassOrder = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    r"""Kendall's tau-b rank correlation between true and predicted classes.

    Over all pairs of samples, with :math:`C` the pairs that the predictions
    order as the truth does, :math:`D` those they order the other way,
    :math:`P_t` the pairs of different true classes and :math:`P_p` those of
    different predicted classes,

    .. math:: \tau_b = \frac{C - D}{\sqrt{P_t P_p}},

    which corrects for the many ties of class labels; it equals
    ``scipy.stats.kendalltau(..., variant="b")`` on the class ranks. With
    ``sample_weight`` a pair of samples counts the product of their weights, so
    that an integer weight counts like that many copies of the sample. The pairs
    are counted from the confusion matrix, in ``O(n_samples + n_classes**2)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    classes : array-like of shape (n_classes,) or fitted estimator, default=None
        The class order: the labels from lowest to highest, or a fitted
        estimator whose ``classes_`` are used. ``None`` takes the categories of
        an ordered pandas ``Categorical``, else the sorted distinct labels of
        ``y_true`` and ``y_pred`` together, warning for text labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, not all zero. ``None`` weighs
        every sample 1.

    Returns
    -------
    score : float
        Between -1 and 1; 1 is best.

    Notes
    -----
    Undefined when the true or the predicted labels (of positive weight) are
    all one class; the score is then 0.0, as for :func:`spearman_rho`.

    See Also
    --------
    spearman_rho : Spearman's rank correlation.

    Examples
    --------
    >>> from skemd.metrics import kendall_tau_b
    >>> round(kendall_tau_b([0, 1, 2, 2], [0, 2, 1, 2]), 4)
    0.4
    """
    targets = _check_targets(y_true, y_pred, classes, sample_weight)
    confusion = _confusion(targets)
    true_totals, pred_totals = confusion.sum(axis=1), confusion.sum(axis=0)
    if np.count_nonzero(true_totals) < 2 or np.count_nonzero(pred_totals) < 2:
        return 0.0
    # above[i, j]: weight of the samples with a higher true class and a higher
    # predicted class than (i, j); below_right: higher true, lower predicted.
    higher_true = np.zeros_like(confusion)
    higher_true[:-1] = np.cumsum(confusion[::-1], axis=0)[::-1][1:]
    above = np.zeros_like(confusion)
    above[:, :-1] = np.cumsum(higher_true[:, ::-1], axis=1)[:, ::-1][:, 1:]
    below = np.zeros_like(confusion)
    below[:, 1:] = np.cumsum(higher_true, axis=1)[:, :-1]
    concordant = np.sum(confusion * above)
    discordant = np.sum(confusion * below)
    total = true_totals.sum()
    true_pairs = (total**2 - true_totals @ true_totals) / 2.0
    pred_pairs = (total**2 - pred_totals @ pred_totals) / 2.0
    tau = (concordant - discordant) / np.sqrt(true_pairs * pred_pairs)
    return float(np.clip(tau, -1.0, 1.0))


# ---------------------------------------------------------------------------
# Probability metrics
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

# The overall scores of ordinal_report: key, name in the text, better.
_REPORT_LABEL_METRICS = (
    ("accuracy", "accuracy", "higher"),
    ("mae", "mean absolute error (MAE)", "lower"),
    ("amae", "average MAE per class (AMAE)", "lower"),
    ("mmae", "largest MAE of a class (MMAE)", "lower"),
    ("off_by_one_accuracy", "off by at most one class", "higher"),
    ("qwk", "quadratic weighted kappa", "higher"),
    ("linear_weighted_kappa", "linear weighted kappa", "higher"),
    ("spearman_rho", "Spearman's rho", "higher"),
    ("kendall_tau_b", "Kendall's tau-b", "higher"),
    ("minimum_sensitivity", "minimum sensitivity", "higher"),
    ("geometric_mean_sensitivity", "geometric mean of sensitivities", "higher"),
)
_REPORT_PROBA_METRICS = (
    ("ranked_probability_score", "ranked probability score", "lower"),
    ("squared_emd_score", "squared EMD", "lower"),
)


def ordinal_report(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    y_proba: ArrayLike | None = None,
    classes: ClassOrder = None,
    sample_weight: ArrayLike | None = None,
    digits: int = 3,
    output_dict: bool = False,
) -> str | dict:
    """A report of the ordinal metrics, overall and for each true class.

    The ordinal counterpart of ``sklearn.metrics.classification_report``: one
    row per class in class order, with its support (the number, or the total
    weight, of its true samples), how often it was predicted, its recall and
    the mean absolute error of its samples; then every label metric of this
    module, and with ``y_proba`` the probability metrics.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    y_proba : array-like of shape (n_samples, n_classes), default=None
        Predicted probabilities, columns in class order, for the ranked
        probability score and the squared EMD.
    classes : array-like of shape (n_classes,) or fitted estimator, default=None
        The class order: the labels from lowest to highest, or a fitted
        estimator whose ``classes_`` are used. ``None`` takes the categories of
        an ordered pandas ``Categorical``, else the sorted distinct labels of
        ``y_true`` and ``y_pred`` together, warning for text labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, not all zero, used by every
        figure of the report.
    digits : int, default=3
        Digits after the decimal point in the text.
    output_dict : bool, default=False
        Return a dict instead of text.

    Returns
    -------
    report : str or dict
        The text, or a dict with one entry per class, keyed by ``str(label)``
        and holding ``"support"``, ``"predicted"``, ``"recall"`` and ``"mae"``
        (NaN for a class without true samples), and the overall scores under
        the names of their functions (``"accuracy"``, ``"mae"``, ``"qwk"``,
        ...), with ``"support"`` the total.

    Examples
    --------
    >>> from skemd.metrics import ordinal_report
    >>> y_true = ["low", "low", "mid", "high", "high"]
    >>> y_pred = ["low", "mid", "mid", "mid", "high"]
    >>> report = ordinal_report(y_true, y_pred, classes=["low", "mid", "high"],
    ...                         output_dict=True)
    >>> report["mid"]
    {'support': 1.0, 'predicted': 3.0, 'recall': 1.0, 'mae': 0.0}
    >>> report["mae"]
    0.4
    """
    targets = _check_targets(y_true, y_pred, classes, sample_weight)
    order = targets.order
    # In units of the largest weight; totals are given back in the user's units.
    confusion = _confusion(targets)
    scale = targets.weight_scale
    support = confusion.sum(axis=1)
    steps = np.arange(order.size)
    distance = np.abs(steps[:, None] - steps[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, np.diagonal(confusion) / support, np.nan)
        class_mae = np.where(
            support > 0, (confusion * distance).sum(axis=1) / support, np.nan
        )

    report: dict[str, Any] = {}
    for k, label in enumerate(order.tolist()):
        report[str(label)] = {
            "support": float(support[k] * scale),
            "predicted": float(confusion[:, k].sum() * scale),
            "recall": float(recall[k]),
            "mae": float(class_mae[k]),
        }
    scores = {"accuracy": float(np.trace(confusion) / confusion.sum())}
    metrics = {
        "mae": mae,
        "amae": amae,
        "mmae": mmae,
        "off_by_one_accuracy": off_by_one_accuracy,
        "qwk": qwk,
        "linear_weighted_kappa": linear_weighted_kappa,
        "spearman_rho": spearman_rho,
        "kendall_tau_b": kendall_tau_b,
        "minimum_sensitivity": minimum_sensitivity,
        "geometric_mean_sensitivity": geometric_mean_sensitivity,
    }
    for key, metric in metrics.items():
        scores[key] = metric(y_true, y_pred, classes=order, sample_weight=sample_weight)
    shown = list(_REPORT_LABEL_METRICS)
    if y_proba is not None:
        scores["ranked_probability_score"] = ranked_probability_score(
            y_true, y_proba, classes=order, sample_weight=sample_weight
        )
        scores["squared_emd_score"] = squared_emd_score(
            y_true, y_proba, classes=order, sample_weight=sample_weight
        )
        shown += _REPORT_PROBA_METRICS
    report.update(scores)
    report["support"] = float(confusion.sum() * scale)
    if output_dict:
        return report
    return _report_text(report, order, shown, sample_weight is not None, digits)


def _report_text(report, order, shown, weighted: bool, digits: int) -> str:
    count = f"{{:.{digits}f}}" if weighted else "{:.0f}"
    score = f"{{:.{digits}f}}"
    names = [str(label) for label in order.tolist()]
    width = max(len("class"), len("all"), *(len(name) for name in names))
    header = (
        f"{'class':>{width}}  {'support':>9}  {'predicted':>9}  "
        f"{'recall':>8}  {'MAE':>8}"
    )
    lines = [header, ""]
    for name in names:
        row = report[name]
        recall = "-" if np.isnan(row["recall"]) else score.format(row["recall"])
        error = "-" if np.isnan(row["mae"]) else score.format(row["mae"])
        lines.append(
            f"{name:>{width}}  {count.format(row['support']):>9}  "
            f"{count.format(row['predicted']):>9}  {recall:>8}  {error:>8}"
        )
    total = count.format(report["support"])
    lines += [f"{'all':>{width}}  {total:>9}  {total:>9}", ""]
    title_width = max(len(title) for _, title, _ in shown)
    for key, title, better in shown:
        value = score.format(report[key])
        lines.append(f"{title:<{title_width}}  {value:>8}  ({better} is better)")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Scorers
# ---------------------------------------------------------------------------


class _OrdinalScorer:
    """Score a fitted estimator with an ordinal metric, in its own class order.

    The scorer takes part in scikit-learn's metadata routing as a consumer of
    ``sample_weight`` in ``score``, like scikit-learn's own scorers: by default
    the weights are not requested (routing them raises an error), and
    :meth:`set_score_request` requests them.

    Parameters
    ----------
    metric : callable
        ``metric(y_true, y_pred_or_proba, *, classes, sample_weight)``.
    sign : {1, -1}
        ``-1`` for metrics where lower is better, so the score is greater-better.
    response_method : {"predict", "predict_proba"}
        The estimator method whose output the metric takes.
    """

    def __init__(
        self, metric: Callable[..., float], sign: int, response_method: str
    ) -> None:
        self._metric = metric
        self._sign = sign
        self._response_method = response_method
        # The routing request for sample_weight: None (not set: an error if
        # routed), True, False or an alias.
        self._sample_weight_request: bool | str | None = None

    def __call__(
        self,
        estimator: Any,
        X: ArrayLike,
        y_true: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
    ) -> float:
        """Score ``estimator`` on ``X`` against ``y_true``; greater is better.

        Parameters
        ----------
        estimator : fitted estimator
            Its ``classes_`` give the class order.
        X : array-like of shape (n_samples, n_features)
            Test data, passed to the estimator's ``predict`` or
            ``predict_proba``.
        y_true : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples, passed on to the metric.

        Returns
        -------
        score : float
        """
        response = getattr(estimator, self._response_method)(X)
        return self._sign * self._metric(
            y_true, response, classes=estimator, sample_weight=sample_weight
        )

    def set_score_request(
        self, *, sample_weight: bool | str | None = UNCHANGED
    ) -> _OrdinalScorer:
        """Request ``sample_weight`` from scikit-learn's metadata routing.

        Available only when metadata routing is enabled
        (``sklearn.set_config(enable_metadata_routing=True)`` or inside
        ``sklearn.config_context(enable_metadata_routing=True)``). The scorer is
        changed in place: use one from :func:`get_scorer`, which is a new object
        each time, to keep the request to yourself.

        Parameters
        ----------
        sample_weight : bool, str or None, default=UNCHANGED
            ``True``: pass ``sample_weight`` to the scorer; ``False``: do not;
            ``None``: raise an error if it is passed; a string: pass the
            metadata of that name as ``sample_weight``;
            ``sklearn.utils.metadata_routing.UNCHANGED``: keep the request as it
            is.

        Returns
        -------
        self : object
            The scorer itself.
        """
        if not get_config().get("enable_metadata_routing", False):
            raise RuntimeError(
                "set_score_request is only available when metadata routing is "
                "enabled; enable it with sklearn.set_config("
                "enable_metadata_routing=True) or inside sklearn.config_context("
                "enable_metadata_routing=True)."
            )
        if sample_weight is not UNCHANGED:
            # Let scikit-learn check the value before it is kept.
            MetadataRequest(owner=self).score.add_request(
                param="sample_weight", alias=sample_weight
            )
            self._sample_weight_request = sample_weight
        return self

    def get_metadata_routing(self) -> MetadataRequest:
        """The scorer's metadata request: ``sample_weight`` in ``score``.

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRequest
        """
        request = MetadataRequest(owner=self)
        request.score.add_request(
            param="sample_weight", alias=self._sample_weight_request
        )
        return request

    def _routing_repr(self) -> str:
        # How scikit-learn's routing errors name the scorer.
        return repr(self)

    def _accept_sample_weight(self) -> bool:
        # Without metadata routing, scikit-learn's searches ask each scorer this
        # before passing fit's sample_weight on to it.
        return True

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._metric.__name__}, sign={self._sign}, "
            f"response_method={self._response_method!r})"
        )


neg_mae_scorer = _OrdinalScorer(mae, -1, "predict")
neg_amae_scorer = _OrdinalScorer(amae, -1, "predict")
neg_mmae_scorer = _OrdinalScorer(mmae, -1, "predict")
qwk_scorer = _OrdinalScorer(qwk, 1, "predict")
linear_weighted_kappa_scorer = _OrdinalScorer(linear_weighted_kappa, 1, "predict")
off_by_one_accuracy_scorer = _OrdinalScorer(off_by_one_accuracy, 1, "predict")
spearman_rho_scorer = _OrdinalScorer(spearman_rho, 1, "predict")
kendall_tau_b_scorer = _OrdinalScorer(kendall_tau_b, 1, "predict")
minimum_sensitivity_scorer = _OrdinalScorer(minimum_sensitivity, 1, "predict")
geometric_mean_sensitivity_scorer = _OrdinalScorer(
    geometric_mean_sensitivity, 1, "predict"
)
neg_ranked_probability_score_scorer = _OrdinalScorer(
    ranked_probability_score, -1, "predict_proba"
)
neg_squared_emd_score_scorer = _OrdinalScorer(squared_emd_score, -1, "predict_proba")

SCORERS: dict[str, _OrdinalScorer] = {
    "neg_mae": neg_mae_scorer,
    "neg_amae": neg_amae_scorer,
    "neg_mmae": neg_mmae_scorer,
    "qwk": qwk_scorer,
    "linear_weighted_kappa": linear_weighted_kappa_scorer,
    "off_by_one_accuracy": off_by_one_accuracy_scorer,
    "spearman_rho": spearman_rho_scorer,
    "kendall_tau_b": kendall_tau_b_scorer,
    "minimum_sensitivity": minimum_sensitivity_scorer,
    "geometric_mean_sensitivity": geometric_mean_sensitivity_scorer,
    "neg_ranked_probability_score": neg_ranked_probability_score_scorer,
    "neg_squared_emd_score": neg_squared_emd_score_scorer,
}


def get_scorer(name: str) -> _OrdinalScorer:
    """Ordinal scorer by name.

    A scorer is called as ``scorer(estimator, X, y, sample_weight=None)``,
    returns a number where greater is better, and ranks the labels in the order
    of the fitted estimator's ``classes_``. It can be passed as ``scoring=`` to
    :class:`~sklearn.model_selection.GridSearchCV` or
    :func:`~sklearn.model_selection.cross_validate`, alone or as a value of a
    dict of scorers.

    Each call returns a new scorer, as ``sklearn.metrics.get_scorer`` does, so
    ``get_scorer(name).set_score_request(sample_weight=True)`` (with metadata
    routing enabled) changes that scorer only, not the one in :data:`SCORERS`.

    Parameters
    ----------
    name : str
        One of ``"neg_mae"``, ``"neg_amae"``, ``"neg_mmae"``, ``"qwk"``,
        ``"linear_weighted_kappa"``, ``"off_by_one_accuracy"``,
        ``"spearman_rho"``, ``"kendall_tau_b"``, ``"minimum_sensitivity"``,
        ``"geometric_mean_sensitivity"``,
        ``"neg_ranked_probability_score"`` and ``"neg_squared_emd_score"`` (the
        keys of :data:`SCORERS`).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, *, sample_weight=None) -> float``, with
        ``set_score_request`` for metadata routing.

    Raises
    ------
    ValueError
        If ``name`` is not one of the names above.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> from skemd.metrics import get_scorer
    >>> X, y = [[0], [0], [0], [0]], [0, 1, 1, 2]
    >>> clf = DummyClassifier(strategy="constant", constant=0).fit(X, y)
    >>> scorer = get_scorer("neg_mae")
    >>> scorer(clf, X, y)
    -1.0
    """
    try:
        shared = SCORERS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"{name!r} is not an ordinal scorer; valid names are "
            f"{sorted(SCORERS)}. scikit-learn's own scorers are available from "
            "sklearn.metrics.get_scorer."
        ) from None
    return _OrdinalScorer(shared._metric, shared._sign, shared._response_method)
