"""The networks the estimator builds: torch modules and their seeding.

Every random draw of these modules (weight initialisation, dropout masks) comes
from a :class:`torch.Generator` the estimator hands them, never from torch's
global random state, so that fits running at the same time in one process (in
threads) are independent and reproducible.
"""

from __future__ import annotations

import math

import torch
from torch import nn

_ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


def seeded_linear(n_in: int, n_out: int, generator: torch.Generator | None):
    """A ``torch.nn.Linear`` initialised as torch does, from ``generator``.

    The layer is made without drawing from the global random state
    (:func:`torch.nn.utils.skip_init`), then given torch's default
    initialisation: Kaiming-uniform weights with ``a = sqrt(5)`` and biases
    uniform in ``+-1/sqrt(n_in)``.
    """
    layer = nn.utils.skip_init(nn.Linear, n_in, n_out)
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    bound = 1 / math.sqrt(n_in) if n_in > 0 else 0.0
    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


class SeededDropout(nn.Module):
    """Dropout whose masks come from ``generator`` when one is set.

    The same masks as :func:`torch.nn.functional.dropout` drawing from a global
    state seeded alike. With ``generator=None`` it is that function.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return X
        if self.generator is None:
            return nn.functional.dropout(X, self.p, training=True)
        keep = torch.empty_like(X).bernoulli_(1 - self.p, generator=self.generator)
        return X * keep.div_(1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def set_generator(module: nn.Module, generator: torch.Generator | None) -> None:
    """Give every :class:`SeededDropout` of ``module`` the ``generator``."""
    for layer in module.modules():
        if isinstance(layer, SeededDropout):
            layer.generator = generator


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
    generator : torch.Generator, default=None
        Where the initial weights are drawn from; ``None`` takes torch's global
        random state.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        hidden_layer_sizes: tuple[int, ...] = (100,),
        activation: str = "relu",
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden_layer_sizes:
            layers.append(seeded_linear(width, size, generator))
            layers.append(_ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(SeededDropout(dropout))
            width = size
        self.hidden = nn.Sequential(*layers)
        self.output = seeded_linear(width, n_classes, generator)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.output(self.hidden(X))


def check_first_output(module, n_classes):
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


class BatchedLinear(nn.Module):
    """``n_members`` independent linear layers, applied to a batch at once.

    Takes ``(n_members, n_samples, n_in)`` and gives ``(n_members, n_samples,
    n_out)``: one batched matrix product instead of one product per member.
    Each member is initialised as ``torch.nn.Linear`` initialises itself
    (weights and biases uniform in ``+-1/sqrt(n_in)``).
    """

    def __init__(self, n_members: int, n_in: int, n_out: int, generator=None):
        super().__init__()
        bound = 1 / math.sqrt(n_in) if n_in > 0 else 0.0
        self.weight = nn.Parameter(torch.empty(n_members, n_in, n_out))
        self.bias = nn.Parameter(torch.empty(n_members, 1, n_out))
        nn.init.uniform_(self.weight, -bound, bound, generator=generator)
        nn.init.uniform_(self.bias, -bound, bound, generator=generator)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, X, self.weight)

    def extra_repr(self) -> str:
        members, n_in, n_out = self.weight.shape
        return f"n_members={members}, n_in={n_in}, n_out={n_out}"


def dense_columns(X):
    """Each column of ``X`` in turn, as a float64 array.

    A SciPy sparse matrix's columns are made dense one at a time, straight from
    its compressed-column arrays, so that a wide sparse ``X`` is never dense as
    a whole; sparse and dense ``X`` give the same columns to the last bit.
    """
    import numpy as np
    import scipy.sparse

    if not scipy.sparse.issparse(X):
        X = np.asarray(X).reshape(X.shape[0], -1)
        for j in range(X.shape[1]):
            yield X[:, j].astype(np.float64)
        return
    columns = scipy.sparse.csc_matrix(X, copy=True)
    columns.sum_duplicates()
    for j in range(columns.shape[1]):
        start, end = columns.indptr[j], columns.indptr[j + 1]
        column = np.zeros(columns.shape[0], dtype=columns.dtype)
        column[columns.indices[start:end]] = columns.data[start:end]
        yield column.astype(np.float64)


def quantile_bins(X, n_bins: int) -> list:
    """Bin edges of each column of ``X`` at its quantiles, repeated edges merged.

    A column with fewer than three distinct values (constant or binary) gets no
    bins: its linear term says all there is. ``X`` may be a SciPy sparse matrix
    (one column is made dense at a time).
    """
    import numpy as np

    quantiles = np.linspace(0.0, 1.0, n_bins + 1)
    edges = []
    for column in dense_columns(X):
        feature_edges = np.unique(np.quantile(column, quantiles))
        distinct = np.unique(column).size if feature_edges.size <= 3 else 3
        edges.append(feature_edges if distinct >= 3 else None)
    return edges


class PiecewiseLinearEmbedding(nn.Module):
    """Piecewise-linear encoding of numeric features, then a small layer each.

    A feature ``x`` with bin edges ``b_0 < ... < b_T`` (training quantiles) is
    encoded as ``T`` numbers: bin ``t`` gives 0 below ``b_{t-1}``, 1 above
    ``b_t`` and rises linearly in between; the first bin is not clipped below
    and the last not above, so values outside the training range still count
    (Gorishniy, Rubachev & Babenko, "On embeddings for numerical features in
    tabular deep learning", NeurIPS 2022). Each feature's encoding then goes
    through its own linear layer and a ReLU to ``embedding_dim`` numbers, one
    set of weights per ensemble member.

    Parameters
    ----------
    edges : list of ndarray
        Bin edges of each embedded feature (at least two each).
    n_members : int
        Ensemble members, each with its own weights.
    embedding_dim : int
        Size of each feature's embedding.
    generator : torch.Generator, default=None
        Where the initial weights are drawn from.
    """

    def __init__(self, edges, n_members: int, embedding_dim: int, generator=None):
        super().__init__()
        n_features = len(edges)
        n_bins = max(len(e) - 1 for e in edges)
        # Bin t of a feature is clamp((x - left) / width, low, high): 0 to 1 in
        # general, open below for the first bin and above for the last, and
        # 0 to 0 (always 0) for the padding of features with fewer bins.
        shift = torch.zeros(n_features, n_bins)
        inverse_width = torch.zeros(n_features, n_bins)
        low = torch.zeros(n_features, n_bins)
        high = torch.zeros(n_features, n_bins)
        for j, feature_edges in enumerate(edges):
            edge = torch.as_tensor(feature_edges, dtype=torch.float64)
            count = len(edge) - 1
            inverse = 1.0 / (edge[1:] - edge[:-1]).clamp_min(1e-12)
            inverse_width[j, :count] = inverse.float()
            shift[j, :count] = (-edge[:-1] * inverse).float()
            high[j, :count] = 1.0
            low[j, 0] = -math.inf
            high[j, count - 1] = math.inf
        self.register_buffer("shift", shift)
        self.register_buffer("inverse_width", inverse_width)
        self.register_buffer("low", low)
        self.register_buffer("high", high)
        bound = 1 / math.sqrt(n_bins)
        self.weight = nn.Parameter(
            torch.empty(n_members, n_features, n_bins, embedding_dim)
        )
        self.bias = nn.Parameter(torch.empty(n_members, 1, n_features, embedding_dim))
        nn.init.uniform_(self.weight, -bound, bound, generator=generator)
        nn.init.uniform_(self.bias, -bound, bound, generator=generator)

    def encode(self, X: torch.Tensor) -> torch.Tensor:
        """The piecewise-linear encoding: one more dimension, ``n_bins`` long."""
        position = torch.addcmul(self.shift, X.unsqueeze(-1), self.inverse_width)
        return torch.clamp(position, self.low, self.high)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(n_members, n_samples, n_features * embedding_dim)`` of
        the features ``X`` of shape ``(n_members, n_samples, n_features)``."""
        encoded = self.encode(X)
        embedded = torch.einsum("kbnt,kntd->kbnd", encoded, self.weight) + self.bias
        return torch.relu(embedded).flatten(2)


class EnsembleMLP(nn.Module):
    """``n_members`` fully connected networks trained side by side.

    Each member has its own weights; all of them run on every batch as one set
    of batched matrix products. The input is standardised with the training
    statistics given (and clipped, so that outliers stay bounded); with
    ``bins``, the numeric features also get a piecewise-linear embedding
    (:class:`PiecewiseLinearEmbedding`) next to their standardised value.

    The output has shape ``(n_samples, n_classes, n_members)``: one set of
    logits per member, the members in the last dimension, as the positions of
    :func:`~skemd.losses.squared_emd_loss`. The submodule ``features`` passes
    on each member's last hidden layer, ``(n_samples, n_members, width)``, for
    :class:`~skemd.callbacks.LearnedGroundDistance`.

    Parameters
    ----------
    n_features, n_classes : int
        Width of the input and number of classes.
    hidden_layer_sizes : tuple of int
        Width of each hidden layer of every member.
    n_members : int, default=1
        Number of networks.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Activation after each hidden layer.
    dropout : float, default=0.0
        Dropout probability after each hidden activation.
    mean, scale : array-like of shape (n_features,), default=None
        Standardisation of the input (``(X - mean) / scale``); none if None.
    bins : list of (ndarray or None), default=None
        Bin edges of each input feature for the embedding; None for a feature
        (or for all) leaves it without one.
    embedding_dim : int, default=16
        Size of each feature's embedding.
    clip : float, default=5.0
        Standardised inputs are clipped to ``[-clip, clip]``.
    generator : torch.Generator, default=None
        Where the initial weights are drawn from.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        hidden_layer_sizes: tuple[int, ...] = (100,),
        n_members: int = 1,
        activation: str = "relu",
        dropout: float = 0.0,
        mean=None,
        scale=None,
        bins=None,
        embedding_dim: int = 16,
        clip: float = 5.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_members = n_members
        self.clip = clip
        mean = torch.zeros(n_features) if mean is None else torch.as_tensor(mean)
        scale = torch.ones(n_features) if scale is None else torch.as_tensor(scale)
        self.register_buffer("mean", mean.float())
        self.register_buffer("scale", scale.float())
        embedded = [j for j, edges in enumerate(bins or []) if edges is not None]
        self.register_buffer("embedded", torch.as_tensor(embedded, dtype=torch.long))
        width = n_features
        self.embedding = None
        if embedded:
            self.embedding = PiecewiseLinearEmbedding(
                [bins[j] for j in embedded], n_members, embedding_dim, generator
            )
            width += len(embedded) * embedding_dim
        layers: list[nn.Module] = []
        for size in hidden_layer_sizes:
            layers.append(BatchedLinear(n_members, width, size, generator))
            layers.append(_ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(SeededDropout(dropout))
            width = size
        self.hidden = nn.Sequential(*layers)
        self.features = nn.Identity()
        self.output = BatchedLinear(n_members, width, n_classes, generator)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Logits ``(n_samples, n_classes, n_members)``.

        ``X`` of shape ``(n_samples, n_features)`` goes through every member;
        ``(n_samples, n_members, n_features)`` gives each member rows of its own
        (``X[:, m]`` for member ``m``).
        """
        if X.dim() == 2:
            X = X.unsqueeze(0).expand(self.n_members, -1, -1)
        else:
            X = X.transpose(0, 1)
        inputs = ((X - self.mean) / self.scale).clamp(-self.clip, self.clip)
        if self.embedding is not None:
            embedded = self.embedding(X.index_select(2, self.embedded))
            inputs = torch.cat([inputs, embedded], dim=2)
        hidden = self.features(self.hidden(inputs).transpose(0, 1))
        return self.output(hidden.transpose(0, 1)).permute(1, 2, 0)

    def member_state(self, member: int) -> dict:
        """Copies of the weights of one member."""
        return {
            name: value[member].detach().clone()
            for name, value in self.named_parameters()
        }

    def load_member_state(self, member: int, state: dict) -> None:
        """Give one member the weights of :meth:`member_state`."""
        with torch.no_grad():
            for name, value in self.named_parameters():
                value[member].copy_(state[name])
