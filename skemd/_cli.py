"""The ``skemd`` command: compare ordinal classifiers on a held-out split.

``python -m skemd`` (or the ``skemd`` console command) trains three models on an
ordinal dataset and prints their test scores side by side:

* :class:`~skemd.EMDClassifier` trained with the squared EMD loss;
* the same network trained with cross-entropy only;
* a linear ordinal baseline: mord's ``LogisticAT``, or scikit-learn's (nominal)
  ``LogisticRegression`` when mord is not installed.

Without arguments it runs on the red wine quality data bundled with skemd;
``--dataset`` picks another bundled dataset and ``--csv`` reads a file of your own.
Exit status: 0 on success, 1 when the data cannot be used or training fails, 2 for
a wrong command line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import re
import sys
import textwrap
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from ._classifier import EMDClassifier
from ._decision import DECISIONS
from .datasets import list_datasets, load_dataset
from .metrics import mae, ordinal_report, qwk, ranked_probability_score

_PROG = "skemd"
_DEFAULT_DATASETS = ("winequality_red", "era")
_GROUND_DISTANCES = ("ordinal", "uniform", "learned")
# (column, "lower" or "higher" is better)
_METRICS = (
    ("MAE", "lower"),
    ("QWK", "higher"),
    ("accuracy", "higher"),
    ("RPS", "lower"),
)
_N_SHOWN = 12
_MANY_LEVELS = 50


class _Failure(Exception):
    """An error to report on one line, with the exit status to return."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _one_line(exc: BaseException) -> str:
    """The message of an exception with its whitespace collapsed to one line."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _show(values, limit: int = _N_SHOWN) -> str:
    """A short comma-separated list of values for a message."""
    # Plain Python values: numpy 2 writes scalars as np.str_('a').
    values = values.tolist() if isinstance(values, np.ndarray) else list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    if len(values) > limit:
        shown += f", ... ({len(values) - limit} more)"
    return shown


# --------------------------------------------------------------------- arguments


class _ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors take one line."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1; got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {text}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be from 0 to 2**32 - 1; got {text}")
    return value


def _separator(text: str) -> str:
    # "\t" as typed in a shell means a tab.
    value = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(value) != 1:
        raise argparse.ArgumentTypeError(
            f"must be one character (or \\t for a tab); got {text!r}"
        )
    return value


def _class_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if "" in names:
        raise argparse.ArgumentTypeError(f"empty class name in {text!r}")
    repeated = [name for name in dict.fromkeys(names) if names.count(name) > 1]
    if repeated:
        raise argparse.ArgumentTypeError(f"repeated class names: {_show(repeated)}")
    if len(names) < 2:
        raise argparse.ArgumentTypeError(f"needs at least two classes; got {text!r}")
    return names


def _column_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if "" in names:
        raise argparse.ArgumentTypeError(f"empty column name in {text!r}")
    return list(dict.fromkeys(names))


def _build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog=_PROG,
        description=textwrap.fill(
            "Compare EMDClassifier trained with the squared EMD loss, the same "
            "network trained with cross-entropy, and a linear ordinal baseline on "
            "a held-out part of an ordinal dataset: one bundled with skemd "
            f"({_default_dataset()} unless --dataset says otherwise) or a CSV file "
            "of your own. Features are standardised and text features one-hot "
            "encoded, fitted on the training part only.",
            width=79,
        ),
        epilog=(
            "examples:\n"
            f"  {_PROG}\n"
            f"  {_PROG} --dataset car --plot car.png\n"
            f"  {_PROG} --csv survey.csv --target rating --order low,mid,high\n"
            f"  {_PROG} --csv survey.csv --target rating --weight w --drop id\n\n"
            "exit status: 0 on success, 1 when the data cannot be used or training\n"
            "fails, 2 for a wrong command line."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_argument_group("data")
    choice = source.add_mutually_exclusive_group()
    choice.add_argument(
        "--dataset",
        choices=list_datasets(),
        metavar="NAME",
        help=f"a bundled dataset: {', '.join(list_datasets())}",
    )
    choice.add_argument("--csv", metavar="FILE", help="a CSV file with a header row")
    source.add_argument(
        "--target", metavar="COLUMN", help="column of the CSV file to predict"
    )
    source.add_argument(
        "--order",
        type=_class_names,
        metavar="A,B,C",
        help=(
            "the classes of the CSV target, lowest first, as they are written in "
            "the file (default: sorted, numerically for numbers)"
        ),
    )
    source.add_argument(
        "--weight",
        metavar="COLUMN",
        help=(
            "column of the CSV file holding sample weights (numbers >= 0): used "
            "to train all three models and to weigh the test scores"
        ),
    )
    source.add_argument(
        "--drop",
        type=_column_names,
        metavar="A,B",
        help="columns of the CSV file to leave out of the features (an id, a note)",
    )
    source.add_argument(
        "--sep",
        type=_separator,
        default=",",
        metavar="SEP",
        help="CSV field separator, one character (\\t for a tab; default: ,)",
    )
    run = parser.add_argument_group("evaluation")
    run.add_argument(
        "--test-size",
        type=_fraction,
        default=0.25,
        metavar="F",
        help="share of the samples held out for testing (default: 0.25)",
    )
    run.add_argument(
        "--seed",
        type=_seed,
        default=0,
        metavar="N",
        help="seed of the split and of the networks (default: 0)",
    )
    run.add_argument(
        "--max-iter",
        type=_positive_int,
        metavar="N",
        help="most epochs of the two networks (default: EMDClassifier's)",
    )
    run.add_argument(
        "--ground-distance",
        choices=_GROUND_DISTANCES,
        help=(
            "ground distance of the squared-EMD model (default: EMDClassifier's); "
            "uniform and learned are trained with cross-entropy mixed in, as "
            "EMDClassifier does by default"
        ),
    )
    run.add_argument(
        "--decision",
        choices=DECISIONS,
        help=(
            "how the squared-EMD model turns probabilities into a class: the most "
            "probable class, the median class (the least expected absolute error) "
            "or the least expected cost (default: EMDClassifier's)"
        ),
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {_version()}",
        help="print the version of skemd and exit",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--plot",
        metavar="FILE.png",
        help=(
            "save the ground distance and the test confusion matrix of the "
            "squared-EMD model (needs matplotlib)"
        ),
    )
    output.add_argument(
        "--force", action="store_true", help="let --plot overwrite an existing file"
    )
    output.add_argument(
        "--report",
        action="store_true",
        help=(
            "also print the per-class report and every ordinal metric of the "
            "squared-EMD model on the test part"
        ),
    )
    return parser


def _joining_order(argv: list[str]) -> list[str]:
    """``--order -1,0,1`` as ``--order=-1,0,1``.

    argparse takes a value that starts with "-" (and is not a plain negative
    number) for an option; ``--order`` always needs a value, so the word after
    it is that value.
    """
    joined, words = [], list(argv)
    while words:
        word = words.pop(0)
        # "--order" or an abbreviation argparse accepts, before a value that
        # starts with one "-" (a long option or -h is not a value).
        if (
            len(word) >= 3
            and "--order".startswith(word)
            and words
            and words[0].startswith("-")
            and not words[0].startswith("--")
            and words[0] != "-h"
        ):
            word = f"--order={words.pop(0)}"
        joined.append(word)
    return joined


def _parse_args(argv) -> argparse.Namespace:
    """Parse and check the command line; exit with status 2 when it is wrong."""
    parser = _build_parser()
    args = parser.parse_args(_joining_order(sys.argv[1:] if argv is None else argv))
    if args.csv is None:
        for name, value in (
            ("--target", args.target),
            ("--order", args.order),
            ("--weight", args.weight),
            ("--drop", args.drop),
        ):
            if value is not None:
                parser.error(f"{name} goes with --csv FILE")
    else:
        if args.target is None:
            parser.error("--csv needs --target COLUMN")
        path = Path(args.csv)
        if not path.exists():
            parser.error(f"argument --csv: no such file: {args.csv!r}")
        if path.is_dir():
            parser.error(f"argument --csv: {args.csv!r} is a directory")
        if args.weight is not None and args.weight == args.target:
            parser.error("--weight and --target name the same column")
        for name in args.drop or ():
            if name in (args.target, args.weight):
                option = "--target" if name == args.target else "--weight"
                parser.error(f"--drop names the {option} column {name!r}")
    if args.plot is not None:
        path = Path(args.plot)
        if not path.parent.is_dir():
            parser.error(f"argument --plot: no such directory: {str(path.parent)!r}")
        if path.is_dir():
            parser.error(f"argument --plot: {args.plot!r} is a directory")
        if path.exists() and not args.force:
            parser.error(
                f"argument --plot: {args.plot!r} exists; pass --force to overwrite it"
            )
        if path.exists() and not os.access(path, os.W_OK):
            parser.error(f"argument --plot: {args.plot!r} is not writable")
        if not path.exists() and not os.access(path.parent, os.W_OK):
            parser.error(
                f"argument --plot: cannot create files in {str(path.parent)!r}"
            )
    return args


# -------------------------------------------------------------------------- data


@dataclass
class _Data:
    """Features, target and class order of the dataset to compare the models on."""

    name: str
    X: Any
    y: np.ndarray
    classes: np.ndarray
    numeric: list = field(default_factory=list)
    categorical: list = field(default_factory=list)
    n_missing: int = 0
    notes: list[str] = field(default_factory=list)
    sample_weight: np.ndarray | None = None
    weight_column: str | None = None


def _version() -> str:
    from . import __version__

    return __version__


def _default_dataset() -> str:
    names = list_datasets()
    return next((name for name in _DEFAULT_DATASETS if name in names), names[0])


def _load_bundled(name: str) -> _Data:
    bunch = load_dataset(name)
    X = bunch.data
    columns = list(range(X.shape[1]))
    numeric = X.dtype.kind in "biuf"
    return _Data(
        name=f"{name} (bundled with skemd)",
        X=X,
        y=np.asarray(bunch.target),
        classes=np.asarray(bunch.classes),
        numeric=columns if numeric else [],
        categorical=[] if numeric else columns,
    )


def _import_pandas():
    try:
        import pandas as pd
    except ImportError:
        raise _Failure(
            "reading a CSV file needs pandas, which is not installed: "
            "pip install pandas"
        ) from None
    return pd


def _read_frame(path: str, sep: str):
    """The CSV file as a frame, and its text (read once: it may be a pipe)."""
    pd = _import_pandas()
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise _Failure(f"cannot read {path!r}: it is not UTF-8 text") from None
    except OSError as exc:
        raise _Failure(f"cannot read {path!r}: {_one_line(exc)}") from None
    options = dict(sep=sep, skipinitialspace=True, index_col=False)
    try:
        with warnings.catch_warnings():
            # Rows longer than the header (a trailing separator) lose their
            # extra empty fields: index_col=False keeps the columns in place.
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            header = pd.read_csv(
                io.StringIO(text),
                header=None,
                nrows=1,
                dtype=str,
                keep_default_na=False,
                **options,
            )
            frame = pd.read_csv(io.StringIO(text), **options)
    except ValueError as exc:
        # pandas' parser errors are ValueErrors.
        raise _Failure(f"cannot read {path!r}: {_one_line(exc)}") from None
    # pandas renames a repeated name ("y", "y.1"): check the header as written.
    names = [
        str(name).strip() or f"column {index + 1}"
        for index, name in enumerate(header.iloc[0].tolist())
    ]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _Failure(f"{path!r} has more than one column named {_show(repeated)}")
    frame.columns = names[: frame.shape[1]]
    if len(frame) == 0:
        raise _Failure(f"{path!r} has a header but no data rows")
    # Spaces before a separator stay in text values: strip them.
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].str.strip()
    frame.attrs["text"] = text
    return frame


def _target_values(column, allow_mixed: bool = False) -> np.ndarray:
    """The labels of a target column as an array of numbers or of strings."""
    from pandas.api.types import is_numeric_dtype

    if is_numeric_dtype(column.dtype):
        values = column.to_numpy()
        if values.dtype.kind == "f":
            if not np.isfinite(values).all() or np.abs(values).max() >= 2**53:
                raise _Failure(
                    f"column {column.name!r} holds infinite or too large numbers; "
                    "classes must be whole numbers below 2**53 or text"
                )
            fractional = values != np.round(values)
            if fractional.any():
                example = values[fractional][0].item()
                raise _Failure(
                    f"column {column.name!r} holds numbers that are not whole, such "
                    f"as {example!r}; classes must be whole numbers or text (is it a "
                    "continuous quantity?)"
                )
            values = values.astype(np.int64)
        return values
    labels = np.asarray(column.astype(str).tolist())
    numbers = np.array([_is_number(label) for label in labels.tolist()])
    if numbers.any() and not numbers.all() and not allow_mixed:
        words = sorted(set(labels[~numbers].tolist()))
        raise _Failure(
            f"column {column.name!r} holds numbers and text, such as "
            f"{_show(words, limit=3)}, which would sort as text (10 before 2); "
            "give the class order with --order, or leave missing values empty"
        )
    return labels


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _weight_values(column) -> np.ndarray:
    """The sample weights of a column: finite numbers >= 0, not all zero."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    name = column.name
    if not is_numeric_dtype(column.dtype) or is_bool_dtype(column.dtype):
        text = column[column.notna()].astype(str)
        bad = text[~text.str.fullmatch(r"\s*[-+]?[0-9.eE]+\s*")]
        example = f", such as {bad.iloc[0]!r}" if len(bad) else ""
        raise _Failure(
            f"weight column {name!r} holds values that are not numbers{example}"
        )
    values = column.to_numpy(dtype=np.float64)
    empty = np.isnan(values)
    if empty.any():
        raise _Failure(
            f"weight column {name!r} has no value in {int(empty.sum())} of "
            f"{len(values)} rows; every sample needs a weight (0 leaves it out)"
        )
    if not np.isfinite(values).all():
        raise _Failure(f"weight column {name!r} holds infinite values")
    negative = values < 0
    if negative.any():
        raise _Failure(
            f"weight column {name!r} holds negative values, such as "
            f"{values[negative][0].item()!r}; weights must be >= 0"
        )
    if not values.any():
        raise _Failure(f"weight column {name!r} is zero in every row")
    return values


