"""Data-parallel training on a ``torch.distributed`` process group.

skemd launches no processes: with ``distributed=True`` the estimator trains on a
process group that the user started (``torchrun``, ``accelerate launch``, Ray
Train, SLURM). Each rank fits its own shard of the rows, and the ranks stay in
step as follows:

- :class:`Ranks` carries the preparation of a fit: the classes, the scale of the
  sample weights, the L2 penalty's sample total and the ensemble's column
  statistics are agreed by all-gathering small Python objects, and an error on
  one rank is raised on every rank rather than leaving the others waiting;
- :class:`DataParallelNet` runs the training steps of the skorch net through
  :class:`~torch.nn.parallel.DistributedDataParallel`, so that the weights start
  equal and every step averages the gradients of all ranks. Each step's loss is
  the weighted mean over the rows of every rank's batch (the weight total is
  all-reduced while the forward pass runs), and a rank with fewer batches than
  another runs batches of weight zero, so that every rank takes the same number
  of steps;
- :class:`EpochAcrossRanks` and :func:`sum_over_ranks` make the epoch's losses,
  validation scores and learned-distance class sums those of all ranks together,
  so that every stopping decision is taken alike on every rank.

Outside a fit (``predict``, pickling) the net holds the plain module.
"""

from __future__ import annotations

import contextlib
import copy
import os

import numpy as np
import torch
import torch.distributed as dist
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from torch.nn.parallel import DistributedDataParallel

from ._data import MemberBatches, TensorBatches, WeightedTarget
from ._net import EMDNet

_NO_GROUP = (
    "distributed=True trains on a torch.distributed process group, and none is "
    "initialised in this process. Start one process per device with torchrun "
    "(or accelerate launch, Ray Train's TorchTrainer, srun) and call "
    "torch.distributed.init_process_group() before fit; each process then "
    "fits its own shard of the rows. See the user guide's Scaling out page."
)


def initialised() -> bool:
    """Whether this process belongs to an initialised default process group."""
    return dist.is_available() and dist.is_initialized()


