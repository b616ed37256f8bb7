"""skorch callbacks for training with the squared EMD loss.

:class:`LearnedGroundDistance` learns the ground distance between classes from the
network's own features while it trains, as Hou, Yu & Samaras do for classes with
no known relation. :func:`target_labels` lets skorch's ``EpochScoring`` read the
labels of batches whose targets carry sample weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import numbers
from collections.abc import Mapping

import numpy as np
import scipy.sparse
import torch
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from torch import nn

from ._data import InMemoryDataset, SparseRows
from ._distributed import all_reduce_tensors
from ._net import WeightedTarget
from .ground_distance import (
    _accumulate_class_sums,
    _distance_from_class_sums,
    _to_loss_matrix,
)
from .losses import SquaredEMDLoss

__all__ = ["LearnedGroundDistance", "target_labels"]


def target_labels(y) -> np.ndarray:
    """The class labels of a batch's targets, as a NumPy array.

    :class:`~skemd.EMDClassifier` fitted with ``sample_weight`` hands its net
    batches whose targets hold the labels and the weights together. Pass this
    function as ``target_extractor`` of skorch's ``EpochScoring`` (the default,
    ``skorch.utils.to_numpy``, expects labels alone); the scores it computes are
    unweighted. Targets without weights are returned as they are.

    Parameters
    ----------
    y : torch.Tensor, ndarray or weighted target
        The targets of one batch.

    Returns
    -------
    labels : ndarray of shape (n_samples,)
    """
    if isinstance(y, WeightedTarget):
        y = y.target
    labels = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if labels.ndim == 2 and not np.issubdtype(labels.dtype, np.floating):
        raise ValueError(
            "These targets hold a label for each member of an ensemble "
            f"(shape {labels.shape}): the ensemble's validation batches give each "
            "member rows of its own, which no single prediction can be scored "
            "against. Score validation predictions with n_estimators=1, or read "
            "the estimator's validation_scores_."
        )
    return labels


class LearnedGroundDistance(Callback):
    r"""Learn the ground distance of the squared EMD loss from the network's features.

    The "XEMD" schedule of Hou, Yu & Samaras (section 3 of the paper):

    * for the first ``warmup_epochs`` epochs the criterion is cross-entropy only;
    * at the end of every epoch from then on, the network (in evaluation mode)
      computes the features of the whole training set, the distance :math:`S`
      between classes is learned from them by
      :func:`~skemd.ground_distance.learned_distance`, and the criterion's
      weights become :math:`M = S - \mu` off the diagonal and 1 on it
      (:func:`~skemd.ground_distance.to_loss_matrix` with ``normalize=False``);
    * after the warm-up the criterion's own ``ce_weight`` and ``emd_weight`` apply
      again, so the loss is ``ce_weight * CE + emd_weight * EMD``.

    The matrix is learned from scratch every epoch; no gradient flows into it. It
    costs one extra forward pass over the training data per epoch, with the
    per-class sums kept on the training device (the features themselves are not
    stored).

    It works with any skorch ``NeuralNet`` whose criterion is a
    :class:`~skemd.losses.SquaredEMDLoss`. The targets of the training batches are
    class indices, or soft targets that weight each sample's share in each class;
    with sample weights (:class:`~skemd.EMDClassifier` given ``sample_weight``),
    each sample counts in its class's centroid by its weight.

    Data that come in chunks, one ``partial_fit`` call each, are learned from as
    a whole with ``accumulate=True``: the class sums of each distinct chunk are
    kept, and the distance is learned from the sums of every chunk seen, each
    from the features the network gave it at its latest call. Over a pass
    through the chunks the distance comes to describe all the data (rather than
    the last chunk alone); in later passes each chunk's sums are replaced as it
    comes again. A net that trains data-parallel (its module, or the
    :class:`~skemd.EMDClassifier` net with ``distributed=True``, wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel`) sums the class sums and
    counts over the ranks, so that every rank learns the same distance, that of
    all the ranks' data.

    Parameters
    ----------
    warmup_epochs : int, default=4
        Number of epochs trained with cross-entropy only before the first matrix
        is learned. With 0, the first matrix is learned from the initial network
        before the first epoch.
    distance_power : float, default=1.0
        The exponent :math:`\omega` applied to the rank-normalised distances (the
        paper's settings are 1 and 2).
    distance_offset : float, default=0.5
        The offset :math:`\mu` subtracted off the diagonal (the paper uses 0.5 with
        :math:`\omega = 1` and 0.25 with :math:`\omega = 2`). Classes closer than
        :math:`\mu` are rewarded rather than charged.
    feature_layer : str, default=None
        Where the features come from. ``None``: the input of the last
        :class:`torch.nn.Linear` that the forward pass calls, whatever the order
        in which the module declares its layers (its penultimate activations, as
        in the paper). A name (as in ``module.get_submodule``, for example
        ``"hidden"`` or ``"body.2"``): the output of that submodule, flattened per
        sample. If that layer runs more than once in a forward pass, its last call
        is used.
    accumulate : bool, default=False
        Learn from every chunk of training data seen rather than from the
        current training data alone (see above). A chunk is the data of one
        call to ``fit`` or ``partial_fit``, told apart from others by a digest
        of its features, targets and weights, so a chunk that comes again
        (shuffled chunks included) replaces its own sums. Each chunk keeps
        ``n_classes * n_features`` numbers on the training device; for a
        stream that never repeats, :meth:`forget_chunks` starts afresh.

    Attributes
    ----------
    distance_history_ : list of ndarray of shape (n_classes, n_classes)
        The learned distance :math:`S` (float64, zero on the diagonal) of every
        update, oldest first; the last one is the current distance.
    chunk_sums_ : dict
        With ``accumulate=True``: for each chunk seen, by digest, its per-class
        sums of the normalised features and its class counts (tensors).

    Notes
    -----
    Forward hooks are attached to the feature layer only for the duration of the
    extra forward pass, so none remains on the module (and the fitted net pickles)
    even if that pass fails. The extra pass calls ``net.infer`` on each batch of
    ``net.get_iterator(dataset_train, training=False)``; extra ``fit`` keyword
    arguments are not passed to it.

    References
    ----------
    .. [1] L. Hou, C.-P. Yu and D. Samaras, "Squared Earth Mover's Distance-based
       Loss for Training Deep Neural Networks", arXiv:1611.05916, 2016.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skorch import NeuralNet
    >>> from skemd.callbacks import LearnedGroundDistance
    >>> from skemd.losses import SquaredEMDLoss
    >>> X = np.random.default_rng(0).normal(size=(60, 4)).astype("float32")
    >>> y = (X[:, 0] > 0).astype("int64") + (X[:, 0] > 1)
    >>> module = torch.nn.Sequential(
    ...     torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    ... )
    >>> callback = LearnedGroundDistance(warmup_epochs=2)
    >>> net = NeuralNet(
    ...     module,
    ...     criterion=SquaredEMDLoss,
    ...     criterion__ce_weight=1.0,
    ...     max_epochs=3,
    ...     train_split=None,
    ...     verbose=0,
    ...     callbacks=[("ground_distance", callback)],
    ... )
    >>> net = net.fit(X, y)
    >>> len(callback.distance_history_)
    2
    >>> callback.distance_history_[-1].shape
    (3, 3)
    """

    def __init__(
        self,
        warmup_epochs: int = 4,
        distance_power: float = 1.0,
        distance_offset: float = 0.5,
        feature_layer: str | None = None,
        accumulate: bool = False,
    ) -> None:
        self.warmup_epochs = warmup_epochs
        self.distance_power = distance_power
        self.distance_offset = distance_offset
        self.feature_layer = feature_layer
        self.accumulate = accumulate

    def initialize(self) -> LearnedGroundDistance:
        """Forget the distances and weights of an earlier training run.

        Returns
        -------
        self : LearnedGroundDistance
            The callback, reset.
        """
        self.distance_history_: list[np.ndarray] = []
        self.ce_weight_: float | None = None
        self.emd_weight_: float | None = None
        self.in_warmup_ = False
        self.first_update_pending_ = False
        self.forget_chunks()
        return self

    def forget_chunks(self) -> LearnedGroundDistance:
        """Forget the class sums of the chunks seen (``accumulate=True``).

        The next distance is learned from the chunks that come from now on.

        Returns
        -------
        self : LearnedGroundDistance
            The callback.
        """
        self.chunk_sums_: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.chunk_: str | None = None
        return self

    # skorch hooks ---------------------------------------------------------- #

    def on_train_begin(self, net, X=None, y=None, **kwargs) -> None:
        self._check_params()
        if self.accumulate:
            self.chunk_ = _digest(X, y)
        criterion = getattr(net, "criterion_", None)
        if not isinstance(criterion, SquaredEMDLoss):
            raise TypeError(
                "LearnedGroundDistance needs a net whose criterion is "
                "skemd.losses.SquaredEMDLoss; got "
                f"{type(criterion).__name__}."
            )
        self._feature_modules(net)
        if not self.in_warmup_:
            # After an interrupted warm-up the criterion still holds the warm-up
            # weights; the configured ones were remembered then.
            self.ce_weight_ = criterion.ce_weight
            self.emd_weight_ = criterion.emd_weight
        if len(net.history) < self.warmup_epochs:
            criterion.ce_weight = 1.0
            criterion.emd_weight = 0.0
            self.in_warmup_ = True
        elif self.distance_history_ and criterion.ground_distance is None:
            # A new criterion (set_params(criterion__...) makes one) lost the
            # matrix: it trains on with the last one learned.
            self._assign(net, torch.as_tensor(self.distance_history_[-1]), None)
        elif not self.distance_history_:
            # Past the warm-up with no matrix yet: learn one from the current
            # network before the first epoch, when the training data are at hand.
            self.first_update_pending_ = True

    def on_epoch_begin(self, net, dataset_train=None, **kwargs) -> None:
        if self.first_update_pending_:
            self.first_update_pending_ = False
            self._update(net, dataset_train)
        # What this epoch trains: cross-entropy alone, or a learned matrix.
        net.history.record("warmup", bool(self.in_warmup_))
        if not self.in_warmup_ and self.distance_history_:
            net.history.record("ground_distance", self.distance_history_[-1].tolist())

    def on_epoch_end(self, net, dataset_train=None, **kwargs) -> None:
        updated = len(net.history) >= self.warmup_epochs
        if updated:
            self._update(net, dataset_train)
        net.history.record("ground_distance_updated", updated)

    def on_train_end(self, net, X=None, y=None, **kwargs) -> None:
        # Training may stop during the warm-up: leave the criterion as configured.
        self._restore_weights(net)
        self.first_update_pending_ = False

    # helpers --------------------------------------------------------------- #

    def _check_params(self) -> None:
        warmup = self.warmup_epochs
        if (
            not isinstance(warmup, numbers.Integral)
            or isinstance(warmup, bool)
            or warmup < 0
        ):
            raise ValueError(
                f"warmup_epochs must be a non-negative integer; got {warmup!r}."
            )
        power = self.distance_power
        if not isinstance(power, numbers.Real) or not np.isfinite(power) or power <= 0:
            raise ValueError(
                f"distance_power must be a positive number; got {power!r}."
            )
        offset = self.distance_offset
        if not isinstance(offset, numbers.Real) or not np.isfinite(offset):
            raise ValueError(
                f"distance_offset must be a finite number; got {offset!r}."
            )
        if self.feature_layer is not None and not isinstance(self.feature_layer, str):
            raise ValueError(
                "feature_layer must be None or the name of a submodule; got "
                f"{self.feature_layer!r}."
            )
        if not isinstance(self.accumulate, (bool, np.bool_)):
            raise ValueError(
                f"accumulate must be True or False; got {self.accumulate!r}."
            )

    def _feature_modules(self, net) -> list[nn.Module]:
        """The submodules whose input (default: every Linear, the last called
        counts) or output (the named one) gives the features."""
        module = net.module_
        if isinstance(module, torch.nn.parallel.DistributedDataParallel):
            # Named as in the user's module, not under the wrapper's "module.".
            module = module.module
        if self.feature_layer is None:
            linear = [m for m in module.modules() if isinstance(m, nn.Linear)]
            if not linear:
                raise ValueError(
                    f"The module {type(module).__name__} has no torch.nn.Linear "
                    "layer whose input could serve as the features. Pass "
                    "feature_layer='name' to LearnedGroundDistance, the name of "
                    "the submodule whose output are the features (one of: "
                    f"{_submodule_names(module)})."
                )
            return linear
        try:
            return [module.get_submodule(self.feature_layer)]
        except AttributeError:
            raise ValueError(
                f"The module {type(module).__name__} has no submodule named "
                f"{self.feature_layer!r}. Pass feature_layer= one of: "
                f"{_submodule_names(module)}, or None for the input of the last "
                "torch.nn.Linear layer."
            ) from None

    def _class_sums(self, net, dataset_train) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-class sums of normalised features and class counts, on the device."""
        if dataset_train is None:
            raise ValueError(
                "LearnedGroundDistance needs the training data to learn the "
                "ground distance; the net passed none to the callback."
            )
        layers = self._feature_modules(net)
        sums = counts = None
        with (
            self._capturing(layers) as captured,
            _evaluating(net.module_),
            torch.no_grad(),
        ):
            for batch in net.get_iterator(dataset_train, training=False):
                features, yi, weight, output = _batch_features(
                    net, batch, captured, layers
                )
                if sums is None:
                    n_classes = self._n_classes(net, output, yi)
                if weight is not None:
                    if weight.dim() > 1:
                        # An ensemble's weights per member: each sample
                        # counts by its mean weight over the members.
                        weight = weight.float().mean(dim=1)
                    yi = _weighted_shares(yi, weight, n_classes)
                sums, counts = _accumulate_class_sums(
                    features, yi, n_classes, sums, counts
                )
        if sums is None:
            raise ValueError("The training data are empty.")
        return sums, counts

    @contextlib.contextmanager
    def _capturing(self, layers):
        """Hooks that collect the feature layers' input (default) or output."""
        captured: list[torch.Tensor] = []
        if self.feature_layer is None:

            def capture(module, args, kwargs):
                captured.append(args[0] if args else next(iter(kwargs.values())))

            handles = [
                layer.register_forward_pre_hook(capture, with_kwargs=True)
                for layer in layers
            ]
        else:

            def capture(module, args, output):
                captured.append(output)

            handles = [layer.register_forward_hook(capture) for layer in layers]
        try:
            yield captured
        finally:
            for handle in handles:
                handle.remove()

    @staticmethod
    def _n_classes(net, output, target) -> int:
        """Number of classes: the width of the network's output."""
        if isinstance(output, torch.Tensor) and output.dim() == 2:
            return int(output.shape[1])
        one_per_sample = target.dim() == 1 or (
            target.dim() == 2 and target.dtype.is_floating_point
        )
        if isinstance(output, torch.Tensor) and output.dim() == 3 and one_per_sample:
            # Several sets of logits for one class per sample: an ensemble's
            # members, (n_samples, n_classes, n_members).
            return int(output.shape[1])
        if isinstance(output, torch.Tensor) and output.dim() > 2:
            raise ValueError(
                f"The module gives outputs of shape {tuple(output.shape)}: a class "
                "per position. LearnedGroundDistance learns from one class per "
                "sample, outputs of shape (n_samples, n_classes); train a "
                "per-position model with a fixed ground_distance instead."
            )
        current = net.criterion_.ground_distance
        if current is not None:
            return int(current.shape[0])
        raise ValueError(
            "The number of classes is unknown: the module does not return logits of "
            "shape (n_samples, n_classes). Give the SquaredEMDLoss criterion an "
            "initial ground_distance of shape (n_classes, n_classes)."
        )

    def _update(self, net, dataset_train) -> None:
        """Learn the distance from the current network and hand it to the loss."""
        sums, counts = self._class_sums(net, dataset_train)
        if self.accumulate:
            sums, counts = self._over_chunks(sums, counts)
        # Trained data-parallel: the sums of the rows of every rank.
        sums, counts = all_reduce_tensors(net, sums, counts)
        distance = _distance_from_class_sums(sums, counts, float(self.distance_power))
        self._assign(net, distance, sums.dtype)
        self.distance_history_.append(distance.detach().cpu().double().numpy())
        self._restore_weights(net)

    def _over_chunks(self, sums, counts):
        """The sums of this chunk, kept under its digest, plus every other's."""
        self.chunk_sums_[self.chunk_] = (sums, counts)
        sums, counts = sums.clone(), counts.clone()
        for key, (other_sums, other_counts) in self.chunk_sums_.items():
            if key != self.chunk_:
                sums += other_sums.to(sums)
                counts += other_counts.to(counts)
        return sums, counts

    def _assign(self, net, distance: torch.Tensor, dtype) -> None:
        """Give the criterion the loss matrix of a learned distance."""
        current = net.criterion_.ground_distance
        if current is not None:
            device, dtype = current.device, dtype or current.dtype
        elif net.device is not None:
            device = torch.device(net.device)
        else:
            device = distance.device
        loss_matrix = _to_loss_matrix(
            distance, offset=float(self.distance_offset), normalize=False
        )
        net.criterion_.ground_distance = loss_matrix.to(
            device=device, dtype=dtype or torch.get_default_dtype()
        )

    def _restore_weights(self, net) -> None:
        if self.in_warmup_:
            net.criterion_.ce_weight = self.ce_weight_
            net.criterion_.emd_weight = self.emd_weight_
            self.in_warmup_ = False


@contextlib.contextmanager
def _evaluating(module: nn.Module):
    """The module in evaluation mode; each submodule's mode restored after."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for submodule, training in modes:
            submodule.training = training


def _batch_features(net, batch, captured, layers):
    """A batch's features (the last captured), targets, weights and output."""
    Xi, yi = unpack_data(batch)
    weight = None
    if isinstance(yi, WeightedTarget):
        yi, weight = yi
    if yi is None:
        raise ValueError(
            "LearnedGroundDistance needs the training targets; the batches hold none."
        )
    captured.clear()
    output = net.infer(Xi)
    if not captured:
        raise ValueError(
            f"The feature layer {type(layers[-1]).__name__} did not run in the "
            "forward pass. Pass feature_layer= the name of a submodule the "
            "network uses."
        )
    features = captured[-1]
    if not isinstance(features, torch.Tensor):
        raise ValueError(
            "The feature layer must output a tensor; got "
            f"{type(features).__name__}. Pass feature_layer= another submodule."
        )
    yi = torch.as_tensor(yi, device=features.device)
    if features.dim() == 0 or yi.shape[0] != features.shape[0]:
        raise ValueError(
            f"The feature layer gave output of shape {tuple(features.shape)} for "
            f"a batch of {yi.shape[0]} samples. Pass feature_layer= a submodule "
            "with one output row per sample."
        )
    return features, yi, weight, output


def _submodule_names(module: nn.Module, limit: int = 12) -> str:
    names = [name for name, _ in module.named_modules() if name]
    shown = ", ".join(repr(name) for name in names[:limit])
    if len(names) > limit:
        shown += ", ..."
    return shown or "none"


def _weighted_shares(y: torch.Tensor, weight: torch.Tensor, n_classes: int):
    """Soft targets that give each sample its weight: its share of each class."""
    weight = torch.as_tensor(weight, device=y.device, dtype=torch.float32)
    if y.dim() == 2 and y.dtype.is_floating_point:
        return y * weight.to(y.dtype)[:, None]
    shares = weight.new_zeros((y.shape[0], n_classes))
    return shares.scatter_(1, y.long()[:, None], weight[:, None])


def _digest(*parts) -> str:
    """A digest of training data: arrays, tensors, sparse matrices, datasets."""
    hasher = hashlib.blake2b(digest_size=16)
    for part in parts:
        _feed(hasher, part)
    return hasher.hexdigest()


def _feed(hasher, data) -> None:
    if data is None:
        hasher.update(b"None")
        return
    if isinstance(data, InMemoryDataset):
        data = (data.X, data.y, data.sample_weight, data.member_rows)
    elif isinstance(data, SparseRows):
        data = (data.crow_indices, data.col_indices, data.values, data.n_features)
    elif scipy.sparse.issparse(data):
        data = data.tocsr()
        data = (data.indptr, data.indices, data.data, data.shape)
    if isinstance(data, Mapping):
        for key in sorted(data, key=str):
            _feed(hasher, str(key))
            _feed(hasher, data[key])
        return
    if isinstance(data, (list, tuple)):
        hasher.update(f"{type(data).__name__}{len(data)}".encode())
        for item in data:
            _feed(hasher, item)
        return
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu()
        if data.dtype in (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2):
            data = data.float()
        data = data.numpy()
    array = np.asarray(data)
    hasher.update(f"{array.dtype.str}{array.shape}".encode())
    if array.dtype.kind == "O":
        hasher.update(repr(array.tolist()).encode())
    else:
        hasher.update(np.ascontiguousarray(array))
