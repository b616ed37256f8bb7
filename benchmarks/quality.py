"""Predictive quality of EMDClassifier against the methods a user would pick instead.

The data are the development collection of ``_datasets.py``: the ordinal
benchmark of Gutierrez et al. (2016) on its published partitions (thirty
stratified 75/25 partitions drawn with a fixed seed where only partition 0 is
published), regression data binned into ordered classes, and survey and study
data with text columns, with 30, 10 or 5 stratified 75/25 partitions by size.
Each set is in the selection part or in the held-out part, which is never used
to choose defaults and is reported separately. Preprocessing is fitted on each
training part: text columns one-hot encoded (pandas categories for LightGBM),
numeric attributes constant in the training part dropped, z-scoring with the
training statistics. Every method runs with its library defaults, changed only
where the report says why.

Two protocols:

- ``outer`` (default): fit on each partition's training part, score on its test
  part.
- ``inner``, to choose defaults: split each training part once more (stratified
  75/25, seed from the partition), fit on the inner training part and score on
  the inner validation part; no test part is read. It runs on the selection
  part unless ``--part`` or ``--sets`` say otherwise.

Run from the repository root::

    python benchmarks/quality.py --jobs 2              # full run, writes quality.md
    python benchmarks/quality.py --quick --jobs 2      # 2 partitions per data set
    python benchmarks/quality.py --protocol inner --partitions 10 \\
        --partitions-large 3 --candidates benchmarks/candidates_variants.py

A candidates file defines ``CANDIDATES = {"name": factory}``, where
``factory(seed)`` returns an unfitted scikit-learn classifier; its names can be
passed to ``--methods`` like the built-in ones. Per-partition results are cached
in ``benchmarks/results/cache/``, one file per protocol, method name and hash of
the estimator's parameters, so a rerun only computes what is missing
(``--refresh`` recomputes the selected methods).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import re
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import rankdata, wilcoxon
from sklearn.base import clone

_HERE = str(Path(__file__).resolve().parent)
sys.path.insert(0, _HERE)
# joblib's worker processes import the helper modules beside this script too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_HERE, os.environ.get("PYTHONPATH")) if p
)

import _datasets  # noqa: E402
from _args import at_least  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = RESULTS / "cache"
# Bump when the evaluation itself changes, to invalidate every cached result.
PROTOCOL = "collection-2"
# Raise it when what a network's or a candidate's parameters mean changes
# without a parameter value changing, so that their cached results are
# recomputed; the peers' results stay.
NETWORK_REVISION = 5
# Estimators are seeded with SEED + partition index; the inner split of a
# partition's training part with INNER_SEED + partition index.
SEED = 0
INNER_SEED = 7
INNER_TEST_SIZE = 0.25
QUICK_PARTITIONS = 2
# A method within NEAR_BEST % of the best mean MAE of a set counts as near it;
# the best MAE is floored at GAP_FLOOR so that a perfect score divides nothing
# by zero.
NEAR_BEST = 5.0
GAP_FLOOR = 0.01
METRICS = ("mae", "amae", "qwk", "accuracy", "rps", "mae_median")
METRIC_TITLES = {
    "mae": "MAE (lower is better)",
    "mae_median": (
        "MAE of the median of the predicted distribution, the class of least "
        "expected absolute error (lower is better)"
    ),
    "amae": "AMAE (lower is better)",
    "qwk": "QWK (higher is better)",
    "accuracy": "Accuracy (higher is better)",
    "rps": "Ranked probability score (lower is better)",
}
LOWER_IS_BETTER = {"mae": True, "amae": True, "qwk": False, "accuracy": False}
LOWER_IS_BETTER["rps"] = True
LOWER_IS_BETTER["mae_median"] = True


# --------------------------------------------------------------------- methods


@dataclass(frozen=True)
class Method:
    """A method of the comparison.

    ``factory(seed)`` returns the unfitted estimator; ``why`` says where and why
    library defaults were changed; ``revision`` puts ``NETWORK_REVISION`` into
    the cache key; ``categorical`` is how text columns reach the estimator
    (``"onehot"`` or ``"category"``, see ``_datasets.Preprocessor``).
    """

    label: str
    factory: Callable[[int], object]
    why: str = ""
    revision: bool = False
    categorical: str = "onehot"


def _emd(seed):
    from skemd import EMDClassifier

    return EMDClassifier(random_state=seed)


def _ce(seed):
    from skemd import EMDClassifier

    return EMDClassifier(ce_weight=1, emd_weight=0, random_state=seed)


def _logat(seed):
    from mord import LogisticAT

    return LogisticAT()


def _logit(seed):
    from mord import LogisticIT

    return LogisticIT()


def _hgb(seed):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=seed)


def _lgbm(seed):
    from lightgbm import LGBMClassifier

    return LGBMClassifier(random_state=seed, verbose=-1)


def _mlp(seed):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(early_stopping=True, random_state=seed)


def _logreg(seed):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000, random_state=seed)


def _median(seed):
    from _baselines import MedianClassifier

    return MedianClassifier()


BUILTIN = {
    "emd": Method("EMDClassifier, defaults", _emd, revision=True),
    "ce": Method(
        "EMDClassifier, cross-entropy",
        _ce,
        "`ce_weight=1, emd_weight=0`: the same network trained with "
        "cross-entropy instead of the squared EMD",
        revision=True,
    ),
    "logat": Method("mord LogisticAT", _logat),
    "logit": Method("mord LogisticIT", _logit),
    "hgb": Method("HistGradientBoostingClassifier", _hgb),
    "lgbm": Method(
        "LightGBM LGBMClassifier",
        _lgbm,
        "`verbose=-1`: silences its log, the model is the same; gets the text "
        "columns as pandas categories (its native categorical support)",
        categorical="category",
    ),
    "mlp": Method(
        "MLPClassifier",
        _mlp,
        "`early_stopping=True`: stops when the score on 10 % of the training "
        "part held out stops improving, instead of fitting the training loss for "
        "up to 200 epochs",
    ),
    "logreg": Method(
        "LogisticRegression",
        _logreg,
        "`max_iter=1000` (100 by default): so that lbfgs converges",
    ),
    "median": Method(
        "constant: median training class",
        _median,
        "`_baselines.MedianClassifier`: predicts the weighted median class of the "
        "training labels, the training class frequencies as probabilities",
    ),
}
# Where a library is optional, the methods that need it.
OPTIONAL = {"lgbm": "lightgbm"}
# Fit times are also shown as a ratio to this method's.
TIME_REFERENCE = "hgb"
_NAME = re.compile(r"[A-Za-z0-9_.+-]+\Z")


@cache
def load_candidates(path: str | None) -> dict[str, Method]:
    """The methods of a candidates file (``CANDIDATES = {"name": factory}``).

    A file may also define ``NATIVE_CATEGORICAL``, the names whose estimators
    get text columns as pandas categories instead of one-hot columns.
    """
    if path is None:
        return {}
    spec = importlib.util.spec_from_file_location("quality_candidates", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path} is not a Python file.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = getattr(module, "CANDIDATES", None)
    if not isinstance(found, dict) or not found:
        raise ValueError(f"{path} defines no CANDIDATES dictionary of factories.")
    native = set(getattr(module, "NATIVE_CATEGORICAL", ()))
    if native - set(found):
        raise ValueError(
            f"{path}: NATIVE_CATEGORICAL names unknown candidates "
            f"{sorted(native - set(found))}."
        )
    methods = {}
    for name, factory in found.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(
                f"{path}: candidate name {name!r} must be letters, digits and "
                "_ . + - only (it names a cache file)."
            )
        if name in BUILTIN:
            raise ValueError(f"{path}: candidate {name!r} is a built-in method.")
        if not callable(factory):
            raise ValueError(f"{path}: CANDIDATES[{name!r}] is not callable.")
        methods[name] = Method(
            f"candidate {name}",
            factory,
            revision=True,
            categorical="category" if name in native else "onehot",
        )
    return methods


def all_methods(candidates: str | None) -> dict[str, Method]:
    return {**BUILTIN, **load_candidates(candidates)}


def method_key(method: Method, protocol: str) -> str:
    """Hash of the estimator's class and parameters, the protocol and revision.

    The parameters are ``repr(sorted(get_params().items()))`` of the estimator of
    seed 0 (nested estimators and objects by their repr, memory addresses left
    out); ``NETWORK_REVISION`` enters for the networks and the candidates.
    """
    estimator = method.factory(0)
    params = repr(sorted(estimator.get_params().items()))
    params = re.sub(r" at 0x[0-9a-fA-F]+", "", params)
    kind = type(estimator)
    text = repr(
        (PROTOCOL, protocol, kind.__module__, kind.__qualname__, params)
        + (method.categorical,)
    )
    if method.revision:
        text += f" revision {NETWORK_REVISION}"
    return hashlib.sha1(text.encode()).hexdigest()[:10]


# ---------------------------------------------------------------- evaluation


def full_proba(estimator, X, classes: np.ndarray) -> np.ndarray:
    """``predict_proba`` with one column per class of ``classes``."""
    proba = np.asarray(estimator.predict_proba(X), dtype=float)
    if hasattr(estimator, "n_class_"):
        # mord: columns run from the lowest to the highest training label.
        labels = estimator.classes_.min() + np.arange(proba.shape[1])
    else:
        labels = np.asarray(estimator.classes_)
    full = np.zeros((len(proba), len(classes)))
    full[:, np.searchsorted(classes, labels)] = proba
    return full / full.sum(axis=1, keepdims=True)


def scores(y_true, y_pred, proba, classes: np.ndarray) -> dict:
    """Every metric of one scored part."""
    from skemd import metrics

    return {
        "mae": metrics.mae(y_true, y_pred, classes=classes),
        "amae": metrics.amae(y_true, y_pred, classes=classes),
        "qwk": metrics.qwk(y_true, y_pred, classes=classes),
        "accuracy": float(np.mean(y_true == y_pred)),
        "rps": (
            np.nan
            if proba is None
            else metrics.ranked_probability_score(y_true, proba, classes=classes)
        ),
        # The decision that minimises the expected absolute error, from the
        # same probabilities: the first class whose cumulative probability
        # reaches one half.
        "mae_median": (
            np.nan
            if proba is None
            else metrics.mae(
                y_true,
                classes[np.argmax(np.cumsum(proba, axis=1) >= 0.5, axis=1)],
                classes=classes,
            )
        ),
    }


@cache
def _dataset(name: str, data_dir: str) -> _datasets.Dataset:
    return _datasets.load(name, data_dir)


def partition(dataset, split: int, protocol: str, categorical: str = "onehot"):
    """Preprocessed ``X_fit, y_fit, X_score, y_score`` of one partition.

    ``outer``: the training and the test part. ``inner``: the inner training and
    validation parts of the training part; the test part is not touched.
    """
    X_train, y_train, X_test, y_test = dataset.raw_split(split)
    if protocol == "inner":
        fit, val = _datasets.inner_split(y_train, INNER_SEED + split, INNER_TEST_SIZE)
        X_train, y_train, X_test, y_test = (
            X_train.iloc[fit],
            y_train[fit],
            X_train.iloc[val],
            y_train[val],
        )
    preprocessor = _datasets.Preprocessor(categorical).fit(X_train)
    return (
        preprocessor.transform(X_train),
        y_train,
        preprocessor.transform(X_test),
        y_test,
    )


def evaluate(estimator, X_fit, y_fit, X_score, y_score, classes) -> dict:
    """Fit on one part, score on the other; time ``fit`` alone."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X_fit, y_fit)
    fit_time = time.perf_counter() - start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y_pred = np.asarray(estimator.predict(X_score)).astype(int)
        proba = (
            full_proba(estimator, X_score, classes)
            if hasattr(estimator, "predict_proba")
            else None
        )
    try:
        # LogisticRegression keeps one count per class problem: the most.
        n_iter = float(np.max(estimator.n_iter_))
    except (AttributeError, TypeError, ValueError):
        n_iter = np.nan
    return {
        **scores(y_score, y_pred, proba, classes),
        "fit_time": fit_time,
        "n_iter": n_iter,
    }