def _collective_device(group) -> torch.device:
    """Where the tensors of a collective must be: the GPU for NCCL."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class Ranks:
    """The processes that take part in a fit: one, or the ranks of a group.

    With ``group=None`` (a fit that is not distributed) every method returns its
    argument unchanged, so that the estimator runs the same code either way.

    Parameters
    ----------
    group : torch.distributed.ProcessGroup, default=None
        The process group of a data-parallel fit.
    """

    def __init__(self, group=None) -> None:
        self.group = group
        self._broken = False

    @classmethod
    def of_fit(cls, distributed: bool) -> Ranks:
        """The ranks of a fit with ``distributed``; an error without a group."""
        if not distributed:
            return cls()
        if not initialised():
            raise RuntimeError(_NO_GROUP)
        return cls(dist.group.WORLD)

    @property
    def distributed(self) -> bool:
        return self.group is not None

    @property
    def rank(self) -> int:
        return dist.get_rank(self.group) if self.distributed else 0

    @property
    def size(self) -> int:
        return dist.get_world_size(self.group) if self.distributed else 1

    def _exchange(self, error, payload) -> list:
        entries = [None] * self.size
        dist.all_gather_object(entries, (error, payload), group=self.group)
        return entries

    def gather(self, payload) -> list:
        """``payload`` of every rank, in rank order.

        Each gather is also a check that every rank came this far: where a rank
        failed (see :meth:`together`), the others raise a RuntimeError that
        names it.
        """
        if not self.distributed:
            return [payload]
        entries = self._exchange(None, payload)
        for rank, (error, _) in enumerate(entries):
            if error is not None:
                self._broken = True
                raise RuntimeError(
                    f"The fit failed on rank {rank} of {self.size}: {error}"
                )
        return [value for _, value in entries]

    def sum(self, value):
        """The sum of ``value`` (a number or an array) over the ranks."""
        if not self.distributed:
            return value
        total = np.sum(np.asarray(self.gather(value), dtype=np.float64), axis=0)
        return float(total) if np.ndim(total) == 0 else total

    def max(self, value: float) -> float:
        """The largest ``value`` of any rank."""
        return max(self.gather(value)) if self.distributed else value

    def pooled_labels(self, y, given, categories, feature_shape):
        """The labels that decide the classes: every rank's labels together.

        A class present on one rank only is a class everywhere. The class
        order given (``classes``, or an ordered Categorical's categories) and
        the features' shape must be the same on every rank.
        """
        if not self.distributed:
            return y
        mine = {
            "labels": np.unique(y),
            "classes": None if given is None else np.asarray(given).tolist(),
            "categories": None if categories is None else list(categories),
            "features": tuple(feature_shape),
        }
        everyone = self.gather(mine)
        for key, what in (
            ("features", "the shape of the features"),
            ("classes", "the classes given"),
            ("categories", "the categories of y"),
        ):
            values = [entry[key] for entry in everyone]
            if any(value != values[0] for value in values):
                raise ValueError(
                    f"Every rank of a distributed fit must have {what}; by "
                    f"rank, they are {values}."
                )
        return np.unique(np.concatenate([entry["labels"] for entry in everyone]))

    @contextlib.contextmanager
    def together(self):
        """Run a block of preparation on every rank, or fail on every rank.

        An error raised in the block is passed to the others at the next
        gather they take part in (the one they wait in), where they raise it
        too, so that no rank is left waiting for a collective the failed one
        never reaches. The block ends with a gather: past it, every rank has
        finished the block without error.
        """
        if not self.distributed:
            yield self
            return
        try:
            yield self
        except BaseException as error:
            if not self._broken:
                self._broken = True
                self._exchange(f"{type(error).__name__}: {error}", None)
            raise
        self.gather(None)

    def device(self, device: torch.device) -> torch.device:
        """The device of this rank: its own GPU where the device is CUDA."""
        if not self.distributed:
            return device
        backend = dist.get_backend(self.group)
        if device.type != "cuda":
            if backend == "nccl":
                raise ValueError(
                    "The process group uses NCCL, which runs on GPUs only, but "
                    f"this fit trains on {device.type!r}. Initialise the group "
                    "with backend='gloo' to train on the CPU."
                )
            return device
        if device.index is not None:
            return device
        # torchrun and accelerate name each process's GPU in LOCAL_RANK.
        local = os.environ.get("LOCAL_RANK")
        index = int(local) if local is not None else torch.cuda.current_device()
        return torch.device("cuda", index)


def process_group(net):
    """The process group over which ``net`` trains data-parallel, or None.

    That of a :class:`DataParallelNet` in training, or of a module that is
    itself wrapped in ``DistributedDataParallel`` (as skorch's
    ``AccelerateMixin`` wraps it).
    """
    replicas = getattr(net, "replicas_", None)
    if replicas is not None:
        return replicas.process_group
    module = getattr(net, "module_", None)
    if isinstance(module, DistributedDataParallel):
        return module.process_group
    return None


def sum_over_ranks(net, values):
    """``values`` (numbers) summed over the ranks of ``net``'s process group.

    Returns ``values`` unchanged when the net does not train data-parallel.
    """
    group = process_group(net)
    if group is None:
        return values
    tensor = torch.as_tensor(
        np.asarray(values, dtype=np.float64), device=_collective_device(group)
    )
    dist.all_reduce(tensor, group=group)
    return tensor.cpu().numpy()


def all_reduce_tensors(net, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors summed over the ranks of ``net``'s process group.

    Returns the tensors themselves when the net does not train data-parallel.
    """
    group = process_group(net)
    if group is None:
        return tensors
    device = _collective_device(group)
    summed = []
    for tensor in tensors:
        moved = tensor.to(device, copy=True)
        dist.all_reduce(moved, group=group)
        summed.append(moved.to(tensor.device))
    return tuple(summed)


class _Replicas:
    """Holds the DDP wrapper where skorch does not register it as a module."""

    def __init__(self, module: DistributedDataParallel) -> None:
        self.module = module

    @property
    def process_group(self):
        return self.module.process_group


class DataParallelNet(EMDNet):
    """:class:`~skemd._net.EMDNet` whose training steps run data-parallel.

    Inside :meth:`data_parallel` the training forward pass runs through
    ``DistributedDataParallel`` (which averages the gradients over the ranks in
    the backward pass); everything else (validation, the learned distance's
    extra pass, ``predict``) calls the plain ``module_`` on the local rows.
    Outside it, the net trains as an ``EMDNet``.
    """

    replicas_ = None

    @contextlib.contextmanager
    def data_parallel(self, device: torch.device):
        """Train through DDP in the block, then drop the wrapper.

        Wrapping copies rank 0's weights and buffers to every rank. At the
        end, buffers that the ranks updated each on their own data (the
        running statistics of batch normalisation) are copied from rank 0
        again, so that every rank predicts alike.
        """
        wrapper = DistributedDataParallel(
            self.module_,
            device_ids=[device.index] if device.type == "cuda" else None,
        )
        self.replicas_ = _Replicas(wrapper)
        try:
            yield self
            group = wrapper.process_group
            source = dist.get_global_rank(group, 0)
            for buffer in self.module_.buffers():
                dist.broadcast(buffer, source, group=group)
        finally:
            self.replicas_ = None

    @contextlib.contextmanager
    def _forward_through(self, wrapper):
        # skorch's infer calls self.module_: for a training step it must call
        # the DDP wrapper, whose backward pass averages the gradients.
        module = self.module_
        self.module_ = wrapper
        try:
            yield
        finally:
            self.module_ = module

    def train_step_single(self, batch, **fit_params):
        """One step on this rank's batch, the gradient that of every rank's.

        The batch's loss is multiplied by its weight total and the gradients
        divided by the total over the ranks (all-reduced while the forward
        pass runs): after DDP's averaging, the gradient of the weighted mean
        loss over the rows of all the ranks' batches. The step reports this
        rank's mean loss, which :class:`EpochAcrossRanks` pools.
        """
        if self.replicas_ is None:
            return super().train_step_single(batch, **fit_params)
        for part in (self.module_, self.criterion_):
            if isinstance(part, torch.nn.Module) and not part.training:
                part.train()
        group = self.replicas_.process_group
        Xi, yi = unpack_data(batch)
        local = _weight_total(yi)
        totals = torch.tensor([local], dtype=torch.float64)
        totals = totals.to(_collective_device(group))
        pending = dist.all_reduce(totals, group=group, async_op=True)
        with self._forward_through(self.replicas_.module):
            y_pred = self.infer(Xi, **fit_params)
        if local > 0:
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
            (loss * local).backward()
        else:
            # A batch of weight zero still takes part in DDP's all-reduce.
            loss = torch.zeros((), device=y_pred.device)
            (y_pred.sum() * 0.0).backward()
        pending.wait()
        factor = dist.get_world_size(group) / max(float(totals.item()), 1e-300)
        with torch.no_grad():
            for _, param in self.get_all_learnable_params():
                if param.grad is not None:
                    param.grad.mul_(factor)
        self._add_weight_decay()
        return {"loss": loss.detach(), "y_pred": y_pred}

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """skorch's epoch, then steps of weight zero up to the ranks' most.

        The ranks agree on the largest number of training batches before the
        epoch; a rank with fewer runs the rest as batches of weight zero (not
        recorded in the history), so that each rank takes part in every step.
        """
        if self.replicas_ is None or not training or iterator is None:
            return super().run_single_epoch(
                iterator, training, prefix, step_fn, **fit_params
            )
        group = self.replicas_.process_group
        count = torch.tensor([len(iterator)], device=_collective_device(group))
        dist.all_reduce(count, op=dist.ReduceOp.MAX, group=group)
        super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        missing = int(count.item()) - len(iterator)
        if missing > 0:
            padding = _zero_weight_batch(iterator)
            for _ in range(missing):
                step_fn(padding, **fit_params)


def _weight_total(target) -> float:
    """The weight of a batch's rows: their weights' sum, else their number."""
    if isinstance(target, WeightedTarget):
        return float(target.weight.double().sum())
    return float(len(target))


def _zero_weight_batch(iterator):
    """The first batch of ``iterator`` in data order, every weight zero."""
    if not isinstance(iterator, (TensorBatches, MemberBatches)):
        raise TypeError(
            "Data-parallel training serves in-memory data only; got batches "
            f"from a {type(iterator).__name__}."
        )
    in_order = copy.copy(iterator)
    # In data order, so that no random number is drawn for it.
    in_order.shuffle = False
    X, target = next(iter(in_order))
    if isinstance(target, WeightedTarget):
        return X, WeightedTarget(target.target, torch.zeros_like(target.weight))
    weight = torch.zeros(len(target), device=target.device)
    return X, WeightedTarget(target, weight)


class EpochAcrossRanks(Callback):
    """Make an epoch's losses those of all the ranks' data together.

    skorch's own scoring averages the batch losses of this rank; this callback,
    run before any that reads them, replaces ``train_loss`` and ``valid_loss``
    (and their ``_best`` marks) with the averages over every rank's batches,
    weighted by the batches' sizes as skorch weighs them, and records the rows
    trained on by all ranks as ``train_samples``. It does nothing when the net
    does not train data-parallel.
    """

    def initialize(self) -> EpochAcrossRanks:
        self.best_: dict[str, float] = {}
        return self

    def on_epoch_end(self, net, **kwargs) -> None:
        if process_group(net) is None:
            return
        epoch = net.history[-1]
        values = []
        for prefix in ("train", "valid"):
            loss = epoch.get(f"{prefix}_loss")
            rows = sum(
                batch.get(f"{prefix}_batch_size", 0) for batch in epoch["batches"]
            )
            values += [0.0, 0.0] if loss is None else [loss * rows, float(rows)]
        totals = sum_over_ranks(net, values)
        net.history.record("train_samples", int(totals[1]))
        for index, prefix in enumerate(("train", "valid")):
            key = f"{prefix}_loss"
            if key not in epoch or totals[2 * index + 1] == 0:
                continue
            loss = float(totals[2 * index] / totals[2 * index + 1])
            net.history.record(key, loss)
            best = loss < self.best_.get(key, np.inf)
            if best:
                self.best_[key] = loss
            if f"{key}_best" in epoch:
                net.history.record(f"{key}_best", bool(best))
