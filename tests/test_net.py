"""The skorch net behind the estimator: in-memory batches, L2 on weights, precision."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

import skemd._data
from skemd._data import InMemoryDataset, TensorBatches, WeightedTarget
from skemd._modules import MLP
from skemd._net import EMDNet
from skemd.losses import SquaredEMDLoss


def _data(n_samples=100, n_features=3, n_classes=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n_samples, n_features, generator=generator)
    y = torch.randint(0, n_classes, (n_samples,), generator=generator)
    return X, y


def _net(device="cpu", **params):
    defaults = dict(
        module=MLP,
        module__n_features=3,
        module__n_classes=4,
        module__hidden_layer_sizes=(8,),
        criterion=SquaredEMDLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=3,
        batch_size=32,
        iterator_train__shuffle=True,
        train_split=None,
        device=device,
        verbose=0,
    )
    defaults.update(params)
    return EMDNet(**defaults)


def _fit(net, dataset, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return net.fit(dataset, None)


class _BatchCounter(Callback):
    """Listens to every batch, which sends training through skorch's own loop."""

    def initialize(self):
        self.batches_ = 0
        return self

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        self.batches_ += 1


class _GradientCounter(Callback):
    def initialize(self):
        self.calls_ = 0
        return self

    def on_grad_computed(self, net, named_parameters, **kwargs):
        self.calls_ += 1


def _batch_records(history, prefix):
    return [
        (batch[prefix + "_loss"], batch[prefix + "_batch_size"])
        for epoch in history
        for batch in epoch["batches"]
        if prefix + "_loss" in batch
    ]


# ------------------------------------------------------------- TensorBatches


def test_unshuffled_batches_are_consecutive_slices_on_the_data_device(device):
    X, y = _data(n_samples=10)
    dataset = InMemoryDataset(X, y).to(device)
    batches = list(TensorBatches(dataset, batch_size=4, shuffle=False))
    assert [len(Xi) for Xi, _ in batches] == [4, 4, 2]
    for start, (Xi, yi) in zip([0, 4, 8], batches, strict=True):
        assert Xi.device.type == device and yi.device.type == device
        assert torch.equal(Xi.cpu(), X[start : start + 4])
        assert torch.equal(yi.cpu(), y[start : start + 4])


def test_shuffled_batches_cover_every_sample_once_per_pass(device):
    X = torch.arange(10, dtype=torch.float32)[:, None]
    y = torch.arange(10)
    batches = TensorBatches(InMemoryDataset(X, y).to(device), 3, shuffle=True)
    assert len(batches) == 4
    orders = []
    for _ in range(2):
        rows, labels = zip(*batches, strict=True)
        assert all(yi.device.type == device for yi in labels)
        order = torch.cat(labels).cpu()
        assert sorted(order.tolist()) == list(range(10))
        # Rows and labels stay paired.
        assert torch.equal(torch.cat(rows).cpu()[:, 0], order.float())
        orders.append(order)
    assert not torch.equal(orders[0], orders[1])


@pytest.mark.parametrize("gather_bytes", [1, 3 * 4 * 2, 10**9])
def test_shuffled_batches_follow_one_permutation_whatever_the_block(
    monkeypatch, gather_bytes
):
    # Rows are gathered a block of batches at a time (one batch, two batches,
    # all of them here); the batches are those of one permutation drawn from
    # torch's generator, in order, whatever the block size.
    monkeypatch.setattr(skemd._data, "_GATHER_BYTES", gather_bytes)
    X = torch.arange(22, dtype=torch.float32).repeat_interleave(2).reshape(22, 2)
    y = torch.arange(22)
    torch.manual_seed(3)
    batches = list(TensorBatches(InMemoryDataset(X, y), 4, shuffle=True))
    torch.manual_seed(3)
    expected = torch.randperm(22)
    assert [len(yi) for _, yi in batches] == [4, 4, 4, 4, 4, 2]
    assert torch.equal(torch.cat([yi for _, yi in batches]), expected)
    assert torch.equal(torch.cat([Xi for Xi, _ in batches]), X[expected])


@pytest.mark.parametrize("gather_bytes", [1, 3 * 4 * 2, 10**9])
@pytest.mark.parametrize("shuffle", [False, True])
def test_a_last_batch_of_one_row_can_join_the_one_before(
    monkeypatch, gather_bytes, shuffle
):
    monkeypatch.setattr(skemd._data, "_GATHER_BYTES", gather_bytes)
    X = torch.arange(21, dtype=torch.float32).repeat_interleave(2).reshape(21, 2)
    y = torch.arange(21)
    torch.manual_seed(3)
    batches = TensorBatches(InMemoryDataset(X, y), 4, shuffle, merge_single=True)
    assert len(batches) == 5
    got = list(batches)
    assert [len(yi) for _, yi in got] == [4, 4, 4, 4, 5]
    torch.manual_seed(3)
    expected = torch.randperm(21) if shuffle else torch.arange(21)
    assert torch.equal(torch.cat([yi for _, yi in got]), expected)
    assert torch.equal(torch.cat([Xi for Xi, _ in got]), X[expected])
    # Only a last batch of one row: 22 rows stay 4 x 5 + 2, 1 row stays 1.
    assert len(TensorBatches(InMemoryDataset(X[:1]), 4, shuffle, True)) == 1
    sizes = [len(Xi) for Xi, _ in TensorBatches(InMemoryDataset(X), 5, shuffle, True)]
    assert sizes == [5, 5, 5, 6]