def _ordered_classes(y: np.ndarray, order, target: str, notes: list) -> np.ndarray:
    """The classes, lowest first: from ``--order`` or the sorted labels."""
    present = np.unique(y)
    if order is None:
        return present
    numbers = y.dtype.kind in "iu"
    if numbers:
        named = _order_of_numbers(order, target)
    else:
        by_name = {str(label): label for label in present.tolist()}
        if y.dtype.kind == "b":
            # pandas reads true, TRUE and True alike: each names the class.
            by_name = {str(label).lower(): label for label in present.tolist()}
            named = {name: by_name.get(name.lower(), name) for name in order}
        else:
            named = {name: by_name.get(name, name) for name in order}
    known = set(named.values())
    missing = [label for label in present.tolist() if label not in known]
    if missing:
        raise _Failure(
            f"--order does not name these values of column {target!r}: "
            f"{_show([str(label) for label in missing])}; it must list every "
            "class, lowest first"
        )
    kept = set(present.tolist())
    absent = [name for name, label in named.items() if label not in kept]
    if absent:
        notes.append(
            f"no sample has the class(es) {_show(absent)} named by --order; they "
            "are kept in the class order"
        )
    classes = list(named.values())
    return np.asarray(classes, dtype=present.dtype) if numbers else np.asarray(classes)


