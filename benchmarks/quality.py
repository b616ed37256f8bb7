"""Predictive quality of EMDClassifier on real ordinal data, against baselines.

The protocol is the one of Gutierrez et al. (2016) and ORCA: the published
75/25 hold-out partitions where they exist (30 per data set; 20 of 50/24 for
pyrim10), thirty stratified 75/25 partitions drawn with a fixed seed for the data
sets that ship partition 0 only, attributes constant in the training part
dropped, z-scoring with the training statistics. Every method runs with its
defaults; nothing is tuned on the test parts.

Run from the repository root::

    python benchmarks/quality.py --jobs 2            # full run, writes the docs report
    python benchmarks/quality.py --quick --jobs 2    # 3 partitions per data set

Per-partition results are cached in ``benchmarks/results/cache/`` under a hash of
each method's parameters, so a rerun only computes what changed (``--refresh``
recomputes the selected methods).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import rankdata, wilcoxon

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
PROTOCOL = "orca-holdout-1"
# Raise it when what a network default means changes without a parameter value
# changing, so that the networks' cached results are recomputed (at 1 the keys
# are those of the first version of this script).
NETWORK_REVISION = 1
SEED = 0
METRICS = ("mae", "amae", "qwk", "accuracy", "rps")
METRIC_TITLES = {
    "mae": "MAE (lower is better)",
    "amae": "AMAE (lower is better)",
    "qwk": "QWK (higher is better)",
    "accuracy": "Accuracy (higher is better)",
    "rps": "Ranked probability score (lower is better)",
}
LOWER_IS_BETTER = {"mae": True, "amae": True, "qwk": False, "accuracy": False}
LOWER_IS_BETTER["rps"] = True


# --------------------------------------------------------------------- methods


def _emd(seed, n_classes, **params):
    from skemd import EMDClassifier

    return EMDClassifier(
        classes=np.arange(1, n_classes + 1), random_state=seed, **params
    )


def _ce(seed, n_classes, **params):
    return _emd(seed, n_classes, **{**params, "ce_weight": 1.0, "emd_weight": 0.0})


def _emd_median(seed, n_classes, **params):
    return _emd(seed, n_classes, **{**params, "decision": "median"})


def _emd_learned(seed, n_classes, **params):
    return _emd(seed, n_classes, **{**params, "ground_distance": "learned"})


def _emd_learned_alone(seed, n_classes, **params):
    # The learned distance without the cross-entropy that "auto" mixes in.
    params = {**params, "ground_distance": "learned", "ce_weight": 0.0}
    return _emd(seed, n_classes, **params)


def _emd_uniform(seed, n_classes, **params):
    return _emd(seed, n_classes, **{**params, "ground_distance": "uniform"})


def _emd_balanced(seed, n_classes, **params):
    return _emd(seed, n_classes, **{**params, "class_weight": "balanced"})


def _mlp(seed, n_classes):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(max_iter=1000, random_state=seed)


def _logat(seed, n_classes):
    from mord import LogisticAT

    return LogisticAT()


def _hgb(seed, n_classes):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=seed)


def _logreg(seed, n_classes):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000)


METHODS = {
    "emd": ("EMDClassifier (defaults)", _emd),
    "ce": ("same net, cross-entropy", _ce),
    "mlp": ("MLPClassifier", _mlp),
    "logat": ("mord LogisticAT", _logat),
    "hgb": ("HistGradientBoosting", _hgb),
    "logreg": ("LogisticRegression", _logreg),
    "emd_median": ("EMDClassifier, decision='median'", _emd_median),
    "emd_learned": ("EMDClassifier, ground_distance='learned'", _emd_learned),
    "emd_learned_alone": (
        "EMDClassifier, ground_distance='learned', ce_weight=0",
        _emd_learned_alone,
    ),
    "emd_uniform": ("EMDClassifier, ground_distance='uniform'", _emd_uniform),
    "emd_balanced": ("EMDClassifier, class_weight='balanced'", _emd_balanced),
}
# The estimators a user would pick instead of ours, ranked together.
PEERS = ("emd", "ce", "mlp", "logat", "hgb", "logreg")
# Other settings of EMDClassifier, each ranked in place of its defaults.
VARIANTS = (
    "emd_median",
    "emd_learned",
    "emd_learned_alone",
    "emd_uniform",
    "emd_balanced",
)
NETWORKS = ("emd", "ce", *VARIANTS)


def _canonical(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "get_params"):
        return (type(value).__name__, _params_of(value))
    if isinstance(value, dict):
        return sorted((k, _canonical(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


# Parameters that EMDClassifier gained after results were cached: at these
# values (their defaults) training is the same as before they existed, so they
# leave the keys of the cached results as they were.
_LATER_PARAMETERS = {
    "warm_start": False,
    "class_weight": None,
    "learning_rate": "constant",
    "power_t": 0.5,
}


def _params_of(estimator):
    # The seed and the class list follow from the partition and the data set.
    params = estimator.get_params(deep=False)
    if type(estimator).__name__ == "EMDClassifier":
        params = {
            k: v
            for k, v in params.items()
            if not (k in _LATER_PARAMETERS and v == _LATER_PARAMETERS[k])
        }
    return sorted(
        (k, _canonical(v))
        for k, v in params.items()
        if k not in ("random_state", "classes", "verbose")
    )


def build(method: str, seed: int, n_classes: int, emd_params: dict):
    """The estimator of ``method``; ``emd_params`` replace network defaults."""
    if method in NETWORKS:
        return METHODS[method][1](seed, n_classes, **emd_params)
    return METHODS[method][1](seed, n_classes)


def method_key(method: str, emd_params: dict) -> str:
    """Short hash of a method's estimator class and parameters."""
    estimator = build(method, 0, 3, emd_params)
    text = repr((PROTOCOL, type(estimator).__qualname__, _params_of(estimator)))
    if method in NETWORKS and NETWORK_REVISION > 1:
        text += f"revision {NETWORK_REVISION}"
    return hashlib.sha1(text.encode()).hexdigest()[:10]


