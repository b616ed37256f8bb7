"""The plots of skemd.plotting draw what they say, from arrays or estimators."""

import subprocess
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import confusion_matrix
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNet
from skorch.dataset import ValidSplit
from skorch.history import History

from skemd import EMDClassifier, SquaredEMDLoss
from skemd.exceptions import ClassOrderWarning
from skemd.ground_distance import ordinal_distance, uniform_distance
from skemd.metrics import off_by_one_accuracy, squared_emd_score
from skemd.plotting import (
    _kept_epochs,
    plot_confusion_matrix,
    plot_ground_distance,
    plot_training_curves,
)

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")
from conftest import SINGLE_NETWORK  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

LABELS = np.array(["low", "mid", "high", "top"])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _ordinal_problem(n_samples=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 2))
    return X, np.digitize(X[:, 0], [-0.7, 0.0, 0.7])


def _fit(**params):
    X, y = _ordinal_problem()
    defaults = dict(
        hidden_layer_sizes=(8,),
        learning_rate_init=0.01,
        max_iter=8,
        classes=list(LABELS),
        random_state=0,
        **SINGLE_NETWORK,
    )
    defaults.update(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return EMDClassifier(**defaults).fit(X, LABELS[y])


@pytest.fixture(scope="module")
def fitted():
    return _fit()


@pytest.fixture(scope="module")
def fitted_early_stopping():
    return _fit(early_stopping=True, validation_fraction=0.25)


def _tick_labels(axis_labels):
    return [label.get_text() for label in axis_labels]


def _cell_texts(ax):
    return [text.get_text() for text in ax.texts]


# ------------------------------------------------------------ ground distance


def test_ground_distance_draws_the_matrix_with_values_and_labels():
    distance = ordinal_distance(4) / 3
    ax = plot_ground_distance(distance, classes=LABELS)
    np.testing.assert_array_equal(ax.images[0].get_array(), distance)
    assert _tick_labels(ax.get_xticklabels()) == list(LABELS)
    assert _tick_labels(ax.get_yticklabels()) == list(LABELS)
    assert ax.get_xlabel() == "Predicted class"
    assert ax.get_ylabel() == "True class"
    assert ax.get_title() == "Ground distance"
    texts = _cell_texts(ax)
    assert len(texts) == 16
    # Row-major: the first row is 0, 1/3, 2/3, 1.
    assert texts[:4] == ["0", "0.33", "0.67", "1"]


def test_ground_distance_numbers_classes_by_default():
    ax = plot_ground_distance(uniform_distance(3))
    assert _tick_labels(ax.get_xticklabels()) == ["0", "1", "2"]


def test_ground_distance_of_an_estimator_uses_its_classes(fitted):
    ax = plot_ground_distance(fitted)
    np.testing.assert_array_equal(ax.images[0].get_array(), fitted.ground_distance_)
    assert _tick_labels(ax.get_xticklabels()) == list(LABELS)


def _certain_miss_loss(true, pred, n_classes):
    """Squared EMD of predicting class ``pred`` for sure when ``true`` is right."""
    certain = np.eye(n_classes)[[pred]]
    return squared_emd_score([true], certain, classes=range(n_classes))


def test_ground_distance_of_the_class_order_shows_the_loss_of_certain_misses(fitted):
    ax = plot_ground_distance(fitted)
    np.testing.assert_array_equal(ax.images[0].get_array(), fitted.ground_distance_)
    texts = _cell_texts(ax)
    assert len(texts) == 2 * 16
    # Each cell, row by row: the distance, then the loss under it.
    assert texts[0::2] == [format(d, ".2g") for d in ordinal_distance(4).ravel()]
    assert texts[1::2] == [
        format(_certain_miss_loss(i, j, 4), ".2g") for i in range(4) for j in range(4)
    ]
    assert "squared-EMD loss" in ax.figure.axes[1].get_ylabel()


def test_ground_distance_of_the_class_order_by_name():
    ax = plot_ground_distance("ordinal", classes=LABELS, fmt=".3f")
    np.testing.assert_array_equal(ax.images[0].get_array(), ordinal_distance(4))
    assert _tick_labels(ax.get_xticklabels()) == list(LABELS)
    # The last row: "top" predicted as "low", "mid", "high", "top".
    assert _cell_texts(ax)[-8:] == [
        "3.000", "0.750", "2.000", "0.500", "1.000", "0.250", "0.000", "0.000"
    ]  # fmt: skip


def test_ground_distance_of_the_class_order_by_name_needs_classes():
    with pytest.raises(ValueError, match="needs classes="):
        plot_ground_distance("ordinal")


@pytest.mark.parametrize(
    ("classes", "message"), [([], "non-empty"), (["a", "b", "a"], "repeated")]
)
def test_ground_distance_of_the_class_order_checks_the_classes(classes, message):
    with pytest.raises(ValueError, match=message):
        plot_ground_distance("ordinal", classes=classes)


def test_ground_distance_names_other_than_ordinal_are_rejected():
    with pytest.raises(ValueError, match="'ordinal'"):
        plot_ground_distance("uniform", classes=LABELS)


def test_ground_distance_matrix_gets_no_class_order_losses():
    # The loss of a matrix reads the matrix (not the cumulative distributions),
    # even when the matrix is |i - j|: no losses of the class order are written.
    clf = _fit(ground_distance=ordinal_distance(4))
    assert len(plot_ground_distance(clf).texts) == 16
    assert len(plot_ground_distance(ordinal_distance(4)).texts) == 16


def test_ground_distance_follows_the_fitted_distance_not_a_changed_parameter():
    clf = _fit(ground_distance="uniform").set_params(ground_distance="ordinal")
    ax = plot_ground_distance(clf)
    np.testing.assert_array_equal(ax.images[0].get_array(), uniform_distance(4))
    assert len(ax.texts) == 16


def test_ground_distance_of_the_class_order_without_annotations():
    ax = plot_ground_distance("ordinal", classes=LABELS, annotate=False)
    assert not ax.texts


def test_ground_distance_of_a_pipeline_uses_its_final_step():
    X, y = _ordinal_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline = make_pipeline(
            StandardScaler(), EMDClassifier(max_iter=2, ground_distance="uniform")
        ).fit(X, y)
    ax = plot_ground_distance(pipeline)
    np.testing.assert_array_equal(ax.images[0].get_array(), uniform_distance(4))


def test_ground_distance_accepts_a_torch_tensor():
    ax = plot_ground_distance(torch.tensor(ordinal_distance(3), dtype=torch.float32))
    np.testing.assert_array_equal(ax.images[0].get_array(), ordinal_distance(3))


def test_ground_distance_draws_on_the_given_axes_without_extras():
    fig, (left, right) = plt.subplots(1, 2)
    ax = plot_ground_distance(
        ordinal_distance(3), ax=right, annotate=False, colorbar=False, title=None
    )
    assert ax is right
    assert not left.images
    assert len(ax.texts) == 0
    assert ax.get_title() == ""
    assert len(fig.axes) == 2


def test_ground_distance_adds_a_colorbar():
    ax = plot_ground_distance(ordinal_distance(3))
    assert len(ax.figure.axes) == 2


def test_ground_distance_formats_values_with_fmt():
    ax = plot_ground_distance(ordinal_distance(2), fmt=".1f")
    assert _cell_texts(ax) == ["0.0", "1.0", "1.0", "0.0"]


@pytest.mark.parametrize(
    "distance",
    [np.zeros((2, 3)), np.zeros(3), np.zeros((0, 0)), [["a", "b"], ["c", "d"]]],
)
def test_ground_distance_rejects_a_matrix_that_is_not_square_numeric(distance):
    with pytest.raises(ValueError, match="distance"):
        plot_ground_distance(distance)


def test_ground_distance_rejects_nan():
    distance = ordinal_distance(3)
    distance[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        plot_ground_distance(distance)


def test_ground_distance_rejects_classes_of_the_wrong_length():
    with pytest.raises(ValueError, match="one label per class"):
        plot_ground_distance(ordinal_distance(3), classes=["a", "b"])


def test_ground_distance_rejects_an_unfitted_estimator():
    with pytest.raises(NotFittedError):
        plot_ground_distance(EMDClassifier())


def test_ground_distance_rejects_an_estimator_without_a_distance():
    X, y = _ordinal_problem()
    with pytest.raises(TypeError, match="ground_distance_"):
        plot_ground_distance(LogisticRegression().fit(X, y))


def test_ground_distance_rejects_something_that_is_not_axes():
    with pytest.raises(TypeError, match="Axes"):
        plot_ground_distance(ordinal_distance(3), ax="left")


# ----------------------------------------------------------- training curves


def test_training_curves_draw_the_loss_curve(fitted):
    ax = plot_training_curves(fitted)
    (line,) = ax.get_lines()
    assert line.get_label() == "training loss"
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, fitted.n_iter_ + 1))
    np.testing.assert_allclose(line.get_ydata(), fitted.loss_curve_)
    assert ax.get_xlabel() == "Epoch"
    assert ax.get_ylabel() == "Loss"
    assert ax.get_legend() is not None


