"""Tests of the squared EMD losses against independent oracles.

The oracles are plain numpy formulas written from METHOD.md, scipy's
``energy_distance`` and POT's exact transport solvers. Every formula is also
differentiated with ``torch.autograd.gradcheck`` in float64.
"""

import math
import pickle

import numpy as np
import ot
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import energy_distance
from torch import nn

from skemd.losses import SquaredEMDLoss, squared_emd_loss

# Device-sensitive tests run on every available device. This local list stands in
# for a shared ``device`` fixture in tests/conftest.py.
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason="CUDA is not available"
        ),
    ),
]

N_CLASSES = [2, 3, 5, 8]
DTYPES = [torch.float32, torch.float64]
# float32 results are compared with a float64 oracle.
RTOL = {torch.float32: 1e-5, torch.float64: 1e-12}
ATOL = {torch.float32: 1e-7, torch.float64: 1e-15}


# --------------------------------------------------------------------------- #
# Helpers: data and numpy oracles
# --------------------------------------------------------------------------- #


def _rng(seed=0):
    return np.random.default_rng(seed)


def _logits(rng, n, k, scale=2.0):
    return rng.normal(scale=scale, size=(n, k))


def _soft_targets(rng, n, k):
    return rng.dirichlet(np.ones(k), size=n)


def _np_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _np_onehot(y, k):
    return np.eye(k)[y]


def _np_ordered(p, t):
    """Per-sample (1/K) * sum_k (F_k(p) - F_k(t))**2 with numpy cumsums."""
    diff = np.cumsum(p, axis=1) - np.cumsum(t, axis=1)
    return (diff**2).sum(axis=1) / p.shape[1]


def _np_matrix(p, t, m):
    """Per-sample (1/K) * sum_i (p_i - t_i)**2 * (t @ M)_i."""
    row_weight = t @ m
    return ((p - t) ** 2 * row_weight).sum(axis=1) / p.shape[1]


def _cost_matrix(rng, k):
    """A learned-style cost: ones on the diagonal, negative entries off it."""
    m = rng.uniform(0.0, 1.5, size=(k, k)) - 0.5
    m[-1, 0] = -0.4  # at least one reward, also for K = 2
    np.fill_diagonal(m, 1.0)
    return m


def _t(array, dtype=torch.float64, device="cpu"):
    return torch.as_tensor(array, dtype=dtype, device=device)


