"""Training on a Dask array larger than memory, one chunk at a time.

dask-ml's ``Incremental`` hands each chunk (block of rows) to ``partial_fit``:
one epoch over the chunk per call, the chunks in a new random order at each
pass. Only one chunk is in memory at a time.
"""

import dask.array as da
import numpy as np
from dask_ml.wrappers import Incremental

from skemd import EMDClassifier
from skemd.metrics import get_scorer


def train(X, y, classes, n_passes=1, **params):
    """An ``EMDClassifier`` trained on the Dask arrays ``X`` and ``y``."""
    # Every class, in order: a chunk may lack some of them.
    clf = EMDClassifier(classes=classes, **params)
    incremental = Incremental(clf, shuffle_blocks=True, random_state=0)
    for _ in range(n_passes):
        incremental.partial_fit(X, y)
    return incremental


def mean_absolute_error(incremental, X, y):
    """The MAE of the ranks on Dask arrays, predicted chunk by chunk."""
    # Call the scorer itself: Incremental.score would treat it as a metric.
    return -get_scorer("neg_mae")(incremental, X, y)


if __name__ == "__main__":
    rng = da.random.default_rng(0)
    X = rng.normal(size=(2_000_000, 20), chunks=(200_000, 20)).astype(np.float32)
    y = da.digitize(X[:, 0] + 0.5 * X[:, 1], np.array([-1.0, 0.0, 1.0]))
    incremental = train(X, y, classes=[0, 1, 2, 3], n_passes=2, batch_size=500)
    print(mean_absolute_error(incremental, X[:200_000], y[:200_000]))
