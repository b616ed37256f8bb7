"""Scaling out: parallel searches, fits in threads, chunked and data-parallel fits.

The tests of optional engines (Dask, dask-ml, Ray) are skipped where they are
not installed. Those that start worker processes are marked ``slow``.
"""

import builtins
import importlib.util
import os
import pickle
import socket
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from conftest import fast_classifier, ordinal_problem
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from torch import nn

from skemd import EMDClassifier
from skemd.ground_distance import learned_distance
from skemd.metrics import get_scorer

# Short fits: the warning that max_iter ran out is expected.
pytestmark = pytest.mark.usefixtures("quiet_convergence")

TESTS = Path(__file__).resolve().parent
# The scripts that the Scaling out guide shows.
RECIPES = TESTS.parent / "docs" / "user_guide" / "scaling"


def _recipe(name):
    spec = importlib.util.spec_from_file_location(name, RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------ fits in threads


class _DropoutNet(nn.Module):
    """A user's module: its initialisation and dropout draw from torch's
    global random state."""

    def __init__(self, n_features=3, n_classes=4):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, 16), nn.ReLU(), nn.Dropout(0.2))
        self.head = nn.Linear(16, n_classes)

    def forward(self, X):
        return self.head(self.body(X))


THREADED = {
    "default": dict(dropout=0.2),
    "ensemble": dict(n_estimators=3, dropout=0.2),
    "user_module": dict(module=_DropoutNet),
}


