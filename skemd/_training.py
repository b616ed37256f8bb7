"""Training control: one small skorch callback per job.

Each callback keeps its state in trailing-underscore attributes and writes what
it decides into the net's history, where the estimator and the plotting
functions read it:

- :class:`LearningRateSchedule` records the rate of every epoch
  (``"learning_rate"``) and applies scikit-learn's ``"invscaling"`` schedule;
- :class:`FiniteLossCheck` stops training with an error when a loss is NaN or
  infinite;
- :class:`ValidationScore` records the accuracy of the predicted classes on the
  validation data (``"valid_acc"``), as ``MLPClassifier``'s validation score;
- :class:`BestWeights` marks the epochs whose monitored loss is the lowest so
  far (``"<monitor>_best"``) and, when asked, restores the weights of the last
  such epoch at the end of training;
- :class:`PlateauStopping` applies scikit-learn's stopping rule (and its
  ``"adaptive"`` learning rate).

Epochs that the history marks ``"warmup"`` (the cross-entropy epochs before a
ground distance is learned) train another loss: they are never the best and do
not count towards a plateau.

:func:`train` runs a net over a dataset and tells a user's Ctrl-C apart from a
callback that ends training.
"""

from __future__ import annotations

import contextlib
import copy
import signal
import threading

import numpy as np
import torch
from skorch.callbacks import Callback

from ._data import WeightedTarget
from ._decision import decide
from ._distributed import all_reduce_tensors, sum_over_ranks


def _rate(net) -> float:
    return float(net.optimizer_.param_groups[0]["lr"])


def _set_rate(net, rate: float) -> None:
    for group in net.optimizer_.param_groups:
        group["lr"] = rate


def samples_seen(history) -> int:
    """Training samples of every batch of every epoch in a history.

    An epoch trained data-parallel counts the samples of every rank, which it
    records as ``"train_samples"``.
    """
    return sum(
        epoch["train_samples"]
        if "train_samples" in epoch
        else sum(batch.get("train_batch_size", 0) for batch in epoch["batches"])
        for epoch in history
    )


def history_records(history) -> dict:
    """The fitted attributes a history gives, as in ``MLPClassifier``.

    ``loss_curve_``, ``n_iter_``, ``loss_``, ``t_``, ``best_loss_`` and, when
    the last run validated, ``validation_loss_curve_``, ``validation_scores_``
    and the loss and score of the epoch kept (the last marked
    ``"valid_loss_best"``); ``best_loss_`` then is None, as in scikit-learn.
    """
    losses = [float(epoch["train_loss"]) for epoch in history]
    records = {
        "loss_curve_": losses,
        "n_iter_": len(history),
        "loss_": losses[-1],
        "t_": samples_seen(history),
        "validation_loss_curve_": None,
        "validation_scores_": None,
        "best_validation_loss_": None,
        "best_validation_score_": None,
    }
    if "valid_loss" not in history[-1]:
        trained = [e for e in history if not e.get("warmup", False)] or list(history)
        records["best_loss_"] = min(float(epoch["train_loss"]) for epoch in trained)
        return records
    validated = [epoch for epoch in history if "valid_loss" in epoch]
    kept = [epoch for epoch in validated if epoch.get("valid_loss_best")]
    kept = (kept or validated)[-1]
    records.update(
        best_loss_=None,
        validation_loss_curve_=[float(e["valid_loss"]) for e in validated],
        validation_scores_=[float(e.get("valid_acc", np.nan)) for e in validated],
        best_validation_loss_=float(kept["valid_loss"]),
        best_validation_score_=float(kept.get("valid_acc", np.nan)),
    )
    return records


class LearningRateSchedule(Callback):
    """Record the learning rate of each epoch; apply ``"invscaling"``.

    ``"invscaling"`` sets the rate after each epoch to ``learning_rate_init /
    (t + 1) ** power_t``, ``t`` the training samples seen so far (counted from
    the history, so warm starts and ``partial_fit`` calls run on), as
    scikit-learn's SGD solver does. ``"constant"`` and ``"adaptive"`` leave the
    rate alone here (:class:`PlateauStopping` lowers it for ``"adaptive"``).
    """

    def __init__(self, schedule="constant", learning_rate_init=1e-3, power_t=0.5):
        self.schedule = schedule
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t

    def on_epoch_end(self, net, **kwargs):
        net.history.record("learning_rate", _rate(net))
        if self.schedule == "invscaling":
            seen = samples_seen(net.history)
            _set_rate(net, self.learning_rate_init / (seen + 1) ** self.power_t)