# --------------------------------------------------------------------------- #
# Ordered form: oracles
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", N_CLASSES)
def test_ordered_matches_numpy_cumsum_onehot_target(k, dtype):
    rng = _rng(k)
    z = _logits(rng, 16, k)
    y = rng.integers(0, k, size=16)
    y[:k] = np.arange(k)  # every class appears

    loss = squared_emd_loss(_t(z, dtype), torch.as_tensor(y), reduction="none")

    expected = _np_ordered(_np_softmax(z), _np_onehot(y, k))
    assert loss.dtype == dtype
    np.testing.assert_allclose(
        loss.double().numpy(), expected, rtol=RTOL[dtype], atol=ATOL[dtype]
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", N_CLASSES)
def test_ordered_matches_numpy_cumsum_soft_target(k, dtype):
    rng = _rng(10 + k)
    z = _logits(rng, 16, k)
    t = _soft_targets(rng, 16, k)

    loss = squared_emd_loss(_t(z, dtype), _t(t, dtype), reduction="none")

    expected = _np_ordered(_np_softmax(z), t)
    assert loss.dtype == dtype
    np.testing.assert_allclose(
        loss.double().numpy(), expected, rtol=RTOL[dtype], atol=ATOL[dtype]
    )


@pytest.mark.parametrize("k", N_CLASSES)
def test_ordered_onehot_index_and_onehot_matrix_targets_agree(k):
    rng = _rng(20 + k)
    z = _t(_logits(rng, 12, k))
    y = torch.as_tensor(rng.integers(0, k, size=12))

    by_index = squared_emd_loss(z, y, reduction="none")
    by_matrix = squared_emd_loss(z, F.one_hot(y, k).double(), reduction="none")

    torch.testing.assert_close(by_index, by_matrix, rtol=0, atol=0)


@pytest.mark.parametrize("k", N_CLASSES)
def test_ordered_equals_energy_distance_identity(k):
    rng = _rng(30 + k)
    p = _np_softmax(_logits(rng, 8, k))
    t = _soft_targets(rng, 8, k)
    support = np.arange(k)

    loss = squared_emd_loss(_t(p), _t(t), reduction="none", from_logits=False)

    for i in range(len(p)):
        energy = energy_distance(support, support, p[i], t[i])
        cramer = ((np.cumsum(p[i]) - np.cumsum(t[i])) ** 2).sum()
        # The identity itself, on integer support 0..K-1 ...
        np.testing.assert_allclose(energy**2 / 2, cramer, rtol=1e-10)
        # ... and the loss is that quantity divided by K.
        np.testing.assert_allclose(loss[i].item(), energy**2 / 2 / k, rtol=1e-10)


@pytest.mark.parametrize("k", N_CLASSES)
def test_ordered_onehot_pairs_equal_exact_emd_over_k(k):
    # Between two one-hot distributions every CDF difference is 0 or 1, so the
    # squared l2 and the l1 (the exact W1) coincide: the loss is |i - j| / K.
    support = np.arange(k, dtype=float)
    cost = np.abs(support[:, None] - support[None, :])
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    i, j = i.ravel(), j.ravel()

    loss = squared_emd_loss(
        _t(_np_onehot(i, k)),
        torch.as_tensor(j),
        reduction="none",
        from_logits=False,
    )

    for n in range(len(i)):
        p, t = _np_onehot(i[n], k), _np_onehot(j[n], k)
        emd = ot.emd2(p, t, cost)
        w1 = ot.wasserstein_1d(support, support, p, t, p=1)
        assert emd == pytest.approx(abs(i[n] - j[n]))
        assert w1 == pytest.approx(abs(i[n] - j[n]))
        assert loss[n].item() == pytest.approx(emd / k, abs=1e-12)


@pytest.mark.parametrize("k", N_CLASSES)
def test_l1_of_cumsum_difference_is_exact_emd(k):
    # Validates the oracle's CDF construction: the l1 norm of the same cumsum
    # difference that _np_ordered squares is the exact 1-D EMD of POT.
    rng = _rng(40 + k)
    p = _np_softmax(_logits(rng, 8, k))
    t = _soft_targets(rng, 8, k)
    support = np.arange(k, dtype=float)
    cost = np.abs(support[:, None] - support[None, :])

    for i in range(len(p)):
        l1 = np.abs(np.cumsum(p[i]) - np.cumsum(t[i])).sum()
        assert ot.emd2(p[i], t[i], cost) == pytest.approx(l1, rel=1e-9)
        w1 = ot.wasserstein_1d(support, support, p[i], t[i], p=1)
        assert w1 == pytest.approx(l1, rel=1e-9)


@pytest.mark.parametrize("k", N_CLASSES)
def test_ordered_loss_is_bounded_by_exact_emd(k):
    # With d_k = F_k(p) - F_k(t), |d_k| <= 1 and d_K = 0, so
    # W1**2 / (K - 1) <= sum_k d_k**2 <= W1 (Cauchy-Schwarz and d_k**2 <= |d_k|).
    rng = _rng(50 + k)
    p = _np_softmax(_logits(rng, 32, k))
    y = rng.integers(0, k, size=32)
    t = _np_onehot(y, k)
    support = np.arange(k, dtype=float)
    cost = np.abs(support[:, None] - support[None, :])

    loss = squared_emd_loss(
        _t(p), torch.as_tensor(y), reduction="none", from_logits=False
    )

    for i in range(len(p)):
        w1 = ot.emd2(p[i], t[i], cost)
        scaled = k * loss[i].item()
        assert w1**2 / (k - 1) <= scaled + 1e-12
        assert scaled <= w1 + 1e-12


def test_ordered_loss_grows_with_distance_to_true_class():
    k = 6
    proba = _t(_np_onehot(np.zeros(k, dtype=int), k) * 0.9 + 0.1 / k)
    loss = squared_emd_loss(proba, torch.arange(k), reduction="none", from_logits=False)
    assert torch.all(torch.diff(loss) > 0)


# --------------------------------------------------------------------------- #
# Matrix form: oracles
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", N_CLASSES)
def test_matrix_matches_numpy_formula_onehot_target(k, dtype):
    rng = _rng(60 + k)
    z = _logits(rng, 16, k)
    y = rng.integers(0, k, size=16)
    m = _cost_matrix(rng, k)

    loss = squared_emd_loss(
        _t(z, dtype), torch.as_tensor(y), _t(m, dtype), reduction="none"
    )

    p, t = _np_softmax(z), _np_onehot(y, k)
    # For a one-hot target the row weight is M[y, :].
    direct = ((p - t) ** 2 * m[y]).sum(axis=1) / k
    np.testing.assert_allclose(direct, _np_matrix(p, t, m), rtol=1e-12)
    assert loss.dtype == dtype
    np.testing.assert_allclose(
        loss.double().numpy(), direct, rtol=RTOL[dtype], atol=ATOL[dtype]
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", N_CLASSES)
def test_matrix_matches_numpy_formula_soft_target(k, dtype):
    rng = _rng(70 + k)
    z = _logits(rng, 16, k)
    t = _soft_targets(rng, 16, k)
    m = _cost_matrix(rng, k)

    loss = squared_emd_loss(_t(z, dtype), _t(t, dtype), _t(m, dtype), reduction="none")

    expected = _np_matrix(_np_softmax(z), t, m)
    np.testing.assert_allclose(
        loss.double().numpy(), expected, rtol=RTOL[dtype], atol=ATOL[dtype]
    )


@pytest.mark.parametrize("k", N_CLASSES)
def test_matrix_onehot_index_and_onehot_matrix_targets_agree(k):
    rng = _rng(80 + k)
    z = _t(_logits(rng, 12, k))
    y = torch.as_tensor(rng.integers(0, k, size=12))
    m = _t(_cost_matrix(rng, k))

    by_index = squared_emd_loss(z, y, m, reduction="none")
    by_matrix = squared_emd_loss(z, F.one_hot(y, k).double(), m, reduction="none")

    torch.testing.assert_close(by_index, by_matrix, rtol=1e-14, atol=1e-16)


def test_matrix_uses_row_of_true_class_not_column():
    # An asymmetric matrix tells M[y, i] from M[i, y].
    m = torch.tensor([[1.0, 2.0, 3.0], [5.0, 1.0, 7.0], [11.0, 13.0, 1.0]])
    p = torch.tensor([[0.5, 0.3, 0.2]])
    loss = squared_emd_loss(p, torch.tensor([1]), m, from_logits=False)
    expected = (0.5**2 * 5.0 + 0.7**2 * 1.0 + 0.2**2 * 7.0) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("k", N_CLASSES)
def test_matrix_with_ones_is_brier_score_over_k(k):
    rng = _rng(90 + k)
    z = _logits(rng, 16, k)
    y = rng.integers(0, k, size=16)
    t_soft = _soft_targets(rng, 16, k)
    ones = torch.ones(k, k, dtype=torch.float64)
    p = _np_softmax(z)

    hard = squared_emd_loss(_t(z), torch.as_tensor(y), ones, reduction="none")
    soft = squared_emd_loss(_t(z), _t(t_soft), ones, reduction="none")

    brier_hard = ((p - _np_onehot(y, k)) ** 2).sum(axis=1)
    brier_soft = ((p - t_soft) ** 2).sum(axis=1)
    np.testing.assert_allclose(hard.numpy(), brier_hard / k, rtol=1e-12)
    np.testing.assert_allclose(soft.numpy(), brier_soft / k, rtol=1e-12)


@pytest.mark.parametrize("k", N_CLASSES)
def test_linear_emd_with_onehot_target_is_expected_cost(k):
    # Documents why the matrix form needs no solver: with a one-hot target all
    # mass must move to y, so the plan is unique and the exact EMD under D is
    # sum_i p_i D[i, y]. This checks the identity the formula rests on.
    rng = _rng(100 + k)
    d = rng.uniform(0.0, 2.0, size=(k, k))
    np.fill_diagonal(d, 0.0)
    p = _np_softmax(_logits(rng, 8, k))
    y = rng.integers(0, k, size=8)

    for i in range(len(p)):
        t = _np_onehot(y[i], k)
        plan = ot.emd(p[i], t, d)
        np.testing.assert_allclose(plan[:, y[i]], p[i], atol=1e-12)
        assert ot.emd2(p[i], t, d) == pytest.approx(p[i] @ d[:, y[i]], rel=1e-9)


# --------------------------------------------------------------------------- #
# Gradients
# --------------------------------------------------------------------------- #


def _gradcheck_inputs(k=4, n=5, seed=0):
    rng = _rng(seed)
    z = _t(_logits(rng, n, k)).requires_grad_()
    y = torch.as_tensor(rng.integers(0, k, size=n))
    t = _t(_soft_targets(rng, n, k))
    m = _t(_cost_matrix(rng, k))
    w = _t(rng.uniform(0.1, 2.0, size=n))
    return z, y, t, m, w


@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_gradcheck_logits_onehot_target(form):
    z, y, _, m, _ = _gradcheck_inputs(seed=1)
    m = None if form == "ordered" else m
    assert torch.autograd.gradcheck(lambda z: squared_emd_loss(z, y, m), (z,))


@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_gradcheck_logits_and_soft_target(form):
    z, _, t, m, _ = _gradcheck_inputs(seed=2)
    m = None if form == "ordered" else m
    t.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda z, t: squared_emd_loss(z, t, m, reduction="none"), (z, t)
    )


@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_gradcheck_with_sample_weight(form):
    z, y, _, m, w = _gradcheck_inputs(seed=3)
    m = None if form == "ordered" else m
    assert torch.autograd.gradcheck(
        lambda z: squared_emd_loss(z, y, m, sample_weight=w), (z,)
    )


@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_gradcheck_probability_input(form):
    z, y, _, m, _ = _gradcheck_inputs(seed=4)
    m = None if form == "ordered" else m
    proba = torch.softmax(z.detach(), dim=1).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda p: squared_emd_loss(p, y, m, from_logits=False), (proba,)
    )


@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_gradcheck_module_with_cross_entropy(form):
    z, y, _, m, _ = _gradcheck_inputs(seed=5)
    criterion = SquaredEMDLoss(None if form == "ordered" else m, ce_weight=0.3)
    assert torch.autograd.gradcheck(lambda z: criterion(z, y), (z,))


