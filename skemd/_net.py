"""The skorch net the estimator trains, and the default network.

Data that fit in memory are held as tensors and served as slices: a batch is an
index into tensors that already sit on the training device, so training never
collates samples one by one. Any other torch ``Dataset`` goes through skorch's
usual ``DataLoader`` path.

On in-memory data an epoch also skips skorch's per-batch bookkeeping when nothing
listens to it (see :meth:`EMDNet.run_single_epoch`): batch losses stay on the
device and are written to the history once per epoch.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from torch import nn

_ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


class MLP(nn.Module):
    """A fully connected network: hidden layers, then a linear output layer.

    Parameters
    ----------
    n_features : int
        Width of the input.
    n_classes : int
        Number of outputs (one logit per class).
    hidden_layer_sizes : tuple of int, default=(100,)
        Width of each hidden layer.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Activation after each hidden layer, named as in scikit-learn's MLP.
    dropout : float, default=0.0
        Dropout probability after each hidden activation.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        hidden_layer_sizes: tuple[int, ...] = (100,),
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden_layer_sizes:
            layers.append(nn.Linear(width, size))
            layers.append(_ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        self.hidden = nn.Sequential(*layers)
        self.output = nn.Linear(width, n_classes)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.output(self.hidden(X))


class WeightedTarget(NamedTuple):
    """The targets of a batch with a weight per sample.

    :class:`EMDNet` passes ``weight`` to its criterion as ``sample_weight``, and
    :class:`~skemd.callbacks.LearnedGroundDistance` weights each sample's
    features by it.
    """

    target: torch.Tensor
    weight: torch.Tensor


class SparseRows:
    """The rows of a sparse matrix, kept compressed, handed out dense.

    Stands in for the feature tensor of an :class:`InMemoryDataset` when ``X`` is
    a SciPy sparse matrix: the data stays in compressed sparse row form on its
    device, and rows become a dense tensor only when they are taken, a batch (or
    a block of shuffled batches) at a time. Taking rows gives exactly the values
    of the dense matrix, so training on sparse ``X`` equals training on
    ``X.toarray()``.

    Parameters
    ----------
    crow_indices, col_indices, values : torch.Tensor
        The compressed sparse row arrays (SciPy's ``indptr``, ``indices`` and
        ``data``); duplicate entries of a row are summed when it is taken.
    n_features : int
        Number of columns.
    """

    def __init__(
        self,
        crow_indices: torch.Tensor,
        col_indices: torch.Tensor,
        values: torch.Tensor,
        n_features: int,
    ) -> None:
        self.crow_indices = crow_indices
        self.col_indices = col_indices
        self.values = values
        self.n_features = n_features

    @classmethod
    def from_scipy(cls, matrix) -> SparseRows:
        """Rows of a SciPy sparse matrix or array (any format)."""
        matrix = matrix.tocsr()
        return cls(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.from_numpy(np.ascontiguousarray(matrix.data)),
            matrix.shape[1],
        )

    @property
    def device(self) -> torch.device:
        return self.values.device

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self), self.n_features)

    def __len__(self) -> int:
        return len(self.crow_indices) - 1

    def to(self, device) -> SparseRows:
        return SparseRows(
            self.crow_indices.to(device),
            self.col_indices.to(device),
            self.values.to(device),
            self.n_features,
        )

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            key = torch.arange(start, stop, step, device=self.device)
        elif isinstance(key, torch.Tensor):
            pass
        else:
            row = int(key)
            if not -len(self) <= row < len(self):
                raise IndexError(f"row {row} is out of range for {len(self)} rows")
            row %= len(self)
            return self.index_select(0, torch.tensor([row], device=self.device))[0]
        return self.index_select(0, key)

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        """The rows ``index``, as a dense ``(len(index), n_features)`` tensor."""
        if dim != 0:
            raise ValueError("SparseRows selects rows only (dim=0).")
        device = self.device
        index = index.to(device=device, dtype=torch.int64)
        starts = self.crow_indices.index_select(0, index)
        counts = self.crow_indices.index_select(0, index + 1) - starts
        total = int(counts.sum())
        dense = torch.zeros(
            (len(index), self.n_features), dtype=self.values.dtype, device=device
        )
        if total == 0:
            return dense
        rows = torch.repeat_interleave(
            torch.arange(len(index), device=device), counts, output_size=total
        )
        # Position of each stored value in the CSR arrays: its row's start plus
        # its rank within the row.
        first = torch.cumsum(counts, 0) - counts
        source = torch.arange(total, device=device) + torch.repeat_interleave(
            starts - first, counts, output_size=total
        )
        dense.index_put_(
            (rows, self.col_indices.index_select(0, source)),
            self.values.index_select(0, source),
            accumulate=True,
        )
        return dense