def test_training_curves_draw_validation_loss_and_best_epoch(fitted_early_stopping):
    clf = fitted_early_stopping
    ax = plot_training_curves(clf, title="Training")
    train, valid, best = ax.get_lines()
    np.testing.assert_allclose(valid.get_ydata(), clf.validation_loss_curve_)
    best_epoch = int(np.argmin(clf.validation_loss_curve_)) + 1
    assert best.get_label() == (
        f"kept network, lowest validation loss (epoch {best_epoch})"
    )
    assert list(best.get_xdata()) == [best_epoch]
    assert ax.get_title() == "Training"


def test_training_curves_of_a_pipeline_use_its_final_step():
    X, y = _ordinal_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline = make_pipeline(StandardScaler(), EMDClassifier(max_iter=3)).fit(X, y)
    ax = plot_training_curves(pipeline)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), pipeline[-1].loss_curve_)


def _skorch_net(train_split):
    X, y = _ordinal_problem()
    net = NeuralNet(
        torch.nn.Linear(2, 4),
        criterion=SquaredEMDLoss,
        max_epochs=4,
        train_split=train_split,
        verbose=0,
    )
    return net.fit(X.astype(np.float32), y.astype(np.int64))


def test_training_curves_of_a_skorch_net_read_its_history():
    net = _skorch_net(ValidSplit(4))
    ax = plot_training_curves(net)
    train, valid, _ = ax.get_lines()
    np.testing.assert_allclose(train.get_ydata(), net.history[:, "train_loss"])
    np.testing.assert_allclose(valid.get_ydata(), net.history[:, "valid_loss"])


