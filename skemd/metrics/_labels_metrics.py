"""Metrics of predicted labels: rank errors, weighted kappas, rank correlations
and sensitivities."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._base import ClassOrder, _check_targets, _mean, _Targets


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
