"""Property-based tests of the squared EMD loss against a float64 numpy oracle.

The oracle is written from the formulas of METHOD.md alone: cumulative sums for
ordered classes, ``(1/K) sum_i (p_i - t_i)**2 M[y, i]`` (``t @ M`` for soft
targets) for a ground-distance matrix, and cross-entropy for the mixed loss.
The cases cover shapes with positions, empty batches and batches large enough
for every computing path, the four floating dtypes, hard and soft targets,
logits and probabilities, weights over the whole range of their dtype,
``ignore_index``, every reduction, with and without a ground-distance matrix,
and mixes of cross-entropy and squared EMD. Hypothesis draws the shape and a
seed from which a generator picks the rest.

The default run is fixed and short: the same 200 examples per test every time,
about ten seconds in all on one core. ``SKEMD_FUZZ=1`` runs 3000 new examples
per test; a failure prints the ``@reproduce_failure`` line that replays it.
"""

import math

import numpy as np
import torch
from conftest import fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from skemd.losses import SquaredEMDLoss, squared_emd_loss

FUZZ = fuzz_settings(200, 3000)

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
TERM_WEIGHTS = [(0.0, 1.0), (0.0, 2.5), (0.5, 1.0), (1.0, 0.0), (0.3, 0.7)]


# --------------------------------------------------------------------------- #
# The oracle
# --------------------------------------------------------------------------- #


def _oracle(x, case):
    """The loss of input ``x`` (float64, (N, K, ...)) for ``case``, in float64.

    Per row: ``emd_weight * EMD + ce_weight * CE``; rows whose target is
    ``ignore_index`` weigh 0; ``mean`` is the weighted mean (NaN when every
    weight is 0), ``sum`` the weighted sum, ``none`` the weighted losses.
    """
    n_samples, n_classes = x.shape[:2]
    loss_shape = (n_samples, *x.shape[2:])
    rows = np.moveaxis(x, 1, -1).reshape(-1, n_classes)
    if case["from_logits"]:
        shifted = rows - rows.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        p = np.exp(log_p)
    else:
        # Cross-entropy of probabilities takes log(max(p, tiny)) of the
        # computing dtype, so that a zero probability costs a finite amount.
        p = rows
        log_p = np.log(np.maximum(p, case["tiny"]))
    target = case["target"]
    keep = _kept_rows(case, loss_shape)
    if case["hard"]:
        t = np.eye(n_classes)[np.where(keep, target.reshape(-1), 0)]
    else:
        t = np.moveaxis(target, 1, -1).reshape(-1, n_classes)
    matrix = case["matrix"]
    if matrix is None:
        cdf_gap = np.cumsum(p, axis=1) - np.cumsum(t, axis=1)
        emd = (cdf_gap**2).sum(axis=1) / n_classes
    else:
        emd = ((p - t) ** 2 * (t @ matrix)).sum(axis=1) / n_classes
    ce = -(t * log_p).sum(axis=1)
    per_row = case["emd_weight"] * emd + case["ce_weight"] * ce
    weight = _row_weights(case, loss_shape) * keep
    if case["reduction"] == "none":
        return (per_row * weight).reshape(loss_shape)
    if case["reduction"] == "sum":
        return (per_row * weight).sum()
    if weight.max(initial=0.0) > 0:
        # The same mean, with products that stay clear of float64's subnormal
        # numbers, where weights near 1e-320 would lose their digits.
        weight = weight / weight.max()
    with np.errstate(invalid="ignore"):
        return (per_row * weight).sum() / weight.sum()


def _kept_rows(case, loss_shape):
    """Which rows (positions) count: those whose target is not ``ignore_index``."""
    if case["ignore_index"] is None:
        return np.ones(math.prod(loss_shape), bool)
    return case["target"].reshape(-1) != case["ignore_index"]


def _row_weights(case, loss_shape):
    """The weight of every row (position) as float64, 1 without weights."""
    weight = case["weight"]
    if weight is None:
        return np.ones(math.prod(loss_shape))
    if case["reduction"] != "mean":
        # 'sum' and 'none' multiply the weights in the computing dtype.
        weight = weight.astype(case["compute_numpy"])
    weight = weight.astype(np.float64)
    spread = weight.reshape(weight.shape + (1,) * (len(loss_shape) - weight.ndim))
    return np.broadcast_to(spread, loss_shape).reshape(-1)


