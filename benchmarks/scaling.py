"""Scaling out: a grid search on joblib's engines, and a data-parallel fit.

One run measures, on the CPU:

* a ``GridSearchCV`` over ``ground_distance`` x ``ce_weight`` x ``decision``
  (8 candidates, 3 folds: 24 fits, then the refit) run serially, on joblib's
  ``threading`` and ``loky`` backends, on a Dask ``LocalCluster`` of worker
  processes and on a local Ray instance, each with ``--workers`` workers of one
  torch thread (``n_threads="auto"``); serially and on threads also with torch's
  own thread count (one per core). For the engines that start workers, the first
  search (with the start) and a second one on the running workers. Every search
  must give the serial one's scores;
* a data-parallel fit: ``torchrun`` with two processes (gloo, one torch thread
  each, ``distributed=True``), each fitting half of the rows with batch
  ``--batch-size``, against one process fitting all the rows with twice the
  batch (the same steps), on one thread and on one per core; with the latency of
  gloo's all-reduce, which every training step pays.

The report is printed and written to ``benchmarks/results/scaling.md``
(``scaling_quick.md`` with ``--quick``). Run from the repository root::

    python benchmarks/scaling.py            # 3 to 5 min on 2 busy cores
    python benchmarks/scaling.py --quick    # 2 to 3 min

Engines whose package is not installed (``pip install "skemd[dask,ray]"``) are
left out of the report.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from _args import at_least  # beside this script

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
GRID = {
    "ground_distance": ["ordinal", "uniform"],
    "ce_weight": [0.0, 1.0],
    "decision": ["argmax", "median"],
}
HIDDEN = (100, 100)


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller problems")
    parser.add_argument("--workers", type=at_least(1), default=2)
    parser.add_argument("--search-rows", type=at_least(20), default=None)
    parser.add_argument("--search-epochs", type=at_least(1), default=None)
    parser.add_argument("--ddp-rows", type=at_least(4), default=None)
    parser.add_argument("--ddp-epochs", type=at_least(1), default=None)
    parser.add_argument("--batch-size", type=at_least(1), default=128)
    parser.add_argument(
        "--engines",
        nargs="+",
        default=["serial", "threading", "loky", "dask", "ray"],
        choices=["serial", "threading", "loky", "dask", "ray"],
    )
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--skip-ddp", action="store_true")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--ddp-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "search_rows": 1000 if quick else 1500,
        "search_epochs": 5 if quick else 10,
        "ddp_rows": 20_000 if quick else 50_000,
        "ddp_epochs": 2 if quick else 3,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def _problem(n_rows, seed=0, n_features=20, n_classes=5):
    """Float32 features and ordered classes cut from a noisy linear latent."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features)).astype(np.float32)
    latent = X @ rng.normal(size=n_features) + rng.normal(size=n_rows)
    cuts = np.quantile(latent, np.linspace(0, 1, n_classes + 1)[1:-1])
    return X, np.digitize(latent, cuts)


def _machine():
    import sklearn
    import skorch
    import torch

    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
        "joblib": _version("joblib"),
        "dask": _version("dask"),
        "distributed": _version("distributed"),
        "ray": _version("ray"),
    }
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores",
        "- " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
    ]


def _version(name):
    if importlib.util.find_spec(name) is None:
        return None
    from importlib.metadata import version

    return version(name)


def _load():
    try:
        return "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
    except OSError:
        return "n/a"


# ---------------------------------------------------------------- the search


def _search(args, n_threads, n_jobs):
    from sklearn.model_selection import GridSearchCV

    from skemd import EMDClassifier

    X, y = _problem(args.search_rows)
    clf = EMDClassifier(
        HIDDEN, max_iter=args.search_epochs, n_threads=n_threads, random_state=0
    )
    search = GridSearchCV(clf, GRID, cv=3, n_jobs=n_jobs)
    return search.fit(X, y).cv_results_["mean_test_score"]


@contextlib.contextmanager
def _engine(name, workers):
    """The joblib backend of an engine, started (and stopped afterwards)."""
    import joblib

    if name == "serial":
        yield None
    elif name in ("threading", "loky"):
        with joblib.parallel_backend(name, n_jobs=workers):
            yield workers
    elif name == "dask":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        with cluster, Client(cluster), joblib.parallel_backend("dask"):
            yield -1
    else:
        import ray
        from ray.util.joblib import register_ray

        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        try:
            register_ray()
            with joblib.parallel_backend("ray", n_jobs=workers):
                yield workers
        finally:
            ray.shutdown()


