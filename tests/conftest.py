import warnings

import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

DEVICES = ["cpu", "cuda"]


@pytest.fixture(params=DEVICES)
def device(request):
    """Run a test on the CPU, and again on CUDA where a GPU is present."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return request.param


@pytest.fixture
def quiet_convergence():
    """Silence ConvergenceWarning (tests that expect it still catch it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