# --------------------------------------------------------------------------- #
# Strategies
# --------------------------------------------------------------------------- #


def _pick(rng, options):
    return options[rng.integers(len(options))]


class _Case(dict):
    """The options and arrays of one call; shown by its options and shapes only."""

    def __repr__(self):
        shown = {
            key: f"array{value.shape}" if value.size > 8 else value.tolist()
            for key, value in self.items()
            if isinstance(value, np.ndarray)
        }
        others = {k: v for k, v in self.items() if not isinstance(v, np.ndarray)}
        return f"_Case({others | shown}, seed={self.seed})"


@st.composite
def _shapes(draw, rng):
    """(N, K, d1, ...) with N from 0, K from 2 to 200, up to two positions."""
    if rng.random() < 0.15:
        # Large batches of few classes take the elementwise softmax on the CPU.
        return (draw(st.integers(1024, 1100)), draw(st.integers(2, 15)))
    n_classes = draw(
        st.one_of(st.integers(2, 8), st.integers(9, 40), st.integers(41, 200))
    )
    positions = draw(st.lists(st.integers(1, 4), max_size=2))
    n_samples = draw(st.integers(1, 40))
    # Empty batches and empty positions, now and then.
    if rng.random() < 0.05:
        n_samples = 0
    if positions and rng.random() < 0.1:
        positions[-1] = 0
    return (n_samples, n_classes, *positions)


@st.composite
def _cases(draw):
    """One call of the loss: its inputs as numpy arrays and its options.

    Hypothesis draws the shape, which it shrinks on a failure, and a seed for
    the rest: the options are picked evenly by a generator, where hypothesis
    would draw the first of a few options far more often than the others.
    Half the cases are the training step (logits, class indices, the mean, no
    weights), which takes the fused nodes; the others draw every option.
    """
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = draw(_shapes(rng))
    n_samples, n_classes = shape[:2]
    loss_shape = (n_samples, *shape[2:])
    dtype = _pick(rng, DTYPES)
    training = rng.random() < 0.5
    hard = training or _pick(rng, [True, False])
    from_logits = training or _pick(rng, [True, False])
    reduction = "mean" if training else _pick(rng, ["mean", "sum", "none"])
    ce_weight, emd_weight = _pick(rng, TERM_WEIGHTS)
    scale = _pick(rng, [0.0, 0.1, 1.0, 4.0, 30.0])
    logits = rng.normal(scale=scale, size=shape)
    if from_logits:
        x = logits
    else:
        x = np.exp(logits - logits.max(axis=1, keepdims=True))
        x /= x.sum(axis=1, keepdims=True)
    ignore_index = None
    if hard:
        target = rng.integers(0, n_classes, size=loss_shape)
        if not training and _pick(rng, [True, False]):
            ignore_index = _pick(rng, [-100, 0, n_classes - 1])
            share = _pick(rng, [0.0, 0.3, 1.0])
            target[rng.random(loss_shape) < share] = ignore_index
    else:
        target = np.moveaxis(rng.dirichlet(np.ones(n_classes), size=loss_shape), -1, 1)
    matrix = None
    if _pick(rng, [True, False]):
        # A learned-style matrix: ones on the diagonal, rewards off it.
        matrix = rng.uniform(-0.5, 1.5, size=(n_classes, n_classes))
        np.fill_diagonal(matrix, 1.0)
    case = _Case(
        x=x,
        dtype=dtype,
        hard=hard,
        target=target,
        ignore_index=ignore_index,
        from_logits=from_logits,
        reduction=reduction,
        matrix=matrix,
        ce_weight=ce_weight,
        emd_weight=emd_weight,
        weight=None if training else _weights(rng, loss_shape, reduction),
    )
    # The seed that made the arrays, for a failure's report.
    case.seed = seed
    return case