# Words pandas reads as missing values by default (lower case).
_MISSING_WORDS = {"na", "n/a", "nan", "-nan", "none", "null", "<na>", "#n/a", "#na"}


def _order_of_numbers(order, target: str) -> dict:
    """``--order`` for a column of whole numbers: each name read as a number,
    so that "01" and "1.0" name the class 1, as they did in the file."""
    named, seen = {}, {}
    for name in order:
        try:
            value = float(name)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value.is_integer()):
            missing = ""
            if name.strip().lower() in _MISSING_WORDS:
                missing = (
                    f" (pandas reads {name!r} in a column of numbers as a missing "
                    "value, so its rows have no class: write that class as a "
                    "number)"
                )
            raise _Failure(
                f"--order names {name!r}, but column {target!r} holds whole "
                f"numbers{missing}"
            )
        label = int(value)
        if label in seen:
            raise _Failure(
                f"--order names the class {label} twice, as {seen[label]!r} and "
                f"{name!r}"
            )
        seen[label] = name
        named[name] = label
    return named


def _keep_named_labels(frame, sep: str, target: str, order):
    """Target cells that pandas reads as missing ("NA", "None", "null", ...)
    but ``--order`` names as classes, kept as those labels."""
    pd = _import_pandas()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.ParserWarning)
        raw = pd.read_csv(
            io.StringIO(frame.attrs["text"]),
            sep=sep,
            skipinitialspace=True,
            index_col=False,
            dtype=str,
            keep_default_na=False,
        )
    position = list(frame.columns).index(target)
    raw = raw.iloc[:, position].str.strip()
    column = frame[target]
    named = column.isna().to_numpy() & raw.isin(order).to_numpy()
    return column.where(~named, raw)


