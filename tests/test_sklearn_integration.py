"""EMDClassifier inside scikit-learn's meta-estimators and inspection tools."""

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import BaggingClassifier, StackingClassifier, VotingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.inspection import partial_dependence, permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_val_predict

from skemd import EMDClassifier
from skemd.metrics import neg_mae_scorer

pytestmark = pytest.mark.usefixtures("quiet_convergence")

ORDER = ["low", "mid", "high", "top"]


def _small(**params):
    return EMDClassifier(
        hidden_layer_sizes=(16,), max_iter=40, random_state=0, **params
    )


@pytest.fixture
def named_4(ordinal_4):
    """The 4-class problem with string labels whose order is not alphabetical."""
    X, y = ordinal_4
    return X, np.array(ORDER)[y]


def test_calibration_keeps_each_column_with_its_label(named_4):
    X, y = named_4
    clf = _small(classes=ORDER).fit(X, y)
    calibrated = CalibratedClassifierCV(FrozenEstimator(clf), method="sigmoid")
    calibrated.fit(X, y)
    # The calibrator lists the labels sorted; each of its columns must follow
    # the estimator's column for the same label, not the one at the same place.
    base, recalibrated = clf.predict_proba(X), calibrated.predict_proba(X)
    for label in ORDER:
        mine = recalibrated[:, list(calibrated.classes_).index(label)]
        same_label = base[:, list(clf.classes_).index(label)]
        assert spearmanr(mine, same_label).statistic > 0.9
    # Cross-validated calibration fits clones on the original labels.
    fitted = CalibratedClassifierCV(_small(classes=ORDER), cv=3).fit(X, y)
    assert set(fitted.predict(X)) <= set(ORDER)


def test_soft_voting_averages_the_probabilities(ordinal_4):
    X, y = ordinal_4
    voting = VotingClassifier(
        [("emd", _small()), ("logistic", LogisticRegression())], voting="soft"
    ).fit(X, y)
    expected = np.mean([est.predict_proba(X) for est in voting.estimators_], axis=0)
    np.testing.assert_allclose(voting.predict_proba(X), expected, rtol=1e-6)
    np.testing.assert_array_equal(voting.classes_, [0, 1, 2, 3])


def test_bagging_averages_networks_fitted_on_bootstrap_samples(ordinal_4):
    X, y = ordinal_4
    bagging = BaggingClassifier(_small(), n_estimators=3, random_state=0).fit(X, y)
    expected = np.mean(
        [
            net.predict_proba(X[:, features])
            for net, features in zip(
                bagging.estimators_, bagging.estimators_features_, strict=True
            )
        ],
        axis=0,
    )
    np.testing.assert_allclose(bagging.predict_proba(X), expected, rtol=1e-6)
    # Each network saw its own bootstrap sample: they differ.
    first, second = (net.predict_proba(X) for net in bagging.estimators_[:2])
    assert not np.allclose(first, second)


def test_stacking_learns_from_the_class_probabilities(ordinal_4):
    X, y = ordinal_4
    stacking = StackingClassifier(
        [("emd", _small()), ("logistic", LogisticRegression())], cv=3
    ).fit(X, y)
    # Two estimators times four probability columns feed the final estimator.
    assert stacking.transform(X).shape == (len(y), 8)
    assert np.mean(stacking.predict(X) == y) > 0.6


@pytest.mark.parametrize(
    "make_meta",
    [
        lambda est: BaggingClassifier(est, n_estimators=2, random_state=0),
        lambda est: VotingClassifier([("emd", est)], voting="soft"),
    ],
    ids=["bagging", "voting"],
)
def test_meta_estimator_that_encodes_the_labels_is_named(named_4, make_meta):
    # These meta-estimators replace string labels by their positions in sorted
    # order, which would train on the wrong class order: an error says so.
    X, y = named_4
    with pytest.raises(ValueError, match="meta-estimator that encodes the labels"):
        make_meta(_small(classes=ORDER)).fit(X, y)


def test_cross_val_predict_with_string_order_is_named(named_4):
    X, y = named_4
    with pytest.raises(ValueError, match=r"y holds integers 0\.\.3 in place"):
        cross_val_predict(_small(classes=ORDER), X, y, method="predict_proba")


def test_unknown_integer_labels_get_no_meta_estimator_advice():
    X = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="does not cover") as info:
        _small(classes=[1, 2, 3]).fit(X, [0, 1, 2, 3])
    assert "meta-estimator" not in str(info.value)
    with pytest.raises(ValueError, match="does not cover") as info:
        _small(classes=["a", "b"]).fit(X, [0, 1, 2, 3])
    assert "meta-estimator" not in str(info.value)


def test_cross_val_predict_equals_fitting_each_fold(ordinal_4):
    X, y = ordinal_4
    cv = KFold(3, shuffle=True, random_state=0)
    predicted = cross_val_predict(_small(), X, y, cv=cv, method="predict_proba")
    expected = np.empty_like(predicted)
    for train, test in cv.split(X):
        expected[test] = clone(_small()).fit(X[train], y[train]).predict_proba(X[test])
    np.testing.assert_array_equal(predicted, expected)


def test_grid_search_in_worker_processes_matches_one_process(ordinal_4):
    X, y = ordinal_4
    grid = {"ground_distance": ["ordinal", "uniform"], "alpha": [1e-4, 1e-2]}
    serial = GridSearchCV(_small(), grid, cv=2, scoring=neg_mae_scorer).fit(X, y)
    parallel = GridSearchCV(_small(), grid, cv=2, scoring=neg_mae_scorer, n_jobs=2).fit(
        X, y
    )
    np.testing.assert_array_equal(
        serial.cv_results_["mean_test_score"], parallel.cv_results_["mean_test_score"]
    )
    assert serial.best_params_ == parallel.best_params_


def test_permutation_importance_finds_the_informative_feature(ordinal_4):
    X, y = ordinal_4  # the classes are cut from feature 0 alone
    clf = _small().fit(X, y)
    result = permutation_importance(
        clf, X, y, scoring=neg_mae_scorer, n_repeats=3, random_state=0
    )
    assert np.argmax(result.importances_mean) == 0
    assert result.importances_mean[0] > 5 * np.abs(result.importances_mean[1:]).max()


def test_partial_dependence_gives_one_curve_per_class(ordinal_4):
    X, y = ordinal_4
    clf = _small().fit(X, y)
    result = partial_dependence(
        clf, X, [0], response_method="predict_proba", grid_resolution=10
    )
    curves = result["average"]
    assert curves.shape == (4, 10)
    np.testing.assert_allclose(curves.sum(axis=0), 1.0, rtol=1e-5)
    # The classes rise with feature 0: the expected class climbs along the grid
    # (from the 5th to the 95th percentile of the feature), step by step.
    expected_class = np.arange(4) @ curves
    assert np.all(np.diff(expected_class) > 0)
    assert expected_class[-1] - expected_class[0] > 1.5
