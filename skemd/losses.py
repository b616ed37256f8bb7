"""Squared Earth Mover's Distance losses in plain PyTorch.

The functions here need neither the estimator nor skorch: they take logits (or
probabilities) and targets on any device and in any floating dtype, and return a
differentiable tensor. float16 and bfloat16 inputs are computed in float32 and
the result rounded back to their dtype, as autocast does for torch's own losses.

Two forms are implemented, following Hou, Yu & Samaras (arXiv:1611.05916):

* ordered classes (``ground_distance=None``): the squared l2 distance between the
  cumulative distributions of prediction and target,
  ``(1/K) * sum_k (F_k(p) - F_k(t))**2``;
* a ground-distance matrix ``M``: ``(1/K) * sum_i (p_i - t_i)**2 * M[y, i]``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SquaredEMDLoss", "squared_emd_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _as_distribution(input: torch.Tensor, from_logits: bool) -> torch.Tensor:
    if from_logits:
        # softmax subtracts the row maximum, so large logits do not overflow.
        return torch.softmax(input, dim=1)
    return input


# Up to this many classes, the ordered form uses products with a triangular
# matrix instead of cumulative sums (faster on CPU and GPU alike for small K).
_MATMUL_MAX_CLASSES = 32


@lru_cache(maxsize=64)
def _upper_ones(n_classes: int, dtype: torch.dtype, device: torch.device):
    """The K x K upper triangle of ones (diagonal included), cached.

    Made outside inference mode: a cached inference tensor could not be saved
    for backward by a later call that needs a gradient.
    """
    with torch.inference_mode(False):
        return torch.ones(n_classes, n_classes, dtype=dtype, device=device).triu_()


# On the CPU, torch's softmax over a short last dimension (fewer than 16
# classes) takes a slow path; on large batches five vectorised passes are then
# 2-3 times faster. Small batches are dominated by the cost per operation.
_ELEMENTWISE_SOFTMAX_MAX_CLASSES = 15
_ELEMENTWISE_SOFTMAX_MIN_SAMPLES = 1024


def _use_elementwise_softmax(logits: torch.Tensor) -> bool:
    n_samples, n_classes = logits.shape
    return (
        logits.device.type == "cpu"
        and n_classes <= _ELEMENTWISE_SOFTMAX_MAX_CLASSES
        and n_samples >= _ELEMENTWISE_SOFTMAX_MIN_SAMPLES
    )


def _elementwise_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over classes by elementwise passes (a new tensor)."""
    proba = logits - logits.amax(dim=1, keepdim=True)
    proba.exp_()
    return proba.div_(proba.sum(dim=1, keepdim=True))


def _elementwise_softmax_backward(
    grad: torch.Tensor, proba: torch.Tensor
) -> torch.Tensor:
    """Gradient with respect to the logits, p * (g - <g, p>); reuses ``grad``."""
    row_dot = torch.linalg.vecdot(grad, proba, dim=1).unsqueeze_(1)
    return grad.sub_(row_dot).mul_(proba)