def test_gradient_matches_hand_derived_formula():
    # d/dp_i of (1/K) sum_k (F_k(p) - F_k(t))**2 is (2/K) sum_{k >= i} d_k.
    rng = _rng(6)
    k = 5
    p = _np_softmax(_logits(rng, 3, k))
    y = rng.integers(0, k, size=3)
    proba = _t(p).requires_grad_()

    squared_emd_loss(
        proba, torch.as_tensor(y), reduction="sum", from_logits=False
    ).backward()

    d = np.cumsum(p, axis=1) - np.cumsum(_np_onehot(y, k), axis=1)
    expected = 2 / k * np.cumsum(d[:, ::-1], axis=1)[:, ::-1]
    # The last column is sum(p) - 1: zero up to the order of the additions.
    np.testing.assert_allclose(proba.grad.numpy(), expected, rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- #
# Numerical stability
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_huge_logits_give_finite_loss_and_gradient(form, dtype, device):
    rng = _rng(7)
    k = 5
    z = _t(1e4 * rng.standard_normal((8, k)), dtype, device).requires_grad_()
    y = torch.as_tensor(rng.integers(0, k, size=8), device=device)
    m = None if form == "ordered" else _t(_cost_matrix(rng, k), dtype, device)
    criterion = SquaredEMDLoss(m, ce_weight=0.5).to(device)

    loss = criterion(z, y)
    loss.backward()

    assert torch.isfinite(loss)
    assert torch.isfinite(z.grad).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_confident_correct_prediction_has_zero_loss(form, dtype):
    k = 5
    y = torch.arange(k)
    z = 1e4 * F.one_hot(y, k).to(dtype)
    m = None if form == "ordered" else _t(_cost_matrix(_rng(8), k), dtype)

    loss = squared_emd_loss(z, y, m, reduction="none")

    assert loss.abs().max().item() < 1e-12


def test_confident_wrong_prediction_has_exact_distance_loss():
    k = 4
    z = 1e4 * F.one_hot(torch.tensor([3, 0]), k).double()
    loss = squared_emd_loss(z, torch.tensor([0, 2]), reduction="none")
    torch.testing.assert_close(loss, torch.tensor([3 / 4, 2 / 4], dtype=torch.float64))


# --------------------------------------------------------------------------- #
# Reduction and sample weights
# --------------------------------------------------------------------------- #


@pytest.fixture
def batch():
    rng = _rng(11)
    k = 4
    z = _t(_logits(rng, 10, k))
    y = torch.as_tensor(rng.integers(0, k, size=10))
    w = _t(rng.uniform(0.0, 3.0, size=10))
    m = _t(_cost_matrix(rng, k))
    return z, y, w, m


@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_reduction_sum_and_mean_reduce_per_sample_losses(batch, form):
    z, y, _, m = batch
    m = None if form == "ordered" else m
    per_sample = squared_emd_loss(z, y, m, reduction="none")

    assert per_sample.shape == (10,)
    torch.testing.assert_close(
        squared_emd_loss(z, y, m, reduction="sum"), per_sample.sum()
    )
    torch.testing.assert_close(squared_emd_loss(z, y, m), per_sample.mean())


@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_weighted_mean_is_manual_weighted_average(batch, form):
    z, y, w, m = batch
    m = None if form == "ordered" else m
    per_sample = squared_emd_loss(z, y, m, reduction="none").numpy()

    loss = squared_emd_loss(z, y, m, sample_weight=w)

    expected = np.average(per_sample, weights=w.numpy())
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_weighted_sum_and_none_multiply_by_weights(batch):
    z, y, w, _ = batch
    per_sample = squared_emd_loss(z, y, reduction="none")

    weighted_none = squared_emd_loss(z, y, sample_weight=w, reduction="none")
    weighted_sum = squared_emd_loss(z, y, sample_weight=w, reduction="sum")

    torch.testing.assert_close(weighted_none, per_sample * w)
    torch.testing.assert_close(weighted_sum, (per_sample * w).sum())


def test_zero_weights_drop_samples(batch):
    z, y, w, _ = batch
    w = w.clone()
    w[::2] = 0.0
    keep = w > 0

    weighted = squared_emd_loss(z, y, sample_weight=w)
    subset = squared_emd_loss(z[keep], y[keep], sample_weight=w[keep])

    torch.testing.assert_close(weighted, subset)


def test_uniform_weights_equal_unweighted_mean(batch):
    z, y, _, _ = batch
    weighted = squared_emd_loss(z, y, sample_weight=torch.full((10,), 2.5))
    torch.testing.assert_close(weighted, squared_emd_loss(z, y))


def test_sample_weight_accepts_array_like(batch):
    z, y, w, _ = batch
    from_list = squared_emd_loss(z, y, sample_weight=w.tolist())
    torch.testing.assert_close(from_list, squared_emd_loss(z, y, sample_weight=w))


# --------------------------------------------------------------------------- #
# Input validation
# --------------------------------------------------------------------------- #


def test_bad_reduction_raises():
    with pytest.raises(ValueError, match="reduction must be one of"):
        squared_emd_loss(torch.zeros(2, 3), torch.tensor([0, 1]), reduction="avg")


def test_module_bad_reduction_raises():
    with pytest.raises(ValueError, match="reduction must be one of"):
        SquaredEMDLoss(reduction="batchmean")


@pytest.mark.parametrize("shape", [(3,), ()])
def test_input_of_fewer_than_2_dims_raises(shape):
    with pytest.raises(ValueError, match=r"input must have shape \(N, K\)"):
        squared_emd_loss(torch.zeros(shape), torch.tensor([0, 1]))


def test_target_that_is_a_scalar_raises():
    with pytest.raises(ValueError, match="input has 2 samples but target has a"):
        squared_emd_loss(torch.zeros(2, 3), torch.tensor(1))


@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_target_length_mismatch_raises(form):
    m = None if form == "ordered" else torch.ones(3, 3)
    with pytest.raises(ValueError, match="input has 4 samples but target has 3"):
        squared_emd_loss(torch.zeros(4, 3), torch.tensor([0, 1, 2]), m)


@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_soft_target_with_wrong_number_of_classes_raises(form):
    m = None if form == "ordered" else torch.ones(3, 3)
    with pytest.raises(ValueError, match="Soft targets have 4 columns .* 3 classes"):
        squared_emd_loss(torch.zeros(2, 3), torch.full((2, 4), 0.25), m)


@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_target_with_three_dims_raises(form):
    m = None if form == "ordered" else torch.ones(3, 3)
    with pytest.raises(ValueError, match="target must be class indices"):
        squared_emd_loss(torch.zeros(2, 3), torch.zeros(2, 3, 1), m)


@pytest.mark.parametrize("shape", [(3, 4), (4, 4), (3,)])
def test_ground_distance_of_wrong_shape_raises(shape):
    with pytest.raises(ValueError, match=r"ground_distance must have shape \(3, 3\)"):
        squared_emd_loss(torch.zeros(2, 3), torch.tensor([0, 1]), torch.ones(shape))


def test_module_ground_distance_of_wrong_shape_raises():
    criterion = SquaredEMDLoss(torch.ones(4, 4))
    with pytest.raises(ValueError, match=r"ground_distance must have shape \(3, 3\)"):
        criterion(torch.zeros(2, 3), torch.tensor([0, 1]))


@pytest.mark.parametrize("form", ["ordered", "matrix"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bool])
def test_non_integer_1d_target_raises(form, dtype):
    m = None if form == "ordered" else torch.ones(3, 3)
    with pytest.raises(TypeError, match="must hold integer class indices"):
        squared_emd_loss(torch.zeros(2, 3), torch.tensor([0, 1]).to(dtype), m)


@pytest.mark.parametrize("k", [3, 40])
@pytest.mark.parametrize("form", ["ordered", "matrix"])
@pytest.mark.parametrize("high", [False, True])
def test_class_index_out_of_range_raises(form, high, k):
    # Labels 1..K instead of 0..K-1 are a common slip with ordinal data; they
    # must not be silently read as a class past the end (or, for -1, the last).
    label = k if high else -1
    m = None if form == "ordered" else torch.ones(k, k)
    with pytest.raises(RuntimeError, match="Class values must be"):
        squared_emd_loss(torch.zeros(2, k), torch.tensor([0, label]), m)


# --------------------------------------------------------------------------- #
# Ordered form: the two ways of computing it
# --------------------------------------------------------------------------- #

# Up to 32 classes the cumulative sums are products with a triangular matrix;
# above, cumulative sums; under autocast, cumulative sums whatever K.
PATH_CLASSES = [4, 32, 33, 60]


@pytest.mark.parametrize("k", PATH_CLASSES)
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "weighted"])
def test_ordered_paths_match_numpy(k, soft, reduction):
    rng = _rng(300 + k)
    n = 50
    z = _logits(rng, n, k)
    y = rng.integers(0, k, size=n)
    t = _soft_targets(rng, n, k) if soft else _np_onehot(y, k)
    target = _t(t) if soft else torch.as_tensor(y)
    w = rng.uniform(0.1, 2.0, size=n)

    per_sample = _np_ordered(_np_softmax(z), t)
    if reduction == "weighted":
        loss = squared_emd_loss(_t(z), target, sample_weight=_t(w))
        expected = np.sum(w * per_sample) / np.sum(w)
    else:
        loss = squared_emd_loss(_t(z), target, reduction=reduction)
        expected = {"mean": per_sample.mean(), "sum": per_sample.sum()}.get(
            reduction, per_sample
        )
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("k", PATH_CLASSES)
def test_ordered_paths_gradcheck(k):
    rng = _rng(400 + k)
    z = _t(_logits(rng, 6, k)).requires_grad_()
    y = torch.as_tensor(rng.integers(0, k, size=6))
    t = _t(_soft_targets(rng, 6, k))
    assert torch.autograd.gradcheck(lambda z: squared_emd_loss(z, y), (z,))
    assert torch.autograd.gradcheck(
        lambda z: squared_emd_loss(z, t, reduction="none"), (z,)
    )


