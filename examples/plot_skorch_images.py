"""
===========================================
The loss in a plain skorch net, on images
===========================================

The squared EMD loss does not need :class:`~skemd.EMDClassifier`:
:class:`~skemd.losses.SquaredEMDLoss` is an ordinary :class:`torch.nn.Module`,
and skorch takes it as ``criterion``. This example trains a small convolutional
network with it through skorch's own ``NeuralNetClassifier``.

The images are scikit-learn's 8x8 handwritten digits, which ship with
scikit-learn (nothing is downloaded). We give them an ordinal target of our own:
how much ink each digit uses, in five levels from "very light" to "very heavy".
Mistaking "very light" for "light" is a small error; mistaking it for "very
heavy" is a large one, which is what the squared EMD charges for.
"""

# %%
# Images and an ordinal target
# ----------------------------
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring
from skorch.dataset import ValidSplit
from torch import nn

from skemd import EMDClassifier
from skemd.losses import SquaredEMDLoss
from skemd.metrics import mae, neg_mae_scorer, off_by_one_accuracy
from skemd.plotting import plot_confusion_matrix, plot_training_curves

digits = load_digits()
X = (digits.images / 16.0).astype(np.float32)[:, None]  # (n, channels, 8, 8)
ink = X.sum(axis=(1, 2, 3))
levels = ["very light", "light", "medium", "heavy", "very heavy"]
y = np.digitize(ink, np.quantile(ink, [0.2, 0.4, 0.6, 0.8])).astype(np.int64)

X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
print("images:", X_train.shape, "classes:", np.bincount(y_train))

# %%
# A small convolutional network
# -----------------------------
# The module returns one logit per class; the loss applies the softmax itself.


class SmallCNN(nn.Module):
    def __init__(self, n_classes=5, width=16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Sequential(
            nn.Linear(2 * width * 2 * 2, 32), nn.ReLU(), nn.Linear(32, n_classes)
        )

    def forward(self, X):
        return self.head(self.features(X))


# %%
# Train it with skorch
# --------------------
# Two settings matter when the criterion is not skorch's cross-entropy:
#
# * ``criterion=SquaredEMDLoss``, with its parameters set through skorch's
#   ``criterion__`` prefix (here a little cross-entropy mixed in);
# * ``predict_nonlinearity``: skorch applies a softmax in ``predict_proba`` only
#   for its own cross-entropy criteria, so we give it one.
torch.manual_seed(0)
net = NeuralNetClassifier(
    SmallCNN,
    module__n_classes=len(levels),
    criterion=SquaredEMDLoss,
    criterion__ce_weight=0.1,
    optimizer=torch.optim.Adam,
    lr=0.005,
    max_epochs=20,
    batch_size=64,
    train_split=ValidSplit(0.2, stratified=True, random_state=0),
    predict_nonlinearity=nn.Softmax(dim=-1),
    verbose=0,
)
net.fit(X_train, y_train)
y_pred = net.predict(X_test)
print(
    f"skorch net: MAE {mae(y_test, y_pred):.3f}, accuracy "
    f"{np.mean(y_pred == y_test):.3f}, off by at most one "
    f"{off_by_one_accuracy(y_test, y_pred):.3f}"
)

# %%
# :func:`~skemd.plotting.plot_training_curves` reads a skorch net's history as
# well as an estimator's ``loss_curve_``; the confusion matrix shows the errors
# staying next to the diagonal.
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
plot_training_curves(net, ax=left, title="skorch NeuralNetClassifier")
plot_confusion_matrix(y_test, y_pred, classes=range(len(levels)), ax=right)
right.set_xticks(range(len(levels)), labels=levels, rotation=30)
right.set_yticks(range(len(levels)), labels=levels)
plt.show()

# %%
# Predicted distributions
# -----------------------
# A network trained with the squared EMD spreads its probability over
# neighbouring levels when it hesitates, rather than over arbitrary ones.
proba = net.predict_proba(X_test[:6])
fig, axes = plt.subplots(2, 6, figsize=(11, 4), layout="constrained")
for k in range(6):
    axes[0, k].imshow(X_test[k, 0], cmap="gray_r")
    axes[0, k].set_axis_off()
    axes[0, k].set_title(levels[y_test[k]], fontsize=9)
    axes[1, k].bar(range(len(levels)), proba[k])
    axes[1, k].set_ylim(0, 1)
    axes[1, k].set_xticks(range(len(levels)))
axes[1, 0].set_ylabel("probability")
fig.supxlabel("predicted level (0 = very light, 4 = very heavy)")
plt.show()

# %%
# The same network as a scikit-learn estimator
# --------------------------------------------
# :class:`~skemd.EMDClassifier` trains any module given as ``module=`` (a class
# is built with ``module_params``), and then takes images of any shape as ``X``.
# It brings the scikit-learn side: ``classes_``, ``random_state``,
# ``early_stopping``, the ``decision`` rule, cloning and grid searches, and keeps
# the skorch side: any torch optimiser as ``solver`` and skorch callbacks, here
# a score of the validation part after every epoch.
clf = EMDClassifier(
    module=SmallCNN,
    module_params={"n_classes": len(levels)},
    ce_weight=0.1,
    solver=torch.optim.AdamW,
    solver_params={"weight_decay": 0.01},
    learning_rate_init=0.005,
    batch_size=64,
    early_stopping=True,
    callbacks=[EpochScoring(neg_mae_scorer, name="valid_neg_mae")],
    decision="median",
    random_state=0,
).fit(X_train, y_train)
print(f"EMDClassifier: MAE {mae(y_test, clf.predict(X_test)):.3f}")
valid_mae = [-score for score in clf.net_.history[:, "valid_neg_mae"]]
print(f"validation MAE (argmax), epochs 1-5: {np.round(valid_mae[:5], 3)}")
print(f"best epoch {np.argmin(valid_mae) + 1} of {clf.n_iter_}: {min(valid_mae):.3f}")
