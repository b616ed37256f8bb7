"""The ``callbacks`` parameter: skorch callbacks inside EMDClassifier."""

import pickle
import signal
import warnings

import joblib
import numpy as np
import pytest
import torch
from conftest import SINGLE_NETWORK
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from skorch.callbacks import Callback, EarlyStopping, LRScheduler

from skemd import EMDClassifier


class EpochCounter(Callback):
    # skorch's convention: state set in initialize, named with a trailing _.
    def initialize(self):
        self.epochs_ = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs_ += 1


class BatchCounter(Callback):
    def initialize(self):
        self.batches_ = 0
        return self

    def on_batch_end(self, net, **kwargs):
        self.batches_ += 1


def _fast(**params):
    defaults = dict(
        hidden_layer_sizes=(16,),
        max_iter=8,
        batch_size=50,
        random_state=0,
        **SINGLE_NETWORK,
    )
    return EMDClassifier(**{**defaults, **params})


# Short fits: the warning that max_iter ran out is expected.
pytestmark = pytest.mark.usefixtures("quiet_convergence")


def test_callbacks_run_every_epoch_on_copies(ordinal_4):
    X, y = ordinal_4
    counter = EpochCounter()
    clf = _fast(callbacks=[counter]).fit(X, y)
    trained = dict(clf.net_.callbacks_)["EpochCounter"]
    assert trained.epochs_ == clf.n_iter_ == 8
    assert not hasattr(counter, "epochs_")
    assert clf.callbacks[0] is counter
    names = [name for name, _ in clf.net_.callbacks_]
    assert names.index("plateau") < names.index("EpochCounter")


def test_named_callbacks_and_params_unchanged_by_fit(ordinal_4):
    X, y = ordinal_4
    clf = _fast(callbacks=[("counting", EpochCounter())])
    before = joblib.hash(clf.get_params())
    clf.fit(X, y)
    assert joblib.hash(clf.get_params()) == before
    assert dict(clf.net_.callbacks_)["counting"].epochs_ == 8


def test_lr_scheduler_changes_the_rate(ordinal_4):
    X, y = ordinal_4
    scheduler = LRScheduler(
        policy=torch.optim.lr_scheduler.StepLR, step_size=2, gamma=0.5
    )
    clf = _fast(callbacks=[scheduler], learning_rate_init=0.01).fit(X, y)
    rates = clf.net_.history[:, "learning_rate"]
    # The monitor records the rate each epoch ran with.
    assert rates == pytest.approx([0.01 * 0.5 ** (e // 2) for e in range(8)])
    plain = _fast(learning_rate_init=0.01).fit(X, y)
    assert not np.array_equal(clf.predict_proba(X), plain.predict_proba(X))


def test_skorch_early_stopping_ends_training_without_a_warning(ordinal_4):
    X, y = ordinal_4
    stop = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = _fast(callbacks=[stop], max_iter=50).fit(X, y)
    assert clf.n_iter_ == len(clf.loss_curve_) == len(clf.net_.history) < 50


def test_batch_listener_sees_every_batch_and_changes_nothing(ordinal_4, device):
    X, y = ordinal_4
    clf = _fast(callbacks=[BatchCounter()], device=device).fit(X, y)
    assert dict(clf.net_.callbacks_)["BatchCounter"].batches_ == 8 * 4
    plain = _fast(device=device).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), plain.predict_proba(X))
    assert clf.loss_curve_ == pytest.approx(plain.loss_curve_, rel=1e-6)


def test_partial_fit_runs_the_callbacks_once_per_call(ordinal_4):
    X, y = ordinal_4
    clf = _fast(callbacks=[EpochCounter()])
    for _ in range(3):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    assert dict(clf.net_.callbacks_)["EpochCounter"].epochs_ == 3


def test_clone_and_pickle_with_callbacks(ordinal_4):
    X, y = ordinal_4
    clf = _fast(callbacks=[("counting", EpochCounter())])
    copy = clone(clf)
    assert isinstance(copy.callbacks[0][1], EpochCounter)
    assert copy.callbacks[0][1] is not clf.callbacks[0][1]
    clf.fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize(
    "callbacks, error, message",
    [
        ([("plateau", EpochCounter())], ValueError, "'plateau' is the estimator's"),
        (
            [("ground_distance", EpochCounter())],
            ValueError,
            "'ground_distance' is the estimator's",
        ),
        ([EpochCounter], TypeError, "skorch callbacks.*got <class"),
        ([("a", "b", EpochCounter())], TypeError, r"\(name, callback\) pairs"),
        ([("a", 3)], TypeError, "got 3"),
        (EpochCounter(), ValueError, "callbacks"),
    ],
)
def test_bad_callbacks_are_named(ordinal_4, callbacks, error, message):
    X, y = ordinal_4
    with pytest.raises(error, match=message):
        _fast(callbacks=callbacks).fit(X, y)


def test_the_net_predicts_like_a_classifier(ordinal_4):
    X, y = ordinal_4
    clf = _fast().fit(X, y)
    np.testing.assert_array_equal(clf.net_.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(clf.classes_[clf.net_.predict(X)], clf.predict(X))
    np.testing.assert_array_equal(clf.net_.classes_, np.arange(4))


class ValidationMAE(Callback):
    """Minus the MAE of the net on its validation data, after every epoch."""

    def initialize(self):
        self.scores_ = []
        return self

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        labels = dataset_valid.y.cpu().numpy()
        self.scores_.append(-np.mean(np.abs(net.predict(dataset_valid) - labels)))


def test_epoch_scoring_with_classification_and_ordinal_scorers(ordinal_4):
    from skorch.callbacks import EpochScoring

    from skemd.metrics import neg_mae_scorer

    X, y = ordinal_4
    callbacks = [
        EpochScoring("accuracy", on_train=True, name="train_acc"),
        EpochScoring(neg_mae_scorer, name="valid_neg_mae"),
        ("oracle", ValidationMAE()),
    ]
    clf = _fast(callbacks=callbacks, early_stopping=True, max_iter=5).fit(X, y)
    history = clf.net_.history
    assert all(0 <= a <= 1 for a in history[:, "train_acc"])
    oracle = dict(clf.net_.callbacks_)["oracle"].scores_
    assert history[:, "valid_neg_mae"] == pytest.approx(oracle)


def test_epoch_scoring_with_sample_weights_takes_target_labels(ordinal_4):
    from skorch.callbacks import EpochScoring

    from skemd.callbacks import target_labels

    X, y = ordinal_4
    w = np.random.default_rng(0).integers(1, 3, size=len(y))
    scoring = EpochScoring(
        "accuracy", on_train=True, name="train_acc", target_extractor=target_labels
    )
    clf = _fast(callbacks=[scoring]).fit(X, y, sample_weight=w)
    assert len(clf.net_.history[:, "train_acc"]) == clf.n_iter_


class WeightsPerEpoch(Callback):
    def initialize(self):
        self.states_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        state = net.module_.state_dict()
        self.states_.append({k: v.detach().clone() for k, v in state.items()})


def test_early_stopping_on_the_validation_mae_keeps_that_best_network():
    from skorch.callbacks import EarlyStopping, EpochScoring

    from skemd.metrics import neg_mae_scorer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5)).astype(np.float32)
    y = np.digitize(X[:, 0] + 0.5 * rng.normal(size=600), [-1, 0, 1])
    clf = _fast(
        early_stopping=True,
        max_iter=200,
        callbacks=[
            EpochScoring(neg_mae_scorer, name="valid_neg_mae", lower_is_better=False),
            EarlyStopping(
                monitor="valid_neg_mae",
                lower_is_better=False,
                patience=5,
                load_best=True,
            ),
            ("weights", WeightsPerEpoch()),
        ],
    ).fit(X, y)
    callbacks = dict(clf.net_.callbacks_)
    best_epoch = callbacks["EarlyStopping"].best_epoch_
    assert clf.n_iter_ < 200
    scores = clf.net_.history[:, "valid_neg_mae"]
    assert scores[best_epoch - 1] == max(scores)
    best = callbacks["weights"].states_[best_epoch - 1]
    for name, value in clf.net_.module_.state_dict().items():
        torch.testing.assert_close(value, best[name], rtol=0, atol=0)