# The mean over class indices from logits runs as one fused autograd node per
# form; on the CPU, batches of 1024 or more with fewer than 16 classes take its
# elementwise softmax. These batch sizes and class counts reach every branch.
FUSED_CASES = [(50, 4), (1100, 3), (1100, 15), (1100, 16), (1100, 33)]


def _np_mean_and_gradient(z, y, m=None):
    """The mean loss and its gradient with respect to the logits, by hand."""
    n, k = z.shape
    p = _np_softmax(z)
    t = _np_onehot(y, k)
    if m is None:
        # dL/dp_j = 2/(N K) sum_{k >= j} (F_k(p) - F_k(t))
        cdf_diff = np.cumsum(p - t, axis=1)
        grad_p = 2.0 / (n * k) * np.cumsum(cdf_diff[:, ::-1], axis=1)[:, ::-1]
        loss = _np_ordered(p, t).mean()
    else:
        # dL/dp_i = 2/(N K) (p_i - t_i) M[y, i]
        grad_p = 2.0 / (n * k) * (p - t) * m[y]
        loss = _np_matrix(p, t, m).mean()
    # Through the softmax Jacobian diag(p) - p p^T.
    return loss, p * (grad_p - np.sum(grad_p * p, axis=1, keepdims=True))


def _form_matrix(form, rng, k):
    return None if form == "ordered" else _cost_matrix(rng, k)