def _available(engine):
    needs = {"dask": "distributed", "ray": "ray"}.get(engine)
    return needs is None or importlib.util.find_spec(needs) is not None


def bench_search(args):
    """Seconds of the first and second search on each engine, and agreement."""
    from skemd import EMDClassifier

    # torch's and skemd's first calls set things up: not part of any search.
    EMDClassifier(HIDDEN, max_iter=2).fit(*_problem(200))
    rows, reference = [], None
    settings = [(engine, "auto") for engine in args.engines]
    # torch's own thread count, one per core, where fits share this process.
    settings += [
        (engine, os.cpu_count())
        for engine in ("serial", "threading")
        if engine in args.engines
    ]
    for engine, n_threads in settings:
        if not _available(engine):
            print(f"  {engine}: not installed, left out")
            continue
        started = time.perf_counter()
        with _engine(engine, args.workers) as n_jobs:
            scores = _search(args, n_threads, n_jobs)
            first = time.perf_counter() - started
            again = None
            if engine in ("loky", "dask", "ray"):
                started = time.perf_counter()
                _search(args, n_threads, n_jobs)
                again = time.perf_counter() - started
        if reference is None:
            reference = scores
        same = bool(np.array_equal(scores, reference))
        rows.append((engine, n_threads, first, again, same))
        shown = "" if again is None else f", again {again:.1f} s"
        print(f"  {engine} (n_threads={n_threads}): {first:.1f} s{shown}, {same=}")
    return rows


# ------------------------------------------------------- the data-parallel fit


def _fit_params(args, batch_size, n_threads, distributed=False):
    # In data order, so that both runs take the same steps (see _interleaved).
    return dict(
        hidden_layer_sizes=HIDDEN,
        batch_size=batch_size,
        shuffle=False,
        max_iter=args.ddp_epochs,
        n_threads=n_threads,
        distributed=distributed,
        random_state=0,
    )


def _timed_fit(X, y, params):
    from skemd import EMDClassifier

    started = time.perf_counter()
    clf = EMDClassifier(**params).fit(X, y)
    return time.perf_counter() - started, clf


def _all_reduce_seconds(n_values, repeats=200):
    import torch
    import torch.distributed as dist

    tensor = torch.zeros(n_values)
    dist.barrier()
    started = time.perf_counter()
    for _ in range(repeats):
        dist.all_reduce(tensor)
    return (time.perf_counter() - started) / repeats


def ddp_child(args):
    """One rank of the data-parallel fit (run under torchrun)."""
    import torch.distributed as dist

    warnings.simplefilter("ignore")
    dist.init_process_group("gloo")
    rank, size = dist.get_rank(), dist.get_world_size()
    X, y = _problem(args.ddp_rows, seed=1)
    rows = np.array_split(np.arange(len(y)), size)[rank]
    params = _fit_params(args, args.batch_size, 1, distributed=True)
    # The ranks start apart (imports, data): the clock starts when all are in.
    dist.barrier()
    seconds, clf = _timed_fit(X[rows], y[rows], params)
    n_params = sum(p.numel() for p in clf.net_.module_.parameters())
    latency = {"1": _all_reduce_seconds(1), "params": _all_reduce_seconds(n_params)}
    slowest = [None] * size
    dist.all_gather_object(slowest, seconds)
    if rank == 0:
        result = {
            "seconds": max(slowest),
            "loss": clf.loss_curve_,
            "steps": len(clf.net_.history[-1]["batches"]),
            "n_params": n_params,
            "latency": latency,
        }
        Path(args.ddp_child).write_text(json.dumps(result))
    dist.destroy_process_group()


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _interleaved(X, y, batch_size, n_ranks=2):
    """The rows in the order of the data-parallel steps: each rank's batch k,
    rank after rank, for every k."""
    shards = np.array_split(np.arange(len(y)), n_ranks)
    longest = max(len(shard) for shard in shards)
    order = np.concatenate(
        [
            shard[start : start + batch_size]
            for start in range(0, longest, batch_size)
            for shard in shards
        ]
    )
    return X[order], y[order]


