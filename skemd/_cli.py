"""The ``skemd`` command: compare ordinal classifiers on a held-out split.

``python -m skemd`` (or the ``skemd`` console command) trains three models on an
ordinal dataset and prints their test scores side by side, above a reference row
that always predicts the median training class:

* :class:`~skemd.EMDClassifier` trained with the squared EMD loss;
* the same network trained with cross-entropy only;
* a linear ordinal baseline: mord's ``LogisticAT``, or scikit-learn's (nominal)
  ``LogisticRegression`` when mord is not installed.

Without arguments it runs on the red wine quality data bundled with skemd;
``--dataset`` picks another bundled dataset and ``--csv`` reads a file of your own.
Exit status: 0 on success, 1 when the data cannot be used or training fails, 2 for
a wrong command line, 130 when interrupted.

This module imports only the standard library: numpy, pandas, scikit-learn, torch
and matplotlib are imported where they are used, so that ``--help`` and a wrong
command line answer at once and ``main`` catches a Ctrl-C while they load.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import io
import math
import os
import re
import shlex
import sys
import textwrap
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

_PROG = "skemd"
_DEFAULT_DATASETS = ("winequality_red", "era")
_METRICS = (
    ("MAE", "lower"),
    ("QWK", "higher"),
    ("accuracy", "higher"),
    ("RPS", "lower"),
)
_REFERENCE = "constant median class"
_RULES = {
    "argmax": "the most probable class",
    "median": "the median class of its predicted distribution",
    "expected_cost": "the class of least expected cost under its ground distance",
}
_N_SHOWN = 12
_MANY_LEVELS = 50
_DEFAULT_MAX_CSV_SIZE = 2**30
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


class _Failure(Exception):
    """An error to report on one line, with the exit status to return."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _show(values, limit: int = _N_SHOWN) -> str:
    """A short comma-separated list of values for a message."""
    # Plain Python values: numpy 2 writes scalars as np.str_('a').
    values = [value.item() if hasattr(value, "item") else value for value in values]
    more = f", ... ({len(values) - limit} more)" if len(values) > limit else ""
    return ", ".join(repr(value) for value in values[:limit]) + more


# --------------------------------------------------------------------- arguments


class _ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors take one line."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _checked(kind, text: str, check, requirement: str):
    try:
        value = kind(text)
    except ValueError:
        what = "a number" if kind is float else "a whole number"
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
    if not check(value):
        raise argparse.ArgumentTypeError(f"must {requirement}; got {text}")
    return value


def _fraction(text: str) -> float:
    return _checked(float, text, lambda v: 0 < v < 1, "lie between 0 and 1")


def _positive_int(text: str) -> int:
    return _checked(int, text, lambda v: v >= 1, "be at least 1")


def _seed(text: str) -> int:
    return _checked(int, text, lambda v: 0 <= v < 2**32, "be from 0 to 2**32 - 1")


def _size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kmgt]?)i?b?\s*", text, re.I)
    if match is None or float(match[1]) * _UNITS[match[2].lower()] < 1:
        raise argparse.ArgumentTypeError(f"not a size such as 500M or 2G: {text!r}")
    return int(float(match[1]) * _UNITS[match[2].lower()])


def _bytes(n_bytes: int) -> str:
    for unit in "TGMK":
        if n_bytes >= _UNITS[unit.lower()]:
            return f"{n_bytes / _UNITS[unit.lower()]:.3g} {unit}iB"
    return f"{n_bytes} bytes"


def _separator(text: str) -> str:
    # "\t" as typed in a shell means a tab.
    value = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(value) != 1:
        raise argparse.ArgumentTypeError(
            f"must be one character (or \\t for a tab); got {text!r}"
        )
    return value


