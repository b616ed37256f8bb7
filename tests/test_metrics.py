import inspect
import pickle
import re
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau, spearmanr
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score, mean_absolute_error, recall_score
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from skemd.exceptions import ClassOrderWarning
from skemd.losses import squared_emd_loss
from skemd.metrics import (
    SCORERS,
    amae,
    geometric_mean_sensitivity,
    geometric_mean_sensitivity_scorer,
    get_scorer,
    kendall_tau_b,
    kendall_tau_b_scorer,
    linear_weighted_kappa,
    linear_weighted_kappa_scorer,
    mae,
    minimum_sensitivity,
    minimum_sensitivity_scorer,
    mmae,
    neg_amae_scorer,
    neg_mae_scorer,
    neg_mmae_scorer,
    neg_ranked_probability_score_scorer,
    neg_squared_emd_score_scorer,
    off_by_one_accuracy,
    off_by_one_accuracy_scorer,
    ordinal_report,
    qwk,
    qwk_scorer,
    ranked_probability_score,
    spearman_rho,
    spearman_rho_scorer,
    squared_emd_score,
)

LABEL_METRICS = [
    mae,
    amae,
    mmae,
    qwk,
    linear_weighted_kappa,
    off_by_one_accuracy,
    spearman_rho,
    kendall_tau_b,
    minimum_sensitivity,
    geometric_mean_sensitivity,
]
PROBA_METRICS = [ranked_probability_score, squared_emd_score]
ORDER = ["low", "mid", "high"]


def _random_labels(n_samples, n_classes, seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, n_samples)
    # Mostly near misses, as an ordinal model would make.
    y_pred = np.clip(y_true + rng.integers(-2, 3, n_samples), 0, n_classes - 1)
    return y_true, y_pred


def _random_proba(n_samples, n_classes, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_classes, n_samples), rng.dirichlet(
        np.ones(n_classes), n_samples
    )


def _ordinal_data(n_samples=150, seed=0, noise=0.5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    latent = X @ np.array([1.5, -1.0, 0.5]) + rng.normal(scale=noise, size=n_samples)
    y = np.digitize(latent, [-1.0, 0.0, 1.0])
    return X, y


# --- independent oracles ----------------------------------------------------


def _oracle_errors(y_true, y_pred, order):
    rank = {label: i for i, label in enumerate(order)}
    return [abs(rank[p] - rank[t]) for t, p in zip(y_true, y_pred, strict=True)]


def _oracle_mae(y_true, y_pred, order):
    errors = _oracle_errors(y_true, y_pred, order)
    return sum(errors) / len(errors)


def _oracle_per_class(y_true, y_pred, order):
    errors = _oracle_errors(y_true, y_pred, order)
    per_class = []
    for label in order:
        mine = [e for e, t in zip(errors, y_true, strict=True) if t == label]
        if mine:
            per_class.append(sum(mine) / len(mine))
    return per_class


def _oracle_off_by_one(y_true, y_pred, order):
    errors = _oracle_errors(y_true, y_pred, order)
    return sum(e <= 1 for e in errors) / len(errors)


def _oracle_rps(y_true, proba, order):
    rank = {label: i for i, label in enumerate(order)}
    total = 0.0
    for label, row in zip(y_true, proba, strict=True):
        cdf_pred = cdf_true = 0.0
        for k, p in enumerate(row):
            cdf_pred += p
            cdf_true += 1.0 if k == rank[label] else 0.0
            total += (cdf_pred - cdf_true) ** 2
    return total / len(y_true)


class _Fitted:
    """A stand-in for a fitted estimator: only classes_."""

    def __init__(self, classes):
        self.classes_ = np.asarray(classes)


class _FixedClassifier(ClassifierMixin, BaseEstimator):
    """Predicts the labels, and probabilities, it was built with."""

    def __init__(self, classes=None, labels=None, proba=None):
        self.classes = classes
        self.labels = labels
        self.proba = proba

    def fit(self, X, y):
        self.classes_ = np.asarray(self.classes)
        return self

    def predict(self, X):
        return np.asarray(self.labels)[: len(X)]

    def predict_proba(self, X):
        return np.asarray(self.proba)[: len(X)]


# --- label metrics against oracles -----------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_mae_matches_direct_formula(seed):
    y_true, y_pred = _random_labels(200, 6, seed)
    order = list(range(6))
    assert mae(y_true, y_pred) == pytest.approx(_oracle_mae(y_true, y_pred, order))


@pytest.mark.parametrize("seed", range(3))
def test_amae_matches_direct_formula(seed):
    y_true, y_pred = _random_labels(200, 6, seed)
    per_class = _oracle_per_class(y_true, y_pred, list(range(6)))
    assert amae(y_true, y_pred) == pytest.approx(sum(per_class) / len(per_class))


@pytest.mark.parametrize("seed", range(3))
def test_mmae_matches_direct_formula(seed):
    y_true, y_pred = _random_labels(200, 6, seed)
    per_class = _oracle_per_class(y_true, y_pred, list(range(6)))
    assert mmae(y_true, y_pred) == pytest.approx(max(per_class))


def test_amae_and_mmae_average_over_true_classes_present_only():
    # Class 1 is predicted but never true: it has no per-class error.
    y_true = [0, 0, 0, 0, 2]
    y_pred = [0, 0, 0, 1, 1]
    assert amae(y_true, y_pred) == pytest.approx((1 / 4 + 1) / 2)
    assert mmae(y_true, y_pred) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(3))
def test_off_by_one_accuracy_matches_direct_formula(seed):
    y_true, y_pred = _random_labels(200, 6, seed)
    assert off_by_one_accuracy(y_true, y_pred) == pytest.approx(
        _oracle_off_by_one(y_true, y_pred, list(range(6)))
    )


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_classes", [2, 3, 7])
def test_qwk_matches_sklearn(seed, n_classes):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, 80)
    y_pred = rng.integers(0, n_classes, 80)
    assert qwk(y_true, y_pred) == pytest.approx(
        cohen_kappa_score(y_true, y_pred, weights="quadratic"), abs=1e-12
    )


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n_classes", [2, 3, 6])
def test_linear_weighted_kappa_matches_sklearn(seed, n_classes):
    true_ranks, pred_ranks = _random_labels(120, n_classes, seed)
    order = SHUFFLED_ORDER[:n_classes]
    y_true, y_pred = _named(true_ranks), _named(pred_ranks)
    for weights in (None, _random_weights(120, seed)):
        assert linear_weighted_kappa(
            y_true, y_pred, classes=order, sample_weight=weights
        ) == pytest.approx(
            cohen_kappa_score(
                y_true, y_pred, labels=order, weights="linear", sample_weight=weights
            ),
            abs=1e-12,
        )


def test_linear_weighted_kappa_matches_the_agreement_form():
    # Agreement weights 1 - |i - j| / (K - 1): (p_o - p_e) / (1 - p_e).
    y_true, y_pred = _random_labels(200, 5, seed=4)
    confusion = np.zeros((5, 5))
    np.add.at(confusion, (y_true, y_pred), 1.0)
    confusion /= confusion.sum()
    steps = np.arange(5)
    agreement = 1 - np.abs(steps[:, None] - steps[None, :]) / 4
    observed = np.sum(agreement * confusion)
    chance = np.sum(agreement * np.outer(confusion.sum(1), confusion.sum(0)))
    assert linear_weighted_kappa(y_true, y_pred) == pytest.approx(
        (observed - chance) / (1 - chance), rel=1e-12
    )
    # Far misses weigh less than under quadratic weights.
    near, far = [0, 1, 2, 3, 4], [0, 1, 2, 3, 0]
    assert linear_weighted_kappa(near, far) > qwk(near, far)


