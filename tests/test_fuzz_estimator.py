"""Fuzz EMDClassifier with bad data, bad weights and bad hyper-parameters.

Each example is a small fit (or ``partial_fit``) that would succeed, with one
thing spoilt: the features (dtypes, shapes, NaN, infinity, text, dates), the
labels, the sample or class weights, or a hyper-parameter, out of its range or
of a wrong type for every entry of ``EMDClassifier._parameter_constraints``.
What was spoilt says what must happen:

- a usable input gives a fitted estimator that behaves as a scikit-learn
  classifier: ``classes_`` are the labels (or the order given), ``predict``
  returns labels from them and ``predict_proba`` rows are finite distributions;
- anything else is a ValueError or TypeError (``InvalidParameterError``, both,
  for a hyper-parameter the table refuses) whose message names the problem,
  and the estimator is left unfitted.

Any other exception, a message that names nothing of the problem, or a fit that
succeeds on input it should refuse fails the test. A second test spoils the
input of ``predict`` on fitted estimators the same way.

The default profiles run a fixed set of examples (derandomised), every kind of
spoilt input among them, in under half a minute on one core; ``SKEMD_FUZZ=1``
runs a long random search, and a failure prints the ``@reproduce_failure`` line
that replays it.
"""

import contextlib
import dataclasses
import functools
import io
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import torch
from conftest import fuzz_settings
from hypothesis import event, given
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import EpochTimer

from skemd import EMDClassifier
from skemd._validation import _satisfies
from skemd.exceptions import InvalidParameterError

# All examples, and a few of each kind of spoilt input (the per-kind tests).
FUZZ = fuzz_settings(200, 5000)
EACH = fuzz_settings(4, 60)
# The errors a bad input may raise (InvalidParameterError is both).
INPUT_ERRORS = (ValueError, TypeError)
# Inputs or settings that make training itself diverge may also end this way.
DIVERGED = (ValueError, TypeError, FloatingPointError)
DIVERGED_WORDS = ("loss became", "weights became", "infinite or nan")


@dataclasses.dataclass
class Case:
    """One call: its data, settings, and what must come of it."""

    what: str
    X: object
    y: object
    n_features: int
    sample_weight: object = None
    params: dict = dataclasses.field(default_factory=dict)
    method: str = "fit"
    classes_arg: object = None
    # The classes the fitted estimator must have, in order (None: unchecked).
    classes: object = None
    outcome: str = "ok"  # "ok", "error" or "either"
    words: tuple = ()
    errors: tuple = INPUT_ERRORS

    def expect(self, outcome, *words, errors=INPUT_ERRORS):
        self.outcome, self.words, self.errors = outcome, words, errors


# --------------------------------------------------------------- the data


LABEL_KINDS = {
    "ints": np.array([0, 1, 2, 3]),
    "spaced ints": np.array([-5, 10, 20, 1000]),
    "text": np.array(["a", "b", "c", "d"]),
    # Floats that are whole numbers: scikit-learn takes others as continuous.
    "floats": np.array([0.0, 1.0, 2.0, 3.0]),
}


@st.composite
def _base(draw):
    """A usable fit: a few rows, a few features, 2 to 4 classes, tiny network."""
    n_rows = draw(st.integers(6, 24))
    n_features = draw(st.integers(1, 3))
    n_classes = draw(st.integers(2, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = rng.normal(size=(n_rows, n_features))
    labels = LABEL_KINDS[draw(st.sampled_from(sorted(LABEL_KINDS)))][:n_classes]
    y = labels[rng.permutation(np.arange(n_rows) % n_classes)]
    # On the CPU, where the default run takes the same time everywhere.
    params = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0, device="cpu")
    params.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "batch_size": st.sampled_from(["auto", 1, 5, 10**12]),
                    "early_stopping": st.booleans(),
                    "solver": st.sampled_from(["adam", "sgd"]),
                    "ground_distance": st.sampled_from(["ordinal", "uniform"]),
                    "decision": st.sampled_from(["argmax", "median", "expected_cost"]),
                    "n_estimators": st.sampled_from([1, 2]),
                    "alpha": st.sampled_from([0.0, 1e-4, 10.0]),
                },
            )
        )
    )
    method = draw(st.sampled_from(["fit", "fit", "partial_fit"]))
    return Case(
        what="usable",
        X=X,
        y=y,
        n_features=n_features,
        params=params,
        method=method,
        classes_arg=np.unique(labels) if method == "partial_fit" else None,
        classes=np.unique(labels),
    )


