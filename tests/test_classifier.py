"""Behaviour of EMDClassifier as a scikit-learn estimator."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from conftest import fast_classifier, ordinal_problem
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.exceptions import DeviceWarning
from torch import nn

from skemd import EMDClassifier
from skemd.exceptions import ClassOrderWarning

# Short fits: the warning that max_iter ran out is expected.
pytestmark = pytest.mark.usefixtures("quiet_convergence")


def test_learns_anordinal_problem():
    X, y = ordinal_problem()
    clf = fast_classifier(max_iter=100).fit(X, y)
    assert clf.score(X, y) > 0.8
    assert np.mean(np.abs(clf.predict(X) - y)) < 0.25


def test_predict_returns_labels_in_the_given_class_order():
    X, y = ordinal_problem()
    names = np.array(["low", "mid", "high", "top"])
    clf = fast_classifier(classes=["low", "mid", "high", "top"]).fit(X, names[y])
    assert list(clf.classes_) == ["low", "mid", "high", "top"]
    proba = clf.predict_proba(X)
    assert np.array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    # Column k is the probability of classes_[k]: the low class goes with low x.
    low_x = X[:, 0] < np.quantile(X[:, 0], 0.1)
    assert proba[low_x, 0].mean() > proba[low_x, 3].mean()


def test_string_labels_default_to_sorted_order():
    X, y = ordinal_problem(n_classes=3)
    labels = np.array(["c", "a", "b"])[y]
    with pytest.warns(
        ClassOrderWarning, match=r"alphabetical order: \['a', 'b', 'c'\]"
    ):
        clf = fast_classifier().fit(X, labels)
    assert list(clf.classes_) == ["a", "b", "c"]
    assert set(clf.predict(X)) <= {"a", "b", "c"}


def test_predict_proba_rows_are_distributions():
    X, y = ordinal_problem()
    proba = fast_classifier().fit(X, y).predict_proba(X)
    assert proba.shape == (len(X), 4)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


def test_predict_log_proba_is_log_of_predict_proba():
    X, y = ordinal_problem()
    clf = fast_classifier().fit(X, y)
    np.testing.assert_allclose(
        np.exp(clf.predict_log_proba(X)), clf.predict_proba(X), rtol=1e-10
    )


def test_ordered_categorical_target_gives_the_class_order():
    pd = pytest.importorskip("pandas")
    X, y = ordinal_problem(n_classes=3)
    order = ["small", "medium", "large"]
    target = pd.Series(
        pd.Categorical(np.array(order)[y], categories=order, ordered=True)
    )
    clf = fast_classifier().fit(pd.DataFrame(X, columns=["a", "b", "c"]), target)
    assert list(clf.classes_) == order
    assert list(clf.feature_names_in_) == ["a", "b", "c"]


def test_unordered_categorical_target_uses_sorted_labels():
    pd = pytest.importorskip("pandas")
    X, y = ordinal_problem(n_classes=3)
    target = pd.Categorical(np.array(["small", "medium", "large"])[y])
    with pytest.warns(ClassOrderWarning, match="alphabetical"):
        clf = fast_classifier().fit(X, target)
    assert list(clf.classes_) == ["large", "medium", "small"]


def test_missing_column_at_predict_is_an_error():
    pd = pytest.importorskip("pandas")
    X, y = ordinal_problem()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    clf = fast_classifier().fit(frame, y)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame.drop(columns="b").assign(d=0.0))


def test_wrong_number_of_features_at_predict():
    X, y = ordinal_problem()
    clf = fast_classifier().fit(X, y)
    with pytest.raises(ValueError, match="3 features"):
        clf.predict(X[:, :2])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_rejected(bad):
    X, y = ordinal_problem()
    X[5, 1] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        fast_classifier().fit(X, y)


def test_labels_not_covered_by_classes():
    X, y = ordinal_problem()
    with pytest.raises(ValueError, match=r"does not cover: \[3\]"):
        fast_classifier(classes=[0, 1, 2]).fit(X, y)


def test_a_single_given_class_that_misses_labels_names_them():
    X, y = ordinal_problem(n_classes=3)
    with pytest.raises(ValueError, match=r"classes does not cover: \[1, 2\]"):
        fast_classifier(classes=[0]).fit(X, y)
    with pytest.raises(ValueError, match="only one class"):
        fast_classifier(classes=[0]).fit(X, np.zeros_like(y))


def test_classes_with_repeated_labels():
    X, y = ordinal_problem(n_classes=2)
    with pytest.raises(ValueError, match="repeated"):
        fast_classifier(classes=[0, 1, 1]).fit(X, y)


def test_classes_may_include_a_class_without_samples():
    X, y = ordinal_problem(n_classes=3)
    clf = fast_classifier(classes=[0, 1, 2, 3]).fit(X, y)
    assert clf.predict_proba(X).shape == (len(X), 4)
    assert clf.ground_distance_.shape == (4, 4)


def test_single_class_is_an_error():
    X, _ = ordinal_problem()
    with pytest.raises(ValueError, match="only one class"):
        fast_classifier().fit(X, np.zeros(len(X)))


def test_continuous_target_is_an_error():
    X, _ = ordinal_problem()
    with pytest.raises(ValueError, match="Unknown label type"):
        fast_classifier().fit(X, np.linspace(0, 1, len(X)))


@pytest.mark.parametrize(
    "matrix, message",
    [
        (np.ones((3, 3)), r"shape \(4, 4\)"),
        (-np.ones((4, 4)), "negative"),
        (np.full((4, 4), np.nan), "NaN"),
        (np.zeros((4, 4)), "zero between every pair"),
    ],
)
def test_invalid_ground_distance_matrix(matrix, message):
    X, y = ordinal_problem()
    with pytest.raises(ValueError, match=message):
        fast_classifier(ground_distance=matrix).fit(X, y)


@pytest.mark.parametrize(
    "param, value",
    [
        ("alpha", -1.0),
        ("max_iter", 0),
        ("ground_distance", "euclidean"),
        ("activation", "gelu"),
        ("validation_fraction", 1.0),
        ("batch_size", 0),
        ("precision", "float16"),
    ],
)
def test_invalid_hyper_parameter_is_named(param, value):
    X, y = ordinal_problem()
    with pytest.raises(ValueError, match=f"'{param}' parameter"):
        fast_classifier(**{param: value}).fit(X, y)


@pytest.mark.parametrize("sizes", [(10, 0), (-5,), (2.5,), (True,), ("8",)])
def test_hidden_layer_sizes_must_be_positive_integers(sizes):
    X, y = ordinal_problem()
    with pytest.raises(ValueError, match="hidden_layer_sizes must hold positive"):
        fast_classifier(hidden_layer_sizes=sizes).fit(X, y)


@pytest.mark.parametrize("sizes", [(), 8, np.array([8, 4]), [np.int64(6)]])
def test_hidden_layer_sizes_forms(sizes):
    # No hidden layer (a linear model), one as an int, numpy arrays and scalars.
    X, y = ordinal_problem()
    clf = fast_classifier(hidden_layer_sizes=sizes, max_iter=2).fit(X, y)
    expected = [8] if np.ndim(sizes) == 0 else [int(s) for s in sizes]
    assert [w.shape[1] for w in clf.coefs_[:-1]] == expected


@pytest.mark.parametrize(
    "params",
    [dict(emd_weight=0.0), dict(ce_weight=0.0, emd_weight=0.0)],
)
def test_a_loss_of_zero_weights_is_an_error(params):
    X, y = ordinal_problem()
    with pytest.raises(ValueError, match="both 0.*ce_weight=1 and emd_weight=0"):
        fast_classifier(**params).fit(X, y)


def test_cross_entropy_alone_trains():
    X, y = ordinal_problem()
    clf = fast_classifier(ce_weight=1.0, emd_weight=0.0, max_iter=20).fit(X, y)
    assert clf.score(X, y) > 0.6


def test_cuda_without_a_gpu_is_an_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    X, y = ordinal_problem()
    with pytest.raises(ValueError, match="CUDA is not available"):
        fast_classifier(device="cuda").fit(X, y)


def test_weights_that_diverge_in_the_last_epoch_are_an_error():
    # The loss of an epoch is measured before its updates: one huge step leaves
    # a finite loss and infinite weights.
    X, y = ordinal_problem()
    clf = fast_classifier(
        hidden_layer_sizes=(8,), learning_rate_init=1e38, max_iter=1, batch_size=300
    )
    with pytest.raises(FloatingPointError, match="weights became infinite or NaN"):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


def test_non_finite_output_is_an_error_not_nan_probabilities():
    X, y = ordinal_problem()
    clf = fast_classifier(max_iter=2).fit(X, y)
    first = next(m for m in clf.net_.module_.modules() if isinstance(m, nn.Linear))
    with torch.no_grad():
        first.weight.mul_(1e34)
    # Rows of zeros see only the biases; the third overflows float32.
    rows = np.vstack([np.zeros((2, 3)), np.full((1, 3), 1e5)])
    with pytest.raises(ValueError, match="infinite or NaN for 1 of 3 samples"):
        clf.predict_proba(rows)
    with pytest.raises(ValueError, match="infinite or NaN"):
        clf.predict(rows)


def test_nan_loss_stops_training_with_an_error():
    X, y = ordinal_problem()
    clf = fast_classifier(solver="sgd", learning_rate_init=1e30, momentum=0.0)
    with pytest.raises(FloatingPointError, match="training loss became nan"):
        clf.fit(X * 1e6, y)


@pytest.mark.parametrize("ground_distance", ["ordinal", "uniform"])
def test_ground_distance_attribute(ground_distance):
    X, y = ordinal_problem()
    clf = fast_classifier(ground_distance=ground_distance).fit(X, y)
    steps = np.arange(4)
    expected = (
        np.abs(steps[:, None] - steps[None, :])
        if ground_distance == "ordinal"
        else 1.0 - np.eye(4)
    )
    np.testing.assert_array_equal(clf.ground_distance_, expected)


def test_user_matrix_is_kept_as_ground_distance():
    X, y = ordinal_problem(n_classes=3)
    matrix = np.array([[0, 1, 3], [1, 0, 2], [3, 2, 0]], dtype=float)
    clf = fast_classifier(ground_distance=matrix).fit(X, y)
    np.testing.assert_array_equal(clf.ground_distance_, matrix)
    loss_matrix = clf.net_.criterion_.ground_distance.numpy()
    np.testing.assert_allclose(
        loss_matrix, [[1, 1 / 3, 1], [1 / 3, 1, 2 / 3], [1, 2 / 3, 1]]
    )


def test_ce_weight_reaches_the_criterion():
    X, y = ordinal_problem()
    clf = fast_classifier(ce_weight=0.7, emd_weight=0.3, max_iter=2).fit(X, y)
    assert clf.net_.criterion_.ce_weight == 0.7
    assert clf.net_.criterion_.emd_weight == 0.3


@pytest.mark.parametrize(
    "ground_distance, expected",
    [
        ("ordinal", 0.0),
        ("uniform", 1.0),
        ("learned", 1.0),
        (np.ones((4, 4)) - np.eye(4), 1.0),
    ],
    ids=["ordinal", "uniform", "learned", "matrix"],
)
def test_ce_weight_auto_mixes_cross_entropy_into_matrix_forms(
    ground_distance, expected
):
    X, y = ordinal_problem()
    clf = fast_classifier(ground_distance=ground_distance, warmup_epochs=1, max_iter=3)
    assert clf.get_params()["ce_weight"] == "auto"
    clf.fit(X, y)
    # After the learned distance's warm-up, the criterion has its own weight back.
    assert clf.net_.criterion_.ce_weight == expected
    assert clf.get_params()["ce_weight"] == "auto"  # fit leaves the parameter
    explicit = fast_classifier(
        ground_distance=ground_distance, ce_weight=0.0, max_iter=3, warmup_epochs=1
    )
    assert explicit.fit(X, y).net_.criterion_.ce_weight == 0.0


def test_ce_weight_auto_trains_like_the_resolved_weight():
    X, y = ordinal_problem()
    auto = fast_classifier(ground_distance="uniform", max_iter=5).fit(X, y)
    one = fast_classifier(ground_distance="uniform", ce_weight=1.0, max_iter=5).fit(
        X, y
    )
    np.testing.assert_array_equal(auto.predict_proba(X), one.predict_proba(X))
    ordinal = fast_classifier(max_iter=5).fit(X, y)
    zero = fast_classifier(ce_weight=0.0, max_iter=5).fit(X, y)
    np.testing.assert_array_equal(ordinal.predict_proba(X), zero.predict_proba(X))


def test_ce_weight_rejects_other_strings():
    X, y = ordinal_problem()
    with pytest.raises(ValueError, match="ce_weight"):
        fast_classifier(ce_weight="half").fit(X, y)


def test_same_seed_same_predictions_and_global_rng_untouched():
    X, y = ordinal_problem()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = fast_classifier(dropout=0.2, early_stopping=True).fit(X, y).predict_proba(X)
    after = torch.get_rng_state()
    second = (
        fast_classifier(dropout=0.2, early_stopping=True).fit(X, y).predict_proba(X)
    )
    assert torch.equal(before, after)
    np.testing.assert_array_equal(first, second)


def test_different_seeds_give_different_networks():
    X, y = ordinal_problem()
    first = fast_classifier(random_state=0).fit(X, y).predict_proba(X)
    second = fast_classifier(random_state=1).fit(X, y).predict_proba(X)
    assert not np.allclose(first, second)


def test_training_attributes():
    X, y = ordinal_problem()
    clf = fast_classifier(max_iter=7).fit(X, y)
    assert clf.n_iter_ == 7
    assert len(clf.loss_curve_) == 7
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


@pytest.mark.parametrize(
    ("batch_size", "early_stopping", "expected"),
    [("auto", False, 200), ("auto", True, 180), (64, False, 64), (900, False, 200)],
)
def test_batch_size_used_in_training(batch_size, early_stopping, expected):
    # "auto" is min(200, n) of the rows left for training after the validation
    # split; a batch size above n trains on all rows at once.
    X, y = ordinal_problem(n_samples=200)
    clf = fast_classifier(
        batch_size=batch_size, early_stopping=early_stopping, max_iter=2
    )
    clf.fit(X, y)
    history = clf.net_.history
    assert history[-1, "batches", 0, "train_batch_size"] == expected
    n_train = 200 - (20 if early_stopping else 0)
    assert sum(history[-1, "batches", :, "train_batch_size"]) == n_train


def test_max_iter_without_convergence_warns():
    X, y = ordinal_problem()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        fast_classifier(max_iter=2).fit(X, y)


def test_plateau_stops_training_early():
    X, y = ordinal_problem()
    clf = fast_classifier(max_iter=500, tol=1e-2, n_iter_no_change=3).fit(X, y)
    assert clf.n_iter_ < 500


def test_early_stopping_keeps_the_best_validation_network():
    X, y = ordinal_problem(n_samples=400)
    clf = fast_classifier(early_stopping=True, max_iter=60, n_iter_no_change=5).fit(
        X, y
    )
    assert len(clf.validation_scores_) == clf.n_iter_
    assert len(clf.validation_loss_curve_) == clf.n_iter_
    assert clf.best_validation_loss_ == min(clf.validation_loss_curve_)
    assert clf.best_loss_ is None
    history = clf.net_.history
    best = int(np.argmin(clf.validation_loss_curve_))
    assert history[best, "valid_loss_best"]
    assert clf.best_validation_score_ == clf.validation_scores_[best]
    # The kept network is the best one: its accuracy on the validation part
    # (drawn again as fit drew it) is the score recorded for that epoch.
    clf._random_state = np.random.RandomState(0)
    clf._random_state.randint(np.iinfo(np.int32).max)  # the seed fit drew first
    _, valid = clf._split(X.astype(np.float32), y, None, incremental=False)
    predicted = clf.predict(valid.X.numpy())
    assert clf.best_validation_score_ == pytest.approx(
        np.mean(predicted == valid.y.numpy())
    )


@pytest.mark.parametrize("fraction", [0.01, 0.99])
def test_early_stopping_with_a_part_too_small_to_stratify(fraction):
    # 200 rows, 4 classes: with 1 % (2 rows) the validation part, with 99 % the
    # training part cannot hold every class; the split is then a random one,
    # as for a class of a single sample.
    X, y = ordinal_problem(n_samples=200)
    clf = fast_classifier(early_stopping=True, validation_fraction=fraction, max_iter=3)
    clf.fit(X, y)
    assert len(clf.validation_scores_) == 3
    n_valid = int(np.ceil(fraction * 200))
    clf._random_state = np.random.RandomState(0)
    train, valid = clf._split(X, y, None, incremental=False)
    assert (len(train), len(valid)) == (200 - n_valid, n_valid)


def test_early_stopping_split_is_stratified():
    X, y = ordinal_problem(n_samples=400)
    y = np.where(np.arange(400) < 40, 4, y)  # a rare fifth class: 10 %
    clf = fast_classifier(early_stopping=True, validation_fraction=0.25)
    for seed in range(5):
        clf._random_state = np.random.RandomState(seed)
        _, valid = clf._split(X, y, None, incremental=False)
        counts = np.bincount(valid.y.numpy(), minlength=5)
        # A quarter of each class, to the row (the rare class: exactly 10).
        assert np.abs(counts - np.bincount(y, minlength=5) / 4).max() <= 0.5
        assert counts[4] == 10


def test_sgd_solver_trains():
    X, y = ordinal_problem()
    clf = fast_classifier(solver="sgd", learning_rate_init=0.2, max_iter=60).fit(X, y)
    assert clf.score(X, y) > 0.7


def test_alpha_penalises_weights_not_biases():
    X, y = ordinal_problem()
    clf = fast_classifier(alpha=10.0, max_iter=1).fit(X, y)
    (group,) = clf.net_.optimizer_.param_groups
    assert group["weight_decay"] == 0.0
    assert group["weight_decay_of_weights"] == pytest.approx(10.0 / len(X))


def test_works_in_a_pipeline():
    X, y = ordinal_problem()
    pipe = make_pipeline(StandardScaler(), fast_classifier()).fit(X * 100 + 5, y)
    assert pipe.score(X * 100 + 5, y) > 0.7


def test_grid_search_over_loss_settings():
    X, y = ordinal_problem()
    grid = GridSearchCV(
        fast_classifier(max_iter=10),
        {"ground_distance": ["ordinal", "uniform"], "ce_weight": [0.0, 0.5]},
        cv=2,
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_estimator_.ground_distance in ("ordinal", "uniform")


def test_clone_gives_an_unfitted_copy_with_the_same_params():
    clf = fast_classifier(ground_distance=np.ones((3, 3)) - np.eye(3), ce_weight=0.3)
    copy = clone(clf)
    assert copy.get_params()["ce_weight"] == 0.3
    assert not hasattr(copy, "net_")


def test_pickle_round_trip_gives_identical_predictions():
    X, y = ordinal_problem()
    clf = fast_classifier().fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(restored.predict(X), clf.predict(X))


def test_pickle_does_not_carry_the_validation_data():
    X, y = ordinal_problem(n_samples=2000)
    small = len(pickle.dumps(fast_classifier(max_iter=2).fit(X[:200], y[:200])))
    large = len(
        pickle.dumps(fast_classifier(max_iter=2, early_stopping=True).fit(X, y))
    )
    assert large < small * 1.5


class _TinyNet(nn.Module):
    def __init__(self, n_features=3, n_classes=4, width=8):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, width), nn.Tanh())
        self.head = nn.Linear(width, n_classes)

    def forward(self, X):
        return self.head(self.body(X))


def test_custom_module_class_with_params():
    X, y = ordinal_problem()
    clf = fast_classifier(
        module=_TinyNet, module_params={"width": 5}, max_iter=150
    ).fit(X, y)
    assert clf.net_.module_.body[0].out_features == 5
    assert clf.score(X, y) > 0.6


@pytest.mark.parametrize("width", [3, 5])
def test_custom_module_with_the_wrong_number_of_outputs(width):
    X, y = ordinal_problem()  # 4 classes
    with pytest.raises(ValueError, match=r"shape \(200, 4\), for the 4 classes"):
        fast_classifier(module=nn.Linear(3, width)).fit(X, y)


def test_custom_module_returning_a_tuple_is_refused():
    class WithAux(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 4)

        def forward(self, X):
            logits = self.linear(X)
            return logits, logits.detach()

    X, y = ordinal_problem()
    with pytest.raises(ValueError, match="returns a tuple; it must return a tensor"):
        fast_classifier(module=WithAux).fit(X, y)


def test_custom_module_instance_is_not_modified_by_fit():
    X, y = ordinal_problem()
    module = _TinyNet()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    clf = fast_classifier(module=module).fit(X, y)
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key])
    assert clf.net_.module_ is not module


class _TinyConvNet(nn.Module):
    def __init__(self, n_classes=3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Linear(16, n_classes)

    def forward(self, X):
        return self.head(self.features(X))


def test_custom_module_accepts_image_arrays():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=60)
    X = rng.normal(size=(60, 1, 6, 6)) + y[:, None, None, None]
    clf = fast_classifier(
        module=_TinyConvNet, learning_rate_init=0.03, max_iter=100
    ).fit(X, y)
    assert clf.predict_proba(X).shape == (60, 3)
    assert clf.score(X, y) > 0.8


def test_default_network_rejects_image_arrays():
    X = np.zeros((10, 1, 3, 3))
    with pytest.raises(ValueError, match="dim"):
        fast_classifier().fit(X, np.arange(10) % 2)


def test_trains_and_predicts_on_device(device):
    X, y = ordinal_problem()
    clf = fast_classifier(device=device).fit(X, y)
    assert next(clf.net_.module_.parameters()).device.type == device
    assert clf.predict_proba(X).dtype == np.float64
    assert clf.score(X, y) > 0.7


@pytest.mark.filterwarnings("ignore::skemd.exceptions.ClassOrderWarning")
def test_fitted_on_cuda_unpickles_on_a_cpu_only_machine(monkeypatch):
    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    X, y = ordinal_problem()
    clf = fast_classifier(device="cuda").fit(X, y)
    expected = clf.predict_proba(X)
    data = pickle.dumps(clf)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        restored = pickle.loads(data)
    assert next(restored.net_.module_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(restored.predict_proba(X), expected, atol=1e-5)


def _hidden_order_problem(seed=0, n_samples=600, n_classes=5):
    """Classes are bins of a latent variable; their names hide the order."""
    rng = np.random.default_rng(seed)
    latent = rng.uniform(size=n_samples)
    X = np.c_[
        np.sin(3 * latent), np.cos(3 * latent), latent**2, rng.normal(size=n_samples)
    ]
    X += 0.05 * rng.normal(size=X.shape)
    rank = np.minimum((latent * n_classes).astype(int), n_classes - 1)
    names = np.array([f"c{k}" for k in rng.permutation(n_classes)])
    return X, names[rank], {names[k]: k for k in range(n_classes)}


@pytest.mark.filterwarnings("ignore::skemd.exceptions.ClassOrderWarning")
def test_learned_ground_distance_finds_the_hidden_order():
    from scipy.stats import spearmanr

    from skemd.ground_distance import seriate

    X, y, true_rank = _hidden_order_problem()
    clf = fast_classifier(
        ground_distance="learned", ce_weight=1.0, hidden_layer_sizes=(32,), max_iter=40
    ).fit(X, y)
    rank = np.array([true_rank[label] for label in clf.classes_])
    gaps = np.abs(rank[:, None] - rank[None, :])
    upper = np.triu_indices(len(rank), 1)
    assert spearmanr(clf.ground_distance_[upper], gaps[upper]).statistic >= 0.9
    order = [true_rank[label] for label in seriate(clf.ground_distance_, clf.classes_)]
    assert order in (sorted(order), sorted(order, reverse=True))


@pytest.mark.filterwarnings("ignore::skemd.exceptions.ClassOrderWarning")
def test_learned_distance_history_has_one_matrix_per_epoch_after_warmup():
    X, y, _ = _hidden_order_problem(n_samples=200)
    clf = fast_classifier(ground_distance="learned", warmup_epochs=3, max_iter=8).fit(
        X, y
    )
    assert len(clf.ground_distance_history_) == 5
    np.testing.assert_array_equal(
        clf.ground_distance_, clf.ground_distance_history_[-1]
    )
    distance = clf.ground_distance_
    np.testing.assert_allclose(distance, distance.T)
    np.testing.assert_array_equal(np.diag(distance), 0.0)
    off = distance[~np.eye(len(distance), dtype=bool)]
    assert np.all((off > 0) & (off <= 1))


@pytest.mark.filterwarnings("ignore::skemd.exceptions.ClassOrderWarning")
def test_learned_distance_is_the_one_the_loss_used_in_the_last_epoch():
    from skemd.ground_distance import to_loss_matrix

    X, y, _ = _hidden_order_problem(n_samples=200)
    clf = fast_classifier(
        ground_distance="learned", warmup_epochs=2, max_iter=200, tol=0.5
    )
    clf.fit(X, y)  # stops on a plateau, before the final update
    assert clf.n_iter_ < 200
    expected = to_loss_matrix(clf.ground_distance_, offset=0.5, normalize=False)
    np.testing.assert_allclose(
        clf.net_.criterion_.ground_distance.numpy(), expected, atol=1e-6
    )


@pytest.mark.filterwarnings("ignore::skemd.exceptions.ClassOrderWarning")
def test_learned_warmup_is_cross_entropy_only_then_the_configured_mix():
    X, y, _ = _hidden_order_problem(n_samples=200)
    clf = fast_classifier(
        ground_distance="learned", ce_weight=0.3, warmup_epochs=2, max_iter=4
    )
    clf.fit(X, y)
    criterion = clf.net_.criterion_
    assert (criterion.ce_weight, criterion.emd_weight) == (0.3, 1.0)


@pytest.mark.filterwarnings("ignore::skemd.exceptions.ClassOrderWarning")
def test_training_within_the_warmup_warns_and_falls_back_to_uniform():
    X, y, _ = _hidden_order_problem(n_samples=200)
    with pytest.warns(UserWarning, match="within the warm-up"):
        clf = fast_classifier(
            ground_distance="learned", warmup_epochs=5, max_iter=3
        ).fit(X, y)
    np.testing.assert_array_equal(clf.ground_distance_, 1 - np.eye(5))
    assert clf.ground_distance_history_ == []


@pytest.mark.filterwarnings("ignore::skemd.exceptions.ClassOrderWarning")
def test_learned_with_a_custom_module_and_feature_layer():
    X, y, _ = _hidden_order_problem(n_samples=200, n_classes=4)
    clf = fast_classifier(
        ground_distance="learned",
        module=_TinyNet,
        module_params={"n_features": 4, "n_classes": 4},
        feature_layer="body",
        warmup_epochs=1,
        max_iter=3,
    ).fit(X, y)
    assert len(clf.ground_distance_history_) == 2


@pytest.mark.filterwarnings("ignore::skemd.exceptions.ClassOrderWarning")
def test_learned_module_without_features_is_a_clear_error():
    X, y, _ = _hidden_order_problem(n_samples=100, n_classes=3)

    class NoLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(3))

        def forward(self, X):
            return X[:, :3] * self.scale

    with pytest.raises(ValueError, match="feature_layer"):
        fast_classifier(ground_distance="learned", module=NoLinear).fit(X, y)


@pytest.mark.filterwarnings("ignore::skemd.exceptions.ClassOrderWarning")
def test_learned_ground_distance_clones_pickles_and_grid_searches():
    X, y, _ = _hidden_order_problem(n_samples=200, n_classes=3)
    clf = fast_classifier(ground_distance="learned", warmup_epochs=1, max_iter=4)
    restored = pickle.loads(pickle.dumps(clone(clf).fit(X, y)))
    np.testing.assert_array_equal(restored.predict(X), restored.predict(X))
    assert restored.ground_distance_.shape == (3, 3)
    grid = GridSearchCV(
        clf, {"distance_power": [1.0, 2.0], "distance_offset": [0.25, 0.5]}, cv=2
    ).fit(X, y)
    assert grid.best_params_["distance_power"] in (1.0, 2.0)


@pytest.mark.parametrize("decision", ["argmax", "median", "expected_cost"])
def test_predict_applies_the_decision_rule(decision):
    X, y = ordinal_problem(n_samples=400, n_classes=5)
    clf = fast_classifier(decision=decision).fit(X, y)
    proba = clf.predict_proba(X)
    cost = proba @ clf.ground_distance_
    cdf = np.cumsum(proba, axis=1)
    expected = {
        "argmax": proba.argmax(axis=1),
        "median": (cdf < 0.5 - 1e-9).sum(axis=1),
        "expected_cost": cost.argmin(axis=1),
    }[decision]
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[expected])


def test_median_decision_lowers_the_absolute_error_on_ordinal_data():
    X, y = ordinal_problem(n_samples=600, n_classes=6, seed=3)
    clf = fast_classifier(max_iter=60).fit(X[:400], y[:400])
    errors = {}
    for decision in ("argmax", "median"):
        clf.set_params(decision=decision)
        errors[decision] = np.abs(clf.predict(X[400:]) - y[400:]).mean()
    assert errors["median"] <= errors["argmax"]


def test_decision_is_searchable():
    X, y = ordinal_problem()
    grid = GridSearchCV(
        fast_classifier(max_iter=10),
        {"decision": ["argmax", "median", "expected_cost"]},
        cv=2,
    ).fit(X, y)
    assert grid.best_params_["decision"] in ("argmax", "median", "expected_cost")


def test_bfloat16_on_the_cpu_warns_and_trains_in_float32():
    X, y = ordinal_problem()
    with pytest.warns(UserWarning, match="CUDA only"):
        clf = fast_classifier(device="cpu", precision="bfloat16").fit(X, y)
    assert clf.net_.precision == "float32"
    np.testing.assert_array_equal(
        clf.predict_proba(X), fast_classifier(device="cpu").fit(X, y).predict_proba(X)
    )


def test_bfloat16_trains_and_predicts_on_cuda(device):
    if device != "cuda":
        pytest.skip("bfloat16 mixed precision runs on CUDA only")
    X, y = ordinal_problem()
    clf = fast_classifier(device=device, precision="bfloat16").fit(X, y)
    assert clf.net_.precision == "bfloat16"
    assert next(clf.net_.module_.parameters()).dtype == torch.float32
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert clf.score(X, y) > 0.7


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_optimizer_uses_the_fused_update(solver, device):
    X, y = ordinal_problem()
    clf = fast_classifier(solver=solver, device=device, max_iter=2).fit(X, y)
    assert all(group["fused"] for group in clf.net_.optimizer_.param_groups)


def test_fit_warnings_point_at_the_callers_line():
    X, y = ordinal_problem(n_samples=60, n_classes=2)
    clf = fast_classifier(max_iter=2, precision="bfloat16", ground_distance="learned")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    messages = {type(w.message).__name__: w for w in caught}
    assert {"UserWarning", "ConvergenceWarning"} <= set(messages)
    for w in caught:
        assert w.filename == __file__, (w.filename, str(w.message))


def test_loss_and_samples_seen_as_in_mlpclassifier():
    X, y = ordinal_problem()
    clf = fast_classifier(max_iter=7, tol=0.0).fit(X, y)
    assert clf.loss_ == clf.loss_curve_[-1]
    assert clf.t_ == 7 * len(X)
    held_out = fast_classifier(max_iter=7, tol=0.0, early_stopping=True).fit(X, y)
    n_valid = int(np.ceil(0.1 * len(X)))
    assert held_out.t_ == 7 * (len(X) - n_valid)


# ------------------------------------------------------ learning-rate schedules


def test_invscaling_follows_scikit_learns_formula(device):
    X, y = ordinal_problem(n_samples=120)
    clf = fast_classifier(
        solver="sgd",
        learning_rate="invscaling",
        power_t=0.25,
        learning_rate_init=0.1,
        max_iter=4,
        tol=0.0,
        device=device,
    ).fit(X, y)
    n = len(X)
    expected = [0.1] + [0.1 / (k * n + 1) ** 0.25 for k in (1, 2, 3)]
    np.testing.assert_allclose(clf.net_.history[:, "learning_rate"], expected)
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(
        0.1 / (4 * n + 1) ** 0.25
    )


def test_invscaling_runs_on_over_warm_starts_and_partial_fit():
    X, y = ordinal_problem(n_samples=120)
    params = dict(solver="sgd", learning_rate="invscaling", tol=0.0, max_iter=2)
    warm = fast_classifier(warm_start=True, **params).fit(X, y).fit(X, y)
    n = len(X)
    # The second fit starts a new optimiser at learning_rate_init, then decays
    # by the samples seen over both fits, as scikit-learn's MLP does.
    # The history spans both fits.
    assert warm.net_.history[:, "learning_rate"] == pytest.approx(
        [0.01, 0.01 / (n + 1) ** 0.5, 0.01, 0.01 / (3 * n + 1) ** 0.5]
    )
    partial = fast_classifier(**params)
    for _ in range(3):
        partial.partial_fit(X, y, classes=[0, 1, 2, 3])
    assert partial.net_.history[:, "learning_rate"] == pytest.approx(
        [0.01] + [0.01 / (k * n + 1) ** 0.5 for k in (1, 2)]
    )


def test_adaptive_divides_by_five_where_it_would_stop():
    X, y = ordinal_problem(n_samples=120)
    # With a huge tol no epoch counts as progress: the rate is divided by five
    # every n_iter_no_change + 1 epochs after the first, until it is 1e-6 or
    # less, and then training stops.
    clf = fast_classifier(
        solver="sgd",
        learning_rate="adaptive",
        learning_rate_init=0.01,
        tol=1e9,
        n_iter_no_change=1,
        max_iter=100,
    ).fit(X, y)
    rates = clf.net_.history[:, "learning_rate"]
    assert rates[:3] == pytest.approx([0.01] * 3)
    assert rates[3:5] == pytest.approx([0.002] * 2)
    assert rates[-1] <= 1e-6 < rates[-3]
    reference = MLPClassifier(
        hidden_layer_sizes=(16,),
        solver="sgd",
        learning_rate="adaptive",
        learning_rate_init=0.01,
        tol=1e9,
        n_iter_no_change=1,
        max_iter=100,
        random_state=0,
    ).fit(X, y)
    assert clf.n_iter_ == reference.n_iter_
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(
        reference._optimizer.learning_rate
    )


def test_schedules_leave_adam_alone():
    X, y = ordinal_problem(n_samples=120)
    plain = fast_classifier(max_iter=5).fit(X, y)
    for schedule in ("invscaling", "adaptive"):
        scheduled = fast_classifier(max_iter=5, learning_rate=schedule).fit(X, y)
        np.testing.assert_array_equal(
            scheduled.predict_proba(X), plain.predict_proba(X)
        )
        assert set(scheduled.net_.history[:, "learning_rate"]) == {0.01}


def test_adaptive_works_across_partial_fit_calls_as_in_scikit_learn():
    X, y = ordinal_problem(n_samples=120)
    params = dict(
        hidden_layer_sizes=(16,),
        solver="sgd",
        learning_rate="adaptive",
        learning_rate_init=0.01,
        tol=1e9,
        n_iter_no_change=1,
        random_state=0,
    )
    ours, theirs = EMDClassifier(**params), MLPClassifier(**params)
    for _ in range(8):
        ours.partial_fit(X, y, classes=[0, 1, 2, 3])
        theirs.partial_fit(X, y, classes=[0, 1, 2, 3])
        assert ours.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(
            theirs._optimizer.learning_rate
        )
    assert theirs._optimizer.learning_rate < 0.01 / 5


def test_fitted_net_reports_its_parameters():
    X, y = ordinal_problem(n_samples=60)
    clf = fast_classifier(max_iter=2).fit(X, y)
    params = clf.net_.get_params()
    assert params["callbacks__learning_rate__schedule"] == "constant"
    assert params["callbacks__plateau__monitor"] == "train_loss"
    assert params["max_epochs"] == 2


def _numpy_forward(coefs, intercepts, X, activation):
    """The default network's class probabilities, computed in numpy."""
    act = {
        "identity": lambda z: z,
        "logistic": lambda z: 1 / (1 + np.exp(-z)),
        "tanh": np.tanh,
        "relu": lambda z: np.maximum(z, 0),
    }[activation]
    h = X.astype(np.float64)
    for W, b in zip(coefs[:-1], intercepts[:-1], strict=True):
        h = act(h @ W + b)
    z = h @ coefs[-1] + intercepts[-1]
    z -= z.max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_coefs_and_intercepts_reproduce_predict_proba(activation, device):
    X, y = ordinal_problem()
    clf = fast_classifier(
        hidden_layer_sizes=(8, 5), activation=activation, dropout=0.2, device=device
    ).fit(X, y)
    proba = _numpy_forward(clf.coefs_, clf.intercepts_, X, activation)
    np.testing.assert_allclose(proba, clf.predict_proba(X), atol=1e-5)


