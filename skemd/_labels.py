"""Class order, label positions and sample weights, in one place.

The estimator, the metrics, the plotting functions and the command line all need
the same three things: the classes in order (given, taken from an ordered pandas
``Categorical``, or the sorted labels), the position of each label in that order,
and checked sample weights. They get them here, so that a label problem gets the
same clear message wherever it shows up.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .exceptions import ClassOrderWarning

_N_SHOWN = 5


def describe(values, *, keep_order: bool = False, limit: int = _N_SHOWN) -> str:
    """A few distinct values for a message, sorted unless ``keep_order``."""
    distinct = list(dict.fromkeys(np.asarray(values, dtype=object).ravel().tolist()))
    if not keep_order:
        try:
            distinct = sorted(distinct)
        except TypeError:
            pass
    shown = ", ".join(repr(value) for value in distinct[:limit])
    more = len(distinct) - limit
    return f"[{shown}{f', ... ({more} more)' if more > 0 else ''}]"


def categories_of(y) -> np.ndarray | None:
    """The categories of a pandas ordered ``Categorical`` (or Series of one)."""
    dtype = getattr(y, "dtype", None)
    if getattr(dtype, "ordered", False) and hasattr(dtype, "categories"):
        return np.asarray(dtype.categories)
    return None


def _is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    # pandas' NA and NaT, without importing pandas.
    return type(value).__name__ in ("NAType", "NaTType")


def _type_name(value) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, (bool, np.bool_)):
        return "booleans"
    if isinstance(value, numbers.Number):
        return "numbers"
    return type(value).__name__


def check_labels(y, name: str = "y") -> np.ndarray:
    """Labels as a 1-D array: not empty, none missing, all of one kind.

    Raises
    ------
    ValueError
        If ``y`` is not one-dimensional, is empty, holds a missing value (None,
        NaN, pandas' NA) or mixes text with numbers.
    """
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of labels; got shape {labels.shape}."
        )
    if labels.size == 0:
        raise ValueError(f"{name} is empty.")
    if labels.dtype.kind == "f":
        missing = np.isnan(labels)
    elif labels.dtype.kind == "O":
        missing = np.fromiter(
            (_is_missing(value) for value in labels.tolist()), bool, labels.size
        )
    else:
        missing = None
    if missing is not None and missing.any():
        raise ValueError(
            f"{name} has a missing label (None or NaN) at position "
            f"{int(np.argmax(missing))}; every sample needs a class."
        )
    if labels.dtype.kind == "O":
        kinds = {}
        for value in labels.tolist():
            kinds.setdefault(_type_name(value), value)
        if len(kinds) > 1:
            shown = " and ".join(f"{kind} ({value!r})" for kind, value in kinds.items())
            raise ValueError(
                f"{name} mixes labels of different types: {shown}. Give every "
                "label the same type, for example all text or all integers."
            )
    return labels


def check_label_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """True and predicted labels, each checked, of the same length."""
    true_labels = check_labels(y_true, "y_true")
    pred_labels = check_labels(y_pred, "y_pred")
    if true_labels.shape[0] != pred_labels.shape[0]:
        raise ValueError(
            f"y_true has {true_labels.shape[0]} samples but y_pred has "
            f"{pred_labels.shape[0]}."
        )
    return true_labels, pred_labels


def _kind(labels: np.ndarray) -> str:
    if labels.dtype.kind in "US":
        return "text"
    if labels.dtype.kind in "biuf":
        return "numbers"
    first = labels.flat[0] if labels.size else None
    return _type_name(first) if first is not None else "objects"


def is_text(labels: np.ndarray) -> bool:
    """Whether the labels are text, whose sorted order says nothing of rank."""
    return labels.size > 0 and _kind(labels) == "text"


def check_order(classes, name: str = "classes") -> np.ndarray:
    """A given class order: a non-empty 1-D array of distinct labels."""
    if hasattr(classes, "classes_"):
        order = np.asarray(classes.classes_)
    elif hasattr(classes, "fit"):
        raise ValueError(
            f"{name}={type(classes).__name__} is an estimator without classes_: "
            "fit it first, or pass the labels in order."
        )
    else:
        order = np.asarray(classes)
    if order.ndim != 1 or order.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D list of labels in order, lowest "
            f"first; got shape {order.shape}."
        )
    seen, repeated = set(), []
    for label in order.tolist():
        if label in seen:
            repeated.append(label)
        seen.add(label)
    if repeated:
        raise ValueError(
            f"{name} has repeated labels: {order.tolist()} (repeated: "
            f"{describe(repeated)})."
        )
    return order


def sorted_order(*label_arrays: np.ndarray, warn: bool = True, stacklevel: int = 2):
    """The sorted distinct labels of the arrays, the order when none is given.

    Text labels sorted alphabetically rarely follow their rank (``"high"`` sorts
    before ``"low"``): with ``warn``, a :class:`~skemd.exceptions.ClassOrderWarning`
    names the order taken and how to give the right one.
    """
    kinds = {_kind(labels) for labels in label_arrays}
    if len(kinds) > 1:
        raise ValueError(
            "The labels are of different types ("
            + " and ".join(sorted(kinds))
            + "); labels must be of one type."
        )
    merged = np.concatenate(label_arrays) if len(label_arrays) > 1 else label_arrays[0]
    try:
        order = np.unique(merged)
    except TypeError:
        raise ValueError(
            "The labels cannot be sorted; pass the classes in order with classes=."
        ) from None
    if warn and is_text(order):
        warnings.warn(
            f"The class labels are text and no class order was given, so the "
            f"classes are taken in alphabetical order: {describe(order)}, lowest "
            "first. If that is not their order, give it with classes=[...] "
            "(lowest first) or pass the target as an ordered pandas Categorical.",
            ClassOrderWarning,
            stacklevel=stacklevel + 1,
        )
    return order


def positions(
    labels: np.ndarray,
    order: np.ndarray,
    *,
    name: str = "y",
    order_name: str = "classes",
) -> np.ndarray:
    """Position of each label in ``order``; a ValueError names any stray label."""
    labels = np.asarray(labels)
    order = np.asarray(order)
    try:
        sorter = np.argsort(order, kind="stable")
        found = np.searchsorted(order, labels, sorter=sorter)
        index = sorter[np.clip(found, 0, order.size - 1)]
        known = np.asarray(order[index] == labels, dtype=bool)
        known = np.broadcast_to(known, labels.shape)
    except TypeError:
        # Python objects that do not sort against each other: look them up.
        lookup = {label: i for i, label in enumerate(order.tolist())}
        index = np.fromiter(
            (lookup.get(label, -1) for label in labels.tolist()), np.intp, labels.size
        )
        known = index >= 0
    if not known.all():
        raise ValueError(
            f"{name} has labels that {order_name} does not cover: "
            f"{describe(labels[~known])}; {order_name} is "
            f"{describe(order, keep_order=True, limit=20)}."
            + _positions_hint(labels, order, name)
        )
    return index.astype(np.intp, copy=False)


def _positions_hint(labels: np.ndarray, order: np.ndarray, name: str) -> str:
    """Advice when the labels look like positions given in place of labels."""
    if labels.dtype.kind not in "iu" or labels.size == 0:
        return ""
    if any(isinstance(label, numbers.Integral) for label in order.tolist()):
        return ""
    if labels.min() < 0 or labels.max() >= order.size:
        return ""
    return (
        f" {name} holds integers 0..{order.size - 1} in place of these labels: "
        "a scikit-learn meta-estimator that encodes the labels itself "
        "(BaggingClassifier, VotingClassifier, StackingClassifier, "
        "cross_val_predict with predict_proba) passes on their positions in "
        "sorted order, which loses the class order. Give it labels that sort in "
        "class order, such as integer codes: y_codes = pandas.Categorical(y, "
        "categories=order).codes, and leave classes unset."
    )


def check_sample_weight(
    sample_weight, n_samples: int, *, name: str = "sample_weight", scalar: bool = True
) -> np.ndarray | None:
    """Sample weights as float64: one per sample, finite, >= 0, not all zero.

    With ``scalar=True`` a single number gives every sample that weight.
    ``None`` stays ``None``.
    """
    if sample_weight is None:
        return None
    try:
        weights = np.asarray(sample_weight)
    except ValueError as exc:  # ragged nested sequences
        raise ValueError(
            f"{name} must be a 1-D array of numbers, one per sample: {exc}"
        ) from exc
    if weights.ndim == 0 and scalar:
        weights = np.full(n_samples, weights)
    if weights.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of shape (n_samples,); got shape "
            f"{weights.shape}."
        )
    if weights.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {weights.shape[0]} values for {n_samples} samples."
        )
    if weights.dtype.kind == "O":
        try:
            weights = weights.astype(np.float64)
        except (TypeError, ValueError):
            pass
    if weights.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be numeric; got dtype {weights.dtype} (values such as "
            f"{describe(weights, keep_order=True)})."
        )
    weights = weights.astype(np.float64)
    finite = np.isfinite(weights)
    if not finite.all():
        first = int(np.argmin(finite))
        raise ValueError(
            f"{name} contains NaN or infinity (first at position {first}), a "
            f"weight of {weights[first]:g}; weights must be finite numbers."
        )
    negative = weights < 0
    if negative.any():
        first = int(np.argmax(negative))
        raise ValueError(
            f"{name} contains negative weights (first at position {first}: "
            f"{float(weights[first]):g}); weights must be 0 or more."
        )
    if not weights.any():
        raise ValueError(
            f"{name} is zero for every sample; at least one weight must be positive."
        )
    return weights


def same_labels(a, b) -> bool:
    """Whether two label arrays hold the same labels in the same order."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.tolist() == b.tolist()


def training_classes(y: np.ndarray, categories=None, classes=None):
    """The classes to train on, lowest first, and what gave their order.

    ``classes`` (given) wins, then the ``categories`` of an ordered pandas
    ``Categorical`` target, then the sorted labels of ``y`` (with a
    :class:`~skemd.exceptions.ClassOrderWarning` for text). Returns the classes
    and a name for their source, for error messages: ``"classes"``, ``"the
    target's categories"`` or ``"the labels"``.

    Raises
    ------
    ValueError
        If the order given misses labels of ``y``, or there is a single class.
    """
    if classes is not None:
        order, source = check_order(classes), "classes"
    elif categories is not None:
        order, source = np.asarray(categories), "the target's categories"
    else:
        order, source = sorted_order(y, stacklevel=5), "the labels"
    # A given order that misses labels: say so, rather than anything else.
    positions(y, order, order_name=source)
    if order.size < 2:
        raise ValueError(
            "Classifier can't train when only one class is present: got the "
            f"single class {order[0]!r}."
        )
    return order, source


def class_weighted(spec, classes, y_index, weight, incremental, ranks):
    """``weight`` (or ones) times the weight of each sample's class.

    ``spec`` is a ``class_weight`` parameter: None, a dict ``{label: weight}``
    (classes left out weigh 1) or ``"balanced"`` (``n_samples / (n_classes *
    count)``, the counts of every rank's rows together when data-parallel:
    ``ranks.sum`` adds a number over the ranks).
    """
    if spec is None:
        return weight
    n_classes = len(classes)
    if isinstance(spec, str):
        if incremental:
            raise ValueError(
                "class_weight='balanced' needs the class counts of the whole data "
                "set, which partial_fit does not see. Compute them once "
                "(sklearn.utils.class_weight.compute_class_weight) and pass "
                "class_weight as a dict."
            )
        counts = np.bincount(y_index, minlength=n_classes).astype(np.float64)
        counts, n_rows = ranks.sum(counts), ranks.sum(len(y_index))
        present = counts > 0
        per_class = np.ones(n_classes)
        per_class[present] = n_rows / (present.sum() * counts[present])
    else:
        per_class = _class_weight_dict(spec, classes)
    per_sample = per_class[y_index]
    if weight is not None:
        per_sample = per_sample * weight
    if not (per_sample > 0).any():
        raise ValueError(
            "class_weight and sample_weight leave every sample with weight zero: "
            "nothing to train."
        )
    return per_sample


def _class_weight_dict(spec: dict, classes) -> np.ndarray:
    """The weight of each class from a ``{label: weight}`` dict, checked."""
    lookup = {label: index for index, label in enumerate(np.asarray(classes).tolist())}
    unknown = [label for label in spec if label not in lookup]
    if unknown:
        raise ValueError(
            f"class_weight has labels that are not classes: {unknown[:10]}. "
            f"The classes are {list(lookup)}."
        )
    per_class = np.ones(len(lookup))
    for label, value in spec.items():
        if not (isinstance(value, numbers.Real) and np.isfinite(value)):
            raise ValueError(
                f"class_weight[{label!r}] must be a finite number; got {value!r}."
            )
        if value < 0:
            raise ValueError(
                f"class_weight[{label!r}] is negative ({value}); weights must be 0 "
                "or more."
            )
        per_class[lookup[label]] = value
    return per_class


def given_classes(argument, parameter, categories, incremental):
    """The class order given to a fit: ``classes=`` of ``partial_fit`` or the
    ``classes`` parameter (which must agree); None when neither is given."""
    if argument is not None and parameter is not None:
        if not same_labels(argument, parameter):
            raise ValueError(
                f"classes={list(np.asarray(argument).tolist())} differs from the "
                f"classes parameter {list(np.asarray(parameter).tolist())}; pass "
                "one of them."
            )
    given = argument if argument is not None else parameter
    if incremental and given is None and categories is None:
        raise ValueError(
            "classes must be passed on the first call to partial_fit (or set with "
            "the classes parameter): every class, in order, as later chunks may "
            "hold classes this one lacks."
        )
    return given


def check_same_classes(fitted, y, categories, argument, parameter, incremental):
    """Training on from a fit (``partial_fit``, ``warm_start``): the classes of
    ``y`` and of any order given must be the ``fitted`` ones."""
    fitted = list(np.asarray(fitted).tolist())
    if incremental:
        for given, what in ((argument, "classes="), (categories, "categories")):
            if given is not None and not same_labels(given, fitted):
                raise ValueError(
                    f"The {what} {list(np.asarray(given).tolist())} is not the "
                    f"same as on the first call to partial_fit, {fitted}."
                )
        return
    given = parameter if parameter is not None else categories
    if given is None:
        # Plain labels say nothing of the order: the fitted one holds, and only
        # the set must match, as in scikit-learn's MLP.
        labels = np.unique(y)
        same = set(labels.tolist()) == set(fitted)
    else:
        labels = np.asarray(given)
        same = same_labels(labels, fitted)
    if not same:
        raise ValueError(
            "warm_start can only be used where y has the same classes as in the "
            f"previous call to fit. Previously got {fitted}, y has "
            f"{list(labels.tolist())}."
        )