def _cell(draw, X):
    """A random cell of ``X``: (row, column)."""
    return draw(st.integers(0, X.shape[0] - 1)), draw(st.integers(0, X.shape[1] - 1))


def _with(X, cell, value, dtype=None):
    X = X.astype(dtype or X.dtype)
    X[cell] = value
    return X


def _frame(X, **columns):
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    for name, values in columns.items():
        frame[name] = values
    return frame


def _refused(*words):
    return "error", words, INPUT_ERRORS


FEATURE_KINDS = [
    *["object numbers", "list", "bool", "float16", "int8", "frame"],
    *["sparse", "sparse coo", "numeric text", "mixed frame"],
    *["text cell", "text", "text column", "category column"],
    *["datetime", "timedelta", "datetime column", "timedelta column"],
    *["complex", "0-d", "1-d", "3-d", "no rows", "no features"],
    *["one row", "NaN", "inf", "-inf", "too large", "nullable NA"],
    *["sparse NaN", "ragged", "huge", "scalar rows", "None cell"],
]


def _spoil_features(draw, X, fitting, kind=None):
    """Spoilt features: (X, rows kept or None, outcome, words, errors)."""
    n_rows = X.shape[0]
    kind = kind or draw(st.sampled_from(FEATURE_KINDS))
    ok = ("ok", (), INPUT_ERRORS)
    if kind == "object numbers":
        return X.astype(object), None, *ok
    if kind == "list":
        return X.tolist(), None, *ok
    if kind == "bool":
        return X > 0, None, *ok
    if kind == "float16":
        return X.astype(np.float16), None, *ok
    if kind == "int8":
        return (X * 10).astype(np.int8), None, *ok
    if kind == "frame":
        return _frame(X), None, *ok
    if kind == "mixed frame":
        return _frame(X, flag=X[:, 0] > 0, count=np.arange(n_rows)), None, *ok
    if kind == "sparse":
        return scipy.sparse.csr_matrix(X), None, *ok
    if kind == "sparse coo":
        return scipy.sparse.coo_matrix(X), None, *ok
    if kind == "numeric text":
        # Numbers written as text: numpy reads them, or the error says text.
        return X.astype(str), None, "either", ("text", "string"), INPUT_ERRORS
    if kind == "text cell":
        return _with(X, _cell(draw, X), "high", object), None, *_refused("text")
    if kind == "text":
        return np.full(X.shape, "low"), None, *_refused("text", "string")
    if kind == "text column":
        colour = np.array(["red", "blue"])[np.arange(n_rows) % 2]
        return _frame(X, colour=colour), None, *_refused("'colour'")
    if kind == "category column":
        size = pd.Categorical(np.array(["S", "M"])[np.arange(n_rows) % 2])
        return _frame(X, size=size), None, *_refused("'size'")
    if kind == "datetime":
        days = np.arange(X.size).astype("datetime64[D]").reshape(X.shape)
        return days, None, *_refused("dates or durations")
    if kind == "timedelta":
        waits = np.arange(X.size).astype("timedelta64[s]").reshape(X.shape)
        return waits, None, *_refused("dates or durations")
    if kind == "datetime column":
        when = pd.date_range("2024-01-01", periods=n_rows, freq="D")
        return _frame(X, when=when), None, *_refused("'when'")
    if kind == "timedelta column":
        wait = pd.to_timedelta(np.arange(n_rows), unit="min")
        return _frame(X, wait=wait), None, *_refused("'wait'")
    if kind == "complex":
        return X + 1j, None, *_refused("complex")
    if kind == "0-d":
        return np.float64(X[0, 0]), None, *_refused("2d array", "scalar")
    if kind == "1-d":
        return X[:, 0], None, *_refused("2d array")
    if kind == "3-d":
        return X[:, :, None], None, *_refused("dim 3")
    if kind == "no rows":
        return X[:0], slice(0, 0), *_refused("0 sample", "empty")
    if kind == "no features":
        return X[:, :0], None, *_refused("0 feature")
    if kind == "one row":
        # One row holds one class: fit has nothing to tell apart.
        return X[:1], slice(0, 1), *(_refused("one class") if fitting else ok)
    if kind == "NaN":
        return _with(X, _cell(draw, X), np.nan), None, *_refused("nan")
    if kind in ("inf", "-inf"):
        value = np.inf if kind == "inf" else -np.inf
        return _with(X, _cell(draw, X), value), None, *_refused("infinity")
    if kind == "too large":
        # Finite in float64, infinite in the float32 the network runs in.
        return _with(X, _cell(draw, X), 1e39), None, *_refused("infinity")
    if kind == "nullable NA":
        column = pd.array(np.arange(n_rows), dtype="Int64")
        column[draw(st.integers(0, n_rows - 1))] = pd.NA
        return _frame(X, count=column), None, *_refused("nan")
    if kind == "None cell":
        return _with(X, _cell(draw, X), None, object), None, *_refused("nan", "none")
    if kind == "sparse NaN":
        spoilt = _with(X, _cell(draw, X), np.nan)
        return scipy.sparse.csr_matrix(spoilt), None, *_refused("nan")
    if kind == "ragged":
        rows = X.tolist()
        rows[draw(st.integers(0, n_rows - 1))].append(1.0)
        # A single row made longer is not ragged: it has a feature too many.
        return rows, None, *_refused("inhomogeneous", "sequence", "features")
    if kind == "huge":
        # Finite in float32, but far beyond what a network's weights expect.
        return X * 1e30, None, "either", DIVERGED_WORDS, DIVERGED
    assert kind == "scalar rows"
    return [float(value) for value in X[:, 0]], None, *_refused("2d array")


