"""The data the models are compared on: a bundled dataset or a CSV file, split.

A CSV file is read once, with pandas. Its target is read as pandas reads a column
(numbers, true/false or text, with "NA" or "null" missing), except that a word
``--order`` names is a class, and becomes an ordered ``Categorical`` whose
categories are the classes, lowest first.
"""

from __future__ import annotations

import csv
import io
import math
import shlex
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype, is_string_dtype

from .._labels import check_sample_weight, is_text, positions, sorted_order
from ..datasets import load_dataset
from . import DEFAULT_MAX_CSV_SIZE, Failure, default_dataset, one_line, show, size_text

MANY_LEVELS = 50  # most one-hot features of a text column


@dataclass
class Data:
    """The features and the target of the dataset to compare the models on."""

    name: str
    X: pd.DataFrame
    y: pd.Series  # of an ordered Categorical, whose categories are the classes
    notes: list[str] = field(default_factory=list)
    weight: np.ndarray | None = None
    weight_column: str | None = None


class Split(NamedTuple):
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    w_train: np.ndarray | None
    w_test: np.ndarray | None
    note: str | None  # why the split is not stratified, if it is not


def load(args) -> Data:
    """The data the command line names."""
    if args.csv is not None:
        return _load_csv(args)
    name = args.dataset or default_dataset()
    bunch = load_dataset(name, as_frame=True)
    return Data(f"{name} (bundled with skemd)", bunch.data, bunch.target)


def _load_csv(args) -> Data:
    path, target, weight, drop = args.csv, args.target, args.weight, args.drop or []
    frame = _read(args)
    if len(frame) == 0:
        raise Failure(f"{path!r} has a header but no data rows")
    cells = [c[0].strip() if isinstance(c, tuple) else "" for c in frame[target]]
    labels, kind = _target_labels(cells, args.order, target)
    has_class = np.array([label is not None for label in labels])
    if not has_class.any():
        raise Failure(f"column {target!r} of {path!r} has no values")
    notes = []
    if not has_class.all():
        n_dropped, frame = int((~has_class).sum()), frame[has_class]
        notes.append(
            f"dropped {n_dropped} of {len(cells)} rows with no value in column "
            f"{target!r}"
        )
    labels = np.asarray([label for label in labels if label is not None])
    if len(set(labels.tolist())) < 2:
        raise Failure(
            f"column {target!r} holds a single class, {labels[0].item()!r}; there "
            "is nothing to classify"
        )
    classes = _class_order(labels, kind, args.order, target, notes)
    y = pd.Categorical(labels, categories=classes, ordered=True)
    y = pd.Series(y, index=frame.index, name=target)
    weights = None if weight is None else _weights(frame[weight])
    if weights is not None and not weights.all():
        n_zero = int((weights == 0).sum())
        notes.append(f"{n_zero} of {len(y)} rows have weight 0 and count for nothing")
    left_out = [target, *([weight] if weight else []), *drop]
    X = _features(frame.drop(columns=left_out), path, left_out, notes)
    return Data(path, X, y, notes, weights, weight)


# ------------------------------------------------------------------ the file


class _Limited(io.RawIOBase):
    """A binary file that fails once more than ``limit`` bytes are read: through
    it, ``/dev/zero`` or an endless pipe cannot fill the memory."""

    def __init__(self, raw, limit: int, path: str) -> None:
        self._raw, self._limit, self._left, self._path = raw, limit, limit, path

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n_read = self._raw.readinto(buffer) or 0
        self._left -= n_read
        if self._left < 0:
            more = 1 if self._limit < 2**30 else 2 * math.ceil(self._limit / 2**30)
            raise Failure(
                f"{self._path!r} is larger than the limit of --max-csv-size, "
                f"{size_text(self._limit)}; raise it to read the file, as in "
                f"--max-csv-size {more}G"
            )
        return n_read


def _as_written(cell: str) -> tuple[str]:
    # pandas matches the text a converter returns against its words for a
    # missing value ("NA", "null"), which --order may name as classes; a tuple
    # it leaves alone.
    return (cell,)


def _read(args) -> pd.DataFrame:
    """The rows of the file; the target's cells as written, in 1-tuples."""
    path, limit = args.csv, args.max_csv_size or DEFAULT_MAX_CSV_SIZE
    try:
        with open(path, "rb", buffering=0) as raw:
            stream = io.BufferedReader(_Limited(raw, limit, path))
            stream = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
            names = _header(stream, args)
            with warnings.catch_warnings():
                # Rows longer than the header (a trailing separator) lose their
                # extra fields: index_col=False keeps the columns in place.
                warnings.simplefilter("ignore", pd.errors.ParserWarning)
                return pd.read_csv(
                    stream,
                    sep=args.sep,
                    header=None,
                    names=names,
                    index_col=False,
                    skipinitialspace=True,
                    low_memory=False,
                    converters={args.target: _as_written},
                )
    except UnicodeDecodeError:
        raise Failure(f"cannot read {path!r}: it is not UTF-8 text") from None
    except (ValueError, csv.Error, OSError) as exc:  # pandas' parser errors included
        raise Failure(f"cannot read {path!r}: {one_line(exc)}") from None


