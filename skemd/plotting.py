"""Plots for ordinal classifiers: ground distances, training curves, confusions.

matplotlib is an optional dependency of skemd: it is imported when a function here
is called, not when the module is imported. Install it with ``pip install
matplotlib`` or ``pip install skemd[plot]``.

Every function draws on the matplotlib ``Axes`` given as ``ax`` (a new figure when
``ax`` is None) and returns that ``Axes``, so plots can be laid out side by side
with :func:`matplotlib.pyplot.subplots` and refined afterwards.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .metrics import _check_targets, _class_order, _ordered_categories

__all__ = ["plot_confusion_matrix", "plot_ground_distance", "plot_training_curves"]

_NORMALIZE = (None, "true", "pred", "all")


def _import_pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "skemd.plotting needs matplotlib. Install it with `pip install "
            "matplotlib` or `pip install skemd[plot]`."
        ) from exc
    return plt


def _axes(ax):
    """The Axes to draw on: ``ax``, or those of a new figure."""
    plt = _import_pyplot()
    if ax is None:
        _, ax = plt.subplots()
        return ax
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None; got {ax!r}.")
    return ax


def _final_step(estimator):
    """The last step of a pipeline, or the estimator itself."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps:
        return steps[-1][1]
    return estimator


def _is_estimator(obj) -> bool:
    return hasattr(obj, "fit") and hasattr(obj, "get_params")


def _text_colors(image, values: np.ndarray) -> np.ndarray:
    """Black or white text for each cell, whichever reads better on its colour."""
    rgba = image.cmap(image.norm(values))
    # Relative luminance of the cell colour (ITU-R BT.709 weights).
    luminance = rgba[..., :3] @ np.array([0.2126, 0.7152, 0.0722])
    return np.where(luminance > 0.5, "black", "white")


def _draw_matrix(
    ax,
    values: np.ndarray,
    labels: np.ndarray,
    *,
    annotate: bool,
    fmt: str,
    cmap,
    colorbar: bool,
    vmin=None,
    vmax=None,
):
    """Draw a square matrix with one labelled row and column per class."""
    n_classes = values.shape[0]
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if annotate:
        colors = _text_colors(image, values)
        for i in range(n_classes):
            for j in range(n_classes):
                ax.text(
                    j,
                    i,
                    format(values[i, j], fmt),
                    ha="center",
                    va="center",
                    color=colors[i, j],
                )
    ticks = np.arange(n_classes)
    names = [str(label) for label in labels]
    ax.set_xticks(ticks, labels=names)
    ax.set_yticks(ticks, labels=names)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    if colorbar:
        ax.figure.colorbar(image, ax=ax)
    return image


def _check_class_labels(classes, n_classes: int) -> np.ndarray:
    if classes is None:
        return np.arange(n_classes)
    labels = np.asarray(classes)
    if labels.shape != (n_classes,):
        raise ValueError(
            f"classes must hold one label per class, {n_classes} in all; got "
            f"shape {labels.shape}."
        )
    return labels


def plot_ground_distance(
    distance: Any,
    classes: ArrayLike | None = None,
    *,
    ax=None,
    annotate: bool = True,
    fmt: str = ".2g",
    cmap: str = "viridis",
    colorbar: bool = True,
    title: str | None = "Ground distance",
):
    """Draw a ground distance between classes as a heatmap.

    Row ``i``, column ``j`` is the distance ``D[i, j]``, the cost the loss and the
    ``"expected_cost"`` decision charge for predicting class ``j`` when the true
    class is ``i``. Classes that the distance puts close together show as dark
    cells; an ordinal distance is a band that brightens away from the diagonal.

    Parameters
    ----------
    distance : array-like of shape (n_classes, n_classes) or fitted estimator
        The matrix (a NumPy array, nested lists or a torch tensor), or a fitted
        :class:`~skemd.EMDClassifier` (or a pipeline ending in one), whose
        ``ground_distance_`` is drawn with its ``classes_`` as labels.
    classes : array-like of shape (n_classes,), default=None
        Labels of the rows and columns. ``None`` takes the estimator's
        ``classes_``, or ``0 .. n_classes - 1`` for a matrix.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    annotate : bool, default=True
        Whether to write the value in each cell.
    fmt : str, default=".2g"
        Format specification of the values written in the cells.
    cmap : str or matplotlib Colormap, default="viridis"
        Colour map of the heatmap.
    colorbar : bool, default=True
        Whether to add a colour bar.
    title : str or None, default="Ground distance"
        Title of the Axes; None leaves it empty.

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on.

    Raises
    ------
    ValueError
        If the matrix is not square, not numeric or not finite, or ``classes``
        does not have one label per row.
    TypeError
        If an estimator has no ``ground_distance_`` attribute.
    sklearn.exceptions.NotFittedError
        If an estimator is not fitted yet.

    See Also
    --------
    skemd.ground_distance.seriate : Recovers a class order from a distance.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skemd.ground_distance import ordinal_distance
    >>> from skemd.plotting import plot_ground_distance
    >>> ax = plot_ground_distance(ordinal_distance(3), classes=["low", "mid", "high"])
    >>> [label.get_text() for label in ax.get_xticklabels()]
    ['low', 'mid', 'high']
    >>> [text.get_text() for text in ax.texts[:3]]
    ['0', '1', '2']
    """
    matrix, default_classes = _distance_matrix(distance)
    n_classes = matrix.shape[0]
    labels = _check_class_labels(
        default_classes if classes is None else classes, n_classes
    )
    ax = _axes(ax)
    _draw_matrix(
        ax,
        matrix,
        labels,
        annotate=annotate,
        fmt=fmt,
        cmap=cmap,
        colorbar=colorbar,
    )
    if title is not None:
        ax.set_title(title)
    return ax