def _weights(rng, loss_shape, reduction):
    """None, or weights per sample or per position over a wide range of scales.

    For the mean, the largest weight spans its dtype from the smallest
    subnormal number to near the largest finite one (either end one time in
    four), and the others lie up to 60 orders of magnitude below it, some of
    them 0. For 'sum' and 'none', whose result carries the weights' scale,
    weights from 1e-30 to 1e30.
    """
    if rng.random() < 0.3:
        return None
    dtype = _pick(rng, [np.float32, np.float64])
    shape = _pick(rng, [loss_shape, loss_shape[:1]])
    if reduction == "mean":
        info = np.finfo(dtype)
        low, high = math.log10(info.smallest_subnormal), math.log10(info.max) - 0.5
    else:
        low, high = -30.0, 30.0
    top = _pick(rng, [low, high, None, None, None, None, None, None])
    if top is None:
        top = rng.uniform(low, high)
    spread = _pick(rng, [0.0, 1.0, 10.0, 60.0])
    exponent = top - spread * rng.random(shape)
    weight = (10.0**exponent).astype(dtype)
    weight[rng.random(shape) < _pick(rng, [0.0, 0.2])] = 0.0
    return weight


# --------------------------------------------------------------------------- #
# Running the loss
# --------------------------------------------------------------------------- #


def _loss(case, dtype):
    """The loss of ``case`` with its input in ``dtype``, and that input."""
    x = torch.tensor(case["x"], dtype=case["dtype"]).to(dtype).requires_grad_()
    if case["hard"]:
        target = torch.as_tensor(case["target"])
    else:
        target = torch.tensor(case["target"], dtype=case["dtype"])
    matrix = None if case["matrix"] is None else torch.as_tensor(case["matrix"])
    weight = None if case["weight"] is None else torch.as_tensor(case["weight"])
    if case["ce_weight"] == 0.0 and case["emd_weight"] == 1.0:
        loss = squared_emd_loss(
            x,
            target,
            matrix,
            sample_weight=weight,
            reduction=case["reduction"],
            from_logits=case["from_logits"],
            ignore_index=case["ignore_index"],
        )
    else:
        criterion = SquaredEMDLoss(
            matrix,
            ce_weight=case["ce_weight"],
            emd_weight=case["emd_weight"],
            reduction=case["reduction"],
            from_logits=case["from_logits"],
            ignore_index=case["ignore_index"],
        )
        loss = criterion(x, target, sample_weight=weight)
    return loss, x


def _prepare(case):
    """Fill in what the oracle and the tolerances need from the dtypes."""
    compute = torch.promote_types(case["dtype"], torch.float32)
    case["compute_numpy"] = np.float64 if compute == torch.float64 else np.float32
    case["tiny"] = torch.finfo(compute).tiny
    # The input as the loss sees it: rounded to its dtype.
    case["x"] = torch.tensor(case["x"], dtype=case["dtype"]).double().numpy()
    if not case["hard"]:
        soft = torch.tensor(case["target"], dtype=case["dtype"])
        case["target"] = soft.double().numpy()
    return compute


def _tolerances(case, compute):
    """(rtol, atol per unit of row weight, absolute floor) for the loss values.

    Rounding in the computing dtype grows with the classes summed and the size
    of the terms; the result is then rounded once to the input's dtype.
    """
    n_classes = case["x"].shape[1]
    eps = torch.finfo(compute).eps
    out = torch.finfo(case["dtype"])
    matrix_size = 1.0 if case["matrix"] is None else np.abs(case["matrix"]).max()
    if case["from_logits"]:
        logit_size = np.abs(case["x"]).max(initial=0.0)
    else:
        logit_size = -math.log(case["tiny"])
    size = case["emd_weight"] * matrix_size + case["ce_weight"] * (1 + 2 * logit_size)
    rtol = 2 * out.eps + 64 * eps
    # The spacing of the subnormal numbers of the output, and a few of the
    # computing dtype's for subnormal intermediates (tiny weights).
    tiny = torch.finfo(compute)
    floor = out.smallest_normal * out.eps
    floor += 64 * n_classes * tiny.smallest_normal * tiny.eps
    return rtol, 64 * n_classes * eps * size, floor


def _assert_close_or_overflow(got, want, rtol, atol, dtype):
    """got == want within tolerance, NaN where NaN, inf where want overflows."""
    got, want = np.broadcast_arrays(got, want)
    limit = torch.finfo(dtype).max
    overflow = np.isinf(got) & (np.abs(want) >= limit * (1 - rtol))
    assert np.all(np.sign(got[overflow]) == np.sign(want[overflow]))
    both_nan = np.isnan(got) & np.isnan(want)
    with np.errstate(invalid="ignore"):
        close = np.abs(got - want) <= atol + rtol * np.abs(want)
    bad = ~(close | overflow | both_nan)
    assert not bad.any(), (
        f"{bad.sum()} of {bad.size} values differ; got {got[bad][:5]}, expected "
        f"{want[bad][:5]}"
    )