def _fit_at_once(params, X, y, n_fits=2):
    """``n_fits`` fits of the same estimator, started together in threads."""
    start = threading.Barrier(n_fits)
    probas, errors = [None] * n_fits, []

    def fit(index):
        clf = fast_classifier(**params)
        start.wait()
        try:
            probas[index] = clf.fit(X, y).predict_proba(X)
        except Exception as error:  # reported in the main thread
            errors.append(error)

    threads = [threading.Thread(target=fit, args=(i,)) for i in range(n_fits)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return probas


@pytest.mark.parametrize("network", list(THREADED))
def test_fits_in_threads_equal_a_lone_fit_and_leave_global_rng(network):
    X, y = ordinal_problem(200)
    params = THREADED[network]
    lone = fast_classifier(**params).fit(X, y).predict_proba(X)
    state = torch.random.get_rng_state()
    for proba in _fit_at_once(params, X, y):
        np.testing.assert_array_equal(proba, lone)
    assert torch.equal(torch.random.get_rng_state(), state)


# ------------------------------------------------------------- printing


def test_verbose_zero_prints_nothing_when_print_is_replaced(monkeypatch, capsys):
    # Ray's workers replace builtins.print; skorch's PrintLog, which prints
    # whatever verbose says once its sink is not builtins.print, must not exist.
    original = builtins.print
    monkeypatch.setattr(builtins, "print", lambda *a, **k: original(*a, **k))
    X, y = ordinal_problem(100)
    fast_classifier(max_iter=3, verbose=0).fit(X, y)
    assert capsys.readouterr().out == ""
    fast_classifier(max_iter=3, verbose=1).fit(X, y)
    assert "train_loss" in capsys.readouterr().out


# ------------------------------------------------- searches on joblib backends

GRID = {
    "ground_distance": ["ordinal", "uniform"],
    "ce_weight": [0.0, 1.0],
    "decision": ["argmax", "median"],
}


def _search(n_jobs=None, recipe=None):
    X, y = ordinal_problem(150)
    # Short fits (also in the module-scoped fixture, where the function-scoped
    # quiet_convergence does not reach): the warning that max_iter ran out.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if recipe is not None:
            return recipe.grid_search(fast_classifier(max_iter=8), GRID, X, y, cv=2)
        search = GridSearchCV(fast_classifier(max_iter=8), GRID, cv=2, n_jobs=n_jobs)
        return search.fit(X, y)


@pytest.fixture(scope="module")
def serial_search():
    return _search()


def _assert_same_search(search, serial):
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_array_equal(search.cv_results_[key], serial.cv_results_[key])
    assert search.best_params_ == serial.best_params_


@pytest.mark.slow
def test_grid_search_on_loky_equals_serial(serial_search):
    with joblib.parallel_backend("loky"):
        search = _search(n_jobs=2)
    _assert_same_search(search, serial_search)


@pytest.mark.slow
def test_grid_search_on_dask_worker_processes_equals_serial(serial_search):
    pytest.importorskip("distributed", reason="needs skemd[dask]")
    search = _search(recipe=_recipe("search_dask"))
    _assert_same_search(search, serial_search)


@pytest.mark.slow
def test_grid_search_on_ray_equals_serial(serial_search, monkeypatch):
    pytest.importorskip("ray", reason="needs skemd[ray]")
    # Ray's tqdm support replaces builtins.print for good: put it back after.
    monkeypatch.setattr(builtins, "print", builtins.print)
    search = _search(recipe=_recipe("search_ray"))
    _assert_same_search(search, serial_search)


# --------------------------------------------------------- out-of-core data


def _lazy_problem(n_samples, n_chunks, seed):
    """A lazy Dask array of 20 features and 4 ordered classes, and its labels."""
    da = pytest.importorskip("dask.array", reason="needs skemd[dask]")
    rng = da.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 20), chunks=(n_samples // n_chunks, 20))
    X = X.astype(np.float32)
    latent = X[:, 0] + 0.5 * X[:, 1]
    return X, da.digitize(latent, np.array([-1.0, 0.0, 1.0]))


def _incremental_classifier():
    return EMDClassifier(
        classes=[0, 1, 2, 3], hidden_layer_sizes=(16,), batch_size=500, random_state=0
    )


@pytest.mark.slow
def test_incremental_trains_chunk_by_chunk_as_partial_fit():
    wrappers = pytest.importorskip("dask_ml.wrappers", reason="needs skemd[dask]")
    X, y = _lazy_problem(200_000, 10, seed=0)
    scorer = get_scorer("neg_mae")
    inc = wrappers.Incremental(
        _incremental_classifier(), scoring=scorer, shuffle_blocks=False
    )
    inc.fit(X, y)
    assert inc.estimator_.n_iter_ == 10
    assert inc.estimator_.t_ == 200_000
    by_hand = _incremental_classifier()
    for block_X, block_y in zip(X.blocks, y.blocks, strict=True):
        by_hand.partial_fit(block_X.compute(), block_y.compute())
    X_test, y_test = _lazy_problem(20_000, 2, seed=1)
    X_small = X_test[:500].compute()
    np.testing.assert_array_equal(
        inc.predict_proba(X_small), by_hand.predict_proba(X_small)
    )
    # The scorer on lazy test data: predictions computed block by block.
    score = scorer(inc, X_test, y_test)
    assert score == scorer(by_hand, X_test.compute(), y_test.compute())
    assert score > -0.3


@pytest.mark.slow
def test_incremental_recipe_learns_from_a_lazy_array_in_passes():
    pytest.importorskip("dask_ml", reason="needs skemd[dask]")
    recipe = _recipe("incremental")
    X, y = _lazy_problem(20_000, 4, seed=0)
    incremental = recipe.train(
        X, y, [0, 1, 2, 3], n_passes=2, hidden_layer_sizes=(16,), batch_size=250
    )
    assert incremental.estimator_.n_iter_ == 8
    assert recipe.mean_absolute_error(incremental, X, y) < 0.3


@pytest.mark.slow
def test_incremental_score_on_lazy_data_with_a_skemd_scorer():
    # dask-ml's Incremental.score calls a callable scoring as a metric,
    # scorer(y_true, y_pred, compute=...): skemd's scorers take that form too.
    wrappers = pytest.importorskip("dask_ml.wrappers", reason="needs skemd[dask]")
    X, y = _lazy_problem(20_000, 4, seed=0)
    scorer = get_scorer("neg_mae")
    inc = wrappers.Incremental(_incremental_classifier(), scoring=scorer).fit(X, y)
    assert inc.score(X, y) == scorer(inc, X, y)


def _dask_searches_work(distributed, model_selection):
    """Whether dask-ml's searches run with the installed Dask at all."""
    from sklearn.linear_model import SGDClassifier

    X, y = _lazy_problem(400, 2, seed=0)
    search = model_selection.IncrementalSearchCV(
        SGDClassifier(),
        {"alpha": [1e-4]},
        n_initial_parameters=1,
        max_iter=1,
        decay_rate=None,
    )
    try:
        search.fit(X, y, classes=[0, 1, 2, 3])
    except RuntimeError as error:
        return str(error)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["IncrementalSearchCV", "HyperbandSearchCV"])
