"""Tests of the LearnedGroundDistance callback with plain skorch nets."""

import copy
import pickle

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.base import clone
from skorch import NeuralNet
from skorch.callbacks import Callback
from torch import nn

from skemd.callbacks import LearnedGroundDistance
from skemd.ground_distance import learned_distance, seriate, to_loss_matrix
from skemd.losses import SquaredEMDLoss

N_FEATURES = 5


def _hidden_order_problem(seed, n_classes=6, n_samples=360):
    """Classes are quantile bins of a latent t, seen through nonlinear noisy
    features, with shuffled class ids. ``rank_of[label]`` is the true rank."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(size=n_samples)
    rank = np.minimum((t * n_classes).astype(int), n_classes - 1)
    X = np.column_stack(
        [np.sin(3 * t), np.cos(3 * t), t**2, np.exp(t), np.tanh(4 * t - 2)]
    )
    X += rng.normal(scale=0.1, size=X.shape)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    rank_of = rng.permutation(n_classes)
    label = np.argsort(rank_of)[rank]
    return X.astype(np.float32), label.astype(np.int64), rank_of


class _MLP(nn.Sequential):
    """Linear, ReLU, (Dropout,) Linear; skorch builds it inside the seeded fit."""

    def __init__(self, n_classes=4, hidden=32, dropout=0.0):
        layers = [nn.Linear(N_FEATURES, hidden), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers, nn.Linear(hidden, n_classes))


def _net(module, callback, *, callbacks=(), **kwargs):
    params = dict(
        criterion=SquaredEMDLoss,
        criterion__ce_weight=1.0,
        optimizer=torch.optim.Adam,
        lr=0.02,
        max_epochs=4,
        batch_size=50,
        train_split=None,
        verbose=0,
        callbacks=[("ground_distance", callback), *callbacks],
    )
    params.update(kwargs)
    return NeuralNet(module, **params)


def _fit(net, X, y, seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return net.fit(X, y)


@pytest.fixture(scope="module")
def small_data():
    X, y, _ = _hidden_order_problem(0, n_classes=4, n_samples=120)
    return X, y


class _RecordCriterion(Callback):
    """Record the criterion's weights and matrix at the start of every epoch."""

    def initialize(self):
        self.records_ = []
        return self

    def on_epoch_begin(self, net, **kwargs):
        matrix = net.criterion_.ground_distance
        self.records_.append(
            (
                net.criterion_.ce_weight,
                net.criterion_.emd_weight,
                None if matrix is None else matrix.detach().cpu().numpy().copy(),
            )
        )


class _RecordMode(Callback):
    """Record whether the module is in training mode at the end of each epoch."""

    def initialize(self):
        self.modes_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.modes_.append([m.training for m in net.module_.modules()])


# --------------------------------------------------------------------------- #
# What it learns
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("seed", [1, 2])
def test_learns_hidden_class_order(seed):
    X, y, rank_of = _hidden_order_problem(seed)
    n_classes = len(rank_of)
    callback = LearnedGroundDistance(warmup_epochs=4)
    _fit(
        _net(_MLP, callback, module__n_classes=n_classes, max_epochs=16),
        X,
        y,
        seed=seed,
    )

    distance = callback.distance_history_[-1]
    gaps = np.abs(rank_of[:, None] - rank_of[None, :])
    upper = np.triu_indices(n_classes, k=1)
    assert spearmanr(distance[upper], gaps[upper]).statistic >= 0.9
    recovered = rank_of[seriate(distance)]
    assert recovered.tolist() in (
        list(range(n_classes)),
        list(range(n_classes))[::-1],
    )


def test_first_matrix_comes_from_initial_network_input_of_last_linear(small_data):
    X, y = small_data
    with torch.random.fork_rng():
        torch.manual_seed(3)
        module = _MLP()
    initial = copy.deepcopy(module)
    callback = LearnedGroundDistance(warmup_epochs=0, distance_power=2.0)
    _fit(_net(module, callback, max_epochs=2), X, y)

    with torch.no_grad():
        features = initial[1](initial[0](torch.from_numpy(X))).numpy()
    expected = learned_distance(features, y, 4, power=2.0)
    np.testing.assert_allclose(callback.distance_history_[0], expected, atol=1e-6)


