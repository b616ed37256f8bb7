"""skemd: ordinal classification with the exact squared Earth Mover's Distance loss."""

from ._classifier import EMDClassifier
from .losses import SquaredEMDLoss, squared_emd_loss

__version__ = "0.1.0.dev0"

__all__ = ["EMDClassifier", "SquaredEMDLoss", "squared_emd_loss", "__version__"]
