"""The scikit-learn estimator: a neural network trained with the squared EMD loss."""

from __future__ import annotations

import contextlib
import copy
import inspect
import numbers
import signal
import threading
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from skorch.callbacks import Callback

from ._decision import DECISIONS, decide
from ._net import _DECAY_KEY, MLP, EMDNet, InMemoryDataset, as_rows
from .callbacks import LearnedGroundDistance
from .ground_distance import (
    check_ground_distance,
    ordinal_distance,
    to_loss_matrix,
    uniform_distance,
)
from .losses import SquaredEMDLoss

_PREDICT_BATCH_SIZE = 8192


class _TrainingMonitor(Callback):
    """Stop on a plateau or a non-finite loss; keep the best net when validating.

    The stopping rule is scikit-learn's MLP rule: training stops once the score
    has failed to improve by ``tol`` for more than ``n_iter_no_change`` epochs in a
    row. Without validation the score is minus the training loss. Warm-up epochs
    train another loss, so they are only checked for non-finite values.

    With ``stops=False`` (``partial_fit``) the plateau rule never ends training:
    the caller decides when to stop.

    ``schedule`` is the learning-rate schedule of scikit-learn's SGD solver:
    ``"invscaling"`` sets the rate to ``learning_rate_init / (t + 1) ** power_t``
    after each epoch, ``t`` the training samples seen (``samples_seen_``, which
    starts at ``samples_seen``, the count of earlier fits); ``"adaptive"``
    divides it by 5 where the plateau rule would stop, and stops once it is 1e-6
    or less.
    """

    def __init__(
        self,
        tol,
        n_iter_no_change,
        early_stopping,
        warmup_epochs=0,
        schedule="constant",
        learning_rate_init=None,
        power_t=0.5,
        samples_seen=0,
        stops=True,
    ):
        self.stops = stops
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.warmup_epochs = warmup_epochs
        self.schedule = schedule
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.samples_seen = samples_seen

    def initialize(self):
        # Called once, when the net is initialised: the count runs on over
        # partial_fit calls.
        self.samples_seen_ = self.samples_seen
        return self

    def on_train_begin(self, net, **kwargs):
        self.converged_ = False
        self.best_state_ = None
        if getattr(self, "resume_", False):
            # Another partial_fit call: the plateau count runs on, as in
            # scikit-learn's MLP, so that "adaptive" works across calls.
            self.resume_ = False
            return
        self.best_score_ = -np.inf
        self.best_loss_ = np.inf
        self.no_improvement_count_ = 0

    def on_epoch_end(self, net, **kwargs):
        epoch = net.history[-1]
        self.samples_seen_ += sum(
            batch.get("train_batch_size", 0) for batch in epoch["batches"]
        )
        net.history.record("learning_rate", self._rate(net))
        checked = {"train_loss": "training loss"}
        if self.early_stopping:
            checked["valid_loss"] = "validation loss"
        for key, label in checked.items():
            if not np.isfinite(epoch[key]):
                raise FloatingPointError(
                    f"The {label} became {epoch[key]} at epoch {epoch['epoch']}. "
                    "Lower learning_rate_init, standardise the features, or raise "
                    "alpha."
                )
        if self.schedule == "invscaling":
            self._set_rate(
                net, self.learning_rate_init / (self.samples_seen_ + 1) ** self.power_t
            )
        if len(net.history) <= self.warmup_epochs:
            return
        if self.early_stopping:
            score = -epoch["valid_loss"]
            improved = score >= self.best_score_ + self.tol
            if score > self.best_score_:
                self.best_score_ = score
                self.best_state_ = {
                    key: value.detach().clone()
                    for key, value in net.module_.state_dict().items()
                }
                net.history.record("best_epoch", True)
        else:
            loss = epoch["train_loss"]
            improved = loss <= self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, loss)
        self.no_improvement_count_ = 0 if improved else self.no_improvement_count_ + 1
        if self.no_improvement_count_ > self.n_iter_no_change:
            if self.schedule == "adaptive" and self._rate(net) > 1e-6:
                self._set_rate(net, self._rate(net) / 5.0)
                self.no_improvement_count_ = 0
                return
            if not self.stops:
                # partial_fit: the caller decides when to stop.
                return
            self.converged_ = True
            # skorch's documented way for a callback to end training.
            raise KeyboardInterrupt

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
        self.best_state_ = None

    @staticmethod
    def _rate(net) -> float:
        return float(net.optimizer_.param_groups[0]["lr"])

    @staticmethod
    def _set_rate(net, rate: float) -> None:
        for group in net.optimizer_.param_groups:
            group["lr"] = rate


@contextlib.contextmanager
def _noting_interrupts():
    """Note whether Ctrl-C (SIGINT) raised ``KeyboardInterrupt`` in the block.

    skorch's ``partial_fit`` catches ``KeyboardInterrupt``, the signal its
    callbacks (this module's monitor among them) use to end training, and
    returns as if training had finished. A Ctrl-C from the user must not end a
    fit that way: the handler installed here, around Python's own, tells the
    two apart. Outside the main thread, or where SIGINT is ignored or left to
    the system, nothing is installed and no signal can reach the block.
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


def _train(net, dataset, **kwargs) -> None:
    """``net.partial_fit(dataset)``; a Ctrl-C stops it with KeyboardInterrupt.

    Weights that are no longer finite after training (a step that diverged after
    the last loss was measured) are an error.
    """
    with _noting_interrupts() as noted:
        net.partial_fit(dataset, None, **kwargs)
    if noted["interrupted"] is not None:
        history = net.history
        # The epoch that was cut short has no complete record: drop it, so that
        # a later partial_fit call counts only finished epochs.
        if len(history) and "learning_rate" not in history[-1]:
            del history[-1]
        raise noted["interrupted"]
    # Trainable weights only: a frozen -inf mask is the module's own business.
    finite = [
        torch.isfinite(p).all() for p in net.module_.parameters() if p.requires_grad
    ]
    if finite and not bool(torch.stack(finite).all()):
        raise FloatingPointError(
            "The network's weights became infinite or NaN in the last epoch. "
            "Lower learning_rate_init, standardise the features, or raise alpha."
        )


def _checking_first_output(module, n_classes):
    """Check the module's first output: one logit per class.

    A forward hook sees the output of the first batch the module runs, in
    training, and then removes itself: no extra forward pass, nothing drawn
    from the random number generator. Returns the hook's handle.
    """

    def check(layer, args, output):
        handle.remove()
        if not isinstance(output, torch.Tensor):
            raise ValueError(
                f"The module returns a {type(output).__name__}; it must return a "
                f"tensor of logits, one per class: shape (n_samples, {n_classes})."
            )
        if output.ndim != 2 or output.shape[1] != n_classes:
            rows = len(args[0]) if args and hasattr(args[0], "__len__") else "n"
            raise ValueError(
                f"The module gives outputs of shape {tuple(output.shape)} for a "
                f"batch of {rows} samples; it must give one logit per class, "
                f"shape ({rows}, {n_classes}), for the {n_classes} classes."
            )

    handle = module.register_forward_hook(check)
    return handle


def _resolve_device(device) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available; use "
            "device='auto' to fall back to the CPU."
        )
    return resolved


def _cuda(device: torch.device) -> list:
    """The devices whose random state ``torch.random.fork_rng`` must keep."""
    return [device] if device.type == "cuda" else []


def _check_weights(sample_weight, X) -> np.ndarray | None:
    """Validated float32 sample weights: finite, non-negative, not all zero."""
    if sample_weight is None:
        return None
    return _check_sample_weight(
        sample_weight, X, dtype=np.float32, ensure_non_negative=True
    )


def _total(weight, n_samples) -> float:
    """The number of samples, or the sum of their weights."""
    return float(n_samples) if weight is None else float(weight.sum(dtype=np.float64))


def _tensor(array):
    return None if array is None else torch.from_numpy(np.ascontiguousarray(array))


def _same_labels(a, b) -> bool:
    """Whether two label arrays hold the same labels in the same order."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.tolist() == b.tolist()