def test_dask_incremental_searches_score_with_skemd_scorers(kind):
    distributed = pytest.importorskip("distributed", reason="needs skemd[dask]")
    model_selection = pytest.importorskip(
        "dask_ml.model_selection", reason="needs skemd[dask]"
    )
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    )
    with cluster, distributed.Client(cluster):
        problem = _dask_searches_work(distributed, model_selection)
        if problem is not None:
            pytest.skip(
                f"dask-ml's searches fail with the installed Dask ({problem}); "
                "they need versions of dask-ml and distributed that work together"
            )
        X, y = _lazy_problem(8_000, 4, seed=0)
        search_class = getattr(model_selection, kind)
        extra = (
            {"n_initial_parameters": 2, "decay_rate": None}
            if kind == "IncrementalSearchCV"
            else {}
        )
        search = search_class(
            _incremental_classifier(),
            {"alpha": [1e-4, 1e-2]},
            scoring=get_scorer("neg_mae"),
            max_iter=3,
            random_state=0,
            **extra,
        )
        search.fit(X, y)
    assert -1 < search.best_score_ <= 0


# ------------------------------------------- a learned distance over chunks


def _sorted_chunks(n_chunks=10):
    """Rows sorted by class, cut into chunks: each holds one or two classes."""
    X, y = ordinal_problem(1000, seed=5)
    order = np.argsort(y, kind="stable")
    X, y = X[order], y[order]
    return X, y, np.array_split(np.arange(len(y)), n_chunks)


def _features(clf, X):
    """The default network's penultimate features (the learned distance's)."""
    with torch.no_grad():
        return clf.net_.module_.hidden(torch.from_numpy(X))


def _learned_chunk_by_chunk():
    X, y, chunks = _sorted_chunks()
    # A learning rate so small that the features stay as they were: the
    # distance from the chunks must then be that of all the data.
    clf = fast_classifier(
        ground_distance="learned", warmup_epochs=0, learning_rate_init=1e-9
    )
    for rows in chunks:
        clf.partial_fit(X[rows], y[rows], classes=[0, 1, 2, 3])
    return clf, X, y, chunks


def test_partial_fit_learns_the_distance_of_every_chunk_seen():
    clf, X, y, chunks = _learned_chunk_by_chunk()
    everything = learned_distance(_features(clf, X), y, 4).numpy()
    last_chunk = learned_distance(_features(clf, X[chunks[-1]]), y[chunks[-1]], 4)
    # The last chunk alone would give another distance (it lacks classes).
    assert not np.allclose(last_chunk.numpy(), everything)
    # The next pass trains with the distance learned after the first.
    clf.partial_fit(X[chunks[0]], y[chunks[0]])
    np.testing.assert_allclose(clf.ground_distance_, everything, atol=1e-6)


def test_partial_fit_replaces_the_sums_of_a_chunk_that_comes_again():
    clf, X, y, chunks = _learned_chunk_by_chunk()
    for rows in chunks[::-1][:4]:
        clf.partial_fit(X[rows], y[rows])
    learner = dict(clf.net_.callbacks_)["ground_distance"]
    assert len(learner.chunk_sums_) == len(chunks)
    learner.forget_chunks()
    clf.partial_fit(X[chunks[0]], y[chunks[0]])
    assert len(learner.chunk_sums_) == 1


def test_fit_learns_from_its_own_data_only():
    clf, X, y, chunks = _learned_chunk_by_chunk()
    learner = dict(clf.net_.callbacks_)["ground_distance"]
    assert learner.accumulate
    refit = clf.set_params(max_iter=2).fit(X, y)
    assert not dict(refit.net_.callbacks_)["ground_distance"].accumulate


# ------------------------------------------------------ data-parallel fits