def _load_csv(path: str, target: str, order, sep: str, weight=None, drop=None) -> _Data:
    # _read_frame says in one line when pandas is missing: import it first.
    frame = _read_frame(path, sep)
    from pandas.api.types import is_numeric_dtype

    columns = [str(name) for name in frame.columns]
    frame.columns = columns
    if frame.columns.duplicated().any():
        repeated = frame.columns[frame.columns.duplicated()].unique().tolist()
        raise _Failure(f"{path!r} has more than one column named {_show(repeated)}")
    named = [("--target", [target])]
    named += [("--weight", [weight])] if weight is not None else []
    named += [("--drop", drop)] if drop else []
    for option, names in named:
        unknown = [name for name in names if name not in columns]
        if unknown:
            hint = ""
            if len(columns) == 1 and sep == ",":
                hint = (
                    " (only one column was read: is the file separated by ';'? "
                    "see --sep)"
                )
            what = "column {} is" if len(unknown) == 1 else "columns {} are"
            prefix = "" if option == "--target" else f"{option}: "
            raise _Failure(
                f"{prefix}{what.format(_show(unknown))} not in {path!r}; its "
                f"columns are {_show(columns, limit=30)}{hint}"
            )
    notes = []
    if (
        order is not None
        and frame[target].isna().any()
        and not is_numeric_dtype(frame[target].dtype)
    ):
        frame[target] = _keep_named_labels(frame, sep, target, order)
    unlabelled = frame[target].isna()
    if unlabelled.all():
        raise _Failure(f"column {target!r} of {path!r} has no values")
    if unlabelled.any():
        notes.append(
            f"dropped {int(unlabelled.sum())} of {len(frame)} rows with no value "
            f"in column {target!r}"
        )
        frame = frame.loc[~unlabelled].reset_index(drop=True)
    sample_weight = None
    if weight is not None:
        sample_weight = _weight_values(frame[weight])
        n_zero = int((sample_weight == 0).sum())
        if n_zero:
            notes.append(
                f"{n_zero} of {len(sample_weight)} rows have weight 0 and count "
                "for nothing"
            )
    y = _target_values(frame[target], allow_mixed=order is not None)
    if len(np.unique(y)) < 2:
        raise _Failure(
            f"column {target!r} holds a single class, {y.tolist()[0]!r}; there is "
            "nothing to classify"
        )
    classes = _ordered_classes(y, order, target, notes)
    if len(classes) > _MANY_LEVELS:
        notes.append(
            f"column {target!r} has {len(classes)} classes; is it a continuous "
            "quantity rather than ordered classes?"
        )

    left_out = [target, *([weight] if weight is not None else []), *(drop or [])]
    X = frame.drop(columns=left_out)
    empty = [name for name in X.columns if X[name].isna().all()]
    if empty:
        # A column with no value (as a trailing separator makes) says nothing.
        notes.append(f"left out column(s) {_show(empty)}, which hold no value")
        X = X.drop(columns=empty)
    if X.shape[1] == 0:
        raise _Failure(
            f"{path!r} has no feature columns besides {_show(left_out)}"
            if len(left_out) > 1
            else f"{path!r} has no feature columns besides {target!r}"
        )
    numeric = [name for name in X.columns if is_numeric_dtype(X[name].dtype)]
    categorical = [name for name in X.columns if name not in numeric]
    for name in categorical:
        n_levels = X[name].nunique()
        if n_levels > _MANY_LEVELS:
            notes.append(
                f"text column {name!r} has {n_levels} distinct values: the "
                f"{_MANY_LEVELS - 1} most frequent are one-hot encoded, the rest "
                "share one feature (an identifier? leave it out with --drop)"
            )
    n_missing = int(X.isna().to_numpy().sum())
    if n_missing:
        notes.append(
            f"{n_missing} missing feature values: numbers are filled with the "
            "median of the training part, text is a category of its own"
        )
    return _Data(
        name=path,
        X=X,
        y=y,
        classes=classes,
        numeric=numeric,
        categorical=categorical,
        n_missing=n_missing,
        notes=notes,
        sample_weight=sample_weight,
        weight_column=weight,
    )


