"""The skorch net the estimator trains.

:class:`EMDNet` is skorch's ``NeuralNet`` with three additions, each through a
public extension point of skorch:

- ``get_iterator`` serves an in-memory dataset as slices of tensors that
  already sit on the training device (:class:`~skemd._data.TensorBatches`),
  much faster than collating samples one by one with a ``DataLoader``;
- ``train_step_single`` adds the L2 penalty to the gradients of the weights
  only (not biases), as scikit-learn's MLP does;
- ``infer`` can run the forward pass in bfloat16 mixed precision.

Training itself is skorch's loop: every callback hook runs as skorch documents.
"""

from __future__ import annotations

import torch
from skorch import NeuralNet
from skorch.dataset import unpack_data
from torch import nn

from ._data import InMemoryDataset, MemberBatches, TensorBatches, WeightedTarget

_PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}

# Parameter-group key of the L2 penalty that EMDNet applies to weights only.
DECAY_KEY = "weight_decay_of_weights"


class EMDNet(NeuralNet):
    """skorch ``NeuralNet`` with in-memory batching and L2 on weights only.

    ``optimizer__weight_decay`` applies to parameters with two or more dimensions
    (weights); biases and normalisation parameters are not penalised, as in
    scikit-learn's MLP. The decay is added to the weight gradients right after
    the backward pass of each training step, and the optimiser itself runs with
    ``weight_decay=0``.

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
    generator : torch.Generator, default=None
        Where the shuffling of in-memory training data is drawn from (a generator
        on the training device); ``None`` takes torch's global random state.
    """

    def __init__(
        self, *args, l2_weights=None, precision="float32", generator=None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.l2_weights = l2_weights
        self.precision = precision
        self.generator = generator

    def predict_proba(self, X):
        """Class probabilities: the softmax of the module's output.

        Unlike :meth:`skorch.NeuralNet.predict_proba`, which returns the raw
        output, this is a distribution over the classes for each sample, as in
        skorch's ``NeuralNetClassifier``; so skorch's ``EpochScoring`` with a
        classification scorer works on this net.
        """
        probas = []
        for output in self.forward_iter(X, training=False):
            proba = torch.softmax(output.detach().double(), dim=1)
            # An ensemble's members (last dimension) are averaged.
            probas.append((proba if proba.dim() == 2 else proba.mean(dim=2)).cpu())
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

    def train_step_single(self, batch, **fit_params):
        """skorch's training step, then the L2 penalty on the weight gradients.

        The module is put in training mode only when it is not in it (a
        callback may have evaluated it since the last step): setting the mode of
        every submodule at every step costs a tenth of a small network's step.
        """
        for part in (self.module_, self.criterion_):
            if isinstance(part, nn.Module) and not part.training:
                part.train()
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        self._add_weight_decay()
        return {"loss": loss, "y_pred": y_pred}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The criterion's loss; a :class:`WeightedTarget` gives sample weights.

        Outputs of shape ``(n_samples, n_classes, n_members)`` with one target
        per sample are an ensemble's: every member is charged for the same
        target, the weights (one per sample, or per sample and member) weighing
        each member's loss on each sample, and the loss is the weighted mean
        over samples and members.
        """
        weight = None
        if isinstance(y_true, WeightedTarget):
            y_true, weight = y_true
            weight = weight.to(self.device)
        y_true = y_true.to(self.device) if isinstance(y_true, torch.Tensor) else y_true
        if (
            isinstance(y_pred, torch.Tensor)
            and y_pred.dim() == 3
            and isinstance(y_true, torch.Tensor)
            and y_true.dim() == 1
        ):
            y_true = y_true[:, None].expand(-1, y_pred.shape[2])
            if weight is not None and weight.dim() == 1:
                weight = weight[:, None].expand_as(y_true)
        if weight is None:
            return super().get_loss(y_pred, y_true, X=X, training=training)
        return self.criterion_(y_pred, y_true, sample_weight=weight)

    def get_iterator(self, dataset, training=False):
        if not isinstance(dataset, InMemoryDataset):
            return super().get_iterator(dataset, training=training)
        kwargs = self.get_params_for("iterator_train" if training else "iterator_valid")
        batch_size = kwargs.get("batch_size", self.batch_size)
        if batch_size == -1:
            batch_size = len(dataset)
        shuffle = bool(kwargs.get("shuffle", False)) and training
        if dataset.member_rows is not None and (training or dataset.by_member):
            return MemberBatches(
                dataset, batch_size, shuffle, self.generator if shuffle else None
            )
        # Batch normalisation cannot train on a last batch of one row.
        module = getattr(self, "module_", None)
        merge_single = (
            training
            and isinstance(module, nn.Module)
            and any(isinstance(layer, _BATCH_NORMS) for layer in module.modules())
        )
        return TensorBatches(
            dataset,
            batch_size,
            shuffle,
            merge_single,
            generator=self.generator if shuffle else None,
        )

    def get_params_for_optimizer(self, prefix, named_parameters):
        """Optimiser arguments, with the weight decay moved out of the optimiser.

        Each parameter group runs with ``weight_decay=0`` and keeps its decay
        under the key ``"weight_decay_of_weights"``, which the training step adds
        to the gradients of the group's weights (parameters with two or more
        dimensions): torch's L2 penalty restricted to weights, with one parameter
        group, so that a fused optimiser runs one kernel per step rather than one
        per group.
        """
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if self.l2_weights is not None:
            # The optimiser's own weight_decay, if any, stays where it is.
            decay = float(self.l2_weights)
            return ([{**group, DECAY_KEY: decay} for group in args[0]],), kwargs
        default = kwargs.pop("weight_decay", 0.0)
        groups = []
        for group in args[0]:
            decay = float(group.pop("weight_decay", default))
            groups.append({**group, "weight_decay": 0.0, DECAY_KEY: decay})
        return (groups,), kwargs

    def set_weight_decay(self, decay: float) -> None:
        """Set the L2 penalty on weights of every parameter group."""
        for group in self.optimizer_.param_groups:
            group[DECAY_KEY] = decay

    @torch.no_grad()
    def _add_weight_decay(self):
        for group in self.optimizer_.param_groups:
            decay = group.get(DECAY_KEY, 0.0)
            if not decay:
                continue
            for param in group["params"]:
                if param.grad is not None and param.dim() >= 2:
                    param.grad.add_(param, alpha=decay)


_BATCH_NORMS = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.LazyBatchNorm1d,
    nn.LazyBatchNorm2d,
    nn.LazyBatchNorm3d,
    nn.SyncBatchNorm,
)