def as_rows(X) -> torch.Tensor | SparseRows:
    """Validated feature data as a tensor, or :class:`SparseRows` when sparse."""
    if scipy.sparse.issparse(X):
        return SparseRows.from_scipy(X)
    return torch.from_numpy(np.ascontiguousarray(X))


class InMemoryDataset(torch.utils.data.Dataset):
    """Tensors ``X`` and, for training, class indices ``y`` of the same length.

    With ``sample_weight``, the targets come as :class:`WeightedTarget`.
    """

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor | None = None,
        sample_weight: torch.Tensor | None = None,
    ) -> None:
        self.X = X
        self.y = y
        self.sample_weight = sample_weight

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, index):
        return self.X[index], self.targets(index)

    def targets(self, index):
        """The targets of the rows ``index`` (a slice or an index tensor)."""
        if self.y is None:
            return None
        if isinstance(index, torch.Tensor):
            target = self.y.index_select(0, index)
        else:
            target = self.y[index]
        if self.sample_weight is None:
            return target
        if isinstance(index, torch.Tensor):
            return WeightedTarget(target, self.sample_weight.index_select(0, index))
        return WeightedTarget(target, self.sample_weight[index])

    def to(self, device) -> InMemoryDataset:
        def move(tensor):
            return None if tensor is None else tensor.to(device)

        return InMemoryDataset(
            self.X.to(device), move(self.y), move(self.sample_weight)
        )


# Bytes of X gathered at once when shuffling (see TensorBatches).
_GATHER_BYTES = 1 << 20


