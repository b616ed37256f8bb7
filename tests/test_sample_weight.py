"""Sample weights in ``fit`` and ``partial_fit``, and class weights."""

import numpy as np
import pytest
import torch
from conftest import fast_classifier, ordinal_problem
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from skemd import EMDClassifier
from skemd._data import InMemoryDataset, TensorBatches, WeightedTarget
from skemd._net import DECAY_KEY
from skemd.callbacks import _weighted_shares
from skemd.ground_distance import (
    _accumulate_class_sums,
    _distance_from_class_sums,
    learned_distance,
)
from skemd.metrics import get_scorer

# Short fits: the warning that max_iter ran out is expected.
pytestmark = pytest.mark.usefixtures("quiet_convergence")


def _counts(n_samples, seed=1):
    return np.random.default_rng(seed).integers(0, 4, size=n_samples)


# Training runs in float32: weights and repeated rows sum the same terms in
# another order, which moves the probabilities by about 1e-6 relative.
RTOL = 1e-5


@pytest.mark.parametrize("ground_distance", ["ordinal", "uniform", "learned"])
def test_integer_weights_equal_repeated_rows(device, ground_distance):
    X, y = ordinal_problem(120)
    w = _counts(len(y))
    # One batch holds all the data, so both fits take the same steps.
    params = dict(
        batch_size=1000, ground_distance=ground_distance, warmup_epochs=3, device=device
    )
    weighted = fast_classifier(**params).fit(X, y, sample_weight=w)
    repeated = fast_classifier(**params).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(
        weighted.predict_proba(X), repeated.predict_proba(X), rtol=RTOL, atol=1e-7
    )
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=RTOL)
    np.testing.assert_allclose(weighted.ground_distance_, repeated.ground_distance_)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"early_stopping": True},
        {"ground_distance": "learned", "warmup_epochs": 3},
        {"solver": "sgd", "batch_size": 16},
    ],
)
def test_zero_weight_equals_leaving_the_sample_out(device, params):
    X, y = ordinal_problem(n_samples=200)
    w = np.ones(len(y))
    w[::3] = 0
    kept = w > 0
    weighted = fast_classifier(device=device, **params).fit(X, y, sample_weight=w)
    subset = fast_classifier(device=device, **params).fit(X[kept], y[kept])
    np.testing.assert_array_equal(weighted.predict_proba(X), subset.predict_proba(X))
    assert weighted.loss_curve_ == subset.loss_curve_
    assert weighted.t_ == subset.t_


def test_unit_weights_equal_no_weights():
    X, y = ordinal_problem(120)
    weighted = fast_classifier().fit(X, y, sample_weight=np.ones(len(y)))
    plain = fast_classifier().fit(X, y)
    np.testing.assert_array_equal(weighted.predict_proba(X), plain.predict_proba(X))


def test_constant_weights_other_than_one_are_weights():
    # Weights of 2 count every sample twice: the loss is unchanged, the L2
    # penalty's n_samples doubles.
    X, y = ordinal_problem(120)
    doubled = fast_classifier(alpha=10.0).fit(X, y, sample_weight=np.full(len(y), 2.0))
    plain = fast_classifier(alpha=10.0).fit(X, y)
    halved = fast_classifier(alpha=5.0).fit(X, y)
    np.testing.assert_allclose(
        doubled.predict_proba(X), halved.predict_proba(X), rtol=RTOL, atol=1e-7
    )
    assert not np.allclose(doubled.predict_proba(X), plain.predict_proba(X))


def test_weights_move_the_predictions():
    X, y = ordinal_problem(n_samples=400)
    top = y.max()
    heavy = np.where(y == top, 20.0, 1.0)
    plain = fast_classifier().fit(X, y)
    weighted = fast_classifier().fit(X, y, sample_weight=heavy)
    assert (weighted.predict(X) == top).sum() > (plain.predict(X) == top).sum()
    assert (
        weighted.predict_proba(X)[:, -1].mean() > plain.predict_proba(X)[:, -1].mean()
    )


def test_penalty_counts_the_weights():
    X, y = ordinal_problem(120)
    w = _counts(len(y)) + 0.5
    clf = fast_classifier(alpha=0.3).fit(X, y, sample_weight=w)
    group = clf.net_.optimizer_.param_groups[0]
    assert group[DECAY_KEY] == pytest.approx(0.3 / w.sum())
    clf = fast_classifier(alpha=0.3).partial_fit(
        X, y, sample_weight=2 * w, classes=[0, 1, 2, 3]
    )
    assert group is not clf.net_.optimizer_.param_groups[0]
    assert clf.net_.optimizer_.param_groups[0][DECAY_KEY] == pytest.approx(
        0.3 / (2 * w.sum())
    )