def _fused_input(logits: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """What the fused nodes take: the logits, or their softmax made by autograd.

    Where the elementwise softmax is faster, the node computes it from the
    logits and differentiates it by hand. Elsewhere :func:`torch.softmax` runs
    outside the node, so that autograd differentiates it by torch's own kernel.
    """
    if _use_elementwise_softmax(logits):
        return logits, True
    return torch.softmax(logits, dim=1), False


class _OrderedMean(torch.autograd.Function):
    """Mean ordered squared EMD of a softmax against class indices, fused.

    The training hot path: the difference of cumulative distributions and its
    mean square in the forward pass; in the backward pass the gradient of the
    cumulative sums, written out so that it costs fewer kernels than autograd's
    differentiation of those steps.

    ``input`` holds the output of :func:`torch.softmax`, or the logits when
    ``softmax`` is true; the node then applies the elementwise softmax and
    differentiates it too. The gradient returned for probabilities may be off
    by a constant in each row, which the backward pass of the softmax that made
    them removes: give this node nothing but softmax output. A double backward
    (``create_graph=True``) differentiates the unfused formula instead.
    """

    @staticmethod
    def forward(ctx, input, index, softmax):
        n_samples, n_classes = input.shape
        proba = _elementwise_softmax(input) if softmax else input
        # diff holds (F(p) - F(t)) / sqrt(N K), so that its squared norm is the mean.
        root_size = math.sqrt(n_samples * n_classes)
        if n_classes <= _MATMUL_MAX_CLASSES:
            # F(p) - F(t) = p @ U - U[y], one fused, scaled product.
            upper = _upper_ones(n_classes, proba.dtype, proba.device)
            target_cdf = _true_class_rows(upper, index)
            diff = torch.addmm(
                target_cdf, proba, upper, beta=-1 / root_size, alpha=1 / root_size
            )
        else:
            diff = _unfused_ordered(proba, index).div_(root_size)
        flat = diff.view(-1)
        ctx.softmax = softmax
        ctx.root_size = root_size
        ctx.save_for_backward(input, index, diff, proba if softmax else None)
        return torch.dot(flat, flat)

    @staticmethod
    def backward(ctx, grad_output):
        input, index, diff, proba = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph=True: let autograd differentiate the plain formula,
            # recomputed from the saved input so that it joins its graph.
            with torch.enable_grad():
                proba = torch.softmax(input, dim=1) if ctx.softmax else input
                loss = _unfused_ordered(proba, index).square().mean()
                (grad,) = torch.autograd.grad(
                    loss, input, grad_output, create_graph=True
                )
            return grad, None, None
        n_classes = diff.shape[1]
        scale = grad_output * (2.0 / ctx.root_size)
        if n_classes <= _MATMUL_MAX_CLASSES:
            # The gradient of F(p) = p @ U is g @ U.T: sums over k >= j. The
            # scale goes on the small K x K factor.
            upper = _upper_ones(n_classes, diff.dtype, diff.device)
            grad = torch.mm(diff, upper.t() * scale)
        else:
            # The sums over k >= j are the row total minus the sums over k < j;
            # the softmax gradient ignores a constant added to a row, so the
            # total drops out: -(cumsum(d) - d).
            grad = diff.cumsum(dim=1).sub_(diff).mul_(-scale)
        if ctx.softmax:
            grad = _elementwise_softmax_backward(grad, proba)
        return grad, None, None


class _MatrixMean(torch.autograd.Function):
    """Mean squared EMD of a softmax under a fixed ground-distance matrix, fused.

    Forward: the rows ``M[y]`` of the true classes, ``d = p - t`` and
    ``mean(d * M[y] * d)``; backward: ``2 d * M[y]``. ``input`` and ``softmax``
    are as for :class:`_OrderedMean`, and so is a double backward.
    """

    @staticmethod
    def forward(ctx, input, index, ground_distance, softmax):
        proba = _elementwise_softmax(input) if softmax else input
        diff = _minus_true_class(proba, index)
        weighted = _true_class_rows(ground_distance, index).mul_(diff)
        ctx.softmax = softmax
        ctx.save_for_backward(
            input, index, ground_distance, weighted, proba if softmax else None
        )
        return torch.dot(weighted.view(-1), diff.view(-1)) / diff.numel()

    @staticmethod
    def backward(ctx, grad_output):
        input, index, ground_distance, weighted, proba = ctx.saved_tensors
        if torch.is_grad_enabled():
            with torch.enable_grad():
                proba = torch.softmax(input, dim=1) if ctx.softmax else input
                diff = _minus_true_class(proba, index)
                loss = (diff.square() * _true_class_rows(ground_distance, index)).mean()
                (grad,) = torch.autograd.grad(
                    loss, input, grad_output, create_graph=True
                )
            return grad, None, None, None
        grad = weighted * (grad_output * (2.0 / weighted.numel()))
        if ctx.softmax:
            grad = _elementwise_softmax_backward(grad, proba)
        return grad, None, None, None


def _minus_true_class(proba: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """p - t for class indices: p with 1 taken off the true class (a new tensor).

    Labels outside 0..K-1 are rejected by scatter_add, not read as a class past
    the end, or -1 as the last one.
    """
    n_samples, n_classes = proba.shape
    minus_one = proba.new_full((1, 1), -1.0).expand(n_samples, 1)
    try:
        return proba.scatter_add(1, index[:, None], minus_one)
    except (RuntimeError, IndexError) as error:
        raise _out_of_range(error, n_classes) from error


def _true_class_rows(matrix: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows ``matrix[y]`` of the true classes (a new tensor), range-checked."""
    try:
        return matrix.index_select(0, index)
    except (RuntimeError, IndexError) as error:
        raise _out_of_range(error, matrix.shape[0]) from error


def _unfused_ordered(proba: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """F(p) - F(t) for class indices, by one cumulative sum of p - t."""
    return _minus_true_class(proba, index).cumsum_(dim=1)


def _class_index(target: torch.Tensor) -> torch.Tensor:
    """Check that a 1-D target holds integer class indices; return them as int64.

    The range is checked where the indices are used: by ``index_select`` and
    ``scatter_add`` on the CPU, which raise on an index out of range, and by
    device-side assertions on CUDA. A separate check would cost a reduction and
    two host transfers per batch.
    """
    if target.dtype.is_floating_point or target.dtype == torch.bool:
        raise TypeError(
            "A 1-D target must hold integer class indices; got dtype "
            f"{target.dtype}. Pass soft targets as an (N, K) tensor."
        )
    return target.long()


def _out_of_range(error: RuntimeError, n_classes: int) -> RuntimeError:
    return RuntimeError(
        f"Class values must be class indices in 0..{n_classes - 1} for "
        f"{n_classes} classes ({error})."
    )


def _soft_target(
    target: torch.Tensor, n_classes: int, dtype: torch.dtype
) -> torch.Tensor:
    """Check a target that is not 1-D class indices: soft targets of shape (N, K)."""
    if target.dim() == 2:
        if target.shape[1] != n_classes:
            raise ValueError(
                f"Soft targets have {target.shape[1]} columns but the input has "
                f"{n_classes} classes."
            )
        return target.to(dtype)
    raise ValueError(
        "target must be class indices of shape (N,) or soft targets of shape "
        f"(N, K); got shape {tuple(target.shape)}."
    )


def _flatten_positions(
    input: torch.Tensor, target: torch.Tensor, sample_weight
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, tuple[int, ...]]:
    """Inputs of shape (N, K, d1, ..., dk) as rows of K classes, one per position.

    Returns the rows, the targets and weights flattened alike, and the shape
    (N, d1, ..., dk) of the per-position losses.
    """
    n_samples, n_classes = input.shape[:2]
    loss_shape = (n_samples, *input.shape[2:])
    rows = input.movedim(1, -1).reshape(-1, n_classes)
    if tuple(target.shape) == loss_shape:
        flat_target = target.reshape(-1)
    elif tuple(target.shape) == tuple(input.shape):
        flat_target = target.movedim(1, -1).reshape(-1, n_classes)
    else:
        raise ValueError(
            f"For input of shape {tuple(input.shape)} (N, K, d1, ...), target must "
            f"be class indices of shape {loss_shape} or soft targets of shape "
            f"{tuple(input.shape)}; got shape {tuple(target.shape)}."
        )
    if sample_weight is not None:
        sample_weight = torch.as_tensor(sample_weight, device=input.device)
        if tuple(sample_weight.shape) == (n_samples,):
            spread = (n_samples,) + (1,) * (len(loss_shape) - 1)
            sample_weight = sample_weight.reshape(spread).expand(loss_shape)
        elif tuple(sample_weight.shape) != loss_shape:
            raise ValueError(
                f"sample_weight has shape {tuple(sample_weight.shape)}; expected "
                f"{loss_shape}, one weight per position, or ({n_samples},), one "
                "per sample."
            )
        sample_weight = sample_weight.reshape(-1)
    return rows, flat_target, sample_weight, loss_shape


def _leave_out_ignored(
    target: torch.Tensor, sample_weight, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets with ``ignore_index`` replaced by class 0, and weights that are 0 there.

    A weight of 0 leaves the sample out of the loss, of a weighted mean's total
    and of the gradient, with no transfer to the host to find the samples.
    """
    if target.dim() != 1:
        raise ValueError(
            "ignore_index applies to targets of class indices; soft targets "
            f"(shape {tuple(target.shape)}) have no class to ignore: give a row "
            "weight 0 in sample_weight instead."
        )
    index = _class_index(target)
    keep = index != ignore_index
    if sample_weight is None:
        weight = keep
    else:
        weight = torch.as_tensor(sample_weight, device=index.device)
        if weight.shape != index.shape:
            raise ValueError(
                f"sample_weight has shape {tuple(weight.shape)}; expected "
                f"{tuple(index.shape)}, one weight per sample."
            )
        weight = weight * keep
    return index.masked_fill(~keep, 0), weight


def _checked_sample_weight(sample_weight, device: torch.device) -> torch.Tensor:
    """``sample_weight`` as a floating tensor on ``device``, finite and non-negative.

    One reduction and one transfer to the host find NaN, infinity and negative
    values; integer and boolean weights become the default floating dtype.
    """
    weight = torch.as_tensor(sample_weight, device=device)
    if weight.dtype.is_complex:
        raise TypeError(f"sample_weight must be real; got dtype {weight.dtype}.")
    if not weight.dtype.is_floating_point:
        weight = weight.to(torch.get_default_dtype())
    if weight.numel():
        low, high = torch.stack(torch.aminmax(weight.detach())).tolist()
        if math.isnan(low) or math.isnan(high):
            raise ValueError("sample_weight contains NaN.")
        if low < 0:
            raise ValueError(
                f"sample_weight must be non-negative; its smallest value is {low}."
            )
        if math.isinf(high):
            raise ValueError(f"sample_weight contains infinity ({high}).")
    return weight


def _scaled_weight(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Weights divided by a power of two that takes their maximum into [1, 2).

    A weighted mean ``sum(w * loss) / sum(w)`` of the scaled weights neither
    overflows nor underflows, whatever their scale. Division by a power of two
    is exact (short of weights below the smallest normal number once scaled):
    weights of ordinary size give the same bits as unscaled ones. The scaling
    is done in ``dtype`` or the weights' own, whichever is wider, so that no
    weight is rounded to infinity or 0 before it.
    """
    if weight.dtype == torch.bool or weight.numel() == 0:
        return weight.to(dtype)
    weight = weight.to(torch.promote_types(weight.dtype, dtype))
    with torch.no_grad():
        top = weight.amax()
        # top = m * 2**e with m in [0.5, 1), so top / (2 m) is exactly 2**(e - 1),
        # representable from the smallest subnormal to the largest finite top.
        mantissa, _ = torch.frexp(top)
        unit = torch.where(top > 0, top / (2 * mantissa), 1.0)
    return (weight / unit).to(dtype)


def _reduce(
    per_sample: torch.Tensor, sample_weight: torch.Tensor | None, reduction: str
) -> torch.Tensor:
    if sample_weight is not None:
        if sample_weight.shape != per_sample.shape:
            raise ValueError(
                f"sample_weight has shape {tuple(sample_weight.shape)}; expected "
                f"{tuple(per_sample.shape)}, one weight per sample."
            )
        if reduction == "mean":
            # The weights' scale cancels out of the mean: it is taken out first.
            weight = _scaled_weight(sample_weight, per_sample.dtype)
            return (per_sample * weight).sum() / weight.sum()
        per_sample = per_sample * sample_weight.to(per_sample.dtype)
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


def _compute_dtype(input: torch.Tensor) -> tuple[torch.dtype, torch.dtype]:
    """The dtype of the result, and the dtype the loss is computed in.

    The result has the input's dtype (the default dtype for an integer input).
    float16 and bfloat16 are computed in float32, as autocast runs torch's own
    losses: the sums of a loss, of weights or of a mask overflow float16 past
    65504, and bfloat16 keeps fewer than three significant digits.
    """
    dtype = input.dtype if input.dtype.is_floating_point else torch.get_default_dtype()
    return dtype, torch.promote_types(dtype, torch.float32)


def _cast(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``tensor.to(dtype)``, without its call when the dtype is already right.

    The loss runs once per batch: on small batches a call into torch that does
    nothing still costs as much as a few percent of the loss.
    """
    return tensor if tensor.dtype == dtype else tensor.to(dtype)


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}.")


def squared_emd_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    ground_distance: torch.Tensor | None = None,
    *,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
    from_logits: bool = True,
    ignore_index: int | None = None,
) -> torch.Tensor:
    r"""Exact squared Earth Mover's Distance between predicted and target classes.

    With ``ground_distance=None`` the classes are ordered and one step apart, and the
    loss of a sample is the squared l2 distance between the cumulative distributions
    of the prediction :math:`p` and the target :math:`t`, averaged over the classes:

    .. math:: \frac{1}{K} \sum_{k=1}^{K} \bigl(F_k(p) - F_k(t)\bigr)^2,
       \qquad F_k(p) = p_1 + \dots + p_k.

    With a ground-distance matrix :math:`M` (Hou, Yu & Samaras, section 3) the loss of
    a sample of class :math:`y` is

    .. math:: \frac{1}{K} \sum_{i=1}^{K} (p_i - t_i)^2 \, M_{y, i}.

    For soft targets the row :math:`M_{y, \cdot}` is replaced by its expectation under
    the target, :math:`t^\top M`, which is the same for a one-hot target.

    As with :func:`torch.nn.functional.cross_entropy`, the input may have
    further dimensions after the classes, ``(N, K, d1, ..., dk)`` (a class
    distribution per pixel or per token); each position is then a sample.

    Parameters
    ----------
    input : torch.Tensor of shape (N, K) or (N, K, d1, ..., dk)
        Logits (default) or probabilities when ``from_logits=False``, classes in
        the second dimension.
    target : torch.Tensor
        Class indices (any integer dtype) of shape (N,) or (N, d1, ..., dk), or
        soft targets of the input's shape that sum to 1 over the classes.
    ground_distance : torch.Tensor of shape (K, K), default=None
        The matrix :math:`M`. ``None`` uses the class order (the exact 1-D form).
        Entries may be negative (a learned matrix with an offset rewards near
        classes); the matrix is moved to the input's device and to the dtype the
        loss is computed in (see Notes).
    sample_weight : torch.Tensor of shape (N,) or (N, d1, ..., dk), default=None
        Per-sample weights (per position, or per sample and spread over its
        positions), finite and non-negative. With ``reduction="mean"`` the
        result is the weighted mean, ``sum(w * loss) / sum(w)``, which does not
        depend on the weights' scale: any weights from the smallest subnormal
        number to the largest finite one give the mean of weights scaled to
        about 1 (see Notes). With all weights 0 it is NaN, with a NaN gradient,
        as for an empty batch. With ``"sum"`` and ``"none"`` the losses are
        multiplied by the weights, whose scale the result then carries.
    reduction : {"mean", "sum", "none"}, default="mean"
        How to reduce the per-sample losses.
    from_logits : bool, default=True
        Whether ``input`` holds logits (a softmax is applied) or probabilities.
    ignore_index : int, default=None
        A target value that marks samples (padding, unlabelled pixels) to leave
        out of the loss and its gradient, as in
        :func:`torch.nn.functional.cross_entropy` (whose default is ``-100``;
        here the default ``None`` ignores nothing, so a stray value is an
        error). The mean is over the samples left; it is NaN when none is left,
        as cross-entropy's. For class-index targets only.

    Returns
    -------
    loss : torch.Tensor
        A scalar, or the per-sample losses of shape (N,) (or (N, d1, ..., dk))
        with ``reduction="none"``, 0 where the target is ``ignore_index``. Its
        dtype is the input's (the default dtype for an integer input); under
        autocast it is float32 (float64 for float64 input), as for torch's own
        losses under autocast.

    Raises
    ------
    ValueError
        If the shapes do not match, the reduction is unknown, or
        ``sample_weight`` holds NaN, infinity or a negative value.
    TypeError
        If a 1-D target does not hold integers, or ``sample_weight`` is complex.
    RuntimeError
        If a class index lies outside ``0, ..., K - 1``.

    Notes
    -----
    **Dtypes.** The loss is computed in float32 for float16 and bfloat16 input
    (float64 stays float64), weights, masks and sums included: a float16 sum
    overflows past 65504, which a mean over 65504 positions or weights of 100
    over 1000 samples already reach. Only the result is rounded to the input's
    dtype, and the gradient flows back to the input in its dtype. A result
    that does not fit float16, a ``"sum"`` (or a weighted ``"none"``) past
    65504, is ``inf`` there while its gradient, computed in float32, stays
    finite; ask for the mean, or pass float32 input, to read such a value. A
    gradient that does not fit float16 (``1 / p`` of the cross-entropy of a
    probability near 0 in :class:`SquaredEMDLoss`) overflows, as torch's own.

    **Weights.** For the weighted mean the weights are first divided by the
    power of two that brings the largest into ``[1, 2)``, in the wider of the
    weights' dtype and the computing one: neither sum can overflow or
    underflow, and since the division is exact, weights of ordinary size give
    the same result, bit for bit, as ``sum(w * loss) / sum(w)`` without it.
    In float32 a weight below about ``1e-38`` of the largest loses precision,
    and one below about ``1e-45`` of it counts as 0: its share of the mean is
    beyond float32's precision anyway. Checking the weights reads two numbers
    back from the device.

    **The training step.** The mean over class indices computed from logits
    (with a ground-distance matrix that does not require a gradient) runs as
    one autograd node whose backward pass is written out, after
    :func:`torch.softmax`; it gives the same values and gradients as the
    formulas above, and second derivatives (``create_graph=True``)
    differentiate those formulas.

    See Also
    --------
    SquaredEMDLoss : The same loss as an :class:`torch.nn.Module`, with an optional
        cross-entropy term.

    References
    ----------
    .. [1] L. Hou, C.-P. Yu and D. Samaras, "Squared Earth Mover's Distance-based
       Loss for Training Deep Neural Networks", arXiv:1611.05916, 2016.

    Examples
    --------
    >>> import torch
    >>> from skemd.losses import squared_emd_loss
    >>> logits = torch.tensor([[4.0, 0.0, 0.0], [0.0, 0.0, 4.0]])
    >>> target = torch.tensor([0, 0])
    >>> loss = squared_emd_loss(logits, target, reduction="none")
    >>> [round(v, 4) for v in loss.tolist()]
    [0.0005, 0.6319]
    """
    _check_reduction(reduction)
    if sample_weight is not None:
        sample_weight = _checked_sample_weight(sample_weight, input.device)
    dtype, _ = _compute_dtype(input)
    args = (
        input,
        target,
        ground_distance,
        sample_weight,
        reduction,
        from_logits,
        ignore_index,
    )
    if torch.is_autocast_enabled(input.device.type):
        # The loss runs in float32 (or float64) whatever autocast would pick,
        # and, as torch's losses under autocast, returns that dtype.
        with torch.autocast(input.device.type, enabled=False):
            return _squared_emd_loss(*args)
    return _cast(_squared_emd_loss(*args), dtype)


def _squared_emd_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    ground_distance,
    sample_weight: torch.Tensor | None,
    reduction: str,
    from_logits: bool,
    ignore_index: int | None,
) -> torch.Tensor:
    """:func:`squared_emd_loss` past its checks: in the computing dtype, no autocast.

    The result is in the dtype of :func:`_compute_dtype`; the caller casts it.
    """
    if input.dim() > 2:
        rows, target, sample_weight, loss_shape = _flatten_positions(
            input, target, sample_weight
        )
        loss = _squared_emd_loss(
            rows,
            target,
            ground_distance,
            sample_weight,
            reduction,
            from_logits,
            ignore_index,
        )
        return loss.reshape(loss_shape) if reduction == "none" else loss
    if input.dim() != 2:
        raise ValueError(
            "input must have shape (N, K) or (N, K, d1, ..., dk); got shape "
            f"{tuple(input.shape)}."
        )
    n_samples, n_classes = input.shape
    if target.dim() == 0 or target.shape[0] != n_samples:
        got = "a single value" if target.dim() == 0 else target.shape[0]
        raise ValueError(f"input has {n_samples} samples but target has {got}.")
    if ignore_index is not None:
        target, sample_weight = _leave_out_ignored(target, sample_weight, ignore_index)
    _, dtype = _compute_dtype(input)
    input = _cast(input, dtype)
    if ground_distance is not None:
        ground_distance = torch.as_tensor(
            ground_distance, dtype=dtype, device=input.device
        )
        if ground_distance.shape != (n_classes, n_classes):
            raise ValueError(
                f"ground_distance must have shape ({n_classes}, {n_classes}) for "
                f"{n_classes} classes; got {tuple(ground_distance.shape)}."
            )
    if (
        from_logits
        and reduction == "mean"
        and sample_weight is None
        and target.dim() == 1
        and n_samples > 0
        and (ground_distance is None or not ground_distance.requires_grad)
    ):
        # The case every training step takes: one fused autograd node.
        index = _class_index(target)
        fused_input, softmax = _fused_input(input)
        if ground_distance is None:
            return _OrderedMean.apply(fused_input, index, softmax)
        return _MatrixMean.apply(fused_input, index, ground_distance, softmax)
    proba = _as_distribution(input, from_logits)
    mean_only = reduction == "mean" and sample_weight is None
    if ground_distance is None:
        per_sample = _ordered_loss(proba, target, dtype, mean_only)
    else:
        per_sample = _matrix_loss(proba, target, ground_distance, dtype, mean_only)
    if per_sample.dim() == 0:
        return per_sample
    return _reduce(per_sample, sample_weight, reduction)


def _ordered_loss(proba, target, dtype, mean_only: bool) -> torch.Tensor:
    """The ordered form per sample, or its mean when ``mean_only``."""
    n_classes = proba.shape[1]
    if n_classes <= _MATMUL_MAX_CLASSES:
        # Few classes: the cumulative sums are products with the upper
        # triangle of ones, F(p) = p @ U, and F of class y is row y of U.
        # A product and its gradient are one kernel each, where a cumulative
        # sum costs three in the backward pass (flip, cumsum, flip).
        upper = _upper_ones(n_classes, proba.dtype, proba.device)
        if target.dim() == 1:
            target_cdf = _true_class_rows(upper, _class_index(target))
        else:
            target_cdf = _soft_target(target, n_classes, dtype) @ upper
        cdf = proba @ upper
        if mean_only:
            # The mean over samples of the per-sample means over classes.
            # Summed, then divided: F.mse_loss's own mean returns a scalar
            # that keeps all N x K squared errors alive with it, which adds
            # up when callers keep the detached loss of every batch.
            return F.mse_loss(cdf, target_cdf, reduction="sum") / cdf.numel()
        return (cdf - target_cdf).square().mean(dim=1)
    # F(p) - F(t) is the cumulative sum of p - t: one cumsum, not two.
    if target.dim() == 1:
        cdf_diff = _unfused_ordered(proba, _class_index(target))
    else:
        diff = proba - _soft_target(target, n_classes, dtype)
        cdf_diff = torch.cumsum(diff, dim=1)
    squared = cdf_diff.square()
    return squared.mean() if mean_only else squared.mean(dim=1)


def _matrix_loss(proba, target, ground_distance, dtype, mean_only) -> torch.Tensor:
    """The matrix form per sample, or its mean when ``mean_only``."""
    if target.dim() == 1:
        # p - t is p with 1 taken off the true class, and the weights are
        # the rows of the true classes.
        index = _class_index(target)
        row_weight = _true_class_rows(ground_distance, index)
        diff = _minus_true_class(proba, index)
    else:
        target_dist = _soft_target(target, proba.shape[1], dtype)
        row_weight = target_dist @ ground_distance
        diff = proba - target_dist
    weighted = diff.square() * row_weight
    if mean_only:
        return weighted.sum() / weighted.numel()
    return weighted.mean(dim=1)


_BOTH_TERMS_ZERO = (
    "ce_weight and emd_weight are both 0: the loss would be 0 for every input "
    "and train nothing. Give at least one of them a positive weight."
)


def _term_weights(ce_weight, emd_weight) -> tuple[float, float]:
    """The weights of the two terms as floats, finite, non-negative, not both 0."""
    weights = []
    for name, value in (("ce_weight", ce_weight), ("emd_weight", emd_weight)):
        try:
            weight = float(value)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be a real number; got {value!r}.") from error
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(
                f"{name} must be a finite, non-negative number; got {value!r}."
            )
        weights.append(weight)
    if weights == [0.0, 0.0]:
        raise ValueError(_BOTH_TERMS_ZERO)
    return weights[0], weights[1]


class SquaredEMDLoss(nn.Module):
    r"""Squared EMD loss as a module, optionally mixed with cross-entropy.

    The loss is ``ce_weight * cross_entropy + emd_weight * squared_emd`` where the
    squared EMD is :func:`squared_emd_loss`. With a ground-distance matrix and a
    positive ``ce_weight`` this is the "XEMD" loss of Hou, Yu & Samaras. The module
    can be given to skorch as ``criterion`` directly.

    Parameters
    ----------
    ground_distance : array-like of shape (K, K), default=None
        The matrix :math:`M` of :func:`squared_emd_loss`; ``None`` for ordered
        classes. It is kept as a buffer, so it follows the module across devices
        and is saved in its ``state_dict``; a criterion made without one takes
        the matrix of a state it loads. Assign a new matrix (a tensor) to the
        attribute ``ground_distance`` to change it between epochs.
    ce_weight : float, default=0.0
        Weight of the cross-entropy term, finite and non-negative.
    emd_weight : float, default=1.0
        Weight of the squared-EMD term, finite and non-negative; ``ce_weight``
        and ``emd_weight`` may not both be 0 (the loss would train nothing).
    reduction : {"mean", "sum", "none"}, default="mean"
        How to reduce the per-sample losses.
    from_logits : bool, default=True
        Whether the input holds logits. Cross-entropy needs logits: with
        ``from_logits=False`` the logarithm of the probabilities is used.
    ignore_index : int, default=None
        A target value whose samples are left out of both terms and of the
        mean, as in :class:`torch.nn.CrossEntropyLoss` (see
        :func:`squared_emd_loss`); ``None`` ignores nothing.

    Inputs of shape ``(N, K, d1, ..., dk)`` with targets of shape
    ``(N, d1, ..., dk)`` (or soft targets of the input's shape) are taken as
    for :class:`torch.nn.CrossEntropyLoss`: one sample per position. Dtypes and
    weights are handled as by :func:`squared_emd_loss`: float16 and bfloat16
    are computed in float32, the cross-entropy of probabilities included (it
    takes the logarithm of the probabilities clamped at float32's smallest
    normal number), and the weighted mean does not depend on the weights'
    scale.

    Raises
    ------
    ValueError
        If ``ce_weight`` or ``emd_weight`` is negative or not finite, if both
        are 0, or if ``reduction`` is unknown.
    TypeError
        If ``ce_weight`` or ``emd_weight`` is not a real number.

    Examples
    --------
    >>> import torch
    >>> from skemd.losses import SquaredEMDLoss
    >>> criterion = SquaredEMDLoss(ce_weight=0.5)
    >>> logits = torch.zeros(2, 4, requires_grad=True)
    >>> loss = criterion(logits, torch.tensor([0, 3]))
    >>> loss.backward()
    >>> round(loss.item(), 4)
    0.9119

    With skorch, the criterion is passed like any other:

    >>> from skorch import NeuralNetClassifier
    >>> net = NeuralNetClassifier(torch.nn.Linear(5, 4), criterion=SquaredEMDLoss)
    """

    ground_distance: torch.Tensor | None
    # A class default, so that modules pickled before the parameter existed load.
    ignore_index: int | None = None

    def __init__(
        self,
        ground_distance: torch.Tensor | None = None,
        *,
        ce_weight: float = 0.0,
        emd_weight: float = 1.0,
        reduction: str = "mean",
        from_logits: bool = True,
        ignore_index: int | None = None,
    ) -> None:
        super().__init__()
        _check_reduction(reduction)
        if ground_distance is not None:
            ground_distance = torch.as_tensor(ground_distance)
            if not ground_distance.dtype.is_floating_point:
                ground_distance = ground_distance.to(torch.get_default_dtype())
        self.register_buffer("ground_distance", ground_distance)
        self.ce_weight, self.emd_weight = _term_weights(ce_weight, emd_weight)
        self.reduction = reduction
        self.from_logits = from_logits
        self.ignore_index = ignore_index

    def _load_from_state_dict(self, state_dict, prefix, *args):
        # A matrix set after construction (a learned ground distance) is in the
        # saved state; a new criterion, made without one, takes it on loading.
        saved = state_dict.get(prefix + "ground_distance")
        if self.ground_distance is None and isinstance(saved, torch.Tensor):
            self.ground_distance = torch.empty_like(saved)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(
        self,
        input: torch.Tensor,
        target: torch.Tensor,
        sample_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Compute the loss of a batch.

        Parameters
        ----------
        input : torch.Tensor of shape (N, K) or (N, K, d1, ..., dk)
            Logits, or probabilities when ``from_logits=False``, in any
            floating dtype.
        target : torch.Tensor
            Class indices of shape (N,) or (N, d1, ..., dk), or soft targets of
            the input's shape.
        sample_weight : torch.Tensor of shape (N,) or (N, d1, ..., dk), default=None
            Per-sample (or per-position) weights, finite and non-negative; as for
            :func:`squared_emd_loss`, their scale does not change the mean.

        Returns
        -------
        loss : torch.Tensor
            The reduced loss, or per-sample losses with ``reduction="none"``, in
            the input's dtype (float32 under autocast), as for
            :func:`squared_emd_loss`.

        Raises
        ------
        ValueError
            If ``ce_weight`` and ``emd_weight`` have both been set to 0, or the
            weights hold NaN, infinity or negative values.
        """
        if self.ce_weight == 0.0 and self.emd_weight == 0.0:
            raise ValueError(_BOTH_TERMS_ZERO)
        if sample_weight is not None:
            sample_weight = _checked_sample_weight(sample_weight, input.device)
        dtype, _ = _compute_dtype(input)
        if torch.is_autocast_enabled(input.device.type):
            # As in squared_emd_loss: float32 arithmetic, and a float32 result.
            with torch.autocast(input.device.type, enabled=False):
                return self._loss(input, target, sample_weight)
        return _cast(self._loss(input, target, sample_weight), dtype)

    def _loss(
        self,
        input: torch.Tensor,
        target: torch.Tensor,
        sample_weight: torch.Tensor | None,
    ) -> torch.Tensor:
        """:meth:`forward` past its checks: in the computing dtype, no autocast."""
        if input.dim() > 2:
            rows, target, sample_weight, loss_shape = _flatten_positions(
                input, target, sample_weight
            )
            loss = self._loss(rows, target, sample_weight)
            return loss.reshape(loss_shape) if self.reduction == "none" else loss
        if self.ignore_index is not None:
            target, sample_weight = _leave_out_ignored(
                target, sample_weight, self.ignore_index
            )
        _, dtype = _compute_dtype(input)
        input = _cast(input, dtype)
        # Terms with weight 0 are skipped and weights of 1 not applied: this runs
        # once per batch, and every extra operation counts on small batches.
        if self.ce_weight == 0.0:
            # The squared EMD alone: reduced where it is computed, which spares
            # the per-sample intermediate (weighting a reduced loss is linear).
            loss = _squared_emd_loss(
                input,
                target,
                self.ground_distance,
                sample_weight,
                self.reduction,
                self.from_logits,
                None,
            )
            return loss if self.emd_weight == 1.0 else self.emd_weight * loss
        if (
            self.reduction == "mean"
            and sample_weight is None
            and self.from_logits
            and target.dim() == 1
        ):
            return self._fused_mix(input, target)
        per_sample = None
        if self.emd_weight != 0.0:
            per_sample = _squared_emd_loss(
                input,
                target,
                self.ground_distance,
                None,
                "none",
                self.from_logits,
                None,
            )
            if self.emd_weight != 1.0:
                per_sample = self.emd_weight * per_sample
        ce = self._cross_entropy(input, target)
        per_sample = ce if per_sample is None else per_sample + ce
        return _reduce(per_sample, sample_weight, self.reduction)

    def _fused_mix(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The mean mix of class indices: each term by its fused kernel.

        The mean of a weighted sum is the weighted sum of the means:
        cross-entropy's kernel and the squared EMD's. The squared EMD goes
        first: it checks the target.
        """
        loss = None
        if self.emd_weight != 0.0:
            loss = _squared_emd_loss(
                input, target, self.ground_distance, None, "mean", True, None
            )
            if self.emd_weight != 1.0:
                loss = self.emd_weight * loss
        ce = F.cross_entropy(input, target.long())
        if self.ce_weight != 1.0:
            ce = self.ce_weight * ce
        return ce if loss is None else loss + ce

    def _cross_entropy(self, input: torch.Tensor, target: torch.Tensor):
        """The weighted cross-entropy term of each sample."""
        log_proba = (
            torch.log_softmax(input, dim=1)
            if self.from_logits
            else torch.log(input.clamp_min(torch.finfo(input.dtype).tiny))
        )
        if target.dim() == 1:
            ce = F.nll_loss(log_proba, target.long(), reduction="none")
        else:
            ce = -(target.to(log_proba.dtype) * log_proba).sum(dim=1)
        return ce if self.ce_weight == 1.0 else self.ce_weight * ce

    def extra_repr(self) -> str:
        kind = "ordinal" if self.ground_distance is None else "matrix"
        ignored = (
            "" if self.ignore_index is None else f", ignore_index={self.ignore_index}"
        )
        return (
            f"ground_distance={kind}, ce_weight={self.ce_weight}, "
            f"emd_weight={self.emd_weight}, reduction={self.reduction!r}{ignored}"
        )