def test_training_curves_of_a_skorch_net_without_validation():
    net = _skorch_net(None)
    (line,) = plot_training_curves(net).get_lines()
    assert len(line.get_xdata()) == 4


def test_training_curves_shade_the_warm_up_of_a_learned_distance():
    clf = _fit(
        ground_distance="learned",
        warmup_epochs=3,
        early_stopping=True,
        validation_fraction=0.25,
    )
    ax = plot_training_curves(clf)
    (span,) = ax.patches
    assert span.get_label().startswith("warm-up")
    # Epochs 1 to 3, from the left edge of the first to the right edge of the third.
    x = span.get_path().transformed(span.get_patch_transform()).vertices[:, 0]
    assert (x.min(), x.max()) == (0.5, 3.5)
    # The kept network is the best one after the warm-up.
    best = ax.get_lines()[-1]
    best_epoch = int(np.argmin(clf.validation_loss_curve_[3:])) + 4
    assert list(best.get_xdata()) == [best_epoch]


def test_training_curves_with_a_ground_distance_matrix():
    # A matrix, not a name: no warm-up to shade.
    clf = _fit(ground_distance=ordinal_distance(4) ** 2)
    ax = plot_training_curves(clf)
    assert not ax.patches
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), clf.loss_curve_)


def _history(**columns):
    """A skorch History with one epoch per value; None leaves the key out."""
    n_epochs = len(next(iter(columns.values())))
    history = History()
    for index in range(n_epochs):
        history.new_epoch()
        history.record("epoch", index + 1)
        for key, values in columns.items():
            if values[index] is not None:
                history.record(key, values[index])
    return history