def test_partial_fit_weights_equal_repeated_rows():
    X, y = ordinal_problem(120)
    w = _counts(len(y))
    weighted, repeated = (
        fast_classifier(batch_size=1000),
        fast_classifier(batch_size=1000),
    )
    for _ in range(5):
        weighted.partial_fit(X, y, sample_weight=w, classes=[0, 1, 2, 3])
        repeated.partial_fit(
            np.repeat(X, w, axis=0), np.repeat(y, w), classes=[0, 1, 2, 3]
        )
    np.testing.assert_allclose(
        weighted.predict_proba(X), repeated.predict_proba(X), rtol=RTOL, atol=1e-7
    )


def test_partial_fit_positional_order_matches_mlpclassifier():
    X, y = ordinal_problem(120)
    clf = fast_classifier().partial_fit(X, y, np.ones(len(y)), [0, 1, 2, 3])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2, 3])


def test_sample_weight_through_a_pipeline():
    X, y = ordinal_problem(120)
    w = _counts(len(y)) + 1.0
    pipe = make_pipeline(StandardScaler(), fast_classifier())
    pipe.fit(X, y, emdclassifier__sample_weight=w)
    direct = fast_classifier().fit(
        StandardScaler().fit_transform(X), y, sample_weight=w
    )
    np.testing.assert_array_equal(
        pipe.predict_proba(X),
        direct.predict_proba(StandardScaler().fit(X).transform(X)),
    )


@pytest.mark.parametrize(
    "weights, message",
    [
        (lambda n: -np.ones(n), "negative weights"),
        (lambda n: np.full(n, np.nan), "NaN"),
        (lambda n: np.full(n, np.inf), "infinity"),
        (lambda n: np.ones(n - 1), "sample_weight has 119 values for 120 samples"),
        (lambda n: np.zeros(n), "zero for every sample"),
        (lambda n: np.full(n, 1e-45), r"sums to \S+e-43.*overflows float32"),
    ],
)
def test_bad_sample_weight_is_named(weights, message):
    X, y = ordinal_problem(120)
    with pytest.raises(ValueError, match=message):
        fast_classifier().fit(X, y, sample_weight=weights(len(y)))
    with pytest.raises(ValueError, match=message):
        fast_classifier().partial_fit(
            X, y, sample_weight=weights(len(y)), classes=[0, 1, 2, 3]
        )


def test_batches_carry_the_weights_of_their_rows():
    X = torch.arange(10.0)[:, None]
    y = torch.arange(10) % 3
    w = torch.arange(10.0) / 10
    for shuffle in (False, True):
        batches = list(TensorBatches(InMemoryDataset(X, y, w), 4, shuffle))
        for Xi, yi in batches:
            assert isinstance(yi, WeightedTarget)
            rows = Xi[:, 0].long()
            torch.testing.assert_close(yi.target, y[rows])
            torch.testing.assert_close(yi.weight, w[rows])
        assert sorted(torch.cat([b[0][:, 0] for b in batches]).tolist()) == list(
            range(10)
        )


def test_weighted_shares_give_weighted_centroids():
    rng = np.random.default_rng(0)
    features = torch.from_numpy(rng.random((30, 5)))
    y = torch.from_numpy(rng.integers(0, 4, size=30))
    w = torch.from_numpy(rng.integers(1, 4, size=30)).float()
    shares = _weighted_shares(y, w, 4)
    np.testing.assert_array_equal(shares.sum(dim=1), w)
    np.testing.assert_array_equal(shares.argmax(dim=1), y)
    sums, counts = _accumulate_class_sums(features, shares, 4)
    # Integer weights: the same centroids and distance as repeated rows.
    repeat = torch.repeat_interleave(torch.arange(30), w.long())
    expected_sums, expected_counts = _accumulate_class_sums(
        features[repeat], y[repeat], 4
    )
    torch.testing.assert_close(sums, expected_sums)
    torch.testing.assert_close(counts, expected_counts.to(counts.dtype))
    torch.testing.assert_close(
        _distance_from_class_sums(sums, counts, 1.0),
        learned_distance(features[repeat], y[repeat], 4, power=1.0).to(sums.dtype),
    )


# ------------------------------------------------------------------ class_weight


