"""The scikit-learn estimator: a neural network trained with the squared EMD loss.

``fit`` reads as its steps: check the parameters, encode the data, split off a
validation part, build (or reuse) the skorch net, train it, and record the
fitted attributes from the net's history. The pieces live in their own modules:
labels and weights in ``_labels``, feature and device checks in ``_inputs``,
the networks in ``_modules``, the skorch net in ``_net``, the training control
(stopping, best weights, learning rate, the NaN guard) in ``_training``.
"""

from __future__ import annotations

import contextlib
import copy
import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d, validate_data
from skorch.callbacks import PrintLog

from . import _build, _labels, _splits
from ._decision import DECISIONS
from ._distributed import DataParallelNet, Ranks
from ._inputs import naming_text_columns, resolve_device
from ._modules import (
    check_first_output,
)
from ._net import EMDNet
from ._prediction import PredictionMixin
from ._training import (
    BestWeights,
    PlateauStopping,
    history_records,
    torch_threads,
    train,
)
from ._validation import Interval, Options, validate_parameters
from .callbacks import LearnedGroundDistance
from .ground_distance import (
    check_ground_distance,
    ordinal_distance,
    to_loss_matrix,
    uniform_distance,
)
from .losses import SquaredEMDLoss

# Batches where nothing trains: at most this many rows, and about this many
# input numbers over the members of an ensemble (32 MiB in float32).
_PREDICT_BATCH_SIZE = 8192
_INFERENCE_VALUES = 2**23
# The estimator's own callbacks, by name; users' callbacks take other names.
_OWN_CALLBACKS = (
    "learning_rate",
    "finite_loss",
    "validation_score",
    "member_loss",
    "best",
    "plateau",
    "ground_distance",
    "ranks",
)
# History keys that the printed table leaves out (matrices and lists).
_NOT_PRINTED = (
    "ground_distance",
    "ground_distance_updated",
    "member_best",
    "valid_member_loss",
)


def _largest_weight(weight, n_samples, ranks):
    """The weights, and the largest (None without weights).

    Data-parallel, the largest of any rank, so that the weights of every rank
    are scaled alike; a rank without weights then weighs its rows 1 each.
    """
    top = None if weight is None else float(weight.max())
    if not ranks.distributed:
        return weight, top
    top = ranks.max(1.0 if top is None else top)
    if weight is None and top != 1.0:
        weight = np.ones(n_samples)
    return weight, top


def _learn_from_chunks(net) -> None:
    """Let a learned distance pool the class sums of ``partial_fit``'s chunks."""
    learner = dict(net.callbacks_).get("ground_distance")
    if isinstance(learner, LearnedGroundDistance):
        learner.accumulate = True


