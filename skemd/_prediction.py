"""Prediction, and the fitted attributes that MLPClassifier also has.

:class:`PredictionMixin` holds what a fitted :class:`~skemd.EMDClassifier`
answers: class probabilities (an ensemble's members averaged), the class chosen
by its ``decision`` rule, and ``coefs_``, ``intercepts_``, ``n_layers_``,
``n_outputs_`` and ``out_activation_`` as in scikit-learn's ``MLPClassifier``.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted, validate_data

from ._data import InMemoryDataset, as_rows
from ._decision import decide
from ._inputs import naming_text_columns
from ._modules import MLP, EnsembleMLP
from ._training import torch_threads


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities in float64; an ensemble's members averaged."""
    proba = torch.softmax(logits.double(), dim=1)
    return proba if proba.dim() == 2 else proba.mean(dim=2)


class PredictionMixin:
    """Predictions and MLPClassifier's fitted attributes, from ``net_``."""

    def __sklearn_is_fitted__(self) -> bool:
        # The network, not classes_: a fit that failed leaves classes_ set.
        return hasattr(self, "net_")

    def _logits(self, X) -> torch.Tensor:
        check_is_fitted(self)
        with naming_text_columns(X):
            X = validate_data(
                self,
                X,
                accept_sparse="csr",
                dtype=np.float32,
                allow_nd=self.module is not None,
                reset=False,
            )
        with torch_threads(self._thread_count()):
            logits = self.net_.forward(InMemoryDataset(as_rows(X)))
        # -inf masks a class (probability 0); NaN, +inf or a row masked whole
        # have no distribution (for any member of an ensemble).
        finite = ~(
            torch.isnan(logits).any(dim=1)
            | (logits == torch.inf).any(dim=1)
            | (logits == -torch.inf).all(dim=1)
        )
        if finite.dim() > 1:
            finite = finite.all(dim=1)
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
        return probabilities(self._logits(X)).numpy()

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
        logits = self._logits(X)
        if logits.dim() == 2:
            return torch.log_softmax(logits.double(), dim=1).numpy()
        with np.errstate(divide="ignore"):
            return np.log(probabilities(logits).numpy())

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
        if isinstance(module, EnsembleMLP):
            raise AttributeError(
                f"{attribute} describes a single network; this EMDClassifier "
                f"averages {module.n_members} members (n_estimators) and embeds "
                "its inputs: read their weights from net_.module_."
            )
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