def _load(args: argparse.Namespace) -> _Data:
    if args.csv is not None:
        return _load_csv(
            args.csv, args.target, args.order, args.sep, args.weight, args.drop
        )
    return _load_bundled(args.dataset or _default_dataset())


def _split(data: _Data, test_size: float, seed: int):
    """Hold out a stratified test part, or a plain one when classes are too rare.

    Returns
    -------
    X_train, X_test, y_train, y_test
        The two parts.
    w_train, w_test : ndarray or None
        The sample weights of the two parts, if the data has weights.
    note : str or None
        Why the split is not stratified, if it is not.
    """
    labels, counts = np.unique(data.y, return_counts=True)
    n_test = math.ceil(test_size * len(data.y))
    n_train = len(data.y) - n_test
    note = None
    if counts.min() < 2:
        note = (
            f"the split is not stratified: class(es) {_show(labels[counts < 2])} "
            "have a single sample"
        )
    elif min(n_test, n_train) < len(labels):
        note = (
            f"the split is not stratified: {min(n_test, n_train)} samples cannot "
            f"hold all {len(labels)} classes"
        )
    arrays = [data.X, data.y]
    if data.sample_weight is not None:
        arrays.append(data.sample_weight)
    try:
        parts = train_test_split(
            *arrays,
            test_size=test_size,
            random_state=seed,
            stratify=None if note else data.y,
        )
    except ValueError as exc:
        raise _Failure(
            f"cannot split {len(data.y)} samples with --test-size {test_size}: "
            f"{_one_line(exc)}"
        ) from None
    weights = parts[4:] if data.sample_weight is not None else [None, None]
    train_labels = parts[2]
    if weights[0] is not None:
        train_labels = train_labels[weights[0] > 0]
    if len(np.unique(train_labels)) < 2:
        weighted = " with a weight above 0" if weights[0] is not None else ""
        raise _Failure(
            f"the training part holds a single class{weighted}; "
            f"{len(data.y)} samples are too few"
        )
    if weights[1] is not None and not weights[1].any():
        raise _Failure(
            f"every sample of the test part has weight 0 in column "
            f"{data.weight_column!r}; there is nothing to score (try another --seed "
            "or a larger --test-size)"
        )
    return (*parts[:4], *weights, note)


# ------------------------------------------------------------------------ models


class _RankBaseline(ClassifierMixin, BaseEstimator):
    """Fit a classifier on class ranks and report labels in the given order.

    mord's threshold models need the labels ``0 .. m-1``, and a plain classifier
    orders its probability columns by sorted label. Fitted on the ranks of the
    classes present, either stands in for an ordinal model with any labels.

    Parameters
    ----------
    estimator : classifier
        Fitted on ranks ``0 .. m-1`` of the ``m`` classes present in training.
    classes : array-like of shape (n_classes,)
        Every class, lowest first.
    """

    def __init__(self, estimator, classes):
        self.estimator = estimator
        self.classes = classes

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.asarray(self.classes)
        lookup = {label: rank for rank, label in enumerate(self.classes_.tolist())}
        ranks = np.array([lookup[label] for label in np.asarray(y).tolist()])
        if sample_weight is not None:
            # A class present only with weight 0 is left out, as the networks
            # leave zero-weight samples out.
            keep = np.asarray(sample_weight) > 0
            X, ranks, sample_weight = X[keep], ranks[keep], sample_weight[keep]
        self.present_ = np.unique(ranks)
        fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        self.estimator_ = clone(self.estimator).fit(
            X, np.searchsorted(self.present_, ranks), **fit_params
        )
        return self

    def predict_proba(self, X):
        proba = np.zeros((X.shape[0], len(self.classes_)))
        proba[:, self.present_] = np.clip(self.estimator_.predict_proba(X), 0, None)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        codes = np.asarray(self.estimator_.predict(X)).astype(np.intp)
        return self.classes_[self.present_[codes]]


def _baseline(classes) -> tuple[str, Any, str | None]:
    """The linear baseline, its name, and a note when mord is missing."""
    try:
        from mord import LogisticAT
    except ImportError:
        from sklearn.linear_model import LogisticRegression

        return (
            "LogisticRegression (sklearn)",
            _RankBaseline(LogisticRegression(max_iter=1000), classes),
            "mord is not installed (pip install mord), so the baseline is "
            "scikit-learn's LogisticRegression, which ignores the class order",
        )
    return "LogisticAT (mord)", _RankBaseline(LogisticAT(), classes), None


def _features(data: _Data):
    """The feature transformer: standardise numbers, one-hot encode text."""
    if not data.categorical and not data.n_missing:
        return StandardScaler()
    transformers = []
    if data.numeric:
        scale = StandardScaler()
        if data.n_missing:
            scale = make_pipeline(
                SimpleImputer(strategy="median", keep_empty_features=True), scale
            )
        transformers.append(("numeric", scale, data.numeric))
    if data.categorical:
        # At most _MANY_LEVELS columns per text column: rarer values share one
        # (an identifier would otherwise make a column per row).
        encode = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=_MANY_LEVELS,
            sparse_output=False,
        )
        transformers.append(("categorical", encode, data.categorical))
    return ColumnTransformer(transformers)