def test_batches_without_targets_yield_none():
    X, _ = _data(n_samples=5)
    batches = list(TensorBatches(InMemoryDataset(X), batch_size=2, shuffle=True))
    assert [yi for _, yi in batches] == [None, None, None]


def test_get_iterator_serves_in_memory_data_as_tensor_batches():
    X, y = _data()
    net = _net(iterator_valid__batch_size=64).initialize()
    train = net.get_iterator(InMemoryDataset(X, y), training=True)
    valid = net.get_iterator(InMemoryDataset(X, y), training=False)
    assert isinstance(train, TensorBatches) and train.shuffle
    assert train.batch_size == 32
    assert isinstance(valid, TensorBatches) and not valid.shuffle
    assert valid.batch_size == 64


def test_shuffling_draws_from_the_nets_generator_only():
    X, y = _data()
    dataset = InMemoryDataset(X, y)

    def fit(seed):
        return _net(
            module__generator=torch.Generator().manual_seed(0),
            generator=torch.Generator().manual_seed(seed),
        ).fit(dataset, None)

    state = torch.random.get_rng_state()
    first = fit(3)
    assert torch.equal(torch.random.get_rng_state(), state)
    second, third = fit(3), fit(4)
    assert first.history[:, "train_loss"] == second.history[:, "train_loss"]
    assert first.history[:, "train_loss"] != third.history[:, "train_loss"]


def test_validation_loss_is_computed_on_the_trained_network():
    X, y = _data(n_samples=120)
    train = InMemoryDataset(X[:100], y[:100])
    valid = InMemoryDataset(X[100:], y[100:])

    def split(dataset, y=None, **kwargs):
        return dataset, valid

    net = _fit(_net(train_split=split), train)
    with torch.no_grad():
        expected = net.criterion_(net.module_(valid.X), valid.y).item()
    assert net.history[-1, "valid_loss"] == pytest.approx(expected, rel=1e-5)


def test_epoch_loss_is_the_sample_weighted_mean_of_batch_losses():
    X, y = _data(n_samples=100)
    net = _fit(_net(), InMemoryDataset(X, y))
    for epoch in net.history:
        losses = [batch["train_loss"] for batch in epoch["batches"]]
        sizes = [batch["train_batch_size"] for batch in epoch["batches"]]
        assert sizes == [32, 32, 32, 4]
        assert all(isinstance(loss, float) for loss in losses)
        assert epoch["train_loss"] == pytest.approx(np.average(losses, weights=sizes))


def test_gradient_callbacks_are_still_called():
    X, y = _data()
    counter = _GradientCounter()
    _fit(_net(callbacks=[("gradients", counter)]), InMemoryDataset(X, y))
    assert counter.calls_ == 3 * 4


def test_overridden_train_step_single_is_used():
    class Recording(EMDNet):
        calls = 0

        def train_step_single(self, batch, **fit_params):
            type(self).calls += 1
            return super().train_step_single(batch, **fit_params)

    X, y = _data()
    params = _net().get_params(deep=False)
    _fit(Recording(**params), InMemoryDataset(X, y))
    assert Recording.calls == 3 * 4


def test_a_torch_dataset_goes_through_skorchs_dataloader():
    X, y = _data()
    dataset = torch.utils.data.TensorDataset(X, y)
    net = _net()
    assert isinstance(
        net.initialize().get_iterator(dataset, training=True),
        torch.utils.data.DataLoader,
    )
    _fit(net, dataset)
    assert len(net.history) == 3
    assert net.history[-1, "train_batch_count"] == 4
    assert np.isfinite(net.history[-1, "train_loss"])
    assert net.predict_proba(dataset).shape == (100, 4)


def test_zero_grad_frees_gradients_between_steps(monkeypatch):
    X, y = _data()
    calls = []
    original = torch.optim.Adam.zero_grad

    def zero_grad(self, set_to_none=True):
        calls.append(set_to_none)
        return original(self, set_to_none=set_to_none)

    monkeypatch.setattr(torch.optim.Adam, "zero_grad", zero_grad)
    _fit(_net(max_epochs=1), InMemoryDataset(X, y))
    assert calls == [True] * 4


# -------------------------------------------------------------- weight decay