T, F = True, False


def test_kept_epoch_without_validation_is_the_last():
    epochs = _kept_epochs(_history(train_loss=[3.0, 2.0, 1.0]))
    assert epochs.kept == (2,)
    assert epochs.rule == "last"
    assert epochs.warmup.tolist() == [F, F, F]


def test_kept_epoch_of_a_validated_network_is_its_last_best():
    epochs = _kept_epochs(_history(valid_loss_best=[T, T, F, T, F]))
    assert epochs.kept == (3,)
    assert epochs.rule == "validation"


def test_kept_epoch_after_a_warm_up():
    history = _history(warmup=[T, T, T, F, F, F], valid_loss_best=[F, F, F, T, T, F])
    epochs = _kept_epochs(history)
    assert epochs.kept == (4,)
    assert epochs.warmup.tolist() == [T, T, T, F, F, F]


def test_kept_epoch_when_training_ends_within_the_warm_up():
    epochs = _kept_epochs(_history(warmup=[T, T, T], valid_loss_best=[F, F, F]))
    assert epochs.kept == (2,)
    assert epochs.warmup[2]


def test_kept_epochs_of_ensemble_members():
    member_best = [[T, T, T], [F, T, T], [T, F, F], [F, F, T]]
    epochs = _kept_epochs(
        _history(member_best=member_best, valid_loss_best=[T, T, F, F])
    )
    # Each member its own last best; the ensemble's valid_loss_best is not read.
    assert epochs.kept == (2, 1, 3)
    assert epochs.rule == "members"


def test_kept_epoch_of_a_member_never_best_is_the_last():
    epochs = _kept_epochs(_history(member_best=[[T, F], [T, F], [F, F]]))
    assert epochs.kept == (1, 2)


def test_kept_epoch_after_a_warm_start_that_turned_on_validation():
    epochs = _kept_epochs(_history(valid_loss_best=[None, None, T, F, T, F]))
    assert epochs.kept == (4,)


def test_kept_epoch_after_a_warm_start_that_turned_off_validation():
    # The last call trained without validation: it keeps its last epoch.
    epochs = _kept_epochs(_history(valid_loss_best=[T, T, F, None, None]))
    assert epochs.kept == (4,)
    assert epochs.rule == "last"


def _fitted_with(history):
    """An EMDClassifier that looks fitted, with ``history`` as its net's."""
    clf = EMDClassifier()
    clf.net_ = SimpleNamespace(history=history)
    return clf


def test_training_curves_read_the_warm_up_and_the_kept_epoch_from_the_history():
    history = _history(
        train_loss=[2.0, 1.5, 0.9, 0.8, 0.7, 0.6],
        valid_loss=[2.1, 1.6, 1.0, 0.95, 0.9, 0.92],
        warmup=[T, T, F, F, F, F],
        valid_loss_best=[T, T, T, T, T, F],
    )
    ax = plot_training_curves(_fitted_with(history))
    (span,) = ax.patches
    x = span.get_path().transformed(span.get_patch_transform()).vertices[:, 0]
    assert (x.min(), x.max()) == (0.5, 2.5)
    train, valid, kept = ax.get_lines()
    assert list(kept.get_xdata()) == [5]
    assert list(kept.get_ydata()) == [0.9]
    assert kept.get_label() == "kept network, lowest validation loss (epoch 5)"


