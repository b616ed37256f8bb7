"""Squared Earth Mover's Distance losses in plain PyTorch.

The functions here need neither the estimator nor skorch: they take logits (or
probabilities) and targets on any device and in any floating dtype, and return a
differentiable tensor.

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


def _elementwise_softmax(logits: torch.Tensor) -> bool:
    n_samples, n_classes = logits.shape
    return (
        logits.device.type == "cpu"
        and n_classes <= _ELEMENTWISE_SOFTMAX_MAX_CLASSES
        and n_samples >= _ELEMENTWISE_SOFTMAX_MIN_SAMPLES
    )


def _softmax_forward(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over classes, by the faster kernel for this shape and device."""
    if _elementwise_softmax(logits):
        proba = logits - logits.amax(dim=1, keepdim=True)
        proba.exp_()
        return proba.div_(proba.sum(dim=1, keepdim=True))
    return torch.softmax(logits, dim=1)


def _softmax_backward(grad: torch.Tensor, proba: torch.Tensor) -> torch.Tensor:
    """Gradient with respect to the logits, p * (g - <g, p>); may reuse ``grad``."""
    if _elementwise_softmax(proba):
        row_dot = torch.linalg.vecdot(grad, proba, dim=1).unsqueeze_(1)
        return grad.sub_(row_dot).mul_(proba)
    return torch._softmax_backward_data(grad, proba, 1, proba.dtype)


class _OrderedMeanFromLogits(torch.autograd.Function):
    """Mean ordered squared EMD of logits against class indices, fused.

    The training hot path: softmax, the difference of cumulative distributions
    and its mean square in the forward pass; in the backward pass the gradient
    of the cumulative sums and of the softmax, written out so that it costs two
    to four kernels instead of autograd's eight. A double backward
    (``create_graph=True``) differentiates the unfused formula instead.
    """

    @staticmethod
    def forward(ctx, logits, index):
        n_samples, n_classes = logits.shape
        proba = _softmax_forward(logits)
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
        ctx.save_for_backward(logits, index, proba, diff)
        ctx.root_size = root_size
        return torch.dot(flat, flat)

    @staticmethod
    def backward(ctx, grad_output):
        logits, index, proba, diff = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph=True: let autograd differentiate the plain formula,
            # recomputed from the saved logits so that it joins their graph.
            with torch.enable_grad():
                cdf_diff = _unfused_ordered(torch.softmax(logits, dim=1), index)
                loss = cdf_diff.square().mean()
                (grad,) = torch.autograd.grad(
                    loss, logits, grad_output, create_graph=True
                )
            return grad, None
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
        return _softmax_backward(grad, proba), None


class _MatrixMeanFromLogits(torch.autograd.Function):
    """Mean squared EMD under a fixed ground-distance matrix, fused.

    Forward: softmax, the rows ``M[y]`` of the true classes, ``d = p - t`` and
    ``mean(d * M[y] * d)``; backward: ``2 d * M[y]`` through the softmax. As for
    the ordered form, a double backward differentiates the unfused formula.
    """

    @staticmethod
    def forward(ctx, logits, index, ground_distance):
        proba = _softmax_forward(logits)
        diff = _minus_true_class(proba, index)
        weighted = _true_class_rows(ground_distance, index).mul_(diff)
        ctx.save_for_backward(logits, index, ground_distance, proba, weighted)
        return torch.dot(weighted.view(-1), diff.view(-1)) / diff.numel()

    @staticmethod
    def backward(ctx, grad_output):
        logits, index, ground_distance, proba, weighted = ctx.saved_tensors
        if torch.is_grad_enabled():
            with torch.enable_grad():
                diff = _minus_true_class(torch.softmax(logits, dim=1), index)
                loss = (diff.square() * _true_class_rows(ground_distance, index)).mean()
                (grad,) = torch.autograd.grad(
                    loss, logits, grad_output, create_graph=True
                )
            return grad, None, None
        grad = weighted * (grad_output * (2.0 / weighted.numel()))
        return _softmax_backward(grad, proba), None, None


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


