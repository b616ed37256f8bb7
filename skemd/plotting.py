"""Plots for ordinal classifiers: ground distances, training curves, confusions.

matplotlib is an optional dependency of skemd: it is imported when a function here
is called, not when the module is imported. Install it with ``pip install
matplotlib`` or ``pip install skemd[plot]``.

Every function draws on the matplotlib ``Axes`` given as ``ax`` (a new figure when
``ax`` is None) and returns that ``Axes``, so plots can be laid out side by side
with :func:`matplotlib.pyplot.subplots` and refined afterwards.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ._labels import (
    categories_of,
    check_label_pair,
    check_order,
    positions,
    sorted_order,
)

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


# ------------------------------------------------------------ ground distance


def _text_colors(image, values: np.ndarray) -> np.ndarray:
    """Black or white text for each cell, whichever reads better on its colour."""
    rgba = image.cmap(image.norm(values))
    # Relative luminance of the cell colour (ITU-R BT.709 weights).
    luminance = rgba[..., :3] @ np.array([0.2126, 0.7152, 0.0722])
    return np.where(luminance > 0.5, "black", "white")


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
    r"""Draw a ground distance between classes as a heatmap.

    Row ``i``, column ``j`` is the distance ``D[i, j]`` between the true class
    ``i`` and the predicted class ``j``, the cost the ``"expected_cost"``
    decision charges for that prediction. Classes that the distance puts close
    together show as dark cells; an ordinal distance is a band that brightens
    away from the diagonal.

    For the class order (``"ordinal"``, or an estimator fitted with
    ``ground_distance="ordinal"``) each cell also shows, in smaller type under
    the distance, the squared-EMD loss of predicting class ``j`` with certainty
    when the truth is ``i``. The loss then compares cumulative distributions
    rather than reading ``D``, so ``|i - j|`` alone does not say what it
    charges: with :math:`K` classes that loss is

    .. math:: \frac{1}{K} \sum_{k=1}^{K} \bigl(F_k(e_j) - F_k(e_i)\bigr)^2
       = \frac{|i - j|}{K},

    as the two cumulative distributions differ by exactly 1 at the
    :math:`|i - j|` steps from the lower of the two classes to the higher and
    agree everywhere else. The cell is also the price of any hedge towards
    ``j``: moving a share :math:`q` of the probability from the true class to
    class ``j`` costs :math:`q^2` times it. So a certain miss costs in
    proportion to its distance (despite the "squared" in the name, a miss by
    two costs twice a miss by one, not four times), where the squared-EMD term
    of ``ground_distance="uniform"`` charges every certain miss the same
    ``2 / K``.

    Parameters
    ----------
    distance : array-like of shape (n_classes, n_classes), "ordinal" or estimator
        The matrix (a NumPy array, nested lists or a torch tensor); ``"ordinal"``,
        the class order of ``classes``; or a fitted
        :class:`~skemd.EMDClassifier` (or a pipeline ending in one), whose
        ``ground_distance_`` is drawn with its ``classes_`` as labels.
    classes : array-like of shape (n_classes,), default=None
        Labels of the rows and columns. ``None`` takes the estimator's
        ``classes_``, or ``0 .. n_classes - 1`` for a matrix. Needed with
        ``"ordinal"``.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    annotate : bool, default=True
        Whether to write the value in each cell (and, for the class order, the
        loss of a certain prediction under it).
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
        If the matrix is not square, not numeric or not finite, ``classes``
        does not have one label per row, or ``"ordinal"`` comes without
        ``classes``.
    TypeError
        If an estimator has no ``ground_distance_`` attribute.
    sklearn.exceptions.NotFittedError
        If an estimator is not fitted yet.

    See Also
    --------
    skemd.ground_distance.seriate : Recovers a class order from a distance.
    skemd.metrics.squared_emd_score : The squared EMD of predicted probabilities.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skemd.ground_distance import uniform_distance
    >>> from skemd.plotting import plot_ground_distance
    >>> ax = plot_ground_distance(uniform_distance(3), classes=["a", "b", "c"])
    >>> [label.get_text() for label in ax.get_xticklabels()]
    ['a', 'b', 'c']
    >>> [text.get_text() for text in ax.texts[:3]]
    ['0', '1', '1']

    The class order: the distance and, under it, the loss of a certain
    prediction, here of "low" (first row).

    >>> ax = plot_ground_distance("ordinal", classes=["low", "mid", "high", "top"])
    >>> [text.get_text() for text in ax.texts[:8]]
    ['0', '0', '1', '0.25', '2', '0.5', '3', '0.75']
    """
    matrix, default_classes, ordinal = _distance_matrix(distance, classes)
    n_classes = matrix.shape[0]
    labels = _check_class_labels(
        default_classes if classes is None else classes, n_classes
    )
    ax = _axes(ax)
    image = ax.imshow(matrix, cmap=cmap, interpolation="nearest")
    if annotate:
        losses = matrix / n_classes if ordinal else None
        _annotate_cells(ax, image, matrix, fmt, losses)
    ticks = np.arange(n_classes)
    names = [str(label) for label in labels]
    ax.set_xticks(ticks, labels=names)
    ax.set_yticks(ticks, labels=names)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    if colorbar:
        bar = ax.figure.colorbar(image, ax=ax)
        if ordinal:
            bar.set_label(
                "ground distance |i - j|; under it, the squared-EMD loss\n"
                "of predicting the column's class for sure, |i - j| / K"
            )
    if title is not None:
        ax.set_title(title)
    return ax


def _annotate_cells(ax, image, values, fmt: str, losses) -> None:
    """Write each value in its cell, and each of ``losses`` under it."""
    colors = _text_colors(image, values)
    n_classes = values.shape[0]
    # Without losses the value sits in the middle of its cell; with them, the
    # two share it (rows grow downwards).
    shift = 0.0 if losses is None else 0.14
    for i in range(n_classes):
        for j in range(n_classes):
            ax.text(
                j,
                i - shift,
                format(values[i, j], fmt),
                ha="center",
                va="center",
                color=colors[i, j],
            )
            if losses is not None:
                ax.text(
                    j,
                    i + 0.2,
                    format(losses[i, j], fmt),
                    ha="center",
                    va="center",
                    color=colors[i, j],
                    fontsize="small",
                )


def _distance_matrix(distance, classes) -> tuple[np.ndarray, Any, bool]:
    """The matrix to draw, an estimator's classes, and whether the loss that
    goes with it is the one of the class order (which does not read a matrix)."""
    if isinstance(distance, str):
        if distance != "ordinal":
            raise ValueError(
                "distance must be a matrix, 'ordinal' or a fitted estimator; got "
                f"{distance!r}."
            )
        if classes is None:
            raise ValueError(
                "distance='ordinal' needs classes=, the labels in order, to know "
                "the number of classes."
            )
        steps = np.arange(check_order(classes).size, dtype=float)
        return np.abs(steps[:, None] - steps[None, :]), None, True
    default_classes = None
    spec = None
    if _is_estimator(distance):
        estimator = _final_step(distance)
        check_is_fitted(estimator)
        if not hasattr(estimator, "ground_distance_"):
            raise TypeError(
                f"{type(estimator).__name__} has no ground_distance_ attribute; "
                "pass an EMDClassifier or the distance matrix itself."
            )
        default_classes = getattr(estimator, "classes_", None)
        spec = getattr(estimator, "ground_distance", None)
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
    steps = np.arange(matrix.shape[0])
    # The parameter may have been changed since the fit: the fitted distance
    # must agree with it.
    ordinal = (
        isinstance(spec, str)
        and spec == "ordinal"
        and np.array_equal(matrix, np.abs(steps[:, None] - steps[None, :]))
    )
    return matrix, default_classes, ordinal


# ----------------------------------------------------------- training curves


class _Epochs(NamedTuple):
    """What a training history says about its epochs (indices from 0)."""

    # The epoch whose weights the estimator keeps, or one per ensemble member.
    kept: tuple[int, ...]
    # How they were chosen: "members", "validation" or "last".
    rule: str
    # One flag per epoch: True on the cross-entropy-only warm-up epochs.
    warmup: np.ndarray


def _kept_epochs(history) -> _Epochs:
    """The epochs whose weights an EMDClassifier keeps, and its warm-up epochs.

    Read from the skorch ``History`` of ``net_``, one row per epoch of every
    ``fit`` (with ``warm_start``) and ``partial_fit`` call. Each ensemble
    member keeps its last epoch with ``member_best[m]`` True; a validated
    single network its last epoch with ``valid_loss_best`` True; otherwise the
    last epoch is kept. Which rule applies is read from the last epoch, as the
    last call chose: a warm start without validation after a validated fit
    keeps its last epoch. The warm-up epochs are those with ``warmup`` True.
    """
    n_epochs = len(history)
    if n_epochs == 0:
        raise ValueError("The history holds no epoch.")
    warmup = np.fromiter(
        (bool(epoch.get("warmup", False)) for epoch in history), bool, n_epochs
    )
    last = history[-1]

    def last_true(flags) -> int:
        marked = [index for index, flag in enumerate(flags) if flag]
        return marked[-1] if marked else n_epochs - 1

    if "member_best" in last:
        kept = []
        for member in range(len(last["member_best"])):
            flags = []
            for epoch in history:
                best = epoch.get("member_best") or ()
                flags.append(member < len(best) and bool(best[member]))
            kept.append(last_true(flags))
        return _Epochs(tuple(kept), "members", warmup)
    if "valid_loss_best" in last:
        flags = [bool(epoch.get("valid_loss_best", False)) for epoch in history]
        return _Epochs((last_true(flags),), "validation", warmup)
    return _Epochs((n_epochs - 1,), "last", warmup)


def plot_training_curves(estimator: Any, *, ax=None, title: str | None = None):
    """Draw the training loss, and the validation loss, epoch by epoch.

    For an :class:`~skemd.EMDClassifier` everything comes from the history of
    its skorch net ``net_``, over every ``fit`` with ``warm_start`` and every
    ``partial_fit``: the training loss; the validation loss of the epochs that
    validated (``early_stopping=True``); the epoch whose network the estimator
    kept, marked with a dot (for a network averaging several members, the
    epoch each member was kept from); and, when the ground distance was
    learned, the warm-up epochs (cross-entropy only, so on another scale),
    shaded. For a skorch net with a validation split the lowest validation
    loss is marked; for another estimator with ``loss_curve_``
    (``MLPClassifier``, whose validation scores are accuracies), the training
    loss alone is drawn.

    Parameters
    ----------
    estimator : fitted estimator or skorch net
        An :class:`~skemd.EMDClassifier` (or a pipeline ending in one), a
        trained skorch ``NeuralNet`` whose history holds ``train_loss`` (and
        ``valid_loss``, when it had a validation split), or another estimator
        with ``loss_curve_``.
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
    train = curves["train"]
    epochs = np.arange(1, len(train) + 1)
    ax = _axes(ax)
    warmup = curves["epochs"].warmup if curves["epochs"] is not None else None
    if warmup is not None:
        _shade_warmup(ax, warmup)
    ax.plot(epochs, train, label="training loss")
    valid = curves["valid"]
    if valid is not None:
        valid_epochs = curves["valid_epochs"]
        ax.plot(valid_epochs + 1, valid, label="validation loss")
        at, label = _marked_epochs(curves)
        if at:
            loss_at = dict(zip(valid_epochs.tolist(), valid.tolist(), strict=True))
            ax.plot(
                [epoch + 1 for epoch in at],
                [loss_at.get(epoch, train[epoch]) for epoch in at],
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


def _shade_warmup(ax, warmup: np.ndarray) -> None:
    """Shade each run of warm-up epochs, edge to edge of its epochs."""
    edges = np.diff(np.concatenate([[0], warmup.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    for run, (start, stop) in enumerate(zip(starts, stops, strict=True)):
        ax.axvspan(
            start + 0.5,
            stop + 0.5,
            color="0.9",
            label="warm-up (cross-entropy only)" if run == 0 else None,
        )


def _marked_epochs(curves) -> tuple[list[int], str]:
    """The epochs to mark on the validation curve (from 0), and their label."""
    epochs = curves["epochs"]
    if epochs is None:
        # A plain skorch net keeps its last weights: mark the best epoch only.
        best = int(curves["valid_epochs"][np.nanargmin(curves["valid"])])
        return [best], f"lowest validation loss (epoch {best + 1})"
    if epochs.rule == "last":
        return [], ""
    at = sorted(set(epochs.kept))
    numbers = ", ".join(str(epoch + 1) for epoch in at)
    if epochs.rule == "members":
        plural = "s" if len(at) > 1 else ""
        return at, f"kept members (epoch{plural} {numbers})"
    (kept,) = at
    if epochs.warmup[kept]:
        return at, f"kept network (epoch {numbers}, end of the warm-up)"
    return at, f"kept network, lowest validation loss (epoch {numbers})"


def _loss_curves(estimator) -> dict:
    """What the training-curve plot draws, from a fitted estimator or net.

    ``train`` is the training loss of every epoch; ``valid`` the validation
    loss of the epochs in ``valid_epochs`` (indices from 0), or None without
    validation; ``epochs`` what :func:`_kept_epochs` reads from an
    EMDClassifier's history, None for other estimators.
    """
    from skorch import NeuralNet

    from ._classifier import EMDClassifier

    estimator = _final_step(estimator)
    if isinstance(estimator, EMDClassifier):
        check_is_fitted(estimator, "net_")
        history = estimator.net_.history
        curves = _history_curves(history)
        curves["epochs"] = _kept_epochs(history)
        return curves
    if hasattr(estimator, "loss_curve_") or hasattr(estimator, "hidden_layer_sizes"):
        # MLPClassifier and the like: its validation_scores_ are accuracies, not
        # losses, so only the training loss is drawn.
        check_is_fitted(estimator, "loss_curve_")
        train = np.asarray(estimator.loss_curve_, dtype=float)
        return {"train": train, "valid": None, "valid_epochs": None, "epochs": None}
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
        curves = _history_curves(history)
        curves["epochs"] = None
        return curves
    raise TypeError(
        "estimator must be a fitted EMDClassifier (or another estimator with "
        "loss_curve_) or a trained skorch net; got "
        f"{type(estimator).__name__}."
    )


def _history_curves(history) -> dict:
    """Training and validation losses of a skorch history."""
    train = np.array([epoch.get("train_loss", np.nan) for epoch in history], float)
    validated = [index for index, epoch in enumerate(history) if "valid_loss" in epoch]
    curves = {"train": train, "valid": None, "valid_epochs": None}
    if validated:
        curves["valid_epochs"] = np.asarray(validated)
        curves["valid"] = np.array(
            [history[index]["valid_loss"] for index in validated], float
        )
    return curves


# ---------------------------------------------------------- confusion matrix


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
    size of the error. The matrix, its colour bar and the values are drawn by
    :class:`sklearn.metrics.ConfusionMatrixDisplay`; on top of it the diagonal
    (exact predictions) is outlined in black and the band of predictions at
    most one class away in orange dashes, so that the cells beyond the dashes
    are the misses by two classes or more. A good ordinal classifier keeps its
    errors inside the band. A legend above the matrix names the outlines with
    the share of the samples inside each (the accuracy and the
    :func:`~skemd.metrics.off_by_one_accuracy`); ``ax.get_legend().remove()``
    takes it away.

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
        ``y_true`` and ``y_pred`` (with a
        :class:`~skemd.exceptions.ClassOrderWarning` for text labels). Give it
        whenever a class may be absent from both, so that it still gets a row.
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
        Title of the Axes, set above the legend.

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on.

    Raises
    ------
    ValueError
        If the labels are invalid (lengths differ, missing values, labels
        outside ``classes``) or ``normalize`` is not one of the options.

    See Also
    --------
    sklearn.metrics.ConfusionMatrixDisplay : The display drawn on.
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
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['exact: 50%', 'at most one class off: 100%']
    """
    if normalize not in _NORMALIZE:
        raise ValueError(f"normalize must be one of {_NORMALIZE}; got {normalize!r}.")
    true_labels, pred_labels = check_label_pair(y_true, y_pred)
    if classes is None:
        classes = categories_of(y_true)
    if classes is None:
        classes = categories_of(y_pred)
    if classes is None:
        # Warns, at the caller's line, for text labels sorted alphabetically.
        order = sorted_order(true_labels, pred_labels, stacklevel=2)
    else:
        order = check_order(classes)
    true_ranks = positions(true_labels, order, name="y_true")
    pred_ranks = positions(pred_labels, order, name="y_pred")
    n_classes = order.size
    counts = np.bincount(
        true_ranks * n_classes + pred_ranks, minlength=n_classes * n_classes
    ).reshape(n_classes, n_classes)
    if fmt is None:
        fmt = "d" if normalize is None else ".2f"

    ax = _axes(ax)
    from sklearn.metrics import ConfusionMatrixDisplay

    display = ConfusionMatrixDisplay(
        _normalized(counts, normalize),
        display_labels=[str(label) for label in order.tolist()],
    )
    display.plot(
        include_values=annotate,
        cmap=cmap,
        values_format=fmt,
        ax=ax,
        colorbar=colorbar,
        im_kw={"vmin": 0},
    )
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    _draw_ordinal_bands(ax, counts, title)
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


def _draw_ordinal_bands(ax, counts: np.ndarray, title: str | None) -> None:
    """Outline the diagonal and the band ``|true - predicted| <= 1``, with a
    legend above the matrix, under ``title``."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import Rectangle

    n_classes = counts.shape[0]
    diagonal = [
        ax.add_patch(
            Rectangle(
                (k - 0.5, k - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.5
            )
        )
        for k in range(n_classes)
    ]
    rows = np.arange(n_classes)
    left = np.maximum(rows - 1, 0) - 0.5
    right = np.minimum(rows + 1, n_classes - 1) + 0.5
    # Each row's edge runs from its top to its bottom; consecutive rows join up.
    y = np.repeat(rows, 2) + np.tile([-0.5, 0.5], n_classes)
    style = {"color": "tab:orange", "linestyle": "--", "linewidth": 1.5}
    (band,) = ax.plot(np.repeat(left, 2), y, **style)
    ax.plot(np.repeat(right, 2), y, **style)
    ax.set_xlim(-0.5, n_classes - 0.5)
    ax.set_ylim(n_classes - 0.5, -0.5)

    total = counts.sum()
    distance = np.abs(rows[:, None] - rows[None, :])
    exact = np.trace(counts) / total
    within_one = counts[distance <= 1].sum() / total
    size = FontProperties(size="small").get_size_in_points()
    ax.legend(
        [diagonal[0], band],
        [f"exact: {exact:.0%}", f"at most one class off: {within_one:.0%}"],
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncols=2,
        fontsize="small",
        frameon=False,
        borderaxespad=0.2,
        handlelength=1.6,
    )
    if title is not None:
        # The legend takes about two lines of its type above the matrix.
        from matplotlib import rcParams

        ax.set_title(title, pad=rcParams["axes.titlepad"] + 2.4 * size)
