"""A grid search whose fits run as tasks on Ray.

``ray.init()`` starts Ray on this machine, or joins the cluster that
``RAY_ADDRESS`` (or ``ray.init(address=...)``) names.
"""

import joblib
import numpy as np
import ray
from ray.util.joblib import register_ray
from sklearn.model_selection import GridSearchCV

from skemd import EMDClassifier


def grid_search(estimator, param_grid, X, y, n_workers=2, **options):
    """``GridSearchCV(estimator, param_grid, **options)`` fitted on Ray."""
    ray.init(num_cpus=n_workers, include_dashboard=False)
    try:
        register_ray()
        with joblib.parallel_backend("ray"):
            search = GridSearchCV(estimator, param_grid, n_jobs=-1, **options)
            return search.fit(X, y)
    finally:
        ray.shutdown()


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