def test_training_curves_mark_the_epoch_of_each_ensemble_member():
    history = _history(
        train_loss=[1.0, 0.8, 0.7, 0.6],
        valid_loss=[1.0, 0.9, 0.85, 0.87],
        member_best=[[T, T], [T, T], [F, T], [T, F]],
    )
    ax = plot_training_curves(_fitted_with(history))
    kept = ax.get_lines()[-1]
    assert list(kept.get_xdata()) == [3, 4]
    assert list(kept.get_ydata()) == [0.85, 0.87]
    assert kept.get_label() == "kept members (epochs 3, 4)"


def test_training_curves_mark_the_end_of_the_warm_up_when_training_ends_there():
    history = _history(
        train_loss=[1.0, 0.9],
        valid_loss=[1.1, 1.0],
        warmup=[T, T],
        valid_loss_best=[F, F],
    )
    kept = plot_training_curves(_fitted_with(history)).get_lines()[-1]
    assert list(kept.get_xdata()) == [2]
    assert kept.get_label() == "kept network (epoch 2, end of the warm-up)"


def test_training_curves_draw_validation_where_the_history_has_it():
    history = _history(
        train_loss=[1.0, 0.9, 0.8, 0.7],
        valid_loss=[None, None, 0.85, 0.8],
        valid_loss_best=[None, None, T, T],
    )
    train, valid, kept = plot_training_curves(_fitted_with(history)).get_lines()
    assert list(train.get_xdata()) == [1, 2, 3, 4]
    assert list(valid.get_xdata()) == [3, 4]
    assert list(kept.get_xdata()) == [4]


def test_training_curves_shade_each_warm_up():
    history = _history(train_loss=[1.0] * 6, warmup=[T, T, F, F, T, F])
    ax = plot_training_curves(_fitted_with(history))
    first, second = ax.patches
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["warm-up (cross-entropy only)", "training loss"]
    x = second.get_path().transformed(second.get_patch_transform()).vertices[:, 0]
    assert (x.min(), x.max()) == (4.5, 5.5)
    # Without validation nothing is marked.
    assert len(ax.get_lines()) == 1


def test_training_curves_reject_an_unfitted_estimator():
    with pytest.raises(NotFittedError):
        plot_training_curves(EMDClassifier())


def test_training_curves_reject_an_untrained_skorch_net():
    net = NeuralNet(torch.nn.Linear(2, 4), criterion=SquaredEMDLoss).initialize()
    with pytest.raises(NotFittedError):
        plot_training_curves(net)


@pytest.mark.parametrize(
    "estimator",
    [LogisticRegression(), SGDClassifier(), HistGradientBoostingClassifier()],
)
def test_training_curves_reject_an_estimator_without_a_loss_curve(estimator):
    X, y = _ordinal_problem()
    with pytest.raises(TypeError, match="loss_curve_"):
        plot_training_curves(estimator.fit(X, y))


def test_training_curves_reject_an_uninitialised_skorch_net():
    net = NeuralNet(torch.nn.Linear(2, 4), criterion=SquaredEMDLoss)
    with pytest.raises(NotFittedError):
        plot_training_curves(net)


def _refit(clf, **params):
    X, y = _ordinal_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.set_params(**params).fit(X, LABELS[y])


def test_training_curves_after_a_warm_start_that_turns_on_validation():
    clf = _refit(_fit(max_iter=5, warm_start=True), early_stopping=True)
    ax = plot_training_curves(clf)
    train, valid, kept = ax.get_lines()
    assert len(train.get_xdata()) == clf.n_iter_ == 10
    # The validation curve covers the second fit's epochs, 6 to 10.
    assert list(valid.get_xdata()) == [6, 7, 8, 9, 10]
    assert 6 <= kept.get_xdata()[0] <= 10


def test_training_curves_mark_the_network_kept_by_the_last_fit():
    # A first fit with validation, then a warm start that diverges: the kept
    # network is the best of the second fit, not the best of all epochs.
    clf = _fit(max_iter=30, warm_start=True, early_stopping=True, tol=0.0)
    best_first = int(np.argmax(clf.validation_scores_))
    clf = _refit(clf, learning_rate_init=3.0, max_iter=6)
    scores = np.asarray(clf.validation_scores_)
    assert int(np.argmax(scores)) == best_first  # the first fit's best is better
    ax = plot_training_curves(clf)
    kept = ax.get_lines()[-1]
    expected = 30 + int(np.argmax(scores[30:])) + 1
    assert list(kept.get_xdata()) == [expected]
    assert kept.get_label().startswith("kept network")