def test_qwk_matches_sklearn_with_explicit_label_order():
    rng = np.random.default_rng(1)
    y_true = rng.choice(ORDER, 60)
    y_pred = rng.choice(ORDER, 60)
    assert qwk(y_true, y_pred, classes=ORDER) == pytest.approx(
        cohen_kappa_score(y_true, y_pred, labels=ORDER, weights="quadratic")
    )


def test_qwk_counts_classes_absent_from_the_data():
    # 0 and 2 are two steps apart when class 1 exists, one step when it does not;
    # sklearn agrees when given the same labels.
    y_true, y_pred = [0, 0, 2, 2, 2], [0, 2, 2, 2, 0]
    assert qwk(y_true, y_pred, classes=[0, 1, 2]) == pytest.approx(
        cohen_kappa_score(y_true, y_pred, labels=[0, 1, 2], weights="quadratic")
    )


def test_qwk_is_one_when_every_label_is_the_same_class():
    assert qwk([3, 3, 3], [3, 3, 3]) == 1.0
    assert qwk([3, 3, 3], [3, 3, 3], classes=[1, 2, 3]) == 1.0


def test_qwk_of_perfect_and_reversed_predictions():
    y = [0, 1, 2, 3]
    assert qwk(y, y) == pytest.approx(1.0)
    assert qwk(y, y[::-1]) == pytest.approx(-1.0)


def _oracle_ranks(values, weights):
    """Weighted mid-ranks, sample by sample: weight below plus half the tie."""
    return np.array(
        [weights[values < v].sum() + weights[values == v].sum() / 2.0 for v in values]
    )


def _oracle_weighted_spearman(a, b, weights):
    ra, rb = _oracle_ranks(a, weights), _oracle_ranks(b, weights)
    ra = ra - np.average(ra, weights=weights)
    rb = rb - np.average(rb, weights=weights)
    return np.sum(weights * ra * rb) / np.sqrt(
        np.sum(weights * ra**2) * np.sum(weights * rb**2)
    )


def _oracle_weighted_kendall(a, b, weights):
    # Every unordered pair of samples, weighted by the product of the weights.
    concordant = discordant = untied_a = untied_b = 0.0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            pair = weights[i] * weights[j]
            sign = np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
            concordant += pair * (sign > 0)
            discordant += pair * (sign < 0)
            untied_a += pair * (a[i] != a[j])
            untied_b += pair * (b[i] != b[j])
    return (concordant - discordant) / np.sqrt(untied_a * untied_b)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_classes", [2, 3, 6])
def test_rank_correlations_match_scipy(seed, n_classes):
    y_true, y_pred = _random_labels(120, n_classes, seed)
    order = SHUFFLED_ORDER[:n_classes]
    # Labels whose class order is not their sorted order: scipy gets the ranks.
    named_true, named_pred = np.array(order)[y_true], np.array(order)[y_pred]
    assert spearman_rho(named_true, named_pred, classes=order) == pytest.approx(
        spearmanr(y_true, y_pred).statistic, rel=1e-12, abs=1e-12
    )
    assert kendall_tau_b(named_true, named_pred, classes=order) == pytest.approx(
        kendalltau(y_true, y_pred, variant="b").statistic, rel=1e-12, abs=1e-12
    )


@pytest.mark.parametrize("seed", range(3))
def test_weighted_rank_correlations_match_direct_formulas(seed):
    y_true, y_pred = _random_labels(70, 5, seed)
    weights = _random_weights(70, seed)
    assert spearman_rho(
        y_true, y_pred, classes=range(5), sample_weight=weights
    ) == pytest.approx(_oracle_weighted_spearman(y_true, y_pred, weights), rel=1e-12)
    assert kendall_tau_b(
        y_true, y_pred, classes=range(5), sample_weight=weights
    ) == pytest.approx(_oracle_weighted_kendall(y_true, y_pred, weights), rel=1e-12)


@pytest.mark.parametrize("metric", [spearman_rho, kendall_tau_b])
def test_rank_correlations_of_perfect_reversed_and_constant_predictions(metric):
    y = np.array([0, 0, 1, 2, 2, 3])
    assert metric(y, y) == pytest.approx(1.0)
    assert metric(y, 3 - y) == pytest.approx(-1.0)
    # Undefined (one ranking is constant): no association, not NaN.
    assert metric(y, np.full(6, 2)) == 0.0
    assert metric(np.full(6, 1), y) == 0.0
    assert metric([1, 1, 2], [1, 1, 1], sample_weight=[1.0, 2.0, 0.0]) == 0.0
    # A monotone relabelling that keeps the order keeps the score.
    coarse = np.minimum(y, 2)
    assert metric(y, coarse) == pytest.approx(metric(y + 10, coarse * 3))


def test_rank_correlations_ignore_the_distance_between_classes():
    # Unlike MAE, only the order of the predictions counts.
    y_true = [0, 1, 2, 3]
    assert spearman_rho(y_true, [0, 0, 0, 3], classes=range(4)) == pytest.approx(
        spearman_rho(y_true, [0, 0, 0, 1], classes=range(4))
    )
    assert mae(y_true, [0, 0, 0, 3]) < mae(y_true, [0, 0, 0, 1], classes=range(4))


@pytest.mark.parametrize("seed", range(4))
def test_sensitivities_match_sklearn_recall(seed):
    y_true, y_pred = _random_labels(90, 5, seed)
    weights = _random_weights(90, seed)
    for sample_weight in (None, weights):
        present = np.unique(
            y_true if sample_weight is None else y_true[sample_weight > 0]
        )
        recalls = recall_score(
            y_true,
            y_pred,
            labels=present,
            average=None,
            sample_weight=sample_weight,
        )
        kwargs = {"classes": range(5), "sample_weight": sample_weight}
        assert minimum_sensitivity(y_true, y_pred, **kwargs) == pytest.approx(
            recalls.min(), rel=1e-12
        )
        assert geometric_mean_sensitivity(y_true, y_pred, **kwargs) == pytest.approx(
            np.prod(recalls) ** (1 / len(recalls)), rel=1e-12
        )


def test_sensitivities_count_only_true_classes_and_hit_zero_on_a_missed_one():
    # Class 3 is predicted but never true: it has no recall to count.
    y_true, y_pred = [0, 0, 1, 1], [0, 3, 1, 1]
    assert minimum_sensitivity(y_true, y_pred, classes=range(4)) == 0.5
    assert geometric_mean_sensitivity(
        y_true, y_pred, classes=range(4)
    ) == pytest.approx(np.sqrt(0.5))
    # Class 1 is never predicted right: both scores are 0.
    assert minimum_sensitivity([0, 1, 2], [0, 2, 2]) == 0.0
    assert geometric_mean_sensitivity([0, 1, 2], [0, 2, 2]) == 0.0
    assert geometric_mean_sensitivity([0, 1, 2], [0, 1, 2]) == 1.0


def test_absent_classes_widen_the_rank_gap():
    assert mae([0, 2], [2, 0]) == 1.0
    assert mae([0, 2], [2, 0], classes=[0, 1, 2]) == 2.0


@pytest.mark.parametrize("metric", LABEL_METRICS)
def test_label_metrics_return_python_floats(metric):
    assert type(metric([0, 1, 2], [0, 2, 2])) is float


# --- probability metrics ----------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n_classes", [2, 4, 7])
def test_ranked_probability_score_matches_direct_formula(seed, n_classes):
    y_true, proba = _random_proba(100, n_classes, seed)
    assert ranked_probability_score(
        y_true, proba, classes=range(n_classes)
    ) == pytest.approx(_oracle_rps(y_true, proba, list(range(n_classes))))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n_classes", [2, 4, 7])
