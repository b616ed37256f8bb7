"""
===============================
Training curves, early stopping
===============================

A fitted :class:`~skemd.EMDClassifier` keeps the mean training loss of every
epoch in ``loss_curve_``, as scikit-learn's ``MLPClassifier`` does. With
``early_stopping=True`` (the default) each of the five networks of its ensemble
holds out its own fold of the training data (a ``validation_fraction`` of it),
is watched on the loss there, and keeps the weights of its own best epoch;
training stops once none of them has improved by ``tol`` for more than
``n_iter_no_change`` epochs. The validation loss of every epoch, pooled over
the members' folds, is in ``validation_loss_curve_``, and the validation
accuracy in ``validation_scores_``. :func:`~skemd.plotting.plot_training_curves`
draws both losses, and marks the epochs the members were kept from, from the
history of the estimator's skorch net, ``net_.history``: one row per epoch with
its ``train_loss``, ``valid_loss``, each member's ``valid_member_loss`` and
``member_best``.
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
print(
    f"{clf.n_iter_} epochs; lowest validation loss {clf.best_validation_loss_:.4f}, "
    f"validation accuracy there {clf.best_validation_score_:.3f}"
)

# %%
# The training loss (the mean over the members) keeps falling while the
# validation loss levels off after a few epochs: from then on the networks
# mostly fit the noise of their training rows. Each member is stopped on its
# own fold, and training ends once none has improved for more than
# ``n_iter_no_change`` epochs; the dots mark the epochs the members' weights
# were kept from, on the pooled validation curve.
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
plot_training_curves(ordinal, ax=ax, title='ground_distance="ordinal"')
plt.show()

# %%
# A learned ground distance
# -------------------------
# With ``ground_distance="learned"`` the first ``warmup_epochs`` epochs train
# with cross-entropy alone, a loss on another scale; the history flags them in
# its ``warmup`` column and the plot shades them. Both the plateau rule and the
# choice of each member's best epoch only look at the epochs after them. The
# jump at the end of the warm-up is the squared-EMD term joining the loss.
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