@pytest.mark.parametrize("n, k", FUSED_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_fused_mean_matches_numpy_loss_and_gradient(n, k, dtype, form):
    rng = _rng(700 + k)
    z = _logits(rng, n, k, scale=4.0)
    y = rng.integers(0, k, size=n)
    m = _form_matrix(form, rng, k)
    expected_loss, expected_grad = _np_mean_and_gradient(z, y, m)

    logits = _t(z, dtype).requires_grad_()
    matrix = None if m is None else _t(m, dtype)
    loss = squared_emd_loss(logits, torch.as_tensor(y), matrix)
    loss.backward()
    tol = {"rtol": 1e-5, "atol": 1e-7} if dtype == torch.float32 else {}
    np.testing.assert_allclose(loss.item(), expected_loss, **tol)
    np.testing.assert_allclose(logits.grad.numpy(), expected_grad, **tol)


@pytest.mark.parametrize("n, k", FUSED_CASES)
@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_fused_mean_gradcheck(n, k, form):
    rng = _rng(800 + k)
    z = _t(_logits(rng, n, k)).requires_grad_()
    y = torch.as_tensor(rng.integers(0, k, size=n))
    m = _form_matrix(form, rng, k)
    m = None if m is None else _t(m)
    assert torch.autograd.gradcheck(
        lambda z: squared_emd_loss(z, y, m), (z,), fast_mode=n > 100
    )


@pytest.mark.parametrize("k", [4, 40])
@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_fused_mean_second_derivatives(k, form):
    # create_graph=True (gradient penalties, Hessian-vector products) must
    # differentiate the backward pass too.
    rng = _rng(900 + k)
    z = _t(_logits(rng, 5, k)).requires_grad_()
    y = torch.as_tensor(rng.integers(0, k, size=5))
    m = _form_matrix(form, rng, k)
    m = None if m is None else _t(m)
    assert torch.autograd.gradgradcheck(lambda z: squared_emd_loss(z, y, m), (z,))


def test_ground_distance_that_requires_grad_gets_a_gradient():
    # A matrix being learned by gradient (not the paper's method, but a torch
    # user's option) takes the unfused path, which differentiates through it.
    rng = _rng(950)
    z = _t(_logits(rng, 6, 4)).requires_grad_()
    m = _t(_cost_matrix(rng, 4)).requires_grad_()
    y = torch.as_tensor(rng.integers(0, 4, size=6))
    assert torch.autograd.gradcheck(lambda z, m: squared_emd_loss(z, y, m), (z, m))


@pytest.mark.parametrize("k", PATH_CLASSES)
@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_reduced_loss_owns_only_its_own_value(k, form):
    # Callers often keep loss.detach() of every batch; a scalar that is a view
    # of the batch's N x K intermediate would keep all of them alive.
    m = None if form == "ordered" else torch.ones(k, k)
    z = torch.randn(64, k, requires_grad=True)
    y = torch.randint(0, k, (64,))
    for reduction in ("mean", "sum"):
        loss = squared_emd_loss(z, y, m, reduction=reduction).detach()
        assert loss.untyped_storage().nbytes() == loss.element_size()


def test_ordered_loss_under_autocast_stays_in_float32():
    # Under autocast a matrix product would run in bfloat16; the loss keeps the
    # exact cumulative sums instead.
    rng = _rng(500)
    z = _t(_logits(rng, 64, 5), torch.float32)
    y = torch.as_tensor(rng.integers(0, 5, size=64))
    expected = squared_emd_loss(z, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = squared_emd_loss(z, y)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-7)


def test_sample_weight_of_wrong_shape_raises():
    with pytest.raises(ValueError, match="sample_weight has shape"):
        squared_emd_loss(
            torch.zeros(3, 3), torch.tensor([0, 1, 2]), sample_weight=torch.ones(2)
        )


@pytest.mark.parametrize(
    "target_dtype", [torch.int8, torch.int32, torch.int64, torch.uint8]
)
def test_any_integer_target_dtype_is_accepted(target_dtype):
    z = _t(_logits(_rng(12), 3, 3))
    y = torch.tensor([0, 2, 1])
    loss = squared_emd_loss(z, y.to(target_dtype))
    torch.testing.assert_close(loss, squared_emd_loss(z, y))


# --------------------------------------------------------------------------- #
# Devices
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_loss_on_device_matches_numpy_oracle(form, device):
    rng = _rng(13)
    k = 5
    z = _logits(rng, 16, k)
    y = rng.integers(0, k, size=16)
    m = _cost_matrix(rng, k)

    gd = None if form == "ordered" else _t(m, device=device)
    loss = squared_emd_loss(
        _t(z, device=device),
        torch.as_tensor(y, device=device),
        gd,
        reduction="none",
    )

    p, t = _np_softmax(z), _np_onehot(y, k)
    expected = _np_ordered(p, t) if form == "ordered" else _np_matrix(p, t, m)
    assert loss.device.type == device
    np.testing.assert_allclose(loss.cpu().numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_module_buffer_follows_to_device_and_dtype(device):
    m = torch.ones(3, 3, dtype=torch.float32)
    criterion = SquaredEMDLoss(m).to(device).to(torch.float64)

    assert criterion.ground_distance.device.type == device
    assert criterion.ground_distance.dtype == torch.float64
    loss = criterion(
        torch.zeros(2, 3, dtype=torch.float64, device=device),
        torch.tensor([0, 2], device=device),
    )
    assert loss.device.type == device


def test_ground_distance_on_cpu_is_moved_to_input_dtype():
    z = _t(_logits(_rng(14), 4, 3), torch.float32)
    y = torch.tensor([0, 1, 2, 1])
    loss = squared_emd_loss(z, y, torch.ones(3, 3, dtype=torch.float64))
    assert loss.dtype == torch.float32


# --------------------------------------------------------------------------- #
# SquaredEMDLoss module
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_module_equals_function(batch, form, reduction):
    z, y, w, m = batch
    m = None if form == "ordered" else m
    criterion = SquaredEMDLoss(m, reduction=reduction)

    torch.testing.assert_close(
        criterion(z, y), squared_emd_loss(z, y, m, reduction=reduction)
    )
    torch.testing.assert_close(
        criterion(z, y, sample_weight=w),
        squared_emd_loss(z, y, m, reduction=reduction, sample_weight=w),
    )


@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_module_mix_is_weighted_cross_entropy_plus_emd(batch, form):
    z, y, _, m = batch
    m = None if form == "ordered" else m
    criterion = SquaredEMDLoss(m, ce_weight=0.7, emd_weight=2.0)

    expected = 0.7 * F.cross_entropy(z, y) + 2.0 * squared_emd_loss(z, y, m)

    torch.testing.assert_close(criterion(z, y), expected)


@pytest.mark.parametrize("form", ["ordered", "matrix"])
@pytest.mark.parametrize("weights", [(0.7, 2.0), (1.0, 0.0), (0.5, 1.0), (0.0, 2.0)])
def test_module_mean_equals_mean_of_per_sample_losses(batch, form, weights):
    # The mean takes each term's own reduced kernel; it must agree, in value and
    # gradient, with the per-sample losses averaged.
    z, y, _, m = batch
    m = None if form == "ordered" else m
    ce_weight, emd_weight = weights
    logits = z.detach().clone().requires_grad_()
    mean = SquaredEMDLoss(m, ce_weight=ce_weight, emd_weight=emd_weight)(logits, y)
    (grad,) = torch.autograd.grad(mean, logits)
    per_sample = SquaredEMDLoss(
        m, ce_weight=ce_weight, emd_weight=emd_weight, reduction="none"
    )(logits, y)
    torch.testing.assert_close(mean, per_sample.mean())
    (expected,) = torch.autograd.grad(per_sample.mean(), logits)
    torch.testing.assert_close(grad, expected)


def test_module_mix_with_soft_targets_uses_soft_cross_entropy(batch):
    z, _, _, m = batch
    t = _t(_soft_targets(_rng(15), 10, 4))
    criterion = SquaredEMDLoss(m, ce_weight=0.4, emd_weight=1.5)

    expected = 0.4 * F.cross_entropy(z, t) + 1.5 * squared_emd_loss(z, t, m)

    torch.testing.assert_close(criterion(z, t), expected)


def test_module_cross_entropy_only(batch):
    z, y, _, _ = batch
    criterion = SquaredEMDLoss(ce_weight=1.0, emd_weight=0.0)
    torch.testing.assert_close(criterion(z, y), F.cross_entropy(z, y))


def test_module_mix_from_probabilities_uses_log_of_input(batch):
    z, y, _, _ = batch
    proba = torch.softmax(z, dim=1)
    criterion = SquaredEMDLoss(ce_weight=0.5, from_logits=False)

    expected = 0.5 * F.nll_loss(torch.log(proba), y) + squared_emd_loss(
        proba, y, from_logits=False
    )

    torch.testing.assert_close(criterion(proba, y), expected)


def test_module_weighted_mix_is_weighted_average_of_mix(batch):
    z, y, w, m = batch
    criterion = SquaredEMDLoss(m, ce_weight=0.7)
    per_sample = 0.7 * F.cross_entropy(z, y, reduction="none") + squared_emd_loss(
        z, y, m, reduction="none"
    )
    expected = np.average(per_sample.numpy(), weights=w.numpy())
    assert criterion(z, y, sample_weight=w).item() == pytest.approx(expected, rel=1e-12)


def test_module_ground_distance_is_in_state_dict():
    m = torch.arange(9.0).reshape(3, 3)
    state = SquaredEMDLoss(m).state_dict()
    assert "ground_distance" in state
    torch.testing.assert_close(state["ground_distance"], m)


def test_module_ground_distance_from_numpy_integer_array_is_float():
    criterion = SquaredEMDLoss(np.ones((3, 3), dtype=int))
    assert criterion.ground_distance.dtype == torch.get_default_dtype()


def test_assigning_new_ground_distance_changes_result(batch):
    z, y, _, m = batch
    criterion = SquaredEMDLoss(m)
    before = criterion(z, y)

    criterion.ground_distance = torch.ones(4, 4)

    after = criterion(z, y)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, squared_emd_loss(z, y, torch.ones(4, 4)))
    torch.testing.assert_close(
        criterion.state_dict()["ground_distance"], torch.ones(4, 4)
    )


def test_assigning_ground_distance_to_ordered_module_switches_form(batch):
    z, y, _, m = batch
    criterion = SquaredEMDLoss()
    assert "ground_distance" not in criterion.state_dict()

    criterion.ground_distance = m

    torch.testing.assert_close(criterion(z, y), squared_emd_loss(z, y, m))
    assert "ground_distance" in criterion.state_dict()


def test_module_pickle_round_trip(batch):
    z, y, _, m = batch
    criterion = SquaredEMDLoss(m, ce_weight=0.3, emd_weight=0.8, reduction="sum")

    clone = pickle.loads(pickle.dumps(criterion))

    assert (clone.ce_weight, clone.emd_weight, clone.reduction) == (0.3, 0.8, "sum")
    torch.testing.assert_close(clone.ground_distance, criterion.ground_distance)
    torch.testing.assert_close(clone(z, y), criterion(z, y))


@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_module_as_skorch_criterion(form):
    from skorch import NeuralNetClassifier

    rng = _rng(16)
    k = 3
    X = rng.normal(size=(40, 5)).astype(np.float32)
    y = rng.integers(0, k, size=40).astype(np.int64)
    m = None if form == "ordered" else _t(_cost_matrix(rng, k), torch.float32)

    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = NeuralNetClassifier(
            nn.Linear,
            module__in_features=5,
            module__out_features=k,
            criterion=SquaredEMDLoss,
            criterion__ground_distance=m,
            criterion__ce_weight=0.5,
            max_epochs=2,
            lr=0.1,
            batch_size=16,
            train_split=None,
        )
        net.initialize()
        initial_weight = net.module_.weight.detach().clone()
        net.fit(X, y)

    assert isinstance(net.criterion_, SquaredEMDLoss)
    assert net.criterion_.ce_weight == 0.5
    if m is not None:
        torch.testing.assert_close(net.criterion_.ground_distance, m)
    train_loss = net.history[:, "train_loss"]
    assert len(train_loss) == 2
    assert np.isfinite(train_loss).all()
    assert not torch.equal(net.module_.weight.detach(), initial_weight)


# --------------------------------------------------------------------------- #
# Inputs with positions, (N, K, d1, ..., dk), and ignore_index
# --------------------------------------------------------------------------- #


def _positions_batch(seed=3, k=5, shape=(2, 3, 4)):
    """Logits (N, K, d1, d2), class indices, soft targets and per-position weights."""
    rng = _rng(seed)
    n, *positions = shape
    z = _t(rng.normal(scale=2.0, size=(n, k, *positions)))
    y = torch.as_tensor(rng.integers(0, k, size=shape))
    soft = _t(np.moveaxis(rng.dirichlet(np.ones(k), size=shape), -1, 1))
    w = _t(rng.uniform(0.0, 3.0, size=shape))
    return z, y, soft, w


def _np_rows(z):
    """(N, K, d1, ...) as rows of K, position by position (C order)."""
    k = z.shape[1]
    return np.moveaxis(np.asarray(z), 1, -1).reshape(-1, k)


@pytest.mark.parametrize("form", ["ordered", "matrix"])
@pytest.mark.parametrize("soft", [False, True])
def test_positions_match_numpy_per_position(form, soft):
    z, y, soft_t, _ = _positions_batch()
    k = z.shape[1]
    m = None if form == "ordered" else _cost_matrix(_rng(4), k)
    target = soft_t if soft else y
    t = _np_rows(soft_t) if soft else _np_onehot(y.numpy().reshape(-1), k)
    p = _np_softmax(_np_rows(z))
    expected = _np_ordered(p, t) if m is None else _np_matrix(p, t, m)
    m = None if m is None else _t(m)
    per_position = squared_emd_loss(z, target, m, reduction="none")
    assert per_position.shape == y.shape
    np.testing.assert_allclose(per_position.numpy().reshape(-1), expected, rtol=1e-10)
    assert squared_emd_loss(z, target, m).item() == pytest.approx(expected.mean())
    assert squared_emd_loss(z, target, m, reduction="sum").item() == pytest.approx(
        expected.sum()
    )


@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_positions_take_weights_per_position_or_per_sample(form):
    z, y, _, w = _positions_batch()
    m = None if form == "ordered" else _t(_cost_matrix(_rng(4), z.shape[1]))
    per_position = squared_emd_loss(z, y, m, reduction="none")
    assert squared_emd_loss(z, y, m, sample_weight=w).item() == pytest.approx(
        (w * per_position).sum().item() / w.sum().item()
    )
    per_sample = torch.tensor([0.5, 2.0], dtype=torch.float64)
    spread = per_sample[:, None, None].expand_as(w)
    assert squared_emd_loss(z, y, m, sample_weight=per_sample).item() == (
        pytest.approx((spread * per_position).sum().item() / spread.sum().item())
    )
    torch.testing.assert_close(
        squared_emd_loss(z, y, m, sample_weight=per_sample, reduction="none"),
        spread * per_position,
    )


def test_positions_gradcheck():
    z, y, soft, w = _positions_batch(shape=(2, 3))
    z.requires_grad_(True)
    for target in (y, soft):
        assert torch.autograd.gradcheck(
            lambda x, target=target: squared_emd_loss(x, target), (z,)
        )
    assert torch.autograd.gradcheck(
        lambda x: squared_emd_loss(x, y, sample_weight=w, reduction="sum"), (z,)
    )


@pytest.mark.parametrize(
    "target_shape", [(2, 3), (2, 4, 3), (2, 5, 3, 5), (2, 3, 4, 1)]
)
def test_positions_with_a_target_of_the_wrong_shape_raise(target_shape):
    z = torch.zeros(2, 5, 3, 4)
    with pytest.raises(ValueError, match=r"target must be class indices of shape"):
        squared_emd_loss(z, torch.zeros(target_shape, dtype=torch.long))


def test_positions_with_weights_of_the_wrong_shape_raise():
    z, y = torch.zeros(2, 5, 3), torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"sample_weight has shape \(3,\)"):
        squared_emd_loss(z, y, sample_weight=torch.ones(3))


