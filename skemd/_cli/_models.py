"""The models compared, their training with a progress display, and their scores."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skorch.callbacks import Callback

from .._classifier import EMDClassifier
from .._labels import categories_of, positions, sorted_order
from ..metrics import mae, qwk, ranked_probability_score
from . import Failure, one_line
from ._data import MANY_LEVELS

REFERENCE = "constant median class"


class RankBaseline(ClassifierMixin, BaseEstimator):
    """Fit a classifier on the ranks of the classes present; answer in classes.

    mord needs the labels ``0 .. m-1`` and a plain classifier orders its
    probabilities by sorted label: fitted on the ranks of the classes present
    (with a weight above 0) in class order, either serves for any labels.
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y, sample_weight=None):
        labels, order = np.asarray(y), categories_of(y)
        self.classes_ = sorted_order(labels, warn=False) if order is None else order
        ranks, params = positions(labels, self.classes_), {}
        if sample_weight is not None:
            # As the networks do, leave samples of weight 0 out.
            keep = np.asarray(sample_weight) > 0
            X, ranks = X[keep], ranks[keep]
            params["sample_weight"] = sample_weight[keep]
        self.present_ = np.unique(ranks)
        ranks = np.searchsorted(self.present_, ranks)
        self.estimator_ = clone(self.estimator).fit(X, ranks, **params)
        return self

    def predict_proba(self, X):
        proba = np.zeros((X.shape[0], len(self.classes_)))
        proba[:, self.present_] = np.clip(self.estimator_.predict_proba(X), 0, None)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        codes = np.asarray(self.estimator_.predict(X)).astype(np.intp)
        return self.classes_[self.present_[codes]]


class Progress(Callback):
    """A line as each model starts and ends training, with epochs in between.

    On a terminal the model's line is redrawn in place with an epoch counter.
    Elsewhere (a pipe, a notebook, a log) every tenth of the epochs adds a line,
    flushed at once. The networks count their epochs here, as a skorch callback.
    """

    def __init__(self, stream, width: int) -> None:
        self.stream = stream
        self.width = width

    def __deepcopy__(self, memo):
        return self  # EMDClassifier trains copies of its callbacks: report here

    def start(self, name: str, max_epochs: int | None = None) -> None:
        self._live = getattr(self.stream, "isatty", lambda: False)()
        self._head, self._shown = f"  {name:<{self.width}}  ", ""
        self._max_epochs, self._every = max_epochs, math.ceil((max_epochs or 1) / 10)
        at_most = f", at most {max_epochs} epochs" if max_epochs else ""
        self._write(f"training{at_most}")

    def on_epoch_end(self, net, **kwargs) -> None:
        self.epoch(len(net.history))

    def epoch(self, n: int) -> None:
        if self._live or n % self._every == 0:
            self._write(f"epoch {n}/{self._max_epochs}")

    def finish(self, summary: str) -> None:
        self._write(summary, end="\n")

    def _write(self, status: str, end: str = "") -> None:
        text = self._head + status
        if self._live:
            # Spaces wipe out the end of a longer line drawn before.
            self.stream.write(f"\r{text:<{len(self._shown)}}{end}")
            self._shown = text
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def models(args) -> tuple[dict, str | None]:
    """The three pipelines to compare, by name, and a note about the baseline."""
    # No classes=: the target, an ordered Categorical, gives the class order.
    shared = {"random_state": args.seed}
    if args.max_iter is not None:
        shared["max_iter"] = args.max_iter
    options = ("ground_distance", "decision")
    given = {key: getattr(args, key) for key in options if getattr(args, key)}
    settings = list(given.values())
    if args.ground_distance in ("uniform", "learned"):
        settings.insert(1, "with cross-entropy")  # as ce_weight="auto" does
    try:
        from mord import LogisticAT
    except ImportError:
        name, linear = "LogisticRegression (sklearn)", LogisticRegression(max_iter=1000)
        note = (
            "mord is not installed (pip install mord), so the baseline is "
            "scikit-learn's LogisticRegression, which ignores the class order"
        )
    else:
        name, linear, note = "LogisticAT (mord)", LogisticAT(), None
    suffix = "".join(", " + setting for setting in settings)
    estimators = {
        f"EMDClassifier (squared EMD{suffix})": EMDClassifier(**shared, **given),
        "EMDClassifier (cross-entropy)": EMDClassifier(
            ce_weight=1.0, emd_weight=0.0, **shared
        ),
        name: RankBaseline(linear),
    }
    return {key: make_pipeline(_features(), e) for key, e in estimators.items()}, note