def _networks(data: _Data, args: argparse.Namespace) -> dict:
    """The parameters shared by both networks, on top of EMDClassifier's defaults."""
    params = {"classes": data.classes, "random_state": args.seed, "verbose": 1}
    if not EMDClassifier().early_stopping:
        params["early_stopping"] = True
    if args.max_iter is not None:
        params["max_iter"] = args.max_iter
    return params


def _models(data: _Data, args: argparse.Namespace):
    """The three pipelines to compare, by name, and a note about the baseline."""
    shared = _networks(data, args)
    emd = EMDClassifier(**shared)
    emd_name = "EMDClassifier (squared EMD)"
    settings = []
    if args.ground_distance is not None:
        emd.set_params(ground_distance=args.ground_distance)
        settings.append(args.ground_distance)
        if emd._ce_weight() > 0:
            # ce_weight="auto" mixes cross-entropy into the matrix forms.
            settings.append("with cross-entropy")
    if args.decision is not None:
        emd.set_params(decision=args.decision)
        settings.append(args.decision)
    if settings:
        emd_name = f"EMDClassifier (squared EMD, {', '.join(settings)})"
    ce = EMDClassifier(ce_weight=1.0, emd_weight=0.0, **shared)
    baseline_name, baseline, note = _baseline(data.classes)
    models = {
        emd_name: emd,
        "EMDClassifier (cross-entropy)": ce,
        baseline_name: baseline,
    }
    pipelines = {
        name: Pipeline([("features", _features(data)), ("model", model)])
        for name, model in models.items()
    }
    return pipelines, note


# ---------------------------------------------------------------------- training

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EPOCH_ROW = re.compile(r"\s*(\d+)\s")


class _EpochLog(io.TextIOBase):
    """Stands in for stdout while a net trains; reads the epoch off skorch's log."""

    def __init__(self, on_epoch) -> None:
        self._on_epoch = on_epoch
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            match = _EPOCH_ROW.match(_ANSI.sub("", line))
            if match:
                self._on_epoch(int(match.group(1)))
        return len(text)


class _Progress:
    """One line per model; on a terminal an epoch counter is redrawn in place."""

    def __init__(self, stream: TextIO, width: int) -> None:
        self.stream = stream
        self.width = width
        isatty = getattr(stream, "isatty", None)
        self.live = bool(isatty and isatty())
        self._head = ""
        self._shown = ""
        self._max_epochs = None

    def start(self, name: str, max_epochs: int | None = None) -> None:
        self._head = f"  {name:<{self.width}}  "
        self._max_epochs = max_epochs
        self._shown = ""
        if self.live:
            self._redraw("training ...")
        else:
            self.stream.write(self._head)
            self.stream.flush()

    def epoch(self, n: int) -> None:
        if self.live:
            self._redraw(f"epoch {n}/{self._max_epochs}")

    def finish(self, summary: str) -> None:
        if self.live:
            self._redraw(summary)
            self.stream.write("\n")
        else:
            self.stream.write(summary + "\n")
        self.stream.flush()

    def _redraw(self, status: str) -> None:
        text = self._head + status
        padding = " " * max(0, len(self._shown) - len(text))
        self.stream.write("\r" + text + padding)
        self.stream.flush()
        self._shown = text