def _one_thread() -> None:
    """One torch, BLAS and OpenMP thread, for the libraries loaded so far."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


# Methods fitted once already in this process.
_WARM: set[str] = set()


def _warm_up(name: str, estimator, X, y, rows: int = 64) -> None:
    """An untimed fit on a few rows before a method's first timed fit.

    The first fit in a process pays one-time costs (torch sets up its kernels
    and allocator: about two seconds here), which would otherwise fall on
    whichever data set a worker happens to start with.
    """
    if name in _WARM:
        return
    _WARM.add(name)
    head = X.iloc[:rows] if hasattr(X, "iloc") else X[:rows]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clone(estimator).fit(head, y[:rows])
    except Exception:
        pass  # A warm-up that fails costs nothing; the timed fit will tell.


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    text = type(error).__name__ + (f": {lines[0]}" if lines else "")
    return text[:200]


def _task(data_dir, name, split, method_name, candidates, protocol) -> dict:
    dataset = _dataset(name, data_dir)
    method = all_methods(candidates)[method_name]
    row = {"set": name, "split": split, "method": method_name, "n_train": np.nan}
    try:
        X_fit, y_fit, X_score, y_score = partition(
            dataset, split, protocol, method.categorical
        )
        row["n_train"] = len(y_fit)
        estimator = method.factory(SEED + split)
        # A class missing from a training part keeps its place in the order.
        if estimator.get_params(deep=False).get("classes", False) is None:
            estimator.set_params(classes=dataset.classes)
        # After the factory, so that the libraries it imported are limited too.
        _one_thread()
        _warm_up(method_name, estimator, X_fit, y_fit)
        row |= evaluate(estimator, X_fit, y_fit, X_score, y_score, dataset.classes)
        row["error"] = ""
    except Exception as error:
        row |= dict.fromkeys([*METRICS, "fit_time", "n_iter"], np.nan)
        row["error"] = _first_line(error)
    return row


# -------------------------------------------------------------------- cache

# One row per fit; a failed fit has no scores and the first line of its error.
COLUMNS = [
    "set",
    "split",
    "method",
    "n_train",
    *METRICS,
    "fit_time",
    "n_iter",
    "error",
]


def cache_file(name: str, method: Method, protocol: str) -> Path:
    return CACHE / f"{protocol}-{name}-{method_key(method, protocol)}.csv"


def read_cache(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.read_csv(path, dtype={"set": str, "method": str, "error": str})
    frame["error"] = frame["error"].fillna("")
    return frame.drop_duplicates(["set", "split"], keep="last")


def append_cache(path: Path, row: dict) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    header = not path.is_file()
    pd.DataFrame([row], columns=COLUMNS).to_csv(
        path, mode="a", header=header, index=False
    )


# ---------------------------------------------------------------- references

# ORCA tutorial reference results on the same partitions and preprocessing
# (mean, std over the partitions; CCR as a fraction).
ORCA = {
    "pasture": {
        "POM": {
            "mae": (0.6000, 0.2309),
            "amae": (0.6000, 0.2309),
            "accuracy": (0.4889, 0.1533),
        },
        "SVORIM": {
            "mae": (0.3222, 0.1066),
            "amae": (0.3222, 0.1066),
            "accuracy": (0.6778, 0.1066),
        },
        "SVC1V1": {
            "mae": (0.3148, 0.1275),
            "amae": (0.3148, 0.1275),
            "accuracy": (0.6852, 0.1275),
        },
    },
    "tae": {
        "POM": {
            "mae": (0.6158, 0.1008),
            "amae": (0.6170, 0.1019),
            "accuracy": (0.5053, 0.0746),
        },
        "SVORIM": {
            "mae": (0.4754, 0.0691),
            "amae": (0.4733, 0.0690),
            "accuracy": (0.5658, 0.0605),
        },
        "SVC1V1": {
            "mae": (0.5342, 0.1089),
            "amae": (0.5338, 0.1101),
            "accuracy": (0.5781, 0.0733),
        },
    },
    "toy": {
        "POM": {
            "mae": (0.9809, 0.0389),
            "amae": (1.2132, 0.0594),
            "accuracy": (0.2893, 0.0255),
        },
        "SVORIM": {
            "mae": (0.0178, 0.0128),
            "amae": (0.0196, 0.0157),
            "accuracy": (0.9822, 0.0128),
        },
        "SVC1V1": {
            "mae": (0.0516, 0.0234),
            "amae": (0.0444, 0.0230),
            "accuracy": (0.9484, 0.0234),
        },
    },
    "pyrim10": {
        "POM": {
            "mae": (1.7750, 0.5229),
            "amae": (1.7825, 0.5553),
            "accuracy": (0.2583, 0.0723),
        },
        "SVORIM": {
            "mae": (1.3771, 0.2088),
            "amae": (1.3750, 0.2251),
            "accuracy": (0.2646, 0.0939),
        },
        "SVC1V1": {
            "mae": (1.8708, 0.3795),
            "amae": (1.8500, 0.4110),
            "accuracy": (0.2146, 0.0719),
        },
    },
}

# TOC-UCO baselines (Ayllon-Gavilan et al.): MAE over 30 stratified 70/30
# partitions that are not available here, with class-balanced losses, so they
# compare at the level of the protocol only. Their wine set merges two classes
# and is left out.
TOCUCO_METHODS = ("LogAT", "XGB", "OEAB", "MLP")
TOCUCO_MAE = {
    "balance-scale": ((0.097, 0.025), (0.152, 0.040), (0.032, 0.012), (0.026, 0.018)),
    "newthyroid": ((0.027, 0.024), (0.047, 0.020), (0.040, 0.016), (0.035, 0.016)),
    "tae": ((0.737, 0.093), (0.538, 0.092), (0.517, 0.093), (0.662, 0.206)),
    "car": ((0.078, 0.011), (0.006, 0.004), (0.001, 0.003), (0.005, 0.006)),
    "eucalyptus": ((0.405, 0.034), (0.380, 0.033), (0.406, 0.037), (0.482, 0.048)),
    "ERA": ((1.485, 0.066), (1.693, 0.109), (1.238, 0.055), (1.969, 0.713)),
}


# ------------------------------------------------------------------- report


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical cores, {platform.system()}"


def _versions() -> str:
    parts = [f"python {platform.python_version()}"]
    packages = ("skemd", "numpy", "scipy", "pandas", "scikit-learn", "torch")
    for package in (*packages, "skorch", "mord", "lightgbm"):
        try:
            parts.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        root = Path(__file__).resolve().parents[1]
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "skemd"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        parts.append(f"git {commit}" + (" (skemd/ modified)" if dirty else ""))
    except (OSError, subprocess.CalledProcessError):
        pass
    return ", ".join(parts)


class Stats:
    """Per set and method tables of the results (sets as rows, methods as columns).

    A method with a failed fit on a set has no mean there (NaN), unless
    ``complete=False`` asks for the mean of the fits that succeeded.
    """

    def __init__(self, results: pd.DataFrame, sets: list[str], methods: list[str]):
        self.results, self.sets, self.methods = results, sets, methods
        failed = results.assign(failed=results["error"] != "")
        self.ok = failed[~failed["failed"]]
        self.failed = self._pivot(failed, "failed", "sum").fillna(0).astype(int)
        self.count = self._pivot(failed, "split", "size").fillna(0).astype(int)

    def _pivot(self, frame, column, how) -> pd.DataFrame:
        if frame.empty or frame[column].isna().all():
            return pd.DataFrame(np.nan, index=self.sets, columns=self.methods)
        table = frame.pivot_table(
            index="set", columns="method", values=column, aggfunc=how
        )
        return table.reindex(index=self.sets, columns=self.methods).astype(float)

    def mean(self, column: str, complete: bool = True) -> pd.DataFrame:
        table = self._pivot(self.ok, column, "mean")
        return table.where(self.failed == 0) if complete else table

    def std(self, column: str) -> pd.DataFrame:
        return self._pivot(self.ok, column, "std").fillna(0.0)

    def per_split(self, column: str = "mae") -> pd.DataFrame:
        table = self.ok.pivot_table(
            index=["set", "split"], columns="method", values=column
        )
        return table.reindex(columns=self.methods)


def _md(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _num(value, digits: int = 3, sign: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _count(value: int) -> str:
    """An integer with a space between thousands, as the reports write them."""
    return f"{value:,}".replace(",", " ")


def _ratio(value) -> str:
    if not np.isfinite(value):
        return "-"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def _bold(text: str, condition) -> str:
    return f"**{text}**" if condition else text


def ranks(mae: pd.DataFrame) -> pd.DataFrame:
    """Rank of each method per set on the mean MAE (1 is best, ties averaged).

    A method without a mean (a failed fit) ranks last, tied with the others
    without one.
    """
    values = mae.to_numpy(dtype=float)
    values = np.where(np.isnan(values), np.inf, values)
    return pd.DataFrame(rankdata(values, axis=1), index=mae.index, columns=mae.columns)


def gaps(mae: pd.DataFrame) -> pd.DataFrame:
    """Gap of each method's mean MAE to the best of its set, in % of the best."""
    best = mae.min(axis=1)
    return 100 * mae.sub(best, axis=0).div(np.maximum(best, GAP_FLOOR), axis=0)