# --------------------------------------------------------------------------- #
# Properties
# --------------------------------------------------------------------------- #


@FUZZ
@given(case=_cases())
def test_loss_matches_float64_oracle(case):
    compute = _prepare(case)
    loss, x = _loss(case, case["dtype"])
    expected = np.asarray(_oracle(case["x"], case))

    assert loss.dtype == case["dtype"]
    assert loss.shape == expected.shape
    got = loss.detach().double().numpy()
    rtol, atol_unit, floor = _tolerances(case, compute)
    weight = _row_weights(case, (x.shape[0], *x.shape[2:]))
    if case["reduction"] == "sum":
        atol = atol_unit * weight.sum() + floor
    elif case["reduction"] == "none":
        atol = atol_unit * weight.reshape(expected.shape) + floor
    else:
        atol = atol_unit + floor
    _assert_close_or_overflow(got, expected, rtol, atol, case["dtype"])

    finite = np.isfinite(got)
    if not finite.any():
        return
    # A gradient reaches the input, in its dtype, finite where the loss is,
    # unless it lies beyond the dtype's range (1 / p of the cross-entropy of
    # probabilities near 0 in float16): it is the float64 gradient rounded.
    mask = torch.as_tensor(finite)
    (grad,) = torch.autograd.grad(loss[mask].sum(), x)
    assert grad.dtype == x.dtype and grad.shape == x.shape
    if not finite.all():
        return
    loss64, x64 = _loss(case, torch.float64)
    (grad64,) = torch.autograd.grad(loss64.sum(), x64)
    limit = torch.finfo(x.dtype).max
    assert torch.all(torch.isfinite(grad) | (grad64.abs() >= limit * (1 - rtol)))
    # Rows whose weight the computing dtype holds only as a subnormal number
    # or 0 are left out (their share of the loss is below its precision).
    in_range = (grad64.abs() < limit * (1 - rtol)) & ~_rows_below_range(case, x)
    if not case["from_logits"]:
        # Below float32's clamp the cross-entropy of probabilities is flat; in
        # float64 it is not yet.
        in_range &= torch.as_tensor(case["x"] > 2 * case["tiny"])
    # A row's gradient carries the rounding of its loss's terms, as its value
    # does, times the row's share of the result.
    share = torch.tensor(_row_shares(case, x.shape))
    atol = atol_unit * share + floor
    error = (grad.double() - grad64).abs()
    bad = in_range & (error > rtol * grad64.abs() + atol)
    assert not bad.any(), (grad.double()[bad][:5], grad64[bad][:5])
    _assert_no_gradient_for_rows_left_out(case, grad)


def _row_shares(case, shape):
    """Each row's factor in the reduced loss, spread over the input's ``shape``."""
    loss_shape = (shape[0], *shape[2:])
    share = _row_weights(case, loss_shape) * _kept_rows(case, loss_shape)
    if case["reduction"] == "mean" and share.size:
        share = share / share.max() if share.max() > 0 else share
        share = share / share.sum() if share.sum() > 0 else share
    spread = share.reshape(loss_shape)[:, None]
    return np.broadcast_to(spread, shape)


def _rows_below_range(case, x):
    """Where a weight is too small for the computing dtype to hold in full.

    A mask of the input's shape: there the weight the loss multiplies by (the
    weight scaled for the mean, the weight itself for 'sum' and 'none') is
    subnormal or 0 in the computing dtype, so that its row's gradient has lost
    precision or is 0, where in float64 it is not.
    """
    if case["weight"] is None:
        return torch.zeros(x.shape, dtype=torch.bool)
    loss_shape = (x.shape[0], *x.shape[2:])
    weight = np.asarray(case["weight"], dtype=np.float64)
    spread = weight.reshape(weight.shape + (1,) * (len(loss_shape) - weight.ndim))
    weight = torch.tensor(np.broadcast_to(spread, loss_shape).copy())
    info = torch.finfo(torch.promote_types(x.dtype, torch.float32))
    if case["reduction"] == "mean" and weight.numel():
        weight = weight / weight.max()
    small = (weight > 0) & (weight < info.smallest_normal / info.eps)
    return small.unsqueeze(1).expand(x.shape)


