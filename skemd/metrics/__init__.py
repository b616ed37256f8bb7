"""Metrics and scorers for ordinal classification.

Ordinal metrics need the order of the classes, which the labels alone do not always
give (``"low" < "mid" < "high"`` is not alphabetical). Every metric here therefore
takes a ``classes`` keyword: the labels in order, or a fitted estimator whose
``classes_`` give the order. Without it, the categories of a pandas ordered
``Categorical`` ``y_true`` (or ``y_pred``) are the order, as for
:class:`~skemd.EMDClassifier`, and otherwise the sorted distinct labels (the
probability metrics then need ``classes`` unless the categories are sorted,
since the columns of ``y_proba`` follow the estimator that made them). Sorted
text labels rarely follow their rank (``"high" < "low" < "mid"``), so that case
issues a :class:`~skemd.exceptions.ClassOrderWarning`; the scorers pass the
estimator's classes and never do. Labels are turned into ranks ``0 .. K-1`` in
that order and errors are counted in ranks. Pass ``classes`` whenever a class
may be missing from the data: with integer labels ``0`` and ``2`` and no ``1``,
the default order puts them one rank apart.

Label metrics, ``metric(y_true, y_pred, *, classes=None, sample_weight=None)``:

* :func:`mae`, :func:`amae`, :func:`mmae` -- mean absolute rank error, overall,
  averaged over the true classes, and for the worst true class (lower is better);
* :func:`qwk`, :func:`linear_weighted_kappa` -- weighted kappa with quadratic and
  linear weights (higher is better);
* :func:`off_by_one_accuracy` -- fraction of predictions at most one class away;
* :func:`spearman_rho`, :func:`kendall_tau_b` -- rank correlations between true
  and predicted classes (higher is better);
* :func:`minimum_sensitivity`, :func:`geometric_mean_sensitivity` -- the smallest
  and the geometric mean of the per-class recalls (higher is better).

Probability metrics, ``metric(y_true, y_proba, *, classes=None,
sample_weight=None)``, columns of ``y_proba`` in class order (lower is better):

* :func:`ranked_probability_score`;
* :func:`squared_emd_score`, the squared-EMD loss of
  :func:`skemd.losses.squared_emd_loss` on probabilities.

``sample_weight`` weighs the samples as scikit-learn's metrics do: the per-sample
quantity (rank error, hit within one class, ranked probability score, squared EMD)
is averaged with the weights; :func:`amae`, :func:`mmae` and the two sensitivity
metrics weigh the samples within each true class, a class whose samples all have
weight 0 counting as absent; the kappas count weights instead of samples in the
confusion matrix, as ``sklearn.metrics.cohen_kappa_score(..., sample_weight=...)``
does, and the rank correlations count a pair of samples by the product of their
weights. An integer weight counts like repeating the sample that many times,
and only the weights' ratios count: multiplying all of them by any positive
number, however large or small, gives the same scores. A sample of weight 0
still takes part in the default class order (and in checking the labels), so it
is the same as leaving the sample out only when ``classes`` is given.

Scorers for :class:`~sklearn.model_selection.GridSearchCV` and
:func:`~sklearn.model_selection.cross_validate` (greater is better; the class order
is taken from the estimator's ``classes_``): ``neg_mae_scorer``,
``neg_amae_scorer``, ``neg_mmae_scorer``, ``qwk_scorer``,
``linear_weighted_kappa_scorer``, ``off_by_one_accuracy_scorer``,
``spearman_rho_scorer``, ``kendall_tau_b_scorer``, ``minimum_sensitivity_scorer``,
``geometric_mean_sensitivity_scorer``, ``neg_ranked_probability_score_scorer`` and
``neg_squared_emd_score_scorer``, also available by name through :func:`get_scorer`
and :data:`SCORERS`. A scorer takes ``sample_weight`` as
``scorer(estimator, X, y, sample_weight=w)``. With scikit-learn's metadata routing
enabled, ``scorer.set_score_request(sample_weight=True)`` has
:func:`~sklearn.model_selection.cross_validate` and the searches pass each test
fold's weights to it; :func:`get_scorer` returns a new scorer on every call, so a
request set on it does not reach other users of the same scorer.
"""

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
from ._report import ordinal_report
from ._scorers import (
    SCORERS,
    geometric_mean_sensitivity_scorer,
    get_scorer,
    kendall_tau_b_scorer,
    linear_weighted_kappa_scorer,
    minimum_sensitivity_scorer,
    neg_amae_scorer,
    neg_mae_scorer,
    neg_mmae_scorer,
    neg_ranked_probability_score_scorer,
    neg_squared_emd_score_scorer,
    off_by_one_accuracy_scorer,
    qwk_scorer,
    spearman_rho_scorer,
)

__all__ = [
    "SCORERS",
    "amae",
    "geometric_mean_sensitivity",
    "geometric_mean_sensitivity_scorer",
    "get_scorer",
    "kendall_tau_b",
    "kendall_tau_b_scorer",
    "linear_weighted_kappa",
    "linear_weighted_kappa_scorer",
    "mae",
    "minimum_sensitivity",
    "minimum_sensitivity_scorer",
    "mmae",
    "neg_amae_scorer",
    "neg_mae_scorer",
    "neg_mmae_scorer",
    "neg_ranked_probability_score_scorer",
    "neg_squared_emd_score_scorer",
    "off_by_one_accuracy",
    "off_by_one_accuracy_scorer",
    "ordinal_report",
    "qwk",
    "qwk_scorer",
    "ranked_probability_score",
    "spearman_rho",
    "spearman_rho_scorer",
    "squared_emd_score",
]
