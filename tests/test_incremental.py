"""Training in several calls: ``partial_fit`` and ``warm_start``."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import fast_classifier, ordinal_problem
from sklearn.base import clone

from skemd._net import DECAY_KEY


def _weights(clf):
    return [p.detach().cpu().clone() for p in clf.net_.module_.parameters()]


# Short fits: the warning that max_iter ran out is expected.
pytestmark = pytest.mark.usefixtures("quiet_convergence")


CLASSES = [0, 1, 2, 3]

# ------------------------------------------------------------------ partial_fit


def test_one_partial_fit_call_is_one_epoch_of_fit(device):
    X, y = ordinal_problem(240)
    fitted = fast_classifier(max_iter=1, device=device).fit(X, y)
    partial = fast_classifier(device=device).partial_fit(X, y, classes=CLASSES)
    assert partial.n_iter_ == 1
    np.testing.assert_array_equal(partial.predict_proba(X), fitted.predict_proba(X))


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_partial_fit_calls_continue_the_optimiser(device, solver):
    # Without shuffling no randomness is drawn after the initialisation, so k calls
    # of one epoch reproduce k epochs of fit only if the weights and the optimiser
    # state (Adam's moments, SGD's momentum) carry over between calls.
    X, y = ordinal_problem(240)
    params = dict(shuffle=False, solver=solver, batch_size=64, device=device)
    fitted = fast_classifier(max_iter=4, **params).fit(X, y)
    assert fitted.n_iter_ == 4
    partial = fast_classifier(**params)
    for _ in range(4):
        partial.partial_fit(X, y, classes=CLASSES)
    assert partial.n_iter_ == 4
    np.testing.assert_allclose(partial.loss_curve_, fitted.loss_curve_, rtol=1e-6)
    for a, b in zip(_weights(partial), _weights(fitted), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_partial_fit_records_run_over_calls():
    X, y = ordinal_problem(240)
    clf = fast_classifier()
    for call in range(1, 6):
        clf.partial_fit(X, y, classes=CLASSES)
        assert clf.n_iter_ == call
        assert len(clf.loss_curve_) == call
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.loss_ == clf.loss_curve_[-1]
    assert clf.t_ == 5 * len(X)
    assert clf.validation_scores_ is None
    np.testing.assert_array_equal(clf.classes_, CLASSES)


def test_partial_fit_learns_from_chunks():
    X, y = ordinal_problem(n_samples=600)
    X_test, y_test = X[400:], y[400:]
    clf = fast_classifier(hidden_layer_sizes=(32,))
    for _ in range(20):
        for chunk in np.array_split(np.arange(400), 4):
            clf.partial_fit(X[chunk], y[chunk], classes=CLASSES)
    assert clf.n_iter_ == 80
    majority = np.abs(y_test - np.bincount(y[:400]).argmax()).mean()
    mae = np.abs(clf.predict(X_test) - y_test).mean()
    assert mae < 0.5 * majority


def test_chunk_without_some_classes():
    X, y = ordinal_problem(240)
    low = y <= 1
    clf = fast_classifier().partial_fit(X[low], y[low], classes=CLASSES)
    assert clf.predict_proba(X).shape == (len(X), 4)
    clf.partial_fit(X[~low], y[~low])
    assert set(np.unique(clf.predict(X))) <= set(CLASSES)


def test_penalty_and_batch_size_follow_each_call():
    X, y = ordinal_problem(240)
    clf = fast_classifier(alpha=0.3).partial_fit(X, y, classes=CLASSES)
    group = clf.net_.optimizer_.param_groups[0]
    assert group[DECAY_KEY] == pytest.approx(0.3 / len(X))
    assert clf.net_.batch_size == 200
    clf.partial_fit(X[:50], y[:50])
    assert group[DECAY_KEY] == pytest.approx(0.3 / 50)
    assert clf.net_.batch_size == 50


def test_partial_fit_takes_the_class_order_from_the_parameter():
    X, y = ordinal_problem(240)
    clf = fast_classifier(classes=[3, 2, 1, 0]).partial_fit(X, y)
    np.testing.assert_array_equal(clf.classes_, [3, 2, 1, 0])


def test_partial_fit_takes_the_class_order_from_an_ordered_categorical():
    X, y = ordinal_problem(240)
    names = np.array(["low", "mid", "high", "top"])[y]
    dtype = pd.CategoricalDtype(["low", "mid", "high", "top"], ordered=True)
    clf = fast_classifier().partial_fit(X, pd.Series(names, dtype=dtype))
    np.testing.assert_array_equal(clf.classes_, ["low", "mid", "high", "top"])
    other = pd.CategoricalDtype(["top", "high", "mid", "low"], ordered=True)
    with pytest.raises(ValueError, match="categories"):
        clf.partial_fit(X, pd.Series(names, dtype=other))


def test_partial_fit_needs_the_classes_on_the_first_call():
    X, y = ordinal_problem(240)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        fast_classifier().partial_fit(X, y)


def test_partial_fit_classes_must_not_change():
    X, y = ordinal_problem(240)
    clf = fast_classifier().partial_fit(X, y, classes=CLASSES)
    clf.partial_fit(X, y, classes=CLASSES)
    with pytest.raises(ValueError, match="not the same as on the first call"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="differs from the classes parameter"):
        fast_classifier(classes=[0, 1, 2, 3]).partial_fit(X, y, classes=[3, 2, 1, 0])


def test_partial_fit_unknown_label_is_named():
    X, y = ordinal_problem(240)
    clf = fast_classifier().partial_fit(X, y, classes=CLASSES)
    with pytest.raises(ValueError, match=r"does not cover: \[7\]"):
        clf.partial_fit(X, np.where(y == 3, 7, y))


def test_partial_fit_with_other_features_is_an_error():
    X, y = ordinal_problem(240)
    clf = fast_classifier().partial_fit(X, y, classes=CLASSES)
    with pytest.raises(ValueError, match="X has 2 features"):
        clf.partial_fit(X[:, :2], y)


def test_partial_fit_after_fit_continues_it():
    X, y = ordinal_problem(240)
    clf = fast_classifier(max_iter=5, early_stopping=True).fit(X, y)
    before = _weights(clf)
    n_iter = clf.n_iter_
    clf.partial_fit(X, y)
    assert clf.n_iter_ == n_iter + 1
    assert clf.validation_scores_ is None
    changed = [
        not torch.equal(a, b) for a, b in zip(before, _weights(clf), strict=True)
    ]
    assert any(changed)


def test_partial_fit_survives_pickling():
    X, y = ordinal_problem(240)
    clf = fast_classifier().partial_fit(X, y, classes=CLASSES)
    copy = pickle.loads(pickle.dumps(clf))
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))


def test_clone_forgets_partial_fit():
    X, y = ordinal_problem(240)
    clf = fast_classifier().partial_fit(X, y, classes=CLASSES)
    fresh = clone(clf)
    assert not hasattr(fresh, "net_")
    with pytest.raises(ValueError, match="classes must be passed"):
        fresh.partial_fit(X, y)


def test_partial_fit_learned_distance_warms_up_across_calls():
    X, y = ordinal_problem(240)
    clf = fast_classifier(ground_distance="learned", warmup_epochs=3)
    for _ in range(3):
        clf.partial_fit(X, y, classes=CLASSES)
        assert clf.ground_distance_history_ == []
        np.testing.assert_array_equal(clf.ground_distance_, 1 - np.eye(4))
    for call in range(4, 8):
        clf.partial_fit(X, y)
        assert len(clf.ground_distance_history_) == call - 3
    distance = clf.ground_distance_
    np.testing.assert_allclose(distance, distance.T)
    np.testing.assert_array_equal(np.diag(distance), 0)
    # The loss trains with the matrix learned after the previous call's epoch.
    used = clf.net_.criterion_.ground_distance.cpu().numpy()
    learner = dict(clf.net_.callbacks_)["ground_distance"]
    assert len(learner.distance_history_) == len(clf.ground_distance_history_) + 1
    np.testing.assert_allclose(
        np.where(np.eye(4, dtype=bool), 1.0, used),
        np.where(np.eye(4, dtype=bool), 1.0, learner.distance_history_[-1] - 0.5),
        rtol=1e-6,
    )


# ------------------------------------------------------------------ warm_start


def test_warm_start_continues_from_the_fitted_weights():
    X, y = ordinal_problem(240)
    clf = fast_classifier(max_iter=10, warm_start=True).fit(X, y)
    before = _weights(clf)
    # A tiny learning rate barely moves the weights: a warm start begins where
    # the previous fit ended, while a cold start would draw new weights.
    clf.set_params(learning_rate_init=1e-12, max_iter=1)
    clf.fit(X, y)
    for a, b in zip(before, _weights(clf), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-8)
    cold = clone(clf).set_params(warm_start=False, random_state=1).fit(X, y)
    assert not all(
        torch.allclose(a, b, atol=1e-3)
        for a, b in zip(before, _weights(cold), strict=True)
    )


def test_warm_start_records_run_on():
    X, y = ordinal_problem(240)
    clf = fast_classifier(max_iter=4, warm_start=True, tol=0.0)
    clf.fit(X, y)
    first = list(clf.loss_curve_)
    clf.fit(X, y)
    assert clf.n_iter_ == 8
    assert clf.t_ == 8 * len(X)
    assert clf.loss_curve_[:4] == first
    assert clf.best_loss_ == min(clf.loss_curve_)
    # It continues: the next epochs start from a low loss, not from scratch.
    assert clf.loss_curve_[4] < first[0]


def test_without_warm_start_fit_starts_over():
    X, y = ordinal_problem(240)
    clf = fast_classifier(max_iter=4, tol=0.0).fit(X, y)
    first = list(clf.loss_curve_)
    clf.fit(X, y)
    assert clf.n_iter_ == 4
    assert clf.loss_curve_ == first


def test_warm_start_with_early_stopping_keeps_validation_scores():
    X, y = ordinal_problem(240)
    clf = fast_classifier(max_iter=3, warm_start=True, early_stopping=True, tol=0.0)
    clf.fit(X, y)
    clf.fit(X, y)
    assert len(clf.validation_scores_) == 6
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None


def test_warm_start_learned_distance_skips_the_warm_up():
    X, y = ordinal_problem(240)
    clf = fast_classifier(ground_distance="learned", warmup_epochs=3, max_iter=5)
    clf.set_params(warm_start=True, tol=0.0).fit(X, y)
    assert len(clf.ground_distance_history_) == 2
    clf.fit(X, y)
    assert clf.n_iter_ == 10
    # The second fit learns a matrix from the trained features before its first
    # epoch: every one of its epochs trains with a learned distance.
    assert len(clf.ground_distance_history_) == 7
    # The history runs on over both fits: the second starts at epoch 6.
    assert len(clf.net_.history) == 10
    assert not any(clf.net_.history[5:, "warmup"])
    assert all(clf.net_.history[5:, "ground_distance_updated"])


def test_warm_start_with_other_classes_is_an_error():
    X, y = ordinal_problem(240)
    clf = fast_classifier(max_iter=2, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="same classes as in the previous call"):
        clf.fit(X, y + 1)


def test_warm_start_with_plain_labels_keeps_the_fitted_order():
    # An ordered Categorical set the order; the same labels as plain strings
    # (sorted, they would be in another order) continue training in that order.
    X, y = ordinal_problem(240)
    order = ["lo", "mid", "hi", "top"]
    labels = np.array(order, dtype=object)[y]
    target = pd.Categorical(labels, categories=order, ordered=True)
    clf = fast_classifier(max_iter=3, warm_start=True).fit(X, target)
    before = _weights(clf)
    clf.fit(X, labels)
    assert clf.classes_.tolist() == order
    assert clf.n_iter_ == 6
    after = _weights(clf)
    assert not all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    proba = clf.predict_proba(X)
    # The columns still follow the order: the top class is most probable where
    # the latent value is highest.
    assert np.corrcoef(proba[:, 3], X[:, 0] + 0.5 * X[:, 1])[0, 1] > 0.5


def test_warm_start_with_a_subset_of_the_classes_is_an_error():
    X, y = ordinal_problem(240)
    clf = fast_classifier(max_iter=2, warm_start=True).fit(X, y)
    kept = y < 3
    with pytest.raises(ValueError, match="same classes as in the previous call"):
        clf.fit(X[kept], y[kept])


def test_warm_start_with_another_order_is_an_error():
    X, y = ordinal_problem(240)
    order = ["lo", "mid", "hi", "top"]
    labels = np.array(order, dtype=object)[y]
    clf = fast_classifier(max_iter=2, warm_start=True, classes=order).fit(X, labels)
    clf.set_params(classes=["top", "hi", "mid", "lo"])
    with pytest.raises(ValueError, match="same classes as in the previous call"):
        clf.fit(X, labels)


def test_warm_start_with_another_network_is_an_error():
    X, y = ordinal_problem(240)
    clf = fast_classifier(max_iter=2, warm_start=True).fit(X, y)
    clf.set_params(hidden_layer_sizes=(8,))
    with pytest.raises(ValueError, match="network changed since.*warm_start=False"):
        clf.fit(X, y)


def test_warm_start_with_other_features_is_an_error():
    X, y = ordinal_problem(240)
    clf = fast_classifier(max_iter=2, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features"):
        clf.fit(X[:, :2], y)


def test_warm_start_on_an_unfitted_estimator_is_a_plain_fit():
    X, y = ordinal_problem(240)
    warm = fast_classifier(max_iter=3, warm_start=True).fit(X, y)
    cold = fast_classifier(max_iter=3).fit(X, y)
    np.testing.assert_array_equal(warm.predict_proba(X), cold.predict_proba(X))


def test_partial_fit_on_a_plateau_keeps_learning_the_distance():
    # The plateau rule would end a fit here; partial_fit goes on, and every call
    # past the warm-up still learns a matrix for the next.
    X, y = ordinal_problem(240)
    clf = fast_classifier(
        ground_distance="learned", warmup_epochs=1, tol=1e9, n_iter_no_change=1
    )
    for call in range(1, 7):
        clf.partial_fit(X, y, classes=CLASSES)
        learner = dict(clf.net_.callbacks_)["ground_distance"]
        assert len(learner.distance_history_) == call
        assert len(clf.ground_distance_history_) == call - 1