def _features():
    """Numbers standardised (a missing one filled with the training median), other
    columns one-hot encoded, at most ``MANY_LEVELS`` features a column, the rarest
    values sharing one (an identifier would make one a row)."""
    numbers = ["number", "bool"]
    scale = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()
    )
    encode = OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        max_categories=MANY_LEVELS,
        sparse_output=False,
    )
    return make_column_transformer(
        (scale, make_column_selector(dtype_include=numbers)),
        (encode, make_column_selector(dtype_exclude=numbers)),
    )


def fit(name: str, pipeline, X, y, progress: Progress, sample_weight=None):
    """Fit one pipeline with progress lines; return its notes and fit seconds."""
    model = pipeline[-1]
    if isinstance(model, EMDClassifier):
        model.set_params(callbacks=[("progress", progress)])
    progress.start(name, getattr(model, "max_iter", None))
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        # Meant for developers, not for the reader of the results.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        try:
            step = pipeline.steps[-1][0]
            pipeline.fit(X, y, **{f"{step}__sample_weight": sample_weight})
        except (ValueError, TypeError, FloatingPointError) as exc:
            progress.finish("failed")
            raise Failure(f"{name}: {one_line(exc)}") from None
    seconds = time.perf_counter() - start
    n_iter = getattr(model, "n_iter_", None)
    epochs = f" ({n_iter} epochs)" if n_iter else ""
    progress.finish(f"trained in {seconds:.1f} s{epochs}")
    notes = [
        f"{name} stopped after {n_iter} epochs, unconverged"
        if issubclass(caught_warning.category, ConvergenceWarning) and n_iter
        else f"{name}: {one_line(caught_warning.message)}"
        for caught_warning in caught
    ]
    return list(dict.fromkeys(notes)), seconds


def train(pipelines: dict, parts, out) -> dict:
    """Train the pipelines in turn; return their fit seconds by name."""
    print("Training:", file=out)
    # The first optimiser a process makes imports torch._dynamo (seconds): paid
    # here, it is not counted in the fit time of the first network.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    progress, seconds = Progress(out, max(map(len, pipelines))), {}
    for name, pipeline in pipelines.items():
        notes, seconds[name] = fit(
            name, pipeline, parts.X_train, parts.y_train, progress, parts.w_train
        )
        out.write("".join(f"note: {note}\n" for note in notes))
    return seconds


def median_reference(y_train, sample_weight, n_samples: int):
    """Predicted labels and probabilities of the constant median class.

    The (weighted) median class of ``y_train``, an ordered ``Categorical``
    Series: the constant prediction of least mean absolute error on the
    training part (the lower median on a tie).
    """
    classes = y_train.cat.categories.to_numpy()
    counts = np.bincount(y_train.cat.codes.to_numpy(), sample_weight, len(classes))
    total = np.cumsum(counts)
    median = np.full(n_samples, np.searchsorted(total, total[-1] / 2))
    return classes[median], np.eye(len(classes))[median]


def evaluate(pipelines: dict, parts, seconds: dict) -> tuple[dict, dict]:
    """Test scores and predictions by name, of the pipelines and the reference."""
    X, y_test, predictions = parts.X_test, parts.y_test, {}
    with warnings.catch_warnings():
        # Unseen text values are encoded as all zeros, as documented.
        warnings.filterwarnings("ignore", message="Found unknown categories")
        for name, pipeline in pipelines.items():
            predictions[name] = pipeline.predict(X), pipeline.predict_proba(X)
    start = time.perf_counter()
    predictions[REFERENCE] = median_reference(parts.y_train, parts.w_train, len(X))
    seconds[REFERENCE] = time.perf_counter() - start
    classes, y_true = y_test.cat.categories.to_numpy(), y_test.to_numpy()
    weight = {"sample_weight": parts.w_test}
    scores = {
        name: {
            "MAE": mae(y_true, y_pred, classes=classes, **weight),
            "QWK": qwk(y_true, y_pred, classes=classes, **weight),
            "accuracy": accuracy_score(y_true, y_pred, **weight),
            "RPS": ranked_probability_score(y_true, proba, classes=classes, **weight),
        }
        for name, (y_pred, proba) in predictions.items()
    }
    return scores, predictions