def paired_test(ours: np.ndarray, other: np.ndarray) -> float:
    """Two-sided p-value of the Wilcoxon signed-rank test on paired MAEs.

    Partitions where both methods score the same carry no information on which
    is better and are dropped (``zero_method="wilcox"``); with no differing
    partition there is nothing to test and the result is NaN.
    """
    if not np.any(ours != other):
        return float("nan")
    return float(wilcoxon(ours, other, zero_method="wilcox").pvalue)


def paired_table(
    per_split: pd.DataFrame, ours: str, other: str, sets: list[str]
) -> list[str]:
    """Per data set: mean MAE difference, partition counts and a paired test."""
    lines = [
        f"Paired per partition, `{ours}` against `{other}`: mean MAE difference "
        f"(negative: `{ours}` is better), partitions where it is better / tied / "
        "worse, and the two-sided p-value of the Wilcoxon signed-rank test on the "
        "paired MAEs (ties dropped). Were the two methods equal, 5 % of the data "
        f"sets ({0.05 * len(sets):.2g} of {len(sets)}) would show a p below 0.05 "
        "by chance alone.",
        "",
    ]
    rows, below = [], {"better": 0, "worse": 0}
    for name in sets:
        if name not in per_split.index.get_level_values(0):
            continue
        pair = per_split.loc[name, [ours, other]].dropna()
        delta = (pair[ours] - pair[other]).to_numpy()
        if not len(delta):
            continue
        p_value = paired_test(pair[ours].to_numpy(), pair[other].to_numpy())
        if p_value < 0.05:
            below["better" if delta.mean() < 0 else "worse"] += 1
        if np.isnan(p_value):
            shown = "-"
        else:
            shown = "< 0.001" if p_value < 0.001 else f"{p_value:.3f}"
        rows.append(
            [
                name,
                f"{delta.mean():+.4f}",
                f"{int((delta < 0).sum())} / {int((delta == 0).sum())} / "
                f"{int((delta > 0).sum())}",
                shown,
            ]
        )
    lines += _md(
        ["data set", "MAE difference", "better / tied / worse", "Wilcoxon p"], rows
    )
    lines += [
        "",
        f"p below 0.05: `{ours}` better on {below['better']}, worse on "
        f"{below['worse']} of {len(rows)} data sets.",
        "",
    ]
    return lines


