"""The ``skemd`` command: compare ordinal classifiers on a held-out split.

This module checks the command line; ``_data`` reads the data, ``_models`` trains
and scores the models and ``_report`` prints the results. Those import pandas,
scikit-learn and torch, once the command line is known to be right: so ``--help``
and a wrong command line answer at once, and ``main`` catches a Ctrl-C while they
load.
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
DEFAULT_DATASET = "winequality_red"
DEFAULT_MAX_CSV_SIZE = 2**30
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


class Failure(Exception):
    """An error to report on one line, with exit status 1."""


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


class _ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors take one line."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _checked(kind, check, requirement: str):
    """An argparse type: ``kind(text)``, which must pass ``check``."""

    def parse(text: str):
        value = kind(text)  # a ValueError reads "invalid int value: 'x'"
        if not check(value):
            raise argparse.ArgumentTypeError(f"must {requirement}; got {text}")
        return value

    parse.__name__ = kind.__name__
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
        raise argparse.ArgumentTypeError(f"must be one character or \\t; got {text!r}")
    return value


def _names(what: str):
    """An argparse type: comma-separated names, none empty or repeated."""

    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",")]
        repeated = [name for name in dict.fromkeys(names) if names.count(name) > 1]
        if "" in names:
            raise argparse.ArgumentTypeError(f"empty {what} name in {text!r}")
        if repeated:
            raise argparse.ArgumentTypeError(f"repeated {what} names: {show(repeated)}")
        return names

    return parse


_DESCRIPTION = (
    "Compare EMDClassifier trained with the squared EMD loss, the same network "
    "trained with cross-entropy and a linear ordinal baseline, against the constant "
    "median class, on a held-out part of a bundled dataset (default: "
    f"{DEFAULT_DATASET}) or a CSV file. Features are standardised and text one-hot "
    "encoded, fitted on the training part only."
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
    "--weight": "column of sample weights (numbers >= 0) to train and score with",
    "--drop": "columns of the CSV file to leave out of the features (an id, a note)",
    "--sep": "CSV field separator, one character (\\t for a tab; default: ,)",
    "--max-csv-size": "most of the CSV file to read, such as 500M (default: 1G)",
    "--test-size": "share of the samples held out for testing (default: 0.25)",
    "--seed": "seed of the split and of the networks (default: 0)",
    "--max-iter": "most epochs of the two networks (default: EMDClassifier's)",
    "--ground-distance": "ground distance of the squared-EMD model (default: "
    "EMDClassifier's); uniform and learned mix in cross-entropy",
    "--decision": "how the squared-EMD model picks a class from its probabilities "
    "(default: EMDClassifier's)",
    "--plot": "save the squared-EMD model's ground distance and confusion matrix",
    "--force": "let --plot overwrite an existing file",
    "--report": "also print the squared-EMD model's report, class by class",
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
        description=textwrap.fill(_DESCRIPTION, 79),
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
    words = list(argv)
    for i in range(len(words) - 2, -1, -1):
        # "--order", or an abbreviation argparse accepts, before a value that
        # starts with one "-" (a long option or -h is not a value).
        if len(words[i]) >= 3 and "--order".startswith(words[i]):
            if re.match(r"-(?!-|h$)", words[i + 1]):
                words[i : i + 2] = [f"--order={words[i + 1]}"]
    return words


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
    for option in ("target", "weight"):
        if getattr(args, option) in (args.drop or ()):
            return f"--drop names the --{option} column {getattr(args, option)!r}"
    return None


def _plot_problem(args: argparse.Namespace) -> str | None:
    """Why the figure could not go to ``--plot``: found before any training."""
    import matplotlib  # noqa: F401  (the package: its submodules may be loaded)
    from matplotlib.figure import Figure

    path, name = Path(args.plot), f"argument --plot: {args.plot!r}"
    formats = Figure().canvas.get_supported_filetypes()
    # The same file, by a link or not: even --force must keep the data.
    if args.csv is not None and path.exists() and path.samefile(args.csv):
        return f"{name} is the --csv file; writing the figure would destroy it"
    if path.suffix.lower()[1:] not in formats:
        suffixes = ", ".join(sorted("." + suffix for suffix in formats))
        return f"{name}: cannot tell the image format; end it with one of {suffixes}"
    if path.is_symlink() and not path.exists() and not args.force:
        return f"{name} is a link to a missing file; pass --force to write through it"
    if path.exists() and not args.force:
        return f"{name} exists; pass --force to overwrite it"
    written = Path(os.path.realpath(path))  # --force writes through a link
    if not written.parent.is_dir():
        return f"argument --plot: no such directory: {str(written.parent)!r}"
    if not os.access(written if written.exists() else written.parent, os.W_OK):
        return f"{name} is not writable"
    return None


def _parse_args(argv) -> argparse.Namespace:
    """Parse and check the command line; exit with status 2 when it is wrong."""
    parser = _build_parser()
    args = parser.parse_args(_joining_order(sys.argv[1:] if argv is None else argv))
    problem = _csv_problem(args) or (args.plot and _plot_problem(args))
    if problem:
        parser.error(problem)
    return args


def _run(args: argparse.Namespace, out) -> None:
    """Load, split, train, score and report; raise Failure on bad data."""
    import pandas  # noqa: F401  (first, so that a missing pandas is named)

    from . import _report
    from ._data import load, split
    from ._models import models, train

    data = load(args)
    parts = split(data, args.test_size, args.seed)
    pipelines, note = models(args)
    print(_report.setup(data, args, parts, pipelines, note), file=out)
    seconds = train(pipelines, parts, out)
    _report.results(parts, pipelines, seconds, args, out)


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
    out = sys.stdout
    try:
        _run(_parse_args(argv), out)
        out.flush()
        return 0
    except SystemExit as exc:  # --help, --version or a wrong command line
        return exc.code
    except KeyboardInterrupt:
        # While the modules load as well as while the models train: one line.
        with contextlib.suppress(OSError, ValueError):
            print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped (skemd | head): leave quietly, as Unix tools do.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 1
    except OSError as exc:
        error = Failure(f"cannot write the output: {one_line(exc)}")
    except ImportError as exc:
        if exc.name not in ("pandas", "matplotlib"):  # not optional dependencies
            raise
        error = Failure(f"{exc.name} is not installed: pip install {exc.name}")
    except Failure as exc:
        error = exc
    with contextlib.suppress(OSError):
        out.flush()
    print(f"{PROG}: error: {error}", file=sys.stderr)
    return 1
