"""The data the models are compared on: a bundled dataset or a CSV file, split.

A CSV file is read once, with pandas. Its target is read as pandas reads a column
(numbers, true/false or text, with "NA" or "null" missing), except that a word
``--order`` names is a class, and becomes an ordered ``Categorical``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import shlex
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype, is_string_dtype

from .._labels import check_sample_weight, is_text, sorted_order
from ..datasets import load_dataset
from . import DEFAULT_DATASET, DEFAULT_MAX_CSV_SIZE, Failure, one_line, show, size_text

MANY_LEVELS = 50  # most one-hot features of a text column


@dataclass
class Data:
    """The features and the target of the dataset to compare the models on."""

    name: str
    X: pd.DataFrame
    y: pd.Series  # of an ordered Categorical, whose categories are the classes
    notes: list[str]
    weight: np.ndarray | None = None


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
    if args.csv is None:
        name = args.dataset or DEFAULT_DATASET
        bunch = load_dataset(name, as_frame=True)
        return Data(f"{name} (bundled with skemd)", bunch.data, bunch.target, [])
    frame, notes, target = _read(args), [], args.target
    if len(frame) == 0:
        raise Failure(f"{args.csv!r} has a header but no data rows")
    cells = [c[0].strip() if isinstance(c, tuple) else "" for c in frame[target]]
    y = pd.Series(_target(cells, args.order, target, notes), frame.index, name=target)
    if y.isna().any():
        dropped = f"dropped {y.isna().sum()} of {len(y)} rows with no value"
        notes.append(f"{dropped} in column {target!r}")
        frame, y = frame[y.notna()], y[y.notna()]
    weights = None if args.weight is None else _weights(frame[args.weight])
    if weights is not None and not weights.all():
        n_zero = int((weights == 0).sum())
        notes.append(f"{n_zero} of {len(y)} rows have weight 0 and count for nothing")
    left_out = [target, *([args.weight] if args.weight else []), *(args.drop or [])]
    X = _features(frame.drop(columns=left_out), args.csv, left_out, notes)
    return Data(args.csv, X, y, notes, weights)


def _read(args) -> pd.DataFrame:
    """The rows of the file; the target's cells as written, in 1-tuples."""
    path, limit = args.csv, args.max_csv_size or DEFAULT_MAX_CSV_SIZE
    try:
        with open(path, "rb") as file:
            if os.path.isfile(path):
                size, data = os.path.getsize(path), file
            else:  # a pipe or /dev/zero: read no more than the limit
                content = file.read(limit + 1)
                size, data = len(content), io.BytesIO(content)
            if size > limit:
                raise Failure(
                    f"{path!r} is larger than the limit of --max-csv-size, "
                    f"{size_text(limit)}; raise it to read the file"
                )
            stream = io.TextIOWrapper(data, encoding="utf-8-sig", newline="")
            names = _header(stream, args)
            with warnings.catch_warnings():
                # index_col=False: a trailing separator does not shift the columns.
                warnings.simplefilter("ignore", pd.errors.ParserWarning)
                return pd.read_csv(
                    stream,
                    sep=args.sep,
                    header=None,
                    names=names,
                    index_col=False,
                    skipinitialspace=True,
                    low_memory=False,
                    # In 1-tuples, the cells as written: pandas would take a
                    # converter's "NA" or "null" for a missing value.
                    converters={args.target: lambda cell: (cell,)},
                )
    except (ValueError, csv.Error, OSError) as exc:  # pandas' and UTF-8 errors too
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
    wanted = {"": [args.target], "--weight: ": [args.weight], "--drop: ": args.drop}
    for option, columns in wanted.items():
        unknown = [name for name in columns or () if name and name not in names]
        if unknown:
            what = "column {} is" if len(unknown) == 1 else "columns {} are"
            hint = " (only one column was read: see --sep)" if len(names) == 1 else ""
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
            f"{name} has no value in {column.isna().sum()} of {len(column)} rows; "
            "every sample needs a weight (0 leaves it out)"
        )
    try:
        return check_sample_weight(column.to_numpy(np.float64), len(column), name=name)
    except ValueError as exc:
        raise Failure(one_line(exc)) from None


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
    bad = [v for v in values if not (abs(v) < 2**53 and float(v).is_integer())]
    if bad:
        raise Failure(
            f"{where} holds numbers that are not whole (or infinite, or beyond 2**53), "
            f"such as {bad[0]!r}; classes must be whole numbers or text (is it a "
            "continuous quantity?)"
        )
    return [int(value) for value in values]