# --------------------------------------------------------------------------- #
# Schedule
# --------------------------------------------------------------------------- #


def test_warmup_is_cross_entropy_only_then_configured_weights(small_data):
    X, y = small_data
    callback = LearnedGroundDistance(warmup_epochs=3, distance_offset=0.25)
    recorder = _RecordCriterion()
    net = _net(
        _MLP,
        callback,
        callbacks=[("record", recorder)],
        max_epochs=6,
        criterion__ce_weight=0.3,
        criterion__emd_weight=0.7,
    )
    _fit(net, X, y)

    weights = [(ce, emd) for ce, emd, _ in recorder.records_]
    assert weights == [(1.0, 0.0)] * 3 + [(0.3, 0.7)] * 3
    assert recorder.records_[0][2] is None
    # Epoch 4 trains with the matrix learned at the end of epoch 3.
    np.testing.assert_allclose(
        recorder.records_[3][2],
        to_loss_matrix(callback.distance_history_[0], offset=0.25, normalize=False),
        atol=1e-6,
    )
    assert (net.criterion_.ce_weight, net.criterion_.emd_weight) == (0.3, 0.7)
    assert net.history[:, "ground_distance_updated"] == [False] * 2 + [True] * 4
    assert net.history[:, "warmup"] == [True] * 3 + [False] * 3


@pytest.mark.parametrize(
    "warmup_epochs, expected", [(0, 5), (1, 4), (2, 3), (4, 1), (5, 0)]
)
def test_one_update_per_epoch_from_end_of_warmup(small_data, warmup_epochs, expected):
    # Updates at the end of epochs warmup_epochs, ..., max_epochs; with no warm-up,
    # one more from the initial network before the first epoch.
    X, y = small_data
    callback = LearnedGroundDistance(warmup_epochs=warmup_epochs)
    net = _fit(_net(_MLP, callback, max_epochs=4), X, y)
    assert len(callback.distance_history_) == expected
    # Training that ends during the warm-up leaves the criterion as configured.
    assert (net.criterion_.ce_weight, net.criterion_.emd_weight) == (1.0, 1.0)


def test_partial_fit_continues_the_schedule(small_data):
    X, y = small_data
    callback = LearnedGroundDistance(warmup_epochs=3)
    net = _fit(_net(_MLP, callback, max_epochs=2), X, y)
    assert callback.distance_history_ == []
    net.partial_fit(X, y)  # epochs 3 and 4
    assert len(callback.distance_history_) == 2
    net.partial_fit(X, y)
    assert len(callback.distance_history_) == 4
    net.fit(X, y)  # re-initialises: warm-up again
    assert len(callback.distance_history_) == 0


def test_criterion_holds_papers_matrix_of_last_distance(small_data):
    X, y = small_data
    callback = LearnedGroundDistance(warmup_epochs=1, distance_offset=0.5)
    net = _fit(_net(_MLP, callback, max_epochs=3), X, y)
    matrix = net.criterion_.ground_distance
    assert isinstance(matrix, torch.Tensor) and matrix.dtype == torch.float32
    np.testing.assert_allclose(
        matrix.numpy(),
        to_loss_matrix(callback.distance_history_[-1], offset=0.5, normalize=False),
        atol=1e-6,
    )
    distance = callback.distance_history_[-1]
    assert distance.dtype == np.float64 and distance.shape == (4, 4)


