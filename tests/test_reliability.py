"""What EMDClassifier promises when training is cut short, weights are extreme
or an input is wrong: each test holds it to one statement of the reliability
page of the user guide."""

import pickle
import signal
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SINGLE_NETWORK, ordinal_problem
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from skemd import EMDClassifier
from skemd._net import DECAY_KEY
from skemd.exceptions import InvalidParameterError

# Short fits: the warning that max_iter ran out is expected.
pytestmark = pytest.mark.usefixtures("quiet_convergence")

CLASSES = [0, 1, 2]


def _data(n_samples=60):
    return ordinal_problem(n_samples, n_classes=3)


def _tiny(**params):
    # 60 rows in batches of 20: three batches an epoch; on the CPU, where the
    # same seed gives the same network bit for bit.
    defaults = dict(
        hidden_layer_sizes=(4,),
        max_iter=6,
        batch_size=20,
        random_state=0,
        device="cpu",
        **SINGLE_NETWORK,
    )
    return EMDClassifier(**{**defaults, **params})


def _assert_predicts(clf, X):
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X).tolist()) <= set(clf.classes_.tolist())


class StopInEpoch(Callback):
    """End training, as skorch's callbacks do, after the second batch of an epoch."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_batch_end(self, net, training=False, **kwargs):
        # The history's last entry is the running epoch, with its batches so far.
        epoch = net.history[-1]
        if training and len(net.history) == self.epoch and len(epoch["batches"]) == 2:
            raise KeyboardInterrupt


# ------------------------------------------------------------ interruption


def test_a_callback_ending_fit_mid_epoch_keeps_the_finished_epochs():
    X, y = _data()
    clf = _tiny(callbacks=[StopInEpoch(3)]).fit(X, y)
    assert clf.n_iter_ == 2
    assert len(clf.net_.history) == 2
    assert len(clf.loss_curve_) == 2 and np.isfinite(clf.loss_curve_).all()
    # Samples of the finished epochs only.
    assert clf.t_ == 2 * len(y)
    _assert_predicts(clf, X)


def test_a_callback_ending_partial_fit_mid_epoch_keeps_the_earlier_calls():
    X, y = _data()
    clf = _tiny(callbacks=[StopInEpoch(3)])
    for _ in range(3):
        clf.partial_fit(X, y, classes=CLASSES)
    assert clf.n_iter_ == 2
    assert len(clf.net_.history) == 2
    assert len(clf.loss_curve_) == 2 and np.isfinite(clf.loss_curve_).all()
    _assert_predicts(clf, X)


@pytest.mark.parametrize("how", ["fit", "partial_fit", "refit"])
def test_a_callback_ending_the_first_epoch_leaves_no_fitted_network(how):
    X, y = _data()
    clf = _tiny(callbacks=[StopInEpoch(1)])
    if how == "refit":
        # A fitted estimator whose next fit fails must not look fitted.
        clf.set_params(callbacks=None).fit(X, y)
        clf.set_params(callbacks=[StopInEpoch(1)])
    with pytest.raises(RuntimeError, match="before its first epoch was finished"):
        if how == "partial_fit":
            clf.partial_fit(X, y, classes=CLASSES)
        else:
            clf.fit(X, y)
    assert not hasattr(clf, "net_")
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    with pytest.raises(NotFittedError):
        clf.predict(X)


class CtrlC(Callback):
    """Send SIGINT, as Ctrl-C does, after the second batch of the first epoch."""

    def on_batch_end(self, net, training=False, **kwargs):
        if training and len(net.history[-1]["batches"]) == 2:
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_in_a_warm_start_leaves_the_previous_network_as_it_was(
    ctrl_c_raises,
):
    X, y = _data()
    clf = _tiny(warm_start=True).fit(X, y)
    net, proba = clf.net_, clf.predict_proba(X)
    weights = {k: v.clone() for k, v in net.module_.state_dict().items()}
    with pytest.raises(KeyboardInterrupt):
        clf.set_params(callbacks=[CtrlC()]).fit(X, y)
    assert clf.net_ is net and clf.n_iter_ == 6
    for name, value in net.module_.state_dict().items():
        assert torch.equal(value, weights[name]), name
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


# --------------------------------------------------------- reproducibility


class _DropoutNet(torch.nn.Module):
    # Dropout of a module of the user's draws from torch's global random state.
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(3, 8)
        self.drop = torch.nn.Dropout(0.3)
        self.output = torch.nn.Linear(8, 3)

    def forward(self, X):
        return self.output(self.drop(torch.relu(self.hidden(X))))


@pytest.mark.parametrize(
    "params",
    [{"dropout": 0.3}, {"module": _DropoutNet}],
    ids=["default network", "module of the user's"],
)
def test_fits_at_once_in_threads_equal_a_fit_alone(params):
    X, y = _data()
    params = dict(early_stopping=True, **params)
    alone = _tiny(**params).fit(X, y).predict_proba(X)
    threads, state = torch.get_num_threads(), torch.get_rng_state()

    def fit(_):
        return _tiny(**params).fit(X, y).predict_proba(X)

    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(fit, range(4)))
    for proba in together:
        np.testing.assert_array_equal(proba, alone)
    # The caller's torch settings are as they were.
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), state)


def test_the_estimator_writes_no_files(tmp_path, monkeypatch, capsys):
    # capsys takes the table verbose prints: output, but not a file.
    monkeypatch.chdir(tmp_path)
    X, y = _data()
    params = dict(early_stopping=True, verbose=1, ground_distance="learned")
    clf = _tiny(warmup_epochs=1, **params).fit(X, y)
    clf.partial_fit(X, y)
    clf.predict_proba(X)
    pickle.loads(pickle.dumps(clf)).predict(X)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------- weights, numbers


@pytest.mark.parametrize("scale", [1e-300, 1e-30, 1e30, 1e37, 1e300])
def test_the_scale_of_the_weights_does_not_change_the_model(scale):
    # Without the L2 penalty (alpha=0) only the ratios of the weights count.
    X, y = _data()
    weights = 1.0 + np.arange(len(y)) % 3
    unit = _tiny(alpha=0.0).fit(X, y, sample_weight=weights)
    scaled = _tiny(alpha=0.0).fit(X, y, sample_weight=weights * scale)
    np.testing.assert_array_equal(scaled.predict(X), unit.predict(X))
    np.testing.assert_allclose(
        scaled.predict_proba(X), unit.predict_proba(X), rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(scaled.loss_curve_, unit.loss_curve_, rtol=1e-5)


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_the_penalty_counts_the_weights_at_their_scale(scale):
    # As in scikit-learn's MLP, the weights count samples for the L2 penalty.
    X, y = _data()
    weights = scale * (1.0 + np.arange(len(y)) % 3)
    clf = _tiny(alpha=1e-4, max_iter=1).fit(X, y, sample_weight=weights)
    decay = clf.net_.optimizer_.param_groups[0][DECAY_KEY]
    assert decay == pytest.approx(1e-4 / weights.sum(), rel=1e-6, abs=0)


def test_a_class_weight_beyond_float32_trains():
    X, y = _data()
    huge = _tiny(class_weight={0: 1e39}).fit(X, y)
    _assert_predicts(huge, X)
    assert np.isfinite(huge.loss_curve_).all()
    # Without the penalty only the ratios count: the same model as the other
    # classes weighed down.
    huge = _tiny(class_weight={0: 1e39}, alpha=0.0).fit(X, y)
    small = _tiny(class_weight={1: 1e-39, 2: 1e-39}, alpha=0.0).fit(X, y)
    np.testing.assert_allclose(
        huge.predict_proba(X), small.predict_proba(X), rtol=1e-5, atol=1e-7
    )


def test_a_network_that_diverges_while_validated_stops_with_advice():
    # Its validation probabilities are NaN before the epoch's loss is checked.
    X, y = _data()
    clf = _tiny(
        solver="sgd", learning_rate_init=1e30, momentum=0.0, early_stopping=True
    )
    with pytest.raises(FloatingPointError, match="loss became nan"):
        clf.fit(X * 1e6, y)


def test_weights_too_small_for_float32_beside_the_largest_are_left_out():
    # 1e-60 of the largest is zero in float32: those rows count for nothing,
    # and a validation part of them alone would have a loss of 0 / 0.
    X, y = _data()
    weights = np.where(np.arange(len(y)) < 12, 1.0, 1e-60)
    clf = _tiny(early_stopping=True).fit(X, y, sample_weight=weights)
    # The 12 rows kept, 2 of them held out for validation.
    assert clf.t_ == 10 * clf.n_iter_
    _assert_predicts(clf, X)


# -------------------------------------------------------------- bad inputs


def _frame(X, **columns):
    return pd.DataFrame({"size": X[:, 0], "depth": X[:, 1], **columns})


@pytest.mark.parametrize(
    "column",
    [
        pd.date_range("2024-01-01", periods=60, freq="D"),
        pd.to_timedelta(np.arange(60), unit="h"),
    ],
    ids=["datetime", "timedelta"],
)
def test_a_date_or_duration_column_is_named(column):
    X, y = _data()
    with pytest.raises(ValueError, match="dates or durations: 'when'"):
        _tiny().fit(_frame(X, when=column), y)
    # At predict, a column that held numbers in fit and holds dates now.
    clf = _tiny(max_iter=1).fit(_frame(X, when=np.arange(60.0)), y)
    with pytest.raises(ValueError, match="dates or durations: 'when'"):
        clf.predict(_frame(X, when=column))


def test_a_datetime_array_is_refused():
    X, y = _data()
    days = np.arange(60).astype("datetime64[D]").reshape(-1, 1)
    with pytest.raises(ValueError, match="dates or durations"):
        _tiny().fit(days, y)


@pytest.mark.parametrize(
    "labels",
    [np.array([0, "a", 1] * 20, dtype=object), [0, "a", 1] * 20, (0, "a", 1) * 20],
    ids=["object array", "list", "tuple"],
)
def test_labels_mixing_text_and_numbers_are_named(labels):
    X, _ = _data()
    with pytest.raises(
        ValueError,
        match=r"mixes labels of different types: numbers \(0\) and text \('a'\)",
    ):
        _tiny().fit(X, labels)


@pytest.mark.parametrize("missing", [None, np.nan])
def test_a_missing_label_is_named_with_its_position(missing):
    X, y = _data()
    labels = y.astype(object)
    labels[7] = missing
    with pytest.raises(ValueError, match="missing label .* at position 7"):
        _tiny().fit(X, labels)
    with pytest.raises(ValueError, match="missing label .* at position 7"):
        _tiny().fit(X, labels.tolist())


@pytest.mark.parametrize(
    "device, message",
    [
        ("gpu", r"device='gpu' is not a device torch knows \(the GPU is 'cuda'\)"),
        ("GPU:0", r"the GPU is 'cuda'"),
        ("foo", "device='foo' is not a device torch knows"),
        ("meta", "device='meta' holds no data"),
        # A type torch parses, with no backend installed to hold tensors.
        ("xla", "device='xla' has no working backend"),
    ],
    ids=["gpu", "GPU:0", "foo", "meta", "xla"],
)
def test_a_device_that_cannot_train_is_named(device, message):
    X, y = _data()
    with pytest.raises(ValueError, match=message):
        _tiny(device=device).fit(X, y)


@pytest.mark.parametrize(
    "n_samples, fraction",
    # floor((1 - fraction) * n_samples) == 0: no row would be left to train on.
    [(10, 0.95), (3, 0.7), (30, 0.99)],
)
def test_a_validation_fraction_that_leaves_no_training_rows_is_named(
    n_samples, fraction
):
    X, y = _data(n_samples)
    clf = _tiny(early_stopping=True, validation_fraction=fraction)
    with pytest.raises(ValueError, match=f"validation_fraction={fraction} of"):
        clf.fit(X, np.arange(n_samples) % 3)
    assert not hasattr(clf, "net_")


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize(
    "classes, stray",
    # A single class given is named as missing labels, not as one class.
    [([0, 1], r"\[2\]"), ([0], r"\[1, 2\]")],
)
def test_labels_outside_the_given_classes_are_named(method, classes, stray):
    X, y = _data()
    clf = _tiny(classes=classes)
    with pytest.raises(ValueError, match=f"does not cover: {stray}"):
        if method == "fit":
            clf.fit(X, y)
        else:
            clf.partial_fit(X, y)


@pytest.mark.parametrize(
    "name, value",
    [
        ("random_state", 2**32),
        ("random_state", -1),
        ("alpha", np.inf),
        ("tol", np.inf),
        ("learning_rate_init", np.inf),
        ("n_threads", 0),
        ("n_threads", 2**31),
    ],
)
def test_values_numpy_or_torch_would_refuse_are_named_as_parameters(name, value):
    X, y = _data()
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        _tiny(**{name: value}).fit(X, y)


def test_an_epsilon_that_is_zero_in_float32_is_named():
    X, y = _data()
    with pytest.raises(ValueError, match="epsilon=1e-300 is zero in float32"):
        _tiny(epsilon=1e-300).fit(X, y)


def test_an_optimiser_that_refuses_its_arguments_is_named():
    X, y = _data()
    clf = _tiny(solver=torch.optim.AdamW, solver_params={"betas": 3})
    with pytest.raises(TypeError, match=r"solver=AdamW with solver_params=.*betas"):
        clf.fit(X, y)


def test_a_module_class_that_refuses_its_arguments_is_named():
    X, y = _data()
    clf = _tiny(module=torch.nn.Linear, module_params={"in_features": 3})
    with pytest.raises(TypeError, match="module=Linear cannot be built with module_"):
        clf.fit(X, y)


def test_an_ensemble_with_early_stopping_on_one_row_is_named():
    X, y = _data()
    clf = _tiny(n_estimators=2, early_stopping=True, classes=CLASSES)
    with pytest.raises(ValueError, match="early_stopping .* at least 2 samples"):
        clf.fit(X[:1], y[:1])