class FiniteLossCheck(Callback):
    """Stop with a FloatingPointError when an epoch's loss is NaN or infinite."""

    def on_epoch_end(self, net, **kwargs):
        epoch = net.history[-1]
        for key, label in (("train_loss", "training"), ("valid_loss", "validation")):
            value = epoch.get(key)
            if value is not None and not np.isfinite(value):
                raise FloatingPointError(
                    f"The {label} loss became {value} at epoch {epoch['epoch']}. "
                    "Lower learning_rate_init, standardise the features, or raise "
                    "alpha."
                )


class ValidationScore(Callback):
    """Record the accuracy of the predicted classes on the validation data.

    The classes are chosen from the predicted distributions by the estimator's
    ``decision`` rule (with ``distance`` for ``"expected_cost"``), so the score
    is the accuracy ``predict`` would have; sample weights weigh it. Recorded as
    ``"valid_acc"``.
    """

    def __init__(self, decision="argmax", distance=None):
        self.decision = decision
        self.distance = distance

    def on_epoch_begin(self, net, **kwargs):
        self.hits_ = 0.0
        self.total_ = 0.0

    def on_batch_end(self, net, batch=None, training=None, y_pred=None, **kwargs):
        if training:
            return
        target, weight = _target_and_weight(batch[1], y_pred)
        proba = torch.softmax(y_pred.detach().double(), dim=1).cpu()
        if not bool(torch.isfinite(proba).all()):
            # A network that diverged: its validation loss is NaN too, and
            # FiniteLossCheck ends training with advice at the epoch's end.
            return
        # An ensemble's members in the last dimension, each scored on its rows:
        # one decision per sample and member, all at once.
        members = proba.unsqueeze(2) if proba.dim() == 2 else proba
        n_samples, n_classes, n_members = members.shape
        flat = members.permute(0, 2, 1).reshape(-1, n_classes).numpy()
        chosen = decide(flat, self.decision, self._distance(net, n_classes))
        chosen = torch.as_tensor(chosen).reshape(n_samples, n_members)
        # One target per sample, or (member batches) one per sample and member.
        targets = target if target.dim() == 2 else target[:, None]
        hits = (chosen == targets).double()
        if weight is None:
            weight = torch.ones_like(hits)
        self.hits_ += float((hits * weight).sum())
        self.total_ += float(weight.sum())

    def on_epoch_end(self, net, **kwargs):
        # Trained data-parallel, the score of every rank's validation data.
        hits, total = sum_over_ranks(net, (self.hits_, self.total_))
        if total > 0:
            net.history.record("valid_acc", hits / total)

    def _distance(self, net, n_classes):
        if self.decision != "expected_cost" or self.distance is not None:
            return self.distance
        learner = dict(net.callbacks_).get("ground_distance")
        history = getattr(learner, "distance_history_", None)
        if history:
            return history[-1]
        return 1.0 - np.eye(n_classes)


def _target_and_weight(target, y_pred):
    """The class indices of a batch and weights of shape (n_samples, n_members)
    (None when unweighted), on the CPU."""
    weight = None
    if isinstance(target, WeightedTarget):
        target, weight = target
        weight = weight.detach().cpu().double()
        if weight.dim() == 1:
            weight = weight[:, None]
    return target.detach().cpu(), weight


class MemberValidationLoss(Callback):
    """Record the validation loss of each member of an ensemble.

    Each member is scored on the rows it holds out (the validation weights of
    shape ``(n_samples, n_members)``), with the net's criterion. Recorded as
    ``"valid_member_loss"``, a list with one loss per member.
    """

    def on_epoch_begin(self, net, **kwargs):
        self.sums_ = None
        self.weights_ = None

    def on_batch_end(self, net, batch=None, training=None, y_pred=None, **kwargs):
        if training:
            return
        target, weight = batch[1], None
        if isinstance(target, WeightedTarget):
            target, weight = target
        n_samples, _, n_members = y_pred.shape
        target = target.to(y_pred.device)
        if target.dim() == 1:
            target = target[:, None].expand(-1, n_members)
        weight = (
            torch.ones(target.shape, device=y_pred.device)
            if weight is None
            else weight.to(y_pred.device).reshape(n_samples, -1).expand(-1, n_members)
        )
        # The criterion's loss of every sample and member at once: a copy of
        # it that does not reduce (the net's own stays as it is).
        per_sample = copy.copy(net.criterion_)
        per_sample.reduction = "none"
        with torch.no_grad():
            losses = per_sample(y_pred, target).double()
        weight = weight.double()
        sums = (losses * weight).sum(dim=0).cpu()
        weights = weight.sum(dim=0).cpu()
        if self.sums_ is None:
            self.sums_, self.weights_ = sums, weights
        else:
            self.sums_ += sums
            self.weights_ += weights

    def on_epoch_end(self, net, **kwargs):
        if self.sums_ is not None:
            # Trained data-parallel, each member's rows held out on every rank.
            self.sums_, self.weights_ = all_reduce_tensors(
                net, self.sums_, self.weights_
            )
            losses = self.sums_ / self.weights_.clamp_min(1e-300)
            losses[self.weights_ == 0] = float("nan")
            net.history.record("valid_member_loss", losses.tolist())


