"""Fuzz the ``skemd`` command line with malformed CSV files and options.

Every run must end as a command-line tool should: status 0 for data that can be
used, else status 1 or 2 with exactly one line on stderr, no traceback and no
file left behind. The default profile runs a fixed set of examples; set
``SKEMD_FUZZ=1`` for a long, random search.
"""

import contextlib
import io
import tempfile
import warnings
from pathlib import Path

from conftest import fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from skemd._cli import main

NAMES = ["x", "z", "y", "y", "w", "", " x ", '"y"', "y.1", "é"]
CELLS = [
    *["low", "mid", "high", "a", "1", "2", "3", "01", "-1", "0", "1.5", "2.0"],
    *["nan", "NaN", "NA", "null", "None", "inf", "-inf", "1e308", "1e400"],
    *["9007199254740993", "", " ", "true", "FALSE", '"', '"x"', '"a,b"', "é"],
    *["\x00", "-0", "+3", "1_000", "0x10", "3 ", "\\N"],
]
LABELS = ["low", "mid", "high", "1", "2", "3", "-1", "true", "false", "NA", "x"]
OPTIONS = {
    "--order": ["low,mid,high", "high,low", "1,2,3", "-1,0,1", "NA,low,mid,high"]
    + ["a,,b", "x", "1,01", "true,false", "low,low", "1,2,NA", "mid,high"],
    "--weight": ["w", "x", "nope"],
    "--drop": ["z", "y", "x,z", "w"],
    "--sep": [";", "\\t", "|", "(("],
    "--test-size": ["0.5", "0.9", "0.01", "1"],
    "--max-csv-size": ["100", "1K"],
    "--decision": ["median", "expected_cost"],
    "--ground-distance": ["uniform", "learned"],
}


def _table(draw) -> bytes:
    """A table of cells from CELLS, ragged rows, any separator and line end."""
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    header = draw(st.lists(st.sampled_from(NAMES), max_size=5))
    rows = draw(st.lists(st.lists(st.sampled_from(CELLS), max_size=6), max_size=25))
    end = draw(st.sampled_from(["", "\n", "\r\n"]))
    lines = [sep.join(row) for row in [header, *rows]]
    return (end or "\n").join(lines).encode() + end.encode()


def _nearly_valid(draw) -> bytes:
    """Columns x, z, y, w that make a usable file, with a few cells spoilt."""
    n_rows = draw(st.one_of(st.just(40), st.integers(0, 40)))
    classes = draw(
        st.lists(st.sampled_from(LABELS), min_size=1, max_size=4, unique=True)
    )
    lines = ["x,z,y,w"]
    for i in range(n_rows):
        cells = [f"{(i * 7919 % 97) / 10:.1f}", "ab"[i % 2], classes[i % len(classes)]]
        lines.append(",".join([*cells, str(1 + i % 3)]))
    for _ in range(draw(st.integers(0, 3))):
        if n_rows:
            row = draw(st.integers(1, n_rows))
            cells = lines[row].split(",")
            cells[draw(st.integers(0, 3))] = draw(st.sampled_from(CELLS))
            lines[row] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


@st.composite
def cases(draw):
    """The bytes of a CSV file and the options to run the command with."""
    kind = draw(st.sampled_from(["nearly valid", "table", "bytes", "nearly valid"]))
    if kind == "bytes":
        content = draw(st.binary(max_size=200))
    else:
        content = _table(draw) if kind == "table" else _nearly_valid(draw)
    argv = ["--target", draw(st.sampled_from(["y", "y", "y", "x", "w", "missing"]))]
    for option in draw(
        st.lists(st.sampled_from(list(OPTIONS)), max_size=2, unique=True)
    ):
        argv += [option, draw(st.sampled_from(OPTIONS[option]))]
    return content, argv, draw(st.sampled_from([False] * 9 + [True]))


@fuzz_settings(100, 3000)
@given(cases())
def test_any_csv_ends_in_a_result_or_one_line_error(case):
    content, argv, plot = case
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "data.csv").write_bytes(content)
        argv = ["--csv", str(folder / "data.csv"), *argv, "--max-iter", "2"]
        argv += ["--plot", str(folder / "figure.png")] if plot else []
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            with warnings.catch_warnings():
                # What a user of the command sees: warnings other than
                # deprecations would be printed on stderr.
                warnings.simplefilter("default")
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", PendingDeprecationWarning)
                status = main(argv)
        files = sorted(path.name for path in folder.iterdir())
    assert "Traceback" not in out.getvalue() + err.getvalue()
    if status == 0:
        assert files == sorted(["data.csv", *(["figure.png"] if plot else [])])
        assert "Test scores" in out.getvalue()
    else:
        assert status in (1, 2), err.getvalue()
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and lines[0].startswith("skemd: error: "), lines
        assert files == ["data.csv"]