def test_squared_emd_score_matches_the_training_loss(seed, n_classes):
    y_true, proba = _random_proba(100, n_classes, seed)
    loss = squared_emd_loss(
        torch.as_tensor(proba), torch.as_tensor(y_true), from_logits=False
    )
    assert squared_emd_score(y_true, proba, classes=range(n_classes)) == pytest.approx(
        loss.item(), abs=1e-12
    )


def test_squared_emd_score_is_rps_over_the_number_of_classes():
    y_true, proba = _random_proba(50, 5, seed=0)
    assert squared_emd_score(y_true, proba, classes=range(5)) == pytest.approx(
        ranked_probability_score(y_true, proba, classes=range(5)) / 5
    )


def test_ranked_probability_score_of_certain_predictions():
    y_true = [0, 1, 2]
    assert ranked_probability_score(y_true, np.eye(3)) == 0.0
    # All mass on the far end: every cumulative step is off by one.
    far = np.tile([0.0, 0.0, 1.0], (1, 1))
    assert ranked_probability_score([0], far, classes=[0, 1, 2]) == 2.0


def test_proba_metrics_accept_float32_rows_within_rounding():
    y_true, proba = _random_proba(100, 30, seed=0)
    proba32 = proba.astype(np.float32)
    assert ranked_probability_score(
        y_true, proba32, classes=range(30)
    ) == pytest.approx(
        ranked_probability_score(y_true, proba, classes=range(30)), rel=1e-5
    )


# --- class order -------------------------------------------------------------


@pytest.mark.parametrize("metric", LABEL_METRICS)
def test_string_labels_in_explicit_order_match_integer_encoding(metric):
    y_true, y_pred = _random_labels(90, 3, seed=2)
    names = np.array(ORDER)
    assert metric(names[y_true], names[y_pred], classes=ORDER) == pytest.approx(
        metric(y_true, y_pred)
    )


@pytest.mark.parametrize("metric", PROBA_METRICS)
def test_string_labels_in_explicit_order_match_integer_encoding_proba(metric):
    y_true, proba = _random_proba(90, 3, seed=2)
    names = np.array(ORDER)
    assert metric(names[y_true], proba, classes=ORDER) == pytest.approx(
        metric(y_true, proba)
    )


def test_default_order_sorts_string_labels():
    # Alphabetically "high" < "low" < "mid": high and mid are two steps apart.
    with pytest.warns(ClassOrderWarning):
        assert mae(["high", "low"], ["mid", "low"]) == 1.0
    assert mae(["high", "low"], ["mid", "low"], classes=ORDER) == 0.5


@pytest.mark.parametrize("metric", LABEL_METRICS)
def test_sorting_text_labels_warns_at_the_call(metric):
    y_true, y_pred = _random_labels(30, 3, seed=0)
    names = np.array(ORDER)
    with pytest.warns(ClassOrderWarning, match="alphabetical order") as record:
        metric(names[y_true], names[y_pred])
    assert len(record) == 1
    # The warning names the line that called the metric.
    assert record[0].filename == __file__


@pytest.mark.parametrize("metric", PROBA_METRICS)
def test_sorting_text_labels_warns_at_the_call_proba(metric):
    y_true, proba = _random_proba(30, 3, seed=0)
    with pytest.warns(ClassOrderWarning, match="alphabetical order") as record:
        metric(np.array(ORDER)[y_true], proba)
    assert len(record) == 1
    assert record[0].filename == __file__


def test_ordinal_report_of_text_labels_warns_once():
    with pytest.warns(ClassOrderWarning) as record:
        ordinal_report(["low", "mid", "high"], ["low", "low", "high"])
    assert len(record) == 1
    assert record[0].filename == __file__


@pytest.mark.parametrize("metric", LABEL_METRICS + PROBA_METRICS)
def test_no_class_order_warning_when_the_order_is_known(metric, recwarn):
    y_true, second = _inputs(metric, 30, seed=0, n_classes=3)
    names = np.array(ORDER)[y_true]
    metric(names, second if metric in PROBA_METRICS else names[second], classes=ORDER)
    metric(y_true, second)  # numbers sort in their order
    assert not [w for w in recwarn if issubclass(w.category, ClassOrderWarning)]


def test_no_class_order_warning_for_an_ordered_categorical(recwarn):
    pd = pytest.importorskip("pandas")
    y_true = pd.Categorical(["lo", "hi"], categories=["lo", "mid", "hi"], ordered=True)
    mae(y_true, ["mid", "hi"])
    assert not [w for w in recwarn if issubclass(w.category, ClassOrderWarning)]


@pytest.mark.parametrize("metric", LABEL_METRICS)
def test_classes_from_a_fitted_estimator(metric):
    y_true, y_pred = _random_labels(90, 3, seed=3)
    names = np.array(ORDER)
    assert metric(
        names[y_true], names[y_pred], classes=_Fitted(ORDER)
    ) == pytest.approx(metric(names[y_true], names[y_pred], classes=ORDER))


@pytest.mark.parametrize("metric", PROBA_METRICS)
def test_classes_from_a_fitted_estimator_proba(metric):
    y_true, proba = _random_proba(90, 3, seed=3)
    names = np.array(ORDER)
    assert metric(names[y_true], proba, classes=_Fitted(ORDER)) == pytest.approx(
        metric(y_true, proba)
    )


def test_classes_from_a_fitted_sklearn_classifier():
    X, y = _ordinal_data()
    clf = LogisticRegression().fit(X, y)
    proba = clf.predict_proba(X)
    assert ranked_probability_score(y, proba, classes=clf) == pytest.approx(
        _oracle_rps(y, proba, list(clf.classes_))
    )
    assert mae(y, clf.predict(X), classes=clf) == pytest.approx(
        _oracle_mae(y, clf.predict(X), list(clf.classes_))
    )


def test_labels_may_be_python_objects():
    y_true = np.array(["a", "b", "c"], dtype=object)
    assert mae(y_true, ["a", "c", "c"], classes=["a", "b", "c"]) == pytest.approx(1 / 3)


class _Grade:
    """A label with equality and a hash but no order."""

    def __init__(self, name):
        self.name = name

    def __eq__(self, other):
        return isinstance(other, _Grade) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f"_Grade({self.name!r})"


def test_labels_that_do_not_sort_are_looked_up():
    order = [_Grade("low"), _Grade("mid"), _Grade("high")]
    y_true = np.array([_Grade("low"), _Grade("high")], dtype=object)
    y_pred = np.array([_Grade("mid"), _Grade("mid")], dtype=object)
    assert mae(y_true, y_pred, classes=np.array(order, dtype=object)) == 1.0


def test_labels_of_mixed_types_are_rejected_even_with_classes():
    order = np.array([1, "one"], dtype=object)
    with pytest.raises(ValueError, match="mixes labels of different types"):
        mae(np.array([1, "one"], dtype=object), ["one", "one"], classes=order)


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize("metric", LABEL_METRICS)
def test_labels_not_in_classes_are_named(metric):
    with pytest.raises(
        ValueError,
        match="y_pred has labels that classes does not cover: \\['huge', 'tiny'\\]",
    ):
        metric(["low", "mid"], ["huge", "tiny"], classes=ORDER)
    with pytest.raises(ValueError, match="y_true has labels.*\\[7\\]"):
        metric([0, 7], [0, 1], classes=[0, 1, 2])


def test_unknown_label_error_lists_classes_in_their_order():
    with pytest.raises(ValueError, match="classes is \\['low', 'mid', 'high'\\]"):
        mae(["low"], ["top"], classes=ORDER)


def test_many_unknown_labels_are_abbreviated():
    with pytest.raises(ValueError, match="\\[10, 11, 12, 13, 14, ... \\(5 more\\)\\]"):
        mae(np.arange(10, 20), np.zeros(10), classes=[0])


