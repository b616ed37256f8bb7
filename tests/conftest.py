import os
import signal
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

DEVICES = ["cpu", "cuda"]


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Run the whole session on one torch thread, then restore the setting.

    The networks of the tests are small, and one thread is the fastest for them
    (the estimator's own ``n_threads="auto"``); it also keeps the test run from
    crowding other work on the machine. Tests of ``n_threads`` set their own
    counts and put this one back.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=DEVICES)
def device(request):
    """Run a test on the CPU, and again on CUDA where a GPU is present."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return request.param


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt during the test, as in an interactive
    Python, also where the test run started with SIGINT ignored (a background
    job of a non-interactive shell ignores it); the handler is put back."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.fixture
def quiet_convergence():
    """Silence ConvergenceWarning (tests that expect it still catch it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture
def ordinal_4():
    """200 samples, 3 features, 4 ordered classes cut from a noisy latent."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    y = np.digitize(X[:, 0] + 0.3 * rng.normal(size=200), [-0.8, 0, 0.8])
    return X, y


# Helpers shared by the test modules (import them: from conftest import ...).


def ordinal_problem(n_samples=300, n_classes=4, seed=0):
    """Three features and ``n_classes`` ordered classes cut from a noisy latent."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3)).astype(np.float32)
    latent = X[:, 0] + 0.5 * X[:, 1] + 0.2 * rng.normal(size=n_samples)
    cuts = np.quantile(latent, np.linspace(0, 1, n_classes + 1)[1:-1])
    return X, np.digitize(latent, cuts)


# The single network of the classic MLP, without the default ensemble's early
# stopping, embedding or median decision (and with scikit-learn's validation
# share and a long patience, as before): tests of one mechanism at a time.
SINGLE_NETWORK = dict(
    n_estimators=1,
    numeric_embedding=None,
    early_stopping=False,
    validation_fraction=0.1,
    n_iter_no_change=25,
    decision="argmax",
)


def fast_classifier(**params):
    """A small, quickly trained EMDClassifier; ``params`` override the defaults.

    A single network without embedding, early stopping or the median decision,
    so that a test sees one mechanism at a time; tests of the default ensemble
    ask for it (``ensemble_classifier``).
    """
    from skemd import EMDClassifier

    defaults = dict(
        hidden_layer_sizes=(16,),
        learning_rate_init=0.01,
        max_iter=30,
        random_state=0,
        **SINGLE_NETWORK,
    )
    return EMDClassifier(**{**defaults, **params})


def ensemble_classifier(**params):
    """A small default ensemble (five members, embeddings, early stopping)."""
    from skemd import EMDClassifier

    defaults = dict(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    return EMDClassifier(**{**defaults, **params})


def fuzz_settings(examples: int, long_examples: int):
    """hypothesis settings of a fuzz test: a fixed run, or a long one.

    By default ``examples`` derandomised examples, so that the run is fast and
    the same every time; with the environment variable ``SKEMD_FUZZ=1``,
    ``long_examples`` random ones, a failure printing the line that replays it.
    No example database: nothing is written to the checkout. Applied per test
    (as a decorator), so that other hypothesis tests keep their settings.
    """
    from hypothesis import HealthCheck, settings

    long = os.environ.get("SKEMD_FUZZ") == "1"
    return settings(
        max_examples=long_examples if long else examples,
        derandomize=not long,
        print_blob=long,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