def _subsets(sets: list[str], info: dict) -> list[tuple[str, list[str]]]:
    """The sets of the run, then each part and each group, where not empty.

    A subset with the same sets as an earlier one is merged into it, its name
    added to the earlier one's ("all = selection").
    """
    subsets = [("all", sets)]
    for key, values in (("part", _datasets.PARTS), ("group", _datasets.GROUPS)):
        for value in values:
            chosen = [s for s in sets if info[s][key] == value]
            same = [i for i, (_, other) in enumerate(subsets) if other == chosen]
            if same:
                label, other = subsets[same[0]]
                subsets[same[0]] = (f"{label} = {value}", other)
            elif chosen:
                subsets.append((value, chosen))
    return subsets


def _parts(sets: list[str], info: dict) -> list[tuple[str, list[str]]]:
    """The subsets of all the sets and of each part (see ``_subsets``)."""
    return [
        (label, chosen)
        for label, chosen in _subsets(sets, info)
        if label.startswith("all") or label.split(" = ")[0] in _datasets.PARTS
    ]


def _metric_table(stats: Stats, metric: str) -> list[str]:
    means, stds = stats.mean(metric), stats.std(metric)
    rows = []
    for name in stats.sets:
        values = means.loc[name]
        finite = values.dropna()
        best = (
            (finite.min() if LOWER_IS_BETTER[metric] else finite.max())
            if len(finite)
            else None
        )
        cells = [name]
        for method in stats.methods:
            failed = stats.failed.loc[name, method]
            if failed:
                cells.append(f"failed ({failed} of {stats.count.loc[name, method]})")
            elif np.isnan(values[method]):
                cells.append("n/a")
            else:
                text = f"{values[method]:.3f} ± {stds.loc[name, method]:.3f}"
                cells.append(_bold(text, values[method] == best))
        rows.append(cells)
    return _md(["data set", *stats.methods], rows)


def collection_section(info: dict, sets: list[str]) -> list[str]:
    rows = [
        [
            name,
            info[name]["group"],
            info[name]["part"],
            _count(info[name]["rows"]),
            str(info[name]["features"]),
            str(info[name]["classes"]),
            str(info[name]["partitions"]),
            str(info[name]["used"]),
            info[name]["note"],
        ]
        for name in sets
    ]
    return _md(
        [
            "data set",
            "group",
            "part",
            "rows",
            "features after encoding",
            "classes",
            "partitions",
            "used here",
            "partition source",
        ],
        rows,
    )


def rank_section(stats: Stats, info: dict) -> list[str]:
    rank = ranks(stats.mean("mae"))
    subsets = _subsets(stats.sets, info)
    table = pd.DataFrame({label: rank.loc[chosen].mean() for label, chosen in subsets})
    table = table.sort_values(subsets[0][0], kind="stable")
    header = ["method"] + [f"{label} ({len(chosen)})" for label, chosen in subsets]
    rows = []
    for method, values in table.iterrows():
        cells = [method]
        for label, _ in subsets:
            cells.append(
                _bold(f"{values[label]:.2f}", values[label] == table[label].min())
            )
        rows.append(cells)
    lines = [
        "Rank of each method on each data set by mean MAE (1 is best, ties "
        f"averaged), averaged over the data sets of each subset (their number in "
        f"brackets); {len(stats.methods)} methods. A method with a failed fit on "
        "a set ranks last there.",
        "",
    ]
    lines += _md(header, rows)
    present = {name for label, _ in subsets for name in label.split(" = ")}
    missing = [part for part in _datasets.PARTS if part not in present]
    if missing:
        lines += ["", f"No {' or '.join(missing)} data sets in this run."]
    return lines


def gap_section(stats: Stats, info: dict, figure_name: str | None) -> list[str]:
    gap = gaps(stats.mean("mae"))
    lines = [
        "Gap of each method's mean MAE to the best method of the data set, in % "
        f"of the best mean MAE (floored at {GAP_FLOOR}, so that a perfect score "
        f"divides nothing by zero); within {NEAR_BEST:g} % in bold.",
        "",
    ]
    if figure_name:
        lines += [
            f"![MAE gap to the best method per data set]({figure_name})",
            "",
            "In the figure: one marker per method and data set (none for a "
            "method with a failed fit), data sets grouped by part; the vertical "
            "axis is linear up to 1 % and logarithmic above.",
            "",
        ]
    rows = []
    for name in stats.sets:
        cells = [name, info[name]["part"]]
        for method in stats.methods:
            value = gap.loc[name, method]
            cells.append(
                "failed"
                if stats.failed.loc[name, method]
                else _bold(_num(value, 1), value <= NEAR_BEST)
            )
        rows.append(cells)
    near = gap <= NEAR_BEST
    for label, chosen in _parts(stats.sets, info):
        rows.append(
            [f"within {NEAR_BEST:g} %, {label}", f"of {len(chosen)}"]
            + [str(int(near.loc[chosen, m].sum())) for m in stats.methods]
        )
    return lines + _md(["data set", "part", *stats.methods], rows)