def test_class_weight_dict_equals_the_sample_weights_it_gives():
    X, y = ordinal_problem(120)
    weights = {0: 2.0, 3: 0.5}
    by_class = fast_classifier(class_weight=weights).fit(X, y)
    per_sample = np.array([weights.get(label, 1.0) for label in y])
    by_sample = fast_classifier().fit(X, y, sample_weight=per_sample)
    np.testing.assert_array_equal(by_class.predict_proba(X), by_sample.predict_proba(X))


def test_balanced_class_weight_equals_compute_sample_weight():
    X, y = ordinal_problem(n_samples=200)
    y = np.where(y == 3, 2, y)
    keep = (y != 0) | (np.arange(len(y)) % 4 == 0)  # a rare class 0
    X, y = X[keep], y[keep]
    balanced = fast_classifier(class_weight="balanced").fit(X, y)
    expected = compute_sample_weight("balanced", y)
    by_sample = fast_classifier().fit(X, y, sample_weight=expected)
    np.testing.assert_array_equal(balanced.predict_proba(X), by_sample.predict_proba(X))


def test_balanced_ignores_a_class_without_samples():
    X, y = ordinal_problem(120)
    y = np.where(y == 3, 2, y)
    balanced = fast_classifier(class_weight="balanced", classes=[0, 1, 2, 3]).fit(X, y)
    by_sample = fast_classifier(classes=[0, 1, 2, 3]).fit(
        X, y, sample_weight=compute_sample_weight("balanced", y)
    )
    np.testing.assert_array_equal(balanced.predict_proba(X), by_sample.predict_proba(X))


def test_class_weight_multiplies_sample_weight():
    X, y = ordinal_problem(120)
    w = _counts(len(y)) + 0.5
    both = fast_classifier(class_weight={1: 3.0}).fit(X, y, sample_weight=w)
    product = fast_classifier().fit(X, y, sample_weight=w * np.where(y == 1, 3.0, 1.0))
    np.testing.assert_allclose(
        both.predict_proba(X), product.predict_proba(X), rtol=RTOL, atol=1e-7
    )


def test_partial_fit_takes_a_class_weight_dict():
    X, y = ordinal_problem(120)
    weights = {2: 4.0}
    by_class = fast_classifier(class_weight=weights).partial_fit(
        X, y, classes=[0, 1, 2, 3]
    )
    by_sample = fast_classifier().partial_fit(
        X, y, sample_weight=np.where(y == 2, 4.0, 1.0), classes=[0, 1, 2, 3]
    )
    np.testing.assert_array_equal(by_class.predict_proba(X), by_sample.predict_proba(X))
    with pytest.raises(ValueError, match="partial_fit does not see"):
        fast_classifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2, 3])


@pytest.mark.parametrize(
    "class_weight, message",
    [
        ({7: 1.0}, r"not classes: \[7\]"),
        ({1: -1.0}, "negative"),
        ({1: float("nan")}, "finite number"),
        ({1: "heavy"}, "finite number"),
        ({0: 0, 1: 0, 2: 0, 3: 0}, "every sample with weight zero"),
        ("uniform", "class_weight"),
    ],
)
def test_bad_class_weight_is_named(class_weight, message):
    X, y = ordinal_problem(120)
    with pytest.raises(ValueError, match=message):
        fast_classifier(class_weight=class_weight).fit(X, y)


def test_grid_search_over_class_weight():
    X, y = ordinal_problem(n_samples=160)
    search = GridSearchCV(
        fast_classifier(max_iter=5),
        {"class_weight": [None, "balanced"]},
        scoring=get_scorer("neg_amae"),
        cv=2,
    ).fit(X, y)
    assert search.best_params_["class_weight"] in (None, "balanced")
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_metadata_routing_sends_each_folds_weights_to_fit():
    import sklearn
    from sklearn.model_selection import KFold, cross_validate

    X, y = ordinal_problem(n_samples=120)
    w = np.random.default_rng(3).integers(1, 4, size=len(y)).astype(float)
    cv = KFold(3, shuffle=True, random_state=0)
    params = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        clf = (
            EMDClassifier(**params)
            .set_fit_request(sample_weight=True)
            .set_score_request(sample_weight=False)
        )
        result = cross_validate(
            clf, X, y, cv=cv, params={"sample_weight": w}, return_estimator=True
        )
    for fitted, (train, _) in zip(result["estimator"], cv.split(X), strict=True):
        direct = EMDClassifier(**params).fit(X[train], y[train], w[train])
        np.testing.assert_array_equal(fitted.predict_proba(X), direct.predict_proba(X))