def test_soft_one_hot_targets_learn_same_distance(small_data):
    X, y = small_data
    hard = LearnedGroundDistance(warmup_epochs=1)
    soft = LearnedGroundDistance(warmup_epochs=1)
    _fit(_net(_MLP, hard, max_epochs=2), X, y)
    _fit(_net(_MLP, soft, max_epochs=2), X, np.eye(4, dtype=np.float32)[y])
    for a, b in zip(hard.distance_history_, soft.distance_history_, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_on_device(small_data, device):
    X, y = small_data
    callback = LearnedGroundDistance(warmup_epochs=1)
    net = _fit(_net(_MLP, callback, max_epochs=2, device=device), X, y)
    assert net.criterion_.ground_distance.device.type == torch.device(device).type
    assert len(callback.distance_history_) == 2


# --------------------------------------------------------------------------- #
# Feature layer
# --------------------------------------------------------------------------- #


def test_named_feature_layer_output_equals_default_input_of_last_linear(small_data):
    X, y = small_data
    by_default = LearnedGroundDistance(warmup_epochs=1)
    by_name = LearnedGroundDistance(warmup_epochs=1, feature_layer="1")
    _fit(_net(_MLP, by_default, max_epochs=3), X, y)
    _fit(_net(_MLP, by_name, max_epochs=3), X, y)
    for a, b in zip(
        by_default.distance_history_, by_name.distance_history_, strict=True
    ):
        np.testing.assert_allclose(a, b, atol=1e-6)


class _ConvNet(nn.Module):
    """A network without any torch.nn.Linear layer."""

    def __init__(self, n_classes):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(1, 8, kernel_size=3, padding=1), nn.ReLU(), nn.Flatten()
        )
        self.head = nn.Conv1d(8 * N_FEATURES, n_classes, kernel_size=1)

    def forward(self, X):
        return self.head(self.body(X[:, None, :])[:, :, None])[:, :, 0]


def test_module_without_linear_layer_needs_feature_layer(small_data):
    X, y = small_data
    net = _net(_ConvNet(4), LearnedGroundDistance(warmup_epochs=1))
    with pytest.raises(ValueError, match="no torch.nn.Linear.*feature_layer="):
        _fit(net, X, y)

    callback = LearnedGroundDistance(warmup_epochs=1, feature_layer="body")
    _fit(_net(_ConvNet(4), callback, max_epochs=2), X, y)
    assert len(callback.distance_history_) == 2


def test_unknown_feature_layer_names_the_choices(small_data):
    X, y = small_data
    net = _net(_MLP, LearnedGroundDistance(feature_layer="penultimate"))
    with pytest.raises(ValueError, match="no submodule named 'penultimate'.*'0'"):
        _fit(net, X, y)