def median_section(stats: Stats, info: dict) -> list[str]:
    mae = stats.mean("mae")
    diff = mae.sub(mae["median"], axis=0)
    others = [m for m in stats.methods if m != "median"]
    lines = [
        "Mean MAE minus that of the constant median baseline (`median`); in bold "
        "where the method is worse than the baseline.",
        "",
    ]
    rows = []
    for name in stats.sets:
        cells = [name, info[name]["part"]]
        for method in others:
            value = diff.loc[name, method]
            cells.append(
                "failed"
                if stats.failed.loc[name, method]
                else _bold(_num(value, 3, sign=True), value > 1e-12)
            )
        rows.append(cells)
    worse = diff > 1e-12
    for label, chosen in _parts(stats.sets, info):
        rows.append(
            [f"worse than `median`, {label}", f"of {len(chosen)}"]
            + [str(int(worse.loc[chosen, m].sum())) for m in others]
        )
    return lines + _md(["data set", "part", *others], rows)


def emd_ce_section(stats: Stats, info: dict) -> list[str]:
    mae = stats.mean("mae")
    lines = ["`emd` against `ce`, the same network trained with cross-entropy:", ""]
    for label, chosen in _subsets(stats.sets, info):
        diff = (mae.loc[chosen, "emd"] - mae.loc[chosen, "ce"]).dropna()
        lines.append(
            f"- {label}: `emd` has the lower mean MAE on {int((diff < 0).sum())}, "
            f"the same on {int((diff == 0).sum())}, a higher one on "
            f"{int((diff > 0).sum())} of {len(diff)} data sets."
        )
    per_split = stats.per_split()
    pair = per_split[["emd", "ce"]].dropna()
    delta = pair["emd"] - pair["ce"]
    lines += [
        f"- per partition: lower on {int((delta < 0).sum())}, the same on "
        f"{int((delta == 0).sum())}, higher on {int((delta > 0).sum())} of "
        f"{len(delta)}.",
        "",
    ]
    return lines + paired_table(per_split, "emd", "ce", stats.sets)


def time_section(stats: Stats, info: dict) -> list[str]:
    times = stats.mean("fit_time", complete=False)
    lines = [
        "Wall-clock time of `fit` alone, mean over the partitions, one thread per "
        "worker process. Measured when each result was computed (cached results "
        "keep their time), so it varies with the load of the machine.",
        "",
    ]
    rows = [[name] + [_num(v, 3) for v in times.loc[name]] for name in stats.sets]
    rows.append(["**mean over data sets**"] + [_num(v, 3) for v in times.mean()])
    lines += _md(["data set (seconds)", *stats.methods], rows)
    reference = TIME_REFERENCE
    if reference in stats.methods:
        ratio = times.div(times[reference], axis=0)
        overall = {}
        for method in stats.methods:
            both = times[method].notna() & times[reference].notna()
            overall[method] = (
                times.loc[both, method].mean() / times.loc[both, reference].mean()
            )
        geometric = np.exp(np.log(ratio).mean())
        lines += [
            "",
            f"Fit time as a ratio to `{reference}` "
            f"({BUILTIN[reference].label}): per data set, the ratio of the means "
            "over data sets, and the geometric mean of the per-set ratios.",
            "",
        ]
        rows = [[name] + [_ratio(v) for v in ratio.loc[name]] for name in stats.sets]
        rows.append(
            ["**ratio of the means**"] + [_ratio(overall[m]) for m in stats.methods]
        )
        rows.append(["**geometric mean**"] + [_ratio(v) for v in geometric])
        lines += _md(["data set", *stats.methods], rows)
    iterations = stats.mean("n_iter", complete=False)
    with_iter = [m for m in stats.methods if iterations[m].notna().any()]
    if with_iter:
        lines += [
            "",
            "Mean number of iterations (`n_iter_`: epochs of the networks, "
            "boosting rounds, solver iterations) of the methods that report one:",
            "",
        ]
        rows = [
            [name] + [_num(v, 1) for v in iterations.loc[name, with_iter]]
            for name in stats.sets
        ]
        lines += _md(["data set", *with_iter], rows)
    large = [s for s in stats.sets if info[s]["rows"] > _datasets.SMALL_ROWS]
    if "emd" in stats.methods and large:
        n_train = stats.mean("n_train", complete=False)["emd"]
        per_rows = 1000 * times["emd"] / n_train
        per_epoch = 1000 * per_rows / iterations["emd"]
        rows = [
            [
                name,
                _num(n_train[name], 0),
                _num(times.loc[name, "emd"], 2),
                _num(per_rows[name], 3),
                _num(iterations.loc[name, "emd"], 1),
                _num(per_epoch[name], 2),
            ]
            for name in large
        ]
        lines += [
            "",
            "Is `emd`'s fit time linear in the number of rows? On the data sets "
            f"of more than {_count(_datasets.SMALL_ROWS)} rows: seconds per 1 000 "
            "training rows, and milliseconds per 1 000 rows and epoch (the number of "
            "epochs varies with early stopping; the width of the input too).",
            "",
        ]
        lines += _md(
            [
                "data set",
                "training rows",
                "fit time (s)",
                "s per 1 000 rows",
                "epochs",
                "ms per 1 000 rows and epoch",
            ],
            rows,
        )
        finite = per_epoch[large].dropna()
        if len(finite) > 1:
            lines += [
                "",
                f"Per 1 000 rows and epoch: {finite.min():.2f} to "
                f"{finite.max():.2f} ms (largest / smallest "
                f"{finite.max() / finite.min():.2f}).",
            ]
    return lines


def candidates_section(stats: Stats, info: dict, candidates: list[str]) -> list[str]:
    mae = stats.mean("mae")
    lines = [
        "Each candidate against `emd`: geometric mean over data sets of the ratio "
        "of mean MAEs (below 1: lower error than `emd`; 0.001 added to both), "
        "and the data sets where its mean MAE is lower / the same / higher.",
        "",
    ]
    subsets = _parts(stats.sets, info)
    rows = []
    for method in candidates:
        cells = [method]
        for _, chosen in subsets:
            pair = mae.loc[chosen, [method, "emd"]].dropna()
            diff = pair[method] - pair["emd"]
            ratio = (
                np.nan
                if pair.empty
                else np.exp(
                    np.mean(np.log((pair[method] + 1e-3) / (pair["emd"] + 1e-3)))
                )
            )
            cells += [
                _num(ratio, 3),
                f"{int((diff < 0).sum())} / {int((diff == 0).sum())} / "
                f"{int((diff > 0).sum())}",
            ]
        rows.append(cells)
    header = ["candidate"]
    for label, chosen in subsets:
        header += [
            f"MAE / emd, {label} ({len(chosen)})",
            f"lower / same / higher, {label}",
        ]
    return lines + _md(header, rows)


def failures_section(stats: Stats) -> list[str]:
    failed = stats.results[stats.results["error"] != ""]
    if failed.empty:
        return []
    rows = []
    for (name, method), group in failed.groupby(["set", "method"], sort=False):
        errors = group["error"].value_counts()
        rows.append(
            [
                name,
                method,
                f"{len(group)} of {stats.count.loc[name, method]}",
                "; ".join(f"`{e}`" for e in errors.index[:2]),
            ]
        )
    return [
        "",
        "## Failed fits",
        "",
        "Fits that raised; the method has no mean on these data sets and ranks "
        "last there.",
        "",
        *_md(["data set", "method", "failed partitions", "error"], rows),
    ]