# ------------------------------------------------------------------ Ctrl-C


class Interrupt(Callback):
    """Send SIGINT, as Ctrl-C does, at a given epoch (and batch) once."""

    def __init__(self, epoch, batch=None):
        self.epoch = epoch
        self.batch = batch

    def initialize(self):
        self.batches_ = 0
        self.sent_ = False
        return self

    def _send(self):
        self.sent_ = True
        signal.raise_signal(signal.SIGINT)

    def on_batch_end(self, net, **kwargs):
        self.batches_ += 1
        if self.batch is not None and not self.sent_ and self.batches_ == self.batch:
            self._send()

    def on_epoch_end(self, net, **kwargs):
        if self.batch is None and not self.sent_ and len(net.history) == self.epoch:
            self._send()


def test_ctrl_c_stops_fit_with_keyboard_interrupt(ordinal_4, ctrl_c_raises):
    X, y = ordinal_4
    handler = signal.getsignal(signal.SIGINT)
    clf = _fast(callbacks=[Interrupt(epoch=2)])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    # Not a fitted estimator, and Python's handler is back.
    assert not hasattr(clf, "net_")
    assert signal.getsignal(signal.SIGINT) is handler


def test_a_callback_that_stops_training_is_not_an_interrupt(ordinal_4):
    # skorch's callbacks end training by raising KeyboardInterrupt themselves.
    class StopAt(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 3:
                raise KeyboardInterrupt

    X, y = ordinal_4
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = _fast(callbacks=[StopAt()]).fit(X, y)
    assert clf.n_iter_ == 3


def test_ctrl_c_in_partial_fit_keeps_the_finished_epochs(ordinal_4, ctrl_c_raises):
    X, y = ordinal_4
    # 4 batches an epoch: the signal comes in the middle of the second call.
    clf = _fast(callbacks=[Interrupt(epoch=None, batch=6)])
    clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(KeyboardInterrupt):
        clf.partial_fit(X, y)
    # The cut epoch left no record; training goes on from the first call's.
    assert len(clf.net_.history) == 1
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 2
    assert len(clf.net_.history) == 2
    assert len(clf.loss_curve_) == 2
    assert np.isfinite(clf.loss_curve_).all()


def test_target_labels_refuses_the_ensembles_per_member_targets():
    from skemd._data import WeightedTarget
    from skemd.callbacks import target_labels

    targets = WeightedTarget(torch.zeros(4, 5, dtype=torch.long), torch.ones(4, 5))
    with pytest.raises(ValueError, match="n_estimators=1"):
        target_labels(targets)
    # Soft targets (floating point, one row per sample) pass.
    assert target_labels(torch.full((4, 3), 1 / 3)).shape == (4, 3)