LABEL_SPOILS = [
    *["one class", "NaN", "None", "pandas NA", "mixed", "mixed list"],
    *["longer", "shorter", "2-D", "continuous", "inf", "booleans"],
    *["list", "ordered categorical", "categorical NaN", "not covered"],
    *["given extra class", "given reversed", "bytes"],
]


def _spoil_labels(draw, case, kind=None):
    y, n_rows = case.y, len(case.y)
    partial = case.method == "partial_fit"
    kind = kind or draw(st.sampled_from(LABEL_SPOILS))
    case.what = f"labels: {kind}"
    if kind == "one class":
        case.y = np.full(n_rows, y[0])
        # partial_fit is told every class: one chunk may hold one of them.
        if not partial:
            case.expect("error", "one class")
    elif kind in ("NaN", "None", "pandas NA"):
        missing = {"NaN": np.nan, "None": None, "pandas NA": pd.NA}[kind]
        spoilt = y.astype(object)
        spoilt[draw(st.integers(0, n_rows - 1))] = missing
        if kind == "NaN" and y.dtype.kind in "if":
            spoilt = spoilt.astype(float)
        case.y = spoilt if kind != "pandas NA" else pd.Series(spoilt)
        case.expect("error", "missing label", "nan")
    elif kind in ("mixed", "mixed list"):
        other = "x" if y.dtype.kind in "if" else 7
        spoilt = y.astype(object)
        spoilt[draw(st.integers(0, n_rows - 1))] = other
        case.y = spoilt if kind == "mixed" else spoilt.tolist()
        case.expect("error", "mixes labels")
    elif kind in ("longer", "shorter"):
        case.y = np.r_[y, y[:1]] if kind == "longer" else y[:-1]
        case.expect("error", "inconsistent numbers of samples")
    elif kind == "2-D":
        case.y = np.c_[y, y]
        case.expect("error", "1d array")
    elif kind == "continuous":
        case.y = np.linspace(0.1, 0.9, n_rows)
        case.expect("error", "continuous", "does not cover")
    elif kind == "inf":
        spoilt = np.arange(n_rows, dtype=float) % 2
        spoilt[draw(st.integers(0, n_rows - 1))] = np.inf
        case.y = spoilt
        case.expect("error", "infinity", "does not cover")
    elif kind == "booleans":
        case.y = np.arange(n_rows) % 2 == 1
        case.classes = np.array([False, True])
        case.classes_arg = case.classes if partial else None
    elif kind == "list":
        case.y = y.tolist()
    elif kind == "bytes":
        # scikit-learn refuses labels of bytes, and says so.
        case.y = np.array([str(label).encode() for label in y])
        case.expect("error", "bytes")
    elif kind == "ordered categorical":
        order = case.classes[::-1]
        case.y = pd.Series(pd.Categorical(y, categories=order, ordered=True))
        case.classes, case.classes_arg = order, None
    elif kind == "categorical NaN":
        spoilt = pd.Categorical(y, categories=case.classes, ordered=True)
        spoilt[draw(st.integers(0, n_rows - 1))] = np.nan
        case.y, case.classes_arg = pd.Series(spoilt), None
        case.expect("error", "missing label", "nan")
    elif kind == "not covered":
        case.params["classes"] = case.classes[:-1]
        case.classes_arg = None
        case.expect("error", "does not cover")
    elif kind == "given extra class":
        extra = "zz" if y.dtype.kind == "U" else 99
        case.classes = np.array([*case.classes.tolist(), extra])
        case.params["classes"] = case.classes
        case.classes_arg = None
    else:
        assert kind == "given reversed"
        case.classes = case.classes[::-1]
        case.params["classes"] = case.classes
        case.classes_arg = None