def methods_section(methods: dict[str, Method], names: list[str]) -> list[str]:
    rows = []
    for name in names:
        method = methods[name]
        try:
            shown = f"`{method.factory(SEED)!r}`".replace("\n", " ")
        except Exception as error:
            shown = f"(cannot be built: {_first_line(error)})"
        shown = re.sub(r"\s+", " ", shown)
        rows.append(
            [f"`{name}`", method.label, shown, method.why or "library defaults"]
        )
    return _md(["name", "method", "as built for partition 0", "changes"], rows)


def _cell(stats: Stats, name: str, method: str, metric: str) -> str:
    mean = stats.mean(metric).loc[name, method]
    if np.isnan(mean):
        return "-"
    return f"{mean:.3f} ± {stats.std(metric).loc[name, method]:.3f}"


def reference_section(stats: Stats) -> list[str]:
    """Published results on the orreview sets (outer protocol only)."""
    lines = []
    ours = [m for m in ("emd", "ce") if m in stats.methods]
    orca = [d for d in stats.sets if d in ORCA]
    if orca and ours:
        lines += [
            "",
            "## Published references on the same partitions (ORCA)",
            "",
            "ORCA tutorial results (Sánchez-Monedero et al.), same partitions and "
            "preprocessing; SVORIM and SVC1V1 tuned by 5-fold CV inside each training "
            "part. 'met' means our mean MAE is at most the best reference's mean "
            "plus one of its standard deviations.",
            "",
        ]
        rows = []
        for name in orca:
            refs = ORCA[name]
            for metric in ("mae", "amae", "accuracy"):
                cells = [name, metric]
                cells += [
                    f"{refs[r][metric][0]:.3f} ± {refs[r][metric][1]:.3f}"
                    for r in ("POM", "SVORIM", "SVC1V1")
                ]
                cells += [_cell(stats, name, m, metric) for m in ours]
                verdict = ""
                value = stats.mean("mae").loc[name].get("emd", np.nan)
                if metric == "mae" and np.isfinite(value):
                    best = min(refs.values(), key=lambda r: r["mae"][0])["mae"]
                    met = value <= best[0] + best[1]
                    verdict = (
                        f"{'met' if met else 'not met'} ({value:.3f} vs "
                        f"{best[0]:.3f} + {best[1]:.3f})"
                    )
                rows.append([*cells, verdict])
        lines += _md(
            ["data set", "metric", "POM", "SVORIM", "SVC1V1", *ours, "emd vs best"],
            rows,
        )
    toc = [d for d in stats.sets if d in TOCUCO_MAE]
    if toc and ours:
        lines += [
            "",
            "## Protocol-level references (TOC-UCO, MAE)",
            "",
            "Ayllón-Gavilán et al.: 30 stratified 70/30 partitions (not the ones "
            "used here), hyper-parameters chosen by 3-fold CV on AMAE, class-balanced "
            "losses. Comparable to about one standard deviation.",
            "",
        ]
        rows = [
            [name]
            + [f"{m:.3f} ± {s:.3f}" for m, s in TOCUCO_MAE[name]]
            + [_cell(stats, name, m, "mae") for m in ours]
            for name in toc
        ]
        lines += _md(["data set", *TOCUCO_METHODS, *ours], rows)
    return lines


def _ticks(top: float) -> list[float]:
    ticks = [0.0, 1.0]
    while ticks[-1] < top:
        step = ticks[-1]
        ticks += [2 * step, 5 * step, 10 * step]
    return ticks[: next(i for i, t in enumerate(ticks) if t >= top) + 1]