def _index_labels(y, classes, source) -> np.ndarray:
    """Position of each label of ``y`` in ``classes``; an error names the strays."""
    lookup = {label: index for index, label in enumerate(classes.tolist())}
    try:
        return np.array([lookup[label] for label in y.tolist()], dtype=np.int64)
    except (KeyError, TypeError):
        known = set(lookup)
        missing = [label for label in np.unique(y).tolist() if label not in known]
        raise ValueError(
            f"y contains labels that {source} does not cover: {missing[:10]}."
            f" {source} is {list(classes.tolist())}.{_positions_hint(y, classes)}"
        ) from None


def _positions_hint(y, classes) -> str:
    """Advice when y looks like label positions given for labels that are not."""
    if y.dtype.kind not in "iu" or y.size == 0:
        return ""
    if any(isinstance(label, numbers.Integral) for label in classes.tolist()):
        return ""
    if y.min() < 0 or y.max() >= classes.size:
        return ""
    return (
        " y holds integers 0.."
        f"{classes.size - 1} in place of these labels: a scikit-learn "
        "meta-estimator that encodes the labels itself (BaggingClassifier, "
        "VotingClassifier, StackingClassifier, cross_val_predict with "
        "predict_proba) passes on their positions in sorted order, which loses "
        "the class order. Give the meta-estimator labels that sort in class "
        "order, such as integer codes: y_codes = pandas.Categorical(y, "
        "categories=order).codes, and leave classes unset."
    )


@contextlib.contextmanager
def _naming_text_columns(X):
    """Re-raise numpy's error on text in ``X`` with the columns that hold it."""
    try:
        yield
    except ValueError as exc:
        if "could not convert string to float" not in str(exc):
            raise
        advice = "first, for example with OneHotEncoder or OrdinalEncoder in a pipeline"
        dtypes = getattr(X, "dtypes", None)
        if dtypes is None or not hasattr(dtypes, "items"):
            raise ValueError(f"X holds text ({exc}); encode it {advice}.") from exc
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        text = [
            str(name)
            for name, dtype in dtypes.items()
            if not (is_numeric_dtype(dtype) or is_bool_dtype(dtype))
        ]
        shown = ", ".join(repr(name) for name in text[:10])
        more = f" and {len(text) - 10} more" if len(text) > 10 else ""
        raise ValueError(
            f"X has columns of text or categories that are not numbers: "
            f"{shown}{more}; encode them {advice} ({exc})."
        ) from exc


def _class_order_of(y) -> np.ndarray | None:
    """The categories of a pandas ordered Categorical, else None."""
    dtype = getattr(y, "dtype", None)
    if getattr(dtype, "ordered", False) and hasattr(dtype, "categories"):
        return np.asarray(dtype.categories)
    return None


