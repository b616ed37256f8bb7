"""
=============================================
Choosing the loss by cross-validation on MAE
=============================================

:class:`~skemd.EMDClassifier` is a scikit-learn estimator, so its loss settings
are hyper-parameters like any other, and
:class:`~sklearn.model_selection.GridSearchCV` can choose them. What it should
optimise is an ordinal score: here the mean absolute error between true and
predicted classes, through :data:`skemd.metrics.neg_mae_scorer` (scorers are
greater-is-better, hence the minus sign), with the quadratic weighted kappa
recorded alongside.

The grid crosses

* ``ground_distance``: ``"ordinal"`` (a mistake costs its distance in classes)
  or ``"uniform"`` (every mistake costs the same);
* ``ce_weight``: no cross-entropy, or as much cross-entropy as squared EMD;
* ``decision``: predict the most probable class (``"argmax"``) or the median of
  the predicted distribution (``"median"``), which minimises the expected
  absolute error.
"""

# %%
# The search
# ----------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skemd import EMDClassifier
from skemd.datasets import load_lev
from skemd.metrics import mae, neg_mae_scorer, qwk, qwk_scorer

X, y = load_lev(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

pipeline = make_pipeline(
    StandardScaler(),
    EMDClassifier(
        hidden_layer_sizes=(32,),
        learning_rate_init=0.01,
        early_stopping=True,
        n_iter_no_change=5,
        random_state=0,
    ),
)
param_grid = {
    "emdclassifier__ground_distance": ["ordinal", "uniform"],
    "emdclassifier__ce_weight": [0.0, 1.0],
    "emdclassifier__decision": ["argmax", "median"],
}
search = GridSearchCV(
    pipeline,
    param_grid,
    scoring={"neg_mae": neg_mae_scorer, "qwk": qwk_scorer},
    refit="neg_mae",
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
)
search.fit(X_train, y_train)
print("best settings:", search.best_params_)

# %%
# Every combination
# -----------------
results = pd.DataFrame(search.cv_results_)
table = pd.DataFrame(
    {
        "ground_distance": results["param_emdclassifier__ground_distance"],
        "ce_weight": results["param_emdclassifier__ce_weight"],
        "decision": results["param_emdclassifier__decision"],
        "MAE": -results["mean_test_neg_mae"],
        "MAE std": results["std_test_neg_mae"],
        "QWK": results["mean_test_qwk"],
    }
).sort_values("MAE")
print(table.round(3).to_string(index=False))

# %%
# Side by side, with the spread over the folds as error bars:
labels = [
    f"{row.ground_distance}\nce={row.ce_weight:g}\n{row.decision}"
    for row in table.itertuples()
]
fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
ax.errorbar(
    np.arange(len(table)), table["MAE"], yerr=table["MAE std"], fmt="o", capsize=4
)
ax.set_xticks(np.arange(len(table)), labels=labels, fontsize=8)
ax.set_ylabel("Cross-validated MAE (lower is better)")
ax.set_title("Loss settings ranked by cross-validated MAE")
plt.show()

# %%
# On a thousand samples the differences between the settings are smaller than
# their spread over the folds: any of the first few would do, and a larger data
# set (or repeated cross-validation) is needed to tell them apart. The search is
# still the right way to decide, because it measures what the application pays
# for, here the absolute error in classes.

# %%
# The chosen model on held-out data
# ---------------------------------
# ``GridSearchCV`` refitted the best combination on all the training data.
y_pred = search.predict(X_test)
print(f"test MAE {mae(y_test, y_pred):.3f}, test QWK {qwk(y_test, y_pred):.3f}")
