"""The default ensemble: its folds, its averaging, its best epochs, its seeds."""

import numpy as np
import pytest
import torch
from conftest import ensemble_classifier, ordinal_problem
from skorch.callbacks import Callback

from skemd import _splits
from skemd._modules import EnsembleMLP

pytestmark = pytest.mark.usefixtures("quiet_convergence")


def test_member_folds_partition_the_rows_and_are_stratified():
    X, y = ordinal_problem(203, n_classes=4)
    rng = np.random.RandomState(0)
    train, valid = _splits.member_split(X, y, None, 5, 0.2, True, rng)
    held_out = [
        set(rows[weight > 0].tolist())
        for rows, weight in zip(
            valid.member_rows.numpy(), valid.member_weight.numpy(), strict=True
        )
    ]
    trained = [
        set(rows[weight > 0].tolist())
        for rows, weight in zip(
            train.member_rows.numpy(), train.member_weight.numpy(), strict=True
        )
    ]
    # Each row is held out by exactly one member, and trained on by the others.
    assert sorted(row for fold in held_out for row in fold) == list(range(203))
    for own, rest in zip(held_out, trained, strict=True):
        assert own.isdisjoint(rest) and own | rest == set(range(203))
    # Each fold holds a fifth of every class, to a row.
    for fold in held_out:
        counts = np.bincount(y[sorted(fold)], minlength=4)
        assert np.abs(counts - np.bincount(y, minlength=4) / 5).max() < 1


def test_more_members_than_folds_draw_new_folds():
    X, y = ordinal_problem(100)
    rng = np.random.RandomState(0)
    _, valid = _splits.member_split(X, y, None, 4, 0.5, True, rng)
    folds = [
        frozenset(rows[weight > 0].tolist())
        for rows, weight in zip(
            valid.member_rows.numpy(), valid.member_weight.numpy(), strict=True
        )
    ]
    # Two folds of 50, twice: members 0-1 and 2-3 each split the rows anew.
    assert folds[0] | folds[1] == folds[2] | folds[3] == frozenset(range(100))
    assert folds[0] != folds[2]


def test_predict_proba_is_the_mean_of_the_members_probabilities():
    X, y = ordinal_problem(200)
    clf = ensemble_classifier(n_estimators=3).fit(X, y)
    module = clf.net_.module_
    with torch.no_grad():
        logits = module(torch.as_tensor(X))
    members = torch.softmax(logits.double(), dim=1).numpy()
    np.testing.assert_allclose(clf.predict_proba(X), members.mean(axis=2), atol=1e-12)
    # The median of the averaged distribution, the default decision.
    expected = np.argmax(np.cumsum(clf.predict_proba(X), axis=1) >= 0.5, axis=1)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[expected])


class _MemberStates(Callback):
    """Every member's weights at the end of every epoch."""

    def initialize(self):
        self.states_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        module = net.module_
        self.states_.append([module.member_state(m) for m in range(module.n_members)])


def test_each_member_keeps_the_weights_of_its_own_best_epoch():
    X, y = ordinal_problem(300)
    clf = ensemble_classifier(
        n_estimators=3,
        max_iter=100,
        n_iter_no_change=4,
        tol=1e-3,
        callbacks=[_MemberStates()],
    ).fit(X, y)
    assert clf.n_iter_ < 100  # stopped: every member went 5 epochs without progress
    states = dict(clf.net_.callbacks_)["_MemberStates"].states_
    history = clf.net_.history
    losses = np.array(history[:, "valid_member_loss"])
    best = np.array(history[:, "member_best"])
    for member in range(3):
        kept = int(np.flatnonzero(best[:, member])[-1])
        # The epoch kept has the member's lowest validation loss ...
        assert losses[kept, member] == losses[:, member].min()
        # ... and the member ends with that epoch's weights.
        final = clf.net_.module_.member_state(member)
        for name, value in final.items():
            torch.testing.assert_close(value, states[kept][member][name])
        if kept < len(history) - 1:
            # Training went on after it: the weights were put back.
            assert any(
                not torch.equal(value, states[-1][member][name])
                for name, value in final.items()
            )


def test_early_stopping_is_deterministic_with_random_state():
    X, y = ordinal_problem(200)
    first = ensemble_classifier(random_state=3).fit(X, y)
    again = ensemble_classifier(random_state=3).fit(X, y)
    other = ensemble_classifier(random_state=4).fit(X, y)
    assert first.n_iter_ == again.n_iter_
    np.testing.assert_array_equal(first.predict_proba(X), again.predict_proba(X))
    assert first.loss_curve_ == again.loss_curve_
    assert not np.array_equal(first.predict_proba(X), other.predict_proba(X))


def test_members_differ_and_the_ensemble_is_an_ensemble_mlp():
    X, y = ordinal_problem(200)
    clf = ensemble_classifier().fit(X, y)
    module = clf.net_.module_
    assert isinstance(module, EnsembleMLP) and module.n_members == 5
    with torch.no_grad():
        logits = module(torch.as_tensor(X))
    assert not torch.allclose(logits[..., 0], logits[..., 1])
    # Embeddings for the three numeric features.
    assert module.embedding is not None and module.embedded.numel() == 3