def test_training_curves_when_training_ends_within_the_warm_up():
    with pytest.warns(UserWarning, match="within the warm-up"):
        clf = _fit(
            ground_distance="learned",
            warmup_epochs=5,
            max_iter=3,
            early_stopping=True,
            validation_fraction=0.25,
        )
    ax = plot_training_curves(clf)
    kept = ax.get_lines()[-1]
    assert list(kept.get_xdata()) == [3]
    assert "end of the warm-up" in kept.get_label()


def test_training_curves_shade_the_warm_up_that_was_fitted():
    # Parameters changed after the fit do not invent a warm-up.
    clf = _fit().set_params(ground_distance="learned")
    assert not plot_training_curves(clf).patches


def test_training_curves_of_an_mlp_classifier_draw_the_training_loss_only():
    from sklearn.neural_network import MLPClassifier

    X, y = _ordinal_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(max_iter=20, early_stopping=True, random_state=0)
        mlp.fit(X, y)
    (line,) = plot_training_curves(mlp).get_lines()
    np.testing.assert_allclose(line.get_ydata(), mlp.loss_curve_)


# ---------------------------------------------------------- confusion matrix


def test_confusion_matrix_counts_in_class_order():
    rng = np.random.default_rng(0)
    y_true = LABELS[rng.integers(0, 4, size=50)]
    y_pred = LABELS[rng.integers(0, 4, size=50)]
    ax = plot_confusion_matrix(y_true, y_pred, classes=LABELS)
    expected = confusion_matrix(y_true, y_pred, labels=LABELS)
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert _tick_labels(ax.get_xticklabels()) == list(LABELS)
    assert _tick_labels(ax.get_yticklabels()) == list(LABELS)
    assert ax.get_xlabel() == "Predicted class"
    assert ax.get_ylabel() == "True class"
    assert _cell_texts(ax) == [str(v) for v in expected.ravel()]


def test_confusion_matrix_sorts_labels_by_default():
    ax = plot_confusion_matrix([2, 0, 1], [1, 0, 1])
    assert _tick_labels(ax.get_xticklabels()) == ["0", "1", "2"]


def test_confusion_matrix_takes_the_order_from_an_estimator(fitted):
    X, y = _ordinal_problem()
    y_pred = fitted.predict(X)
    ax = plot_confusion_matrix(LABELS[y], y_pred, fitted)
    assert _tick_labels(ax.get_xticklabels()) == list(LABELS)
    expected = confusion_matrix(LABELS[y], y_pred, labels=LABELS)
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)


def test_confusion_matrix_keeps_a_row_for_an_absent_class():
    ax = plot_confusion_matrix([0, 2], [0, 2], classes=[0, 1, 2])
    counts = ax.images[0].get_array()
    assert counts.shape == (3, 3)
    assert counts[1].sum() == 0


@pytest.mark.parametrize(
    ("normalize", "axis"), [("true", 1), ("pred", 0), ("all", None)]
)
def test_confusion_matrix_normalizes(normalize, axis):
    y_true = [0, 0, 1, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 1, 0]
    ax = plot_confusion_matrix(y_true, y_pred, normalize=normalize)
    values = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(values.sum(axis=axis), 1.0)
    expected = confusion_matrix(y_true, y_pred, normalize=normalize)
    np.testing.assert_allclose(values, expected)
    assert ax.texts[0].get_text() == format(expected[0, 0], ".2f")


