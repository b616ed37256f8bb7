"""A constant baseline for ordinal classification benchmarks."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)


class MedianClassifier(ClassifierMixin, BaseEstimator):
    """Always predict the weighted median training class; ignore the features.

    The median is taken in class order (the sorted labels): the lowest class at
    which the cumulative share of the training weight reaches one half. It is the
    constant prediction with the lowest mean absolute rank error on the training
    labels, the ordinal counterpart of predicting the most frequent class.
    ``predict_proba`` gives every sample the training class frequencies, so, unlike
    scikit-learn's ``DummyClassifier``, ``predict`` is not the most probable class.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The training classes, sorted.
    class_prior_ : ndarray of shape (n_classes,)
        Share of the training weight of each class.
    median_ : object
        The predicted class.

    Examples
    --------
    >>> from _baselines import MedianClassifier
    >>> MedianClassifier().fit([[0]] * 4, [1, 2, 2, 3]).predict([[5]])
    array([2])
    """

    def fit(self, X, y, sample_weight=None):
        X, y = validate_data(self, X, y, accept_sparse=True)
        check_classification_targets(y)
        sample_weight = _check_sample_weight(sample_weight, X)
        self.classes_, codes = np.unique(y, return_inverse=True)
        weight = np.bincount(codes, weights=sample_weight, minlength=len(self.classes_))
        self.class_prior_ = weight / weight.sum()
        # The lower median when the cumulative share is one half exactly.
        index = np.searchsorted(np.cumsum(self.class_prior_), 0.5 - 1e-12)
        self.median_ = self.classes_[min(index, len(self.classes_) - 1)]
        return self

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=True, reset=False)
        return np.full(X.shape[0], self.median_, dtype=self.classes_.dtype)

    def predict_proba(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=True, reset=False)
        return np.tile(self.class_prior_, (X.shape[0], 1))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.poor_score = True
        return tags
