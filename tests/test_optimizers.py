"""Any torch optimiser as ``solver``, with ``solver_params``."""

import pickle

import numpy as np
import pytest
import torch
from conftest import SINGLE_NETWORK
from sklearn.model_selection import GridSearchCV

from skemd import EMDClassifier

# Short fits: the warning that max_iter ran out is expected.
pytestmark = pytest.mark.usefixtures("quiet_convergence")

DECAY_KEY = "weight_decay_of_weights"


def _fast(**params):
    defaults = dict(
        hidden_layer_sizes=(16,),
        max_iter=10,
        batch_size=50,
        random_state=0,
        **SINGLE_NETWORK,
    )
    return EMDClassifier(**{**defaults, **params})


def test_adam_class_trains_like_adam(ordinal_4):
    X, y = ordinal_4
    named = _fast().fit(X, y)
    given = _fast(
        solver=torch.optim.Adam, solver_params={"betas": (0.9, 0.999), "eps": 1e-8}
    ).fit(X, y)
    assert type(given.net_.optimizer_) is torch.optim.Adam
    # The named solver runs torch's fused kernel, the class its default one.
    np.testing.assert_allclose(
        given.predict_proba(X), named.predict_proba(X), rtol=0, atol=1e-6
    )


def test_sgd_class_trains_like_sgd(ordinal_4):
    X, y = ordinal_4
    named = _fast(solver="sgd", momentum=0.9, nesterovs_momentum=True).fit(X, y)
    given = _fast(
        solver=torch.optim.SGD, solver_params={"momentum": 0.9, "nesterov": True}
    ).fit(X, y)
    np.testing.assert_allclose(
        given.predict_proba(X), named.predict_proba(X), rtol=0, atol=1e-6
    )


def test_adamw_keeps_its_own_decay_next_to_alpha(ordinal_4, device):
    X, y = ordinal_4
    clf = _fast(
        device=device,
        solver=torch.optim.AdamW,
        solver_params={"weight_decay": 0.05},
        alpha=0.1,
        learning_rate_init=0.01,
    ).fit(X, y)
    (group,) = clf.net_.optimizer_.param_groups
    assert type(clf.net_.optimizer_) is torch.optim.AdamW
    assert group["weight_decay"] == 0.05
    assert group[DECAY_KEY] == pytest.approx(0.1 / len(y))
    assert group["lr"] == 0.01


def test_adamw_without_decay_is_adam_and_alpha_still_penalises(ordinal_4):
    X, y = ordinal_4
    adamw = _fast(
        solver=torch.optim.AdamW, solver_params={"weight_decay": 0.0}, alpha=1.0
    ).fit(X, y)
    adam = _fast(
        solver=torch.optim.Adam, solver_params={"weight_decay": 0.0}, alpha=1.0
    ).fit(X, y)
    np.testing.assert_allclose(
        adamw.predict_proba(X), adam.predict_proba(X), rtol=0, atol=1e-6
    )
    no_l2 = _fast(
        solver=torch.optim.AdamW, solver_params={"weight_decay": 0.0}, alpha=0.0
    ).fit(X, y)
    assert not np.allclose(no_l2.predict_proba(X), adamw.predict_proba(X))


def test_partial_fit_keeps_the_optimiser_state(ordinal_4):
    X, y = ordinal_4
    params = dict(
        solver=torch.optim.AdamW, solver_params={"weight_decay": 0.01}, shuffle=False
    )
    fitted = _fast(max_iter=3, **params).fit(X, y)
    stepped = _fast(**params)
    for _ in range(3):
        stepped.partial_fit(X, y, classes=[0, 1, 2, 3])
    np.testing.assert_array_equal(stepped.predict_proba(X), fitted.predict_proba(X))


def test_grid_search_and_pickle_with_optimiser_classes(ordinal_4):
    X, y = ordinal_4
    search = GridSearchCV(
        _fast(max_iter=3), {"solver": ["adam", torch.optim.AdamW]}, cv=2
    ).fit(X, y)
    assert {p["solver"] for p in search.cv_results_["params"]} == {
        "adam",
        torch.optim.AdamW,
    }
    clf = _fast(solver=torch.optim.RMSprop, solver_params={"alpha": 0.9}).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert type(restored.net_.optimizer_) is torch.optim.RMSprop


@pytest.mark.parametrize(
    "params, error, message",
    [
        ({"solver": int}, TypeError, "torch.optim.Optimizer subclass; got <class"),
        (
            {"solver": "adam", "solver_params": {"amsgrad": True}},
            ValueError,
            "solver='adam' takes its settings from beta_1",
        ),
        (
            {"solver": "sgd", "solver_params": {}},
            ValueError,
            "solver='sgd' takes its settings from momentum",
        ),
        (
            {"solver": torch.optim.AdamW, "solver_params": {"lr": 1.0}},
            ValueError,
            "learning rate is learning_rate_init",
        ),
        ({"solver": "lbfgs"}, ValueError, "solver"),
    ],
)
def test_bad_solver_settings_are_named(ordinal_4, params, error, message):
    X, y = ordinal_4
    with pytest.raises(error, match=message):
        _fast(**params).fit(X, y)
