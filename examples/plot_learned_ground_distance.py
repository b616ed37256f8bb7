"""
==========================================================
Learning the ground distance, and the class order from it
==========================================================

When the classes come with no known relation, :class:`~skemd.EMDClassifier` can
learn the ground distance between them from the network's own features, as Hou,
Yu & Samaras propose: ``ground_distance="learned"`` trains with cross-entropy for
a few warm-up epochs, then, after every epoch, measures how far apart the class
centroids of the penultimate-layer features lie and uses that distance in the
loss.

Here we hide the order of an ordinal dataset and check what the learned distance
found. The ERA data rate how willing people would be to hire an applicant, from
1 to 9. We replace the ratings by letters assigned at random, so that neither the
labels nor their alphabetical order say anything about the scale.
"""

# %%
# Hide the order of the classes
# -----------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skemd import EMDClassifier
from skemd.datasets import load_era
from skemd.ground_distance import seriate
from skemd.plotting import plot_ground_distance

era = load_era()
rng = np.random.default_rng(0)
letters = rng.permutation(list("ABCDEFGHI"))
letter_of = dict(zip(era.classes, letters, strict=True))
rating_of = {letter: rating for rating, letter in letter_of.items()}
y = np.array([letter_of[rating] for rating in era.target])
print("rating:", " ".join(str(rating) for rating in era.classes))
print("letter:", " ".join(letter_of[rating] for rating in era.classes))

# %%
# Learn the distance while training
# ---------------------------------
# With a learned distance the default ``ce_weight="auto"`` keeps cross-entropy
# in the loss after the warm-up (weight 1), the combination the paper trains
# with; it is written out here. ``distance_power`` and ``distance_offset``
# are the paper's :math:`\omega` and :math:`\mu`. With ``early_stopping`` (the
# default) each of the five networks of the ensemble holds out its own fifth
# of the data and stops once its loss there no longer improves; the distance
# is learned from the features of all five, on every row.
model = make_pipeline(
    StandardScaler(),
    EMDClassifier(
        hidden_layer_sizes=(64,),
        ground_distance="learned",
        warmup_epochs=4,
        distance_power=1.0,
        distance_offset=0.5,
        ce_weight=1.0,
        learning_rate_init=0.01,
        early_stopping=True,
        random_state=0,
    ),
)
model.fit(era.data, y)
clf = model[-1]
print("classes_ as the estimator sees them:", clf.classes_)
print("epochs:", clf.n_iter_, "- distances learned:", len(clf.ground_distance_history_))

# %%
# The learned distance, and the order it implies
# ----------------------------------------------
# In alphabetical order the learned distance ``ground_distance_`` looks like
# noise. :func:`~skemd.ground_distance.seriate` finds the order of the classes in
# which near classes sit next to each other; rearranged in that order, the same
# matrix is a clean band: small next to the diagonal, growing away from it, the
# signature of classes on a line.
order = seriate(clf.ground_distance_)
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
plot_ground_distance(clf, ax=left, fmt=".1f", colorbar=False, title="Alphabetical")
plot_ground_distance(
    clf.ground_distance_[np.ix_(order, order)],
    classes=clf.classes_[order],
    ax=right,
    fmt=".1f",
    title="Order recovered by seriate",
)
plt.show()

# %%
# Compare the recovered order with the hidden ratings. An order and its reverse
# are equally good answers: a distance says which classes are neighbours, not
# which end of the scale is "low".
recovered = seriate(clf.ground_distance_, classes=clf.classes_)
print("recovered order:", " ".join(recovered))
print("their ratings:  ", " ".join(str(rating_of[letter]) for letter in recovered))

# %%
# How the distance grows with the rating gap
# ------------------------------------------
# Each pair of classes is one point: its learned distance against how far apart
# the hidden ratings are. The distance is learned from ranks, so it is no ruler,
# but it rises steadily with the gap.
ratings = np.array([rating_of[letter] for letter in clf.classes_])
i, j = np.triu_indices(len(ratings), k=1)
gap = np.abs(ratings[i] - ratings[j])
fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
ax.scatter(gap, clf.ground_distance_[i, j], alpha=0.7)
ax.set_xlabel("Gap between the hidden ratings")
ax.set_ylabel("Learned distance")
plt.show()