def gap_figure(stats: Stats, info: dict, path: Path) -> bool:
    """MAE gap to the best method per data set, sets grouped by part.

    Returns False (and writes nothing) without matplotlib.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    gap = gaps(stats.mean("mae"))
    positions, labels, spans, x = [], [], [], 0.0
    for part in _datasets.PARTS:
        chosen = [s for s in stats.sets if info[s]["part"] == part]
        if not chosen:
            continue
        spans.append((part, x, x + len(chosen) - 1))
        positions += [x + i for i in range(len(chosen))]
        labels += chosen
        x += len(chosen) + 1
    where = dict(zip(labels, positions, strict=True))
    fig, ax = plt.subplots(figsize=(max(7.0, 0.34 * len(labels) + 3.5), 5.0))
    markers = "osD^vP<>Xph*"
    colors = plt.get_cmap("tab10").colors
    n = len(stats.methods)
    offsets = np.linspace(-0.3, 0.3, n) if n > 1 else [0.0]
    for i, method in enumerate(stats.methods):
        values = gap[method].dropna()
        ax.scatter(
            [where[s] + offsets[i] for s in values.index],
            values.to_numpy(),
            marker=markers[i % len(markers)],
            color=colors[i % len(colors)],
            s=26,
            label=method,
            zorder=3,
        )
    finite = gap.to_numpy()[np.isfinite(gap.to_numpy())]
    ticks = _ticks(max(float(finite.max()) if finite.size else 0.0, NEAR_BEST))
    ax.set_yscale("symlog", linthresh=1.0, linscale=0.5)
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_ylim(-0.3, ticks[-1] * 1.15)
    ax.axhline(
        NEAR_BEST,
        color="0.4",
        linestyle="--",
        linewidth=0.8,
        zorder=1,
        label=f"{NEAR_BEST:g} % above the best",
    )
    ax.set_xticks(positions, labels, rotation=60, ha="right", rotation_mode="anchor")
    ax.set_xlim(min(positions) - 0.7, max(positions) + 0.7)
    # Dotted lines between the groups within a part, the group named above.
    for i, name in enumerate(labels):
        group = info[name]["group"]
        if i == 0 or info[labels[i - 1]]["group"] != group:
            if i and positions[i] - positions[i - 1] == 1:
                ax.axvline(positions[i] - 0.5, color="0.6", linestyle=":", lw=0.8)
            ax.text(
                positions[i] - 0.4,
                0.985,
                group,
                transform=ax.get_xaxis_transform(),
                ha="left",
                va="top",
                fontsize="x-small",
                color="0.35",
            )
    for k, (part, start, end) in enumerate(spans):
        ax.text(
            (start + end) / 2,
            1.01,
            f"{part} part",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
        )
        if k:
            ax.axvline(start - 1, color="black", linewidth=0.8)
    ax.set_ylabel("mean MAE above the best method (% of the best)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(
        loc="upper left", bbox_to_anchor=(1.04, 1.0), frameon=False, title="method"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


@dataclass
class Run:
    """What a report shows, besides the results."""

    protocol: str
    sets: list[str]
    methods: list[str]
    info: dict
    command: str
    elapsed: float
    partitions: str
    notes: list[str]
    candidates: list[str]
    catalogue: dict[str, Method]


def report(results: pd.DataFrame, run: Run, figure_name: str | None) -> str:
    stats = Stats(results, run.sets, run.methods)
    selection = [s for s in run.sets if run.info[s]["part"] == "selection"]
    outer = run.protocol == "outer"
    lines = [
        "# Predictive quality on the development collection",
        "",
        f"Generated by `{run.command}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {_machine()}.",
        "",
        f"Versions: {_versions()}.",
        "",
        f"Wall time of this invocation: {run.elapsed / 60:.1f} min; total fit time "
        f"of all {len(results)} fits shown (cached ones included): "
        f"{results['fit_time'].sum() / 60:.1f} min.",
        "",
        "## Protocol",
        "",
        f"- Protocol `{run.protocol}`: "
        + (
            "each method is fitted on the training part of each partition and "
            "scored on its test part."
            if outer
            else "the training part of each partition is split again, stratified "
            f"{1 - INNER_TEST_SIZE:.0%}/{INNER_TEST_SIZE:.0%} with the seed "
            f"{INNER_SEED} + partition index; each method is fitted on the inner "
            "training part and scored on the inner validation part. No test part "
            "is read."
        ),
        f"- Data: {len(run.sets)} data sets of the development collection "
        f"({len(selection)} in the selection part, {len(run.sets) - len(selection)} "
        "held out: never used to choose defaults). Partitions: the published "
        "75/25 hold-outs where they exist (orreview), otherwise stratified 75/25 "
        "partitions drawn with "
        f"`StratifiedShuffleSplit(random_state={_datasets.SPLIT_SEED})`: 30 for "
        f"sets of at most {_count(_datasets.SMALL_ROWS)} rows, 10 up to "
        f"{_count(_datasets.MEDIUM_ROWS)}, 5 above. Used here: {run.partitions}.",
        "- Preprocessing, fitted on the part a method is fitted on: text columns "
        "(object, string, category or bool) one-hot encoded with `OneHotEncoder("
        'handle_unknown="ignore")`, for LightGBM pandas `category` columns '
        "instead; numeric attributes constant in that part dropped, the others "
        "z-scored with its mean and standard deviation (ORCA).",
        f"- Every estimator with a `random_state` gets {SEED} + the partition "
        "index; estimators with a `classes` parameter (EMDClassifier) get the "
        "full class list of the data set, so that a class missing from a "
        "training part keeps its place in the order.",
        "- Cells: mean ± standard deviation over the partitions; best mean in "
        "bold. MAE and AMAE count errors in class ranks; RPS is the ranked "
        "probability score of `predict_proba` (no 1/Q factor), with a zero "
        "column for a class the training part lacks.",
        "- A fit that raises is recorded as failed (see *Failed fits*): the "
        "method gets no mean on that data set and ranks last there.",
        *[f"- {note}" for note in run.notes],
        "",
        "## Methods",
        "",
        *methods_section(run.catalogue, run.methods),
        "",
        "## The collection",
        "",
        "Features after encoding: numeric attributes not constant over the whole "
        "set plus one-hot columns of its text columns (a training part may have "
        "fewer). Partitions: how many the set has, and how many this run used.",
        "",
        *collection_section(run.info, run.sets),
        "",
        "## Mean MAE rank",
        "",
        *rank_section(stats, run.info),
        "",
        "## MAE per data set",
        "",
        *_metric_table(stats, "mae"),
        "",
        "## Gap to the best method",
        "",
        *gap_section(stats, run.info, figure_name),
    ]
    if "median" in run.methods and len(run.methods) > 1:
        lines += ["", "## Worse than the constant baseline", ""]
        lines += median_section(stats, run.info)
    if "emd" in run.methods and "ce" in run.methods:
        lines += ["", "## Squared EMD against cross-entropy", ""]
        lines += emd_ce_section(stats, run.info)
    if "emd" in run.methods and run.candidates:
        lines += ["", "## Candidates against the defaults", ""]
        lines += candidates_section(stats, run.info, run.candidates)
    lines += ["", "## Fit time", "", *time_section(stats, run.info)]
    for metric in METRICS[1:]:
        lines += ["", f"## {METRIC_TITLES[metric]}", "", *_metric_table(stats, metric)]
    if outer:
        lines += reference_section(stats)
    lines += failures_section(stats)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


# ---------------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="built-in methods: "
        + ", ".join(f"{name} ({m.label})" for name, m in BUILTIN.items()),
    )
    parser.add_argument(
        "--data-dir",
        default=str(_datasets.DEFAULT_DATA_DIR),
        help="the shared datasets folder, holding orreview/, regression_sources/ "
        "and extra/ (default: ../shared/datasets from the repository)",
    )
    parser.add_argument(
        "--protocol",
        choices=("outer", "inner"),
        default="outer",
        help="outer: fit on training parts, score on test parts (default); "
        "inner: fit and score inside the training parts, to choose defaults",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_PARTITIONS} partitions per data set; writes "
        "quality_quick.md (quality_inner_quick.md with --protocol inner)",
    )
    parser.add_argument(
        "--partitions",
        type=at_least(1),
        default=None,
        metavar="N",
        help="use the first N partitions of each data set (default: all)",
    )
    parser.add_argument(
        "--partitions-large",
        type=at_least(1),
        default=None,
        metavar="M",
        help=f"use the first M partitions of the data sets of more than "
        f"{_datasets.SMALL_ROWS} rows (default: as --partitions)",
    )
    parser.add_argument(
        "--sets",
        nargs="+",
        choices=_datasets.COLLECTION,
        default=None,
        metavar="SET",
        help="data sets by name, e.g. ERA, bank8FM-10, housing_sat (default: all)",
    )
    parser.add_argument(
        "--groups",
        nargs="+",
        choices=list(_datasets.GROUPS),
        default=None,
        help="data sets of these groups only (default: all)",
    )
    parser.add_argument(
        "--part",
        choices=(*_datasets.PARTS, "all"),
        default=None,
        help="data sets of one part only (default: all with --protocol outer; "
        "selection with --protocol inner, unless --sets names the sets)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=None,
        metavar="NAME",
        help="built-in methods or candidates to run (default: every built-in "
        "method and every candidate)",
    )
    parser.add_argument(
        "--candidates",
        default=None,
        metavar="FILE.py",
        help='a Python file defining CANDIDATES = {"name": factory}, where '
        "factory(seed) returns an unfitted classifier",
    )
    parser.add_argument(
        "--jobs",
        type=at_least(1),
        default=1,
        help="worker processes, one thread each",
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="recompute the selected methods instead of reading the cache",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="report path (default: results/quality.md for the full outer run, "
        "quality_quick.md with --quick, quality_partial.md for any other "
        "selection; quality_inner*.md likewise with --protocol inner)",
    )
    args = parser.parse_args(argv)
    if args.candidates is not None and not Path(args.candidates).is_file():
        parser.error(f"--candidates: no file {args.candidates}")
    return args


def _first(count: int | None) -> str:
    if count is None:
        return "all partitions"
    return "the first partition" if count == 1 else f"the first {count} partitions"


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _choose_sets(args, part: str) -> list[str]:
    sets = [
        name
        for name in _datasets.COLLECTION
        if (args.sets is None or name in args.sets)
        and (args.groups is None or _datasets.group_of(name) in args.groups)
        and (part == "all" or _datasets.part_of(name) == part)
    ]
    # The selection part first, each part in the order of the collection.
    return sorted(sets, key=lambda s: _datasets.PARTS.index(_datasets.part_of(s)))


def _describe(dataset: _datasets.Dataset, used: int) -> dict:
    features = _datasets.Preprocessor().fit(dataset.features).n_features_out_
    return {
        "group": dataset.group,
        "part": dataset.part,
        "rows": len(dataset.y),
        "features": features,
        "classes": dataset.n_classes,
        "partitions": dataset.n_splits,
        "used": used,
        "note": "published" if dataset.official else dataset.note,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    argv = list(argv if argv is not None else sys.argv[1:])
    started = time.perf_counter()
    outer = args.protocol == "outer"
    candidates = str(Path(args.candidates).resolve()) if args.candidates else None
    try:
        catalogue = all_methods(candidates)
    except Exception as error:
        return _fail(f"cannot read the candidates: {error}")
    candidate_names = [m for m in catalogue if m not in BUILTIN]
    if args.methods is not None:
        unknown = [m for m in args.methods if m not in catalogue]
        if unknown:
            return _fail(
                f"unknown methods {unknown}; known: {', '.join(catalogue)}"
                + ("" if candidates else " (candidates need --candidates)")
            )
    methods = [m for m in catalogue if args.methods is None or m in args.methods]
    notes = []
    for method, package in OPTIONAL.items():
        if method in methods and importlib.util.find_spec(package) is None:
            methods.remove(method)
            notes.append(f"`{method}` skipped: {package} is not installed.")
            print(
                f"warning: {package} is not installed; {method} skipped.",
                file=sys.stderr,
            )
    if not methods:
        return _fail("no method to run.")

    part = args.part or ("selection" if not outer and args.sets is None else "all")
    sets = _choose_sets(args, part)
    if not sets:
        return _fail(f"no data set matches --sets, --groups and --part {part}.")
    if not outer and part == "selection":
        notes.append(
            "The held-out data sets are left out: the inner protocol runs on the "
            "selection part unless `--part` or `--sets` say otherwise."
        )
    if not outer and any(_datasets.part_of(s) == "held-out" for s in sets):
        notes.append(
            "**Held-out data sets in an inner run**: their results must not be "
            "used to choose defaults."
        )
        print("warning: held-out data sets in an inner run.", file=sys.stderr)
    try:
        _datasets.check_data_dir(args.data_dir, {_datasets.group_of(s) for s in sets})
    except FileNotFoundError as error:
        return _fail(str(error))
    data_dir = str(Path(args.data_dir).resolve())

    if outer:
        restricted = {
            "--sets": args.sets,
            "--groups": args.groups,
            "--part": args.part not in (None, "all"),
            "--methods": args.methods,
            "--candidates": args.candidates,
            "--partitions": args.partitions,
            "--partitions-large": args.partitions_large,
        }
    else:
        restricted = {
            "--sets": args.sets,
            "--groups": args.groups,
            "--part": args.part not in (None, "selection"),
            "--methods": args.methods,
        }
    chosen = [option for option, given in restricted.items() if given]
    stem = "quality" if outer else "quality_inner"
    stem += "_quick" if args.quick else "_partial" if chosen else ""
    output = Path(args.output) if args.output else RESULTS / f"{stem}.md"
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return _fail(f"cannot write to {output.parent}: {error}")
    if chosen or args.quick:
        notes.append(
            "**A partial run**, chosen by "
            + ", ".join(chosen + (["--quick"] if args.quick else []))
            + ": not the full benchmark."
        )
    if candidates:
        notes.append(f"Candidates from `{args.candidates}`.")

    small = args.partitions or (QUICK_PARTITIONS if args.quick else None)
    large = args.partitions_large or small
    partitions = f"{_first(small)} of each data set"
    if large != small:
        partitions = (
            f"{_first(small)} of the data sets of at most "
            f"{_count(_datasets.SMALL_ROWS)} rows, {_first(large)} of the larger ones"
        )
    info, wanted = {}, []
    for name in sets:
        dataset = _dataset(name, data_dir)
        limit = large if len(dataset.y) > _datasets.SMALL_ROWS else small
        used = min(limit or dataset.n_splits, dataset.n_splits)
        info[name] = _describe(dataset, used)
        wanted += [(name, split) for split in range(used)]

    wanted_set = set(wanted)
    frames, todo, paths = [], [], {}
    for method in methods:
        try:
            paths[method] = path = cache_file(method, catalogue[method], args.protocol)
        except Exception as error:
            return _fail(f"cannot build method {method}: {_first_line(error)}")
        cached = pd.DataFrame(columns=COLUMNS) if args.refresh else read_cache(path)
        pairs = list(zip(cached["set"], cached["split"], strict=True))
        frames.append(cached[[pair in wanted_set for pair in pairs]])
        done = set(pairs)
        todo += [
            (name, split, method) for name, split in wanted if (name, split) not in done
        ]
    print(
        f"{len(wanted) * len(methods)} fits wanted ({len(sets)} data sets, "
        f"{len(methods)} methods, protocol {args.protocol}), {len(todo)} to "
        f"compute with {args.jobs} job(s).",
        file=sys.stderr,
    )
    # Slow methods and large data first, so the workers finish together.
    todo.sort(
        key=lambda t: (
            not catalogue[t[2]].revision and t[2] != "mlp",
            -info[t[0]]["rows"],
        )
    )
    rows = []
    if todo:
        tasks = (
            delayed(_task)(data_dir, name, split, method, candidates, args.protocol)
            for name, split, method in todo
        )
        runner = Parallel(n_jobs=args.jobs, return_as="generator_unordered")
        shown = time.perf_counter()
        for count, row in enumerate(runner(tasks), 1):
            append_cache(paths[row["method"]], row)
            rows.append(row)
            if row["error"]:
                print(
                    f"  {row['method']} failed on {row['set']}, partition "
                    f"{row['split']}: {row['error']}",
                    file=sys.stderr,
                )
            if count == len(todo) or time.perf_counter() - shown > 30:
                shown = time.perf_counter()
                print(
                    f"  {count}/{len(todo)} done ({(shown - started) / 60:.1f} min)",
                    file=sys.stderr,
                )
    results = pd.concat(
        [f for f in [*frames, pd.DataFrame(rows, columns=COLUMNS)] if len(f)],
        ignore_index=True,
    )
    results = results.drop_duplicates(["set", "split", "method"], keep="last")
    set_order = {name: i for i, name in enumerate(sets)}
    method_order = {name: i for i, name in enumerate(methods)}
    results = results.sort_values(
        ["set", "method", "split"],
        key=lambda c: (
            c.map(set_order)
            if c.name == "set"
            else c.map(method_order)
            if c.name == "method"
            else c
        ),
    ).reset_index(drop=True)
    results["split"] = results["split"].astype(int)
    results["error"] = results["error"].fillna("")

    splits = results.assign(
        group=results["set"].map(lambda s: info[s]["group"]),
        part=results["set"].map(lambda s: info[s]["part"]),
        protocol=args.protocol,
    )
    splits.to_csv(output.with_name(output.stem + "_splits.csv"), index=False)
    figure_path = output.with_name(output.stem + "_gap.png")
    stats = Stats(results, sets, methods)
    has_figure = gap_figure(stats, info, figure_path)
    run = Run(
        protocol=args.protocol,
        sets=sets,
        methods=methods,
        info=info,
        command=("python benchmarks/quality.py " + shlex.join(argv)).strip(),
        elapsed=time.perf_counter() - started,
        partitions=partitions,
        notes=notes,
        candidates=[m for m in candidate_names if m in methods],
        catalogue=catalogue,
    )
    output.write_text(report(results, run, figure_path.name if has_figure else None))
    print(f"Wrote {output} ({run.elapsed / 60:.1f} min).", file=sys.stderr)
    return 0


if __name__ == "__main__":
    # Run from the importable module, so that joblib's workers find the task
    # function by name instead of through this script's __main__.
    import quality

    sys.exit(quality.main())