WEIGHT_KINDS = [
    *["negative", "NaN", "inf", "-inf", "shorter", "longer", "zeros"],
    *["2-D", "text", "complex", "None", "huge", "huge one", "tiny"],
    *["far below float32", "scalar", "booleans", "ints", "one left"],
    *["object numbers", "float16", "subnormal"],
]


def _spoil_sample_weight(draw, case, kind=None):
    n_rows = len(case.y)
    ones = np.ones(n_rows)
    row = draw(st.integers(0, n_rows - 1))
    kind = kind or draw(st.sampled_from(WEIGHT_KINDS))
    case.what = f"sample_weight: {kind}"
    bad = {
        "negative": lambda: _with(ones, row, -1.0),
        "NaN": lambda: _with(ones, row, np.nan),
        "inf": lambda: _with(ones, row, np.inf),
        "-inf": lambda: _with(ones, row, -np.inf),
        "shorter": lambda: ones[:-1],
        "longer": lambda: np.r_[ones, 1.0],
        "zeros": lambda: np.zeros(n_rows),
        "2-D": lambda: np.c_[ones, ones],
        "text": lambda: np.full(n_rows, "heavy"),
        "complex": lambda: ones + 1j,
        "None": lambda: [*ones[:-1].tolist(), None],
    }
    if kind in bad:
        case.sample_weight = bad[kind]()
        case.expect("error", "sample_weight")
        return
    # Early stopping is on unless the case turns it off.
    stops_early = case.method == "fit" and case.params.get("early_stopping", True)
    if kind == "huge":
        case.sample_weight = np.full(n_rows, 1e300)
    elif kind == "huge one":
        case.sample_weight = _with(ones, row, 1e308)
    elif kind == "far below float32":
        # Below the largest by more than float32 spans: left out as zeros.
        case.sample_weight = _with(ones * 1e-60, row, 1.0)
    elif kind == "one left":
        case.sample_weight = _with(np.zeros(n_rows), row, 2.0)
    elif kind in ("tiny", "subnormal"):
        case.sample_weight = np.full(n_rows, 1e-30 if kind == "tiny" else 5e-324)
        # The L2 penalty counts the weights: alpha over a tiny sum may
        # overflow (the error names sample_weight) or make training diverge.
        case.expect("either", "sample_weight", *DIVERGED_WORDS, errors=DIVERGED)
        return
    elif kind == "scalar":
        case.sample_weight = 3.0
    elif kind == "booleans":
        case.sample_weight = np.arange(n_rows) % 3 != 0
    elif kind == "ints":
        case.sample_weight = np.arange(n_rows) % 3 + 1
    elif kind == "object numbers":
        case.sample_weight = ones.astype(object)
    else:
        assert kind == "float16"
        case.sample_weight = np.full(n_rows, 0.5, dtype=np.float16)
    if stops_early and kind in ("huge one", "far below float32", "one left"):
        # A single row left to train on cannot be split for validation.
        case.expect("either", "early_stopping", "validation_fraction")


CLASS_WEIGHT_KINDS = [
    *["huge", "zero", "balanced", "negative", "NaN", "inf", "text"],
    *["unknown label", "all zero", "tiny"],
]