class BestWeights(Callback):
    """Mark the epochs with the lowest monitored loss so far; keep their weights.

    Every epoch gets ``"<monitor>_best"``: True when its loss is lower than in
    every earlier epoch of this training run, warm-up epochs left out. With
    ``restore=True`` the module's weights are copied at each such epoch and
    loaded back at the end of training, so the net ends with the weights of its
    best epoch.

    With ``members=True`` the monitored value is a list, one loss per ensemble
    member (``"valid_member_loss"``): each member's best epoch is tracked on its
    own and recorded in ``"member_best"`` (one bool per member), and with
    ``restore=True`` each member gets back the weights of its own best epoch
    (the module's ``member_state`` and ``load_member_state``). The pooled
    ``"valid_loss_best"`` is recorded too.
    """

    def __init__(self, monitor="valid_loss", restore=False, members=False):
        self.monitor = monitor
        self.restore = restore
        self.members = members

    def on_train_begin(self, net, **kwargs):
        self.best_ = np.inf
        self.member_best_ = None
        self.state_ = None

    def on_epoch_end(self, net, **kwargs):
        epoch = net.history[-1]
        warmup = epoch.get("warmup", False)
        if not self.members:
            best = not warmup and epoch[self.monitor] < self.best_
            if best:
                self.best_ = epoch[self.monitor]
                if self.restore:
                    self.state_ = copy.deepcopy(net.module_.state_dict())
            net.history.record(f"{self.monitor}_best", bool(best))
            return
        losses = np.asarray(epoch[self.monitor], dtype=np.float64)
        if self.member_best_ is None:
            self.member_best_ = np.full(losses.shape, np.inf)
            self.state_ = [None] * len(losses)
        improved = ~np.isnan(losses) & (losses < self.member_best_) & (not warmup)
        for member in np.flatnonzero(improved):
            self.member_best_[member] = losses[member]
            if self.restore:
                self.state_[member] = net.module_.member_state(member)
        pooled = not warmup and epoch["valid_loss"] < self.best_
        if pooled:
            self.best_ = epoch["valid_loss"]
        net.history.record("member_best", improved.tolist())
        net.history.record("valid_loss_best", bool(pooled))

    def on_train_end(self, net, **kwargs):
        if self.state_ is None:
            return
        if self.members:
            for member, state in enumerate(self.state_):
                if state is not None:
                    net.module_.load_member_state(member, state)
        else:
            net.module_.load_state_dict(self.state_)
        self.state_ = None


class PlateauStopping(Callback):
    """scikit-learn's MLP stopping rule, and its ``"adaptive"`` learning rate.

    An epoch makes progress when its monitored loss is at least ``tol`` below
    the lowest loss seen before it. Once more than ``n_iter_no_change`` epochs in
    a row make none, ``converged_`` becomes True and training stops before the
    next epoch starts (through skorch's documented signal, a
    ``KeyboardInterrupt`` raised by the callback), so that every callback sees
    the last epoch end; with ``reduce_lr=True`` the rate is first divided by 5
    and the count starts again, until the rate is ``min_lr`` or lower. A
    monitored list (one loss per ensemble member) is counted member by member,
    and training stops once every member has reached its plateau.

    A training run that ends at a plateau ends there: the next run (a
    ``partial_fit`` call, one epoch) trains. The count itself runs on over the
    runs of a net (the estimator builds a new net, with new callbacks, for every
    ``fit``), so that over ``partial_fit`` calls ``"adaptive"`` still lowers the
    rate, as in scikit-learn.
    """

    def __init__(
        self,
        monitor="train_loss",
        tol=1e-4,
        n_iter_no_change=10,
        reduce_lr=False,
        min_lr=1e-6,
    ):
        self.monitor = monitor
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.reduce_lr = reduce_lr
        self.min_lr = min_lr

    def initialize(self):
        self.best_ = None
        self.no_improvement_count_ = None
        self.converged_ = False
        return self

    def on_train_begin(self, net, **kwargs):
        self.converged_ = False

    def on_epoch_begin(self, net, **kwargs):
        if self.converged_:
            raise KeyboardInterrupt

    def on_epoch_end(self, net, **kwargs):
        epoch = net.history[-1]
        if epoch.get("warmup", False):
            return
        value = np.atleast_1d(np.asarray(epoch[self.monitor], dtype=np.float64))
        if self.best_ is None:
            self.best_ = np.full(value.shape, np.inf)
            self.no_improvement_count_ = np.zeros(value.shape, dtype=np.int64)
        # A member without validation rows (NaN) makes no progress.
        improved = value <= self.best_ - self.tol
        self.best_ = np.fmin(self.best_, value)
        self.no_improvement_count_ = np.where(
            improved, 0, self.no_improvement_count_ + 1
        )
        if not (self.no_improvement_count_ > self.n_iter_no_change).all():
            return
        if self.reduce_lr and _rate(net) > self.min_lr:
            _set_rate(net, _rate(net) / 5.0)
            self.no_improvement_count_[:] = 0
            return
        self.converged_ = True