@pytest.mark.parametrize("metric", LABEL_METRICS)
def test_mismatched_lengths_are_rejected(metric):
    with pytest.raises(ValueError, match="y_true has 3 samples but y_pred has 2"):
        metric([0, 1, 2], [0, 1])


@pytest.mark.parametrize("metric", LABEL_METRICS)
def test_empty_input_is_rejected(metric):
    with pytest.raises(ValueError, match="y_true is empty"):
        metric([], [])


@pytest.mark.parametrize("metric", PROBA_METRICS)
def test_empty_input_is_rejected_proba(metric):
    with pytest.raises(ValueError, match="y_true is empty"):
        metric([], np.zeros((0, 2)), classes=[0, 1])


def test_labels_must_be_one_dimensional():
    with pytest.raises(ValueError, match="1-D array of labels"):
        mae([[0], [1]], [0, 1])


def test_nan_labels_are_rejected():
    with pytest.raises(ValueError, match="y_pred has a missing label"):
        mae([0.0, 1.0], [0.0, np.nan])
    with pytest.raises(ValueError, match="y_true has a missing label"):
        mae(np.array(["a", None], dtype=object), ["a", "a"], classes=["a"])


def test_mixed_label_types_are_rejected():
    with pytest.raises(ValueError, match="different types"):
        mae(["0", "1"], [0, 1])


def test_duplicate_classes_are_rejected():
    with pytest.raises(ValueError, match="repeated labels"):
        mae([0, 1], [0, 1], classes=[0, 1, 1])


def test_unfitted_estimator_as_classes_is_rejected():
    with pytest.raises(
        ValueError, match="LogisticRegression is an estimator without classes_"
    ):
        mae([0, 1], [0, 1], classes=LogisticRegression())


@pytest.mark.parametrize("metric", PROBA_METRICS)
def test_rows_that_do_not_sum_to_one_are_rejected(metric):
    proba = np.full((3, 2), 0.5)
    proba[1] = [0.5, 0.6]
    with pytest.raises(ValueError, match="row 1 sums to 1.1"):
        metric([0, 1, 1], proba)


@pytest.mark.parametrize("metric", PROBA_METRICS)
def test_rows_off_by_rounding_are_accepted(metric):
    proba = np.array([[0.5, 0.5 + 5e-7], [1.0 - 5e-7, 0.0]])
    assert metric([0, 1], proba) >= 0


@pytest.mark.parametrize("metric", PROBA_METRICS)
def test_negative_probabilities_are_rejected(metric):
    with pytest.raises(ValueError, match="negative probabilities \\(first in row 1"):
        metric([0, 1], [[0.5, 0.5], [1.5, -0.5]])


@pytest.mark.parametrize("metric", PROBA_METRICS)
def test_nan_probabilities_are_rejected(metric):
    with pytest.raises(ValueError, match="NaN or infinity \\(first in row 0"):
        metric([0, 1], [[np.nan, 0.5], [0.5, 0.5]])


@pytest.mark.parametrize("metric", PROBA_METRICS)
def test_columns_must_match_the_classes(metric):
    with pytest.raises(ValueError, match="3 columns but there are 2 classes"):
        metric([0, 1], np.full((2, 3), 1 / 3), classes=[0, 1])


@pytest.mark.parametrize("metric", PROBA_METRICS)
def test_default_classes_need_every_class_in_y_true(metric):
    with pytest.raises(
        ValueError, match="3 columns but y_true contains 2 .*pass classes="
    ):
        metric([0, 2], np.full((2, 3), 1 / 3))


@pytest.mark.parametrize("metric", PROBA_METRICS)
def test_proba_rows_must_match_samples(metric):
    with pytest.raises(ValueError, match="y_true has 2 samples but y_proba has 3"):
        metric([0, 1], np.full((3, 2), 0.5))


@pytest.mark.parametrize("metric", PROBA_METRICS)
def test_proba_must_be_a_matrix(metric):
    with pytest.raises(ValueError, match="shape \\(n_samples, n_classes\\)"):
        metric([0, 1], [0.5, 0.5])


# --- scorers -----------------------------------------------------------------

LABEL_SCORERS = {
    "neg_mae": (neg_mae_scorer, mae, -1),
    "neg_amae": (neg_amae_scorer, amae, -1),
    "neg_mmae": (neg_mmae_scorer, mmae, -1),
    "qwk": (qwk_scorer, qwk, 1),
    "linear_weighted_kappa": (linear_weighted_kappa_scorer, linear_weighted_kappa, 1),
    "off_by_one_accuracy": (off_by_one_accuracy_scorer, off_by_one_accuracy, 1),
    "spearman_rho": (spearman_rho_scorer, spearman_rho, 1),
    "kendall_tau_b": (kendall_tau_b_scorer, kendall_tau_b, 1),
    "minimum_sensitivity": (minimum_sensitivity_scorer, minimum_sensitivity, 1),
    "geometric_mean_sensitivity": (
        geometric_mean_sensitivity_scorer,
        geometric_mean_sensitivity,
        1,
    ),
}
PROBA_SCORERS = {
    "neg_ranked_probability_score": (
        neg_ranked_probability_score_scorer,
        ranked_probability_score,
        -1,
    ),
    "neg_squared_emd_score": (neg_squared_emd_score_scorer, squared_emd_score, -1),
}


def test_scorers_registry_and_get_scorer():
    assert set(SCORERS) == set(LABEL_SCORERS) | set(PROBA_SCORERS)
    for name, (scorer, _, _) in {**LABEL_SCORERS, **PROBA_SCORERS}.items():
        assert SCORERS[name] is scorer
        # A new scorer each call (as sklearn.metrics.get_scorer), of the same kind.
        fresh = get_scorer(name)
        assert fresh is not scorer
        assert repr(fresh) == repr(scorer)


@pytest.mark.parametrize("name", ["neg_mean_absolute_error", "mae", ["qwk"]])
def test_get_scorer_rejects_unknown_names_listing_valid_ones(name):
    with pytest.raises(ValueError, match="not an ordinal scorer.*'neg_amae'.*'qwk'"):
        get_scorer(name)


@pytest.mark.parametrize("name", sorted(LABEL_SCORERS))
def test_label_scorers_are_signed_metrics_of_predict(name):
    scorer, metric, sign = LABEL_SCORERS[name]
    X, y = _ordinal_data()
    clf = LogisticRegression().fit(X, y)
    assert scorer(clf, X, y) == pytest.approx(sign * metric(y, clf.predict(X)))


@pytest.mark.parametrize("name", sorted(PROBA_SCORERS))
def test_proba_scorers_are_signed_metrics_of_predict_proba(name):
    scorer, metric, sign = PROBA_SCORERS[name]
    X, y = _ordinal_data()
    clf = LogisticRegression().fit(X, y)
    assert scorer(clf, X, y) == pytest.approx(
        sign * metric(y, clf.predict_proba(X), classes=clf.classes_)
    )


def test_scorers_use_the_estimator_class_order():
    labels = ["low", "high", "mid"]
    clf = _FixedClassifier(
        classes=ORDER, labels=labels, proba=[[0.0, 1.0, 0.0]] * 3
    ).fit(None, None)
    y = ["high", "high", "high"]
    X = np.zeros((3, 1))
    # In the estimator's order low < mid < high, unlike alphabetical order.
    assert neg_mae_scorer(clf, X, y) == pytest.approx(-(2 + 0 + 1) / 3)
    assert neg_ranked_probability_score_scorer(clf, X, y) == pytest.approx(-1.0)


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_scorers_of_text_labels_do_not_warn(name, recwarn):
    clf = _FixedClassifier(
        classes=ORDER, labels=["low", "high", "mid"], proba=[[0.2, 0.5, 0.3]] * 3
    ).fit(None, None)
    SCORERS[name](clf, np.zeros((3, 1)), ["high", "mid", "low"])
    assert not [w for w in recwarn if issubclass(w.category, ClassOrderWarning)]