def _spoil_class_weight(draw, case, kind=None):
    label = case.classes[draw(st.integers(0, len(case.classes) - 1))].item()
    kind = kind or draw(st.sampled_from(CLASS_WEIGHT_KINDS))
    case.what = f"class_weight: {kind}"
    values = {
        "huge": 1e39,
        "zero": 0.0,
        "tiny": 1e-45,
        "negative": -1.0,
        "NaN": np.nan,
        "inf": np.inf,
        "text": "heavy",
    }
    if kind in values:
        case.params["class_weight"] = {label: values[kind]}
        if kind in ("negative", "NaN", "inf", "text"):
            case.expect("error", "class_weight")
    elif kind == "balanced":
        case.params["class_weight"] = "balanced"
        if case.method == "partial_fit":
            case.expect("error", "class_weight")
    elif kind == "unknown label":
        case.params["class_weight"] = {"nowhere": 1.0}
        case.expect("error", "class_weight")
    else:
        assert kind == "all zero"
        case.params["class_weight"] = {c: 0.0 for c in case.classes.tolist()}
        case.expect("error", "class_weight")
    if kind in ("zero", "tiny") and case.params.get("early_stopping"):
        # Rows left out may leave too few to split for validation.
        case.expect("either", "early_stopping", "validation_fraction")


# Values of every type and range; for each parameter, those its constraints
# refuse are drawn.
POOL = [
    *[-(2**70), -1, 0, 1, 2, 2**31, 2**70, np.int64(-3), np.uint8(0)],
    *[-0.5, 0.0, 0.5, 1.0, 1.5, 1e9, -1e-9, np.float32(0.5), np.float64(-2.0)],
    *[float("nan"), float("inf"), float("-inf"), True, False, np.bool_(True)],
    *["x", "", "auto", "adam", "relu", "ordinal", "balanced", "float32", b"x"],
    *[None, [], (), {}, [1, 2], (4,), {"a": 1}, object(), 1j, int, EpochTimer()],
    *[np.array([1, 2]), torch.device("cpu"), torch.nn.Linear(1, 1)],
]


def _refused_values(name):
    accepted = EMDClassifier._parameter_constraints[name]
    return [
        value
        for value in POOL
        if not any(_satisfies(value, constraint) for constraint in accepted)
    ]


def _spoil_table_parameter(draw, case, name=None):
    names = sorted(EMDClassifier._parameter_constraints)
    name = name or draw(st.sampled_from(names))
    value = draw(st.sampled_from(_refused_values(name)))
    case.what = f"parameter {name}={value!r} (refused by the table)"
    case.params[name] = value
    case.expect("error", repr(name), errors=(InvalidParameterError,))


