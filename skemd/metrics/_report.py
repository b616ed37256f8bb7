"""A report of the ordinal metrics, overall and for each true class."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._base import ClassOrder, _check_targets
from ._labels_metrics import (
    _confusion,
    amae,
    geometric_mean_sensitivity,
    kendall_tau_b,
    linear_weighted_kappa,
    mae,
    minimum_sensitivity,
    mmae,
    off_by_one_accuracy,
    qwk,
    spearman_rho,
)
from ._probability import ranked_probability_score, squared_emd_score

# The overall scores of ordinal_report: key, name in the text, which is better,
# and the metric (accuracy comes from the confusion matrix).
_REPORT_LABEL_METRICS = (
    ("accuracy", "accuracy", "higher", None),
    ("mae", "mean absolute error (MAE)", "lower", mae),
    ("amae", "average MAE per class (AMAE)", "lower", amae),
    ("mmae", "largest MAE of a class (MMAE)", "lower", mmae),
    ("off_by_one_accuracy", "off by at most one class", "higher", off_by_one_accuracy),
    ("qwk", "quadratic weighted kappa", "higher", qwk),
    ("linear_weighted_kappa", "linear weighted kappa", "higher", linear_weighted_kappa),
    ("spearman_rho", "Spearman's rho", "higher", spearman_rho),
    ("kendall_tau_b", "Kendall's tau-b", "higher", kendall_tau_b),
    ("minimum_sensitivity", "minimum sensitivity", "higher", minimum_sensitivity),
    (
        "geometric_mean_sensitivity",
        "geometric mean of sensitivities",
        "higher",
        geometric_mean_sensitivity,
    ),
)
_REPORT_PROBA_METRICS = (
    (
        "ranked_probability_score",
        "ranked probability score",
        "lower",
        ranked_probability_score,
    ),
    ("squared_emd_score", "squared EMD", "lower", squared_emd_score),
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
    order, scale = targets.order, targets.weight_scale
    # In units of the largest weight; totals are given back in the user's units.
    confusion = _confusion(targets)
    report: dict[str, Any] = _class_rows(confusion, order, scale)
    report["accuracy"] = float(np.trace(confusion) / confusion.sum())
    for key, _, _, metric in _REPORT_LABEL_METRICS[1:]:
        report[key] = metric(y_true, y_pred, classes=order, sample_weight=sample_weight)
    shown = list(_REPORT_LABEL_METRICS)
    if y_proba is not None:
        for key, _, _, metric in _REPORT_PROBA_METRICS:
            report[key] = metric(
                y_true, y_proba, classes=order, sample_weight=sample_weight
            )
        shown += _REPORT_PROBA_METRICS
    report["support"] = float(confusion.sum() * scale)
    if output_dict:
        return report
    return _report_text(report, order, shown, sample_weight is not None, digits)


def _class_rows(confusion: np.ndarray, order: np.ndarray, scale: float) -> dict:
    """The support, predicted count, recall and MAE of each class, by label."""
    support = confusion.sum(axis=1)
    steps = np.arange(order.size)
    distance = np.abs(steps[:, None] - steps[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, np.diagonal(confusion) / support, np.nan)
        class_mae = np.where(
            support > 0, (confusion * distance).sum(axis=1) / support, np.nan
        )
    return {
        str(label): {
            "support": float(support[k] * scale),
            "predicted": float(confusion[:, k].sum() * scale),
            "recall": float(recall[k]),
            "mae": float(class_mae[k]),
        }
        for k, label in enumerate(order.tolist())
    }


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
    title_width = max(len(title) for _, title, _, _ in shown)
    for key, title, better, _ in shown:
        value = score.format(report[key])
        lines.append(f"{title:<{title_width}}  {value:>8}  ({better} is better)")
    return "\n".join(lines) + "\n"