def test_mlp_attributes_match_mlpclassifier():
    X, y = ordinal_problem()
    clf = fast_classifier(hidden_layer_sizes=(8, 5)).fit(X, y)
    mlp = MLPClassifier(hidden_layer_sizes=(8, 5), max_iter=5).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [c.shape for c in mlp.coefs_]
    assert [b.shape for b in clf.intercepts_] == [b.shape for b in mlp.intercepts_]
    assert clf.n_layers_ == mlp.n_layers_ == 4
    assert clf.n_outputs_ == mlp.n_outputs_ == 4
    assert clf.out_activation_ == mlp.out_activation_ == "softmax"


def test_coefs_are_copies():
    X, y = ordinal_problem()
    clf = fast_classifier().fit(X, y)
    before = clf.predict_proba(X)
    clf.coefs_[0][:] = 0.0
    clf.intercepts_[-1][:] = 5.0
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    assert np.any(clf.coefs_[0] != 0)


def test_mlp_attributes_of_a_custom_module_and_before_fit():
    from sklearn.exceptions import NotFittedError

    names = ["coefs_", "intercepts_", "n_layers_", "n_outputs_", "out_activation_"]
    unfitted = fast_classifier()
    for name in names:
        assert not hasattr(unfitted, name)
        with pytest.raises(NotFittedError):
            getattr(unfitted, name)
    X, y = ordinal_problem()
    module = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 4))
    clf = fast_classifier(module=module).fit(X, y)
    for name in ["coefs_", "intercepts_", "n_layers_"]:
        assert not hasattr(clf, name)
        with pytest.raises(AttributeError, match=r"Sequential.*net_\.module_"):
            getattr(clf, name)
    assert clf.n_outputs_ == 4
    assert clf.out_activation_ == "softmax"


