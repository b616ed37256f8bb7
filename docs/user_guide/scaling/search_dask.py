"""A grid search whose fits run in the worker processes of a Dask cluster.

``LocalCluster`` starts the workers on this machine; give ``Client`` the
address of a running scheduler (``Client("tcp://scheduler:8786")``) to use a
cluster of machines instead. Run as a script: the workers are new processes, so
the code that starts them sits under ``if __name__ == "__main__":``.
"""

import joblib
import numpy as np
from distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV

from skemd import EMDClassifier


def grid_search(estimator, param_grid, X, y, n_workers=2, **options):
    """``GridSearchCV(estimator, param_grid, **options)`` fitted on Dask."""
    # One process per core, one thread each: the default n_threads="auto"
    # trains each fit on one torch thread, so the workers do not compete.
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True)
    with cluster, Client(cluster), joblib.parallel_backend("dask"):
        search = GridSearchCV(estimator, param_grid, n_jobs=-1, **options)
        return search.fit(X, y)


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 10)).astype(np.float32)
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-1.0, 0.0, 1.0])
    grid = {
        "ground_distance": ["ordinal", "uniform"],
        "ce_weight": [0.0, 1.0],
        "decision": ["argmax", "median"],
    }
    search = grid_search(EMDClassifier(random_state=0), grid, X, y)
    print(search.best_params_, search.best_score_)