def _other_parameters(case):
    """Settings that need more than the table's checks, and what must come of
    each: values it lets through that cannot work (or can), and values that
    numpy or torch would refuse deep inside without naming them.

    Each is (parameter, value, outcome, more settings, words), the words (any
    one of which the error must hold) being the parameter's name when empty.
    """
    n_classes, n_features = len(case.classes), case.n_features
    ordinal = np.abs(np.subtract.outer(np.arange(n_classes), np.arange(n_classes)))
    learned = {"ground_distance": "learned", "warmup_epochs": 0}
    linear = {"module": torch.nn.Linear}
    sgd = {"solver": "sgd", "momentum": 0.0}
    inf = float("inf")
    return [
        ("hidden_layer_sizes", (0,), "error", {}, ()),
        ("hidden_layer_sizes", (-3,), "error", {}, ()),
        ("hidden_layer_sizes", (2.5,), "error", {}, ()),
        ("hidden_layer_sizes", ("8",), "error", {}, ()),
        ("hidden_layer_sizes", (True,), "error", {}, ()),
        ("hidden_layer_sizes", (4, 0), "error", {}, ()),
        ("hidden_layer_sizes", [[2]], "error", {}, ()),
        ("hidden_layer_sizes", [], "ok", {}, ()),
        ("hidden_layer_sizes", np.array(3), "ok", {}, ()),
        ("ground_distance", ordinal, "ok", {}, ()),
        ("ground_distance", ordinal[:-1], "error", {}, ()),
        ("ground_distance", -ordinal, "error", {}, ()),
        ("ground_distance", ordinal * np.nan, "error", {}, ()),
        ("ground_distance", ordinal * 0, "error", {}, ()),
        ("ground_distance", ordinal.astype(str), "either", {}, ()),
        ("ground_distance", [["near"] * n_classes] * n_classes, "error", {}, ()),
        ("ground_distance", {"a": 1}, "error", {}, ()),
        ("classes", [], "error", {}, ()),
        ("classes", {0, 1}, "error", {}, ()),
        ("classes", [[0, 1]], "error", {}, ()),
        ("classes", [*case.classes.tolist(), case.classes[0].item()], "error", {}, ()),
        ("classes", EMDClassifier(), "error", {}, ()),
        ("solver", int, "error", {}, ()),
        ("solver", torch.optim.Optimizer, "error", {}, ()),
        ("solver", torch.optim.AdamW, "ok", {}, ()),
        ("solver_params", {"nope": 1}, "error", {"solver": torch.optim.AdamW}, ()),
        ("solver_params", {"betas": 3}, "error", {"solver": torch.optim.AdamW}, ()),
        ("solver_params", {"lr": 0.1}, "error", {"solver": torch.optim.SGD}, ()),
        ("solver_params", {"momentum": 0.5}, "ok", {"solver": torch.optim.SGD}, ()),
        ("solver_params", {}, "error", {"solver": "adam"}, ()),
        ("module", int, "error", {}, ()),
        ("module", torch.nn.Linear, "error", {}, ("module_params",)),
        ("module_params", {"in_features": n_features}, "error", linear, ()),
        (
            "module_params",
            {"in_features": n_features, "out_features": n_classes},
            "ok",
            linear,
            (),
        ),
        ("module", torch.nn.Linear(n_features, n_classes + 1), "error", {}, ("logit",)),
        ("module", torch.nn.Linear(n_features, n_classes), "ok", {}, ()),
        ("callbacks", ["x"], "error", {}, ()),
        ("callbacks", [("a", "b", "c")], "error", {}, ()),
        ("callbacks", [("best", EpochTimer())], "error", {}, ("estimator's own",)),
        ("callbacks", [EpochTimer()], "ok", {}, ()),
        ("device", "gpu", "error", {}, ("the gpu is 'cuda'",)),
        ("device", "foo", "error", {}, ("'foo'",)),
        ("device", "meta", "error", {}, ("'meta'",)),
        ("device", "xla", "error", {}, ("'xla'",)),
        ("device", "", "error", {}, ()),
        ("device", "cuda:7", "either", {}, ()),
        ("device", torch.device("meta"), "error", {}, ("'meta'",)),
        ("device", "cpu", "ok", {}, ()),
        ("device", torch.device("cpu"), "ok", {}, ()),
        ("feature_layer", "nope", "error", learned, ()),
        (
            "feature_layer",
            "hidden",
            "ok",
            {**learned, "n_estimators": 1, "numeric_embedding": None},
            (),
        ),
        ("feature_layer", "features", "ok", learned, ()),
        ("ce_weight", 0.0, "error", {"emd_weight": 0.0}, ()),
        (
            "validation_fraction",
            0.999,
            "either",
            {"early_stopping": True},
            ("validation_fraction", "early_stopping"),
        ),
        ("learning_rate_init", 1e30, "either", {}, DIVERGED_WORDS),
        # Diverging while validated: stopped with advice all the same.
        (
            "learning_rate_init",
            1e30,
            "either",
            {**sgd, "early_stopping": True},
            DIVERGED_WORDS,
        ),
        # Numbers numpy or torch would refuse without naming them.
        ("random_state", -1, "error", {}, ()),
        ("random_state", 2**32, "error", {}, ()),
        ("random_state", np.random.RandomState(0), "ok", {}, ()),
        ("random_state", 2**32 - 1, "ok", {}, ()),
        ("n_threads", 0, "error", {}, ()),
        ("n_threads", 2**31, "error", {}, ()),
        ("n_threads", None, "ok", {}, ()),
        ("alpha", inf, "error", {}, ()),
        ("tol", inf, "error", {}, ()),
        ("learning_rate_init", inf, "error", {}, ()),
        ("tol", 1e300, "ok", {}, ()),
        # Zero in float32: Adam refuses it, SGD does not use it.
        ("epsilon", 1e-300, "either", {}, ()),
        ("epsilon", 1e-44, "ok", {}, ()),
        ("precision", "bfloat16", "ok", {}, ()),
        ("numeric_embedding", "piecewise_linear", "ok", {"n_bins": 64}, ()),
        ("warm_start", True, "ok", {}, ()),
        ("verbose", 2, "ok", {}, ()),
    ]


