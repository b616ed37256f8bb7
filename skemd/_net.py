"""The skorch net the estimator trains, and the default network.

Data that fit in memory are held as tensors and served as slices: a batch is an
index into tensors that already sit on the training device, so training never
collates samples one by one. Any other torch ``Dataset`` goes through skorch's
usual ``DataLoader`` path.
"""

from __future__ import annotations

import torch
from skorch import NeuralNet
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


class InMemoryDataset(torch.utils.data.Dataset):
    """Tensors ``X`` and, for training, class indices ``y`` of the same length."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor | None = None) -> None:
        self.X = X
        self.y = y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, index):
        return self.X[index], (self.y[index] if self.y is not None else None)

    def to(self, device) -> InMemoryDataset:
        return InMemoryDataset(
            self.X.to(device), None if self.y is None else self.y.to(device)
        )


class TensorBatches:
    """Iterate over an :class:`InMemoryDataset` in slices.

    With ``shuffle=True`` a new permutation is drawn on the data's device at the
    start of each pass, from torch's (forked, seeded) random number generator.
    """

    def __init__(self, dataset: InMemoryDataset, batch_size: int, shuffle: bool):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        X, y = self.dataset.X, self.dataset.y
        n_samples, size = len(X), self.batch_size
        if not self.shuffle:
            for start in range(0, n_samples, size):
                stop = start + size
                yield X[start:stop], (None if y is None else y[start:stop])
            return
        order = torch.randperm(n_samples, device=X.device)
        for start in range(0, n_samples, size):
            index = order[start : start + size]
            yield X[index], (None if y is None else y[index])


class EMDNet(NeuralNet):
    """skorch ``NeuralNet`` with in-memory batching and L2 on weights only.

    ``optimizer__weight_decay`` applies to parameters with two or more dimensions
    (weights); biases and normalisation parameters are not penalised, as in
    scikit-learn's MLP.
    """

    def get_iterator(self, dataset, training=False):
        if isinstance(dataset, InMemoryDataset):
            kwargs = self.get_params_for(
                "iterator_train" if training else "iterator_valid"
            )
            batch_size = kwargs.get("batch_size", self.batch_size)
            if batch_size == -1:
                batch_size = len(dataset)
            shuffle = bool(kwargs.get("shuffle", False)) and training
            return TensorBatches(dataset, batch_size, shuffle)
        return super().get_iterator(dataset, training=training)

    def get_params_for_optimizer(self, prefix, named_parameters):
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        groups = []
        for group in args[0]:
            params = group["params"]
            decayed = [p for p in params if p.dim() >= 2]
            plain = [p for p in params if p.dim() < 2]
            if decayed:
                groups.append({**group, "params": decayed})
            if plain:
                groups.append({**group, "params": plain, "weight_decay": 0.0})
        return (groups,), kwargs