def _assert_no_gradient_for_rows_left_out(case, grad):
    """Rows of weight 0 (or ignored) get exactly no gradient."""
    n_samples, n_classes = case["x"].shape[:2]
    loss_shape = (n_samples, *case["x"].shape[2:])
    weight = case["weight"]
    left_out = np.zeros(loss_shape, bool)
    if weight is not None:
        spread = weight.reshape(weight.shape + (1,) * (len(loss_shape) - weight.ndim))
        left_out |= np.broadcast_to(spread, loss_shape) == 0
    if case["ignore_index"] is not None:
        left_out |= case["target"] == case["ignore_index"]
    rows = grad.movedim(1, -1).reshape(-1, n_classes)
    assert torch.all(rows[torch.as_tensor(left_out.reshape(-1))] == 0)


@FUZZ
@given(case=_cases())
def test_gradient_matches_finite_differences_of_the_oracle(case):
    # In float64 the gradient is checked against the oracle along two
    # directions: the gradient itself and a random one.
    case["dtype"] = torch.float64
    _prepare(case)
    loss, x = _loss(case, torch.float64)
    got = loss.detach().numpy()
    if not np.all(np.isfinite(got)) or x.numel() == 0:
        return
    rng = np.random.default_rng(0)
    cotangent = rng.normal(size=got.shape)
    (grad,) = torch.autograd.grad(loss, x, torch.as_tensor(cotangent))
    grad = grad.numpy()
    movable = np.ones(x.shape, bool)
    if not case["from_logits"]:
        # Near 0 the logarithm of the cross-entropy of probabilities curves too
        # fast for a finite difference (and is flat below its clamp).
        movable = case["x"] > 0.05

    def scalar(shift):
        return float(np.sum(_oracle(case["x"] + shift, case) * cotangent))

    # The oracle rounds each row's terms, of the order of 1 + |x|, to float64:
    # a difference quotient over a step of 1e-6 carries 1e-10 of that.
    loss_shape = (x.shape[0], *x.shape[2:])
    share = _row_shares(case, x.shape)[:, 0]
    per_row = np.broadcast_to(np.abs(cotangent), loss_shape) * share
    size = (1 + np.abs(case["x"]).max()) * per_row.sum() + 1e-300
    for direction in (grad, rng.normal(size=x.shape)):
        direction = np.where(movable, direction, 0.0)
        norm = np.abs(direction).max()
        if norm == 0:
            continue
        direction = direction / norm
        step = 1e-6
        finite_difference = (scalar(step * direction) - scalar(-step * direction)) / (
            2 * step
        )
        analytic = np.sum(grad * direction)
        tolerance = 1e-6 * np.sum(np.abs(grad * direction)) + 1e-8 * size
        assert abs(finite_difference - analytic) <= tolerance, (
            finite_difference,
            analytic,
        )


@FUZZ
@given(
    case=_cases(),
    seed=st.integers(0, 2**32 - 1),
    exponent=st.floats(-300, 300),
    power=st.integers(-900, 900),
)
def test_weighted_mean_does_not_depend_on_the_weights_scale(
    case, seed, exponent, power
):
    # Finite non-negative weights with a positive maximum: multiplying them by
    # any positive constant leaves the weighted mean as it is, exactly when the
    # constant is a power of two.
    x = case["x"]
    rng = np.random.default_rng(seed)
    weight = None
    while weight is None:
        weight = _weights(rng, (x.shape[0], *x.shape[2:]), "mean")
    if not np.any(weight > 0):
        return
    weight = weight.astype(np.float64) / weight.max()
    case["reduction"] = "mean"
    case["weight"] = weight
    compute = _prepare(case)
    reference, _ = _loss(case, case["dtype"])
    rtol, atol_unit, floor = _tolerances(case, compute)
    for factor in (10.0**exponent, 2.0**power):
        case["weight"] = weight * factor
        positive = case["weight"][weight > 0]
        if not np.all(np.isfinite(positive)) or not np.any(positive > 0):
            continue
        scaled, _ = _loss(case, case["dtype"])
        exact = math.log2(factor).is_integer() and np.all(
            positive >= np.finfo(np.float64).tiny
        )
        if exact:
            assert torch.equal(scaled, reference) or (
                scaled.isnan() and reference.isnan()
            )
        else:
            torch.testing.assert_close(
                scaled, reference, rtol=rtol, atol=atol_unit + floor, equal_nan=True
            )