def bench_ddp(args):
    """torchrun with two processes against one process on the same steps."""
    X, y = _interleaved(*_problem(args.ddp_rows, seed=1), args.batch_size)
    one = {}
    for n_threads in (1, os.cpu_count()):
        params = _fit_params(args, 2 * args.batch_size, n_threads)
        seconds, clf = _timed_fit(X, y, params)
        one[n_threads] = {"seconds": seconds, "loss": clf.loss_curve_}
        print(f"  one process, {n_threads} thread(s): {seconds:.1f} s")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "ddp.json"
        command = [
            sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
            "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
            str(Path(__file__).resolve()), "--ddp-child", str(out),
            "--ddp-rows", str(args.ddp_rows), "--ddp-epochs", str(args.ddp_epochs),
            "--batch-size", str(args.batch_size),
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        started = time.perf_counter()
        subprocess.run(command, check=True, env=env, cwd=ROOT, timeout=1800)
        wall = time.perf_counter() - started
        two = json.loads(out.read_text())
    two["wall"] = wall
    print(f"  two processes: {two['seconds']:.1f} s fit, {wall:.1f} s with the start")
    return {"one": one, "two": two}


# ------------------------------------------------------------------- report


def _search_table(args, rows):
    fits = 8 * 3 + 1
    lines = [
        "## Grid search",
        "",
        f"`GridSearchCV` over {GRID}, 3 folds: {fits - 1} fits and the refit, of "
        f"`EMDClassifier(hidden_layer_sizes={HIDDEN}, max_iter="
        f"{args.search_epochs})` on {args.search_rows:,} rows x 20 features, 5 "
        f"classes; {args.workers} workers. *First*: the engine's start and one "
        "search; *again*: a second search on the running workers. *Same "
        "scores*: every candidate's mean test score equals the serial run's.",
        "",
        "| engine | torch threads per fit | first (s) | again (s) | same scores |",
        "|---|---|---|---|---|",
    ]
    for engine, n_threads, first, again, same in rows:
        threads = '1 (`n_threads="auto"`)' if n_threads == "auto" else n_threads
        shown = "--" if again is None else f"{again:.1f}"
        lines.append(f"| {engine} | {threads} | {first:.1f} | {shown} | {same} |")
    return lines + [""]


def _ddp_table(args, ddp):
    one, two = ddp["one"], ddp["two"]
    steps = two["steps"]
    latency = two["latency"]
    gap = max(abs(a - b) for a, b in zip(two["loss"], one[1]["loss"], strict=True))
    lines = [
        "## Data-parallel fit",
        "",
        f"{args.ddp_rows:,} rows x 20 features, 5 classes, hidden layers {HIDDEN}, "
        f"{args.ddp_epochs} epochs of {steps} steps. Two processes under torchrun "
        f"(gloo, one torch thread each), each with half the rows and batch "
        f"{args.batch_size}; one process with all the rows and batch "
        f"{2 * args.batch_size}: the same steps. Fit time (the slower rank's), "
        "without starting the processes.",
        "",
        "| run | fit (s) | per step (ms) |",
        "|---|---|---|",
    ]
    n_steps = steps * args.ddp_epochs
    for n_threads, result in one.items():
        seconds = result["seconds"]
        lines.append(
            f"| one process, {n_threads} thread(s) | {seconds:.1f} | "
            f"{1e3 * seconds / n_steps:.2f} |"
        )
    lines += [
        f"| two processes (torchrun) | {two['seconds']:.1f} | "
        f"{1e3 * two['seconds'] / n_steps:.2f} |",
        "",
        f"With the processes' start, the two-process run took {two['wall']:.1f} s. "
        f"The largest difference between the two runs' epoch losses is {gap:.1e}. "
        f"gloo's all-reduce took {1e6 * latency['1']:.0f} us for one number and "
        f"{1e6 * latency['params']:.0f} us for the {two['n_params']:,} gradients "
        "(every step does both).",
        "",
    ]
    return lines


def report(args, search, ddp, started, load_before):
    lines = [
        "# Scaling out: searches and data-parallel fits",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC with `{args.command}`.",
        "",
        *_machine(),
        f"- load average (1/5/15 min) before: {load_before}, after: {_load()}",
        "",
    ]
    if search is not None:
        lines += _search_table(args, search)
    if ddp is not None:
        lines += _ddp_table(args, ddp)
    return "\n".join(lines)


def main(argv=None):
    args = _parse_args(argv)
    if args.ddp_child:
        ddp_child(args)
        return
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    given = sys.argv[1:] if argv is None else argv
    args.command = ("python benchmarks/scaling.py " + shlex.join(given)).rstrip()
    started, load_before = datetime.now(timezone.utc), _load()
    search = ddp = None
    if not args.skip_search:
        print("grid search")
        search = bench_search(args)
    if not args.skip_ddp:
        print("data-parallel fit")
        ddp = bench_ddp(args)
    output = args.output
    if output is None:
        output = RESULTS / ("scaling_quick.md" if args.quick else "scaling.md")
    text = report(args, search, ddp, started, load_before)
    output.write_text(text + "\n")
    print()
    print(text)


if __name__ == "__main__":
    main()
