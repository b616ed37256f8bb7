"""skemd: ordinal classification with the exact squared Earth Mover's Distance loss.

The estimator :class:`EMDClassifier` and the losses are available here; the
submodules hold the rest:

- :mod:`skemd.losses`: the squared EMD loss in plain torch;
- :mod:`skemd.ground_distance`: ground distances between classes, learning one from
  features, and recovering a class order from one;
- :mod:`skemd.callbacks`: the skorch callback that learns the ground distance;
- :mod:`skemd.metrics`: ordinal metrics and scorers;
- :mod:`skemd.datasets`: bundled real ordinal datasets;
- :mod:`skemd.plotting`: figures (needs matplotlib).
"""

from . import callbacks, datasets, ground_distance, losses, metrics, plotting
from ._classifier import EMDClassifier
from .losses import SquaredEMDLoss, squared_emd_loss

__version__ = "0.1.0.dev0"

__all__ = [
    "EMDClassifier",
    "SquaredEMDLoss",
    "__version__",
    "callbacks",
    "datasets",
    "ground_distance",
    "losses",
    "metrics",
    "plotting",
    "squared_emd_loss",
]