_THREADS_LOCK = threading.Lock()
_THREADS_USERS = 0
_THREADS_SAVED = None


@contextlib.contextmanager
def torch_threads(n_threads: int | None):
    """Run the block with ``n_threads`` torch threads, then restore the setting.

    torch's thread count belongs to the process: fits running at once in
    threads share it, the first to start saves the caller's setting and the
    last to end restores it. ``None`` leaves the setting alone.
    """
    global _THREADS_USERS, _THREADS_SAVED
    if n_threads is None:
        yield
        return
    with _THREADS_LOCK:
        if _THREADS_USERS == 0:
            _THREADS_SAVED = torch.get_num_threads()
        _THREADS_USERS += 1
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_USERS -= 1
            if _THREADS_USERS == 0:
                torch.set_num_threads(_THREADS_SAVED)


@contextlib.contextmanager
def _noting_interrupts():
    """Note whether Ctrl-C (SIGINT) raised ``KeyboardInterrupt`` in the block.

    skorch's ``partial_fit`` catches ``KeyboardInterrupt``, the signal its
    callbacks use to end training, and returns as if training had finished. A
    Ctrl-C from the user must not end a fit that way: the handler installed
    here, around Python's own, tells the two apart. Outside the main thread, or
    where SIGINT is ignored or left to the system, nothing is installed and no
    signal can reach the block.
    """
    noted = {"interrupted": None}
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        yield noted
        return

    def handler(signum, frame):
        try:
            previous(signum, frame)
        except KeyboardInterrupt as interrupt:
            noted["interrupted"] = interrupt
            raise

    signal.signal(signal.SIGINT, handler)
    try:
        yield noted
    finally:
        signal.signal(signal.SIGINT, previous)


def train(net, dataset, epochs=None) -> None:
    """Train ``net`` on ``dataset`` for ``epochs`` (default: its ``max_epochs``).

    A user's Ctrl-C raises ``KeyboardInterrupt``. An epoch cut short (by Ctrl-C,
    or by a callback that ended training in the middle of an epoch) is dropped
    from the history, which keeps finished epochs only (the steps of its
    batches stay in the weights). A net left without any finished epoch is a
    RuntimeError; a net trained before (a warm start, a later ``partial_fit``
    call) keeps its earlier epochs. Weights that are no longer finite after
    training (a step that diverged after the last loss was measured) are a
    FloatingPointError.
    """
    before = len(net.history)
    with _noting_interrupts() as noted:
        net.partial_fit(dataset, None, epochs=epochs)
    history = net.history
    if len(history) > before and "train_loss" not in history[-1]:
        del history[-1]
    if noted["interrupted"] is not None:
        raise noted["interrupted"]
    if not history:
        raise RuntimeError(
            "Training ended before its first epoch was finished (a callback "
            "raised KeyboardInterrupt in the middle of the epoch), so no "
            "network was trained. End training in on_epoch_end instead."
        )
    # Trainable weights only: a frozen -inf mask is the module's own business.
    finite = [
        torch.isfinite(p).all() for p in net.module_.parameters() if p.requires_grad
    ]
    if finite and not bool(torch.stack(finite).all()):
        raise FloatingPointError(
            "The network's weights became infinite or NaN in the last epoch. "
            "Lower learning_rate_init, standardise the features, or raise alpha."
        )