def _distance_matrix(distance) -> tuple[np.ndarray, np.ndarray | None]:
    """The matrix to draw and, from an estimator, its classes."""
    classes = None
    if _is_estimator(distance):
        estimator = _final_step(distance)
        check_is_fitted(estimator)
        if not hasattr(estimator, "ground_distance_"):
            raise TypeError(
                f"{type(estimator).__name__} has no ground_distance_ attribute; "
                "pass an EMDClassifier or the distance matrix itself."
            )
        classes = getattr(estimator, "classes_", None)
        distance = estimator.ground_distance_
    if hasattr(distance, "detach"):
        distance = distance.detach().cpu().numpy()
    try:
        matrix = np.asarray(distance, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"distance must be a numeric matrix or a fitted estimator; got "
            f"{type(distance).__name__}."
        ) from exc
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.size == 0:
        raise ValueError(
            f"distance must be a non-empty square matrix; got shape {matrix.shape}."
        )
    if not np.isfinite(matrix).all():
        raise ValueError("distance contains NaN or infinity.")
    return matrix, classes


def plot_training_curves(estimator: Any, *, ax=None, title: str | None = None):
    """Draw the training loss, and the validation loss, epoch by epoch.

    With ``early_stopping=True`` an :class:`~skemd.EMDClassifier` also records
    ``validation_scores_``, minus the loss on the held-out data; it is drawn as
    the validation loss, and the epoch whose network the estimator keeps, that
    of the lowest validation loss in its last fit, is marked. When the ground
    distance was learned, the warm-up epochs (cross-entropy only, so on another
    scale) are shaded and the kept network comes from after them, unless
    training ended within the warm-up. For a skorch net with a validation
    split, the lowest validation loss is marked; for another estimator with
    ``loss_curve_`` (``MLPClassifier``, whose validation scores are
    accuracies), the training loss alone is drawn.

    Parameters
    ----------
    estimator : fitted estimator or skorch net
        An :class:`~skemd.EMDClassifier` (or a pipeline ending in one) with
        ``loss_curve_``, or a trained skorch ``NeuralNet`` whose history holds
        ``train_loss`` (and ``valid_loss``, when it had a validation split).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    title : str, default=None
        Title of the Axes.

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on.

    Raises
    ------
    TypeError
        If ``estimator`` records no training loss.
    sklearn.exceptions.NotFittedError
        If the estimator or net is not fitted yet.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skemd import EMDClassifier
    >>> from skemd.plotting import plot_training_curves
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(150, 2))
    >>> y = np.digitize(X[:, 0], [-0.5, 0.5])
    >>> clf = EMDClassifier(
    ...     hidden_layer_sizes=(8,),
    ...     learning_rate_init=0.01,
    ...     tol=1e-3,
    ...     n_iter_no_change=3,
    ...     early_stopping=True,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> ax = plot_training_curves(clf)
    >>> [line.get_label() for line in ax.get_lines()][:2]
    ['training loss', 'validation loss']
    >>> len(ax.get_lines()[0].get_xdata()) == clf.n_iter_
    True
    """
    curves = _loss_curves(estimator)
    train, valid = curves["train"], curves["valid"]
    warmup = min(curves["warmup"], len(train))
    ax = _axes(ax)
    epochs = np.arange(1, len(train) + 1)
    if warmup:
        ax.axvspan(0.5, warmup + 0.5, color="0.9", label="warm-up (cross-entropy only)")
    ax.plot(epochs, train, label="training loss")
    if valid is not None:
        # A warm start may have switched validation on: it covers the last epochs.
        valid_epochs = epochs[len(train) - len(valid) :]
        ax.plot(valid_epochs, valid, label="validation loss")
        kept = curves["kept"]
        if kept is None:
            kept = len(train) - len(valid) + int(np.nanargmin(valid))
            label = f"lowest validation loss (epoch {epochs[kept]})"
        elif curves["kept_in_warmup"]:
            label = f"kept network (epoch {epochs[kept]}, end of the warm-up)"
        else:
            label = f"kept network, lowest validation loss (epoch {epochs[kept]})"
        ax.plot(
            epochs[kept],
            valid[kept - (len(train) - len(valid))],
            marker="o",
            linestyle="none",
            color="black",
            label=label,
        )
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Loss")
    ax.set_xlim(0.5, len(train) + 0.5)
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return ax