class EMDClassifier(ClassifierMixin, BaseEstimator):
    """Neural-network classifier trained with the exact squared EMD loss.

    The network (a multi-layer perceptron by default, or any torch module) is
    trained with the squared Earth Mover's Distance of Hou, Yu & Samaras between
    its predicted distribution and the true class, under a ground distance between
    classes: the class order for ordinal targets, a matrix of your own, or every
    wrong class equally far. A wrong prediction is charged by how far it lies from
    the truth.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100, 100)
        Width of each hidden layer of the default network. The default (two
        layers, where scikit-learn's ``MLPClassifier`` has one) was chosen on the
        training parts of the ordinal benchmark data; see the benchmarks page.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Activation of the hidden layers of the default network.
    ground_distance : {"ordinal", "uniform", "learned"} or array-like of shape \
            (n_classes, n_classes), default="ordinal"
        Distance between classes. ``"ordinal"`` uses the class order (classes one
        step apart: the exact one-dimensional squared EMD); ``"uniform"`` makes every
        wrong class equally far (the Brier score); a matrix gives the distance of
        each pair, in the order of ``classes_``; ``"learned"`` learns it from the
        network's own features during training (see
        :class:`~skemd.callbacks.LearnedGroundDistance`): ``warmup_epochs`` epochs
        of cross-entropy, then after every epoch the distance between class
        centroids of the penultimate features, rank-normalised.
    ce_weight : float or "auto", default="auto"
        Weight of a cross-entropy term added to the loss. ``"auto"`` is 0 with
        ``ground_distance="ordinal"``, the squared EMD of the class order alone
        (as the paper trains it), and 1 with a matrix (``"uniform"``,
        ``"learned"`` or your own), which the paper always trains together with
        cross-entropy ("XEMD"); on inner validation over the benchmark datasets
        it lowered the geometric-mean error of both (see the training guide).
    emd_weight : float, default=1.0
        Weight of the squared-EMD term.
    decision : {"argmax", "median", "expected_cost"}, default="argmax"
        How :meth:`predict` turns a predicted distribution into a class: the most
        probable class, the median class (minimises the expected absolute rank
        error), or the class of least expected cost under ``ground_distance_``.
    warmup_epochs : int, default=4
        With ``ground_distance="learned"``: epochs of cross-entropy alone before
        the first distance is learned.
    distance_power : float, default=1.0
        With ``ground_distance="learned"``: the exponent applied to the
        rank-normalised distances (the paper's omega).
    distance_offset : float, default=0.5
        With ``ground_distance="learned"``: the offset subtracted from the learned
        distance in the loss (the paper's mu); classes nearer than it are rewarded.
    feature_layer : str, default=None
        With ``ground_distance="learned"``: the submodule whose output gives the
        features (for example ``"hidden"``). ``None`` takes the input of the last
        :class:`torch.nn.Linear` that the module's forward pass calls.
    classes : array-like, default=None
        The class order, lowest first. ``None`` takes the categories of a pandas
        ordered ``Categorical`` target, else the sorted labels.
    class_weight : dict or "balanced", default=None
        Weights of the classes, ``{label: weight}`` (classes left out weigh 1),
        multiplied into ``sample_weight``. ``"balanced"`` weighs each class by
        ``n_samples / (n_classes * count)``, its counts taken from ``y``, so that
        every class present counts the same in the loss: a lower error on the
        rare classes (and AMAE), usually a higher MAE. ``"balanced"`` needs the
        whole data set, so :meth:`partial_fit` takes a dict only.
    solver : {"adam", "sgd"} or torch.optim.Optimizer subclass, default="adam"
        The optimiser: Adam or SGD with the settings below, as in
        ``MLPClassifier`` (on the CPU and CUDA, torch's fused kernels), or any
        torch optimiser class, such as ``torch.optim.AdamW``, with
        ``solver_params``. Its learning rate is ``learning_rate_init``; ``alpha``
        still adds its L2 penalty on the weights, next to any ``weight_decay``
        the optimiser applies itself.
    solver_params : dict, default=None
        Keyword arguments of an optimiser class given as ``solver`` (for
        ``AdamW``, ``{"weight_decay": 0.01, "betas": (0.9, 0.99)}``), other
        than the learning rate. ``"adam"`` and ``"sgd"`` take theirs from
        ``beta_1``, ``beta_2``, ``epsilon``, ``momentum`` and
        ``nesterovs_momentum``.
    alpha : float, default=1e-4
        Strength of the L2 penalty on the weights (not the biases), scaled as in
        scikit-learn's ``MLPClassifier``: ``alpha / (2 n_samples) * ||W||^2``.
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` is ``min(200, n_samples)``.
    learning_rate_init : float, default=3e-3
        Learning rate of the optimiser (chosen with ``hidden_layer_sizes``).
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        Learning-rate schedule of ``solver="sgd"``, as in ``MLPClassifier``
        (Adam and optimiser classes keep ``learning_rate_init``; give those a
        schedule with skorch's ``LRScheduler`` in ``callbacks``).
        ``"invscaling"``: after each epoch the rate becomes
        ``learning_rate_init / (t + 1) ** power_t``, ``t`` the number of
        training samples seen. ``"adaptive"``: when the
        stopping rule would stop training (no progress by ``tol`` for more than
        ``n_iter_no_change`` epochs), the rate is divided by 5 and training
        goes on, until the rate falls to 1e-6 or below. ``net_.history`` keeps
        the rate of each epoch under ``"learning_rate"``.
    power_t : float, default=0.5
        Exponent of ``"invscaling"``.
    max_iter : int, default=200
        Maximum number of epochs.
    shuffle : bool, default=True
        Whether to shuffle the samples at every epoch.
    tol : float, default=1e-4
        Minimum improvement of the loss (or of the validation score with
        ``early_stopping``) that counts as progress.
    momentum : float, default=0.9
        Momentum of the SGD solver.
    nesterovs_momentum : bool, default=True
        Whether the SGD solver uses Nesterov momentum.
    beta_1, beta_2 : float, default=0.9, 0.999
        Exponential decay rates of the Adam moment estimates.
    epsilon : float, default=1e-8
        Numerical stability term of Adam.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified), stop
        when the validation loss stops improving, and keep the best network.
    validation_fraction : float, default=0.1
        Share of the training data held out with ``early_stopping``.
    n_iter_no_change : int, default=25
        Number of epochs without progress after which training stops. Longer
        than scikit-learn's 10: the squared EMD, a mean over classes of squared
        differences of probabilities, is an order of magnitude smaller than
        cross-entropy and creeps over plateaus; on the training parts of the
        benchmark datasets more patience gave a lower validation error.
    dropout : float, default=0.0
        Dropout probability after each hidden layer of the default network.
    module : torch.nn.Module instance or class, default=None
        A network to train instead of the default one. It maps a batch of ``X`` to
        one logit per class. An instance is copied at every fit; a class is
        instantiated with ``module_params``.
    module_params : dict, default=None
        Keyword arguments of ``module`` when it is a class.
    callbacks : list of skorch callbacks, default=None
        More skorch callbacks for the net, as instances or ``(name, callback)``
        pairs: skorch's ``LRScheduler``, ``Checkpoint``, ``EpochScoring`` or
        ``ProgressBar``, or your own. They run after the estimator's own
        callbacks (the stopping rule, named ``"monitor"``, and with
        ``ground_distance="learned"`` the distance learner, named
        ``"ground_distance"``), and may end training as skorch's callbacks do.
        Each fit trains with copies, so the callbacks given stay as they are;
        the trained ones are in ``net_.callbacks_``. A callback that listens to
        batches (``on_batch_begin``, ``on_batch_end``, ``on_grad_computed``)
        makes every batch go through skorch's own loop: the same results,
        slower on small networks.
    device : str or torch.device, default="auto"
        Where to train: ``"auto"`` picks CUDA when it is available, else the CPU.
    precision : {"float32", "bfloat16"}, default="float32"
        Arithmetic of the network's forward and backward passes. ``"bfloat16"`` is
        mixed precision on CUDA: the network runs under :func:`torch.autocast`
        with bfloat16, while the loss, the weights and the optimiser state stay in
        float32. It can speed up wide networks and large batches on GPUs with
        fast bfloat16 arithmetic (Ampere and newer), with slightly different
        results; predictions use it too. On the CPU it is not used (it slows small
        networks down): training warns and runs in float32.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout and the validation split.
        The global torch random state is left untouched.
    verbose : int, default=0
        Print a line of progress per epoch when positive.
    warm_start : bool, default=False
        When True, :meth:`fit` continues training the network of the previous
        fit instead of starting anew (see :meth:`fit`); the data must have the
        same features and classes and the network the same shape.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The classes, in order.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.
    ground_distance_ : ndarray of shape (n_classes, n_classes)
        The ground distance between classes, in the order of ``classes_``. With
        ``ground_distance="learned"``, the learned distance the loss used in the
        last epoch (symmetric, zero on the diagonal, in ``(0, 1]`` elsewhere).
    ground_distance_history_ : list of ndarray of shape (n_classes, n_classes)
        With ``ground_distance="learned"``, the distance used in each epoch after
        the warm-up, oldest first; None otherwise.
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the torch module.
    n_iter_ : int
        Number of epochs run, over all calls with ``warm_start`` or
        :meth:`partial_fit`.
    t_ : int
        Number of training samples the optimiser has seen, over the same calls
        (samples of weight zero are not trained on and not counted).
    ce_weight_ : float
        The weight of the cross-entropy term in the loss, with ``ce_weight="auto"``
        resolved for the ground distance.
    loss_curve_ : list of float
        Mean training loss of each epoch, over all calls with ``warm_start`` or
        :meth:`partial_fit`.
    loss_ : float
        Mean training loss of the last epoch.
    best_loss_ : float or None
        Lowest training loss, or None with ``early_stopping``.
    validation_scores_ : list of float or None
        Minus the validation loss of each epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
        Best of ``validation_scores_``, or None.
    coefs_ : list of ndarray
        With the default network, the weight matrix of each layer, input
        layer first, of shape ``(n_in, n_out)`` as in ``MLPClassifier``: copies,
        so changing them does not change the network.
    intercepts_ : list of ndarray
        With the default network, the bias vector of each layer (copies).
    n_layers_ : int
        With the default network, the number of layers, input and output
        included: ``len(hidden_layer_sizes) + 2``.
    n_outputs_ : int
        Number of outputs of the network: one logit per class, also for two
        classes (where ``MLPClassifier`` has a single logistic output).
    out_activation_ : str
        ``"softmax"``, the output activation of every network here.

    See Also
    --------
    skemd.losses.squared_emd_loss : The loss, usable on its own in torch.

    References
    ----------
    .. [1] L. Hou, C.-P. Yu and D. Samaras, "Squared Earth Mover's Distance-based
       Loss for Training Deep Neural Networks", arXiv:1611.05916, 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from skemd import EMDClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = np.digitize(X[:, 0] + 0.1 * rng.normal(size=200), [-1, 0, 1])
    >>> clf = EMDClassifier(random_state=0).fit(X, y)
    >>> clf.classes_
    array([0, 1, 2, 3])
    >>> clf.predict_proba(X[:2]).shape
    (2, 4)
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "ground_distance": [
            StrOptions({"ordinal", "uniform", "learned"}),
            "array-like",
        ],
        "warmup_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "distance_power": [Interval(numbers.Real, 0, None, closed="neither")],
        "distance_offset": [Interval(numbers.Real, 0, 1, closed="both")],
        "feature_layer": [str, None],
        "ce_weight": [
            Interval(numbers.Real, 0, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "emd_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "decision": [StrOptions(set(DECISIONS))],
        "classes": ["array-like", None],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "solver": [StrOptions({"adam", "sgd"}), type],
        "solver_params": [dict, None],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "power_t": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "module": [None, torch.nn.Module, type],
        "module_params": [dict, None],
        "callbacks": [list, None],
        "device": [str, torch.device],
        "precision": [StrOptions({"float32", "bfloat16"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100, 100),
        activation="relu",
        *,
        ground_distance="ordinal",
        ce_weight="auto",
        emd_weight=1.0,
        decision="argmax",
        warmup_epochs=4,
        distance_power=1.0,
        distance_offset=0.5,
        feature_layer=None,
        classes=None,
        class_weight=None,
        solver="adam",
        solver_params=None,
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=3e-3,
        learning_rate="constant",
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        tol=1e-4,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=25,
        dropout=0.0,
        module=None,
        module_params=None,
        callbacks=None,
        device="auto",
        precision="float32",
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.ground_distance = ground_distance
        self.ce_weight = ce_weight
        self.emd_weight = emd_weight
        self.decision = decision
        self.warmup_epochs = warmup_epochs
        self.distance_power = distance_power
        self.distance_offset = distance_offset
        self.feature_layer = feature_layer
        self.classes = classes
        self.class_weight = class_weight
        self.solver = solver
        self.solver_params = solver_params
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.tol = tol
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.module = module
        self.module_params = module_params
        self.callbacks = callbacks
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network.

        With ``warm_start=True`` and a fitted estimator, training continues from
        the current weights (and, with ``ground_distance="learned"``, from the
        current features, without another warm-up) for up to ``max_iter`` more
        epochs, with a fresh optimiser; ``n_iter_``, ``loss_curve_`` and the other
        records run on.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; with a custom ``module``, any array shape the module
            accepts (for example images of shape (n_samples, C, H, W)). A sparse
            matrix (the output of ``OneHotEncoder``, for example) stays sparse:
            its rows are made dense a batch at a time, with the same result as
            ``X.toarray()``.
        y : array-like of shape (n_samples,)
            Class labels. A pandas ordered ``Categorical`` gives the class order.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss, the L2 penalty's ``n_samples``
            (their sum), the learned ground distance's class centroids and,
            with ``early_stopping``, the validation loss. Integer weights act as
            repetitions of the samples, exactly so when a batch holds all the
            data; with mini-batches each batch's loss is its weighted mean.

        Returns
        -------
        self : EMDClassifier
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Train the network for one epoch over ``X, y``.

        The first call builds the network; later calls continue training it,
        optimiser state included, as scikit-learn's ``MLPClassifier.partial_fit``
        does. Use it for data that arrive in chunks or do not fit in memory at
        once. The caller decides when to stop: ``max_iter`` and
        ``early_stopping`` do not apply, and the plateau rule (``tol``,
        ``n_iter_no_change``) ends nothing, though with
        ``learning_rate="adaptive"`` it still lowers the rate, counting epochs
        across calls. The L2 penalty and ``batch_size="auto"`` follow the size of
        each call's data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data of this call.
        y : array-like of shape (n_samples,)
            Class labels of this call; all of them in ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample of this call (see :meth:`fit`).
        classes : array-like of shape (n_classes,), default=None
            Every class, in order, lowest first. Needed on the first call unless
            the ``classes`` parameter or a pandas ordered ``Categorical`` target
            gives them, since a chunk may lack some classes; later calls may
            omit it, or must repeat it unchanged.

        Returns
        -------
        self : EMDClassifier
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        if self._ce_weight() == 0 and self.emd_weight == 0:
            raise ValueError(
                "ce_weight and emd_weight are both 0: the loss would be 0 and "
                "nothing would be trained (ce_weight='auto' is 0 with "
                "ground_distance='ordinal'). For cross-entropy alone, set "
                "ce_weight=1 and emd_weight=0."
            )
        order = _class_order_of(y)
        continuing = hasattr(self, "net_") and (incremental or self.warm_start)
        if not continuing and hasattr(self, "net_"):
            # A new fit: should it fail or be interrupted, the old network must
            # not answer for the new classes and features.
            del self.net_
        with _naming_text_columns(X):
            X, y = validate_data(
                self,
                X,
                y,
                accept_sparse="csr",
                dtype=np.float32,
                allow_nd=self.module is not None,
                y_numeric=False,
                multi_output=False,
                reset=not continuing,
            )
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        weight = _check_weights(sample_weight, X)
        if continuing:
            y_index = self._encode_continued(y, order, classes, incremental)
        else:
            if (
                incremental
                and classes is None
                and self.classes is None
                and order is None
            ):
                raise ValueError(
                    "classes must be passed on the first call to partial_fit (or "
                    "set with the classes parameter): every class, in order, as "
                    "later chunks may hold classes this one lacks."
                )
            self.classes_, source = self._class_list(y, order, classes)
            y_index = _index_labels(y, self.classes_, source)
        weight = self._with_class_weights(weight, y_index, incremental)
        if weight is not None:
            # A sample of weight zero is one left out: dropped here, it takes no
            # place in a batch or in the validation split.
            kept = weight > 0
            if not kept.all():
                X, y_index, weight = X[kept], y_index[kept], weight[kept]
            if (weight == 1).all():
                # Unit weights: the unweighted mean is the same loss, computed
                # by the faster fused kernel.
                weight = None
        if not (incremental and continuing):
            # Like scikit-learn's MLP: fit starts from random_state every time,
            # partial_fit draws its seeds from one generator across calls.
            self._random_state = check_random_state(self.random_state)
        seed = int(self._random_state.randint(np.iinfo(np.int32).max))

        if incremental and continuing:
            net = self.net_
            device = torch.device(net.device)
            previous = self._records()
            warmup = self._fitted_warmup_
            monitor = dict(net.callbacks_)["monitor"]
            monitor.stops = False
            # A net trained by fit may validate; partial_fit does not.
            if monitor.early_stopping:
                monitor.early_stopping = False
            else:
                monitor.resume_ = True
            n_samples = X.shape[0]
            self._set_data_size(net, n_samples, _total(weight, n_samples))
            train = InMemoryDataset(
                as_rows(X), torch.from_numpy(y_index), _tensor(weight)
            )
            start = len(net.history)
            with torch.random.fork_rng(devices=_cuda(device)):
                torch.manual_seed(seed)
                _train(net, train.to(device), epochs=1)
        else:
            device = _resolve_device(self.device)
            precision = self._effective_precision(device)
            if incremental:
                X_train, y_train, w_train, valid = X, y_index, weight, None
            else:
                X_train, y_train, w_train, valid = self._split(
                    X, y_index, weight, self._random_state
                )
            if valid is not None:
                valid = valid.to(device)
            train = InMemoryDataset(
                as_rows(X_train), torch.from_numpy(y_train), _tensor(w_train)
            ).to(device)
            learned = isinstance(self.ground_distance, str) and (
                self.ground_distance == "learned"
            )
            previous = self._records() if continuing else None
            # A warm start has features to learn the distance from at once.
            warmup = self.warmup_epochs if learned and not continuing else 0
            self._fitted_warmup_ = warmup
            if not continuing:
                # Epochs at the start of loss_curve_ that trained another loss.
                self._curve_warmup_ = warmup
            distance, loss_matrix = self._ground_distance(len(self.classes_))
            self._fixed_distance_ = distance
            monitor = _TrainingMonitor(
                self.tol,
                self.n_iter_no_change,
                self.early_stopping and not incremental,
                warmup,
                schedule=self.learning_rate if self.solver == "sgd" else "constant",
                learning_rate_init=self.learning_rate_init,
                power_t=self.power_t,
                samples_seen=previous["t"] if previous else 0,
                stops=not incremental,
            )
            # The monitor comes first: when it ends training, no distance is
            # learned that no epoch would use.
            callbacks = [("monitor", monitor)]
            if learned:
                learner = LearnedGroundDistance(
                    warmup_epochs=warmup,
                    distance_power=self.distance_power,
                    distance_offset=self.distance_offset,
                    feature_layer=self.feature_layer,
                )
                callbacks.append(("ground_distance", learner))
            callbacks += self._user_callbacks()
            n_train = X_train.shape[0]
            batch_size = self._batch_size_for(n_train)
            start = 0
            with torch.random.fork_rng(devices=_cuda(device)):
                torch.manual_seed(seed)
                module = self._build_module(X.shape[1], len(self.classes_))
                net = EMDNet(
                    module=module,
                    criterion=SquaredEMDLoss,
                    criterion__ground_distance=loss_matrix,
                    criterion__ce_weight=self._ce_weight(),
                    criterion__emd_weight=self.emd_weight,
                    **self._optimizer_params(_total(w_train, n_train), device),
                    batch_size=batch_size,
                    iterator_train__shuffle=self.shuffle,
                    iterator_valid__batch_size=max(batch_size, _PREDICT_BATCH_SIZE),
                    max_epochs=self.max_iter,
                    train_split=None if valid is None else _FixedSplit(valid),
                    callbacks=callbacks,
                    device=device,
                    precision=precision,
                    verbose=self.verbose,
                )
                # What NeuralNet.fit does, with the weights of the previous fit
                # loaded in between on a warm start.
                net.initialize()
                # The net predicts class indices: scorers in callbacks rank them.
                net.classes_ = np.arange(len(self.classes_))
                if continuing:
                    self._load_weights(net)
                check = None
                if self.module is not None and not continuing:
                    check = _checking_first_output(net.module_, len(self.classes_))
                try:
                    if incremental:
                        _train(net, train, epochs=1)
                    else:
                        _train(net, train)
                finally:
                    if check is not None:
                        check.remove()
        # The validation data are not part of the model.
        net.train_split = None
        self.net_ = net
        self.ce_weight_ = self._ce_weight()
        self._update_records(net, start, warmup, previous, incremental)
        return self

    def _records(self):
        """The records of the fitted estimator that training continues."""
        return {
            "loss_curve": list(self.loss_curve_),
            "t": self.t_,
            "validation_scores": self.validation_scores_,
            "best_validation_score": self.best_validation_score_,
            "ground_distance_history": self.ground_distance_history_,
        }

    def _update_records(self, net, start, warmup, previous, incremental):
        """Attributes after training ``net`` from its epoch ``start`` on."""
        epochs = net.history[start:]
        n_epochs = len(net.history)
        # Epochs of this run after the net's warm-up, which trains another loss.
        after_warmup = [
            index for index in range(len(epochs)) if start + index >= warmup
        ] or list(range(len(epochs)))
        previous = previous or {}
        losses = [float(epoch["train_loss"]) for epoch in epochs]
        self.loss_curve_ = (previous.get("loss_curve") or []) + losses
        self.n_iter_ = len(self.loss_curve_)
        self.loss_ = self.loss_curve_[-1]
        self.t_ = previous.get("t", 0) + sum(
            sum(batch.get("train_batch_size", 0) for batch in epoch["batches"])
            for epoch in epochs
        )
        if self.early_stopping and not incremental:
            scores = [-float(epoch["valid_loss"]) for epoch in epochs]
            earlier = previous.get("validation_scores") or []
            self.validation_scores_ = earlier + scores
            best = [scores[index] for index in after_warmup]
            if previous.get("best_validation_score") is not None:
                best.append(previous["best_validation_score"])
            self.best_validation_score_ = max(best)
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            curve = self.loss_curve_
            skip = self._curve_warmup_ if len(curve) > self._curve_warmup_ else 0
            self.best_loss_ = min(curve[skip:])
        learner = dict(net.callbacks_).get("ground_distance")
        if learner is None:
            self.ground_distance_history_ = None
            self.ground_distance_ = self._fixed_distance_
        else:
            # The callback also learns a distance after the last epoch, for the
            # next one; keep those the loss used, one per epoch after the warm-up.
            used = learner.distance_history_[
                max(start - warmup, 0) : max(n_epochs - warmup, 0)
            ]
            earlier = previous.get("ground_distance_history") or []
            self.ground_distance_history_ = list(earlier) + list(used)
            if self.ground_distance_history_:
                self.ground_distance_ = self.ground_distance_history_[-1]
            else:
                if not incremental:
                    warnings.warn(
                        f"Training ended after {self.n_iter_} epochs, within the "
                        f"warm-up of {self.warmup_epochs} epochs: no ground "
                        "distance was learned and ground_distance_ is uniform. "
                        "Raise max_iter.",
                        UserWarning,
                        # Past this method, _fit, fit and scikit-learn's wrapper.
                        stacklevel=5,
                    )
                self.ground_distance_ = uniform_distance(len(self.classes_))
        monitor = dict(net.callbacks_)["monitor"]
        if (
            not incremental
            and not monitor.converged_
            and n_epochs - start == self.max_iter
        ):
            warnings.warn(
                f"Maximum iterations ({self.max_iter}) reached and the optimization "
                "hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=5,
            )

    def _load_weights(self, net):
        """Copy the weights of the fitted network into the new one (warm start)."""
        try:
            net.module_.load_state_dict(self.net_.module_.state_dict())
        except RuntimeError as error:
            first_line = str(error).strip().splitlines()[-1].strip()
            raise ValueError(
                "warm_start=True needs the network of the previous fit, but the "
                f"network changed since: {first_line} Set warm_start=False to "
                "train a new one."
            ) from None

    def _batch_size_for(self, n_samples):
        size = min(200, n_samples) if self.batch_size == "auto" else self.batch_size
        return min(size, n_samples)

    def _set_data_size(self, net, n_samples, total_weight):
        """Batch size and L2 penalty for another partial_fit call's data."""
        batch_size = self._batch_size_for(n_samples)
        net.batch_size = batch_size
        net.iterator_valid__batch_size = max(batch_size, _PREDICT_BATCH_SIZE)
        for name in net._optimizers:
            for group in getattr(net, name + "_").param_groups:
                group[_DECAY_KEY] = self._decay(total_weight)

    def _with_class_weights(self, weight, y_index, incremental):
        """``sample_weight`` times the weights of the samples' classes."""
        spec = self.class_weight
        if spec is None:
            return weight
        n_classes = len(self.classes_)
        if isinstance(spec, str):
            if incremental:
                raise ValueError(
                    "class_weight='balanced' needs the class counts of the whole "
                    "data set, which partial_fit does not see. Compute them once "
                    "(sklearn.utils.class_weight.compute_class_weight) and pass "
                    "class_weight as a dict."
                )
            counts = np.bincount(y_index, minlength=n_classes).astype(np.float64)
            present = counts > 0
            per_class = np.ones(n_classes)
            per_class[present] = len(y_index) / (present.sum() * counts[present])
        else:
            lookup = {
                label: index for index, label in enumerate(self.classes_.tolist())
            }
            unknown = [label for label in spec if label not in lookup]
            if unknown:
                raise ValueError(
                    f"class_weight has labels that are not classes: {unknown[:10]}. "
                    f"The classes are {list(self.classes_.tolist())}."
                )
            per_class = np.ones(n_classes)
            for label, value in spec.items():
                if not (isinstance(value, numbers.Real) and np.isfinite(value)):
                    raise ValueError(
                        f"class_weight[{label!r}] must be a finite number; got "
                        f"{value!r}."
                    )
                if value < 0:
                    raise ValueError(
                        f"class_weight[{label!r}] is negative ({value}); weights "
                        "must be 0 or more."
                    )
                per_class[lookup[label]] = value
        per_sample = per_class[y_index]
        if weight is not None:
            per_sample = per_sample * weight
        per_sample = per_sample.astype(np.float32)
        if not (per_sample > 0).any():
            raise ValueError(
                "class_weight and sample_weight leave every sample with weight "
                "zero: nothing to train."
            )
        return per_sample

    def _class_list(self, y, order, classes=None):
        """The classes in order, and what gave them (for error messages)."""
        if classes is not None and self.classes is not None:
            given = np.asarray(classes)
            own = np.asarray(self.classes)
            if not _same_labels(given, own):
                raise ValueError(
                    f"classes={list(given.tolist())} differs from the classes "
                    f"parameter {list(own.tolist())}; pass one of them."
                )
        if classes is not None or self.classes is not None:
            source = "classes"
            labels = np.asarray(classes if classes is not None else self.classes)
            if labels.ndim != 1:
                raise ValueError("classes must be a one-dimensional list of labels.")
            if len(set(labels.tolist())) != len(labels):
                raise ValueError(f"classes has repeated labels: {labels.tolist()}.")
        elif order is not None:
            labels, source = order, "the target's categories"
        else:
            labels, source = np.unique(y), "the labels"
        if len(labels) < 2:
            if source != "the labels":
                # A given order that misses labels: say so rather than that
                # there is one class.
                _index_labels(y, np.asarray(labels), source)
            raise ValueError(
                "Classifier can't train when only one class is present: got the "
                f"single class {labels[0]!r}."
            )
        return labels, source

    def _encode_continued(self, y, order, classes, incremental):
        """Class indices of ``y`` for training on from the fitted classes."""
        if incremental:
            if classes is not None:
                given = np.asarray(classes)
                if not _same_labels(given, self.classes_):
                    raise ValueError(
                        f"classes={list(given.tolist())} is not the same as on the "
                        "first call to partial_fit, which was "
                        f"{list(self.classes_.tolist())}."
                    )
            if order is not None and not _same_labels(order, self.classes_):
                raise ValueError(
                    f"The target's categories {list(order.tolist())} are not the "
                    f"classes of the first call to partial_fit, "
                    f"{list(self.classes_.tolist())}."
                )
            return _index_labels(y, self.classes_, "classes_")
        labels, source = self._class_list(y, order)
        if source == "the labels":
            # Plain labels say nothing of the order: the fitted one holds, and
            # only the set must match, as in scikit-learn's MLP.
            same = set(labels.tolist()) == set(self.classes_.tolist())
        else:
            same = _same_labels(labels, self.classes_)
        if not same:
            raise ValueError(
                "warm_start can only be used where y has the same classes as in "
                f"the previous call to fit. Previously got "
                f"{list(self.classes_.tolist())}, y has {list(labels.tolist())}."
            )
        return _index_labels(y, self.classes_, "classes_")

    def _ground_distance(self, n_classes):
        """The ground distance and the matrix the loss uses (None: class order)."""
        spec = self.ground_distance
        if isinstance(spec, str):
            if spec == "ordinal":
                return ordinal_distance(n_classes), None
            if spec == "learned":
                return None, None
            distance = uniform_distance(n_classes)
        else:
            distance = check_ground_distance(spec, n_classes)
        return distance, torch.as_tensor(to_loss_matrix(distance), dtype=torch.float32)

    def _split(self, X, y_index, weight, rng):
        if not self.early_stopping:
            return X, y_index, weight, None
        counts = np.bincount(y_index)
        n_samples = X.shape[0]
        n_valid = int(np.ceil(self.validation_fraction * n_samples))
        n_present = np.count_nonzero(counts)
        # Stratified where each part can hold every class; a random split else.
        stratify = (
            y_index
            if counts[counts > 0].min() >= 2
            and min(n_valid, n_samples - n_valid) >= n_present
            else None
        )
        train, valid = train_test_split(
            np.arange(n_samples),
            test_size=self.validation_fraction,
            random_state=rng.randint(np.iinfo(np.int32).max),
            stratify=stratify,
        )
        if len(train) == 0 or len(valid) == 0:
            raise ValueError(
                f"early_stopping needs at least 2 samples; got {n_samples}."
            )
        w_train = None if weight is None else weight[train]
        w_valid = None if weight is None else weight[valid]
        valid = InMemoryDataset(
            as_rows(X[valid]),
            torch.from_numpy(y_index[valid]),
            _tensor(w_valid),
        )
        return X[train], y_index[train], w_train, valid

    def _ce_weight(self) -> float:
        """``ce_weight``, with ``"auto"`` resolved for the ground distance."""
        if not isinstance(self.ce_weight, str):
            return float(self.ce_weight)
        ordinal = (
            isinstance(self.ground_distance, str) and self.ground_distance == "ordinal"
        )
        return 0.0 if ordinal else 1.0

    def _user_callbacks(self) -> list:
        """Copies of the ``callbacks`` parameter, checked."""
        if self.callbacks is None:
            return []
        reserved = ("monitor", "ground_distance")
        for item in self.callbacks:
            if isinstance(item, tuple) and (
                len(item) != 2 or not isinstance(item[0], str)
            ):
                raise TypeError(
                    "callbacks takes skorch callbacks or (name, callback) pairs; "
                    f"got {item!r}."
                )
            name, callback = item if isinstance(item, tuple) else (None, item)
            if not isinstance(callback, Callback):
                raise TypeError(
                    "callbacks takes skorch callbacks (skorch.callbacks.Callback "
                    f"instances); got {callback!r}."
                )
            if name in reserved:
                raise ValueError(
                    f"The callback name {name!r} is the estimator's own; choose "
                    "another."
                )
        return copy.deepcopy(list(self.callbacks))

    def _build_module(self, n_features, n_classes):
        if self.module is None:
            return MLP(
                n_features,
                n_classes,
                hidden_layer_sizes=self._layer_sizes(),
                activation=self.activation,
                dropout=self.dropout,
            )
        if isinstance(self.module, torch.nn.Module):
            return copy.deepcopy(self.module)
        if inspect.isclass(self.module) and issubclass(self.module, torch.nn.Module):
            return self.module(**(self.module_params or {}))
        raise TypeError(
            "module must be a torch.nn.Module instance or subclass; got "
            f"{self.module!r}."
        )

    def _decay(self, total_weight) -> float:
        """The L2 penalty per unit of weight, ``alpha`` over the samples' total."""
        decay = self.alpha / total_weight
        if decay > np.finfo(np.float32).max:
            raise ValueError(
                f"sample_weight sums to {total_weight:.3g}, so that the L2 penalty "
                f"alpha / sum(sample_weight) = {decay:.3g} overflows float32. "
                "Scale the weights up: their ratios weigh the samples, their sum "
                "counts them for the penalty."
            )
        return decay

    def _layer_sizes(self) -> tuple[int, ...]:
        """``hidden_layer_sizes`` as a tuple, each size checked."""
        sizes = self.hidden_layer_sizes
        if np.ndim(sizes) == 0:
            sizes = [sizes.item() if isinstance(sizes, np.ndarray) else sizes]
        else:
            sizes = list(sizes)
        if not all(
            isinstance(size, numbers.Integral)
            and not isinstance(size, bool)
            and size > 0
            for size in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes must hold positive integers, the width of "
                f"each hidden layer; got {self.hidden_layer_sizes!r}."
            )
        return tuple(int(size) for size in sizes)

    def _effective_precision(self, device):
        if self.precision == "bfloat16" and device.type != "cuda":
            warnings.warn(
                f"precision='bfloat16' takes effect on CUDA only; training on "
                f"{device.type!r} runs in float32.",
                UserWarning,
                # Past this method, _fit, fit and scikit-learn's fit wrapper.
                stacklevel=5,
            )
            return "float32"
        return self.precision

    def _optimizer_params(self, n_samples, device):
        weight_decay = self._decay(n_samples)
        if isinstance(self.solver, type):
            if not issubclass(self.solver, torch.optim.Optimizer):
                raise TypeError(
                    "solver must be 'adam', 'sgd' or a torch.optim.Optimizer "
                    f"subclass; got {self.solver!r}."
                )
            options = {
                f"optimizer__{key}": value
                for key, value in (self.solver_params or {}).items()
            }
            if "optimizer__lr" in options:
                raise ValueError(
                    "solver_params sets no 'lr': the learning rate is "
                    "learning_rate_init."
                )
            return {
                "optimizer": self.solver,
                "lr": self.learning_rate_init,
                "l2_weights": weight_decay,
                **options,
            }
        if self.solver_params is not None:
            raise ValueError(
                f"solver_params goes with an optimiser class as solver; "
                f"solver={self.solver!r} takes its settings from "
                + (
                    "beta_1, beta_2 and epsilon."
                    if self.solver == "adam"
                    else "momentum and nesterovs_momentum."
                )
            )
        # The fused update is one kernel per parameter group instead of several
        # per tensor: the optimiser step dominates small networks.
        fused = device.type in ("cpu", "cuda") or None
        if self.solver == "adam":
            return {
                "optimizer": torch.optim.Adam,
                "lr": self.learning_rate_init,
                "optimizer__betas": (self.beta_1, self.beta_2),
                "optimizer__eps": self.epsilon,
                "optimizer__weight_decay": weight_decay,
                "optimizer__fused": fused,
            }
        return {
            "optimizer": torch.optim.SGD,
            "lr": self.learning_rate_init,
            "optimizer__momentum": self.momentum,
            "optimizer__nesterov": self.nesterovs_momentum and self.momentum > 0,
            "optimizer__weight_decay": weight_decay,
            "optimizer__fused": fused,
        }

    # ------------------------------------------------------------- predict

    def __sklearn_is_fitted__(self) -> bool:
        # The network, not classes_: a fit that failed leaves classes_ set.
        return hasattr(self, "net_")

    def _logits(self, X) -> torch.Tensor:
        check_is_fitted(self)
        with _naming_text_columns(X):
            X = validate_data(
                self,
                X,
                accept_sparse="csr",
                dtype=np.float32,
                allow_nd=self.module is not None,
                reset=False,
            )
        logits = self.net_.forward(InMemoryDataset(as_rows(X)))
        # -inf masks a class (probability 0); NaN, +inf or a row masked whole
        # have no distribution.
        finite = ~(
            torch.isnan(logits).any(dim=1)
            | (logits == torch.inf).any(dim=1)
            | (logits == -torch.inf).all(dim=1)
        )
        if not bool(finite.all()):
            raise ValueError(
                f"The network's output is infinite or NaN for "
                f"{int((~finite).sum())} of {len(logits)} samples: its weights "
                "or these inputs are too large. Standardise the features or "
                "train with a lower learning_rate_init."
            )
        return logits

    def predict_proba(self, X):
        """Predicted distribution over the classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to 1; columns follow ``classes_``.
        """
        return torch.softmax(self._logits(X).double(), dim=1).numpy()

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        return torch.log_softmax(self._logits(X).double(), dim=1).numpy()

    def predict(self, X):
        """Predicted class of each sample, chosen by ``decision``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)
        index = decide(proba, self.decision, self.ground_distance_)
        return self.classes_[index]

    # ------------------------------------------- MLPClassifier's attributes

    def _default_network(self, attribute: str) -> MLP:
        check_is_fitted(self)
        module = self.net_.module_
        if not isinstance(module, MLP):
            raise AttributeError(
                f"{attribute} describes the default network; this EMDClassifier "
                f"trained a {type(module).__name__} (the module parameter): read "
                "its weights from net_.module_."
            )
        return module

    def _default_layers(self, attribute: str) -> list[torch.nn.Linear]:
        module = self._default_network(attribute)
        hidden = [m for m in module.hidden if isinstance(m, torch.nn.Linear)]
        return [*hidden, module.output]

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices of the default network, shape ``(n_in, n_out)`` each."""
        return [
            layer.weight.detach().cpu().numpy().T.copy()
            for layer in self._default_layers("coefs_")
        ]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors of the default network, one per layer."""
        return [
            layer.bias.detach().cpu().numpy().copy()
            for layer in self._default_layers("intercepts_")
        ]

    @property
    def n_layers_(self) -> int:
        """Layers of the default network, input and output included."""
        return len(self._default_layers("n_layers_")) + 1

    @property
    def n_outputs_(self) -> int:
        """Outputs of the network: one logit per class."""
        check_is_fitted(self)
        return len(self.classes_)

    @property
    def out_activation_(self) -> str:
        """Output activation: ``"softmax"``."""
        check_is_fitted(self)
        return "softmax"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = True
        return tags


class _FixedSplit:
    """skorch ``train_split`` that returns a validation set made in advance."""

    def __init__(self, valid):
        self.valid = valid

    def __call__(self, dataset, y=None, **kwargs):
        return dataset, self.valid
