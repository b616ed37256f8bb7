"""Peak memory of fits on a sparse one-hot matrix, against its dense twin.

Each fit runs in a fresh process, which reports the peak resident memory of the
fit minus its resident memory before the data were made (Linux's /proc):

* EMDClassifier on the sparse (CSR) matrix;
* EMDClassifier on the same matrix made dense;
* scikit-learn's MLPClassifier on the sparse matrix (it multiplies sparse
  matrices directly).

All fits run one epoch with the same network (one hidden layer of 100, batch
128), so that the data, not the training time, dominate.

Usage::

    python benchmarks/sparse_memory.py [--rows 100000] [--categories 400]
        [--columns 5] [--output benchmarks/results/sparse_memory.md]

The default data are 100 000 rows of 5 categorical columns with 400 categories
each, one-hot encoded: 2 000 features, 5 stored values per row (0.25 %).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _args import at_least  # beside this script
from speed import _status_bytes  # the speed benchmark, beside this script

MIB = 2**20
ROOT = Path(__file__).resolve().parent
ESTIMATORS = (
    "EMDClassifier, sparse X",
    "EMDClassifier, dense X",
    "MLPClassifier, sparse X",
)


def _make_data(rows: int, columns: int, categories: int, seed: int = 0):
    """A one-hot CSR matrix of ``columns`` categorical columns, and an ordinal y."""
    import scipy.sparse

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, categories, size=(rows, columns))
    indices = (codes + categories * np.arange(columns)).ravel()
    X = scipy.sparse.csr_matrix(
        (
            np.ones(rows * columns, dtype=np.float32),
            indices.astype(np.int32),
            np.arange(0, rows * columns + 1, columns, dtype=np.int32),
        ),
        shape=(rows, columns * categories),
    )
    # An ordinal target from the first two columns' codes.
    latent = codes[:, 0] / categories + 0.5 * codes[:, 1] / categories
    y = np.digitize(latent + 0.1 * rng.normal(size=rows), [0.4, 0.75, 1.1])
    return X, y


def _estimator(name: str):
    if name.startswith("EMDClassifier"):
        from skemd import EMDClassifier

        return EMDClassifier(
            hidden_layer_sizes=(100,), batch_size=128, max_iter=1, random_state=0
        )
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=(100,), batch_size=128, max_iter=1, random_state=0
    )


def _child(spec: str) -> None:
    """One fit in this fresh process; print its memory use as JSON."""
    spec = json.loads(spec)
    name = spec["estimator"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A small fit first: imports and allocator pools are not the fit's cost.
        X, y = _make_data(2000, spec["columns"], spec["categories"])
        _estimator(name).fit(X if "sparse" in name else X.toarray(), y)
        del X, y
        baseline = _status_bytes("VmRSS")
        X, y = _make_data(spec["rows"], spec["columns"], spec["categories"])
        if "dense" in name:
            X = X.toarray()
            data = X.nbytes
        else:
            data = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # restart the high-water mark
        before_fit = _status_bytes("VmRSS")
        started = time.perf_counter()
        _estimator(name).fit(X, y)
        seconds = time.perf_counter() - started
    peak = _status_bytes("VmHWM")
    print(
        json.dumps(
            {
                "data": data + y.nbytes,
                "baseline": baseline,
                "before_fit": before_fit,
                "peak": peak,
                "seconds": seconds,
            }
        )
    )


def run(args) -> dict:
    results = {}
    for name in ESTIMATORS:
        spec = json.dumps(
            {
                "estimator": name,
                "rows": args.rows,
                "columns": args.columns,
                "categories": args.categories,
            }
        )
        done = subprocess.run(
            [sys.executable, __file__, "--child", spec],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the run of {name} failed:\n{done.stderr}")
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        r = results[name]
        print(
            f"  {name:<26} data {r['data'] / MIB:8.1f} MiB  peak above baseline "
            f"{(r['peak'] - r['baseline']) / MIB:8.1f} MiB  fit {r['seconds']:.1f} s",
            file=sys.stderr,
        )
    return results


def report(args, results, command: str) -> str:
    import sklearn
    import torch

    import skemd

    dense = args.rows * args.columns * args.categories * 4 / MIB
    lines = [
        "# Memory of fits on sparse input",
        "",
        f"Generated by `{command}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Versions: python {platform.python_version()}, skemd {skemd.__version__}, "
        f"scikit-learn {sklearn.__version__}, torch {torch.__version__}.",
        "",
        f"Data: {args.rows:,} rows of {args.columns} categorical columns with "
        f"{args.categories} categories each, one-hot encoded: "
        f"{args.columns * args.categories:,} features, {args.columns} stored values "
        f"per row; {dense:.0f} MiB as a dense float32 array. One epoch, one hidden "
        "layer of 100, batch 128, each fit in a fresh process on the CPU. *Peak* is "
        "the peak resident memory during the fit minus the resident memory before "
        "the data were made; *extra* is the peak minus the resident memory just "
        "before the fit (the data made).",
        "",
        "| fit | data (MiB) | peak (MiB) | extra (MiB) "
        "| peak / peak of EMDClassifier, dense X | fit (s) |",
        "|---|---|---|---|---|---|",
    ]
    dense_peak = (
        results["EMDClassifier, dense X"]["peak"]
        - results["EMDClassifier, dense X"]["baseline"]
    )
    for name, r in results.items():
        peak = r["peak"] - r["baseline"]
        extra = r["peak"] - r["before_fit"]
        lines.append(
            f"| {name} | {r['data'] / MIB:.1f} | {peak / MIB:.1f} | "
            f"{extra / MIB:.1f} | {peak / dense_peak:.3f} | {r['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=at_least(10), default=100_000)
    parser.add_argument("--columns", type=at_least(1), default=5)
    parser.add_argument("--categories", type=at_least(2), default=400)
    parser.add_argument(
        "--output",
        default=None,
        help="report path (default: results/sparse_memory.md at the default "
        "sizes, results/sparse_memory_partial.md at others)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child)
        return 0
    if args.output is None:
        # Only the default sizes write the report the documentation shows.
        default = (args.rows, args.columns, args.categories) == (100_000, 5, 400)
        name = "sparse_memory.md" if default else "sparse_memory_partial.md"
        args.output = str(ROOT / "results" / name)
    if not Path(args.output).parent.is_dir():
        parser.error(f"--output: no such directory: {str(Path(args.output).parent)!r}")
    if not Path("/proc/self/status").exists():
        print("peak memory needs Linux's /proc", file=sys.stderr)
        return 1
    results = run(args)
    command = "python benchmarks/sparse_memory.py" + (
        " " + " ".join(argv if argv is not None else sys.argv[1:])
        if (argv if argv is not None else sys.argv[1:])
        else ""
    )
    text = report(args, results, command)
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
