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
