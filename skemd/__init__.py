"""skemd: ordinal classification with the exact squared Earth Mover's Distance loss.

The estimator :class:`EMDClassifier` and the losses are available here; the
submodules hold the rest:

- :mod:`skemd.losses`: the squared EMD loss in plain torch;
- :mod:`skemd.ground_distance`: ground distances between classes, learning one from
  features, and recovering a class order from one;
- :mod:`skemd.callbacks`: the skorch callback that learns the ground distance;
- :mod:`skemd.metrics`: ordinal metrics and scorers;
- :mod:`skemd.datasets`: bundled real ordinal datasets;
- :mod:`skemd.plotting`: figures (needs matplotlib);
- :mod:`skemd.exceptions`: the warnings skemd issues.

Importing ``skemd`` is quick: torch, skorch and scikit-learn are imported when a
name that needs them is first used.
"""

import importlib

__version__ = "0.1.0.dev0"

_SUBMODULES = (
    "callbacks",
    "datasets",
    "exceptions",
    "ground_distance",
    "losses",
    "metrics",
    "plotting",
)
# Public names defined in a submodule, and where.
_NAMES = {
    "EMDClassifier": "._classifier",
    "SquaredEMDLoss": ".losses",
    "squared_emd_loss": ".losses",
}

__all__ = [
    "EMDClassifier",
    "SquaredEMDLoss",
    "__version__",
    *_SUBMODULES,
    "squared_emd_loss",
]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
