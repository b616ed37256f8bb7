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

This module checks the command line; ``_data`` reads the data, ``_models`` trains
and scores the models and ``_report`` prints the results. Those import pandas,
scikit-learn and torch, and are imported once the command line is known to be
right: so ``--help`` and a wrong command line answer at once, and ``main``
catches a Ctrl-C while they load.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import textwrap
from pathlib import Path

PROG = "skemd"
DEFAULT_MAX_CSV_SIZE = 2**30
_DEFAULT_DATASETS = ("winequality_red", "era")
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


class Failure(Exception):
    """An error to report on one line, with the exit status to return."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def show(values, limit: int = 12) -> str:
    """A short comma-separated list of values for a message."""
    from .._labels import describe

    return describe(values, keep_order=True, limit=limit)[1:-1]


def size_text(n_bytes: int) -> str:
    for unit in "TGMK":
        if n_bytes >= _UNITS[unit.lower()]:
            return f"{n_bytes / _UNITS[unit.lower()]:.3g} {unit}iB"
    return f"{n_bytes} bytes"


def default_dataset() -> str:
    from ..datasets import list_datasets

    names = list_datasets()
    return next((name for name in _DEFAULT_DATASETS if name in names), names[0])


# ------------------------------------------------------------------ command line


class _ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors take one line."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _checked(kind, check, requirement: str):
    """An argparse type: ``kind(text)``, which must pass ``check``."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "a number" if kind is float else "a whole number"
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"must {requirement}; got {text}")
        return value

    return parse


_fraction = _checked(float, lambda v: 0 < v < 1, "lie between 0 and 1")
_positive_int = _checked(int, lambda v: v >= 1, "be at least 1")
_seed = _checked(int, lambda v: 0 <= v < 2**32, "be from 0 to 2**32 - 1")


def _size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kmgt]?)i?b?\s*", text, re.I)
    n_bytes = 0 if match is None else float(match[1]) * _UNITS[match[2].lower()]
    if n_bytes < 1:
        raise argparse.ArgumentTypeError(f"not a size such as 500M or 2G: {text!r}")
    return int(n_bytes)


def _separator(text: str) -> str:
    value = {"\\t": "\t", "tab": "\t"}.get(text, text)  # "\t" as typed in a shell
    if len(value) != 1:
        raise argparse.ArgumentTypeError(
            f"must be one character (or \\t for a tab); got {text!r}"
        )
    return value


def _names(what: str):
    """An argparse type: comma-separated names, none empty."""

    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",")]
        if "" in names:
            raise argparse.ArgumentTypeError(f"empty {what} name in {text!r}")
        if what == "column":
            return list(dict.fromkeys(names))
        repeated = [name for name in dict.fromkeys(names) if names.count(name) > 1]
        if repeated:
            raise argparse.ArgumentTypeError(f"repeated class names: {show(repeated)}")
        return names

    return parse


_DESCRIPTION = (
    "Compare EMDClassifier trained with the squared EMD loss, the same network "
    "trained with cross-entropy and a linear ordinal baseline, against the constant "
    "median class, on a held-out part of an ordinal dataset: one bundled with skemd "
    "({default} unless --dataset says otherwise) or a CSV file of your own. Features "
    "are standardised and text features one-hot encoded, fitted on the training "
    "part only."
)
_EPILOG = f"""examples:
  {PROG}
  {PROG} --dataset car --plot car.png
  {PROG} --csv survey.csv --target rating --order low,mid,high
  {PROG} --csv survey.csv --target rating --weight w --drop id

exit status: 0 on success, 1 when the data cannot be used or training
fails, 2 for a wrong command line, 130 when interrupted (Ctrl-C)."""