def test_text_columns_of_a_frame_are_named():
    pd = pytest.importorskip("pandas")
    X, y = ordinal_problem(n_samples=60)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(
        colour=np.where(X[:, 0] > 0, "red", "blue"),
        size=pd.Categorical(np.where(X[:, 1] > 0, "big", "small")),
    )
    pattern = r"columns of text or categories.*'colour', 'size'; encode them"
    with pytest.raises(ValueError, match=pattern):
        fast_classifier().fit(frame, y)
    clf = fast_classifier().fit(frame[["a", "b", "c"]], y)
    bad = frame[["a", "b", "c"]].astype({"c": object})
    bad.loc[0, "c"] = "n/a"
    with pytest.raises(ValueError, match=r"'c'; encode them.*'n/a'"):
        clf.predict(bad)
    with pytest.raises(ValueError, match="X holds text.*encode it first"):
        fast_classifier().fit(frame.to_numpy(), y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_pickle_made_for_cuda_loads_on_the_cpu():
    # A net saved with device "cuda" (its tensors here on the CPU): skorch maps
    # it to the CPU where CUDA is absent, with a warning, and it still predicts
    # and trains.
    X, y = ordinal_problem()
    clf = fast_classifier().fit(X, y)
    expected = clf.predict_proba(X)
    clf.net_.device = "cuda"
    with (
        pytest.warns(DeviceWarning, match=r"requested device \(cuda\)"),
        pytest.warns(UserWarning, match="no CUDA devices are available"),
    ):
        restored = pickle.loads(pickle.dumps(clf))
    assert torch.device(restored.net_.device).type == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    restored.partial_fit(X, y)
    assert restored.n_iter_ == clf.n_iter_ + 1


def test_classes_with_repeated_labels_name_them():
    X, y = ordinal_problem()
    labels = np.array(["a", "b", "c", "d"], dtype=object)[y]
    with pytest.raises(ValueError, match=r"repeated labels: \['a', 'b', 'c', 'a'\]"):
        fast_classifier(classes=["a", "b", "c", "a"]).fit(X, labels)


def test_classes_may_hold_a_label_no_sample_has_even_none():
    # A class without samples, of another type than the labels: no sorting of
    # mixed types is needed, so it is kept in its place.
    X, y = ordinal_problem()
    labels = np.array(["a", "b", "c", "d"], dtype=object)[y]
    clf = fast_classifier(
        classes=np.array(["a", "b", None, "c", "d"], dtype=object), max_iter=2
    )
    clf.fit(X, labels)
    assert clf.classes_.tolist() == ["a", "b", None, "c", "d"]
    assert clf.predict_proba(X[:2]).shape == (2, 5)


@pytest.mark.parametrize("n_samples", [201, 301])
def test_batch_norm_module_with_a_last_batch_of_one_row(n_samples):
    # 201 rows: batches of 200 and 1, which batch normalisation cannot train on;
    # the single row joins the batch before it. 301 with batches of 100 alike.
    X, y = ordinal_problem(n_samples=n_samples)
    module = nn.Sequential(
        nn.Linear(3, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4)
    )
    batch_size = "auto" if n_samples == 201 else 100
    clf = fast_classifier(module=module, batch_size=batch_size, max_iter=3).fit(X, y)
    sizes = [batch["train_batch_size"] for batch in clf.net_.history[-1, "batches"]]
    assert sizes == ([201] if n_samples == 201 else [100, 100, 101])
    # A network without batch normalisation keeps scikit-learn's batches.
    plain = fast_classifier(batch_size=batch_size, max_iter=1).fit(X, y)
    sizes = [batch["train_batch_size"] for batch in plain.net_.history[-1, "batches"]]
    assert sizes == ([200, 1] if n_samples == 201 else [100, 100, 100, 1])


class _BatchStatistics(nn.Module):
    """Batch normalisation without running statistics, and a squeezed output:
    both need more than one row, in training and in evaluation alike."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(3, 8)
        self.norm = nn.BatchNorm1d(8, track_running_stats=False)
        self.out = nn.Linear(8, 4)

    def forward(self, X):
        return self.out(torch.relu(self.norm(self.hidden(X)))).squeeze()


def test_a_module_that_needs_several_rows_trains():
    X, y = ordinal_problem()
    clf = fast_classifier(module=_BatchStatistics, max_iter=3).fit(X, y)
    assert clf.predict_proba(X[:5]).shape == (5, 4)


class _CountingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 4)
        self.calls = 0

    def forward(self, X):
        self.calls += 1
        return self.linear(X)


def test_the_output_check_runs_no_forward_pass_of_its_own():
    # It looks at the first training batch's output: no extra pass, so nothing
    # (a lazy module's weights, dropout masks) is drawn before training.
    X, y = ordinal_problem()  # 300 rows: two batches of at most 200
    clf = fast_classifier(module=_CountingNet, max_iter=3).fit(X, y)
    assert clf.net_.module_.calls == 3 * 2


class _MaskedClass(nn.Module):
    """The last class masked out with -inf, frozen or as a buffer."""

    def __init__(self, as_buffer=False):
        super().__init__()
        self.linear = nn.Linear(3, 4)
        mask = torch.tensor([0.0, 0.0, 0.0, -torch.inf])
        if as_buffer:
            self.register_buffer("mask", mask)
        else:
            self.mask = nn.Parameter(mask, requires_grad=False)

    def forward(self, X):
        return self.linear(X) + self.mask


@pytest.mark.parametrize("as_buffer", [False, True])
def test_minus_infinity_masks_a_class(as_buffer):
    X, y = ordinal_problem()
    y = np.minimum(y, 2)  # no sample of the masked class
    clf = fast_classifier(
        module=_MaskedClass,
        module_params={"as_buffer": as_buffer},
        classes=[0, 1, 2, 3],
        max_iter=3,
    ).fit(X, y)
    proba = clf.predict_proba(X[:5])
    assert np.all(proba[:, 3] == 0.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_a_failed_refit_leaves_no_old_network_behind():
    X, y = ordinal_problem()
    clf = fast_classifier(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        clf.set_params(hidden_layer_sizes=(0,)).fit(X, np.minimum(y, 2))
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_hidden_layer_sizes_as_a_zero_dimensional_array():
    X, y = ordinal_problem()
    clf = fast_classifier(hidden_layer_sizes=np.array(6), max_iter=2).fit(X, y)
    assert clf.coefs_[0].shape == (3, 6)