def _header(stream, args) -> list[str]:
    """The column names as written (pandas would rename a repeated "y" to "y.1"),
    checked against those the options name."""
    row = next((row for row in csv.reader(stream, delimiter=args.sep) if row), None)
    if row is None:
        raise Failure(f"cannot read {args.csv!r}: the file is empty")
    names = [name.strip() or f"column {i}" for i, name in enumerate(row, 1)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise Failure(f"{args.csv!r} has more than one column named {show(repeated)}")
    wanted = {"": [args.target], "--weight: ": [args.weight] if args.weight else []}
    wanted["--drop: "] = args.drop or []
    for option, columns in wanted.items():
        unknown = [name for name in columns if name not in names]
        if unknown:
            what = "column {} is" if len(unknown) == 1 else "columns {} are"
            hint = ""
            if len(names) == 1 and args.sep == ",":
                hint = " (only one column was read: is the file separated by ';'? "
                hint += "see --sep)"
            raise Failure(
                f"{option}{what.format(show(unknown))} not in {args.csv!r}; its "
                f"columns are {show(names, limit=30)}{hint}"
            )
    return names


def _features(X: pd.DataFrame, path: str, left_out: list[str], notes: list):
    """The feature columns worth using, text stripped, with notes on the rest."""
    empty = [name for name in X.columns if X[name].isna().all()]
    if empty:
        # A column with no value (as a trailing separator makes) says nothing.
        notes.append(f"left out column(s) {show(empty)}, which hold no value")
        X = X.drop(columns=empty)
    if X.shape[1] == 0:
        raise Failure(f"{path!r} has no feature columns besides {show(left_out)}")
    # Scaling overflows on numbers this large (the networks compute in float32,
    # whose largest number is about 3.4e38), which scikit-learn reports as NaN.
    numbers = X.select_dtypes("number")
    huge = [name for name in numbers if (numbers[name].abs() > 3.4e38).any()]
    if huge:
        raise Failure(
            f"feature column(s) {show(huge)} hold infinite or too large numbers "
            "(beyond 3.4e38); leave them out with --drop, or fix the values"
        )
    for name in X.columns:
        if is_string_dtype(X[name]):
            X[name] = X[name].str.strip()  # spaces before a separator stay in text
            if X[name].nunique() > MANY_LEVELS:
                notes.append(
                    f"text column {name!r} has {X[name].nunique()} distinct values: "
                    f"the {MANY_LEVELS - 1} most frequent are one-hot encoded, the "
                    "rest share one feature (an identifier? leave it out with --drop)"
                )
    n_missing = int(X.isna().to_numpy().sum())
    if n_missing:
        notes.append(
            f"{n_missing} missing feature values: numbers are filled with the median "
            "of the training part, text is a category of its own"
        )
    return X


def _weights(column: pd.Series) -> np.ndarray:
    """The sample weights of a column: numbers >= 0 in every row, not all zero."""
    name = f"weight column {column.name!r}"
    if is_bool_dtype(column) or not is_numeric_dtype(column):
        text = column.dropna().astype(str)
        bad = text[pd.to_numeric(text, errors="coerce").isna()]
        such = f", such as {bad.iloc[0]!r}" if len(bad) else ""
        raise Failure(f"{name} holds values that are not numbers{such}")
    if column.isna().any():
        raise Failure(
            f"{name} has no value in {int(column.isna().sum())} of {len(column)} "
            "rows; every sample needs a weight (0 leaves it out)"
        )
    try:
        return check_sample_weight(column.to_numpy(np.float64), len(column), name=name)
    except ValueError as exc:
        raise Failure(one_line(exc)) from None


# ---------------------------------------------------------------- the target


def _read_words(words: list[str]) -> list:
    """The words as pandas reads a CSV column of them: numbers, booleans, text or
    NaN. pandas is asked, as its words for a missing value are not public."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([word] for word in words)
    text.seek(0)
    return pd.read_csv(text, header=None, skip_blank_lines=False)[0].tolist()


def _kind(values: list) -> str:
    if values and all(isinstance(value, bool) for value in values):
        return "true and false"
    if values and all(isinstance(value, (int, float)) for value in values):
        return "whole numbers"
    return "text"


def _whole(values: list, where: str) -> list:
    if all(isinstance(value, int) for value in values):
        return values
    if not all(math.isfinite(value) and abs(value) < 2**53 for value in values):
        raise Failure(
            f"{where} holds infinite or too large numbers; classes must be whole "
            "numbers below 2**53 or text"
        )
    fractional = [value for value in values if not float(value).is_integer()]
    if fractional:
        raise Failure(
            f"{where} holds numbers that are not whole, such as {fractional[0]!r}; "
            "classes must be whole numbers or text (is it a continuous quantity?)"
        )
    return [int(value) for value in values]


def _target_labels(cells: list[str], order, target: str) -> tuple[list, str]:
    """The class of each row (None for none) and what the classes are."""
    words = list(dict.fromkeys(cells))
    read = dict(zip(words, _read_words(words), strict=True))
    kept = [word for word in words if not pd.isna(read[word])]
    kind = _kind([read[word] for word in kept])
    if kind == "whole numbers":
        values = _whole([read[word] for word in kept], f"column {target!r}")
        labels = dict(zip(kept, values, strict=True))
    elif kind == "true and false":
        labels = {word: read[word] for word in kept}
    else:
        numbers = pd.to_numeric(pd.Series(kept, dtype=object), errors="coerce")
        if order is None and 0 < numbers.notna().sum() < len(kept):
            text = sorted(word for word, n in zip(kept, numbers, strict=True) if n != n)
            raise Failure(
                f"column {target!r} holds numbers and text, such as "
                f"{show(text, limit=3)}, which would sort as text (10 before 2); "
                "give the class order with --order, or leave missing values empty"
            )
        labels = {word: word for word in [*kept, *(order or [])]}
    return [labels.get(cell) for cell in cells], kind


def _named_classes(order: list[str], kind: str, target: str) -> list:
    """The classes ``--order`` names, read as the target's cells are."""
    if kind == "text":
        return list(order)
    classes, first = [], {}
    for name in order:
        (value,) = _read_words([name])
        if pd.isna(value) or _kind([value]) != kind:
            hint = ""
            if pd.isna(value):
                write = "a number" if kind == "whole numbers" else "true or false"
                hint = (
                    f" (pandas reads {name!r} as a missing value, so its rows have "
                    f"no class: write that class as {write})"
                )
            raise Failure(
                f"--order names {name!r}, but column {target!r} holds {kind}{hint}"
            )
        if kind == "whole numbers":
            (value,) = _whole([value], "--order")
        if first.setdefault(value, name) != name:
            raise Failure(
                f"--order names the class {value} twice, as {first[value]!r} and "
                f"{name!r}"
            )
        classes.append(value)
    return classes


def _class_order(labels, kind: str, order, target: str, notes: list):
    """The classes, lowest first: from ``--order``, else the sorted labels."""
    present = sorted_order(labels, warn=False)
    if order is None:
        if is_text(present):
            notes.append(
                "the classes are text and no --order was given, so their order is "
                f"a guess, the alphabetical one: {' < '.join(present.tolist())}. If "
                "they rank otherwise, give the order, lowest first, with --order "
                f"{shlex.quote(','.join(present.tolist()))} rearranged"
            )
        return present
    classes = np.asarray(_named_classes(order, kind, target))
    try:
        positions(labels, classes, name=f"column {target!r}", order_name="--order")
    except ValueError as exc:
        raise Failure(f"{one_line(exc)} It must list every class.") from None
    present = set(present.tolist())
    absent = [
        n for n, c in zip(order, classes.tolist(), strict=True) if c not in present
    ]
    if absent:
        notes.append(
            f"no sample has the class(es) {show(absent)} named by --order; they are "
            "kept in the class order"
        )
    return classes


# ----------------------------------------------------------------- the split


def split(data: Data, test_size: float, seed: int) -> Split:
    """Hold out a stratified test part, or a plain one when classes are too rare."""
    from sklearn.model_selection import train_test_split

    counts = data.y.value_counts()
    counts = counts[counts > 0]
    n_test = math.ceil(test_size * len(data.y))
    n_small, note = min(n_test, len(data.y) - n_test), None
    if counts.min() < 2:
        note = f"class(es) {show(counts.index[counts < 2])} have a single sample"
    elif n_small < len(counts):
        note = f"{n_small} samples cannot hold all {len(counts)} classes"
    weights = [] if data.weight is None else [data.weight]
    stratify = None if note else data.y.to_numpy()
    try:
        parts = train_test_split(
            data.X,
            data.y,
            *weights,
            test_size=test_size,
            random_state=seed,
            stratify=stratify,
        )
    except ValueError as exc:
        raise Failure(
            f"cannot split {len(data.y)} samples with --test-size {test_size}: "
            f"{one_line(exc)}"
        ) from None
    note = note and f"the split is not stratified: {note}"
    parts = Split(*parts[:4], *(parts[4:] or [None, None]), note)
    y_train, w_train = parts.y_train, parts.w_train
    if (y_train if w_train is None else y_train[w_train > 0]).nunique() < 2:
        weighted = " with a weight above 0" if w_train is not None else ""
        raise Failure(
            f"the training part holds a single class{weighted}; {len(data.y)} "
            "samples are too few"
        )
    if parts.w_test is not None and not parts.w_test.any():
        raise Failure(
            f"every sample of the test part has weight 0 in column "
            f"{data.weight_column!r}; there is nothing to score (try another --seed "
            "or a larger --test-size)"
        )
    return parts