@pytest.mark.parametrize("form", ["ordered", "matrix"])
@pytest.mark.parametrize("weighted", [False, True])
def test_ignore_index_equals_leaving_the_samples_out(batch, form, weighted):
    z, y, w, m = batch
    m = None if form == "ordered" else m
    w = w if weighted else None
    ignored = y.clone()
    drop = torch.tensor([1, 4, 5])
    ignored[drop] = -100
    keep = torch.ones(len(y), dtype=torch.bool)
    keep[drop] = False
    kept_w = None if w is None else w[keep]
    for reduction in ("mean", "sum"):
        expected = squared_emd_loss(
            z[keep], y[keep], m, sample_weight=kept_w, reduction=reduction
        )
        got = squared_emd_loss(
            z, ignored, m, sample_weight=w, reduction=reduction, ignore_index=-100
        )
        torch.testing.assert_close(got, expected)
    per_sample = squared_emd_loss(
        z, ignored, m, sample_weight=w, reduction="none", ignore_index=-100
    )
    assert torch.all(per_sample[drop] == 0)
    # No gradient reaches the ignored samples' logits.
    z = z.clone().requires_grad_(True)
    squared_emd_loss(z, ignored, m, sample_weight=w, ignore_index=-100).backward()
    assert torch.all(z.grad[drop] == 0)
    assert torch.all(z.grad[keep].abs().sum(dim=1) > 0)


def test_ignore_index_may_be_a_class():
    z, y, _, _ = _positions_batch()
    keep = y != 2
    expected = squared_emd_loss(z.movedim(1, -1)[keep], y[keep])
    torch.testing.assert_close(squared_emd_loss(z, y, ignore_index=2), expected)


def test_ignore_index_with_positions_matches_cross_entropy_semantics():
    # The cross-entropy term alone must equal torch's cross-entropy with the
    # same ignore_index, for inputs with positions and every reduction.
    z, y, _, _ = _positions_batch()
    y = y.clone()
    y[0, 1, :2] = -100
    y[1, 2, 3] = -100
    for reduction in ("mean", "sum", "none"):
        criterion = SquaredEMDLoss(
            ce_weight=1.0, emd_weight=0.0, reduction=reduction, ignore_index=-100
        )
        torch.testing.assert_close(
            criterion(z, y),
            F.cross_entropy(z, y, ignore_index=-100, reduction=reduction),
        )


def test_module_mix_with_positions_and_ignore_index_is_the_sum_of_terms():
    z, y, _, w = _positions_batch()
    y = y.clone()
    y[1, 0, :] = -1
    criterion = SquaredEMDLoss(ce_weight=0.3, ignore_index=-1)
    keep = y != -1
    rows, kept_y, kept_w = z.movedim(1, -1)[keep], y[keep], w[keep]
    expected = (
        0.3 * (F.cross_entropy(rows, kept_y, reduction="none") * kept_w).sum()
        + (squared_emd_loss(rows, kept_y, reduction="none") * kept_w).sum()
    ) / kept_w.sum()
    torch.testing.assert_close(criterion(z, y, sample_weight=w), expected)
    assert "ignore_index=-1" in repr(criterion)