def _names(text: str, what: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if "" in names:
        raise argparse.ArgumentTypeError(f"empty {what} name in {text!r}")
    return names


def _class_names(text: str) -> list[str]:
    names = _names(text, "class")
    repeated = [name for name in dict.fromkeys(names) if names.count(name) > 1]
    if repeated:
        raise argparse.ArgumentTypeError(f"repeated class names: {_show(repeated)}")
    if len(names) < 2:
        raise argparse.ArgumentTypeError(f"needs at least two classes; got {text!r}")
    return names


def _column_names(text: str) -> list[str]:
    return list(dict.fromkeys(_names(text, "column")))


def _dataset_names() -> list[str]:
    """The bundled datasets, one per ``data/<name>.csv`` of :mod:`skemd.datasets`.

    Listed from the files, as importing that package imports scikit-learn.
    """
    spec = importlib.util.find_spec(f"{__package__}.datasets")
    folder = Path(next(iter(spec.submodule_search_locations)), "data")
    return sorted(path.stem for path in folder.glob("*.csv"))


def _default_dataset() -> str:
    names = _dataset_names()
    return next((name for name in _DEFAULT_DATASETS if name in names), names[0])


_HELP = {
    "--csv": "a CSV file with a header row",
    "--target": "column of the CSV file to predict",
    "--order": "the classes of the CSV target, lowest first, as written in the file "
    "(default: sorted; for text, alphabetically, which is a guess)",
    "--weight": "column of the CSV file holding sample weights (numbers >= 0), used "
    "to train every model and to weigh the test scores",
    "--drop": "columns of the CSV file to leave out of the features (an id, a note)",
    "--sep": "CSV field separator, one character (\\t for a tab; default: ,)",
    "--max-csv-size": "most of the CSV file to read, such as 500M or 4G (default: "
    "1G): a larger file, or an endless stream, is an error",
    "--test-size": "share of the samples held out for testing (default: 0.25)",
    "--seed": "seed of the split and of the networks (default: 0)",
    "--max-iter": "most epochs of the two networks (default: EMDClassifier's)",
    "--ground-distance": "ground distance of the squared-EMD model (default: "
    "EMDClassifier's); uniform and learned mix in cross-entropy, as EMDClassifier "
    "does by default",
    "--decision": "how the squared-EMD model turns probabilities into a class: the "
    "most probable class, the median class (the least expected absolute error) or "
    "the least expected cost (default: EMDClassifier's, argmax)",
    "--plot": "save the ground distance and the test confusion matrix of the "
    "squared-EMD model (needs matplotlib)",
    "--force": "let --plot overwrite an existing file",
    "--report": "also print the per-class report and every ordinal metric of the "
    "squared-EMD model on the test part",
}
_OPTIONS = (  # argument group, option, argparse settings besides help
    ("data", "--target", {"metavar": "COLUMN"}),
    ("data", "--order", {"type": _class_names, "metavar": "A,B,C"}),
    ("data", "--weight", {"metavar": "COLUMN"}),
    ("data", "--drop", {"type": _column_names, "metavar": "A,B"}),
    ("data", "--sep", {"type": _separator, "default": ",", "metavar": "SEP"}),
    ("data", "--max-csv-size", {"type": _size, "metavar": "SIZE"}),
    ("evaluation", "--test-size", {"type": _fraction, "default": 0.25, "metavar": "F"}),
    ("evaluation", "--seed", {"type": _seed, "default": 0, "metavar": "N"}),
    ("evaluation", "--max-iter", {"type": _positive_int, "metavar": "N"}),
    ("evaluation", "--ground-distance", {"choices": ("ordinal", "uniform", "learned")}),
    ("evaluation", "--decision", {}),
    ("output", "--plot", {"metavar": "FILE.png"}),
    ("output", "--force", {"action": "store_true"}),
    ("output", "--report", {"action": "store_true"}),
)


def _build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from ._decision import DECISIONS

    parser = _ArgumentParser(
        prog=_PROG,
        description=textwrap.fill(
            "Compare EMDClassifier trained with the squared EMD loss, the same "
            "network trained with cross-entropy and a linear ordinal baseline, "
            "against the constant median class, on a held-out part of an ordinal "
            f"dataset: one bundled with skemd ({_default_dataset()} unless "
            "--dataset says otherwise) or a CSV file of your own. Features are "
            "standardised and text features one-hot encoded, fitted on the "
            "training part only.",
            width=79,
        ),
        epilog=f"examples:\n  {_PROG}\n  {_PROG} --dataset car --plot car.png\n"
        f"  {_PROG} --csv survey.csv --target rating --order low,mid,high\n"
        f"  {_PROG} --csv survey.csv --target rating --weight w --drop id\n\n"
        "exit status: 0 on success, 1 when the data cannot be used or training\n"
        "fails, 2 for a wrong command line, 130 when interrupted (Ctrl-C).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = dict.fromkeys(group for group, _, _ in _OPTIONS)
    groups = {group: parser.add_argument_group(group) for group in groups}
    source, names = groups["data"].add_mutually_exclusive_group(), _dataset_names()
    text = f"a bundled dataset: {', '.join(names)}"
    source.add_argument("--dataset", choices=names, metavar="NAME", help=text)
    source.add_argument("--csv", metavar="FILE", help=_HELP["--csv"])
    for group, option, settings in _OPTIONS:
        settings = {"choices": DECISIONS} if option == "--decision" else settings
        groups[group].add_argument(option, help=_HELP[option], **settings)
    version, text = f"%(prog)s {__version__}", "print the version of skemd and exit"
    parser.add_argument("--version", action="version", version=version, help=text)
    return parser


def _joining_order(argv: list[str]) -> list[str]:
    """``--order -1,0,1`` as ``--order=-1,0,1``, since argparse would take a value
    starting with "-" for an option (unless it is a plain negative number)."""
    joined, words = [], list(argv)
    while words:
        word = words.pop(0)
        # "--order" or an abbreviation argparse accepts, before a value that
        # starts with one "-" (a long option or -h is not a value).
        if len(word) >= 3 and "--order".startswith(word) and words:
            if re.match(r"-(?!-|h$)", words[0]):
                word = f"--order={words.pop(0)}"
        joined.append(word)
    return joined


def _csv_problem(args: argparse.Namespace) -> str | None:
    if args.csv is None:
        for option in ("target", "order", "weight", "drop", "max_csv_size"):
            if getattr(args, option) is not None:
                return f"--{option.replace('_', '-')} goes with --csv FILE"
        return None
    if args.target is None:
        return "--csv needs --target COLUMN"
    if not os.path.exists(args.csv):
        return f"argument --csv: no such file: {args.csv!r}"
    if os.path.isdir(args.csv):
        return f"argument --csv: {args.csv!r} is a directory"
    if args.weight is not None and args.weight == args.target:
        return "--weight and --target name the same column"
    for name in args.drop or ():
        if name in (args.target, args.weight):
            option = "--target" if name == args.target else "--weight"
            return f"--drop names the {option} column {name!r}"
    return None


def _plot_problem(args: argparse.Namespace) -> str | None:
    """Why the figure could not go to ``--plot``: found before any training."""
    if args.plot is None:
        return None
    path, name = Path(args.plot), f"argument --plot: {args.plot!r}"
    if not path.parent.is_dir():
        return f"argument --plot: no such directory: {str(path.parent)!r}"
    if path.is_dir():
        return f"{name} is a directory"
    # The same inode, through a link or not: even --force must keep the data.
    if args.csv is not None and path.exists() and path.samefile(args.csv):
        return f"{name} is the --csv file; writing the figure would destroy it"
    if path.is_symlink() and not path.exists() and not args.force:
        return f"{name} is a link to a missing file; pass --force to write through it"
    if path.exists() and not args.force:
        return f"{name} exists; pass --force to overwrite it"
    # --force writes through a link, into the file it names.
    written = Path(os.path.realpath(path))
    if written.exists() and not os.access(written, os.W_OK):
        return f"{name} is not writable"
    if not written.exists() and not os.access(written.parent, os.W_OK):
        return f"argument --plot: cannot create files in {str(written.parent)!r}"
    return None


def _parse_args(argv) -> argparse.Namespace:
    """Parse and check the command line; exit with status 2 when it is wrong."""
    parser = _build_parser()
    args = parser.parse_args(_joining_order(sys.argv[1:] if argv is None else argv))
    problem = _csv_problem(args) or _plot_problem(args)
    if problem:
        parser.error(problem)
    return args


# -------------------------------------------------------------------------- data


@dataclass
class _Data:
    """The features and the target of the dataset to compare the models on."""

    name: str
    X: Any  # a DataFrame
    y: Any  # a Series of an ordered Categorical, whose categories are the classes
    notes: list[str] = field(default_factory=list)
    sample_weight: Any = None
    weight_column: str | None = None

    def __post_init__(self) -> None:
        from pandas.api.types import is_numeric_dtype

        self.numeric = [c for c in self.X.columns if is_numeric_dtype(self.X[c])]
        self.categorical = [c for c in self.X.columns if c not in self.numeric]
        self.n_missing = int(self.X.isna().to_numpy().sum())
        self.classes = self.y.cat.categories.to_numpy()


def _import_pandas():
    try:
        import pandas as pd
    except ImportError:
        raise _Failure(
            "reading the data needs pandas, which is not installed: pip install pandas"
        ) from None
    return pd


def _load_bundled(name: str) -> _Data:
    _import_pandas()
    from .datasets import load_dataset

    bunch = load_dataset(name, as_frame=True)
    return _Data(f"{name} (bundled with skemd)", bunch.data, bunch.target)


class _TooLarge(Exception):
    """More of the file was read than ``--max-csv-size`` allows."""


class _Limited(io.RawIOBase):
    """A binary file that raises :class:`_TooLarge` once ``limit`` bytes are passed.

    Read through it, ``/dev/zero`` or an endless pipe cannot fill the memory.
    """

    def __init__(self, raw, limit: int) -> None:
        self._raw, self._left = raw, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n_read = self._raw.readinto(buffer) or 0
        self._left -= n_read
        if self._left < 0:
            raise _TooLarge
        return n_read


@contextlib.contextmanager
def _reading(path: str, limit: int):
    """The file as UTF-8 text, at most ``limit`` bytes; read errors as failures."""
    try:
        with open(path, "rb", buffering=0) as raw:
            stream = io.BufferedReader(_Limited(raw, limit))
            yield io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    except _TooLarge:
        more = "1G" if limit < 2**30 else f"{2 * math.ceil(limit / 2**30)}G"
        raise _Failure(
            f"{path!r} is larger than the limit of --max-csv-size, {_bytes(limit)}; "
            f"raise it to read the file, as in --max-csv-size {more}"
        ) from None
    except UnicodeDecodeError:
        raise _Failure(f"cannot read {path!r}: it is not UTF-8 text") from None
    except (ValueError, csv.Error, OSError) as exc:  # pandas' parser errors included
        raise _Failure(f"cannot read {path!r}: {_one_line(exc)}") from None


def _read_header(stream, sep: str, path: str) -> list[str]:
    """The column names as written: pandas would rename a repeated "y" to "y.1"."""
    row = next((row for row in csv.reader(stream, delimiter=sep) if row), None)
    if row is None:
        raise _Failure(f"cannot read {path!r}: the file is empty")
    names = [name.strip() or f"column {i}" for i, name in enumerate(row, 1)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _Failure(f"{path!r} has more than one column named {_show(repeated)}")
    return names


def _check_columns(names, path: str, sep: str, target, weight, drop) -> None:
    for option, wanted in (
        ("", [target]),
        ("--weight: ", [weight]),
        ("--drop: ", drop),
    ):
        unknown = [name for name in wanted or () if name and name not in names]
        if unknown:
            hint = ""
            if len(names) == 1 and sep == ",":
                hint = " (only one column was read: is the file separated by ';'?"
                hint += " see --sep)"
            what = "column {} is" if len(unknown) == 1 else "columns {} are"
            raise _Failure(
                f"{option}{what.format(_show(unknown))} not in {path!r}; its "
                f"columns are {_show(names, limit=30)}{hint}"
            )


def _as_written(cell: str) -> tuple[str]:
    # pandas matches the text a converter returns against its words for a
    # missing value ("NA", "null"), which --order may name as classes; a tuple
    # it leaves alone.
    return (cell,)


def _read_rows(pd, stream, sep: str, names: list[str], target: str):
    with warnings.catch_warnings():
        # Rows longer than the header (a trailing separator) lose their extra
        # fields: index_col=False keeps the columns in place.
        warnings.simplefilter("ignore", pd.errors.ParserWarning)
        return pd.read_csv(
            stream,
            sep=sep,
            header=None,
            names=names,
            index_col=False,
            skipinitialspace=True,
            low_memory=False,
            converters={target: _as_written},
        )


def _pandas_reading(pd, words: list[str], *, apart: bool = False) -> list:
    """Each word as pandas reads it in a CSV cell: a number, a bool, text or NaN.

    The words are read as one column, of one type, or ``apart``, each on its
    own. pandas is asked, as its words for a missing value are not public.
    """
    text = io.StringIO()
    rows = [words] if apart else [[word] for word in words]
    csv.writer(text, lineterminator="\n").writerows(rows)
    text.seek(0)
    frame = pd.read_csv(text, header=None, skip_blank_lines=False)
    return [frame[c].tolist()[0] for c in frame] if apart else frame[0].tolist()


def _kind(values) -> str:
    if values and all(isinstance(value, bool) for value in values):
        return "true and false"
    if values and all(isinstance(value, (int, float)) for value in values):
        return "whole numbers"
    return "text"


def _whole(values: list, where: str) -> list:
    if all(isinstance(value, int) for value in values):
        return values
    if not all(math.isfinite(value) and abs(value) < 2**53 for value in values):
        raise _Failure(
            f"{where} holds infinite or too large numbers; classes must be whole "
            "numbers below 2**53 or text"
        )
    fractional = [value for value in values if not float(value).is_integer()]
    if fractional:
        raise _Failure(
            f"{where} holds numbers that are not whole, such as {fractional[0]!r}; "
            "classes must be whole numbers or text (is it a continuous quantity?)"
        )
    return [int(value) for value in values]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_target(pd, cells, order, target: str) -> tuple[list, str]:
    """The class of each row (None for none) and what the classes are.

    Cells are read as pandas reads them, numbers, true/false or text, with "NA"
    or "null" missing, but text that ``--order`` names is a class.
    """
    written = [cell[0].strip() if isinstance(cell, tuple) else "" for cell in cells]
    words = list(dict.fromkeys(written))
    read = dict(zip(words, _pandas_reading(pd, words), strict=True))
    kept = [word for word in words if not pd.isna(read[word])]
    kind = _kind([read[word] for word in kept])
    if kind == "whole numbers":
        values = _whole([read[word] for word in kept], f"column {target!r}")
        labels = dict(zip(kept, values, strict=True))
    elif kind == "true and false":
        labels = {word: read[word] for word in kept}
    else:
        numbers = [word for word in kept if _is_number(word)]
        if order is None and numbers and len(numbers) < len(kept):
            raise _Failure(
                f"column {target!r} holds numbers and text, such as "
                f"{_show(sorted(set(kept) - set(numbers)), limit=3)}, which would "
                "sort as text (10 before 2); give the class order with --order, or "
                "leave missing values empty"
            )
        labels = {word: word for word in words if word in kept or word in (order or ())}
    return [labels.get(word) for word in written], kind


def _ordered_as_named(pd, order, kind: str, target: str) -> list:
    """The classes ``--order`` names, read as the target's cells are."""
    if kind == "text":
        return list(order)
    read = _pandas_reading(pd, order, apart=True)
    for name, value in zip(order, read, strict=True):
        if pd.isna(value) or _kind([value]) != kind:
            hint = ""
            if pd.isna(value):
                write = "a number" if kind == "whole numbers" else "true or false"
                hint = (
                    f" (pandas reads {name!r} as a missing value, so its rows have "
                    f"no class: write that class as {write})"
                )
            raise _Failure(
                f"--order names {name!r}, but column {target!r} holds {kind}{hint}"
            )
    classes, first = _whole(read, "--order") if kind == "whole numbers" else read, {}
    for name, label in zip(order, classes, strict=True):
        if first.setdefault(label, name) != name:
            raise _Failure(
                f"--order names the class {label} twice, as {first[label]!r} and "
                f"{name!r}"
            )
    return classes


def _class_order(pd, labels, kind: str, order, target: str, notes: list):
    """The classes, lowest first: from ``--order``, else the sorted labels."""
    import numpy as np

    from ._labels import is_text, positions, sorted_order

    present = sorted_order(labels, warn=False)
    if order is None:
        if is_text(present):
            notes.append(
                f"the classes are text and no --order was given, so their order is "
                f"a guess, the alphabetical one: {' < '.join(present.tolist())}. If "
                "they rank otherwise, give the order, lowest first, with --order "
                f"{shlex.quote(','.join(present.tolist()))} rearranged"
            )
        return present
    classes = np.asarray(_ordered_as_named(pd, order, kind, target))
    try:
        positions(labels, classes, name=f"column {target!r}", order_name="--order")
    except ValueError as exc:
        raise _Failure(f"{_one_line(exc)} It must list every class.") from None
    present = set(present.tolist())
    absent = [
        n for n, c in zip(order, classes.tolist(), strict=True) if c not in present
    ]
    if absent:
        notes.append(
            f"no sample has the class(es) {_show(absent)} named by --order; they "
            "are kept in the class order"
        )
    return classes


def _weight_values(column):
    """The sample weights of a column: finite numbers >= 0, not all zero."""
    import numpy as np
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    problem = None
    if not is_numeric_dtype(column.dtype) or is_bool_dtype(column.dtype):
        text = column[column.notna()].astype(str)
        bad = text[~text.str.fullmatch(r"\s*[-+]?[0-9.eE]+\s*")]
        problem = "holds values that are not numbers"
        problem += f", such as {bad.iloc[0]!r}" if len(bad) else ""
        raise _Failure(f"weight column {column.name!r} {problem}")
    values = column.to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        problem = (
            f"has no value in {int(np.isnan(values).sum())} of {len(values)} rows; "
            "every sample needs a weight (0 leaves it out)"
        )
    elif not np.isfinite(values).all():
        problem = "holds infinite values"
    elif (values < 0).any():
        problem = (
            f"holds negative values, such as {values[values < 0][0].item()!r}; "
            "weights must be >= 0"
        )
    elif not values.any():
        problem = "is zero in every row"
    if problem:
        raise _Failure(f"weight column {column.name!r} {problem}")
    return values


def _feature_columns(X, path: str, left_out: list[str], notes: list):
    """The feature columns worth using, text stripped, with notes on the rest."""
    from pandas.api.types import is_string_dtype

    empty = [name for name in X.columns if X[name].isna().all()]
    if empty:
        # A column with no value (as a trailing separator makes) says nothing.
        notes.append(f"left out column(s) {_show(empty)}, which hold no value")
        X = X.drop(columns=empty)
    if X.shape[1] == 0:
        raise _Failure(f"{path!r} has no feature columns besides {_show(left_out)}")
    numbers = X.select_dtypes("number")
    # The networks compute in float32, whose largest number is about 3.4e38.
    huge = [name for name in numbers if (numbers[name].abs() > 3.4e38).any()]
    if huge:
        raise _Failure(
            f"feature column(s) {_show(huge)} hold infinite or too large numbers "
            "(beyond 3.4e38); leave them out with --drop, or fix the values"
        )
    for name in X.columns:
        if is_string_dtype(X[name]):
            X[name] = X[name].str.strip()  # spaces before a separator stay in text
            if X[name].nunique() > _MANY_LEVELS:
                notes.append(
                    f"text column {name!r} has {X[name].nunique()} distinct values: "
                    f"the {_MANY_LEVELS - 1} most frequent are one-hot encoded, the "
                    "rest share one feature (an identifier? leave it out with --drop)"
                )
    if X.isna().to_numpy().any():
        notes.append(
            f"{int(X.isna().to_numpy().sum())} missing feature values: numbers are "
            "filled with the median of the training part, text is a category of "
            "its own"
        )
    return X


def _load_csv(
    path, target, order, sep, weight=None, drop=None, max_bytes=_DEFAULT_MAX_CSV_SIZE
) -> _Data:
    """Read the CSV file once, with pandas, into features and an ordered target."""
    pd = _import_pandas()
    import numpy as np

    from ._labels import positions

    with _reading(path, max_bytes) as stream:
        names = _read_header(stream, sep, path)
        _check_columns(names, path, sep, target, weight, drop)
        frame = _read_rows(pd, stream, sep, names, target)
    if len(frame) == 0:
        raise _Failure(f"{path!r} has a header but no data rows")
    labels, kind = _read_target(pd, frame[target], order, target)
    has_class = np.array([label is not None for label in labels])
    if not has_class.any():
        raise _Failure(f"column {target!r} of {path!r} has no values")
    notes = []
    if not has_class.all():
        notes.append(
            f"dropped {int((~has_class).sum())} of {len(frame)} rows with no value "
            f"in column {target!r}"
        )
        frame = frame[has_class]
    labels = np.asarray([label for label in labels if label is not None])
    if len(set(labels.tolist())) < 2:
        raise _Failure(
            f"column {target!r} holds a single class, {labels[0].item()!r}; there "
            "is nothing to classify"
        )
    classes = _class_order(pd, labels, kind, order, target, notes)
    if len(classes) > _MANY_LEVELS:
        notes.append(
            f"column {target!r} has {len(classes)} classes; is it a continuous "
            "quantity rather than ordered classes?"
        )
    codes = positions(labels, classes)
    y = pd.Series(
        pd.Categorical.from_codes(codes, categories=classes, ordered=True),
        index=frame.index,
        name=target,
    )
    sample_weight = None if weight is None else _weight_values(frame[weight])
    if sample_weight is not None and not sample_weight.all():
        n_zero = int((sample_weight == 0).sum())
        notes.append(
            f"{n_zero} of {len(frame)} rows have weight 0 and count for nothing"
        )
    left_out = [target, *([weight] if weight else []), *(drop or [])]
    X = _feature_columns(frame.drop(columns=left_out), path, left_out, notes)
    return _Data(path, X, y, notes, sample_weight, weight)


def _load(args: argparse.Namespace) -> _Data:
    if args.csv is None:
        return _load_bundled(args.dataset or _default_dataset())
    limit = args.max_csv_size or _DEFAULT_MAX_CSV_SIZE
    return _load_csv(
        args.csv, args.target, args.order, args.sep, args.weight, args.drop, limit
    )


def _split(data: _Data, test_size: float, seed: int):
    """Hold out a stratified test part, or a plain one when classes are too rare.

    Returns ``X_train, X_test, y_train, y_test, w_train, w_test, note``: the
    weights are None without a weight column, the note says why the split is
    not stratified, if it is not.
    """
    from sklearn.model_selection import train_test_split

    counts = data.y.value_counts()
    counts = counts[counts > 0]
    n_test = math.ceil(test_size * len(data.y))
    n_small = min(n_test, len(data.y) - n_test)
    note = None
    if counts.min() < 2:
        rare = _show(counts.index[counts < 2].tolist())
        note = f"the split is not stratified: class(es) {rare} have a single sample"
    elif n_small < len(counts):
        note = (
            f"the split is not stratified: {n_small} samples cannot hold all "
            f"{len(counts)} classes"
        )
    weights = [] if data.sample_weight is None else [data.sample_weight]
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
        raise _Failure(
            f"cannot split {len(data.y)} samples with --test-size {test_size}: "
            f"{_one_line(exc)}"
        ) from None
    y_train, w_train, w_test = parts[2], *(parts[4:] or [None, None])
    if (y_train if w_train is None else y_train[w_train > 0]).nunique() < 2:
        weighted = " with a weight above 0" if w_train is not None else ""
        raise _Failure(
            f"the training part holds a single class{weighted}; {len(data.y)} "
            "samples are too few"
        )
    if w_test is not None and not w_test.any():
        raise _Failure(
            f"every sample of the test part has weight 0 in column "
            f"{data.weight_column!r}; there is nothing to score (try another --seed "
            "or a larger --test-size)"
        )
    return (*parts[:4], w_train, w_test, note)


# ------------------------------------------------------------------------ models
# These classes subclass scikit-learn's or skorch's, so they are made on first
# use (through _class, or an import from this module): made at import, they
# would import scikit-learn and torch for --help too.


def _make_rank_baseline():
    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin, clone

    class _RankBaseline(ClassifierMixin, BaseEstimator):
        """Fit a classifier on class ranks and report labels in the given order.

        mord's threshold models need the labels ``0 .. m-1``, and a plain
        classifier orders its probability columns by sorted label. Fitted on the
        ranks ``0 .. m-1`` of the ``m`` classes present, either stands in for an
        ordinal model with any labels; ``classes`` lists every class, lowest first.
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
            params = {} if sample_weight is None else {"sample_weight": sample_weight}
            self.estimator_ = clone(self.estimator).fit(
                X, np.searchsorted(self.present_, ranks), **params
            )
            return self

        def predict_proba(self, X):
            proba = np.zeros((X.shape[0], len(self.classes_)))
            proba[:, self.present_] = np.clip(self.estimator_.predict_proba(X), 0, None)
            return proba / proba.sum(axis=1, keepdims=True)

        def predict(self, X):
            codes = np.asarray(self.estimator_.predict(X)).astype(np.intp)
            return self.classes_[self.present_[codes]]

    return _RankBaseline


def _make_median_class():
    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin

    from ._labels import categories_of, check_sample_weight, positions, sorted_order

    class _MedianClass(ClassifierMixin, BaseEstimator):
        """Predict the (weighted) median class of the training labels, always.

        The constant prediction of least mean absolute error on the training
        part (the lower median on a tie): what a model must beat to have learnt
        anything. An ordered ``Categorical`` gives the class order, else the
        labels are sorted.
        """

        def fit(self, X, y, sample_weight=None):
            labels, order = np.asarray(y), categories_of(y)
            self.classes_ = sorted_order(labels, warn=False) if order is None else order
            weight = check_sample_weight(sample_weight, len(labels))
            ranks = positions(labels, self.classes_)
            total = np.cumsum(np.bincount(ranks, weight, len(self.classes_)))
            self.median_ = int(np.searchsorted(total, total[-1] / 2))
            return self

        def predict_proba(self, X):
            return np.eye(len(self.classes_))[np.full(X.shape[0], self.median_)]

        def predict(self, X):
            return self.classes_[np.full(X.shape[0], self.median_)]

    return _MedianClass


def _make_epoch_report():
    from skorch.callbacks import Callback

    class _EpochReport(Callback):
        """A skorch callback that calls ``on_epoch(n)`` as epoch ``n`` ends."""

        def __init__(self, on_epoch):
            self.on_epoch = on_epoch

        def __deepcopy__(self, memo):
            # EMDClassifier trains with copies of its callbacks: a copy must
            # report to the same display, not to a copy of it.
            return type(self)(self.on_epoch)

        def on_epoch_end(self, net, **kwargs):
            self.on_epoch(len(net.history))

    return _EpochReport


_MAKERS = {
    "_EpochReport": _make_epoch_report,
    "_MedianClass": _make_median_class,
    "_RankBaseline": _make_rank_baseline,
}


def _class(name: str):
    if name not in globals():
        globals()[name] = _MAKERS[name]()
    return globals()[name]


def __getattr__(name: str):
    if name in _MAKERS:
        return _class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _features(data: _Data):
    """The feature transformer: standardise numbers, one-hot encode text."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if not data.categorical and not data.n_missing:
        return StandardScaler()
    transformers = []
    if data.numeric:
        scale = StandardScaler()
        if data.n_missing:
            impute = SimpleImputer(strategy="median", keep_empty_features=True)
            scale = make_pipeline(impute, scale)
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


def _emd_name(args: argparse.Namespace, ce_weight: float = 0.0) -> str:
    """The squared-EMD model's name, with the settings given to it.

    ``ce_weight`` is its fitted ``ce_weight_``: the default mixes cross-entropy
    into some ground distances.
    """
    settings = [args.ground_distance] if args.ground_distance else []
    settings += ["with cross-entropy"] if settings and ce_weight > 0 else []
    settings += [args.decision] if args.decision else []
    return f"EMDClassifier (squared EMD{''.join(', ' + s for s in settings)})"


def _models(data: _Data, args: argparse.Namespace):
    """The three pipelines to compare, by name, and a note about the baseline."""
    from sklearn.pipeline import Pipeline

    from ._classifier import EMDClassifier

    # No classes=: the target, an ordered Categorical, gives the class order.
    shared = {"random_state": args.seed, "early_stopping": True}
    if args.max_iter is not None:
        shared["max_iter"] = args.max_iter
    emd = EMDClassifier(**shared)
    for option in ("ground_distance", "decision"):
        if getattr(args, option) is not None:
            emd.set_params(**{option: getattr(args, option)})
    models = {
        _emd_name(args): emd,
        "EMDClassifier (cross-entropy)": EMDClassifier(
            ce_weight=1.0, emd_weight=0.0, **shared
        ),
    }
    try:
        from mord import LogisticAT
    except ImportError:
        from sklearn.linear_model import LogisticRegression

        name, linear = "LogisticRegression (sklearn)", LogisticRegression(max_iter=1000)
        note = (
            "mord is not installed (pip install mord), so the baseline is "
            "scikit-learn's LogisticRegression, which ignores the class order"
        )
    else:
        name, linear, note = "LogisticAT (mord)", LogisticAT(), None
    models[name] = _class("_RankBaseline")(linear, data.classes)
    pipelines = {
        name: Pipeline([("features", _features(data)), ("model", model)])
        for name, model in models.items()
    }
    return pipelines, note


# ---------------------------------------------------------------------- training


class _Progress:
    """A line as each model starts and ends training, with epochs in between.

    On a terminal the model's line is redrawn in place with an epoch counter.
    Elsewhere (a pipe, a notebook, a log) every tenth of the epochs adds a line,
    flushed at once so that it shows while the model trains.
    """

    def __init__(self, stream: TextIO, width: int) -> None:
        self.stream, self.width = stream, width
        isatty = getattr(stream, "isatty", None)
        self.live = bool(isatty and isatty())
        self._head, self._shown, self._max_epochs, self._every = "", "", None, 1

    def start(self, name: str, max_epochs: int | None = None) -> None:
        self._head, self._shown = f"  {name:<{self.width}}  ", ""
        self._max_epochs, self._every = max_epochs, math.ceil((max_epochs or 1) / 10)
        self._write(
            f"training, at most {max_epochs} epochs" if max_epochs else "training"
        )

    def epoch(self, n: int) -> None:
        if self.live or n % self._every == 0:
            self._write(f"epoch {n}/{self._max_epochs}")

    def finish(self, summary: str) -> None:
        self._write(summary)
        if self.live:
            self.stream.write("\n")
            self.stream.flush()

    def _write(self, status: str) -> None:
        text = self._head + status
        if self.live:
            # Spaces wipe out the end of a longer line drawn before.
            self.stream.write(f"\r{text:<{len(self._shown)}}")
            self._shown = text
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


@contextlib.contextmanager
def _single_torch_thread():
    """Run torch on one intra-op thread, then restore the previous setting.

    The networks are small: a batch costs less than the threads take to meet, and
    on a busy machine their spin-waiting made training tens of times slower than
    on one thread.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # The first optimiser a process makes imports torch._dynamo (seconds):
        # paid here, it is not counted in the fit time of the first network.
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
        yield
    finally:
        torch.set_num_threads(previous)


def _fit(name: str, pipeline, X, y, progress: _Progress, sample_weight=None):
    """Fit one pipeline with progress lines; return its notes and fit seconds."""
    from sklearn.exceptions import ConvergenceWarning

    model, fit_params, epochs = pipeline[-1], {}, None
    if sample_weight is not None:
        fit_params[f"{pipeline.steps[-1][0]}__sample_weight"] = sample_weight
    if "callbacks" in model.get_params(deep=False):
        report = _class("_EpochReport")(progress.epoch)
        model.set_params(callbacks=[("progress", report)])
        epochs = model.max_iter
    progress.start(name, epochs)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            pipeline.fit(X, y, **fit_params)
        except (ValueError, TypeError, FloatingPointError) as exc:
            progress.finish("failed")
            raise _Failure(f"{name}: {_one_line(exc)}") from None
    seconds = time.perf_counter() - start
    epochs = f" ({model.n_iter_} epochs)" if hasattr(model, "n_iter_") else ""
    progress.finish(f"trained in {seconds:.1f} s{epochs}")
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
    return list(dict.fromkeys(notes)), seconds


def _predictions(pipeline, X_test):
    """Predicted labels and probabilities of a fitted pipeline."""
    with warnings.catch_warnings():
        # Unseen text values are encoded as all zeros, as documented.
        warnings.filterwarnings("ignore", message="Found unknown categories")
        return pipeline.predict(X_test), pipeline.predict_proba(X_test)


def _evaluate(pipeline, X_test, y_test, sample_weight=None):
    """Test scores of a fitted pipeline (weighted, if weights are given), and its
    test predictions."""
    from sklearn.metrics import accuracy_score

    from .metrics import mae, qwk, ranked_probability_score

    y_pred, proba = _predictions(pipeline, X_test)
    y_true, weight = y_test.to_numpy(), {"sample_weight": sample_weight}
    scores = {
        "MAE": mae(y_true, y_pred, classes=pipeline, **weight),
        "QWK": qwk(y_true, y_pred, classes=pipeline, **weight),
        "accuracy": accuracy_score(y_true, y_pred, **weight),
        "RPS": ranked_probability_score(y_true, proba, classes=pipeline, **weight),
    }
    return scores, y_pred


# ------------------------------------------------------------------------ report


def _format_table(scores: dict, seconds: dict, reference=()) -> str:
    """The scores as a text table and its legend, the best of each column starred.

    ``scores`` maps each model name to ``{metric: value}`` for ``_METRICS``,
    ``seconds`` to its fit time; the rows of ``reference`` are not ranked.
    """
    # A space after each metric name lines it up with the digits, not the star.
    header = ["model", *(f"{metric} " for metric, _ in _METRICS), "fit time"]
    ranked = [values for name, values in scores.items() if name not in reference]
    rows = []
    for name, values in scores.items():
        row = [name]
        for metric, better in _METRICS:
            column = [round(v[metric], 3) for v in ranked]
            best = min(column) if better == "lower" else max(column)
            star = name not in reference and round(values[metric], 3) == best
            row.append(f"{values[metric]:.3f}{'*' if star else ' '}")
        rows.append([*row, f"{seconds[name]:.1f} s"])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        rest = [cell.rjust(w) for cell, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([cells[0].ljust(widths[0]), *rest]).rstrip()

    legend = (
        "* best in its column. Lower is better for MAE (mean absolute error, in "
        "classes) and RPS (ranked probability score); higher for QWK (quadratic "
        "weighted kappa) and accuracy."
    )
    if reference:
        legend += (
            f" The {', '.join(reference)} row, not ranked, predicts the median "
            "training class for every sample: a model that does no better than it "
            "has learnt nothing of use."
        )
    table = [line(header), line(["-" * w for w in widths]), *map(line, rows)]
    return "\n".join([*table, "", *textwrap.wrap(legend, width=79)])


def _describe_classes(y) -> str:
    counts = y.value_counts(sort=False)  # every category, in class order
    items = [f"{label} ({count})" for label, count in counts.items()]
    return " < ".join(
        items if len(items) <= _N_SHOWN else items[:5] + ["..."] + items[-5:]
    )


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


def _save_plot(path: str, fmt: str, pipeline, y_test, y_pred, force: bool) -> None:
    """Save the ground distance and the confusion matrix of the squared-EMD model."""
    from matplotlib.figure import Figure

    from .plotting import plot_confusion_matrix, plot_ground_distance

    small = len(pipeline.classes_) <= 12
    figure = Figure(figsize=(12, 5), layout="constrained")
    left, right = figure.subplots(1, 2)
    title = "Ground distance (squared EMD)"
    plot_ground_distance(pipeline, ax=left, annotate=small, title=title)
    left.set_xlabel("Class")
    left.set_ylabel("Class")
    title = f"Confusion matrix, {len(y_test)} test samples (squared EMD)"
    plot_confusion_matrix(
        y_test, y_pred, classes=pipeline, ax=right, annotate=small, title=title
    )
    for axes in () if small else (left, right):
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


def _print_setup(data: _Data, args, parts, network, note, out: TextIO) -> None:
    """What the models are trained and tested on, and how."""
    text = f", {len(data.categorical)} of them text" if data.categorical else ""
    lines = [
        f"Data: {data.name}",
        f"  {len(data.y)} samples, {data.X.shape[1]} feature columns{text}",
    ]
    if data.sample_weight is not None:
        total = data.sample_weight.sum()
        lines.append(f"  weighted by column {data.weight_column!r} (total {total:.6g})")
    lines.append(f"  classes (samples): {_describe_classes(data.y)}")
    lines += [f"note: {note}" for note in data.notes]
    split = "plain" if parts[-1] else "stratified"
    lines.append(
        f"Split: {len(parts[2])} training / {len(parts[3])} test samples, {split}, "
        f"seed {args.seed}"
    )
    lines += [f"note: {parts[-1]}"] if parts[-1] else []
    limit = " (--max-iter)" if args.max_iter is not None else ""
    lines.append(
        f"Networks: EMDClassifier(hidden_layer_sizes={network.hidden_layer_sizes}), "
        f"at most {network.max_iter} epochs{limit}, early stopping on "
        f"{network.validation_fraction:.0%} of the training part"
    )
    lines += [f"note: {note}"] if note else []
    print("\n".join(lines), file=out)


def _train_and_score(pipelines: dict, args, parts, out: TextIO):
    """Train the pipelines in turn, then score them and the median reference.

    Returns the pipelines, scores, fit seconds and test predictions by name,
    with the squared-EMD model (the first) named as fitted.
    """
    from sklearn.pipeline import Pipeline

    X_train, X_test, y_train, y_test, w_train, w_test, _ = parts
    print("Training:", file=out)
    progress = _Progress(out, max(len(name) for name in pipelines))
    seconds = {}
    with _single_torch_thread():
        for name, pipeline in pipelines.items():
            notes, seconds[name] = _fit(
                name, pipeline, X_train, y_train, progress, w_train
            )
            print("".join(f"note: {note}\n" for note in notes), end="", file=out)
    first = next(iter(pipelines))
    name = _emd_name(args, pipelines[first][-1].ce_weight_)
    pipelines = {name if key == first else key: p for key, p in pipelines.items()}
    seconds[name] = seconds.pop(first)
    reference = Pipeline([("model", _class("_MedianClass")())])
    start = time.perf_counter()
    reference.fit(X_train, y_train, model__sample_weight=w_train)
    seconds[_REFERENCE] = time.perf_counter() - start
    scores, predictions = {}, {}
    for key, pipeline in {**pipelines, _REFERENCE: reference}.items():
        scores[key], predictions[key] = _evaluate(pipeline, X_test, y_test, w_test)
    return pipelines, scores, seconds, predictions


def _run(args: argparse.Namespace, out: TextIO) -> None:
    """Load, split, train, score and report; raise _Failure on bad data."""
    plot_format = _check_plot(args.plot) if args.plot is not None else None
    data = _load(args)
    parts = _split(data, args.test_size, args.seed)
    X_test, y_test, w_test = parts[1], parts[3], parts[5]
    pipelines, note = _models(data, args)
    _print_setup(data, args, parts, next(iter(pipelines.values()))[-1], note, out)
    pipelines, scores, seconds, predictions = _train_and_score(
        pipelines, args, parts, out
    )
    name, emd = next(iter(pipelines.items()))
    weighted = f", weighted by {data.weight_column!r}" if data.weight_column else ""
    n_features = len(emd[0].get_feature_names_out())
    print(
        f"\nTest scores ({len(y_test)} samples{weighted}, {n_features} features "
        f"after encoding):\n\n{_format_table(scores, seconds, [_REFERENCE])}",
        file=out,
    )
    decision = emd[-1].decision
    rule = (
        f"Decision rule: {name} predicts {_RULES.get(decision, decision)} "
        f"(decision={decision!r}; --decision picks another rule)."
    )
    print("\n" + textwrap.fill(rule, width=79), file=out)
    if args.report:
        from .metrics import ordinal_report

        y_pred, proba = _predictions(emd, X_test)
        report = ordinal_report(
            y_test.to_numpy(), y_pred, y_proba=proba, classes=emd, sample_weight=w_test
        )
        print(
            f"\nClass by class, {name} on the test part:\n\n{report}", file=out, end=""
        )
    if args.plot is not None:
        y_pred = predictions[name]
        _save_plot(args.plot, plot_format, emd, y_test.to_numpy(), y_pred, args.force)
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
        wrong command line, 130 when interrupted (Ctrl-C). Errors are reported on
        one line of stderr.

    Examples
    --------
    >>> from skemd._cli import main
    >>> main(["--csv", "no-such-file.csv", "--target", "quality"])
    2
    """
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # While the modules load as well as while the models train: one line.
        with contextlib.suppress(OSError, ValueError):
            print(f"\n{_PROG}: interrupted", file=sys.stderr)
        return 130


def _main(argv) -> int:
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
