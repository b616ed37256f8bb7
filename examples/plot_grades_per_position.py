"""
===================================================
A grade at every position: sequences in plain torch
===================================================

Some ordinal targets come one per position rather than one per sample: a
severity grade for every time step of a recording, every pixel of a scan or
every token of a text. :func:`~skemd.losses.squared_emd_loss` takes these as
:func:`torch.nn.functional.cross_entropy` does: logits of shape ``(N, K, T)``
(or ``(N, K, H, W)``) and class indices of shape ``(N, T)``. Positions without
a label are marked with a value passed as ``ignore_index`` and take no part in
the loss or its gradient.

Here a small 1-D convolutional network reads a noisy signal and grades each
time step from 0 to 4 by the level of the signal underneath the noise. A fifth
of the time steps have no label. The same network is trained once with the
squared EMD and once with cross-entropy, from the same initial weights.
"""

# %%
# Signals and grades
# ------------------
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from skemd.losses import squared_emd_loss
from skemd.metrics import mae, off_by_one_accuracy

IGNORE = -100
N_GRADES, LENGTH = 5, 64
rng = np.random.default_rng(0)


def make_sequences(n):
    """Noisy signals; grades 0..4 by the level of the smooth signal beneath."""
    t = np.linspace(0, 1, LENGTH)
    frequencies = rng.uniform(1.0, 4.0, size=(n, 3, 1))
    phases = rng.uniform(0, 2 * np.pi, size=(n, 3, 1))
    smooth = np.sin(2 * np.pi * frequencies * t + phases).sum(axis=1) / 1.7
    grades = np.digitize(smooth, [-0.9, -0.3, 0.3, 0.9])
    noisy = smooth + rng.normal(scale=0.6, size=smooth.shape)
    return noisy.astype(np.float32)[:, None, :], grades, smooth


X_train, y_train, _ = make_sequences(600)
X_test, y_test, smooth_test = make_sequences(200)
# A fifth of the training positions are unlabelled.
y_train = np.where(rng.random(y_train.shape) < 0.2, IGNORE, y_train)
print("training:", X_train.shape, "labelled positions:", (y_train != IGNORE).sum())

# %%
# One network, two losses
# -----------------------
# The network keeps the length of the sequence: its output has shape
# ``(N, 5, 64)``, a distribution over the grades at each time step.


def make_network():
    return nn.Sequential(
        nn.Conv1d(1, 24, kernel_size=9, padding=4),
        nn.ReLU(),
        nn.Conv1d(24, 24, kernel_size=9, padding=4),
        nn.ReLU(),
        nn.Conv1d(24, N_GRADES, kernel_size=1),
    )


def train(loss_fn, epochs=20, batch_size=64):
    torch.manual_seed(0)  # the same initial weights and batches for both losses
    network = make_network()
    optimizer = torch.optim.Adam(network.parameters(), lr=3e-3)
    X, y = torch.from_numpy(X_train), torch.from_numpy(y_train)
    for _ in range(epochs):
        for batch in torch.randperm(len(X)).split(batch_size):
            optimizer.zero_grad()
            loss = loss_fn(network(X[batch]), y[batch], ignore_index=IGNORE)
            loss.backward()
            optimizer.step()
    return network


networks = {
    "squared EMD": train(squared_emd_loss),
    "cross-entropy": train(F.cross_entropy),
}

# %%
# Grades on new sequences
# -----------------------
# Every position of the test sequences is labelled. The errors are counted in
# grades over all of them.

predicted = {}
for name, network in networks.items():
    with torch.no_grad():
        logits = network(torch.from_numpy(X_test))
    predicted[name] = logits.argmax(dim=1).numpy()
    print(
        f"{name:>14}: MAE {mae(y_test.ravel(), predicted[name].ravel()):.3f}, "
        f"accuracy {np.mean(y_test == predicted[name]):.3f}, off by at most one "
        f"{off_by_one_accuracy(y_test.ravel(), predicted[name].ravel()):.3f}"
    )

# %%
# Both losses do about equally well here: the noise on the signal, not the
# loss, limits how well a grade can be read, and nearly every miss is to a
# neighbouring grade for both. What the example shows is the interface:
# per-position logits and targets, and unlabelled positions left out with
# ``ignore_index``, exactly as with cross-entropy, so one loss can replace the
# other in an existing training loop.
#
# One test sequence: the signal the network reads, the level beneath it, and
# the grades.

fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 5))
top.plot(X_test[0, 0], color="0.6", label="noisy signal (input)")
top.plot(smooth_test[0], color="black", label="level beneath")
top.legend(loc="upper right", fontsize=8)
bottom.step(range(LENGTH), y_test[0], where="mid", color="black", label="true")
for (name, grades), style in zip(predicted.items(), ["--", ":"], strict=True):
    bottom.step(range(LENGTH), grades[0], where="mid", linestyle=style, label=name)
bottom.set_yticks(range(N_GRADES))
bottom.set_ylabel("grade")
bottom.set_xlabel("time step")
bottom.legend(loc="upper right", fontsize=8)
fig.tight_layout()
plt.show()