def _target(cells: list[str], order, target: str, notes: list) -> pd.Categorical:
    """The class of each row (NaN for none); the categories are the classes from
    ``--order``, else the sorted labels."""
    labels, kind = _labels(cells, order, target)
    present = [label for label in dict.fromkeys(labels) if label is not None]
    if len(present) < 2:
        what = f"a single class, {present[0]!r}" if present else "no values"
        raise Failure(f"column {target!r} holds {what}; there is nothing to classify")
    if order is None:
        classes = sorted_order(np.asarray(present), warn=False).tolist()
        if is_text(np.asarray(classes)):
            notes.append(
                "the classes are text and no --order was given, so their order is "
                f"a guess, the alphabetical one: {' < '.join(classes)}. If they rank "
                "otherwise, give the order, lowest first, with --order "
                f"{shlex.quote(','.join(classes))} rearranged"
            )
        return pd.Categorical(labels, categories=classes, ordered=True)
    classes = _named_classes(order, kind, target)
    missed = [label for label in present if label not in classes]
    if missed:
        raise Failure(
            f"--order misses the class(es) {show(missed)} of column {target!r}; it "
            "must list every class"
        )
    absent = [n for n, c in zip(order, classes, strict=True) if c not in present]
    if absent:
        notes.append(
            f"no sample has the class(es) {show(absent)} named by --order; they are "
            "kept in the class order"
        )
    return pd.Categorical(labels, categories=classes, ordered=True)


def _labels(cells: list[str], order, target: str) -> tuple[list, str]:
    """The class of each row (None for none) and what the classes are."""
    words = list(dict.fromkeys(cells))
    read = dict(zip(words, _read_words(words), strict=True))
    kept = [word for word in words if not pd.isna(read[word])]
    kind = _kind([read[word] for word in kept])
    if kind == "text":
        text = sorted(w for w in kept if pd.isna(pd.to_numeric(w, errors="coerce")))
        if order is None and 0 < len(text) < len(kept):
            raise Failure(
                f"column {target!r} holds numbers and text, such as "
                f"{show(text, limit=3)}, which would sort as text (10 before 2); "
                "give the class order with --order, or leave missing values empty"
            )
        labels = {word: word for word in [*kept, *(order or [])]}
    else:
        values = [read[word] for word in kept]
        if kind == "whole numbers":
            values = _whole(values, f"column {target!r}")
        labels = dict(zip(kept, values, strict=True))
    return [labels.get(cell) for cell in cells], kind


def _named_classes(order: list[str], kind: str, target: str) -> list:
    """The classes ``--order`` names, read as the target's cells are."""
    if kind == "text":
        return list(order)
    classes = {}
    for name in order:
        (value,) = _read_words([name])
        if pd.isna(value) or _kind([value]) != kind:
            write = "a number" if kind == "whole numbers" else "true or false"
            hint = f" (pandas reads it as a missing value: write that class as {write})"
            hint = hint if pd.isna(value) else ""
            raise Failure(
                f"--order names {name!r}, but column {target!r} holds {kind}{hint}"
            )
        if kind == "whole numbers":
            (value,) = _whole([value], "--order")
        if value in classes:
            raise Failure(
                f"--order names the class {value} twice, as {classes[value]!r} and "
                f"{name!r}"
            )
        classes[value] = name
    return list(classes)


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
    try:
        parts = train_test_split(
            data.X,
            data.y,
            *weights,
            test_size=test_size,
            random_state=seed,
            stratify=None if note else data.y.to_numpy(),
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
            "every sample of the test part has weight 0; there is nothing to score "
            "(try another --seed or a larger --test-size)"
        )
    return parts
