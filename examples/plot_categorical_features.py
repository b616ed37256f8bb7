"""
===================================================
Categorical features: one-hot, sparse, or in order
===================================================

The car evaluation data rates 1 728 cars ``unacc < acc < good < vgood`` from six
categorical attributes: buying price, maintenance cost, doors, persons, boot
size and safety. A network needs numbers, so the attributes are encoded first.

:class:`~sklearn.preprocessing.OneHotEncoder` gives one column per category, as
a sparse matrix; :class:`~skemd.EMDClassifier` takes it as it is, keeping it
compressed and making its rows dense a batch at a time. Most of these
attributes are ordered themselves (``low < med < high < vhigh``), so an
:class:`~sklearn.preprocessing.OrdinalEncoder` given those orders is the other
natural choice: one column per attribute, its categories ranked.
"""

# %%
# The data
# --------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from skemd import EMDClassifier
from skemd.datasets import load_car
from skemd.metrics import mae, qwk
from skemd.plotting import plot_confusion_matrix

car = load_car(as_frame=True)
X, y = car.data, car.target
print(X.head())
print("classes, lowest first:", list(car.classes))

X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)

# %%
# One-hot: a sparse matrix
# ------------------------
# 21 categories in all; each row has six ones.
one_hot = OneHotEncoder()
encoded = one_hot.fit_transform(X_train)
print(
    f"{type(encoded).__name__}, shape {encoded.shape}, "
    f"{encoded.nnz / np.prod(encoded.shape):.0%} of the entries stored"
)

network = dict(early_stopping=True, random_state=0, classes=car.classes)
sparse_model = make_pipeline(OneHotEncoder(), EMDClassifier(**network))
sparse_model.fit(X_train, y_train)

# %%
# In order: one ranked column per attribute
# -----------------------------------------
# The categories of each attribute, lowest first.
orders = [
    ["low", "med", "high", "vhigh"],  # buying
    ["low", "med", "high", "vhigh"],  # maint
    ["2", "3", "4", "5more"],  # doors
    ["2", "4", "more"],  # persons
    ["small", "med", "big"],  # lug_boot
    ["low", "med", "high"],  # safety
]
ranked_model = make_pipeline(
    OrdinalEncoder(categories=orders), StandardScaler(), EMDClassifier(**network)
)
ranked_model.fit(X_train, y_train)

# %%
# Test scores and confusion matrices
# ----------------------------------
models = {"one-hot (sparse)": sparse_model, "ranked categories": ranked_model}
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
for ax, (name, model) in zip(axes, models.items(), strict=True):
    y_pred = model.predict(X_test)
    print(
        f"{name:18}  MAE {mae(y_test, y_pred, classes=model):.3f}  "
        f"QWK {qwk(y_test, y_pred, classes=model):.3f}  "
        f"epochs {model[-1].n_iter_}"
    )
    plot_confusion_matrix(y_test, y_pred, classes=model, ax=ax, title=name)
plt.show()

# %%
# Both encodings feed the same network. One-hot lets the network treat every
# category on its own, at the price of more inputs; ranking uses the order of
# the attributes, with fewer inputs, and starts from the assumption that each
# step up an attribute pushes the same way. On this split one-hot does better:
# the ratings follow rules (a car with low safety, or for two persons, is
# unacceptable whatever else it offers) that single categories express
# directly. On your own data, compare encodings with cross-validation and an
# ordinal scorer such as :data:`skemd.metrics.neg_mae_scorer`.