def _reduce(
    per_sample: torch.Tensor, sample_weight: torch.Tensor | None, reduction: str
) -> torch.Tensor:
    if sample_weight is not None:
        sample_weight = torch.as_tensor(
            sample_weight, dtype=per_sample.dtype, device=per_sample.device
        )
        if sample_weight.shape != per_sample.shape:
            raise ValueError(
                f"sample_weight has shape {tuple(sample_weight.shape)}; expected "
                f"{tuple(per_sample.shape)}, one weight per sample."
            )
        weighted = per_sample * sample_weight
        if reduction == "mean":
            return weighted.sum() / sample_weight.sum()
        per_sample = weighted
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


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
        classes); the matrix is moved to the input's device and dtype.
    sample_weight : torch.Tensor of shape (N,) or (N, d1, ..., dk), default=None
        Per-sample weights (per position, or per sample and spread over its
        positions). With ``reduction="mean"`` the result is the weighted mean,
        ``sum(w * loss) / sum(w)``.
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
        with ``reduction="none"``, 0 where the target is ``ignore_index``.

    Notes
    -----
    The case every training step takes, the mean over class indices computed
    from logits (outside autocast, and with a ground-distance matrix that does
    not require a gradient), runs as one autograd node whose backward pass is
    written out; it gives the same values and gradients as the formulas above,
    and second derivatives (``create_graph=True``) differentiate those formulas.

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
    if input.dim() > 2:
        rows, target, sample_weight, loss_shape = _flatten_positions(
            input, target, sample_weight
        )
        loss = squared_emd_loss(
            rows,
            target,
            ground_distance,
            sample_weight=sample_weight,
            reduction=reduction,
            from_logits=from_logits,
            ignore_index=ignore_index,
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
    dtype = input.dtype if input.dtype.is_floating_point else torch.get_default_dtype()
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
        and input.shape[0] > 0
        and not torch.is_autocast_enabled(input.device.type)
    ):
        # The case every training step takes: one fused autograd node.
        if ground_distance is None:
            return _OrderedMeanFromLogits.apply(input.to(dtype), _class_index(target))
        if not ground_distance.requires_grad:
            return _MatrixMeanFromLogits.apply(
                input.to(dtype), _class_index(target), ground_distance
            )
    proba = _as_distribution(input.to(dtype), from_logits)

    if ground_distance is None:
        mean_only = reduction == "mean" and sample_weight is None
        if n_classes <= _MATMUL_MAX_CLASSES and not torch.is_autocast_enabled(
            proba.device.type
        ):
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
            per_sample = (cdf - target_cdf).square().mean(dim=1)
        else:
            # F(p) - F(t) is the cumulative sum of p - t: one cumsum, not two.
            if target.dim() == 1:
                cdf_diff = _unfused_ordered(proba, _class_index(target))
            else:
                diff = proba - _soft_target(target, n_classes, dtype)
                cdf_diff = torch.cumsum(diff, dim=1)
            squared = cdf_diff.square()
            if mean_only:
                return squared.mean()
            per_sample = squared.mean(dim=1)
    else:
        if target.dim() == 1:
            # p - t is p with 1 taken off the true class, and the weights are
            # the rows of the true classes.
            index = _class_index(target)
            row_weight = _true_class_rows(ground_distance, index)
            diff = _minus_true_class(proba, index)
        else:
            target_dist = _soft_target(target, n_classes, dtype)
            row_weight = target_dist @ ground_distance
            diff = proba - target_dist
        weighted = diff.square() * row_weight
        if reduction == "mean" and sample_weight is None:
            return weighted.sum() / weighted.numel()
        per_sample = weighted.mean(dim=1)

    return _reduce(per_sample, sample_weight, reduction)


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
        Weight of the cross-entropy term.
    emd_weight : float, default=1.0
        Weight of the squared-EMD term.
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
    for :class:`torch.nn.CrossEntropyLoss`: one sample per position.

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
        self.ce_weight = float(ce_weight)
        self.emd_weight = float(emd_weight)
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
            Logits, or probabilities when ``from_logits=False``.
        target : torch.Tensor
            Class indices of shape (N,) or (N, d1, ..., dk), or soft targets of
            the input's shape.
        sample_weight : torch.Tensor of shape (N,) or (N, d1, ..., dk), default=None
            Per-sample (or per-position) weights.

        Returns
        -------
        loss : torch.Tensor
            The reduced loss, or per-sample losses with ``reduction="none"``.
        """
        if input.dim() > 2:
            rows, target, sample_weight, loss_shape = _flatten_positions(
                input, target, sample_weight
            )
            loss = self(rows, target, sample_weight)
            return loss.reshape(loss_shape) if self.reduction == "none" else loss
        if self.ignore_index is not None:
            target, sample_weight = _leave_out_ignored(
                target, sample_weight, self.ignore_index
            )
        # Terms with weight 0 are skipped and weights of 1 not applied: this runs
        # once per batch, and every extra operation counts on small batches.
        if self.ce_weight == 0.0 and self.emd_weight != 0.0:
            # The squared EMD alone: reduced where it is computed, which spares
            # the per-sample intermediate (weighting a reduced loss is linear).
            loss = squared_emd_loss(
                input,
                target,
                self.ground_distance,
                sample_weight=sample_weight,
                reduction=self.reduction,
                from_logits=self.from_logits,
            )
            return loss if self.emd_weight == 1.0 else self.emd_weight * loss
        if (
            self.reduction == "mean"
            and sample_weight is None
            and self.from_logits
            and target.dim() == 1
        ):
            # The mean of a weighted sum is the weighted sum of the means: each
            # term by its fused kernel (cross-entropy's, and the squared EMD's).
            loss = None
            if self.emd_weight != 0.0:
                loss = squared_emd_loss(input, target, self.ground_distance)
                if self.emd_weight != 1.0:
                    loss = self.emd_weight * loss
            if self.ce_weight != 0.0:
                ce = F.cross_entropy(input, target.long())
                if self.ce_weight != 1.0:
                    ce = self.ce_weight * ce
                loss = ce if loss is None else loss + ce
            return input.new_zeros(()) if loss is None else loss
        per_sample = None
        if self.emd_weight != 0.0:
            per_sample = squared_emd_loss(
                input,
                target,
                self.ground_distance,
                reduction="none",
                from_logits=self.from_logits,
            )
            if self.emd_weight != 1.0:
                per_sample = self.emd_weight * per_sample
        if self.ce_weight != 0.0:
            log_proba = (
                torch.log_softmax(input, dim=1)
                if self.from_logits
                else torch.log(input.clamp_min(torch.finfo(input.dtype).tiny))
            )
            if target.dim() == 1:
                ce = F.nll_loss(log_proba, target.long(), reduction="none")
            else:
                ce = -(target.to(log_proba.dtype) * log_proba).sum(dim=1)
            if self.ce_weight != 1.0:
                ce = self.ce_weight * ce
            per_sample = ce if per_sample is None else per_sample + ce
        if per_sample is None:
            per_sample = input.new_zeros(input.shape[0])
        return _reduce(per_sample, sample_weight, self.reduction)

    def extra_repr(self) -> str:
        kind = "ordinal" if self.ground_distance is None else "matrix"
        ignored = (
            "" if self.ignore_index is None else f", ignore_index={self.ignore_index}"
        )
        return (
            f"ground_distance={kind}, ce_weight={self.ce_weight}, "
            f"emd_weight={self.emd_weight}, reduction={self.reduction!r}{ignored}"
        )
