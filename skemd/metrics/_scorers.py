"""Scorers: the ordinal metrics of a fitted estimator, in its own class order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn import get_config
from sklearn.utils.metadata_routing import UNCHANGED, MetadataRequest

from ._labels_metrics import (
    amae,
    geometric_mean_sensitivity,
    kendall_tau_b,
    linear_weighted_kappa,
    mae,
    minimum_sensitivity,
    mmae,
    off_by_one_accuracy,
    qwk,
    spearman_rho,
)
from ._probability import ranked_probability_score, squared_emd_score


class _OrdinalScorer:
    """Score a fitted estimator with an ordinal metric, in its own class order.

    The scorer takes part in scikit-learn's metadata routing as a consumer of
    ``sample_weight`` in ``score``, like scikit-learn's own scorers: by default
    the weights are not requested (routing them raises an error), and
    :meth:`set_score_request` requests them.

    Parameters
    ----------
    metric : callable
        ``metric(y_true, y_pred_or_proba, *, classes, sample_weight)``.
    sign : {1, -1}
        ``-1`` for metrics where lower is better, so the score is greater-better.
    response_method : {"predict", "predict_proba"}
        The estimator method whose output the metric takes.
    """

    def __init__(
        self, metric: Callable[..., float], sign: int, response_method: str
    ) -> None:
        self._metric = metric
        self._sign = sign
        self._response_method = response_method
        # The routing request for sample_weight: None (not set: an error if
        # routed), True, False or an alias.
        self._sample_weight_request: bool | str | None = None

    def __call__(
        self,
        estimator: Any,
        X: ArrayLike,
        y_true: ArrayLike | None = None,
        *,
        sample_weight: ArrayLike | None = None,
        compute: bool | None = None,
    ) -> float:
        """Score ``estimator`` on ``X`` against ``y_true``; greater is better.

        Parameters
        ----------
        estimator : fitted estimator
            Its ``classes_`` give the class order.
        X : array-like of shape (n_samples, n_features)
            Test data, passed to the estimator's ``predict`` or
            ``predict_proba``.
        y_true : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples, passed on to the metric.
        compute : bool, default=None
            Set only by dask-ml: its ``Incremental.score`` (and
            ``ParallelPostFit.score``) on Dask collections calls a scorer as a
            metric, ``scorer(y_true, y_pred, compute=...)``. The labels are then
            scored with the class order of their sorted values; scorers of
            probabilities cannot be called so.

        Returns
        -------
        score : float
        """
        if compute is not None:
            return self._score_labels(estimator, X, sample_weight)
        response = getattr(estimator, self._response_method)(X)
        return self._sign * self._metric(
            y_true, response, classes=estimator, sample_weight=sample_weight
        )

    def _score_labels(self, y_true, y_pred, sample_weight) -> float:
        """The metric of true and predicted labels, as dask-ml passes them."""
        if self._response_method != "predict":
            raise TypeError(
                f"{self!r} scores predicted probabilities, but dask-ml's "
                "Incremental.score passes predicted labels. Call the scorer "
                "itself instead: scorer(incremental, X, y)."
            )
        return self._sign * self._metric(
            np.asarray(y_true), np.asarray(y_pred), sample_weight=sample_weight
        )

    def set_score_request(
        self, *, sample_weight: bool | str | None = UNCHANGED
    ) -> _OrdinalScorer:
        """Request ``sample_weight`` from scikit-learn's metadata routing.

        Available only when metadata routing is enabled
        (``sklearn.set_config(enable_metadata_routing=True)`` or inside
        ``sklearn.config_context(enable_metadata_routing=True)``). The scorer is
        changed in place: use one from :func:`get_scorer`, which is a new object
        each time, to keep the request to yourself.

        Parameters
        ----------
        sample_weight : bool, str or None, default=UNCHANGED
            ``True``: pass ``sample_weight`` to the scorer; ``False``: do not;
            ``None``: raise an error if it is passed; a string: pass the
            metadata of that name as ``sample_weight``;
            ``sklearn.utils.metadata_routing.UNCHANGED``: keep the request as it
            is.

        Returns
        -------
        self : object
            The scorer itself.
        """
        if not get_config().get("enable_metadata_routing", False):
            raise RuntimeError(
                "set_score_request is only available when metadata routing is "
                "enabled; enable it with sklearn.set_config("
                "enable_metadata_routing=True) or inside sklearn.config_context("
                "enable_metadata_routing=True)."
            )
        if sample_weight is not UNCHANGED:
            # Let scikit-learn check the value before it is kept.
            MetadataRequest(owner=self).score.add_request(
                param="sample_weight", alias=sample_weight
            )
            self._sample_weight_request = sample_weight
        return self

    def get_metadata_routing(self) -> MetadataRequest:
        """The scorer's metadata request: ``sample_weight`` in ``score``.

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRequest
        """
        request = MetadataRequest(owner=self)
        request.score.add_request(
            param="sample_weight", alias=self._sample_weight_request
        )
        return request

    def _routing_repr(self) -> str:
        # How scikit-learn's routing errors name the scorer.
        return repr(self)

    def _accept_sample_weight(self) -> bool:
        # Without metadata routing, scikit-learn's searches ask each scorer this
        # before passing fit's sample_weight on to it.
        return True

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._metric.__name__}, sign={self._sign}, "
            f"response_method={self._response_method!r})"
        )


neg_mae_scorer = _OrdinalScorer(mae, -1, "predict")
neg_amae_scorer = _OrdinalScorer(amae, -1, "predict")
neg_mmae_scorer = _OrdinalScorer(mmae, -1, "predict")
qwk_scorer = _OrdinalScorer(qwk, 1, "predict")
linear_weighted_kappa_scorer = _OrdinalScorer(linear_weighted_kappa, 1, "predict")
off_by_one_accuracy_scorer = _OrdinalScorer(off_by_one_accuracy, 1, "predict")
spearman_rho_scorer = _OrdinalScorer(spearman_rho, 1, "predict")
kendall_tau_b_scorer = _OrdinalScorer(kendall_tau_b, 1, "predict")
minimum_sensitivity_scorer = _OrdinalScorer(minimum_sensitivity, 1, "predict")
geometric_mean_sensitivity_scorer = _OrdinalScorer(
    geometric_mean_sensitivity, 1, "predict"
)
neg_ranked_probability_score_scorer = _OrdinalScorer(
    ranked_probability_score, -1, "predict_proba"
)
neg_squared_emd_score_scorer = _OrdinalScorer(squared_emd_score, -1, "predict_proba")

SCORERS: dict[str, _OrdinalScorer] = {
    "neg_mae": neg_mae_scorer,
    "neg_amae": neg_amae_scorer,
    "neg_mmae": neg_mmae_scorer,
    "qwk": qwk_scorer,
    "linear_weighted_kappa": linear_weighted_kappa_scorer,
    "off_by_one_accuracy": off_by_one_accuracy_scorer,
    "spearman_rho": spearman_rho_scorer,
    "kendall_tau_b": kendall_tau_b_scorer,
    "minimum_sensitivity": minimum_sensitivity_scorer,
    "geometric_mean_sensitivity": geometric_mean_sensitivity_scorer,
    "neg_ranked_probability_score": neg_ranked_probability_score_scorer,
    "neg_squared_emd_score": neg_squared_emd_score_scorer,
}


def get_scorer(name: str) -> _OrdinalScorer:
    """Ordinal scorer by name.

    A scorer is called as ``scorer(estimator, X, y, sample_weight=None)``,
    returns a number where greater is better, and ranks the labels in the order
    of the fitted estimator's ``classes_``. It can be passed as ``scoring=`` to
    :class:`~sklearn.model_selection.GridSearchCV` or
    :func:`~sklearn.model_selection.cross_validate`, alone or as a value of a
    dict of scorers.

    Each call returns a new scorer, as ``sklearn.metrics.get_scorer`` does, so
    ``get_scorer(name).set_score_request(sample_weight=True)`` (with metadata
    routing enabled) changes that scorer only, not the one in :data:`SCORERS`.

    Parameters
    ----------
    name : str
        One of ``"neg_mae"``, ``"neg_amae"``, ``"neg_mmae"``, ``"qwk"``,
        ``"linear_weighted_kappa"``, ``"off_by_one_accuracy"``,
        ``"spearman_rho"``, ``"kendall_tau_b"``, ``"minimum_sensitivity"``,
        ``"geometric_mean_sensitivity"``,
        ``"neg_ranked_probability_score"`` and ``"neg_squared_emd_score"`` (the
        keys of :data:`SCORERS`).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, *, sample_weight=None) -> float``, with
        ``set_score_request`` for metadata routing.

    Raises
    ------
    ValueError
        If ``name`` is not one of the names above.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> from skemd.metrics import get_scorer
    >>> X, y = [[0], [0], [0], [0]], [0, 1, 1, 2]
    >>> clf = DummyClassifier(strategy="constant", constant=0).fit(X, y)
    >>> scorer = get_scorer("neg_mae")
    >>> scorer(clf, X, y)
    -1.0
    """
    try:
        shared = SCORERS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"{name!r} is not an ordinal scorer; valid names are "
            f"{sorted(SCORERS)}. scikit-learn's own scorers are available from "
            "sklearn.metrics.get_scorer."
        ) from None
    return _OrdinalScorer(shared._metric, shared._sign, shared._response_method)