@contextlib.contextmanager
def _single_torch_thread():
    """Run torch on one intra-op thread, then restore the previous setting.

    The networks are small: a batch costs less than the threads take to meet, and
    on a busy machine their spin-waiting made training tens of times slower than
    on one thread.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _load_optimizer_machinery() -> None:
    """Pay torch's one-time cost of the first optimiser before any fit is timed.

    The first optimiser a process makes imports ``torch._dynamo`` (about two
    seconds here); left in place, it would be counted in the fit time of
    whichever network trains first.
    """
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def _fit(
    name: str, pipeline: Pipeline, X, y, progress: _Progress, sample_weight=None
) -> list[str]:
    """Fit one pipeline with a progress line; return the notes it raised."""
    fit_params = {}
    if sample_weight is not None:
        fit_params[f"{pipeline.steps[-1][0]}__sample_weight"] = sample_weight
    model = pipeline[-1]
    progress.start(name, getattr(model, "max_iter", None))
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            with contextlib.redirect_stdout(_EpochLog(progress.epoch)):
                pipeline.fit(X, y, **fit_params)
        except InvalidParameterError as exc:
            progress.finish("not trained")
            option = "--ground-distance" if "ground_distance" in str(exc) else name
            raise _Failure(f"argument {option}: {_one_line(exc)}", status=2) from None
        except (ValueError, TypeError, FloatingPointError) as exc:
            progress.finish("failed")
            raise _Failure(f"{name}: {_one_line(exc)}") from None
    seconds = time.perf_counter() - start
    summary = f"trained in {seconds:.1f} s"
    if hasattr(model, "n_iter_"):
        summary += f" ({model.n_iter_} epochs)"
    progress.finish(summary)
    pipeline.fit_seconds_ = seconds
    notes = []
    for caught_warning in caught:
        category = caught_warning.category
        if issubclass(category, ConvergenceWarning) and hasattr(model, "n_iter_"):
            notes.append(f"{name} stopped after {model.n_iter_} epochs, unconverged")
        elif issubclass(category, (DeprecationWarning, FutureWarning)):
            # Meant for developers, not for the reader of the report.
            warnings.warn_explicit(
                caught_warning.message,
                category,
                caught_warning.filename,
                caught_warning.lineno,
            )
        else:
            notes.append(f"{name}: {_one_line(caught_warning.message)}")
    return list(dict.fromkeys(notes))


def _predictions(pipeline: Pipeline, X_test) -> tuple[np.ndarray, np.ndarray]:
    """Predicted labels and probabilities of a fitted pipeline."""
    with warnings.catch_warnings():
        # Unseen text values are encoded as all zeros, as documented above.
        warnings.filterwarnings("ignore", message="Found unknown categories")
        return pipeline.predict(X_test), pipeline.predict_proba(X_test)


def _evaluate(
    pipeline: Pipeline, X_test, y_test, sample_weight=None
) -> tuple[dict, np.ndarray]:
    """Test scores of a fitted pipeline (weighted, if weights are given).

    Returns the scores and the test predictions.
    """
    y_pred, proba = _predictions(pipeline, X_test)
    weight = {"sample_weight": sample_weight}
    scores = {
        "MAE": mae(y_test, y_pred, classes=pipeline, **weight),
        "QWK": qwk(y_test, y_pred, classes=pipeline, **weight),
        "accuracy": accuracy_score(y_test, y_pred, **weight),
        "RPS": ranked_probability_score(y_test, proba, classes=pipeline, **weight),
    }
    return scores, y_pred


# ------------------------------------------------------------------------ report


def _format_table(scores: dict[str, dict], seconds: dict[str, float]) -> str:
    """The scores of each model as a text table, best of each column starred.

    Parameters
    ----------
    scores : dict
        ``{model name: {metric: value}}`` for the metrics of ``_METRICS``.
    seconds : dict
        ``{model name: fit time in seconds}``.

    Returns
    -------
    table : str
        Lines of the table and a legend, without a final newline.
    """
    # A space after each metric name lines it up with the digits, not the star.
    header = ["model"] + [f"{metric} " for metric, _ in _METRICS] + ["fit time"]
    rows = []
    for name, values in scores.items():
        row = [name]
        for metric, better in _METRICS:
            column = [round(v[metric], 3) for v in scores.values()]
            best = min(column) if better == "lower" else max(column)
            mark = "*" if round(values[metric], 3) == best else " "
            row.append(f"{values[metric]:.3f}{mark}")
        row.append(f"{seconds[name]:.1f} s")
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        first = cells[0].ljust(widths[0])
        rest = [
            cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)
        ]
        return "  ".join([first, *rest]).rstrip()

    lines = [line(header), line(["-" * w for w in widths])]
    lines += [line(row) for row in rows]
    lines.append("")
    lines += textwrap.wrap(
        "* best in its column. Lower is better for MAE (mean absolute error, in "
        "classes) and RPS (ranked probability score); higher for QWK (quadratic "
        "weighted kappa) and accuracy.",
        width=79,
    )
    return "\n".join(lines)


def _describe_classes(y: np.ndarray, classes: np.ndarray) -> str:
    counts = {label: 0 for label in classes.tolist()}
    for label, count in zip(*np.unique(y, return_counts=True), strict=True):
        counts[label.item() if hasattr(label, "item") else label] = int(count)
    items = [f"{label} ({count})" for label, count in counts.items()]
    if len(items) > _N_SHOWN:
        items = items[:5] + ["..."] + items[-5:]
    return " < ".join(items)


def _n_features(pipeline: Pipeline) -> int:
    return len(pipeline[0].get_feature_names_out())


def _check_plot(path: str) -> str:
    """Check that matplotlib can write ``path``; return the file format."""
    try:
        # The package itself, as its submodules may be imported already.
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure
    except ImportError:
        raise _Failure(
            "--plot needs matplotlib, which is not installed: pip install matplotlib"
        ) from None
    suffix = Path(path).suffix.lower().lstrip(".")
    supported = Figure().canvas.get_supported_filetypes()
    if suffix not in supported:
        raise _Failure(
            f"argument --plot: cannot tell the image format of {path!r}; end the "
            f"name with one of {', '.join('.' + s for s in sorted(supported))}",
            status=2,
        )
    return suffix


def _save_plot(path: str, fmt: str, pipeline: Pipeline, y_test, y_pred, force: bool):
    """Save the ground distance and the confusion matrix of the squared-EMD model."""
    from matplotlib.figure import Figure

    from .plotting import plot_confusion_matrix, plot_ground_distance

    n_classes = len(pipeline.classes_)
    small = n_classes <= 12
    figure = Figure(figsize=(12, 5), layout="constrained")
    left, right = figure.subplots(1, 2)
    plot_ground_distance(
        pipeline, ax=left, annotate=small, title="Ground distance (squared EMD)"
    )
    left.set_xlabel("Class")
    left.set_ylabel("Class")
    plot_confusion_matrix(
        y_test,
        y_pred,
        classes=pipeline,
        ax=right,
        annotate=small,
        title=f"Confusion matrix, {len(y_test)} test samples (squared EMD)",
    )
    if not small:
        for axes in (left, right):
            axes.tick_params(axis="x", labelrotation=90)
    # Drawn in memory first: a format that fails (pgf without LaTeX, say)
    # leaves no file behind and no existing one emptied.
    image = io.BytesIO()
    try:
        figure.savefig(image, format=fmt, dpi=120)
    except Exception as exc:
        raise _Failure(f"cannot draw the figure as {fmt}: {_one_line(exc)}") from None
    try:
        # "x" refuses a file that appeared while the models trained; with
        # --force the file is written over in place, so that a link is
        # followed and a read-only file refused.
        with open(path, "wb" if force else "xb") as f:
            f.write(image.getvalue())
    except FileExistsError:
        raise _Failure(
            f"argument --plot: {path!r} exists; pass --force to overwrite it", 2
        ) from None
    except OSError as exc:
        raise _Failure(f"cannot write {path!r}: {_one_line(exc)}") from None


def _print_notes(notes, out: TextIO) -> None:
    for note in notes:
        if note:
            print(f"note: {note}", file=out)


def _run(args: argparse.Namespace, out: TextIO) -> None:
    """Load, split, train, score and report; raise _Failure on bad data."""
    plot_format = _check_plot(args.plot) if args.plot is not None else None
    data = _load(args)
    X_train, X_test, y_train, y_test, w_train, w_test, split_note = _split(
        data, args.test_size, args.seed
    )
    pipelines, baseline_note = _models(data, args)

    n_columns = data.X.shape[1]
    text = f", {len(data.categorical)} of them text" if data.categorical else ""
    print(f"Data: {data.name}", file=out)
    print(f"  {len(data.y)} samples, {n_columns} feature columns{text}", file=out)
    if data.sample_weight is not None:
        print(
            f"  weighted by column {data.weight_column!r} "
            f"(total {data.sample_weight.sum():.6g})",
            file=out,
        )
    print(f"  classes (samples): {_describe_classes(data.y, data.classes)}", file=out)
    _print_notes(data.notes, out)
    stratified = "plain" if split_note else "stratified"
    print(
        f"Split: {len(y_train)} training / {len(y_test)} test samples, "
        f"{stratified}, seed {args.seed}",
        file=out,
    )
    _print_notes([split_note], out)
    network = next(iter(pipelines.values()))[-1]
    stopping = (
        f", early stopping on {network.validation_fraction:.0%} of the training part"
        if network.early_stopping
        else ""
    )
    limit = " (--max-iter)" if args.max_iter is not None else ""
    print(
        f"Networks: EMDClassifier(hidden_layer_sizes={network.hidden_layer_sizes}), "
        f"at most {network.max_iter} epochs{limit}{stopping}",
        file=out,
    )
    _print_notes([baseline_note], out)

    print("Training:", file=out)
    progress = _Progress(out, max(len(name) for name in pipelines))
    scores, predictions = {}, {}
    with _single_torch_thread():
        _load_optimizer_machinery()
        for name, pipeline in pipelines.items():
            notes = _fit(name, pipeline, X_train, y_train, progress, w_train)
            _print_notes(notes, out)
        for name, pipeline in pipelines.items():
            scores[name], predictions[name] = _evaluate(
                pipeline, X_test, y_test, w_test
            )
    seconds = {name: p.fit_seconds_ for name, p in pipelines.items()}
    emd_name = next(iter(pipelines))
    weighted = ""
    if data.sample_weight is not None:
        weighted = f", weighted by {data.weight_column!r}"
    print(
        f"\nTest scores ({len(y_test)} samples{weighted}, "
        f"{_n_features(pipelines[emd_name])} features after encoding):\n",
        file=out,
    )
    print(_format_table(scores, seconds), file=out)

    if args.report:
        y_pred, proba = _predictions(pipelines[emd_name], X_test)
        report = ordinal_report(
            y_test,
            y_pred,
            y_proba=proba,
            classes=pipelines[emd_name],
            sample_weight=w_test,
        )
        print(f"\nClass by class, {emd_name} on the test part:\n", file=out)
        print(report, file=out, end="")

    if args.plot is not None:
        _save_plot(
            args.plot,
            plot_format,
            pipelines[emd_name],
            y_test,
            predictions[emd_name],
            args.force,
        )
        print(f"\nFigure saved to {args.plot}", file=out)


def main(argv: list[str] | None = None) -> int:
    """Run the ``skemd`` command.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments, without the program name; ``None`` reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 when the data cannot be used or training fails, 2 for a
        wrong command line. Errors are reported on one line of stderr.

    Examples
    --------
    >>> from skemd._cli import main
    >>> main(["--csv", "no-such-file.csv", "--target", "quality"])
    2
    """
    try:
        args = _parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    out = sys.stdout if sys.stdout is not None else open(os.devnull, "w")
    try:
        _run(args, out)
        out.flush()
    except _Failure as exc:
        with contextlib.suppress(OSError):
            out.flush()
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"\n{_PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped (skemd | head): leave quietly, as Unix tools do.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 1
    except OSError as exc:
        print(
            f"{_PROG}: error: cannot write the output: {_one_line(exc)}",
            file=sys.stderr,
        )
        return 1
    return 0