def test_everything_ignored_gives_nan_like_cross_entropy():
    z, y = torch.zeros(3, 4), torch.full((3,), -100)
    assert torch.isnan(F.cross_entropy(z, y, ignore_index=-100))
    assert torch.isnan(squared_emd_loss(z, y, ignore_index=-100))
    assert squared_emd_loss(z, y, ignore_index=-100, reduction="sum").item() == 0.0


def test_ignore_index_with_soft_targets_raises():
    with pytest.raises(ValueError, match="ignore_index applies to targets of class"):
        squared_emd_loss(torch.zeros(2, 3), torch.full((2, 3), 1 / 3), ignore_index=0)


def test_without_ignore_index_a_padding_value_is_an_error():
    with pytest.raises(RuntimeError, match="Class values must be"):
        squared_emd_loss(torch.zeros(2, 3), torch.tensor([0, -100]))


def test_module_pickled_before_ignore_index_still_works(batch):
    z, y, _, _ = batch
    criterion = SquaredEMDLoss()
    del criterion.__dict__["ignore_index"]  # as unpickled from an older version
    torch.testing.assert_close(criterion(z, y), squared_emd_loss(z, y))


@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_positions_and_ignore_index_on_device(form, device):
    z, y, _, w = _positions_batch()
    y = y.clone()
    y[0, 0, 0] = -100
    m = None if form == "ordered" else _t(_cost_matrix(_rng(4), z.shape[1]))
    expected = squared_emd_loss(z, y, m, sample_weight=w, ignore_index=-100)
    on_device = [None if t is None else t.to(device) for t in (z, y, m, w)]
    z_d, y_d, m_d, w_d = on_device
    got = squared_emd_loss(z_d, y_d, m_d, sample_weight=w_d, ignore_index=-100)
    assert got.device.type == device
    torch.testing.assert_close(got.cpu(), expected)


@pytest.mark.parametrize("ground_distance", [None, "uniform"])
@pytest.mark.parametrize("shape", [(0, 4), (2, 4, 0)])
def test_an_empty_batch_is_like_cross_entropy(shape, ground_distance):
    # Mean over nothing: NaN, as cross_entropy gives; sum: 0; none: empty.
    z = torch.zeros(shape, requires_grad=True)
    y = torch.zeros((shape[0], *shape[2:]), dtype=torch.long)
    matrix = None if ground_distance is None else 1 - torch.eye(4)
    assert torch.isnan(F.cross_entropy(z, y))
    mean = squared_emd_loss(z, y, ground_distance=matrix)
    assert torch.isnan(mean)
    mean.backward()
    assert z.grad.shape == z.shape
    total = squared_emd_loss(z, y, ground_distance=matrix, reduction="sum")
    assert total.item() == 0.0
    each = squared_emd_loss(z, y, ground_distance=matrix, reduction="none")
    assert each.shape == y.shape
    assert torch.isnan(SquaredEMDLoss(ground_distance=matrix, ce_weight=1.0)(z, y))


def test_a_first_call_in_inference_mode_does_not_break_training():
    # Frameworks validate under torch.inference_mode(); a constant cached there
    # must still serve a later call that needs a gradient.
    from skemd import losses

    losses._upper_ones.cache_clear()
    z, y = torch.randn(8, 5), torch.randint(0, 5, (8,))
    with torch.inference_mode():
        expected = squared_emd_loss(z, y, reduction="none")
    z = z.clone().requires_grad_()
    weights = torch.rand(8)
    loss = squared_emd_loss(z, y, reduction="none")
    torch.testing.assert_close(loss.detach(), expected.clone())
    squared_emd_loss(z, y, sample_weight=weights).backward()
    assert torch.isfinite(z.grad).all()


# --------------------------------------------------------------------------- #
# Low-precision inputs: float16 and bfloat16
# --------------------------------------------------------------------------- #

LOW_PRECISION = [torch.float16, torch.bfloat16]


def test_half_input_with_ignore_index_over_many_positions_matches_float32():
    # 90 000 positions: a mask summed in float16 overflows past 65 504.
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(1, 5, 300, 300, generator=generator)
    y = torch.randint(0, 5, (1, 300, 300), generator=generator)
    y[0, :10] = -100
    expected = squared_emd_loss(z.half().float(), y, ignore_index=-100)
    half = z.half().requires_grad_()

    loss = squared_emd_loss(half, y, ignore_index=-100)
    loss.backward()

    assert loss.dtype == torch.float16
    assert loss.item() == pytest.approx(expected.item(), rel=1e-3)
    assert torch.isfinite(half.grad).all() and half.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_low_precision_weights_of_100_give_the_weighted_mean(dtype):
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(1000, 5, generator=generator).to(dtype)
    y = torch.randint(0, 5, (1000,), generator=generator)
    expected = squared_emd_loss(z.float(), y)
    for weight_dtype in (torch.float32, dtype):
        weight = torch.full((1000,), 100.0, dtype=weight_dtype)
        loss = squared_emd_loss(z, y, sample_weight=weight)
        assert loss.dtype == dtype
        assert loss.item() == pytest.approx(expected.item(), rel=1e-2)


def test_half_probabilities_of_a_large_batch_give_a_finite_mean():
    generator = torch.Generator().manual_seed(2)
    proba = torch.softmax(torch.randn(100_000, 10, generator=generator), dim=1)
    y = torch.randint(0, 10, (100_000,), generator=generator)
    expected = squared_emd_loss(proba.half().float(), y, from_logits=False)
    loss = squared_emd_loss(proba.half(), y, from_logits=False)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-3)


@pytest.mark.parametrize("dtype", LOW_PRECISION)
@pytest.mark.parametrize("form", ["ordered", "matrix"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"reduction": "none"},
        {"reduction": "sum", "sample_weight": "weights"},
        {"ce_weight": 0.5},
        {"ce_weight": 0.5, "from_logits": False},
    ],
)
def test_low_precision_input_is_computed_in_float32(dtype, form, options):
    # The same values in float32 give the same loss up to the final rounding,
    # and the gradient comes back to the low-precision input.
    z, y, _, m, w = _gradcheck_inputs(k=5, n=40, seed=20)
    options = dict(options)
    if options.get("from_logits") is False:
        z = torch.softmax(z.detach(), dim=1)
    weight = w.float() if options.pop("sample_weight", None) else None
    criterion = SquaredEMDLoss(None if form == "ordered" else m.float(), **options)
    low = z.detach().to(dtype).requires_grad_()
    single = low.detach().float().requires_grad_()

    loss, expected = criterion(low, y, weight), criterion(single, y, weight)
    loss.sum().backward()
    expected.sum().backward()

    assert loss.dtype == dtype and low.grad.dtype == dtype
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(loss.float(), expected, rtol=eps, atol=1e-6)
    torch.testing.assert_close(low.grad.float(), single.grad, rtol=eps, atol=1e-6)


def test_cross_entropy_of_half_probabilities_clamps_at_float32_tiny():
    # A zero probability of the true class costs -log(tiny) of float32, the
    # dtype the loss runs in, as for float32 input, not -log(tiny) of float16.
    proba = torch.tensor([[0.0, 1.0]])
    criterion = SquaredEMDLoss(ce_weight=1.0, emd_weight=0.0, from_logits=False)
    expected = criterion(proba, torch.tensor([0]))
    loss = criterion(proba.half(), torch.tensor([0]))
    assert expected.item() == pytest.approx(-math.log(torch.finfo(torch.float32).tiny))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-3)