class TensorBatches:
    """Iterate over an :class:`InMemoryDataset` in slices.

    With ``shuffle=True`` a new permutation is drawn on the data's device at the
    start of each pass, from torch's (forked, seeded) random number generator.
    With ``merge_single=True`` a last batch of one row joins the batch before it
    (batch normalisation cannot train on a single row).
    """

    def __init__(
        self,
        dataset: InMemoryDataset,
        batch_size: int,
        shuffle: bool,
        merge_single: bool = False,
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.merge_single = merge_single

    def _bounds(self) -> list[tuple[int, int]]:
        """Start and stop of each batch."""
        n_samples, size = len(self.dataset), self.batch_size
        bounds = [
            (start, min(start + size, n_samples)) for start in range(0, n_samples, size)
        ]
        if self.merge_single and len(bounds) > 1 and n_samples % size == 1:
            bounds[-2:] = [(bounds[-2][0], n_samples)]
        return bounds

    def __len__(self) -> int:
        return len(self._bounds())

    def __iter__(self):
        dataset = self.dataset
        X = dataset.X
        bounds = self._bounds()
        if not self.shuffle:
            for start, stop in bounds:
                yield X[start:stop], dataset.targets(slice(start, stop))
            return
        order = torch.randperm(len(X), device=X.device)
        # Rows are gathered in the shuffled order a block of batches at a time
        # (about _GATHER_BYTES of X), and batches are views into the block: two
        # gathers per block instead of two per batch, and at most one block of
        # extra memory.
        row_bytes = max(X[:1].nbytes, 1)
        per_block = max(_GATHER_BYTES // (row_bytes * self.batch_size), 1)
        for first in range(0, len(bounds), per_block):
            group = bounds[first : first + per_block]
            offset = group[0][0]
            index = order[offset : group[-1][1]]
            X_block = X.index_select(0, index)
            y_block = dataset.targets(index)
            for start, stop in group:
                start, stop = start - offset, stop - offset
                yield X_block[start:stop], _rows(y_block, start, stop)


def _rows(targets, start, stop):
    """Rows ``start:stop`` of a batch's targets (a tensor or WeightedTarget)."""
    if targets is None:
        return None
    if isinstance(targets, WeightedTarget):
        return WeightedTarget(targets.target[start:stop], targets.weight[start:stop])
    return targets[start:stop]


_BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_grad_computed")

try:  # torch's functional forms of Adam and SGD, which their step() calls
    from torch.optim.adam import adam as _adam_update
    from torch.optim.sgd import sgd as _sgd_update
except ImportError:  # pragma: no cover - a torch without them steps normally
    _adam_update = _sgd_update = None


def _no_step_hooks(optimizer) -> bool:
    """Whether no step hook, of this optimiser or global, is registered.

    Where torch keeps them elsewhere (an unknown version), report a hook, so that
    the optimiser's own ``step`` runs them.
    """
    from torch.optim import optimizer as optimizer_module

    registries = (
        getattr(optimizer, "_optimizer_step_pre_hooks", None),
        getattr(optimizer, "_optimizer_step_post_hooks", None),
        getattr(optimizer_module, "_global_optimizer_pre_hooks", None),
        getattr(optimizer_module, "_global_optimizer_post_hooks", None),
    )
    return all(registry is not None and not registry for registry in registries)


def _plain_fused_group(optimizer, kind):
    """The one parameter group of a plain fused ``kind`` optimiser, else None.

    Plain: exactly of type ``kind``, one group, ``fused=True``, no weight decay
    in the optimiser (EMDNet adds its own), no maximisation, capturable or
    differentiable mode, a float learning rate, no gradient scaling state and no
    step hooks.
    """
    if type(optimizer) is not kind or len(optimizer.param_groups) != 1:
        return None
    group = optimizer.param_groups[0]
    if (
        not group.get("fused")
        or any(group.get(flag) for flag in ("maximize", "capturable", "differentiable"))
        or group.get("weight_decay")
        or isinstance(group.get("lr"), torch.Tensor)
        or getattr(optimizer, "grad_scale", None) is not None
        or getattr(optimizer, "found_inf", None) is not None
        or not _no_step_hooks(optimizer)
    ):
        return None
    return group


class _FusedAdamStep:
    """The update of a fused ``torch.optim.Adam``, without its per-step overhead.

    ``Adam.step`` wraps one fused kernel in Python bookkeeping: a profiler record,
    hook dispatch, and a pass over the parameters that gathers gradients and
    state into lists. On small networks this costs more than the kernel. This
    object gathers the state lists once per epoch and calls torch's functional
    ``adam`` with ``fused=True``, the same kernel with the same arguments, so the
    parameters and the optimiser state are updated exactly as by ``step``.

    It is made only for a plain ``torch.optim.Adam`` with one parameter group,
    ``fused=True``, no weight decay in the optimiser (EMDNet adds its own), no
    AMSGrad, maximisation, capturable or differentiable mode, float
    hyper-parameters, no gradient-scaling state and no step hooks (see
    ``_plain_fused_group``). Until every parameter has its state
    (the first step) and whenever a gradient is missing or sparse, it calls the
    optimiser's ``step``. The learning rate and betas are read at every step, so
    schedulers that change them between epochs keep working.
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.group = optimizer.param_groups[0]
        self.params = list(self.group["params"])
        self.buffers = None

    @classmethod
    def for_optimizer(cls, optimizer):
        """A ``_FusedAdamStep`` for ``optimizer``, or None where it does not apply."""
        if _adam_update is None:
            return None
        group = _plain_fused_group(optimizer, torch.optim.Adam)
        if (
            group is None
            or group.get("amsgrad")
            or group.get("decoupled_weight_decay")
            or any(isinstance(beta, torch.Tensor) for beta in group.get("betas", ()))
        ):
            return None
        return cls(optimizer)

    def _state_buffers(self):
        state = self.optimizer.state
        entries = [state.get(param) for param in self.params]
        keys = ("exp_avg", "exp_avg_sq", "step")
        if not all(entry and all(key in entry for key in keys) for entry in entries):
            return None
        return tuple([entry[key] for entry in entries] for key in keys)

    def step(self):
        grads = [param.grad for param in self.params]
        if self.buffers is None:
            self.buffers = self._state_buffers()
        if self.buffers is None or any(g is None or g.is_sparse for g in grads):
            self.optimizer.step()
            return
        self._update(grads)

    def _update(self, grads):
        exp_avgs, exp_avg_sqs, steps = self.buffers
        group = self.group
        beta1, beta2 = group["betas"]
        with torch.no_grad():
            _adam_update(
                self.params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                fused=True,
                amsgrad=False,
                beta1=beta1,
                beta2=beta2,
                lr=group["lr"],
                weight_decay=0.0,
                eps=group["eps"],
                maximize=False,
            )


class _FusedSGDStep(_FusedAdamStep):
    """The update of a fused ``torch.optim.SGD``, as :class:`_FusedAdamStep` for
    Adam: torch's functional ``sgd`` with ``fused=True`` and the optimiser's own
    momentum buffers, which it updates in place once they exist (from the first
    step on). The learning rate and momentum settings are read at every step.
    """

    @classmethod
    def for_optimizer(cls, optimizer):
        """A ``_FusedSGDStep`` for ``optimizer``, or None where it does not apply."""
        if _sgd_update is None:
            return None
        group = _plain_fused_group(optimizer, torch.optim.SGD)
        return None if group is None else cls(optimizer)

    def _state_buffers(self):
        if not self.group["momentum"]:
            return ()
        state = self.optimizer.state
        buffers = [state.get(param, {}).get("momentum_buffer") for param in self.params]
        return None if any(buffer is None for buffer in buffers) else (buffers,)

    def _update(self, grads):
        group = self.group
        if bool(group["momentum"]) != bool(self.buffers):
            # Momentum switched on or off since the buffers were gathered.
            self.buffers = None
            self.optimizer.step()
            return
        with torch.no_grad():
            _sgd_update(
                self.params,
                grads,
                self.buffers[0] if self.buffers else [],
                fused=True,
                weight_decay=0.0,
                momentum=group["momentum"],
                lr=group["lr"],
                dampening=group["dampening"],
                nesterov=group["nesterov"],
                maximize=False,
            )


def _fused_step_for(optimizer):
    """A direct fused update for a plain fused Adam or SGD optimiser, else None."""
    for kind in (_FusedAdamStep, _FusedSGDStep):
        step = kind.for_optimizer(optimizer)
        if step is not None:
            return step
    return None


_PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}

# Parameter-group key of the L2 penalty that EMDNet applies to weights only.
_DECAY_KEY = "weight_decay_of_weights"


class EMDNet(NeuralNet):
    """skorch ``NeuralNet`` with in-memory batching and L2 on weights only.

    ``optimizer__weight_decay`` applies to parameters with two or more dimensions
    (weights); biases and normalisation parameters are not penalised, as in
    scikit-learn's MLP. The decay is added to the weight gradients just before
    each optimiser step (after ``on_grad_computed``, where torch's optimisers add
    theirs), and the optimiser itself runs with ``weight_decay=0``.

    Parameters
    ----------
    *args, **kwargs
        Passed to :class:`skorch.NeuralNet`.
    l2_weights : float, default=None
        The L2 penalty on weights (see above), given apart from the optimiser's
        arguments; the optimiser then keeps its own ``weight_decay`` (the
        decoupled decay of ``AdamW``, for example). ``None`` takes the penalty
        from ``optimizer__weight_decay`` and runs the optimiser without one.
    precision : {"float32", "bfloat16"}, default="float32"
        ``"bfloat16"`` runs the module's forward pass (and so its backward pass)
        under :func:`torch.autocast` with bfloat16 on the net's device; its
        floating output is cast back to float32, so the loss, the weights and the
        optimiser state stay in float32.

    Notes
    -----
    On an :class:`InMemoryDataset`, an epoch in which no callback (nor the net)
    overrides ``on_batch_begin``, ``on_batch_end`` or ``on_grad_computed``, and in
    which ``train_step``, ``train_step_single`` and ``validation_step`` are
    skorch's own, runs a lean loop: the training mode is set once per epoch, batch
    losses are kept on the device and the history gets every batch's loss and size
    at the end of the epoch, with one device synchronisation instead of one per
    batch. The epoch values (``train_loss``, ``valid_loss``, from skorch's
    ``PassthroughScoring``) are unchanged. With any such hook or override, or on
    any other dataset, skorch's own loop runs. Within the lean loop, a training
    step calls ``module_`` and ``criterion_`` directly and sets the gradients to
    None itself, unless ``infer``, ``get_loss``, ``_zero_grad_optimizer`` or an
    optimiser's ``zero_grad`` is overridden, fit parameters are passed or the
    precision is not float32. When it does, and the net's one optimiser is a
    plain fused ``torch.optim.Adam`` or ``SGD`` (what
    :class:`~skemd.EMDClassifier` uses on the CPU and CUDA) with no step hooks,
    the update calls torch's functional ``adam`` or ``sgd`` directly: the same
    kernel and result as ``step()``, without its per-step Python bookkeeping.
    """

    def __init__(self, *args, l2_weights=None, precision="float32", **kwargs):
        super().__init__(*args, **kwargs)
        self.l2_weights = l2_weights
        self.precision = precision

    def predict_proba(self, X):
        """Class probabilities: the softmax of the module's output.

        Unlike :meth:`skorch.NeuralNet.predict_proba`, which returns the raw
        output, this is a distribution over the classes for each sample, as in
        skorch's ``NeuralNetClassifier``; so skorch's ``EpochScoring`` with a
        classification scorer works on this net.
        """
        probas = [
            torch.softmax(output.detach().double(), dim=1).cpu()
            for output in self.forward_iter(X, training=False)
        ]
        return torch.cat(probas).numpy()

    def predict(self, X):
        """Index of the most probable class of each sample."""
        return self.predict_proba(X).argmax(axis=1)

    def infer(self, x, **fit_params):
        if self.precision not in _PRECISIONS:
            raise ValueError(
                f"precision must be one of {sorted(_PRECISIONS)}; got "
                f"{self.precision!r}."
            )
        autocast_dtype = _PRECISIONS[self.precision]
        if autocast_dtype is None:
            return super().infer(x, **fit_params)
        device_type = torch.device(self.device).type
        with torch.autocast(device_type=device_type, dtype=autocast_dtype):
            y_pred = super().infer(x, **fit_params)
        if isinstance(y_pred, torch.Tensor) and y_pred.dtype == autocast_dtype:
            y_pred = y_pred.float()
        return y_pred

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """Run one training or validation epoch.

        On an in-memory dataset with no per-batch listener, batches run without
        skorch's per-batch notifications and without a device synchronisation per
        batch; the history is filled at the end of the epoch (see the class
        notes). Otherwise this is skorch's :meth:`skorch.NeuralNet.run_single_epoch`.
        """
        if not self._lean_epoch_possible(iterator):
            return super().run_single_epoch(
                iterator, training, prefix, step_fn, **fit_params
            )
        step = self._lean_train_step if training else self._lean_validation_step
        self._set_training(training)
        direct_params = self._direct_call_params(fit_params) if training else None
        direct_step = None if direct_params is None else self._direct_optimizer_step()
        # Batch losses are copied into one buffer on the device: no transfer per
        # batch, and no loss tensor (nor the storage behind it) is kept.
        losses = torch.empty(
            len(iterator), dtype=torch.float64, device=iterator.dataset.X.device
        )
        sizes = []
        for Xi, yi in iterator:
            if direct_step is None:
                losses[len(sizes)] = step(Xi, yi, direct_params, **fit_params)
            else:
                losses[len(sizes)] = self._direct_train_step(
                    Xi, yi, direct_params, direct_step
                )
            sizes.append(len(Xi))
        # One transfer for the whole epoch rather than an .item() per batch.
        values = losses.tolist()
        history = self.history
        for value, size in zip(values, sizes, strict=True):
            history.new_batch()
            history.record_batch(prefix + "_loss", value)
            history.record_batch(prefix + "_batch_size", size)
        history.record(prefix + "_batch_count", len(sizes))

    def _lean_epoch_possible(self, iterator) -> bool:
        if not isinstance(iterator, TensorBatches):
            return False
        own = type(self)
        if (
            own.train_step is not NeuralNet.train_step
            or own.train_step_single is not NeuralNet.train_step_single
            or own.validation_step is not NeuralNet.validation_step
        ):
            return False
        for hook in _BATCH_HOOKS:
            if getattr(own, hook) is not getattr(NeuralNet, hook):
                return False
            for _, callback in self.callbacks_:
                if getattr(type(callback), hook, None) is not getattr(Callback, hook):
                    return False
        return True

    def _direct_call_params(self, fit_params):
        """The parameters to clear before each step when the lean step may call
        the module and the criterion directly, else ``None``.

        Direct calls skip what ``infer``, ``get_loss`` and the optimisers'
        ``zero_grad`` add per batch (conversions to tensors that the batches
        already are, dispatch on dict input, profiler records), which on small
        networks is up to a tenth of a step. They are used only when none of these
        methods is overridden (by the net or the optimiser), there are no fit
        parameters and no mixed precision; clearing is then what torch's
        ``zero_grad(set_to_none=True)`` does, setting each ``.grad`` to None.
        """
        own = type(self)
        if (
            fit_params
            or self.precision != "float32"
            or own.infer is not EMDNet.infer
            or own.get_loss is not EMDNet.get_loss
            or own._zero_grad_optimizer is not NeuralNet._zero_grad_optimizer
        ):
            return None
        params = []
        for name in self._optimizers:
            optimizer = getattr(self, name + "_")
            if type(optimizer).zero_grad is not torch.optim.Optimizer.zero_grad:
                return None
            for group in optimizer.param_groups:
                params.extend(group["params"])
        return params

    def _direct_optimizer_step(self):
        """A direct fused update (``_FusedAdamStep`` or ``_FusedSGDStep``) when
        the net has one optimiser it applies to and ``_step_optimizer`` is
        EMDNet's own, else ``None``."""
        if (
            len(self._optimizers) != 1
            or type(self)._step_optimizer is not EMDNet._step_optimizer
        ):
            return None
        return _fused_step_for(getattr(self, self._optimizers[0] + "_"))

    def _direct_train_step(self, Xi, yi, params, optimizer_step) -> torch.Tensor:
        """The lean step with direct calls and a direct fused update: what
        :meth:`_lean_train_step` does, in the same order, with no closure."""
        for param in params:
            param.grad = None
        loss = self._criterion_loss(self.module_(Xi), yi)
        loss.backward()
        self._add_weight_decay()
        optimizer_step.step()
        return loss.detach()

    def _lean_train_step(self, Xi, yi, params, **fit_params) -> torch.Tensor:
        """What skorch's ``train_step`` does, less the per-batch notification.

        ``params`` is what :meth:`_direct_call_params` returned for the epoch.
        """
        losses = []

        def closure():
            if params is None:
                self._zero_grad_optimizer(set_to_none=True)
                y_pred = self.infer(Xi, **fit_params)
                loss = self.get_loss(y_pred, yi, X=Xi, training=True)
            else:
                for param in params:
                    param.grad = None
                loss = self._criterion_loss(self.module_(Xi), yi)
            loss.backward()
            losses.append(loss)
            return loss

        self._step_optimizer(closure)
        # Like skorch's step accumulator: the loss of the first closure call.
        return losses[0].detach()

    def _lean_validation_step(self, Xi, yi, params, **fit_params) -> torch.Tensor:
        with torch.no_grad():
            y_pred = self.infer(Xi, **fit_params)
            return self.get_loss(y_pred, yi, X=Xi, training=False)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The criterion's loss; a :class:`WeightedTarget` gives sample weights."""
        if isinstance(y_true, WeightedTarget):
            return self._criterion_loss(
                y_pred,
                WeightedTarget(
                    y_true.target.to(self.device), y_true.weight.to(self.device)
                ),
            )
        return super().get_loss(y_pred, y_true, X=X, training=training)

    def _criterion_loss(self, y_pred, y_true):
        if isinstance(y_true, WeightedTarget):
            return self.criterion_(y_pred, y_true.target, sample_weight=y_true.weight)
        return self.criterion_(y_pred, y_true)

    def get_iterator(self, dataset, training=False):
        if isinstance(dataset, InMemoryDataset):
            kwargs = self.get_params_for(
                "iterator_train" if training else "iterator_valid"
            )
            batch_size = kwargs.get("batch_size", self.batch_size)
            if batch_size == -1:
                batch_size = len(dataset)
            shuffle = bool(kwargs.get("shuffle", False)) and training
            # Batch normalisation cannot train on a last batch of one row.
            module = getattr(self, "module_", None)
            merge_single = (
                training
                and isinstance(module, nn.Module)
                and any(
                    isinstance(layer, nn.modules.batchnorm._BatchNorm)
                    for layer in module.modules()
                )
            )
            return TensorBatches(dataset, batch_size, shuffle, merge_single)
        return super().get_iterator(dataset, training=training)

    def get_params_for_optimizer(self, prefix, named_parameters):
        """Optimiser arguments, with the weight decay moved out of the optimiser.

        Each parameter group runs with ``weight_decay=0`` and keeps its decay
        under the key ``"weight_decay_of_weights"``; :meth:`_step_optimizer` adds
        it to the gradients of the group's weights (parameters with two or more
        dimensions) before every step. This is torch's L2 penalty restricted to
        weights, with one parameter group, so that a fused optimiser runs one
        kernel per step rather than one per group.
        """
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if self.l2_weights is not None:
            # The optimiser's own weight_decay, if any, stays where it is.
            decay = float(self.l2_weights)
            return ([{**group, _DECAY_KEY: decay} for group in args[0]],), kwargs
        default = kwargs.pop("weight_decay", 0.0)
        groups = []
        for group in args[0]:
            decay = float(group.pop("weight_decay", default))
            groups.append({**group, "weight_decay": 0.0, _DECAY_KEY: decay})
        return (groups,), kwargs

    def _step_optimizer(self, step_fn):
        """Step the optimisers, adding the weight decay to the weight gradients.

        The decay is added inside the closure, after the gradients are computed
        and ``on_grad_computed`` has run, as torch's optimisers add theirs.
        """
        if step_fn is None:
            return super()._step_optimizer(step_fn)

        def step_with_decay():
            loss = step_fn()
            self._add_weight_decay()
            return loss

        return super()._step_optimizer(step_with_decay)

    @torch.no_grad()
    def _add_weight_decay(self):
        for name in self._optimizers:
            for group in getattr(self, name + "_").param_groups:
                decay = group.get(_DECAY_KEY, 0.0)
                if not decay:
                    continue
                pairs = [
                    (p.grad, p)
                    for p in group["params"]
                    if p.grad is not None and p.dim() >= 2
                ]
                if pairs:
                    grads, params = zip(*pairs, strict=True)
                    torch._foreach_add_(list(grads), list(params), alpha=decay)