@pytest.mark.parametrize("optimizer", [torch.optim.SGD, torch.optim.Adam])
def test_weight_decay_matches_torch_on_weights_and_spares_biases(optimizer, device):
    X, y = _data(n_samples=64)
    dataset = InMemoryDataset(X, y).to(device)
    net = _net(
        device=device,
        optimizer=optimizer,
        optimizer__weight_decay=0.3,
        max_epochs=2,
        iterator_train__shuffle=False,
    )
    net.initialize()
    start = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
    net.partial_fit(dataset, None)

    # The same steps with torch's own weight decay, on weights only.
    reference = MLP(3, 4, hidden_layer_sizes=(8,)).to(device)
    reference.load_state_dict(start)
    weights = [p for p in reference.parameters() if p.dim() >= 2]
    biases = [p for p in reference.parameters() if p.dim() < 2]
    torch_optimizer = optimizer(
        [{"params": weights, "weight_decay": 0.3}, {"params": biases}], lr=0.01
    )
    criterion = SquaredEMDLoss()
    X, y = X.to(device), y.to(device)
    for _ in range(2):
        for start_row in range(0, len(X), 32):
            torch_optimizer.zero_grad()
            rows = slice(start_row, start_row + 32)
            criterion(reference(X[rows]), y[rows]).backward()
            torch_optimizer.step()
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(net.module_.state_dict()[name], value)
    (group,) = net.optimizer_.param_groups
    assert group["weight_decay"] == 0.0


def test_weight_decay_leaves_biases_alone():
    X, y = _data(n_samples=32)
    # A loss with no gradient: only the decay moves the parameters.
    net = _net(
        criterion=lambda: lambda y_pred, y_true: 0.0 * y_pred.sum(),
        optimizer=torch.optim.SGD,
        optimizer__weight_decay=0.5,
        lr=1.0,
        max_epochs=1,
    )
    net.initialize()
    start = {k: v.detach().clone() for k, v in net.module_.named_parameters()}
    net.partial_fit(InMemoryDataset(X, y), None)
    for name, value in net.module_.named_parameters():
        expected = start[name] * 0.5 if value.dim() >= 2 else start[name]
        torch.testing.assert_close(value.detach(), expected)


def test_weight_decay_survives_pickling():
    import pickle

    X, y = _data(n_samples=32)
    net = _net(optimizer__weight_decay=0.1, max_epochs=1)
    _fit(net, InMemoryDataset(X, y))
    restored = pickle.loads(pickle.dumps(net))
    (group,) = restored.optimizer_.param_groups
    assert group["weight_decay_of_weights"] == pytest.approx(0.1)
    restored.partial_fit(InMemoryDataset(X, y), None)


# ----------------------------------------------------------------- precision


def _output_dtypes(net, X):
    dtypes = []
    handle = net.module_.hidden[0].register_forward_hook(
        lambda module, args, output: dtypes.append(output.dtype)
    )
    try:
        logits = net.forward(InMemoryDataset(X))
    finally:
        handle.remove()
    return dtypes, logits


def test_bfloat16_runs_the_module_under_autocast(device):
    X, y = _data()
    net = _fit(_net(device, precision="bfloat16"), InMemoryDataset(X, y).to(device))
    dtypes, logits = _output_dtypes(net, X)
    assert set(dtypes) == {torch.bfloat16}
    # The loss sees float32 logits; the weights stay float32.
    assert logits.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in net.module_.parameters())
    assert np.all(np.isfinite(net.history[:, "train_loss"]))


def test_float32_precision_does_not_autocast():
    X, y = _data()
    net = _fit(_net(), InMemoryDataset(X, y))
    dtypes, logits = _output_dtypes(net, X)
    assert set(dtypes) == {torch.float32}
    assert logits.dtype == torch.float32


# ----------------------------------------------------------- sample weights


def _weights(n_samples, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n_samples, generator=generator) + 0.25


def test_weighted_batch_loss_is_the_weighted_mean(device):
    X, y = _data(n_samples=40)
    w = _weights(40)
    net = _net(device, max_epochs=1, batch_size=40, iterator_train__shuffle=False)
    _fit(net, InMemoryDataset(X, y, w).to(device))
    # The net's get_loss on weighted targets against a direct weighted mean.
    Xd, yd, wd = X.to(device), y.to(device), w.to(device)
    with torch.no_grad():
        y_pred = net.module_(Xd)
        per_sample = SquaredEMDLoss(reduction="none")(y_pred, yd)
        expected = (per_sample * wd).sum() / wd.sum()
        got = net.get_loss(y_pred, WeightedTarget(yd, wd), training=False)
    torch.testing.assert_close(got, expected)
    unweighted = net.get_loss(y_pred, yd, training=False)
    assert not torch.allclose(got, unweighted)


def test_weighted_validation_loss(device):
    X, y = _data(n_samples=120)
    w = _weights(120)
    valid = InMemoryDataset(X[100:], y[100:], w[100:]).to(device)

    def split(dataset, y=None, **kwargs):
        return dataset, valid

    net = _fit(_net(device, train_split=split), InMemoryDataset(X[:100], y[:100]))
    with torch.no_grad():
        per_sample = SquaredEMDLoss(reduction="none")(net.module_(valid.X), valid.y)
        expected = (per_sample * valid.sample_weight).sum() / valid.sample_weight.sum()
    assert net.history[-1, "valid_loss"] == pytest.approx(expected.item(), rel=1e-5)
