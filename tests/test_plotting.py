"""The plots of skemd.plotting draw what they say, from arrays or estimators."""

import subprocess
import sys
import warnings

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

from skemd import EMDClassifier, SquaredEMDLoss
from skemd.ground_distance import ordinal_distance, uniform_distance
from skemd.plotting import (
    plot_confusion_matrix,
    plot_ground_distance,
    plot_training_curves,
)

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")
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
    np.testing.assert_allclose(valid.get_ydata(), -np.asarray(clf.validation_scores_))
    best_epoch = int(np.argmax(clf.validation_scores_)) + 1
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
    assert list(best.get_xdata()) == [int(np.argmax(clf.validation_scores_[3:])) + 4]


def test_training_curves_with_a_ground_distance_matrix():
    # A matrix, not a name: no warm-up to shade.
    clf = _fit(ground_distance=ordinal_distance(4) ** 2)
    ax = plot_training_curves(clf)
    assert not ax.patches
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), clf.loss_curve_)


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


def test_confusion_matrix_rejects_an_unknown_normalize():
    with pytest.raises(ValueError, match="normalize"):
        plot_confusion_matrix([0, 1], [0, 1], normalize="rows")


def test_confusion_matrix_rejects_labels_of_different_lengths():
    with pytest.raises(ValueError, match="samples"):
        plot_confusion_matrix([0, 1, 2], [0, 1])


def test_confusion_matrix_rejects_labels_outside_the_classes():
    with pytest.raises(ValueError, match="not in classes"):
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
