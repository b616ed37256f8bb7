"""Data-parallel fits for ``test_scaling.py``, one process per rank.

Run by the tests under torchrun, with the gloo backend on the CPU::

    python -m torch.distributed.run --nproc_per_node 2 tests/_ddp_script.py OUT

Each rank fits the estimator on its own shard in every scenario below and saves
what it learned to ``OUT/<scenario>-<rank>.pkl``, for the test to compare across
ranks and with a fit in one process. The data and settings of each scenario are
in :data:`SCENARIOS`, which the test imports to fit the same in one process.
"""

import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import torch.distributed as dist
from conftest import ordinal_problem

from skemd import EMDClassifier

# The single network (no ensemble, embedding or early stopping), whose steps a
# one-process fit on the ranks' batches together can repeat exactly.
SINGLE = dict(
    n_estimators=1, numeric_embedding=None, early_stopping=False, decision="argmax"
)
# Per-rank batches of 40 rows: 6 steps per epoch on shards of 240.
MATCH = dict(
    **SINGLE,
    hidden_layer_sizes=(16,),
    batch_size=40,
    shuffle=False,
    max_iter=3,
    ground_distance="learned",
    warmup_epochs=1,
    alpha=1e-3,
    learning_rate_init=0.01,
    random_state=0,
)
STOPPING = dict(
    n_estimators=1,
    numeric_embedding=None,
    decision="argmax",
    hidden_layer_sizes=(16,),
    ground_distance="learned",
    warmup_epochs=1,
    early_stopping=True,
    validation_fraction=0.2,
    n_iter_no_change=2,
    tol=1e-3,
    dropout=0.1,
    max_iter=60,
    batch_size=32,
    random_state=0,
)
UNEVEN = dict(
    hidden_layer_sizes=(16,),
    n_estimators=3,
    early_stopping=True,
    class_weight="balanced",
    max_iter=6,
    batch_size=32,
    random_state=0,
)
SCENARIOS = {"match": MATCH, "stopping": STOPPING, "uneven": UNEVEN}


def match_shards(rank):
    """Equal shards of 240 rows: the first and the second half of the data."""
    X, y = ordinal_problem(480, seed=1)
    rows = slice(240 * rank, 240 * (rank + 1))
    return X[rows], y[rows], None


def stopping_shards(rank):
    X, y = ordinal_problem(400, seed=2 + rank)
    return X, y, None


def uneven_shards(rank):
    """300 weighted rows on rank 0; 70 rows without class 3 on rank 1."""
    if rank == 0:
        X, y = ordinal_problem(300, seed=3)
        weight = np.random.default_rng(3).uniform(0.5, 4.0, size=len(y))
        return X, y, weight
    X, y = ordinal_problem(200, seed=4)
    kept = np.flatnonzero(y != 3)[:70]
    return X[kept], y[kept], None


SHARDS = {"match": match_shards, "stopping": stopping_shards, "uneven": uneven_shards}


def learned(clf, X):
    """What the test compares: the fit's records, weights and predictions."""
    return {
        "classes": clf.classes_,
        "loss_curve": clf.loss_curve_,
        "n_iter": clf.n_iter_,
        "t": clf.t_,
        "validation_scores": clf.validation_scores_,
        "distances": clf.ground_distance_history_,
        "weights": [p.detach().numpy().copy() for p in clf.net_.module_.parameters()],
        "proba": clf.predict_proba(X),
        "pickled": pickle.loads(pickle.dumps(clf)).predict(X),
    }


def in_chunks(rank):
    """Two passes of partial_fit over two chunks per rank, distance learned."""
    X, y, _ = stopping_shards(rank)
    clf = EMDClassifier(
        hidden_layer_sizes=(16,),
        ground_distance="learned",
        warmup_epochs=1,
        classes=[0, 1, 2, 3],
        random_state=0,
        distributed=True,
    )
    for _ in range(2):
        for rows in np.array_split(np.arange(len(y)), 2):
            clf.partial_fit(X[rows], y[rows])
    return clf


def failure(rank):
    """Rank 1 passes a NaN: both ranks must raise, neither wait."""
    X, y, _ = match_shards(rank)
    if rank == 1:
        X = X.copy()
        X[0, 0] = np.nan
    try:
        EMDClassifier(max_iter=2, distributed=True).fit(X, y)
    except Exception as error:
        return {"error": type(error).__name__, "message": str(error)}
    return {"error": None}


def main(out):
    warnings.simplefilter("ignore")
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    X_common, _ = ordinal_problem(100, seed=9)
    results = {}
    for name, params in SCENARIOS.items():
        X, y, weight = SHARDS[name](rank)
        clf = EMDClassifier(distributed=True, **params)
        results[name] = learned(clf.fit(X, y, sample_weight=weight), X_common)
    results["chunks"] = learned(in_chunks(rank), X_common)
    results["failure"] = failure(rank)
    for name, result in results.items():
        with open(Path(out) / f"{name}-{rank}.pkl", "wb") as file:
            pickle.dump(result, file)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