def test_distributed_outside_a_process_group_is_an_error():
    X, y = ordinal_problem(60)
    with pytest.raises(RuntimeError, match="no.*process group|process group.*none"):
        fast_classifier(distributed=True).fit(X, y)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _torchrun(script, *args, timeout=300, launcher="torchrun"):
    """Run ``script`` on two ranks (gloo, CPU), launched by torchrun or by
    ``accelerate launch``; fail on a hang."""
    if not torch.distributed.is_available():
        pytest.skip("this build of torch has no torch.distributed")
    if launcher == "torchrun":
        start = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node"]
    else:
        # accelerate's multi-process launcher is torch's, whatever the device:
        # the script picks gloo where there is no GPU.
        start = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
        start += ["--num_machines", "1", "--mixed_precision", "no"]
        start += ["--dynamo_backend", "no", "--num_processes"]
    command = [
        *start,
        "2",
        "--main_process_ip" if launcher != "torchrun" else "--master_addr",
        "127.0.0.1",
        "--main_process_port" if launcher != "torchrun" else "--master_port",
        str(_free_port()),
        str(script),
        *map(str, args),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TESTS.parent)}
    try:
        run = subprocess.run(
            command, cwd=TESTS, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the data-parallel fits did not finish in {timeout} s")
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of two torchrun ranks (gloo, CPU) learned in each scenario."""
    out = tmp_path_factory.mktemp("ranks")
    _torchrun(TESTS / "_ddp_script.py", out)
    return {path.stem: pickle.loads(path.read_bytes()) for path in out.glob("*.pkl")}


def _same_distances(first, second):
    if first is None or second is None:
        return first is second
    return len(first) == len(second) and all(
        np.array_equal(a, b) for a, b in zip(first, second, strict=True)
    )


def _both(ranks, scenario):
    return ranks[f"{scenario}-0"], ranks[f"{scenario}-1"]


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["match", "stopping", "uneven", "chunks"])
def test_ranks_end_with_the_same_model(ranks, scenario):
    first, second = _both(ranks, scenario)
    for a, b in zip(first["weights"], second["weights"], strict=True):
        np.testing.assert_array_equal(a, b)
    assert (first["distances"] is None) == (scenario == "uneven")
    if scenario == "chunks":
        # A distance learned after each call but the warm-up's.
        assert len(first["distances"]) == 3
    assert _same_distances(first["distances"], second["distances"])
    assert first["n_iter"] == second["n_iter"]
    assert first["loss_curve"] == second["loss_curve"]
    np.testing.assert_array_equal(first["proba"], second["proba"])
    np.testing.assert_array_equal(first["pickled"], second["pickled"])


@pytest.mark.slow
def test_two_ranks_train_as_one_process_on_their_batches_together(ranks):
    from _ddp_script import MATCH, match_shards

    first, _ = _both(ranks, "match")
    shards = [match_shards(rank)[:2] for rank in (0, 1)]
    size = MATCH["batch_size"]
    # One process, batches of twice the size: rank 0's batch, then rank 1's.
    X = np.concatenate(
        [shard[0][k : k + size] for k in range(0, 240, size) for shard in shards]
    )
    y = np.concatenate(
        [shard[1][k : k + size] for k in range(0, 240, size) for shard in shards]
    )
    one = EMDClassifier(**{**MATCH, "batch_size": 2 * size}).fit(X, y)
    np.testing.assert_allclose(first["loss_curve"], one.loss_curve_, rtol=0, atol=1e-5)
    assert len(first["distances"]) == len(one.ground_distance_history_) == 2
    for a, b in zip(first["distances"], one.ground_distance_history_, strict=True):
        np.testing.assert_array_equal(a, b)
    assert first["t"] == one.t_ == 3 * 480
    X_common, _ = ordinal_problem(100, seed=9)
    np.testing.assert_allclose(first["proba"], one.predict_proba(X_common), atol=1e-4)


@pytest.mark.slow
def test_ranks_stop_at_the_same_epoch(ranks):
    first, second = _both(ranks, "stopping")
    from _ddp_script import STOPPING

    assert first["n_iter"] == second["n_iter"] < STOPPING["max_iter"]
    assert first["validation_scores"] == second["validation_scores"]


@pytest.mark.slow
def test_uneven_shards_and_a_class_missing_on_one_rank(ranks):
    first, second = _both(ranks, "uneven")
    np.testing.assert_array_equal(first["classes"], [0, 1, 2, 3])
    np.testing.assert_array_equal(second["classes"], [0, 1, 2, 3])
    assert first["proba"].shape == (100, 4)


@pytest.mark.slow
def test_an_error_on_one_rank_is_raised_on_every_rank(ranks):
    first, second = _both(ranks, "failure")
    assert second["error"] == "ValueError"
    assert "NaN" in second["message"]
    assert first["error"] == "RuntimeError"
    assert "rank 1" in first["message"] and "NaN" in first["message"]


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_ddp_recipe_saves_one_model_trained_on_every_shard(tmp_path, launcher):
    if launcher == "accelerate":
        pytest.importorskip("accelerate", reason="needs accelerate")
    X, y = ordinal_problem(600, seed=7)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    run = _torchrun(
        RECIPES / "train_ddp.py",
        tmp_path / "X.npy",
        tmp_path / "y.npy",
        tmp_path / "model.pkl",
        launcher=launcher,
    )
    # verbose=1 on rank 0 only: one epoch table.
    assert run.stdout.count("train_loss") == 1
    clf = pickle.loads((tmp_path / "model.pkl").read_bytes())
    assert not hasattr(clf.net_, "replicas_") or clf.net_.replicas_ is None
    # The default ensemble: each member of each rank trains on 240 of its 300
    # rows (four folds of five); t_ counts both ranks' rows of a member.
    assert clf.t_ == clf.n_iter_ * 480
    assert (clf.predict(X) == y).mean() > 0.6