@pytest.mark.parametrize("scorer", list(SCORERS.values()), ids=list(SCORERS))
def test_scorers_pickle_and_have_a_readable_repr(scorer):
    X, y = _ordinal_data()
    clf = LogisticRegression().fit(X, y)
    restored = pickle.loads(pickle.dumps(scorer))
    assert restored(clf, X, y) == scorer(clf, X, y)
    assert repr(scorer).startswith("_OrdinalScorer(")
    assert scorer._metric.__name__ in repr(scorer)


def test_repr_shows_metric_sign_and_response_method():
    assert repr(neg_mae_scorer) == (
        "_OrdinalScorer(mae, sign=-1, response_method='predict')"
    )


def test_scorer_in_grid_search_gives_minus_mae_of_each_fold():
    X, y = _ordinal_data()
    cv = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(
        LogisticRegression(), {"C": [0.01, 1.0]}, scoring=neg_mae_scorer, cv=cv
    ).fit(X, y)
    assert search.best_score_ <= 0
    best = search.best_index_
    for fold, (train, test) in enumerate(cv.split(X, y)):
        model = LogisticRegression(**search.cv_results_["params"][best])
        model.fit(X[train], y[train])
        by_hand = -mae(y[test], model.predict(X[test]), classes=model)
        assert search.cv_results_[f"split{fold}_test_score"][best] == pytest.approx(
            by_hand
        )


def test_scorers_work_in_sklearn_multi_metric_dicts():
    X, y = _ordinal_data()
    scoring = {
        "mae": neg_mae_scorer,
        "qwk": qwk_scorer,
        "rps": neg_ranked_probability_score_scorer,
        "acc": "accuracy",
    }
    result = cross_validate(LogisticRegression(), X, y, scoring=scoring, cv=3)
    assert np.all(result["test_mae"] <= 0)
    assert np.all(result["test_rps"] <= 0)
    assert np.all(result["test_qwk"] > 0)
    assert np.all((result["test_acc"] >= 0) & (result["test_acc"] <= 1))

    search = GridSearchCV(
        LogisticRegression(), {"C": [0.1, 1.0]}, scoring=scoring, refit="mae", cv=3
    ).fit(X, y)
    assert search.best_score_ == pytest.approx(
        np.max(search.cv_results_["mean_test_mae"])
    )


# --- sample weights ----------------------------------------------------------

ALL_METRICS = LABEL_METRICS + PROBA_METRICS
ALL_SCORERS = {**LABEL_SCORERS, **PROBA_SCORERS}
# Labels whose order is not their sorted order, so ranks are not the labels.
SHUFFLED_ORDER = ["f", "c", "a", "e", "b", "d"]


def _random_weights(n_samples, seed, zero_share=0.15):
    rng = np.random.default_rng(seed + 1000)
    weights = rng.uniform(0.0, 3.0, n_samples)
    weights[rng.random(n_samples) < zero_share] = 0.0
    return weights


def _inputs(metric, n_samples, seed, n_classes=4):
    """y_true and the second argument (labels or probabilities) for ``metric``."""
    if metric in PROBA_METRICS:
        return _random_proba(n_samples, n_classes, seed)
    return _random_labels(n_samples, n_classes, seed)


def _named(ranks):
    return np.array(SHUFFLED_ORDER)[ranks]


def _oracle_weighted_per_class(true_ranks, pred_ranks, weights, n_classes):
    errors = np.abs(pred_ranks - true_ranks)
    per_class = []
    for k in range(n_classes):
        mine = true_ranks == k
        if weights[mine].sum() > 0:
            per_class.append(
                np.sum(weights[mine] * errors[mine]) / np.sum(weights[mine])
            )
    return per_class


