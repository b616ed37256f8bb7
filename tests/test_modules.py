"""The networks: seeded layers, the piecewise-linear embedding and the ensemble."""

import numpy as np
import pytest
import torch
from torch import nn

from skemd._modules import (
    MLP,
    BatchedLinear,
    EnsembleMLP,
    PiecewiseLinearEmbedding,
    SeededDropout,
    quantile_bins,
    seeded_linear,
    set_generator,
)


def _generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_seeded_linear_is_torchs_linear_drawn_from_the_generator():
    torch.manual_seed(3)
    expected = nn.Linear(7, 4)
    state = torch.random.get_rng_state()
    layer = seeded_linear(7, 4, _generator(3))
    # The same draws as torch's own initialisation, and none from the global
    # random state.
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.testing.assert_close(layer.weight, expected.weight, rtol=0, atol=0)
    torch.testing.assert_close(layer.bias, expected.bias, rtol=0, atol=0)


def test_seeded_dropout_draws_the_masks_of_torchs_dropout():
    X = torch.randn(50, 20)
    torch.manual_seed(5)
    expected = nn.functional.dropout(X, 0.3, training=True)
    layer = SeededDropout(0.3)
    set_generator(layer, _generator(5))
    torch.testing.assert_close(layer(X), expected, rtol=0, atol=0)
    layer.eval()
    assert torch.equal(layer(X), X)


def test_batched_linear_is_one_linear_layer_per_member():
    layer = BatchedLinear(3, 5, 2, _generator())
    X = torch.randn(3, 8, 5)
    out = layer(X)
    for member in range(3):
        expected = X[member] @ layer.weight[member] + layer.bias[member]
        torch.testing.assert_close(out[member], expected)
    # Initialised within torch's bound for a layer of 5 inputs.
    assert layer.weight.abs().max() <= 1 / np.sqrt(5)


def _embedding(edges, n_members=2, dim=3):
    return PiecewiseLinearEmbedding(edges, n_members, dim, _generator())


def test_piecewise_linear_encoding_against_its_definition():
    edges = [np.array([0.0, 1.0, 3.0, 4.0])]
    embedding = _embedding(edges)
    x = torch.tensor([[-2.0], [0.5], [1.0], [2.0], [3.5], [9.0]])
    encoded = embedding.encode(x)[:, 0]
    expected = torch.tensor(
        [
            # Below the first edge the first bin goes on falling (no clipping).
            [-2.0, 0.0, 0.0],
            [0.5, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [1.0, 0.5, 0.0],
            [1.0, 1.0, 0.5],
            # Above the last edge the last bin goes on rising.
            [1.0, 1.0, 9.0 - 3.0],
        ]
    )
    torch.testing.assert_close(encoded, expected)


def test_piecewise_linear_encoding_is_monotone_and_pads_short_features():
    edges = [np.linspace(0, 1, 6), np.array([0.0, 2.0])]
    embedding = _embedding(edges)
    x = torch.linspace(-1, 3, 200)[:, None].repeat(1, 2)
    encoded = embedding.encode(x)
    # Every bin is non-decreasing in the value, and their sum increasing.
    assert (encoded.diff(dim=0) >= 0).all()
    assert (encoded.sum(dim=2).diff(dim=0) > 0).all()
    # The second feature has one bin; the padding bins stay 0.
    assert (encoded[:, 1, 1:] == 0).all()


def test_embedding_shapes():
    embedding = _embedding([np.linspace(0, 1, 9)] * 4, n_members=3, dim=5)
    out = embedding(torch.rand(3, 10, 4))
    assert out.shape == (3, 10, 4 * 5)
    assert (out >= 0).all()  # after the ReLU


def test_quantile_bins_skip_constant_and_binary_columns():
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [
            rng.normal(size=500),
            rng.integers(0, 2, 500),
            np.ones(500),
            rng.integers(0, 3, 500),
        ]
    )
    bins = quantile_bins(X, 8)
    assert len(bins[0]) == 9
    assert bins[1] is None and bins[2] is None
    np.testing.assert_array_equal(bins[3], [0, 1, 2])


def _ensemble(n_members=4, **params):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) * [1, 10, 100] + [0, 5, -50]
    defaults = dict(
        hidden_layer_sizes=(8,),
        n_members=n_members,
        mean=X.mean(0),
        scale=X.std(0),
        bins=quantile_bins(X, 6),
        embedding_dim=4,
        generator=_generator(),
    )
    return EnsembleMLP(3, 5, **{**defaults, **params}), torch.tensor(X).float()


def test_ensemble_gives_one_set_of_logits_per_member():
    module, X = _ensemble(n_members=4)
    out = module(X)
    assert out.shape == (200, 5, 4)
    # Members have their own weights: their outputs differ.
    assert not torch.allclose(out[..., 0], out[..., 1])


def test_ensemble_member_rows_equal_running_each_member_on_its_rows():
    module, X = _ensemble(n_members=3)
    rows = torch.stack([X[:50], X[50:100], X[100:150]], dim=1)  # (50, 3, 3)
    out = module(rows)
    full = module(X)
    for member, start in enumerate((0, 50, 100)):
        torch.testing.assert_close(
            out[:, :, member], full[start : start + 50, :, member]
        )


def test_ensemble_member_state_round_trip_leaves_other_members_alone():
    module, X = _ensemble(n_members=3)
    before = module(X).detach()
    state = module.member_state(1)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(1.0)
    module.load_member_state(1, state)
    after = module(X).detach()
    torch.testing.assert_close(after[..., 1], before[..., 1])
    assert not torch.allclose(after[..., 0], before[..., 0])


def test_ensemble_standardises_and_clips_its_input():
    module, X = _ensemble(n_members=1, bins=None, clip=1.0)
    # Inputs far outside the training range give the same output as the
    # clipped value: the first layer sees at most clip standard deviations.
    far = X[:1].clone()
    far[0, 1] = 1e6
    edge = X[:1].clone()
    edge[0, 1] = module.mean[1] + 1.0 * module.scale[1]
    torch.testing.assert_close(module(far), module(edge))


def test_mlp_and_ensemble_of_one_without_embedding_are_both_networks():
    mlp = MLP(3, 5, (8,), generator=_generator())
    assert mlp(torch.randn(4, 3)).shape == (4, 5)
    module, X = _ensemble(n_members=1, bins=None)
    assert module(X).shape == (200, 5, 1)


@pytest.mark.parametrize("n_members", [1, 3])
def test_ensemble_trains_on_the_cpu_and_the_device(n_members, device):
    module, X = _ensemble(n_members=n_members)
    module = module.to(device)
    X = X.to(device)
    y = torch.randint(0, 5, (200,), generator=_generator()).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        logits = module(X)
        loss = nn.functional.cross_entropy(logits, y[:, None].expand(-1, n_members))
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
