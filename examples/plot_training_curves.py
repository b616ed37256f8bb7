"""
===============================
Training curves, early stopping
===============================

A fitted :class:`~skemd.EMDClassifier` keeps the mean training loss of every
epoch in ``loss_curve_``, as scikit-learn's ``MLPClassifier`` does. With
``early_stopping=True`` it holds out ``validation_fraction`` of the training data,
records minus the loss on it in ``validation_scores_``, stops once that has not
improved by ``tol`` for ``n_iter_no_change`` epochs, and keeps the network of the
best epoch. :func:`~skemd.plotting.plot_training_curves` draws both, and marks
the kept epoch, from the history of the estimator's skorch net,
``net_.history``: one row per epoch with its ``train_loss``, ``valid_loss`` and
``valid_loss_best``.
"""

# %%
# A fixed ground distance
# -----------------------
import matplotlib.pyplot as plt
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skemd import EMDClassifier
from skemd.datasets import load_swd
from skemd.plotting import plot_training_curves

X, y = load_swd(return_X_y=True)

ordinal = make_pipeline(
    StandardScaler(),
    EMDClassifier(
        hidden_layer_sizes=(64,),
        learning_rate_init=0.01,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=10,
        random_state=0,
    ),
).fit(X, y)
clf = ordinal[-1]
print(f"{clf.n_iter_} epochs; best validation score {clf.best_validation_score_:.4f}")

# %%
# The training loss keeps falling while the validation loss levels off after a
# few epochs: from then on the network mostly fits the noise of its training
# data. Training stops once the validation loss has not improved by ``tol`` for
# ``n_iter_no_change`` epochs; the dot marks the epoch of the lowest validation
# loss, whose network the estimator kept.
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
plot_training_curves(ordinal, ax=ax, title='ground_distance="ordinal"')
plt.show()

# %%
# A learned ground distance
# -------------------------
# With ``ground_distance="learned"`` the first ``warmup_epochs`` epochs train
# with cross-entropy alone, a loss on another scale; the history flags them in
# its ``warmup`` column and the plot shades them. Both the plateau rule and the
# choice of the best epoch only look at the epochs after them. The jump at the
# end of the warm-up is the squared-EMD term joining the loss.
learned = make_pipeline(
    StandardScaler(),
    EMDClassifier(
        hidden_layer_sizes=(64,),
        ground_distance="learned",
        warmup_epochs=5,
        ce_weight=1.0,
        learning_rate_init=0.01,
        early_stopping=True,
        validation_fraction=0.2,
        random_state=0,
    ),
).fit(X, y)

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
plot_training_curves(learned, ax=ax, title='ground_distance="learned"')
plt.show()