def _loss_curves(estimator) -> dict:
    """What the training-curve plot draws, from a fitted estimator or net.

    ``train`` and ``valid`` (None without validation; the last epochs when a
    warm start switched it on) are per-epoch losses; ``warmup`` the epochs at
    the start that trained another loss; ``kept`` the index of the epoch whose
    network an EMDClassifier keeps (None where no such rule applies: the lowest
    validation loss is marked), ``kept_in_warmup`` whether training ended
    within the warm-up, which keeps the last network.
    """
    from skorch import NeuralNet

    from ._classifier import EMDClassifier

    estimator = _final_step(estimator)
    curves = {"valid": None, "warmup": 0, "kept": None, "kept_in_warmup": False}
    if isinstance(estimator, EMDClassifier):
        check_is_fitted(estimator, "loss_curve_")
        train = np.asarray(estimator.loss_curve_, dtype=float)
        curves.update(train=train, warmup=int(estimator._curve_warmup_))
        scores = estimator.validation_scores_
        if scores is not None:
            valid = -np.asarray(scores, dtype=float)
            # The kept network is the best of the last fit's epochs after its
            # warm-up, or its last one if it ended within the warm-up.
            n_last = len(estimator.net_.history)
            first = len(train) - n_last + estimator._fitted_warmup_
            offset = len(train) - len(valid)
            if first >= len(train):
                kept, in_warmup = len(train) - 1, True
            else:
                kept = first + int(np.nanargmin(valid[first - offset :]))
                in_warmup = False
            curves.update(valid=valid, kept=kept, kept_in_warmup=in_warmup)
        return curves
    if hasattr(estimator, "loss_curve_") or hasattr(estimator, "hidden_layer_sizes"):
        # MLPClassifier and the like: its validation_scores_ are accuracies, not
        # losses, so only the training loss is drawn.
        check_is_fitted(estimator, "loss_curve_")
        curves["train"] = np.asarray(estimator.loss_curve_, dtype=float)
        return curves
    if isinstance(estimator, NeuralNet):
        history = getattr(estimator, "history", None)
        if (
            not getattr(estimator, "initialized_", False)
            or history is None
            or not len(history)
            or "train_loss" not in history[-1]
        ):
            raise NotFittedError(
                f"This {type(estimator).__name__} has not been trained yet: its "
                "history holds no training loss."
            )
        curves["train"] = np.asarray(history[:, "train_loss"], dtype=float)
        if all("valid_loss" in epoch for epoch in history):
            curves["valid"] = np.asarray(history[:, "valid_loss"], dtype=float)
        return curves
    raise TypeError(
        "estimator must be a fitted EMDClassifier (or another estimator with "
        "loss_curve_) or a trained skorch net; got "
        f"{type(estimator).__name__}."
    )