def _spoil_other_parameter(draw, case, index=None):
    entries = _other_parameters(case)
    entry = entries[index] if index is not None else draw(st.sampled_from(entries))
    name, value, outcome, more, words = entry
    case.what = f"parameter {name}={value!r} with {more}"
    case.params.update(more)
    case.params[name] = value
    if name == "classes" and outcome == "error":
        case.classes_arg = None
    errors = DIVERGED if words == DIVERGED_WORDS else INPUT_ERRORS
    case.expect(outcome, *(words or (name,)), errors=errors)


PARTS = [
    *["usable", "features", "features", "features", "labels", "labels"],
    *["sample_weight", "class_weight", "table", "table", "other", "other"],
]


@st.composite
def fit_cases(draw, part=None, kind=None):
    """A case with one part spoilt: drawn, or ``part`` (and its ``kind``)."""
    part = part or draw(st.sampled_from(PARTS))
    case = draw(_base())
    if part == "features":
        X, rows, outcome, words, errors = _spoil_features(
            draw, case.X, fitting=case.method == "fit", kind=kind
        )
        case.what = f"features: {type(X).__name__} {_describe(X)}"
        case.X = X
        if rows is not None:
            case.y = case.y[rows]
        case.expect(outcome, *words, errors=errors)
    elif part == "labels":
        _spoil_labels(draw, case, kind)
    elif part == "sample_weight":
        _spoil_sample_weight(draw, case, kind)
    elif part == "class_weight":
        _spoil_class_weight(draw, case, kind)
    elif part == "table":
        _spoil_table_parameter(draw, case, kind)
    elif part == "other":
        _spoil_other_parameter(draw, case, kind)
    return case


def _describe(X):
    shape = getattr(X, "shape", None)
    dtype = getattr(X, "dtype", None)
    return f"shape={shape} dtype={dtype}" if shape is not None else ""


# ------------------------------------------------------------ the checks


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