def test_confusion_matrix_outlines_the_diagonal_and_the_off_by_one_band():
    ax = plot_confusion_matrix([0, 1, 2, 3, 4], [0, 1, 2, 3, 4])
    diagonal = [patch for patch in ax.patches if isinstance(patch, Rectangle)]
    assert [patch.get_xy() for patch in diagonal] == [
        (k - 0.5, k - 0.5) for k in range(5)
    ]
    left, right = ax.get_lines()
    assert left.get_linestyle() == "--"
    # Row 2's band spans the columns 1 to 3.
    assert left.get_xdata()[4] == 0.5
    assert right.get_xdata()[4] == 3.5
    # The first and last rows are cut off by the edge of the matrix.
    assert left.get_xdata()[0] == -0.5
    assert right.get_xdata()[-1] == 4.5


def test_confusion_matrix_legend_names_the_outlines_with_their_shares():
    y_true = [0, 0, 1, 2, 3, 3]
    y_pred = [0, 1, 1, 0, 3, 1]
    ax = plot_confusion_matrix(y_true, y_pred, normalize="true", title="Test")
    within_one = off_by_one_accuracy(y_true, y_pred)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [
        "exact: 50%",
        f"at most one class off: {within_one:.0%}",
    ]
    assert ax.get_title() == "Test"


def test_confusion_matrix_of_text_labels_without_an_order_warns():
    with pytest.warns(ClassOrderWarning, match="alphabetical") as record:
        ax = plot_confusion_matrix(["low", "high"], ["mid", "low"])
    assert record[0].filename == __file__
    assert _tick_labels(ax.get_xticklabels()) == ["high", "low", "mid"]


def test_confusion_matrix_with_an_order_does_not_warn(recwarn):
    plot_confusion_matrix(["low", "high"], ["mid", "low"], classes=LABELS)
    assert not [w for w in recwarn if issubclass(w.category, ClassOrderWarning)]


def test_confusion_matrix_without_annotations_or_colorbar():
    ax = plot_confusion_matrix([0, 1, 2], [0, 2, 2], annotate=False, colorbar=False)
    assert not ax.texts
    assert len(ax.figure.axes) == 1


def test_confusion_matrix_rejects_an_unknown_normalize():
    with pytest.raises(ValueError, match="normalize"):
        plot_confusion_matrix([0, 1], [0, 1], normalize="rows")


def test_confusion_matrix_rejects_labels_of_different_lengths():
    with pytest.raises(ValueError, match="samples"):
        plot_confusion_matrix([0, 1, 2], [0, 1])


def test_confusion_matrix_rejects_labels_outside_the_classes():
    with pytest.raises(ValueError, match="classes does not cover"):
        plot_confusion_matrix(["low", "odd"], ["low", "mid"], classes=["low", "mid"])


def test_confusion_matrix_rejects_an_unfitted_estimator_as_classes():
    with pytest.raises(ValueError, match="fit it first"):
        plot_confusion_matrix([0, 1], [0, 1], classes=EMDClassifier())


# ---------------------------------------------------------------- matplotlib


def test_the_module_imports_without_matplotlib():
    code = (
        "import sys; sys.modules['matplotlib'] = None; "
        "import skemd.plotting; "
        "assert 'matplotlib.pyplot' not in sys.modules or "
        "sys.modules['matplotlib.pyplot'] is None"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plotting_without_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install skemd\[plot\]"):
        plot_ground_distance(ordinal_distance(3))


def test_confusion_matrix_of_an_ordered_categorical_follows_its_categories():
    pd = pytest.importorskip("pandas")
    order = pd.CategoricalDtype(["low", "mid", "high", "top"], ordered=True)
    y_true = pd.Series(["low", "low", "low", "mid", "high"], dtype=order)
    ax = plot_confusion_matrix(y_true, y_true)
    assert [label.get_text() for label in ax.get_yticklabels()] == list(
        order.categories
    )
    # "top" has no sample and still gets its row and column.
    assert np.diagonal(ax.images[0].get_array()).tolist() == [3, 1, 1, 0]


def test_an_invalid_distance_leaves_no_figure_open():
    plt.close("all")
    with pytest.raises(ValueError, match="square matrix"):
        plot_ground_distance(np.zeros((2, 3)))
    assert plt.get_fignums() == []
