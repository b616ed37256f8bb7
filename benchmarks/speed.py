"""Training speed and memory of EMDClassifier, side by side with its peers.

One run measures, on one device:

* fit time of ``EMDClassifier`` against scikit-learn's ``MLPClassifier``, a
  default skorch ``NeuralNetClassifier`` and a hand-written torch loop with the
  same loss and optimiser (the floor of eager PyTorch): same network (a single
  network of hidden layers (100, 100), ReLU, not the default ensemble), same
  epochs (10, no early stopping), batch size 128,
  Adam with the same learning rate; best of ``--repeats`` fits at the smallest
  size, one fit above;
* the time per row at each size and the growth exponent ``b`` of ``t ~ n**b``;
* forward + backward time of ``skemd.losses.squared_emd_loss`` against
  ``torch.nn.functional.cross_entropy`` at batch 4096 for 5, 20 and 100 classes;
* the extra time per epoch of ``ground_distance="learned"`` over ``"ordinal"``,
  without warm-up (every epoch relearns the distance) and with the default one;
* the peak resident memory of a fit on float32 data (1e6 x 50 by default, 200
  MB), measured in a fresh subprocess, against the size of the data plus the
  model;
* on the CPU, fit times with one and two torch threads (``n_threads``) for the
  single network, a wide one and the default ensemble, on the machine as it is
  and with both cores kept busy by other processes.

The table is printed and written as markdown to
``benchmarks/results/speed_<device>.md`` (``speed_<device>_quick.md`` with
``--quick``). Run from the repository root::

    python benchmarks/speed.py                    # full run: about 15 min on 2 cores
    python benchmarks/speed.py --quick            # about 3 min on 2 cores
    python benchmarks/speed.py --device cuda --features 100 \\
        --sizes 100000 1000000 --precision float32 bfloat16
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from _args import at_least  # beside this script

RESULTS = Path(__file__).resolve().parent / "results"
HIDDEN = (100, 100)
LOSS_BATCH = 4096
LOSS_CLASSES = (5, 20, 100)
MIB = 2**20
# Goals on the reference machine (two CPU cores), checked at the end of a run.
GOAL_VS_MLP = 1.0
GOAL_VS_SKORCH = 0.4
GOAL_LOSS = 1.5
GOAL_GROWTH = 1.1
GOAL_MEMORY = 2.0
GOAL_LEARNED = 1.15


# ----------------------------------------------------------------- helpers


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="sizes 2e4 and 2e5 only, memory at 2e5 rows, shorter timings",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument(
        "--sizes",
        type=at_least(2),
        nargs="+",
        help="numbers of rows (default 2e4 2e5 1e6)",
    )
    parser.add_argument("--features", type=at_least(1), default=20)
    parser.add_argument("--classes", type=at_least(2), default=5)
    parser.add_argument("--epochs", type=at_least(1), default=10)
    parser.add_argument("--batch-size", type=at_least(1), default=128)
    parser.add_argument(
        "--repeats",
        type=at_least(1),
        default=5,
        help="fits at the smallest size (best of)",
    )
    parser.add_argument(
        "--precision",
        nargs="+",
        default=["float32"],
        choices=["float32", "bfloat16"],
        help="EMDClassifier precision(s) to time; bfloat16 needs CUDA",
    )
    parser.add_argument(
        "--peers",
        nargs="*",
        default=["mlp", "skorch", "torch"],
        choices=["mlp", "skorch", "torch"],
        help="the peers to time against (torch: a hand-written loop)",
    )
    parser.add_argument(
        "--max-peer-rows",
        type=int,
        default=None,
        help="time the peers (MLP, skorch, torch loop) only up to this many rows",
    )
    parser.add_argument("--memory-rows", type=int, default=None)
    parser.add_argument("--memory-features", type=int, default=50)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-loss", action="store_true")
    parser.add_argument("--skip-learned", action="store_true")
    parser.add_argument(
        "--skip-threads",
        action="store_true",
        help="skip the one-against-two-threads section (on the CPU only)",
    )
    parser.add_argument(
        "--thread-repeats",
        type=at_least(1),
        default=2,
        help="fits per setting in the threads section (best of)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch and BLAS threads for every contender (default: leave as is)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="markdown file (default: results/speed_<device>.md for the full run, "
        "speed_<device>_quick.md with --quick alone, speed_<device>_partial.md "
        "with any other option)",
    )
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # Options that make a run other than the full (or quick) benchmark.
    defaults = vars(parser.parse_args([]))
    args.changed = [
        name
        for name, value in vars(args).items()
        if name not in ("output", "memory_child", "quick", "device")
        and value != defaults[name]
    ]
    return args


def _resolve_device(name):
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("--device cuda was asked for but CUDA is not available")
    return name


def _synchronize(device):
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _make_data(n_rows, n_features, n_classes, seed=0):
    """Gaussian features; ordered classes cut from a noisy linear score."""
    rng = np.random.default_rng(seed)
    X = np.empty((n_rows, n_features), dtype=np.float32)
    chunk = 100_000
    for start in range(0, n_rows, chunk):
        stop = min(start + chunk, n_rows)
        X[start:stop] = rng.standard_normal((stop - start, n_features), np.float32)
    score = X[:, : min(3, n_features)].sum(axis=1)
    score += 0.5 * rng.standard_normal(n_rows, np.float32)
    cuts = np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1])
    return X, np.digitize(score, cuts).astype(np.int64)


def _machine(device):
    import sklearn
    import skorch
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    lines = [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores ({usable} usable), "
        f"torch threads: {torch.get_num_threads()}",
    ]
    if device.startswith("cuda"):
        lines.append(f"- GPU: {torch.cuda.get_device_name(device)}")
    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
        "numpy": np.__version__,
    }
    try:
        versions["skemd"] = importlib.metadata.version("skemd")
    except importlib.metadata.PackageNotFoundError:
        pass
    lines.append("- " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return lines


def _load():
    try:
        return "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
    except OSError:
        return "n/a"


# ------------------------------------------------------------- contenders


# The single network the peers train too: no ensemble, embedding or early
# stopping (the defaults' ensemble is timed in the threads section).
SINGLE = dict(n_estimators=1, numeric_embedding=None, early_stopping=False)


def _emd(device, epochs, batch_size, precision="float32", **params):
    from skemd import EMDClassifier

    settings = dict(
        hidden_layer_sizes=HIDDEN,
        batch_size=batch_size,
        learning_rate_init=1e-3,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=10**9,
        device=device,
        precision=precision,
        random_state=0,
        **SINGLE,
    )
    return EMDClassifier(**{**settings, **params})


def _mlp(device, epochs, batch_size):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        HIDDEN,
        solver="adam",
        batch_size=batch_size,
        learning_rate_init=1e-3,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=10**9,
        random_state=0,
    )


def _skorch(device, epochs, batch_size):
    import torch
    from skorch import NeuralNetClassifier

    from skemd._modules import MLP

    return NeuralNetClassifier(
        MLP,
        module__hidden_layer_sizes=HIDDEN,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=epochs,
        batch_size=batch_size,
        # Shuffled like the others; everything else is skorch's default.
        iterator_train__shuffle=True,
        train_split=None,
        device=device,
        verbose=0,
    )


class _TorchLoop:
    """A hand-written training loop: the same network, loss and fused Adam.

    Batches are index slices of tensors already on the device, as in skemd; it
    has no L2 penalty (one parameter group), keeps no history, checks nothing and
    sets no seed of its own.
    """

    def __init__(self, device, epochs, batch_size):
        self.device = device
        self.epochs = epochs
        self.batch_size = batch_size

    def fit(self, X, y):
        import torch

        from skemd._modules import MLP
        from skemd.losses import squared_emd_loss

        X = torch.from_numpy(X).to(self.device)
        y = torch.from_numpy(y).to(self.device)
        module = MLP(X.shape[1], int(y.max()) + 1, HIDDEN).to(self.device)
        optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, fused=True)
        for _ in range(self.epochs):
            order = torch.randperm(len(X), device=X.device)
            for start in range(0, len(X), self.batch_size):
                index = order[start : start + self.batch_size]
                optimizer.zero_grad(set_to_none=True)
                logits = module(X.index_select(0, index))
                loss = squared_emd_loss(logits, y.index_select(0, index))
                loss.backward()
                optimizer.step()
        self.n_iter_ = self.epochs
        return self


def _fit_seconds(make, X, y, device, n_epochs):
    """Wall time of one fit, and a check that it ran every epoch."""
    from skorch import NeuralNet

    estimator = make()
    if isinstance(estimator, NeuralNet):  # the module needs the widths
        estimator.set_params(
            module__n_features=X.shape[1], module__n_classes=int(y.max()) + 1
        )
    _synchronize(device)
    start = time.perf_counter()
    estimator.fit(X, y)
    _synchronize(device)
    seconds = time.perf_counter() - start
    ran = getattr(estimator, "n_iter_", None)
    if ran is None and hasattr(estimator, "history"):
        ran = len(estimator.history)
    if ran != n_epochs:
        raise RuntimeError(f"{type(estimator).__name__} ran {ran} epochs")
    return seconds


# -------------------------------------------------------------- benchmarks


def bench_fit(args, device, progress=None):
    """Fit times: {name: {rows: seconds}}, in the order the table shows them.

    ``progress`` is called with the times so far after each size.
    """
    contenders = {}
    for precision in args.precision:
        if precision == "bfloat16" and not device.startswith("cuda"):
            print("  skipping EMDClassifier bfloat16: it runs on CUDA only")
            continue
        name = "EMDClassifier" + ("" if precision == "float32" else " bf16")
        contenders[name] = (
            lambda p=precision: _emd(device, args.epochs, args.batch_size, p),
            None,
        )
    if "mlp" in args.peers:
        contenders["MLPClassifier"] = (
            lambda: _mlp(device, args.epochs, args.batch_size),
            args.max_peer_rows,
        )
    if "skorch" in args.peers:
        contenders["skorch"] = (
            lambda: _skorch(device, args.epochs, args.batch_size),
            args.max_peer_rows,
        )
    if "torch" in args.peers:
        contenders["torch loop"] = (
            lambda: _TorchLoop(device, args.epochs, args.batch_size),
            args.max_peer_rows,
        )

    # Warm-up: first-use costs (lazy imports, CUDA context, kernels) do not count.
    X, y = _make_data(2000, args.features, args.classes)
    for make, _ in contenders.values():
        _fit_seconds(make, X, y, device, args.epochs)

    times = {name: {} for name in contenders}
    for index, n_rows in enumerate(args.sizes):
        X, y = _make_data(n_rows, args.features, args.classes)
        repeats = args.repeats if index == 0 else 1
        for _ in range(repeats):
            # Interleaved, so that a busy moment hurts every contender alike.
            for name, (make, max_rows) in contenders.items():
                if max_rows is not None and n_rows > max_rows:
                    continue
                seconds = _fit_seconds(make, X, y, device, args.epochs)
                best = times[name].get(n_rows, math.inf)
                times[name][n_rows] = min(best, seconds)
                print(f"  fit {name:<20} {n_rows:>9,} rows  {seconds:8.2f} s")
        del X, y
        if progress is not None:
            progress(times)
    return times


# Networks of the threads section: the speed section's, a wide one, and the
# default ensemble (at most 10 epochs, no early stopping, to time an epoch).
THREAD_NETWORKS = {
    "(100, 100)": dict(hidden_layer_sizes=(100, 100)),
    "(512, 512)": dict(hidden_layer_sizes=(512, 512)),
    "default ensemble": dict(
        n_estimators=5,
        numeric_embedding="piecewise_linear",
        hidden_layer_sizes=(64, 64),
        batch_size="auto",
    ),
}


def _busy_machine():
    """Two processes that keep both cores busy, as other work on the machine."""
    burn = "while True: pass"
    return [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(2)]


def bench_threads(args, device):
    """Fit times with one and two torch threads, on a quiet and a busy machine.

    Returns ``{(network, load): {threads: seconds}}`` at the smallest size.
    """
    n_rows = args.sizes[0]
    X, y = _make_data(n_rows, args.features, args.classes)
    times = {}
    for load in ("quiet", "busy"):
        workers = _busy_machine() if load == "busy" else []
        try:
            for name, params in THREAD_NETWORKS.items():
                for threads in (1, 2):
                    # The ensemble keeps its own batch size ("auto").
                    settings = {"batch_size": args.batch_size, **params}
                    settings["n_threads"] = threads
                    make = lambda s=settings: _emd(device, args.epochs, **s)  # noqa: E731
                    seconds = min(
                        _fit_seconds(make, X, y, device, args.epochs)
                        for _ in range(args.thread_repeats)
                    )
                    times.setdefault((name, load), {})[threads] = seconds
                    print(
                        f"  {name:<18} {load:<5} {threads} thread(s) {seconds:7.2f} s"
                    )
        finally:
            for worker in workers:
                worker.kill()
                worker.wait()
    return times


def bench_loss(args, device):
    """Median microseconds of forward + backward: {K: (cross_entropy, emd)}."""
    import torch
    import torch.nn.functional as F
    from torch.utils.benchmark import Timer

    from skemd.losses import squared_emd_loss

    min_run_time = 0.2 if args.quick else 0.5
    rounds = 2 if args.quick else 3
    generator = torch.Generator().manual_seed(0)
    results = {}
    for n_classes in LOSS_CLASSES:
        logits = torch.randn(LOSS_BATCH, n_classes, generator=generator)
        target = torch.randint(0, n_classes, (LOSS_BATCH,), generator=generator)
        logits = logits.to(device).requires_grad_()
        target = target.to(device)
        medians = {}
        for _ in range(rounds):
            for name, loss in (
                ("cross_entropy", F.cross_entropy),
                ("squared_emd_loss", squared_emd_loss),
            ):
                timer = Timer(
                    "torch.autograd.grad(loss(logits, target), logits)",
                    globals={
                        "torch": torch,
                        "loss": loss,
                        "logits": logits,
                        "target": target,
                    },
                    num_threads=torch.get_num_threads(),
                )
                median = timer.blocked_autorange(min_run_time=min_run_time).median
                medians[name] = min(medians.get(name, math.inf), median * 1e6)
        results[n_classes] = (medians["cross_entropy"], medians["squared_emd_loss"])
        ratio = medians["squared_emd_loss"] / medians["cross_entropy"]
        print(f"  loss K={n_classes:<3} emd / cross-entropy = {ratio:.2f}")
    return results


def bench_learned(args, device):
    """Fit times of the ordinal and learned ground distances, or None.

    The settings run in turn, ``max(repeats, 5)`` times: the extra time is the
    median of the ratios of each round, which a busy moment disturbs less than
    the difference of two best times.
    """
    n_rows = args.sizes[0]
    X, y = _make_data(n_rows, args.features, args.classes)
    default_warmup = _emd(device, 1, 1, ground_distance="learned").warmup_epochs
    settings = {
        "ordinal": {"ground_distance": "ordinal"},
        # Every epoch trains the learned matrix and relearns it afterwards.
        "learned, no warm-up": {"ground_distance": "learned", "warmup_epochs": 0},
        f"learned, {default_warmup} warm-up epochs (default)": {
            "ground_distance": "learned"
        },
        # The same network with cross-entropy alone: what the loss itself costs
        # in a fit.
        "cross-entropy only": {"ce_weight": 1.0, "emd_weight": 0.0},
    }
    makers = {
        label: (
            lambda params=params: _emd(device, args.epochs, args.batch_size, **params)
        )
        for label, params in settings.items()
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for make in makers.values():  # warm-up
            _fit_seconds(make, X[:2000], y[:2000], device, args.epochs)
        times = {label: [] for label in makers}
        for _ in range(max(args.repeats, 5)):
            for label, make in makers.items():
                seconds = _fit_seconds(make, X, y, device, args.epochs)
                times[label].append(seconds)
                print(f"  {label:<36} {seconds:8.2f} s")
    return {"rows": n_rows, "times": times}


def _memory_child(spec):
    """Run one fit in this fresh process and print its memory use as JSON."""
    import torch

    spec = json.loads(spec)
    torch.set_num_threads(spec["threads"] or torch.get_num_threads())
    device = spec["device"]
    make_estimator = {"EMDClassifier": _emd, "MLPClassifier": _mlp}[spec["estimator"]]
    # A small fit first: lazy imports and allocator pools are not the fit's cost.
    X, y = _make_data(1000, spec["features"], spec["classes"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_estimator(device, spec["epochs"], spec["batch_size"]).fit(X, y)
    del X, y
    estimator = make_estimator(device, spec["epochs"], spec["batch_size"])
    baseline = _status_bytes("VmRSS")
    X, y = _make_data(spec["rows"], spec["features"], spec["classes"])
    data = X.nbytes + y.nbytes
    # Restart the high-water mark, so that making the data does not count.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    before_fit = _status_bytes("VmRSS")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, y)
    peak = _status_bytes("VmHWM")
    if hasattr(estimator, "net_"):
        tensors = list(estimator.net_.module_.parameters())
        model = sum(t.numel() * t.element_size() for t in tensors)
    else:
        arrays = estimator.coefs_ + estimator.intercepts_
        model = sum(a.nbytes for a in arrays)
    result = {
        "data": data,
        "model": model,
        "baseline": baseline,
        "before_fit": before_fit,
        "peak": peak,
        "reset": reset,
    }
    if device.startswith("cuda"):
        result["device_peak"] = torch.cuda.max_memory_allocated()
    print(json.dumps(result))


def _status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} is not in /proc/self/status")


def bench_memory(args, device):
    """Peak memory of one-epoch fits, each in its own process."""
    if not Path("/proc/self/status").exists():
        print("  peak memory needs Linux's /proc; skipped")
        return None
    estimators = ["EMDClassifier"]
    if "mlp" in args.peers and not args.quick:
        estimators.append("MLPClassifier")
    results = {}
    for name in estimators:
        spec = {
            "estimator": name,
            "rows": args.memory_rows,
            "features": args.memory_features,
            "classes": args.classes,
            "device": device,
            "epochs": 1,
            "batch_size": args.batch_size,
            "threads": args.threads,
        }
        done = subprocess.run(
            [sys.executable, __file__, "--memory-child", json.dumps(spec)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the memory run of {name} failed:\n{done.stderr}")
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        used = (results[name]["peak"] - results[name]["baseline"]) / MIB
        print(f"  memory {name:<20} peak above baseline {used:8.1f} MiB")
    return results


# ------------------------------------------------------------------ report


def _ratio(a, b):
    return a / b if a is not None and b else None


def _fmt(value, spec=".2f", missing="--"):
    return missing if value is None else format(value, spec)


def _growth_exponent(times):
    """Least-squares slope of log(time) against log(rows)."""
    if len(times) < 2:
        return None
    rows = np.log(np.array(list(times.keys()), dtype=float))
    secs = np.log(np.array(list(times.values()), dtype=float))
    return float(np.polyfit(rows, secs, 1)[0])


def learned_figure(args, learned, path) -> bool:
    """Bar chart of the time per epoch of each ground-distance setting."""
    if learned is None:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    times = learned["times"]
    ordinal = np.array(times["ordinal"])
    labels, per_epoch, extra = [], [], []
    for label, seconds in times.items():
        seconds = np.array(seconds)
        labels.append(label.replace(", ", ",\n", 1).replace(" only", "\nonly"))
        per_epoch.append(seconds.min() / args.epochs * 1000)
        extra.append((np.median(seconds / ordinal) - 1) * 100)
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    colors = [
        "tab:red" if label.startswith("learned") else "tab:gray" for label in labels
    ]
    bars = ax.barh(labels[::-1], per_epoch[::-1], color=colors[::-1])
    for bar, value in zip(bars, extra[::-1], strict=True):
        text = "" if abs(value) < 1e-9 else f"{value:+.0f} %"
        ax.annotate(
            text,
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
        )
    ax.set_xlim(0, max(per_epoch) * 1.25)
    ax.set_xlabel(
        f"ms per epoch (best of {len(ordinal)}; {learned['rows']:,} rows, "
        f"{args.epochs} epochs)\nlabels: median extra time over ordinal"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _threads_section(args, threads) -> list[str]:
    """The threads table: fit times and the two-thread over one-thread ratio."""
    n_rows = args.sizes[0]
    lines = [
        "## One torch thread or two",
        "",
        f"Fit time at {n_rows:,} rows, {args.epochs} epochs (best of "
        f"{args.thread_repeats}), with `n_threads=1` and `n_threads=2`, on the "
        "machine as it is (quiet) and with two other processes keeping both "
        'cores busy (busy). `n_threads="auto"`, the default, takes one thread '
        "for skemd's own networks on the CPU.",
        "",
        "| network | machine | 1 thread (s) | 2 threads (s) | 2 threads / 1 |",
        "|---|---|---|---|---|",
    ]
    for (name, load), seconds in threads.items():
        ratio = _ratio(seconds.get(2), seconds.get(1))
        lines.append(
            f"| {name} | {load} | {_fmt(seconds.get(1))} | {_fmt(seconds.get(2))} "
            f"| {_fmt(ratio)} |"
        )
    lines.append("")
    return lines


def report(args, device, fit, loss, learned, memory, started, load_before, threads):
    lines = [f"# Training speed: skemd on {device}", ""]
    lines.append(
        f"Measured {started:%Y-%m-%d %H:%M} UTC with `{args.command}`"
        + (" (quick run)" if args.quick else "")
        + "."
    )
    lines.append("")
    lines += _machine(device)
    lines.append(f"- load average (1/5/15 min) before: {load_before}, after: {_load()}")
    lines.append("")

    main = "EMDClassifier"
    goals = []
    if fit:
        sizes = sorted({n for times in fit.values() for n in times})
        names = list(fit)
        lines += [
            f"## Fit time, {args.epochs} epochs",
            "",
            f"{args.features} float32 features, {args.classes} classes, hidden "
            f"layers {HIDDEN}, batch {args.batch_size}, Adam (lr 1e-3), no early "
            f"stopping. Best of {args.repeats} at {sizes[0]:,} rows, one fit above. "
            "skorch is `NeuralNetClassifier` with the same module, cross-entropy, "
            "shuffling, `train_split=None` and its default data loading; the "
            "torch loop is the same network, loss and fused Adam in a hand-written "
            "loop over index slices."
            + (
                " MLPClassifier runs on the CPU, which is all it supports."
                if device.startswith("cuda")
                else ""
            ),
            "",
        ]
        # Ratios: skemd (float32) over each peer, and bfloat16 over float32.
        pairs = []
        if main in fit:
            pairs += [(main, n) for n in names if not n.startswith(main)]
            pairs += [(n, main) for n in names if n.startswith(main + " ")]
        header = ["rows"] + [f"{n} (s)" for n in names]
        header += [f"{a} / {b}" for a, b in pairs]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for n_rows in sizes:
            row = [f"{n_rows:,}"] + [_fmt(fit[n].get(n_rows)) for n in names]
            row += [
                _fmt(_ratio(fit[a].get(n_rows), fit[b].get(n_rows))) for a, b in pairs
            ]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")

        lines += [
            "## Time per row",
            "",
            "Fit time per row (microseconds) and the exponent `b` of a fit of "
            "`time ~ rows**b` (1 is linear).",
            "",
        ]
        header = ["rows"] + [f"{n} (us/row)" for n in names]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for n_rows in sizes:
            row = [f"{n_rows:,}"]
            for n in names:
                seconds = fit[n].get(n_rows)
                row.append(_fmt(None if seconds is None else seconds / n_rows * 1e6))
            lines.append("| " + " | ".join(row) + " |")
        row = ["b"] + [_fmt(_growth_exponent(fit[n])) for n in names]
        lines.append("| " + " | ".join(row) + " |")
        lines.append("")

        if main in fit:
            small = sizes[0]
            for peer, goal in (
                ("MLPClassifier", GOAL_VS_MLP),
                ("skorch", GOAL_VS_SKORCH),
            ):
                value = _ratio(fit[main].get(small), fit.get(peer, {}).get(small))
                goals.append(
                    (f"fit time / {peer} at {small:,} rows", f"<= {goal}", value, goal)
                )
            goals.append(
                (
                    "fit time growth exponent b",
                    f"<= {GOAL_GROWTH}",
                    _growth_exponent(fit[main]),
                    GOAL_GROWTH,
                )
            )

    if loss:
        lines += [
            f"## Loss, forward + backward, batch {LOSS_BATCH}",
            "",
            "Median of `torch.utils.benchmark` blocks (best of a few rounds), "
            "gradient with respect to the logits, on the device above.",
            "",
            "| classes | cross_entropy (us) | squared_emd_loss (us) | ratio |",
            "|---|---|---|---|",
        ]
        worst = 0.0
        for n_classes, (ce, emd) in loss.items():
            worst = max(worst, emd / ce)
            lines.append(f"| {n_classes} | {ce:.1f} | {emd:.1f} | {emd / ce:.2f} |")
        lines.append("")
        goals.append(
            ("loss time / cross-entropy (worst K)", f"<= {GOAL_LOSS}", worst, GOAL_LOSS)
        )

    lines += ["## Learned ground distance", ""]
    if learned is None:
        lines += [
            "Not measured: skipped with `--skip-learned`.",
            "",
        ]
    else:
        times = learned["times"]
        ordinal = times["ordinal"]
        lines += [
            f"Fit time at {learned['rows']:,} rows, {args.epochs} epochs; the "
            f"settings ran in turn {len(ordinal)} times. *Extra* is the median over "
            "these rounds of the time relative to `ordinal` in the same round. "
            "Without warm-up every epoch trains with the learned matrix and "
            "relearns it from the penultimate features afterwards (one more "
            "forward pass over the training data); warm-up epochs train "
            "cross-entropy alone. *Cross-entropy only* is the same network "
            "trained with cross-entropy instead of the squared EMD "
            "(`ce_weight=1, emd_weight=0`): the difference is what the squared "
            "EMD loss costs in a whole fit.",
            "",
            "| setting | best fit (s) | per epoch (s) | extra per epoch (s) | extra |",
            "|---|---|---|---|---|",
        ]
        for label, seconds in times.items():
            best = min(seconds)
            ratio = float(np.median(np.array(seconds) / np.array(ordinal)))
            extra = (ratio - 1) * min(ordinal) / args.epochs
            lines.append(
                f"| {label} | {best:.2f} | {best / args.epochs:.3f} | "
                f"{extra:+.3f} | {(ratio - 1) * 100:+.0f} % |"
            )
        lines.append("")
        worst = max(
            float(np.median(np.array(seconds) / np.array(ordinal)))
            for label, seconds in times.items()
            if label.startswith("learned")
        )
        goals.append(
            (
                "learned / ordinal fit time, same epochs (worst setting)",
                f"<= {GOAL_LEARNED}",
                worst,
                GOAL_LEARNED,
            )
        )
        if getattr(args, "learned_figure", None):
            lines += [
                f"![Time per epoch by ground distance]({args.learned_figure})",
                "",
            ]

    if threads:
        lines += _threads_section(args, threads)
    if memory:
        first = next(iter(memory.values()))
        lines += [
            "## Peak memory",
            "",
            f"One-epoch fit on {args.memory_rows:,} x {args.memory_features} "
            f"float32 features ({first['data'] / MIB:.0f} MiB with the int64 "
            "labels), each estimator in a fresh process. *Peak* is the process's "
            "peak resident memory during the fit minus its resident memory before "
            "the data were made (so it counts the data); *extra* is what the fit "
            "added on top of the data.",
            "",
            "| estimator | data (MiB) | model (MiB) | peak (MiB) | "
            "peak / (data + model) | extra (MiB) |",
            "|---|---|---|---|---|---|",
        ]
        for name, m in memory.items():
            peak = m["peak"] - m["baseline"]
            extra = m["peak"] - m["before_fit"]
            ratio = peak / (m["data"] + m["model"])
            lines.append(
                f"| {name} | {m['data'] / MIB:.1f} | {m['model'] / MIB:.2f} | "
                f"{peak / MIB:.1f} | {ratio:.2f} | {extra / MIB:.1f} |"
            )
            if name == main:
                goals.append(
                    (
                        "peak memory / (data + model)",
                        f"<= {GOAL_MEMORY}",
                        ratio,
                        GOAL_MEMORY,
                    )
                )
        if "device_peak" in first:
            lines.append("")
            lines.append(
                f"Peak CUDA memory allocated by the {main} fit: "
                f"{memory[main]['device_peak'] / MIB:.1f} MiB."
            )
        if not first["reset"]:
            lines.append("")
            lines.append(
                "The peak could not be reset after making the data; it may "
                "include that step."
            )
        lines.append("")

    if goals:
        lines += [
            "## Goals",
            "",
            "Set for a two-core CPU; elsewhere for reference only.",
            "",
            "| goal | target | measured | met |",
            "|---|---|---|---|",
        ]
        for label, target, value, bound in goals:
            met = "--" if value is None else ("yes" if value <= bound else "no")
            lines.append(f"| {label} | {target} | {_fmt(value)} | {met} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    args = _parse_args(argv)
    if args.memory_child:
        _memory_child(args.memory_child)
        return
    args.command = "python benchmarks/speed.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    args.command = args.command.rstrip()
    if args.sizes is None:
        args.sizes = [20_000, 200_000] if args.quick else [20_000, 200_000, 1_000_000]
    args.sizes = sorted(args.sizes)
    if args.memory_rows is None:
        args.memory_rows = 200_000 if args.quick else 1_000_000

    import torch
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    device = _resolve_device(args.device)
    started = datetime.now(timezone.utc)
    load_before = _load()

    output = args.output
    if output is None:
        kind = device.split(":")[0]
        suffix = "_partial" if args.changed else "_quick" if args.quick else ""
        # Only the full run writes the report the documentation shows.
        output = RESULTS / f"speed_{kind}{suffix}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    args.output_path = output
    args.learned_figure = None
    results = {
        "fit": None,
        "loss": None,
        "learned": None,
        "memory": None,
        "threads": None,
    }

    def write(finished):
        # Written after every stage, so that a run stopped early leaves a report.
        text = report(args, device, **results, started=started, load_before=load_before)
        if not finished:
            text = text.replace(
                "\n\n", "\n\n*Incomplete: the run has not finished.*\n\n", 1
            )
        output.write_text(text)
        return text

    def fit_progress(times):
        results["fit"] = times
        write(finished=False)

    print(f"fit times on {device}")
    results["fit"] = bench_fit(args, device, fit_progress)
    if not args.skip_loss:
        print("loss forward + backward")
        results["loss"] = bench_loss(args, device)
        write(finished=False)
    if not args.skip_learned:
        print("learned ground distance")
        results["learned"] = bench_learned(args, device)
        write(finished=False)
        figure = args.output_path.with_name(args.output_path.stem + "_learned.png")
        if learned_figure(args, results["learned"], figure):
            args.learned_figure = figure.name
        write(finished=False)
    if not args.skip_threads and device == "cpu":
        print("torch threads")
        results["threads"] = bench_threads(args, device)
        write(finished=False)
    if not args.skip_memory:
        print("peak memory")
        results["memory"] = bench_memory(args, device)
    text = write(finished=True)
    print()
    print(text)
    print(f"written to {output}")


if __name__ == "__main__":
    main()