# ---------------------------------------------------------------- evaluation


def full_proba(estimator, X, n_classes: int) -> np.ndarray:
    """``predict_proba`` with one column per class ``1..n_classes``."""
    proba = estimator.predict_proba(X)
    if hasattr(estimator, "n_class_"):
        # mord: columns run from the lowest to the highest training label.
        labels = estimator.classes_.min() + np.arange(proba.shape[1])
    else:
        labels = np.asarray(estimator.classes_)
    full = np.zeros((len(X), n_classes))
    full[:, labels.astype(int) - 1] = proba
    return full / full.sum(axis=1, keepdims=True)


def scores(y_true, y_pred, proba, n_classes: int) -> dict:
    """Every metric of one test part; classes are ``1..n_classes``."""
    from skemd import metrics

    classes = np.arange(1, n_classes + 1)
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
    }


@cache
def _dataset(name: str, data_dir: str):
    return _datasets.load(name, data_dir)


def evaluate(estimator, dataset, split: int) -> dict:
    """Fit on the training part of a partition, score on its test part."""
    X_train, y_train, X_test, y_test = dataset.split(split)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y_pred = np.asarray(estimator.predict(X_test)).astype(int)
        proba = (
            full_proba(estimator, X_test, dataset.n_classes)
            if hasattr(estimator, "predict_proba")
            else None
        )
    return {
        **scores(y_test, y_pred, proba, dataset.n_classes),
        "fit_time": fit_time,
        # LogisticRegression keeps one count per class problem: the most.
        "n_iter": np.max(getattr(estimator, "n_iter_", np.nan)),
    }


def _task(data_dir, name, split, method, emd_params, one_thread):
    if one_thread:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(1)
        threadpool_limits(1)
    dataset = _dataset(name, data_dir)
    estimator = build(method, SEED + split, dataset.n_classes, emd_params)
    return {"dataset": name, "split": split, "method": method} | evaluate(
        estimator, dataset, split
    )


# -------------------------------------------------------------------- cache

COLUMNS = ["dataset", "split", "method", *METRICS, "fit_time", "n_iter"]