class _WithUnusedLayer(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.body = _MLP(n_classes)
        self.unused = nn.Linear(3, 3)

    def forward(self, X):
        return self.body(X)


def test_named_layer_not_in_forward_pass_raises_and_leaves_no_hook(small_data):
    X, y = small_data
    callback = LearnedGroundDistance(warmup_epochs=1, feature_layer="unused")
    net = _net(_WithUnusedLayer(4), callback)
    with pytest.raises(ValueError, match="did not run in the forward pass"):
        _fit(net, X, y)
    for module in net.module_.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
    assert net.module_.training


class _HeadDeclaredFirst(nn.Module):
    """Its output layer is registered before the body that feeds it."""

    def __init__(self, n_classes=4):
        super().__init__()
        self.head = nn.Linear(16, n_classes)
        self.body = nn.Linear(N_FEATURES, 16)

    def forward(self, X):
        return self.head(torch.relu(self.body(X)))


@pytest.mark.parametrize("module_class", [_HeadDeclaredFirst, _WithUnusedLayer])
def test_default_features_are_the_input_of_the_last_linear_called(
    module_class, small_data
):
    # Not the last Linear declared: the head declared first, or a Linear the
    # forward pass never calls, declared last.
    X, y = small_data
    with torch.random.fork_rng():
        torch.manual_seed(3)
        module = module_class(4)
    initial = copy.deepcopy(module)
    callback = LearnedGroundDistance(warmup_epochs=0)
    _fit(_net(module, callback, max_epochs=1), X, y)
    with torch.no_grad():
        inputs = torch.from_numpy(X)
        if module_class is _HeadDeclaredFirst:
            features = torch.relu(initial.body(inputs))
        else:
            features = initial.body[1](initial.body[0](inputs))
    expected = learned_distance(features.numpy(), y, 4)
    np.testing.assert_allclose(callback.distance_history_[0], expected, atol=1e-6)
    assert not any(layer._forward_pre_hooks for layer in module.modules())


class _Pair(nn.Module):
    def forward(self, h):
        return h, h


class _Transpose(nn.Module):
    def forward(self, h):
        return h.T


class _OddFeatures(nn.Module):
    """A network whose named submodule gives a tuple or one row per feature."""

    def __init__(self, n_classes=4):
        super().__init__()
        self.hidden = nn.Linear(N_FEATURES, 8)
        self.pair = _Pair()
        self.transpose = _Transpose()
        self.head = nn.Linear(8, n_classes)

    def forward(self, X):
        h, _ = self.pair(torch.relu(self.hidden(X)))
        return self.head(self.transpose(h).T)


@pytest.mark.parametrize(
    "layer, message",
    [
        ("pair", "must output a tensor; got tuple"),
        ("transpose", r"output of shape \(8, 50\) for a batch of 50 samples"),
    ],
)
def test_feature_layer_output_that_is_not_one_row_per_sample(
    small_data, layer, message
):
    X, y = small_data
    net = _net(_OddFeatures, LearnedGroundDistance(feature_layer=layer))
    with pytest.raises(ValueError, match=message):
        _fit(net, X, y)
    for module in net.module_.modules():
        assert not module._forward_hooks


def test_extra_pass_runs_in_eval_mode_and_restores_modes(small_data):
    X, y = small_data
    seen = []

    class Spy(nn.Module):
        def forward(self, X):
            seen.append(self.training)
            return X

    module = nn.Sequential(Spy(), _MLP(dropout=0.5))
    before, after = _RecordMode(), _RecordMode()
    net = _net(
        module,
        LearnedGroundDistance(warmup_epochs=1),
        callbacks=[("after", after)],
        max_epochs=2,
    )
    net.callbacks.insert(0, ("before", before))
    _fit(net, X, y)
    assert False in seen  # the extra pass
    assert before.modes_ == after.modes_


# --------------------------------------------------------------------------- #
# Validation, pickling, cloning
# --------------------------------------------------------------------------- #


def test_other_criterion_is_a_type_error(small_data):
    X, y = small_data
    net = _net(_MLP, LearnedGroundDistance(), criterion=nn.CrossEntropyLoss)
    del net.criterion__ce_weight
    with pytest.raises(TypeError, match="SquaredEMDLoss.*CrossEntropyLoss"):
        _fit(net, X, y)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"warmup_epochs": -1}, "warmup_epochs"),
        ({"warmup_epochs": 1.5}, "warmup_epochs"),
        ({"distance_power": 0.0}, "distance_power"),
        ({"distance_offset": np.nan}, "distance_offset"),
        ({"feature_layer": 3}, "feature_layer"),
    ],
)
def test_invalid_parameters_raise_at_fit(small_data, params, message):
    X, y = small_data
    with pytest.raises(ValueError, match=message):
        _fit(_net(_MLP, LearnedGroundDistance(**params)), X, y)


def test_fitted_net_pickles_without_hooks(small_data):
    X, y = small_data
    callback = LearnedGroundDistance(warmup_epochs=1)
    net = _fit(_net(_MLP, callback, max_epochs=2), X, y)
    for module in net.module_.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks

    loaded = pickle.loads(pickle.dumps(net))
    loaded_callback = dict(loaded.callbacks_)["ground_distance"]
    np.testing.assert_array_equal(
        loaded_callback.distance_history_[-1], callback.distance_history_[-1]
    )
    np.testing.assert_array_equal(loaded.predict_proba(X[:5]), net.predict_proba(X[:5]))