_HELP = {
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
    ("data", "--order", {"type": _names("class"), "metavar": "A,B,C"}),
    ("data", "--weight", {"metavar": "COLUMN"}),
    ("data", "--drop", {"type": _names("column"), "metavar": "A,B"}),
    ("data", "--sep", {"type": _separator, "default": ",", "metavar": "SEP"}),
    ("data", "--max-csv-size", {"type": _size, "metavar": "SIZE"}),
    ("evaluation", "--test-size", {"type": _fraction, "default": 0.25, "metavar": "F"}),
    ("evaluation", "--seed", {"type": _seed, "default": 0, "metavar": "N"}),
    ("evaluation", "--max-iter", {"type": _positive_int, "metavar": "N"}),
    ("evaluation", "--ground-distance", {"choices": ("ordinal", "uniform", "learned")}),
    ("evaluation", "--decision", {}),  # choices: DECISIONS, which imports numpy
    ("output", "--plot", {"metavar": "FILE.png"}),
    ("output", "--force", {"action": "store_true"}),
    ("output", "--report", {"action": "store_true"}),
)


def _build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from .._decision import DECISIONS
    from ..datasets import list_datasets

    parser = _ArgumentParser(
        prog=PROG,
        description=textwrap.fill(_DESCRIPTION.format(default=default_dataset()), 79),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = {group: parser.add_argument_group(group) for group, _, _ in _OPTIONS}
    source, names = groups["data"].add_mutually_exclusive_group(), list_datasets()
    text = f"a bundled dataset: {', '.join(names)}"
    source.add_argument("--dataset", choices=names, metavar="NAME", help=text)
    source.add_argument("--csv", metavar="FILE", help="a CSV file with a header row")
    for group, option, settings in _OPTIONS:
        settings = {"choices": DECISIONS} if option == "--decision" else settings
        groups[group].add_argument(option, help=_HELP[option], **settings)
    version, text = f"%(prog)s {__version__}", "print the version of skemd and exit"
    parser.add_argument("--version", action="version", version=version, help=text)
    return parser


def _joining_order(argv: list[str]) -> list[str]:
    """``--order -1,0,1`` as ``--order=-1,0,1``: argparse would take a value
    starting with "-" for an option (unless it is a plain negative number)."""
    joined, words = [], list(argv)
    while words:
        word = words.pop(0)
        # "--order", or an abbreviation argparse accepts, before a value that
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
    # The same file, by a link or not: even --force must keep the data.
    if args.csv is not None and path.exists() and path.samefile(args.csv):
        return f"{name} is the --csv file; writing the figure would destroy it"
    if path.is_symlink() and not path.exists() and not args.force:
        return f"{name} is a link to a missing file; pass --force to write through it"
    if path.exists() and not args.force:
        return f"{name} exists; pass --force to overwrite it"
    written = Path(os.path.realpath(path))  # --force writes through a link
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


# ------------------------------------------------------------------------- run


def _run(args: argparse.Namespace, out) -> None:
    """Load, split, train, score and report; raise Failure on bad data."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        raise Failure(
            "reading the data needs pandas, which is not installed: pip install pandas"
        ) from None
    from . import _report
    from ._data import load, split
    from ._models import models, train

    plot_format = _report.check_plot(args.plot) if args.plot is not None else None
    data = load(args)
    parts = split(data, args.test_size, args.seed)
    pipelines, note = models(args)
    print(_report.setup(data, args, parts, pipelines, note), file=out)
    pipelines, seconds = train(pipelines, parts, args, out)
    predictions = _report.results(data, parts, pipelines, seconds, args, out)
    if plot_format is not None:
        name, emd = next(iter(pipelines.items()))
        y_test, y_pred = parts.y_test.to_numpy(), predictions[name][0]
        _report.save_plot(args.plot, plot_format, emd, y_test, y_pred, args.force)
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
            print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130


def _main(argv) -> int:
    try:
        args = _parse_args(argv)
    except SystemExit as exc:  # --help, --version or a wrong command line
        return exc.code
    out = sys.stdout
    try:
        _run(args, out)
        out.flush()
    except Failure as exc:
        with contextlib.suppress(OSError):
            out.flush()
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.status
    except BrokenPipeError:
        # The reader stopped (skemd | head): leave quietly, as Unix tools do.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 1
    except OSError as exc:
        print(
            f"{PROG}: error: cannot write the output: {one_line(exc)}", file=sys.stderr
        )
        return 1
    return 0