def _cache_file(method: str, emd_params: dict) -> Path:
    return CACHE / f"{method}-{method_key(method, emd_params)}.csv"


def read_cache(method: str, emd_params: dict) -> pd.DataFrame:
    path = _cache_file(method, emd_params)
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.read_csv(path)
    return frame.drop_duplicates(["dataset", "split"], keep="last")


def append_cache(row: dict, emd_params: dict) -> None:
    path = _cache_file(row["method"], emd_params)
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


def _versions() -> str:
    parts = [f"python {platform.python_version()}"]
    for package in ("skemd", "numpy", "scikit-learn", "torch", "skorch", "mord"):
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


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of every metric per data set and method."""
    grouped = results.groupby(["dataset", "method"], sort=False)
    summary = grouped[[*METRICS, "fit_time"]].agg(["mean", "std"])
    summary["n_splits"] = grouped.size()
    return summary


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
    per_split: pd.DataFrame, ours: str, other: str, datasets: list[str]
) -> list[str]:
    """Per data set: mean MAE difference, partition counts and a paired test."""
    lines = [
        f"Paired per partition, {METHODS[ours][0]} against "
        f"{METHODS[other][0]}: mean MAE difference (negative: {METHODS[ours][0]} "
        "is better), partitions where it is better / tied / worse, and the "
        "two-sided p-value of the Wilcoxon signed-rank test on the paired MAEs "
        "(ties dropped). Were the two methods equal, 5 % of the data sets "
        f"({0.05 * len(datasets):.2g} of {len(datasets)}) would show a p below "
        "0.05 by chance alone.",
        "",
        "| data set | MAE difference | better / tied / worse | Wilcoxon p |",
        "|---|---|---|---|",
    ]
    below = {"better": 0, "worse": 0}
    for name in datasets:
        pair = per_split.loc[name, [ours, other]].dropna()
        delta = (pair[ours] - pair[other]).to_numpy()
        p_value = paired_test(pair[ours].to_numpy(), pair[other].to_numpy())
        if p_value < 0.05:
            below["better" if delta.mean() < 0 else "worse"] += 1
        if np.isnan(p_value):
            shown = "-"
        else:
            shown = "< 0.001" if p_value < 0.001 else f"{p_value:.3f}"
        lines.append(
            f"| {name} | {delta.mean():+.4f} | {int((delta < 0).sum())} / "
            f"{int((delta == 0).sum())} / {int((delta > 0).sum())} | {shown} |"
        )
    lines += [
        "",
        f"p below 0.05: {METHODS[ours][0]} better on {below['better']}, worse on "
        f"{below['worse']} of {len(datasets)} data sets.",
        "",
    ]
    return lines


def mean_ranks(summary: pd.DataFrame, datasets, methods, metric="mae") -> pd.Series:
    """Average over data sets of each method's rank on the mean metric (ties shared)."""
    means = summary[(metric, "mean")].unstack("method").loc[list(datasets), methods]
    sign = 1 if LOWER_IS_BETTER[metric] else -1
    ranks = means.apply(
        lambda row: pd.Series(rankdata(sign * row), index=methods), axis=1
    )
    return ranks.mean().sort_values()


def _cell(summary, dataset, method, metric, best) -> str:
    try:
        mean = summary.loc[(dataset, method), (metric, "mean")]
        std = summary.loc[(dataset, method), (metric, "std")]
    except KeyError:
        return ""
    if np.isnan(mean):
        return "n/a"
    text = f"{mean:.3f} ± {0.0 if np.isnan(std) else std:.3f}"
    return f"**{text}**" if best else text