def test_get_params_and_clone(small_data):
    callback = LearnedGroundDistance(
        warmup_epochs=2, distance_power=2.0, distance_offset=0.25, feature_layer="1"
    )
    expected = {
        "warmup_epochs": 2,
        "distance_power": 2.0,
        "distance_offset": 0.25,
        "feature_layer": "1",
        "accumulate": False,
    }
    assert callback.get_params() == expected

    X, y = small_data
    net = _fit(_net(_MLP, callback, max_epochs=3), X, y)
    assert callback.get_params() == expected  # fitted state is not a parameter
    cloned = clone(callback)
    assert cloned.get_params() == expected
    assert not hasattr(cloned, "distance_history_")
    refit = _fit(clone(net), X, y)
    assert len(dict(refit.callbacks_)["ground_distance"].distance_history_) == 2


# --------------------------------------------------------------------------- #
# A new criterion: set_params, saved and loaded states
# --------------------------------------------------------------------------- #


def test_a_new_criterion_trains_on_with_the_last_learned_matrix(small_data):
    X, y = small_data
    callback = LearnedGroundDistance(warmup_epochs=1)
    recorder = _RecordCriterion()
    net = _net(_MLP, callback, callbacks=[("record", recorder)], max_epochs=3)
    _fit(net, X, y)
    learned = net.criterion_.ground_distance.clone()
    # skorch makes a new criterion, without a matrix, for new criterion params.
    net.set_params(criterion__ce_weight=0.5)
    assert net.criterion_.ground_distance is None
    net.partial_fit(X, y, epochs=1)
    matrix_used = recorder.records_[-1][2]
    torch.testing.assert_close(torch.as_tensor(matrix_used), learned)
    assert net.criterion_.ce_weight == 0.5


def test_criterion_state_with_a_learned_matrix_loads_into_a_new_one(
    small_data, tmp_path
):
    X, y = small_data
    net = _net(_MLP, LearnedGroundDistance(warmup_epochs=1), max_epochs=2)
    _fit(net, X, y)
    path = tmp_path / "criterion.pt"
    net.save_params(f_criterion=path)
    fresh = _net(_MLP, LearnedGroundDistance(warmup_epochs=1)).initialize()
    assert fresh.criterion_.ground_distance is None
    fresh.load_params(f_criterion=path)
    torch.testing.assert_close(
        fresh.criterion_.ground_distance, net.criterion_.ground_distance
    )
    # A state saved without a matrix (the class order) keeps a new one without.
    plain = SquaredEMDLoss()
    plain.load_state_dict(SquaredEMDLoss().state_dict())
    assert plain.ground_distance is None


def test_checkpoint_and_load_init_state_resume_a_learned_distance(small_data, tmp_path):
    from skorch.callbacks import Checkpoint, LoadInitState

    X, y = small_data
    checkpoint = Checkpoint(dirname=str(tmp_path), monitor=None)

    def make():
        return _net(
            _MLP,
            LearnedGroundDistance(warmup_epochs=1),
            callbacks=[("checkpoint", checkpoint), ("load", LoadInitState(checkpoint))],
            max_epochs=2,
        )

    first = make()
    _fit(first, X, y)
    second = make()
    _fit(second, X, y)
    assert len(second.history) == 4


def test_per_position_outputs_are_refused_with_advice():
    class PerPosition(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(2, 8, 3, padding=1)
            self.out = nn.Linear(8, 3)

        def forward(self, X):
            return self.out(torch.relu(self.conv(X)).transpose(1, 2)).transpose(1, 2)

    X = torch.randn(20, 2, 6)
    y = torch.randint(0, 3, (20, 6))
    net = _net(PerPosition, LearnedGroundDistance(warmup_epochs=0))
    with pytest.raises(ValueError, match="a class per position.*fixed ground_distance"):
        _fit(net, X, y)
