"""
=====================================
Class weights, and training in chunks
=====================================

:class:`~skemd.EMDClassifier` takes ``class_weight`` (as scikit-learn's
``LogisticRegression`` and ``HistGradientBoostingClassifier`` do) and
``sample_weight`` in ``fit`` and ``partial_fit``, and ``partial_fit`` trains one
epoch per call, as ``MLPClassifier`` does. This example uses both on the LEV
data (lecturer evaluations, five ordered grades, few samples in the outer
grades).
"""

# %%
# Balanced weights
# ----------------
# A network trained on imbalanced grades predicts the common middle grades more
# often than they occur: the mean absolute error (MAE) is low, but the rare
# outer grades are predicted badly. Weights that make every grade count the
# same in the loss (``class_weight="balanced"``, the same as
# ``sample_weight=compute_sample_weight("balanced", y)``) move errors from the
# rare grades to the common ones. The average of the per-grade MAE (AMAE)
# falls; the MAE, dominated by the common grades, rises. Which one matters is
# a question of the application.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skemd import EMDClassifier
from skemd.datasets import load_lev
from skemd.metrics import amae, mae

X, y = load_lev(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

plain = EMDClassifier(random_state=0).fit(X_train, y_train)
balanced = EMDClassifier(class_weight="balanced", random_state=0).fit(X_train, y_train)

grades = plain.classes_
rank = {grade: index for index, grade in enumerate(grades)}
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
for offset, name, clf in [(-0.2, "no weights", plain), (0.2, "balanced", balanced)]:
    pred = clf.predict(X_test)
    errors = np.abs(np.vectorize(rank.get)(pred) - np.vectorize(rank.get)(y_test))
    per_grade = [errors[y_test == grade].mean() for grade in grades]
    print(
        f"{name:>10}: MAE {mae(y_test, pred, classes=clf):.3f}, "
        f"AMAE {amae(y_test, pred, classes=clf):.3f}"
    )
    ax.bar(np.arange(len(grades)) + offset, per_grade, width=0.4, label=name)
ax.set_xticks(range(len(grades)), [str(g) for g in grades])
ax.set_xlabel(
    "true grade (test samples: "
    + ", ".join(str((y_test == g).sum()) for g in grades)
    + ")"
)
ax.set_ylabel("mean absolute error, in grades")
ax.legend()
plt.show()

# %%
# Training in chunks
# ------------------
# ``partial_fit`` runs one epoch over the data it is given and keeps the
# network and the optimiser's state between calls, so data that arrive in
# chunks (or do not fit in memory) can be trained on chunk by chunk. The first
# call needs every class, in order, since a chunk may lack some. Here each pass
# goes over the training data in four chunks, and the test MAE is recorded
# after every pass.
chunked = EMDClassifier(random_state=0)
chunks = np.array_split(np.random.default_rng(0).permutation(len(y_train)), 4)
test_mae = []
for _ in range(40):
    for rows in chunks:
        chunked.partial_fit(X_train[rows], y_train[rows], classes=grades)
    test_mae.append(mae(y_test, chunked.predict(X_test), classes=chunked))

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.plot(np.arange(1, 41), test_mae, label="partial_fit, 4 chunks per pass")
ax.axhline(
    mae(y_test, plain.predict(X_test), classes=plain),
    color="grey",
    linestyle="--",
    label=f"fit ({plain.n_iter_} epochs)",
)
ax.set_xlabel("passes over the training data")
ax.set_ylabel("test MAE")
ax.legend()
plt.show()
print(f"{chunked.n_iter_} partial_fit calls; last test MAE {test_mae[-1]:.3f}")