def _table(summary, datasets, methods, metric) -> list[str]:
    lines = [
        "| data set | " + " | ".join(METHODS[m][0] for m in methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for dataset in datasets:
        means = [summary[(metric, "mean")].get((dataset, m), np.nan) for m in methods]
        finite = [v for v in means if not np.isnan(v)]
        target = (min if LOWER_IS_BETTER[metric] else max)(finite) if finite else None
        cells = [
            _cell(summary, dataset, m, metric, target is not None and v == target)
            for m, v in zip(methods, means, strict=True)
        ]
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    return lines


def report(
    results,
    datasets,
    methods,
    notes,
    command,
    elapsed,
    emd_params,
    figure_name=None,
    subset=None,
) -> str:
    summary = summarise(results)
    official = [d for d in datasets if d in _datasets.OFFICIAL]
    lines = [
        "# Predictive quality on real ordinal data",
        "",
        f"Generated by `{command}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Versions: {_versions()}.",
        "",
        f"Wall time of this invocation: {elapsed / 60:.1f} min; total fit time of "
        f"all {len(results)} fits shown (cached ones included): "
        f"{results['fit_time'].sum() / 60:.1f} min.",
        "",
        "## Protocol",
        "",
        "- Data: the Gutiérrez et al. (2016) ordinal benchmark (`orreview/`), "
        "classes 1..Q.",
        "- Partitions: the published 75/25 hold-outs (30 per data set; pyrim10: "
        "20 of 50/24) for "
        + ", ".join(official)
        + "; for the others, "
        + f"{_datasets.N_DRAWN_SPLITS} stratified 75/25 partitions drawn with "
        f"`StratifiedShuffleSplit(random_state={_datasets.SPLIT_SEED})`.",
        "- Preprocessing per partition (ORCA): attributes constant in the training "
        "part dropped, z-scoring with the training mean and standard deviation.",
        "- Every method runs with its defaults (MLPClassifier and "
        "LogisticRegression with `max_iter=1000`); the networks are seeded "
        "with the partition index. Nothing is tuned on test parts.",
        "- Cells: mean ± standard deviation over the partitions; best mean in "
        "bold. RPS is the ranked probability score of `predict_proba` (no "
        "1/Q factor).",
    ]
    if subset:
        lines.append(f"- **A partial run**: {subset}; not the full benchmark.")
    if emd_params:
        lines.append(
            "- The networks run with these parameters in place of the "
            f"EMDClassifier defaults: `{json.dumps(emd_params)}`."
        )
    for name, note in notes.items():
        if note:
            lines.append(f"- {name}: {note}.")
    lines += ["", "## Summary", ""]

    peers = [m for m in methods if m in PEERS]
    variants = [m for m in methods if m in VARIANTS]
    groups = [(f"{len(datasets)} data sets", datasets)]
    if official and set(official) != set(datasets):
        groups.append(
            (f"the {len(official)} data sets with published partitions", official)
        )
    if peers:
        for label, group in groups:
            ranks = mean_ranks(summary, group, peers)
            lines += [
                f"Mean rank by MAE over {label} (rank per data set on the mean MAE, "
                "ties shared; 1 is best):",
                "",
                "| method | mean rank |",
                "|---|---|",
            ]
            lines += [f"| {METHODS[m][0]} | {r:.2f} |" for m, r in ranks.items()]
            lines.append("")

    if "ce" in methods:
        mae = summary[("mae", "mean")].unstack("method")
        per_split = results.pivot_table(
            index=["dataset", "split"], columns="method", values="mae"
        )
        for ours in [m for m in ("emd", *variants) if m in methods]:
            lines += [
                f"{METHODS[ours][0]} against the same network trained with "
                "cross-entropy (mean MAE per data set):",
                "",
            ]
            for label, group in (
                ("published partitions", official),
                ("all", datasets),
            ):
                if not group:
                    continue
                diff = mae.loc[group, ours] - mae.loc[group, "ce"]
                lines.append(
                    f"- {label}: better on {int((diff < 0).sum())}, tied on "
                    f"{int((diff == 0).sum())}, worse on {int((diff > 0).sum())} of "
                    f"{len(group)} data sets."
                )
            pair = per_split[[ours, "ce"]].dropna()
            delta = pair[ours] - pair["ce"]
            lines += [
                f"- per partition: better on {int((delta < 0).sum())}, tied on "
                f"{int((delta == 0).sum())}, worse on {int((delta > 0).sum())} of "
                f"{len(delta)}.",
                "",
            ]
        if "emd" in methods:
            lines += paired_table(per_split, "emd", "ce", datasets)

    if variants and "emd" in methods and peers:
        lines += [
            "## Other settings of EMDClassifier",
            "",
            "Each setting changes one parameter of the defaults. *Rank* is its mean "
            "MAE rank when it takes the place of the defaults among the methods "
            "above; *MAE / defaults*, *AMAE / defaults* and *accuracy / defaults* "
            "are geometric means over data sets of the ratio of its mean to that of "
            "the defaults (below 1 is a lower error, above 1 a higher accuracy).",
            "",
            "| setting | rank, all | rank, published | MAE / defaults "
            "| AMAE / defaults | accuracy / defaults "
            "| MAE better / worse than defaults |",
            "|---|---|---|---|---|---|---|",
        ]
        mae = summary[("mae", "mean")].unstack("method")
        amae = summary[("amae", "mean")].unstack("method")
        accuracy = summary[("accuracy", "mean")].unstack("method")
        for variant in ["emd", *variants]:
            swapped = [variant if m == "emd" else m for m in peers]
            cells = []
            for _, group in groups:
                cells.append(f"{mean_ranks(summary, group, swapped)[variant]:.2f}")
            if len(groups) == 1:
                # Every data set has published partitions, or none has.
                cells.append(cells[0] if official else "-")
            ratio_mae = np.exp(
                np.mean(
                    np.log(
                        (mae.loc[datasets, variant] + 1e-3)
                        / (mae.loc[datasets, "emd"] + 1e-3)
                    )
                )
            )
            ratio_amae = np.exp(
                np.mean(
                    np.log(
                        (amae.loc[datasets, variant] + 1e-3)
                        / (amae.loc[datasets, "emd"] + 1e-3)
                    )
                )
            )
            ratio_acc = np.exp(
                np.mean(
                    np.log(
                        accuracy.loc[datasets, variant] / accuracy.loc[datasets, "emd"]
                    )
                )
            )
            diff = mae.loc[datasets, variant] - mae.loc[datasets, "emd"]
            cells += [
                f"{ratio_mae:.3f}",
                f"{ratio_amae:.3f}",
                f"{ratio_acc:.3f}",
                f"{int((diff < 0).sum())} / {int((diff > 0).sum())}",
            ]
            lines.append(f"| {METHODS[variant][0]} | " + " | ".join(cells) + " |")
        lines.append("")
        if figure_name:
            lines += [
                "Mean MAE of each setting, and of the same network trained with "
                "cross-entropy, relative to the defaults, per data set:",
                "",
                f"![MAE relative to the defaults per data set]({figure_name})",
                "",
            ]

    lines += _reference_section(summary, datasets, methods)
    for metric in METRICS:
        lines += ["", f"## {METRIC_TITLES[metric]}", ""]
        lines += _table(summary, datasets, methods, metric)
    lines += [
        "",
        "## Mean fit time per partition (seconds)",
        "",
        "Measured when each result was computed (cached results keep their time), "
        "one thread per worker; they vary with the load of the machine.",
        "",
    ]
    lines += [
        "| data set | " + " | ".join(METHODS[m][0] for m in methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for dataset in datasets:
        cells = [
            f"{summary[('fit_time', 'mean')].get((dataset, m), np.nan):.2f}"
            for m in methods
        ]
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(summary, datasets, methods, path: Path) -> bool:
    """Dot plot of each network setting's mean MAE relative to the defaults.

    Returns False (and writes nothing) without matplotlib or without the
    networks to compare.
    """
    shown = [
        m
        for m in ("emd_learned", "emd_learned_alone", "emd_uniform", "ce", "emd_median")
        if m in methods
    ]
    if "emd" not in methods or not shown:
        return False
    try:
        import matplotlib
        import matplotlib.ticker

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    mae = summary[("mae", "mean")].unstack("method").loc[list(datasets)]
    styles = {
        "emd_learned": ("o", "tab:red", "ground_distance='learned'"),
        "emd_learned_alone": ("v", "tab:purple", "'learned' with ce_weight=0"),
        "emd_uniform": ("s", "tab:blue", "ground_distance='uniform'"),
        "ce": ("^", "tab:gray", "cross-entropy (same network)"),
        "emd_median": ("D", "tab:green", "decision='median'"),
    }
    fig, ax = plt.subplots(figsize=(7.0, 0.38 * len(datasets) + 1.6))
    rows = np.arange(len(datasets))[::-1]
    for offset, method in zip(np.linspace(-0.24, 0.24, len(shown)), shown, strict=True):
        marker, color, label = styles[method]
        ratio = (mae[method] + 1e-3) / (mae["emd"] + 1e-3)
        ax.scatter(ratio, rows + offset, marker=marker, color=color, label=label, s=28)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(rows, datasets)
    ax.set_xlabel(
        "mean MAE relative to EMDClassifier defaults (ordinal ground distance)\n"
        "left of 1: lower error than the defaults"
    )
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.2g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%.2g"))
    ax.legend(
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=2,
        frameon=False,
        fontsize="small",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _reference_section(summary, datasets, methods) -> list[str]:
    lines = []
    ours = [m for m in NETWORKS if m in methods]
    orca = [d for d in datasets if d in ORCA]
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
            "| data set | metric | POM | SVORIM | SVC1V1 | "
            + " | ".join(METHODS[m][0] for m in ours)
            + " | EMD vs best reference |",
            "|---|---|---|---|---|" + "---|" * len(ours) + "---|",
        ]
        for dataset in orca:
            refs = ORCA[dataset]
            for metric in ("mae", "amae", "accuracy"):
                cells = [
                    f"{refs[r][metric][0]:.3f} ± {refs[r][metric][1]:.3f}"
                    for r in ("POM", "SVORIM", "SVC1V1")
                ]
                cells += [_cell(summary, dataset, m, metric, False) for m in ours]
                verdict = ""
                if metric == "mae" and "emd" in ours:
                    best = min(refs.values(), key=lambda r: r["mae"][0])["mae"]
                    value = summary.loc[(dataset, "emd"), ("mae", "mean")]
                    met = value <= best[0] + best[1]
                    verdict = (
                        f"{'met' if met else 'not met'} ({value:.3f} vs "
                        f"{best[0]:.3f} + {best[1]:.3f})"
                    )
                lines.append(
                    f"| {dataset} | {metric} | " + " | ".join(cells) + f" | {verdict} |"
                )
    toc = [d for d in datasets if d in TOCUCO_MAE]
    if toc and ours:
        names = list(TOCUCO_METHODS)
        lines += [
            "",
            "## Protocol-level references (TOC-UCO, MAE)",
            "",
            "Ayllón-Gavilán et al.: 30 stratified 70/30 partitions (not the ones "
            "used here), hyper-parameters chosen by 3-fold CV on AMAE, class-balanced "
            "losses. Comparable to about one standard deviation.",
            "",
            "| data set | "
            + " | ".join(names)
            + " | "
            + " | ".join(METHODS[m][0] for m in ours)
            + " |",
            "|---|" + "---|" * (len(names) + len(ours)),
        ]
        for dataset in toc:
            cells = [f"{m:.3f} ± {s:.3f}" for m, s in TOCUCO_MAE[dataset]]
            cells += [_cell(summary, dataset, m, "mae", False) for m in ours]
            lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    return lines


# ---------------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        default=str(_datasets.DEFAULT_DATA_DIR),
        help="folder holding orreview/ (default: ../shared/datasets from the repo)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 partitions per data set; writes quality_quick.md",
    )
    parser.add_argument(
        "--splits",
        type=at_least(1),
        default=None,
        help="use the first N partitions only",
    )
    parser.add_argument("--datasets", nargs="+", choices=_datasets.ALL, default=None)
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=None)
    parser.add_argument("--jobs", type=int, default=1, help="parallel workers")
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="recompute the selected methods instead of reading the cache",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="report path (default: results/quality.md for the full run, "
        "quality_quick.md with --quick alone, quality_partial.md for any other "
        "selection)",
    )
    parser.add_argument(
        "--emd-params",
        type=json.loads,
        default={},
        help="JSON object of EMDClassifier parameters that replace its defaults in "
        "both networks, e.g. to measure proposed defaults",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        _datasets.orreview_dir(args.data_dir)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    data_dir = str(Path(args.data_dir).resolve())
    datasets = args.datasets or list(_datasets.ALL)
    methods = args.methods or list(METHODS)
    emd_params = args.emd_params
    n_splits = args.splits if args.splits is not None else (3 if args.quick else None)

    notes, wanted = {}, []
    for name in datasets:
        dataset = _dataset(name, data_dir)
        notes[name] = dataset.note
        count = (
            dataset.n_splits if n_splits is None else min(n_splits, dataset.n_splits)
        )
        wanted += [(name, split) for split in range(count)]

    frames = []
    todo = []
    for method in methods:
        cached = (
            pd.DataFrame(columns=COLUMNS)
            if args.refresh
            else read_cache(method, emd_params)
        )
        done = set(zip(cached["dataset"], cached["split"], strict=True))
        keep = cached[
            [
                (d, s) in set(wanted)
                for d, s in zip(cached["dataset"], cached["split"], strict=True)
            ]
        ]
        frames.append(keep)
        todo += [
            (name, split, method) for name, split in wanted if (name, split) not in done
        ]
    print(
        f"{len(wanted) * len(methods)} fits wanted, {len(todo)} to compute "
        f"with {args.jobs} job(s).",
        file=sys.stderr,
    )
    # Slow methods and large data first, so the workers finish together.
    todo.sort(key=lambda t: (t[2] not in NETWORKS, -len(_dataset(t[0], data_dir).y)))
    rows = []
    if todo:
        tasks = (
            delayed(_task)(data_dir, name, split, method, emd_params, args.jobs > 1)
            for name, split, method in todo
        )
        runner = Parallel(n_jobs=args.jobs, return_as="generator_unordered")
        for done_count, row in enumerate(runner(tasks), 1):
            append_cache(row, emd_params)
            rows.append(row)
            if done_count % 50 == 0 or done_count == len(todo):
                print(
                    f"  {done_count}/{len(todo)} done "
                    f"({(time.perf_counter() - started) / 60:.1f} min)",
                    file=sys.stderr,
                )
    results = pd.concat(
        [f for f in [*frames, pd.DataFrame(rows, columns=COLUMNS)] if len(f)],
        ignore_index=True,
    )
    results = results.drop_duplicates(["dataset", "split", "method"], keep="last")
    order = {name: i for i, name in enumerate(datasets)}
    results = results.sort_values(
        ["dataset", "split", "method"],
        key=lambda c: c.map(order) if c.name == "dataset" else c,
    ).reset_index(drop=True)

    # Only the full run writes the report the documentation shows.
    selected = {
        "--splits": args.splits is not None,
        "--datasets": args.datasets is not None,
        "--methods": args.methods is not None,
        "--emd-params": bool(emd_params),
    }
    chosen = [option for option, given in selected.items() if given]
    if chosen:
        stem = "quality_partial"
    else:
        stem = "quality_quick" if args.quick else "quality"
    subset = None
    if chosen or args.quick:
        subset = "chosen by " + ", ".join(chosen + (["--quick"] if args.quick else []))
    output = Path(args.output) if args.output else RESULTS / f"{stem}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    results.to_csv(output.with_name(output.stem + "_splits.csv"), index=False)
    command = "python benchmarks/quality.py " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    elapsed = time.perf_counter() - started
    figure_path = output.with_name(output.stem + "_ground_distance.png")
    has_figure = figure(summarise(results), datasets, methods, figure_path)
    output.write_text(
        report(
            results,
            datasets,
            methods,
            notes,
            command.strip(),
            elapsed,
            emd_params,
            figure_path.name if has_figure else None,
            subset,
        )
    )
    print(f"Wrote {output} ({elapsed / 60:.1f} min).", file=sys.stderr)
    return 0


if __name__ == "__main__":
    # Run from the importable module, so that joblib's workers find the task
    # function by name instead of through this script's __main__.
    import quality

    sys.exit(quality.main())