@pytest.mark.parametrize("ce_weight", [0.0, 0.5])
@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_under_autocast_the_loss_of_bfloat16_input_is_float32(form, ce_weight):
    # As torch's own losses under autocast: float32 arithmetic and result.
    z, y, _, m, _ = _gradcheck_inputs(k=6, n=30, seed=21)
    m = None if form == "ordered" else m.float()
    criterion = SquaredEMDLoss(m, ce_weight=ce_weight)
    low = z.detach().bfloat16()
    expected = criterion(low.float(), y), squared_emd_loss(low.float(), y, m)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = criterion(low, y), squared_emd_loss(low, y, m)
    for loss, value in zip(losses, expected, strict=True):
        assert loss.dtype == torch.float32
        torch.testing.assert_close(loss, value)


def test_a_half_sum_past_65504_is_inf_with_a_finite_gradient():
    # The documented limit of a float16 result: the value overflows, the
    # gradient (computed in float32) does not.
    z = torch.zeros(70_000, 3, dtype=torch.float16, requires_grad=True)
    y = torch.zeros(70_000, dtype=torch.long)
    loss = SquaredEMDLoss(ce_weight=1.0, reduction="sum")(z, y)
    assert torch.isinf(loss)
    loss.backward()
    assert torch.isfinite(z.grad).all()
    # Each row's gradient under 'sum' is that of a batch of one.
    row = torch.zeros(1, 3, requires_grad=True)
    SquaredEMDLoss(ce_weight=1.0, reduction="sum")(row, y[:1]).backward()
    torch.testing.assert_close(
        z.grad.float(), row.grad.expand(70_000, 3), rtol=1e-3, atol=0
    )


# --------------------------------------------------------------------------- #
# Weighted means and the scale of the weights
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("largest", [3e38, 1e30, 1e-30, 1e-45])
@pytest.mark.parametrize("form", ["ordered", "matrix"])
def test_weighted_mean_does_not_depend_on_the_weights_scale(form, largest):
    z, y, _, m, w = _gradcheck_inputs(k=5, n=12, seed=22)
    m = None if form == "ordered" else m.float()
    z = z.detach().float()
    w = w.float() / w.max()
    if largest == 1e-45:
        w = torch.ones_like(w)  # subnormal weights hold no other ratio
    scaled = (w.double() * largest).float()
    assert torch.isfinite(scaled).all() and (scaled > 0).all()
    first, second = z.clone().requires_grad_(), z.clone().requires_grad_()

    expected = squared_emd_loss(first, y, m, sample_weight=w)
    loss = squared_emd_loss(second, y, m, sample_weight=scaled)
    expected.backward()
    loss.backward()

    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(second.grad, first.grad)


@pytest.mark.parametrize("power", [-100, -20, 20, 100])
def test_weights_scaled_by_a_power_of_two_give_the_same_bits(batch, power):
    z, y, w, m = batch
    z, w = z.float(), w.float()
    scaled = w * 2.0**power
    for matrix in (None, m.float()):
        torch.testing.assert_close(
            squared_emd_loss(z, y, matrix, sample_weight=scaled),
            squared_emd_loss(z, y, matrix, sample_weight=w),
            rtol=0,
            atol=0,
        )


def test_weighted_mean_of_ordinary_weights_is_the_plain_formula_bit_for_bit(batch):
    # Scaling by a power of two is exact: the weighted mean keeps the bits of
    # sum(w * loss) / sum(w) computed directly.
    z, y, w, _ = batch
    z, w = z.float(), w.float()
    per_sample = squared_emd_loss(z, y, reduction="none")
    expected = (per_sample * w).sum() / w.sum()
    torch.testing.assert_close(
        squared_emd_loss(z, y, sample_weight=w), expected, rtol=0, atol=0
    )


def test_float64_weights_past_the_float32_range_weigh_float32_input(batch):
    z, y, w, _ = batch
    z = z.float()
    expected = squared_emd_loss(z, y, sample_weight=w)
    for scale in (1e300, 1e-300):
        loss = squared_emd_loss(z, y, sample_weight=w * scale)
        torch.testing.assert_close(loss, expected)


def test_all_zero_weights_give_nan_like_an_empty_batch(batch):
    z, y, _, _ = batch
    assert torch.isnan(squared_emd_loss(z, y, sample_weight=torch.zeros(10)))
    assert squared_emd_loss(
        z, y, sample_weight=torch.zeros(10), reduction="sum"
    ).item() == pytest.approx(0.0)


@pytest.mark.parametrize(
    "bad, message",
    [
        (-1.0, "non-negative; its smallest value is -1.0"),
        (-math.inf, "non-negative; its smallest value is -inf"),
        (math.nan, "contains NaN"),
        (math.inf, r"contains infinity \(inf\)"),
    ],
)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_invalid_weights_raise(batch, bad, message, reduction):
    z, y, w, _ = batch
    w = w.clone()
    w[3] = bad
    with pytest.raises(ValueError, match=f"sample_weight .*{message}"):
        squared_emd_loss(z, y, sample_weight=w, reduction=reduction)
    criterion = SquaredEMDLoss(ce_weight=0.5, reduction=reduction, ignore_index=-1)
    with pytest.raises(ValueError, match=f"sample_weight .*{message}"):
        criterion(z, y, sample_weight=w)


def test_invalid_weight_on_an_ignored_sample_still_raises(batch):
    z, y, w, _ = batch
    y, w = y.clone(), w.clone()
    y[3], w[3] = -100, -2.0
    with pytest.raises(ValueError, match="non-negative"):
        squared_emd_loss(z, y, sample_weight=w, ignore_index=-100)


def test_complex_weights_raise(batch):
    z, y, w, _ = batch
    with pytest.raises(TypeError, match="sample_weight must be real"):
        squared_emd_loss(z, y, sample_weight=w.to(torch.complex64))


# --------------------------------------------------------------------------- #
# The weights of the two terms
# --------------------------------------------------------------------------- #


def test_module_with_both_term_weights_zero_raises_at_construction():
    with pytest.raises(ValueError, match="ce_weight and emd_weight are both 0"):
        SquaredEMDLoss(ce_weight=0, emd_weight=0)


def test_module_with_both_term_weights_set_to_zero_raises_when_called(batch):
    z, y, _, _ = batch
    criterion = SquaredEMDLoss(ce_weight=1.0, emd_weight=0.0)
    criterion.ce_weight = 0.0
    with pytest.raises(ValueError, match="ce_weight and emd_weight are both 0"):
        criterion(z, y)


@pytest.mark.parametrize(
    "weights, error, message",
    [
        ({"ce_weight": -0.5}, ValueError, r"ce_weight must be a finite, non-neg.*-0.5"),
        ({"emd_weight": math.inf}, ValueError, "emd_weight must be a finite.*inf"),
        ({"emd_weight": math.nan}, ValueError, "emd_weight must be a finite.*nan"),
        ({"ce_weight": "much"}, TypeError, "ce_weight must be a real number.*much"),
        ({"emd_weight": None}, TypeError, "emd_weight must be a real number.*None"),
    ],
)
def test_module_with_an_invalid_term_weight_raises(weights, error, message):
    with pytest.raises(error, match=message):
        SquaredEMDLoss(**weights)


# --------------------------------------------------------------------------- #
# Public API only
# --------------------------------------------------------------------------- #


def test_losses_use_no_private_torch_api():
    # Private functions (torch._softmax_backward_data and the like) change
    # without notice between releases.
    import inspect
    import re

    from skemd import losses

    source = inspect.getsource(losses)
    assert not re.findall(r"\btorch\.(?:_[A-Za-z]\w*|\w+\._\w+)", source)
