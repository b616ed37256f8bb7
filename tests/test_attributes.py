"""Fitted attributes mean what MLPClassifier's mean; the printed log is aligned."""

import re

import numpy as np
import pytest
import torch
from conftest import fast_classifier, ordinal_problem
from sklearn.neural_network import MLPClassifier

pytestmark = pytest.mark.usefixtures("quiet_convergence")

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize(
    "params",
    [
        dict(),
        dict(early_stopping=True),
        dict(ground_distance="learned", warmup_epochs=2, early_stopping=True),
        dict(n_estimators=3, numeric_embedding="piecewise_linear", early_stopping=True),
        dict(solver="sgd", learning_rate="adaptive"),
    ],
)
def test_verbose_log_is_an_aligned_table(params, capsys):
    X, y = ordinal_problem(120)
    fast_classifier(max_iter=5, verbose=1, **params).fit(X, y)
    lines = [_ANSI.sub("", line) for line in capsys.readouterr().out.splitlines()]
    header, rule, *rows = lines
    assert set(rule) <= {"-", " "}
    assert len(rows) == 5
    # Every cell of every row ends where a column of the header ends (cells
    # are right-aligned): no row has more cells than the header.
    ends = {match.end() for match in re.finditer(r"-+", rule)}
    assert len(ends) == len(header.split())
    for row in rows:
        assert {match.end() for match in re.finditer(r"\S+", row)} <= ends


def test_verbose_zero_prints_nothing(capsys):
    X, y = ordinal_problem(120)
    fast_classifier(max_iter=3, early_stopping=True).fit(X, y)
    assert capsys.readouterr().out == ""


def test_validation_scores_are_accuracies_as_in_mlp_classifier():
    X, y = ordinal_problem(300)
    ours = fast_classifier(early_stopping=True, max_iter=40).fit(X, y)
    theirs = MLPClassifier(
        hidden_layer_sizes=(16,), early_stopping=True, max_iter=40, random_state=0
    ).fit(X, y)
    for clf in (ours, theirs):
        scores = np.asarray(clf.validation_scores_)
        assert len(scores) == clf.n_iter_
        assert ((scores >= 0) & (scores <= 1)).all()
    # The validation loss has its own attribute; the kept network is the one of
    # the lowest validation loss, and its score is recorded.
    best = int(np.argmin(ours.validation_loss_curve_))
    assert ours.best_validation_loss_ == ours.validation_loss_curve_[best]
    assert ours.best_validation_score_ == ours.validation_scores_[best]
    assert ours.best_loss_ is None and theirs.best_loss_ is None


def test_ensemble_validation_scores_are_out_of_fold_accuracies():
    X, y = ordinal_problem(300)
    clf = fast_classifier(
        n_estimators=5, early_stopping=True, validation_fraction=0.2, max_iter=30
    ).fit(X, y)
    history = clf.net_.history
    assert len(history[-1, "valid_member_loss"]) == 5
    assert len(history[-1, "member_best"]) == 5
    scores = np.asarray(clf.validation_scores_)
    assert ((scores > 0.25) & (scores <= 1)).all()


def test_without_validation_the_validation_attributes_are_none():
    X, y = ordinal_problem(120)
    clf = fast_classifier(max_iter=3).fit(X, y)
    assert clf.validation_scores_ is None
    assert clf.validation_loss_curve_ is None
    assert clf.best_validation_score_ is None
    assert clf.best_validation_loss_ is None
    assert clf.best_loss_ == min(clf.loss_curve_)


def test_loss_curve_is_the_training_loss_of_each_epoch():
    X, y = ordinal_problem(120)
    clf = fast_classifier(max_iter=4).fit(X, y)
    assert clf.loss_curve_ == clf.net_.history[:, "train_loss"]
    assert clf.loss_ == clf.loss_curve_[-1]
    assert clf.n_iter_ == 4


def test_n_outputs_is_one_logit_per_class_also_for_two_classes():
    X, y = ordinal_problem(120, n_classes=2)
    clf = fast_classifier(max_iter=2).fit(X, y)
    # A softmax over two logits, where MLPClassifier has one logistic output.
    assert clf.n_outputs_ == 2
    assert clf.out_activation_ == "softmax"
    assert clf.predict_proba(X).shape == (120, 2)


def test_ce_weight_is_resolved_in_a_fitted_attribute():
    X, y = ordinal_problem(120)
    assert fast_classifier(max_iter=2).fit(X, y).ce_weight_ == 0.0
    learned = fast_classifier(max_iter=2, ground_distance="uniform").fit(X, y)
    assert learned.ce_weight_ == 1.0


def test_fit_and_predict_restore_the_callers_torch_threads():
    X, y = ordinal_problem(120)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        clf = fast_classifier(max_iter=2).fit(X, y)
        assert torch.get_num_threads() == 2
        clf.predict(X)
        assert torch.get_num_threads() == 2
        fast_classifier(max_iter=2, n_threads=None).fit(X, y)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_n_threads_sets_the_count_during_fit(monkeypatch):
    X, y = ordinal_problem(120)
    seen = []
    original = torch.set_num_threads

    def spy(n):
        seen.append(n)
        original(n)

    monkeypatch.setattr(torch, "set_num_threads", spy)
    fast_classifier(max_iter=2, n_threads=1).fit(X, y)
    assert seen[0] == 1
    seen.clear()
    fast_classifier(max_iter=2).fit(X, y)  # "auto": one thread on the CPU
    assert seen[0] == 1
    seen.clear()
    fast_classifier(max_iter=2, n_threads=None).fit(X, y)
    assert seen == []