@contextlib.contextmanager
def _quiet():
    """No warnings raised as errors, no epoch table on the terminal."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _check_named(case, error):
    """An error of the expected kind, where one may come, naming the problem."""
    summary = f"{case.what}: {type(error).__name__}: {error}"
    assert case.outcome != "ok", summary
    assert isinstance(error, case.errors), summary
    message = str(error).lower()
    assert any(word.lower() in message for word in case.words), (
        f"{summary} (expected one of {case.words})"
    )


def _check_predictions(case, clf, X):
    """Predictions on ``X`` as a scikit-learn classifier gives them, or an
    error that names the problem."""
    try:
        proba = clf.predict_proba(X)
        predicted = clf.predict(X)
    except Exception as error:
        _check_named(case, error)
        return
    assert case.outcome != "error", f"{case.what}: predicted without an error"
    n_rows, n_classes = _n_rows(X), len(clf.classes_)
    assert proba.shape == (n_rows, n_classes), case.what
    assert np.isfinite(proba).all() and (proba >= 0).all(), case.what
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert predicted.shape == (n_rows,), case.what
    known = set(clf.classes_.tolist())
    assert all(label in known for label in predicted.tolist()), case.what


def _fit_and_check(case):
    """Fit as the case says; check the fitted estimator or the error."""
    clf = EMDClassifier(**case.params)
    with _quiet():
        try:
            if case.method == "fit":
                clf.fit(case.X, case.y, sample_weight=case.sample_weight)
            else:
                clf.partial_fit(
                    case.X,
                    case.y,
                    sample_weight=case.sample_weight,
                    classes=case.classes_arg,
                )
        except Exception as error:
            event(f"refused: {type(error).__name__}")
            _check_named(case, error)
            # A failed fit leaves no network that could answer for it.
            with pytest.raises(NotFittedError):
                check_is_fitted(clf)
            return
        event("fitted")
        assert case.outcome != "error", f"{case.what}: the fit succeeded"
        check_is_fitted(clf)
        if case.classes is not None:
            assert clf.classes_.tolist() == list(case.classes), case.what
        _check_predictions(case, clf, case.X)


@FUZZ
@given(fit_cases())
def test_fit_ends_in_a_classifier_or_an_error_that_names_the_problem(case):
    _fit_and_check(case)


# Every kind of spoilt input, a few examples each, so that the default run goes
# through all of them; the random search above mixes them with more settings.
EACH_KIND = [
    *[("features", kind) for kind in FEATURE_KINDS],
    *[("labels", kind) for kind in LABEL_SPOILS],
    *[("sample_weight", kind) for kind in WEIGHT_KINDS],
    *[("class_weight", kind) for kind in CLASS_WEIGHT_KINDS],
    *[("table", name) for name in sorted(EMDClassifier._parameter_constraints)],
]


@pytest.mark.parametrize(
    "part, kind", EACH_KIND, ids=[f"{part}: {kind}" for part, kind in EACH_KIND]
)
@EACH
@given(data=st.data())
def test_each_kind_of_spoilt_input_ends_in_a_classifier_or_a_named_error(
    part, kind, data
):
    _fit_and_check(data.draw(fit_cases(part, kind)))


def _other_parameter_names():
    case = Case(what="", X=None, y=None, n_features=2, classes=np.arange(3))
    return [entry[0] for entry in _other_parameters(case)]


@pytest.mark.parametrize(
    "index",
    range(len(_other_parameter_names())),
    ids=[f"{i}: {name}" for i, name in enumerate(_other_parameter_names())],
)
@EACH
@given(data=st.data())
def test_each_doubtful_setting_the_table_accepts_fits_or_is_named(index, data):
    _fit_and_check(data.draw(fit_cases("other", index)))


def test_every_value_the_table_refuses_is_named_for_every_parameter():
    X, y = np.random.default_rng(0).normal(size=(6, 2)), np.arange(6) % 2
    for name in sorted(EMDClassifier._parameter_constraints):
        values = _refused_values(name)
        assert values, name
        for value in values:
            clf = EMDClassifier(**{"max_iter": 1, name: value})
            with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
                clf.fit(X, y)


# ------------------------------------------------------------------ predict


@functools.cache
def _fitted(kind):
    """A fitted estimator on 2 features, named (``"frame"``) or not."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = np.arange(30) % 3
    with _quiet():
        clf = EMDClassifier(
            hidden_layer_sizes=(4,), max_iter=2, random_state=0, device="cpu"
        )
        return clf.fit(_frame(X) if kind == "frame" else X, y)


@st.composite
def predict_cases(draw):
    kind = draw(st.sampled_from(["frame", "array"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = rng.normal(size=(draw(st.integers(1, 12)), 2))
    case = Case(what="usable", X=X, y=None, n_features=2)
    part = draw(st.sampled_from(["usable", "features", "features", "columns"]))
    if part == "features":
        X, _, outcome, words, errors = _spoil_features(draw, X, fitting=False)
        case.what = f"features: {type(X).__name__} {_describe(X)}"
        case.expect(outcome, *words, errors=errors)
        if isinstance(X, pd.DataFrame) and list(X.columns) != ["f0", "f1"]:
            # Columns fit did not see: named, or counted.
            outcome = "error" if outcome == "ok" else outcome
            case.expect(outcome, *words, "feature", errors=errors)
    elif part == "columns":
        change = draw(st.sampled_from(["more", "fewer", "renamed", "reordered"]))
        case.what = f"columns: {change}"
        if change in ("more", "fewer"):
            X = np.c_[X, X[:, :1]] if change == "more" else X[:, :1]
            case.expect("error", "features")
        elif kind == "frame":
            X = _frame(X)
            X = X[X.columns[::-1]] if change == "reordered" else X.add_prefix("new_")
            case.expect("error", "feature names")
    if kind == "frame" and part == "usable":
        X = _frame(X)
    case.X = X
    return kind, case


@FUZZ
@given(predict_cases())
def test_predict_gives_distributions_or_an_error_that_names_the_problem(drawn):
    kind, case = drawn
    clf = _fitted(kind)
    with _quiet():
        _check_predictions(case, clf, case.X)
    # Whatever came of it, the estimator is as fit left it.
    check_is_fitted(clf)