class EMDClassifier(PredictionMixin, ClassifierMixin, BaseEstimator):
    """Neural-network classifier trained with the exact squared EMD loss.

    The network is trained with the squared Earth Mover's Distance of Hou, Yu &
    Samaras between its predicted distribution and the true class, under a
    ground distance between classes: the class order for ordinal targets, a
    matrix of your own, or every wrong class equally far. A wrong prediction is
    charged by how far it lies from the truth.

    The default network is made for tables: five fully connected networks
    trained side by side (``n_estimators``), each stopped early on a fold of the
    rows it holds out and kept at its best epoch, so that together they learn
    from every row; numeric features get piecewise-linear embeddings
    (``numeric_embedding``) next to their standardised values; the members'
    probabilities are averaged and ``predict`` takes their median class, the
    class of least expected absolute error. These defaults were chosen by inner
    validation on ordinal benchmark data (see the benchmarks page).
    ``n_estimators=1, numeric_embedding=None`` gives a single multi-layer
    perceptron as in ``MLPClassifier``; ``module`` trains any torch module.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64, 64)
        Width of each hidden layer of the default network (of each member of the
        ensemble).
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
    decision : {"argmax", "median", "expected_cost"}, default="median"
        How :meth:`predict` turns a predicted distribution into a class: the most
        probable class, the median class (minimises the expected absolute rank
        error, and so the MAE), or the class of least expected cost under
        ``ground_distance_``. With ``"median"`` or ``"expected_cost"``,
        :meth:`predict` need not be the most probable class: use
        ``decision="argmax"`` where it must (scikit-learn's estimator checks
        expect it, and accuracy rewards it).
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
        Strength of the L2 penalty on the weights (not the biases),
        ``alpha / (2 n) * ||W||^2`` added to every step's loss, with ``n`` the
        number of training samples (the sum of their weights).
        ``MLPClassifier`` divides by the size of each mini-batch instead, a
        penalty ``n / batch_size`` times stronger on data of several batches.
    batch_size : int or "auto", default="auto"
        Mini-batch size. ``"auto"`` is ``min(200, n_samples)`` for a single
        network (``n_estimators=1``, no embedding) and, for the ensemble,
        ``n_samples / 32`` (at least 200 and at most 1024, at most
        ``n_samples``), so that larger data train in larger batches.
    learning_rate_init : float, default=3e-3
        Learning rate of the optimiser.
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
        Minimum improvement of the loss (of the validation loss with
        ``early_stopping``) that counts as progress.
    momentum : float, default=0.9
        Momentum of the SGD solver.
    nesterovs_momentum : bool, default=True
        Whether the SGD solver uses Nesterov momentum.
    beta_1, beta_2 : float, default=0.9, 0.999
        Exponential decay rates of the Adam moment estimates.
    epsilon : float, default=1e-8
        Numerical stability term of Adam.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training data (stratified), stop
        when the validation loss stops improving, and keep the best network. In
        the ensemble, each member holds out a fold of its own, round
        ``1 / validation_fraction`` folds (with the defaults: five members,
        five folds, each row held out by one member), is stopped on it and
        keeps its own best epoch; the ensemble as a whole learns from every row.
    validation_fraction : float, default=0.2
        Share of the training data held out with ``early_stopping`` (by each
        member of the ensemble).
    n_iter_no_change : int, default=8
        Number of epochs without progress by ``tol`` after which training stops
        (in the ensemble, once every member has gone that long without
        progress).
    dropout : float, default=0.0
        Dropout probability after each hidden layer of the default network.
    n_estimators : int, default=5
        Number of networks of the default ensemble, trained side by side (one
        batched network: members' batches of their own rows go through as one
        set of matrix products) and averaged in probability. With 1 and
        ``numeric_embedding=None``, the default network is a single
        multi-layer perceptron.
    numeric_embedding : {"piecewise_linear"} or None, default="piecewise_linear"
        Embedding of the numeric features of the default ensemble: each feature
        with more than two distinct values is encoded piecewise-linearly in
        ``n_bins`` bins at its training quantiles and mapped by a small layer of
        its own to ``embedding_dim`` numbers, next to its standardised value
        (Gorishniy, Rubachev & Babenko, NeurIPS 2022). It lets the network bend
        each feature's effect where the data do. Binary and constant features
        keep their standardised value only.
    n_bins : int, default=24
        Bins of the piecewise-linear embedding (fewer where a feature has fewer
        distinct quantiles).
    embedding_dim : int, default=8
        Size of each numeric feature's embedding.
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
        callbacks (named ``"learning_rate"``, ``"finite_loss"``,
        ``"validation_score"``, ``"member_loss"``, ``"best"``, ``"plateau"``
        and, with ``ground_distance="learned"``, ``"ground_distance"``: names a
        callback of yours may not take), and may end training as skorch's
        callbacks do. Each fit trains with copies, so the callbacks given stay
        as they are; the trained ones are in ``net_.callbacks_``. The
        ensemble's validation batches hold different rows for each member, so
        a scorer of validation predictions (``EpochScoring`` with
        ``on_train=False``) needs ``n_estimators=1``; the estimator records the
        validation accuracy itself (``validation_scores_``).
    device : str or torch.device, default="auto"
        Where to train: ``"auto"`` picks CUDA when it is available, else the CPU.
        With ``distributed=True``, ``"cuda"`` is the GPU of each process (its
        ``LOCAL_RANK``, else the current CUDA device).
    n_threads : int, "auto" or None, default="auto"
        torch threads (``torch.set_num_threads``) during :meth:`fit`,
        :meth:`partial_fit` and prediction, the caller's setting restored
        afterwards. ``"auto"`` is one thread for the default networks on the
        CPU, and torch's setting otherwise: on a quiet two-core machine two
        threads trained the default ensemble 40 % faster, but three times
        slower when other programs kept the cores busy, as the workers of a
        parallel search do; give a count where the machine is the fit's alone.
        ``None`` leaves torch's setting.
        torch's count belongs to the process: fits running at once in threads
        share it.
    distributed : bool, default=False
        Train data-parallel, with :class:`~torch.nn.parallel.\
DistributedDataParallel`, on the ``torch.distributed`` process group that
        this process belongs to (started by ``torchrun``, ``accelerate
        launch``, Ray Train or SLURM, and initialised before :meth:`fit`; it is
        an error otherwise). Every process calls :meth:`fit` with its own
        shard of the rows, and all end with the same network, trained on the
        union of the shards: the classes are those of every shard, the
        weights start as rank 0's, each step averages the gradients of every
        rank's batch of ``batch_size`` rows (a step trains on ``world_size *
        batch_size`` rows), the L2 penalty counts every rank's samples, and the
        epoch's losses, validation scores (each rank holds out
        ``validation_fraction`` of its own rows) and learned distance are those
        of all the ranks together, so that training stops at the same epoch
        everywhere. Shards may differ in size (a rank with fewer batches runs
        batches of weight zero) and lack classes. After the fit, ``net_``
        holds the plain module: :meth:`predict` runs on the local process.
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
        :meth:`partial_fit` (the L2 penalty left out): the squared EMD, or with
        ``ce_weight_ > 0`` the weighted sum with cross-entropy; with
        ``ground_distance="learned"``, cross-entropy alone in the warm-up
        epochs, then that sum.
    loss_ : float
        Mean training loss of the last epoch.
    best_loss_ : float or None
        Lowest training loss, or None with ``early_stopping``.
    validation_scores_ : list of float or None
        With ``early_stopping``, the accuracy of each epoch on the validation
        data, as in ``MLPClassifier``, the classes chosen by ``decision`` (in
        the ensemble, each member scored on the rows it holds out); else None.
    best_validation_score_ : float or None
        The validation accuracy of the network kept (of its lowest validation
        loss), or None.
    validation_loss_curve_ : list of float or None
        With ``early_stopping``, the validation loss of each epoch (pooled over
        the members of the ensemble), which early stopping watches; else None.
    best_validation_loss_ : float or None
        The lowest validation loss, that of the network kept, or None.
    coefs_ : list of ndarray
        With a single default network (``n_estimators=1``, no embedding), the
        weight matrix of each layer, input layer first, of shape
        ``(n_in, n_out)`` as in ``MLPClassifier``: copies, so changing them does
        not change the network. The ensemble's weights are in ``net_.module_``.
    intercepts_ : list of ndarray
        With a single default network, the bias vector of each layer (copies).
    n_layers_ : int
        With a single default network, the number of layers, input and output
        included: ``len(hidden_layer_sizes) + 2``.
    n_outputs_ : int
        Number of outputs of the network: one logit per class, also for two
        classes (where ``MLPClassifier`` has a single logistic output), as the
        squared EMD compares distributions over all the classes.
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
        "activation": [Options({"identity", "logistic", "tanh", "relu"})],
        "ground_distance": [Options({"ordinal", "uniform", "learned"}), "array-like"],
        "warmup_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "distance_power": [Interval(numbers.Real, 0, None, closed="neither")],
        "distance_offset": [Interval(numbers.Real, 0, 1, closed="both")],
        "feature_layer": [str, None],
        "ce_weight": [
            Interval(numbers.Real, 0, None, closed="left"),
            Options({"auto"}),
        ],
        "emd_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "decision": [Options(set(DECISIONS))],
        "classes": ["array-like", None],
        "class_weight": [dict, Options({"balanced"}), None],
        "solver": [Options({"adam", "sgd"}), type],
        "solver_params": [dict, None],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [
            Options({"auto"}),
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "learning_rate": [Options({"constant", "invscaling", "adaptive"})],
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
        "n_estimators": [Interval(numbers.Integral, 1, None, closed="left")],
        "numeric_embedding": [Options({"piecewise_linear"}), None],
        "n_bins": [Interval(numbers.Integral, 2, None, closed="left")],
        "embedding_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "module": [None, torch.nn.Module, type],
        "module_params": [dict, None],
        "callbacks": [list, None],
        "device": [str, torch.device],
        "n_threads": [
            # torch keeps the count in a C int.
            Interval(numbers.Integral, 1, 2**31 - 1, closed="both"),
            Options({"auto"}),
            None,
        ],
        "distributed": ["boolean"],
        "precision": [Options({"float32", "bfloat16"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(64, 64),
        activation="relu",
        *,
        ground_distance="ordinal",
        ce_weight="auto",
        emd_weight=1.0,
        decision="median",
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
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=8,
        dropout=0.0,
        n_estimators=5,
        numeric_embedding="piecewise_linear",
        n_bins=24,
        embedding_dim=8,
        module=None,
        module_params=None,
        callbacks=None,
        device="auto",
        n_threads="auto",
        distributed=False,
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
        self.n_estimators = n_estimators
        self.numeric_embedding = numeric_embedding
        self.n_bins = n_bins
        self.embedding_dim = embedding_dim
        self.module = module
        self.module_params = module_params
        self.callbacks = callbacks
        self.device = device
        self.n_threads = n_threads
        self.distributed = distributed
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # ------------------------------------------------------------------ fit

    def fit(self, X, y, sample_weight=None):
        """Train the network.

        With ``warm_start=True`` and a fitted estimator, training continues from
        the current weights (and, with ``ground_distance="learned"``, from the
        current features, without another warm-up) for up to ``max_iter`` more
        epochs, with a fresh optimiser; ``n_iter_``, ``loss_curve_``,
        ``net_.history`` and the other records run on.

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
            with ``early_stopping``, the validation loss and score. Integer
            weights act as repetitions of the samples, exactly so when a batch
            holds all the data; with mini-batches each batch's loss is its
            weighted mean.

        Returns
        -------
        self : EMDClassifier
            The fitted estimator.
        """
        with torch_threads(self._thread_count()):
            return self._fit(X, y, sample_weight, incremental=False)

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
        each call's data. With ``ground_distance="learned"``, the distance is
        learned from the class sums of the features of every distinct chunk
        seen so far (a chunk that comes again replaces its own), so that after
        a pass through the chunks it describes all the data, not the last
        chunk; ``LearnedGroundDistance.forget_chunks`` (the net's
        ``"ground_distance"`` callback) starts afresh.

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
        with torch_threads(self._thread_count()):
            return self._fit(X, y, sample_weight, True, classes=classes)

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        validate_parameters(self)
        self._check_loss_weights()
        ranks = Ranks.of_fit(self.distributed)
        continuing = hasattr(self, "net_") and (incremental or self.warm_start)
        if not continuing and hasattr(self, "net_"):
            # Should this fit fail, the old network must not answer for it.
            del self.net_
        # Data-parallel, an error of one rank is raised on every rank.
        with ranks.together():
            X, y_index, weight, scale = self._training_data(
                X, y, sample_weight, continuing, incremental, classes, ranks
            )
            if not (incremental and continuing):
                # As scikit-learn's MLP: fit starts from random_state every
                # time, partial_fit draws the seeds of its calls from one
                # generator.
                self._random_state = check_random_state(self.random_state)
            seed = int(self._random_state.randint(np.iinfo(np.int32).max))
            if incremental and continuing:
                net = self._resume(X, weight, scale, ranks)
                train_set, valid = _splits.dataset(X, y_index, weight), None
                device = torch.device(net.device)
            else:
                net, device = None, ranks.device(resolve_device(self.device))
                train_set, valid = self._split(X, y_index, weight, incremental)
        before = len(self.net_.history) if continuing else 0
        with _build.random_source(seed, device, self.module is not None) as (cpu, gen):
            if net is None:
                with ranks.together():
                    net = self._new_net(X, train_set, valid, device, cpu, scale, ranks)
            if incremental:
                _learn_from_chunks(net)
            if ranks.distributed:
                # Each rank draws shuffles and dropout masks of its own.
                _build.reseed(gen, seed + ranks.rank)
            check = None
            if self.module is not None and not continuing:
                check = check_first_output(net.module_, len(self.classes_))
            _build.use_generator(net, gen)
            parallel = net.data_parallel(device) if ranks.distributed else None
            try:
                with parallel or contextlib.nullcontext():
                    train(net, train_set.to(device), epochs=1 if incremental else None)
            finally:
                _build.use_generator(net, None)
                if check is not None:
                    check.remove()
        # The validation data are not part of the model.
        net.train_split = None
        self.net_ = net
        self.ce_weight_ = self._ce_weight()
        self._record(net, before, incremental)
        return self

    def _thread_count(self) -> int | None:
        """torch threads for this estimator's work (None: leave torch's)."""
        if not isinstance(self.n_threads, str):
            # A count the table refuses is for fit's checks to name, not torch.
            counts = self._parameter_constraints["n_threads"][0]
            return self.n_threads if self.n_threads in counts else None
        device = str(self.device)
        on_gpu = device.startswith("cuda") or (
            device == "auto" and torch.cuda.is_available()
        )
        # The networks built here are small: one thread loses little on an idle
        # machine and is several times faster on one busy with other work.
        return 1 if self.module is None and not on_gpu else None

    def _check_loss_weights(self):
        if self._ce_weight() == 0 and self.emd_weight == 0:
            raise ValueError(
                "ce_weight and emd_weight are both 0: the loss would be 0 and "
                "nothing would be trained (ce_weight='auto' is 0 with "
                "ground_distance='ordinal'). For cross-entropy alone, set "
                "ce_weight=1 and emd_weight=0."
            )

    def _training_data(
        self, X, y, sample_weight, continuing, incremental, classes, ranks
    ):
        """Validated features, class positions, per-sample weights and their scale.

        Samples of weight zero are dropped (they take no place in a batch or in
        the validation split), and so are those whose weight, beside the
        largest, is zero in float32. The weights are divided by the largest (the
        scale), so that any finite weights train alike in float32, whatever
        their magnitude; the L2 penalty still counts their sum at its scale.
        Weights that are all equal become ``None``. Trained data-parallel, the
        classes are those of every rank's labels, and the scale is that of the
        largest weight of any rank.
        """
        categories = _labels.categories_of(y)
        dtype = getattr(y, "dtype", None)
        if not (isinstance(dtype, np.dtype) and dtype.kind != "O"):
            # Labels as objects, checked before numpy reads the list [1, "a"]
            # as the text "1" and "a", or scikit-learn finds a NaN unnamed.
            labels = np.asarray(y, dtype=object)
            if labels.ndim == 1:
                _labels.check_labels(labels)
        with naming_text_columns(X):
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
        y = _labels.check_labels(column_or_1d(y, warn=True))
        check_classification_targets(y)
        weight = _labels.check_sample_weight(sample_weight, X.shape[0])
        if continuing:
            _labels.check_same_classes(
                self.classes_, y, categories, classes, self.classes, incremental
            )
        else:
            given = _labels.given_classes(
                classes, self.classes, categories, incremental
            )
            labels = ranks.pooled_labels(y, given, categories, X.shape[1:])
            self.classes_, _ = _labels.training_classes(labels, categories, given)
        y_index = _labels.positions(y, self.classes_, order_name="classes_")
        weight = _labels.class_weighted(
            self.class_weight, self.classes_, y_index, weight, incremental, ranks
        )
        weight, top = _largest_weight(weight, X.shape[0], ranks)
        scale = 1.0
        if weight is not None:
            # A power of two, so that dividing is exact: the largest weight
            # comes into [1, 2) and ordinary weights train as they are.
            scale = float(np.ldexp(1.0, int(np.frexp(top)[1]) - 1))
            weight = (weight / scale).astype(np.float32)
            # Weights of zero, or too small beside the largest to be told from
            # zero in float32, count for nothing (and would leave a validation
            # part of total weight zero): their samples are left out.
            kept = weight > 0
            if not kept.all():
                X, y_index, weight = X[kept], y_index[kept], weight[kept]
            if (weight == 1).all():
                # The unweighted mean is the same loss, by a faster kernel.
                weight = None
        return X, y_index, weight, scale

    def _split(self, X, y_index, weight, incremental):
        """The training data, and the validation data when early stopping."""
        if self._ensemble() and not incremental:
            return _splits.member_split(
                X,
                y_index,
                weight,
                self.n_estimators,
                self.validation_fraction,
                self.early_stopping,
                self._random_state,
            )
        if not self.early_stopping or incremental:
            return _splits.dataset(X, y_index, weight), None
        return _splits.validation_split(
            X, y_index, weight, self.validation_fraction, self._random_state
        )

    def _new_net(self, X, train_set, valid, device, generator, scale, ranks):
        """A skorch net for a new fit (on a warm start, with the last weights).

        Data-parallel, a :class:`DataParallelNet` whose L2 penalty counts the
        samples of every rank.
        """
        n_classes = len(self.classes_)
        batch_size = self._batch_size_for(_splits.n_rows(train_set))
        _, loss_matrix = self._ground_distance(n_classes)
        net_class = DataParallelNet if ranks.distributed else EMDNet
        total = ranks.sum(_splits.total(train_set)) * scale
        net = net_class(
            module=self._build_module(X, n_classes, generator, ranks),
            criterion=SquaredEMDLoss,
            criterion__ground_distance=loss_matrix,
            criterion__ce_weight=self._ce_weight(),
            criterion__emd_weight=self.emd_weight,
            **self._optimizer_params(total, device),
            batch_size=batch_size,
            iterator_train__shuffle=self.shuffle,
            iterator_valid__batch_size=self._inference_batch_size(batch_size, X),
            max_epochs=self.max_iter,
            train_split=None if valid is None else _build.FixedSplit(valid.to(device)),
            callbacks=self._callbacks(valid is not None, ranks.distributed),
            callbacks__print_log=(
                PrintLog(keys_ignored=list(_NOT_PRINTED)) if self.verbose else None
            ),
            device=device,
            precision=self._effective_precision(device),
            verbose=self.verbose,
        )
        net.initialize()
        # The net predicts class indices: scorers in callbacks rank them.
        net.classes_ = np.arange(n_classes)
        if hasattr(self, "net_"):
            # A warm start: the last weights, and the records run on.
            self._load_weights(net)
            net.history = copy.deepcopy(self.net_.history)
        return net

    def _resume(self, X, weight, scale, ranks):
        """The fitted net, ready for another ``partial_fit`` call on this data."""
        net = self.net_
        if ranks.distributed and not isinstance(net, DataParallelNet):
            raise ValueError(
                "partial_fit with distributed=True goes on training the net of "
                "the first call, which was not trained data-parallel. Start "
                "from a new estimator (sklearn.base.clone) with distributed=True."
            )
        callbacks = dict(net.callbacks_)
        if callbacks["best"].monitor != "train_loss":
            # A net that fit validated: partial_fit does not.
            net.set_params(
                callbacks__best=BestWeights("train_loss").initialize(),
                callbacks__plateau=self._plateau("train_loss").initialize(),
            )
        net.set_params(batch_size=self._batch_size_for(X.shape[0]))
        total = X.shape[0] if weight is None else weight.sum(dtype=np.float64)
        net.set_weight_decay(self._decay(ranks.sum(float(total)) * scale))
        return net

    def _callbacks(self, validating: bool, distributed: bool = False) -> list:
        """The estimator's training callbacks, then the user's."""
        return _build.training_callbacks(self, validating, distributed) + (
            _build.checked_callbacks(self.callbacks, _OWN_CALLBACKS)
        )

    def _plateau(self, monitor):
        adaptive = self.solver == "sgd" and self.learning_rate == "adaptive"
        return PlateauStopping(monitor, self.tol, self.n_iter_no_change, adaptive)

    def _record(self, net, before, incremental):
        """The fitted attributes, read from the net's history."""
        history = net.history
        vars(self).update(history_records(history))
        self._record_ground_distance(history, incremental)
        plateau = dict(net.callbacks_)["plateau"]
        ran_out = len(history) - before == self.max_iter
        if not incremental and not plateau.converged_ and ran_out:
            warnings.warn(
                f"Maximum iterations ({self.max_iter}) reached and the optimization "
                "hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _record_ground_distance(self, history, incremental):
        n_classes = len(self.classes_)
        if not self._learned():
            self.ground_distance_history_ = None
            self.ground_distance_ = self._ground_distance(n_classes)[0]
            return
        self.ground_distance_history_ = [
            np.asarray(epoch["ground_distance"], dtype=np.float64)
            for epoch in history
            if "ground_distance" in epoch
        ]
        if self.ground_distance_history_:
            self.ground_distance_ = self.ground_distance_history_[-1]
            return
        if not incremental:
            warnings.warn(
                f"Training ended after {self.n_iter_} epochs, within the warm-up "
                f"of {self.warmup_epochs} epochs: no ground distance was learned "
                "and ground_distance_ is uniform. Raise max_iter.",
                UserWarning,
                stacklevel=5,
            )
        self.ground_distance_ = uniform_distance(n_classes)

    # ------------------------------------------------------ building blocks

    def _learned(self) -> bool:
        return isinstance(self.ground_distance, str) and (
            self.ground_distance == "learned"
        )

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

    def _ce_weight(self) -> float:
        """``ce_weight``, with ``"auto"`` resolved for the ground distance."""
        if not isinstance(self.ce_weight, str):
            return float(self.ce_weight)
        ordinal = (
            isinstance(self.ground_distance, str) and self.ground_distance == "ordinal"
        )
        return 0.0 if ordinal else 1.0

    def _ensemble(self) -> bool:
        """Whether the default network is the ensemble (else the plain MLP)."""
        return self.module is None and (
            self.n_estimators > 1 or self.numeric_embedding is not None
        )

    def _build_module(self, X, n_classes, generator, ranks):
        return _build.build_module(self, X, n_classes, generator, ranks)

    def _decay(self, total_weight) -> float:
        """The L2 penalty per unit of weight, ``alpha`` over the samples' total."""
        return _build.l2_penalty(self.alpha, total_weight)

    def _layer_sizes(self) -> tuple[int, ...]:
        return _build.layer_sizes(self.hidden_layer_sizes)

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
        return _build.optimizer_params(self, self._decay(n_samples), device)

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

    def _inference_batch_size(self, batch_size, X):
        """Rows a batch where nothing trains (validation, prediction, the learned
        distance's pass): up to ``_PREDICT_BATCH_SIZE``, fewer for wide inputs,
        so that the ensemble's copies of a batch, one a member, stay near
        ``_INFERENCE_VALUES`` numbers; never fewer than a training batch."""
        members = self.n_estimators if self._ensemble() else 1
        width = max(1, int(np.prod(X.shape[1:]))) * members
        return max(batch_size, min(_PREDICT_BATCH_SIZE, _INFERENCE_VALUES // width))

    def _batch_size_for(self, n_samples):
        if self.batch_size != "auto":
            return min(self.batch_size, n_samples)
        if not self._ensemble():
            return min(200, n_samples)
        # Larger data, larger batches (up to 1024): a step of the ensemble then
        # spends its time computing rather than in per-step overhead, and an
        # epoch still has at least 32 steps.
        return min(n_samples, max(200, min(1024, n_samples // 32)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = True
        return tags