def plot_confusion_matrix(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    classes: Any = None,
    *,
    normalize: str | None = None,
    ax=None,
    annotate: bool = True,
    fmt: str | None = None,
    cmap: str = "Blues",
    colorbar: bool = True,
    title: str | None = None,
):
    """Draw a confusion matrix with the classes in their order.

    Rows are true classes and columns predicted classes, both from the lowest
    class to the highest, so the distance of a cell from the diagonal is the
    size of the error. The diagonal (exact predictions) is outlined in black
    and the band of predictions at most one class away in orange dashes: a good
    ordinal classifier keeps its errors inside the band.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    classes : array-like of shape (n_classes,) or fitted estimator, default=None
        The class order, lowest first, or a fitted estimator whose ``classes_``
        give it. ``None`` takes the categories of a pandas ordered
        ``Categorical`` ``y_true`` (or ``y_pred``), else sorts the labels of
        ``y_true`` and ``y_pred``. Give it whenever a class may be absent from
        both, so that it still gets a row.
    normalize : {"true", "pred", "all"}, default=None
        Divide the counts by the number of samples of each true class (rows sum
        to 1), of each predicted class (columns sum to 1) or by the total;
        ``None`` draws counts.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    annotate : bool, default=True
        Whether to write the value in each cell.
    fmt : str, default=None
        Format specification of the values: ``"d"`` for counts and ``".2f"``
        when normalised.
    cmap : str or matplotlib Colormap, default="Blues"
        Colour map.
    colorbar : bool, default=True
        Whether to add a colour bar.
    title : str, default=None
        Title of the Axes.

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on.

    Raises
    ------
    ValueError
        If the labels are invalid (lengths differ, NaN, labels outside
        ``classes``) or ``normalize`` is not one of the options.

    See Also
    --------
    skemd.metrics.off_by_one_accuracy : The share of samples inside the band.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skemd.plotting import plot_confusion_matrix
    >>> y_true = ["low", "mid", "high", "high"]
    >>> y_pred = ["low", "high", "high", "mid"]
    >>> ax = plot_confusion_matrix(y_true, y_pred, classes=["low", "mid", "high"])
    >>> ax.images[0].get_array().tolist()
    [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    >>> [label.get_text() for label in ax.get_yticklabels()]
    ['low', 'mid', 'high']
    """
    if normalize not in _NORMALIZE:
        raise ValueError(f"normalize must be one of {_NORMALIZE}; got {normalize!r}.")
    classes = _ordered_categories(classes, y_true, y_pred)
    true_ranks, pred_ranks, n_classes = _check_targets(y_true, y_pred, classes)
    order = _class_order(classes, np.asarray(y_true), np.asarray(y_pred))
    counts = np.bincount(
        true_ranks * n_classes + pred_ranks, minlength=n_classes * n_classes
    ).reshape(n_classes, n_classes)
    values = _normalized(counts, normalize)
    if fmt is None:
        fmt = "d" if normalize is None else ".2f"

    ax = _axes(ax)
    _draw_matrix(
        ax,
        values,
        order,
        annotate=annotate,
        fmt=fmt,
        cmap=cmap,
        colorbar=colorbar,
        vmin=0,
    )
    _draw_ordinal_bands(ax, n_classes)
    if title is not None:
        ax.set_title(title)
    return ax


def _normalized(counts: np.ndarray, normalize: str | None) -> np.ndarray:
    if normalize is None:
        return counts
    if normalize == "true":
        total = counts.sum(axis=1, keepdims=True)
    elif normalize == "pred":
        total = counts.sum(axis=0, keepdims=True)
    else:
        total = counts.sum()
    # A class absent from y_true (or y_pred) has an empty row (column): zeros.
    return counts / np.where(total == 0, 1, total)


def _draw_ordinal_bands(ax, n_classes: int) -> None:
    """Outline the diagonal cells and the band ``|true - predicted| <= 1``."""
    from matplotlib.patches import Rectangle

    for k in range(n_classes):
        ax.add_patch(
            Rectangle(
                (k - 0.5, k - 0.5),
                1,
                1,
                fill=False,
                edgecolor="black",
                linewidth=1.5,
                label="exact" if k == 0 else None,
            )
        )
    rows = np.arange(n_classes)
    left = np.maximum(rows - 1, 0) - 0.5
    right = np.minimum(rows + 1, n_classes - 1) + 0.5
    # Each row's edge runs from its top to its bottom; consecutive rows join up.
    y = np.repeat(rows, 2) + np.tile([-0.5, 0.5], n_classes)
    style = {"color": "tab:orange", "linestyle": "--", "linewidth": 1.5}
    ax.plot(np.repeat(left, 2), y, label="off by one", **style)
    ax.plot(np.repeat(right, 2), y, **style)
    ax.set_xlim(-0.5, n_classes - 0.5)
    ax.set_ylim(n_classes - 0.5, -0.5)