def _oracle_weighted_rps(true_ranks, proba, weights):
    # All K cumulative terms (the last one is zero), one-hot truth from np.eye.
    n_classes = proba.shape[1]
    cdf_pred = np.cumsum(proba, axis=1)
    cdf_true = np.cumsum(np.eye(n_classes)[true_ranks], axis=1)
    per_sample = np.sum((cdf_pred - cdf_true) ** 2, axis=1)
    return np.sum(weights * per_sample) / np.sum(weights)


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_sample_weight_is_keyword_only_after_classes(metric):
    parameters = inspect.signature(metric).parameters
    assert list(parameters)[-2:] == ["classes", "sample_weight"]
    assert parameters["sample_weight"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["sample_weight"].default is None


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_sample_weight_none_is_the_unweighted_metric(metric):
    y_true, second = _inputs(metric, 60, seed=0)
    assert metric(y_true, second, classes=range(4), sample_weight=None) == metric(
        y_true, second, classes=range(4)
    )


@pytest.mark.parametrize("seed", range(3))
def test_weighted_mae_matches_sklearn_on_ranks(seed):
    true_ranks, pred_ranks = _random_labels(200, 6, seed)
    weights = _random_weights(200, seed)
    assert mae(
        _named(true_ranks),
        _named(pred_ranks),
        classes=SHUFFLED_ORDER,
        sample_weight=weights,
    ) == pytest.approx(
        mean_absolute_error(true_ranks, pred_ranks, sample_weight=weights),
        rel=1e-12,
    )


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n_classes", [2, 3, 6])
def test_weighted_qwk_matches_sklearn(seed, n_classes):
    true_ranks, pred_ranks = _random_labels(120, n_classes, seed)
    weights = _random_weights(120, seed)
    order = SHUFFLED_ORDER[:n_classes]
    y_true, y_pred = _named(true_ranks), _named(pred_ranks)
    assert qwk(y_true, y_pred, classes=order, sample_weight=weights) == pytest.approx(
        cohen_kappa_score(
            y_true, y_pred, labels=order, weights="quadratic", sample_weight=weights
        ),
        abs=1e-12,
    )


@pytest.mark.parametrize("seed", range(3))
def test_weighted_amae_and_mmae_match_direct_formula(seed):
    true_ranks, pred_ranks = _random_labels(200, 6, seed)
    weights = _random_weights(200, seed)
    # Class "a" (rank 2) weighs nothing: it must count as absent.
    weights[true_ranks == 2] = 0.0
    per_class = _oracle_weighted_per_class(true_ranks, pred_ranks, weights, 6)
    assert len(per_class) == 5
    y_true, y_pred = _named(true_ranks), _named(pred_ranks)
    kwargs = {"classes": SHUFFLED_ORDER, "sample_weight": weights}
    assert amae(y_true, y_pred, **kwargs) == pytest.approx(np.mean(per_class))
    assert mmae(y_true, y_pred, **kwargs) == pytest.approx(np.max(per_class))


@pytest.mark.parametrize("seed", range(3))
def test_weighted_off_by_one_accuracy_matches_direct_formula(seed):
    true_ranks, pred_ranks = _random_labels(200, 6, seed)
    weights = _random_weights(200, seed)
    hits = np.abs(pred_ranks - true_ranks) <= 1
    assert off_by_one_accuracy(
        _named(true_ranks),
        _named(pred_ranks),
        classes=SHUFFLED_ORDER,
        sample_weight=weights,
    ) == pytest.approx(np.sum(weights * hits) / np.sum(weights))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n_classes", [2, 4, 6])
def test_weighted_proba_metrics_match_direct_formula(seed, n_classes):
    true_ranks, proba = _random_proba(100, n_classes, seed)
    weights = _random_weights(100, seed)
    y_true = _named(true_ranks)
    kwargs = {"classes": SHUFFLED_ORDER[:n_classes], "sample_weight": weights}
    expected = _oracle_weighted_rps(true_ranks, proba, weights)
    assert ranked_probability_score(y_true, proba, **kwargs) == pytest.approx(expected)
    assert squared_emd_score(y_true, proba, **kwargs) == pytest.approx(
        expected / n_classes
    )


@pytest.mark.parametrize("seed", range(3))
def test_weighted_squared_emd_score_matches_the_weighted_training_loss(seed):
    y_true, proba = _random_proba(100, 5, seed)
    weights = _random_weights(100, seed)
    loss = squared_emd_loss(
        torch.as_tensor(proba),
        torch.as_tensor(y_true),
        from_logits=False,
        sample_weight=torch.as_tensor(weights),
    )
    assert squared_emd_score(
        y_true, proba, classes=range(5), sample_weight=weights
    ) == pytest.approx(loss.item(), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("metric", ALL_METRICS)
def test_integer_weights_equal_repeated_rows(metric, seed):
    y_true, second = _inputs(metric, 50, seed)
    counts = np.random.default_rng(seed + 7).integers(0, 4, 50)
    repeated = metric(
        np.repeat(y_true, counts), np.repeat(second, counts, axis=0), classes=range(4)
    )
    assert metric(y_true, second, classes=range(4), sample_weight=counts) == (
        pytest.approx(repeated, rel=1e-12, abs=1e-12)
    )


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("metric", ALL_METRICS)
def test_zero_weight_equals_dropping_the_row(metric, seed):
    y_true, second = _inputs(metric, 50, seed)
    weights = _random_weights(50, seed, zero_share=0.4)
    keep = weights > 0
    assert metric(y_true, second, classes=range(4), sample_weight=weights) == (
        pytest.approx(
            metric(
                y_true[keep],
                second[keep],
                classes=range(4),
                sample_weight=weights[keep],
            ),
            rel=1e-12,
            abs=1e-12,
        )
    )


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_equal_weights_give_the_unweighted_metric(metric):
    y_true, second = _inputs(metric, 60, seed=1)
    assert metric(
        y_true, second, classes=range(4), sample_weight=np.full(60, 2.5)
    ) == pytest.approx(metric(y_true, second, classes=range(4)), rel=1e-12)


def test_boolean_weights_select_rows():
    y_true, y_pred = _random_labels(40, 4, seed=5)
    mask = np.arange(40) % 3 == 0
    assert mae(y_true, y_pred, classes=range(4), sample_weight=mask) == (
        pytest.approx(mae(y_true[mask], y_pred[mask], classes=range(4)))
    )


def test_weighted_amae_leaves_out_a_class_of_zero_weight():
    y_true, y_pred = [0, 0, 1, 2], [0, 1, 0, 0]
    weights = [1.0, 3.0, 0.0, 1.0]
    # Class 0: (0 * 1 + 1 * 3) / 4; class 1 weighs nothing; class 2: 2.
    assert amae(y_true, y_pred, classes=[0, 1, 2], sample_weight=weights) == (
        pytest.approx((0.75 + 2.0) / 2)
    )
    assert mmae(y_true, y_pred, classes=[0, 1, 2], sample_weight=weights) == 2.0
    assert amae(y_true, y_pred, classes=[0, 1, 2]) == pytest.approx((0.5 + 1 + 2) / 3)


def test_weighted_qwk_is_one_when_the_weighted_samples_are_one_class():
    y_true, y_pred = [1, 1, 0, 2], [1, 1, 2, 0]
    assert qwk(y_true, y_pred, sample_weight=[1.0, 2.0, 0.0, 0.0]) == 1.0
    assert qwk(y_true, y_pred, sample_weight=[1.0, 2.0, 1.0, 0.0]) < 1.0


@pytest.mark.parametrize("scale", [1e-300, 1e300])
@pytest.mark.parametrize("metric", ALL_METRICS)
def test_the_scale_of_the_weights_does_not_change_the_score(metric, scale):
    y_true, second = _inputs(metric, 60, seed=2)
    weights = _random_weights(60, seed=2)
    expected = metric(y_true, second, classes=range(4), sample_weight=weights)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scaled = metric(y_true, second, classes=range(4), sample_weight=scale * weights)
    assert scaled == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_the_largest_equal_weights_give_the_unweighted_score(metric):
    y_true, second = _inputs(metric, 60, seed=3)
    expected = metric(y_true, second, classes=range(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        huge = metric(
            y_true, second, classes=range(4), sample_weight=np.full(60, 1e308)
        )
    assert huge == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_ordinal_report_keeps_totals_in_the_units_of_the_weights(scale):
    true_ranks, pred_ranks = _random_labels(80, 4, seed=6)
    weights = _random_weights(80, seed=6)
    plain = ordinal_report(
        true_ranks, pred_ranks, sample_weight=weights, output_dict=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scaled = ordinal_report(
            true_ranks, pred_ranks, sample_weight=scale * weights, output_dict=True
        )
    assert scaled["support"] == pytest.approx(scale * plain["support"], rel=1e-12)
    for k in map(str, range(4)):
        assert scaled[k]["support"] == pytest.approx(
            scale * plain[k]["support"], rel=1e-12
        )
        assert scaled[k]["recall"] == pytest.approx(plain[k]["recall"], rel=1e-12)
        assert scaled[k]["mae"] == pytest.approx(plain[k]["mae"], rel=1e-12)
    for key in REPORT_METRICS:
        assert scaled[key] == pytest.approx(plain[key], rel=1e-12, abs=1e-12)


BAD_WEIGHTS = [
    pytest.param(
        [1.0, 2.0],
        "sample_weight has 2 values for 3 samples",
        id="too-short",
    ),
    pytest.param(
        [1.0, 2.0, 3.0, 4.0],
        "sample_weight has 4 values for 3 samples",
        id="too-long",
    ),
    pytest.param(
        [[1.0], [1.0], [1.0]],
        r"1-D array of shape \(n_samples,\); got shape \(3, 1\)",
        id="2-D",
    ),
    pytest.param(
        2.0, r"1-D array of shape \(n_samples,\); got shape \(\)", id="scalar"
    ),
    pytest.param(
        [[1.0], [1.0, 2.0], 3.0],
        "sample_weight must be a 1-D array of numbers",
        id="ragged",
    ),
    pytest.param(
        [1.0, np.nan, 1.0],
        r"NaN or infinity \(first at position 1\), a weight of nan",
        id="nan",
    ),
    pytest.param(
        [1.0, 1.0, np.inf],
        r"NaN or infinity \(first at position 2\), a weight of inf",
        id="inf",
    ),
    pytest.param(
        [1.0, None, 1.0],
        r"NaN or infinity \(first at position 1\), a weight of nan",
        id="none",
    ),
    pytest.param(
        [1.0, -0.5, 1.0],
        r"negative weights \(first at position 1: -0.5\)",
        id="negative",
    ),
    pytest.param([0, 0, 0], "sample_weight is zero for every sample", id="all-zero"),
    pytest.param(
        [0.0, -0.0, 0.0], "sample_weight is zero for every sample", id="signed-zeros"
    ),
    pytest.param(
        ["heavy", "light", "x"],
        "sample_weight must be numeric; got dtype <U5",
        id="strings",
    ),
    pytest.param([1.0, "x", 2.0], "sample_weight must be numeric", id="mixed"),
    pytest.param(
        np.array([1, object(), 2], dtype=object),
        "must be numeric; got dtype object",
        id="objects",
    ),
    pytest.param(
        [1 + 1j, 1.0, 1.0], "must be numeric; got dtype complex128", id="complex"
    ),
]


@pytest.mark.parametrize("sample_weight, message", BAD_WEIGHTS)
@pytest.mark.parametrize("metric", ALL_METRICS)
def test_bad_sample_weight_is_named(metric, sample_weight, message):
    second = np.eye(3) if metric in PROBA_METRICS else [0, 2, 2]
    with pytest.raises(ValueError, match=message):
        metric([0, 1, 2], second, classes=[0, 1, 2], sample_weight=sample_weight)


# --- scorers with sample weights ---------------------------------------------


def _response(name, estimator, X):
    if name in PROBA_SCORERS:
        return estimator.predict_proba(X)
    return estimator.predict(X)


def _score_request(scorer):
    return scorer.get_metadata_routing().score.requests


@pytest.mark.parametrize("name", sorted(ALL_SCORERS))
def test_scorers_pass_sample_weight_to_the_metric(name):
    scorer, metric, sign = ALL_SCORERS[name]
    X, y = _ordinal_data(noise=1.0)
    weights = _random_weights(len(y), seed=0)
    clf = LogisticRegression().fit(X, y)
    response = _response(name, clf, X)
    weighted = sign * metric(y, response, classes=clf, sample_weight=weights)
    assert scorer(clf, X, y, sample_weight=weights) == pytest.approx(weighted)
    assert weighted != pytest.approx(sign * metric(y, response, classes=clf))
    assert scorer(clf, X, y, sample_weight=None) == scorer(clf, X, y)


def test_scorer_sample_weight_is_keyword_only():
    X, y = _ordinal_data()
    clf = LogisticRegression().fit(X, y)
    with pytest.raises(TypeError):
        neg_mae_scorer(clf, X, y, np.ones(len(y)))


def test_scorer_rejects_bad_sample_weight():
    X, y = _ordinal_data()
    clf = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="sample_weight has 3 values for"):
        qwk_scorer(clf, X, y, sample_weight=[1.0, 1.0, 1.0])


def _routed_cross_validate(name, request, X, y, weights, cv):
    """cross_validate with routing, weights for the fit and, as asked, the scorer."""
    with config_context(enable_metadata_routing=True):
        scorer = get_scorer(name).set_score_request(sample_weight=request)
        return cross_validate(
            LogisticRegression().set_fit_request(sample_weight=True),
            X,
            y,
            scoring=scorer,
            cv=cv,
            params={"sample_weight": weights},
            return_estimator=True,
        )


@pytest.mark.parametrize("name", sorted(ALL_SCORERS))
def test_routed_sample_weight_reaches_the_scorer_on_each_test_fold(name):
    _, metric, sign = ALL_SCORERS[name]
    X, y = _ordinal_data(noise=1.0)
    weights = _random_weights(len(y), seed=1)
    cv = KFold(3, shuffle=True, random_state=0)
    result = _routed_cross_validate(name, True, X, y, weights, cv)
    weighted, unweighted = [], []
    for fold, (_, test) in enumerate(cv.split(X, y)):
        model = result["estimator"][fold]
        response = _response(name, model, X[test])
        weighted.append(
            sign * metric(y[test], response, classes=model, sample_weight=weights[test])
        )
        unweighted.append(sign * metric(y[test], response, classes=model))
    assert result["test_score"] == pytest.approx(weighted)
    assert not np.allclose(weighted, unweighted)


def test_routed_sample_weight_under_an_alias():
    X, y = _ordinal_data(noise=2.0)
    weights = _random_weights(len(y), seed=2)
    cv = KFold(3, shuffle=True, random_state=0)
    with config_context(enable_metadata_routing=True):
        scorer = get_scorer("neg_amae").set_score_request(sample_weight="test_weight")
        result = cross_validate(
            LogisticRegression(),
            X,
            y,
            scoring={"amae": scorer, "acc": "accuracy"},
            cv=cv,
            params={"test_weight": weights},
            return_estimator=True,
        )
    for fold, (_, test) in enumerate(cv.split(X, y)):
        model = result["estimator"][fold]
        assert result["test_amae"][fold] == pytest.approx(
            -amae(
                y[test],
                model.predict(X[test]),
                classes=model,
                sample_weight=weights[test],
            )
        )


def test_routed_sample_weight_not_requested_by_the_scorer_is_an_error():
    X, y = _ordinal_data()
    with config_context(enable_metadata_routing=True):
        with pytest.raises(ValueError, match=r"_OrdinalScorer\(mae.*set_score_request"):
            cross_validate(
                LogisticRegression().set_fit_request(sample_weight=True),
                X,
                y,
                scoring=get_scorer("neg_mae"),
                cv=3,
                params={"sample_weight": np.ones(len(y))},
            )


def test_routed_sample_weight_declined_by_the_scorer_is_not_used():
    X, y = _ordinal_data(noise=2.0)
    weights = _random_weights(len(y), seed=3)
    cv = KFold(3, shuffle=True, random_state=0)
    result = _routed_cross_validate("neg_mae", False, X, y, weights, cv)
    for fold, (_, test) in enumerate(cv.split(X, y)):
        model = result["estimator"][fold]
        assert result["test_score"][fold] == pytest.approx(
            -mae(y[test], model.predict(X[test]), classes=model)
        )


def test_cross_validate_without_routing_scores_unweighted():
    # Without metadata routing, cross_validate passes params to fit only.
    X, y = _ordinal_data(noise=2.0)
    weights = _random_weights(len(y), seed=4)
    cv = KFold(3, shuffle=True, random_state=0)
    result = cross_validate(
        LogisticRegression(),
        X,
        y,
        scoring=get_scorer("neg_ranked_probability_score"),
        cv=cv,
        params={"sample_weight": weights},
        return_estimator=True,
    )
    for fold, (_, test) in enumerate(cv.split(X, y)):
        model = result["estimator"][fold]
        assert result["test_score"][fold] == pytest.approx(
            -ranked_probability_score(
                y[test], model.predict_proba(X[test]), classes=model
            )
        )


@pytest.mark.parametrize("multimetric", [False, True])
def test_grid_search_without_routing_weighs_like_sklearn_scorers(multimetric):
    # Without routing, recent scikit-learn searches hand fit's sample_weight to the
    # scorers that take it; ours must do as sklearn's own MAE scorer does (on
    # labels 0 .. K-1 the two metrics are the same). A dict of scorers used to
    # fail here (sklearn asks each scorer _accept_sample_weight()).
    X, y = _ordinal_data(noise=2.0)
    weights = _random_weights(len(y), seed=5)
    cv = KFold(3, shuffle=True, random_state=0)

    def search(scoring):
        return GridSearchCV(
            LogisticRegression(), {"C": [0.1, 1.0]}, scoring=scoring, cv=cv, refit=False
        ).fit(X, y, sample_weight=weights)

    if multimetric:
        results = search(
            {"ours": neg_mae_scorer, "sklearn": "neg_mean_absolute_error"}
        ).cv_results_
        ours, theirs = results["mean_test_ours"], results["mean_test_sklearn"]
    else:
        ours = search(neg_mae_scorer).cv_results_["mean_test_score"]
        theirs = search("neg_mean_absolute_error").cv_results_["mean_test_score"]
    assert ours == pytest.approx(theirs, rel=1e-12)


def test_set_score_request_needs_metadata_routing():
    with pytest.raises(RuntimeError, match="only available when metadata routing"):
        get_scorer("qwk").set_score_request(sample_weight=True)


def test_set_score_request_rejects_bad_values():
    with config_context(enable_metadata_routing=True):
        scorer = get_scorer("qwk")
        with pytest.raises(ValueError, match="alias"):
            scorer.set_score_request(sample_weight=5)
        with pytest.raises(TypeError):
            scorer.set_score_request(groups=True)
        assert _score_request(scorer) == {"sample_weight": None}


def test_get_scorer_copies_keep_their_requests_to_themselves():
    with config_context(enable_metadata_routing=True):
        mine = get_scorer("neg_mae")
        assert mine.set_score_request(sample_weight=True) is mine
        theirs = get_scorer("neg_mae")
        assert _score_request(mine) == {"sample_weight": True}
        assert _score_request(theirs) == {"sample_weight": None}
        assert _score_request(SCORERS["neg_mae"]) == {"sample_weight": None}
        assert _score_request(neg_mae_scorer) == {"sample_weight": None}
        assert SCORERS["neg_mae"] is neg_mae_scorer


def test_scorer_request_survives_pickling():
    with config_context(enable_metadata_routing=True):
        scorer = get_scorer("qwk").set_score_request(sample_weight=True)
        restored = pickle.loads(pickle.dumps(scorer))
        assert _score_request(restored) == {"sample_weight": True}
    assert repr(restored) == repr(qwk_scorer)


# --- ordinal_report ------------------------------------------------------------

REPORT_METRICS = {
    "mae": mae,
    "amae": amae,
    "mmae": mmae,
    "qwk": qwk,
    "linear_weighted_kappa": linear_weighted_kappa,
    "off_by_one_accuracy": off_by_one_accuracy,
    "spearman_rho": spearman_rho,
    "kendall_tau_b": kendall_tau_b,
    "minimum_sensitivity": minimum_sensitivity,
    "geometric_mean_sensitivity": geometric_mean_sensitivity,
}


@pytest.mark.parametrize("weighted", [False, True])
def test_ordinal_report_scores_are_the_metrics(weighted):
    true_ranks, pred_ranks = _random_labels(90, 5, seed=2)
    _, proba = _random_proba(90, 5, seed=3)
    order = SHUFFLED_ORDER[:5]
    y_true, y_pred = _named(true_ranks), _named(pred_ranks)
    weights = _random_weights(90, seed=2) if weighted else None
    report = ordinal_report(
        y_true,
        y_pred,
        y_proba=proba,
        classes=order,
        sample_weight=weights,
        output_dict=True,
    )
    kwargs = {"classes": order, "sample_weight": weights}
    for key, metric in REPORT_METRICS.items():
        assert report[key] == metric(y_true, y_pred, **kwargs), key
    assert report["ranked_probability_score"] == ranked_probability_score(
        y_true, proba, **kwargs
    )
    assert report["squared_emd_score"] == squared_emd_score(y_true, proba, **kwargs)
    w = np.ones(90) if weights is None else weights
    assert report["accuracy"] == pytest.approx(np.sum(w * (y_true == y_pred)) / w.sum())
    assert report["support"] == pytest.approx(w.sum())


def test_ordinal_report_rows_match_a_direct_count():
    true_ranks, pred_ranks = _random_labels(120, 4, seed=5)
    weights = _random_weights(120, seed=5)
    report = ordinal_report(
        true_ranks, pred_ranks, sample_weight=weights, output_dict=True
    )
    for k in range(4):
        mine = true_ranks == k
        row = report[str(k)]
        assert row["support"] == pytest.approx(weights[mine].sum())
        assert row["predicted"] == pytest.approx(weights[pred_ranks == k].sum())
        assert row["recall"] == pytest.approx(
            weights[mine & (pred_ranks == k)].sum() / weights[mine].sum()
        )
        assert row["mae"] == pytest.approx(
            np.sum(weights[mine] * np.abs(pred_ranks[mine] - k)) / weights[mine].sum()
        )


def test_ordinal_report_text_follows_the_class_order():
    y_true = ["low", "high", "mid", "high", "low"]
    y_pred = ["low", "mid", "mid", "high", "mid"]
    text = ordinal_report(y_true, y_pred, classes=["low", "mid", "high", "top"])
    rows = [line.split() for line in text.splitlines()]
    labels = [row[0] for row in rows[2:6]]
    assert labels == ["low", "mid", "high", "top"]
    # "low": 2 true, 1 predicted right; "top" has no true samples.
    assert rows[2] == ["low", "2", "1", "0.500", "0.500"]
    assert rows[5] == ["top", "0", "0", "-", "-"]
    assert "mean absolute error (MAE)           0.400  (lower is better)" in text
    assert "ranked probability score" not in text
    short = ordinal_report(y_true, y_pred, classes=["low", "mid", "high"], digits=1)
    assert re.search(r"\(MAE\) +0\.4  \(lower is better\)", short)


def test_ordinal_report_dict_has_nan_for_a_class_without_true_samples():
    report = ordinal_report([0, 0, 1], [0, 2, 1], classes=[0, 1, 2], output_dict=True)
    assert report["2"]["support"] == 0.0
    assert report["2"]["predicted"] == 1.0
    assert np.isnan(report["2"]["recall"]) and np.isnan(report["2"]["mae"])


def test_ordinal_report_takes_the_order_of_a_fitted_estimator():
    clf = _Fitted(ORDER)
    report = ordinal_report(
        ["high", "low"], ["mid", "low"], classes=clf, output_dict=True
    )
    assert list(report)[:3] == ORDER
    assert report["mae"] == 0.5


def test_ordinal_report_rejects_bad_input_like_the_metrics():
    with pytest.raises(ValueError, match="y_pred has labels that classes does not"):
        ordinal_report([0, 1], [0, 5], classes=[0, 1, 2])
    with pytest.raises(ValueError, match="y_proba has 2 columns but there are 3"):
        ordinal_report([0, 1], [0, 2], y_proba=[[0.5, 0.5], [1.0, 0.0]])


def test_an_ordered_categorical_gives_the_default_order():
    pd = pytest.importorskip("pandas")
    order = ["lo", "mid", "hi"]
    y_true = pd.Categorical(["lo", "hi", "mid"], categories=order, ordered=True)
    y_pred = ["hi", "hi", "lo"]
    # Errors in the categories' order lo < mid < hi: 2, 0, 1; sorted
    # (hi < lo < mid): 1, 0, 1.
    assert mae(y_true, y_pred) == pytest.approx(1.0)
    assert mae(y_true, y_pred) == mae(y_true, y_pred, classes=order)
    with pytest.warns(ClassOrderWarning):
        assert mae(np.asarray(y_true), y_pred) == pytest.approx(2 / 3)
    # As y_pred too, and inside a Series.
    assert mae(y_pred, pd.Series(y_true)) == pytest.approx(1.0)
    # An explicit order still wins; an unordered Categorical is sorted.
    assert mae(y_true, y_pred, classes=["hi", "lo", "mid"]) == pytest.approx(2 / 3)
    unordered = pd.Categorical(["lo", "hi", "mid"], categories=order)
    with pytest.warns(ClassOrderWarning):
        assert mae(unordered, y_pred) == pytest.approx(2 / 3)
    # Probabilities: the columns follow the estimator, whose order a Categorical
    # does not tell (scikit-learn's classifiers sort the labels), so classes=
    # is needed unless the categories are sorted anyway.
    wide = pd.Categorical(["lo", "hi"], categories=order, ordered=True)
    proba = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    with pytest.raises(ValueError, match="pass classes="):
        ranked_probability_score(wide, proba)
    sorted_order = pd.Categorical(["a", "c"], categories=["a", "b", "c"], ordered=True)
    assert ranked_probability_score(sorted_order, proba) == pytest.approx(
        ranked_probability_score(["a", "c"], proba, classes=["a", "b", "c"])
    )
    report = ordinal_report(y_true, y_pred, output_dict=True)
    assert list(report)[:3] == order


def test_scorers_take_dask_mls_metric_call():
    # dask-ml's Incremental.score calls a scorer as a metric, with compute=.
    y_true = np.array([0, 1, 2, 3, 3])
    y_pred = np.array([0, 2, 2, 1, 3])
    scorer = get_scorer("neg_mae")
    assert scorer(y_true, y_pred, compute=True) == -mae(y_true, y_pred)
    with pytest.raises(TypeError, match="probabilities.*scorer\\(incremental, X, y\\)"):
        get_scorer("neg_ranked_probability_score")(y_true, y_pred, compute=False)
