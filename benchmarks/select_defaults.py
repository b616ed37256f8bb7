"""Choose EMDClassifier defaults by inner validation on the training parts only.

For every data set of the benchmark, the training part of each of the first few
partitions is split once more (stratified 75/25, fixed seed) into an inner
training and an inner validation part; each candidate setting is fitted on the
former and scored on the latter. No test part of any partition is read, so the
partitions that ``quality.py`` reports on stay untouched by the selection.

Each fit is scored with every decision rule at once (the rules only differ in how
``predict_proba`` becomes a class), and a candidate with ``members > 1`` fits that
many networks with different seeds and scores the average of their
probabilities for the first 1, 3, ... of them.

Run from the repository root::

    python benchmarks/select_defaults.py --jobs 2 --candidates base early_stopping
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import sys
import time
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import gmean, rankdata
from sklearn.model_selection import StratifiedShuffleSplit

_HERE = str(Path(__file__).resolve().parent)
sys.path.insert(0, _HERE)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_HERE, os.environ.get("PYTHONPATH")) if p
)

import _datasets  # noqa: E402
from _args import at_least  # noqa: E402

CACHE = Path(_HERE) / "results" / "cache"
INNER_SEED = 7
DECISIONS = ("argmax", "median")

# Candidate settings: changes to the EMDClassifier defaults of the time of the
# search, written out in full so that later changes of the defaults do not
# change what a cached candidate means.
BASE = {
    "hidden_layer_sizes": (100,),
    "alpha": 1e-4,
    "learning_rate_init": 1e-3,
    "batch_size": "auto",
    "max_iter": 200,
    "tol": 1e-4,
    "n_iter_no_change": 10,
    "early_stopping": False,
    "ce_weight": 0.0,
    "emd_weight": 1.0,
    "dropout": 0.0,
}
CANDIDATES = {
    "base": {},
    "early_stopping": {"early_stopping": True},
    "es_patience20": {"early_stopping": True, "n_iter_no_change": 20},
    "ce0.1": {"ce_weight": 0.1},
    "ce0.3": {"ce_weight": 0.3},
    "alpha1e-2": {"alpha": 1e-2},
    "alpha1": {"alpha": 1.0},
    "alpha10": {"alpha": 10.0},
    "dropout0.2": {"dropout": 0.2},
    "wide200": {"hidden_layer_sizes": (200,)},
    "deep100x2": {"hidden_layer_sizes": (100, 100)},
    "narrow32": {"hidden_layer_sizes": (32,)},
    "lr3e-3": {"learning_rate_init": 3e-3},
    "lr1e-2": {"learning_rate_init": 1e-2},
    "iter500": {"max_iter": 500},
    "batch32": {"batch_size": 32},
    "ce_only": {"ce_weight": 1.0, "emd_weight": 0.0},
    # Second round: combinations of the changes that helped alone.
    "deep_lr3e-3": {"hidden_layer_sizes": (100, 100), "learning_rate_init": 3e-3},
    "deep_lr3e-3_ce0.1": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "ce_weight": 0.1,
    },
    "deep_lr3e-3_alpha1e-2": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "alpha": 1e-2,
    },
    "lr3e-3_ce0.1": {"learning_rate_init": 3e-3, "ce_weight": 0.1},
    "deep_batch32": {"hidden_layer_sizes": (100, 100), "batch_size": 32},
    "deep_lr3e-3_x3": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "members": 3,
    },
    "deep_lr3e-3_ce_only_x3": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "ce_weight": 1.0,
        "emd_weight": 0.0,
        "members": 3,
    },
    "deep_lr3e-3_ce_only": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "ce_weight": 1.0,
        "emd_weight": 0.0,
    },
    # Third round: the stopping rule. The squared EMD is about ten times smaller
    # than cross-entropy, so an absolute tol stops it sooner.
    "deep_lr3e-3_tol1e-5": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "tol": 1e-5,
    },
    "deep_lr3e-3_tol0": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "tol": 0.0,
    },
    "deep_lr3e-3_patience25": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
    },
    "deep_lr3e-3_ce_only_tol1e-5": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "ce_weight": 1.0,
        "emd_weight": 0.0,
        "tol": 1e-5,
    },
    "deep_lr3e-3_ce_only_patience25": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "ce_weight": 1.0,
        "emd_weight": 0.0,
        "n_iter_no_change": 25,
    },
    # Fourth round: with 25 epochs of patience, more of the small data sets run
    # into max_iter (200 epochs of one or two batches).
    "deep_lr3e-3_patience25_iter500": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "max_iter": 500,
    },
    "deep_lr3e-3_ce_only_patience25_iter500": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "ce_weight": 1.0,
        "emd_weight": 0.0,
        "n_iter_no_change": 25,
        "max_iter": 500,
    },
    # Fifth round: the mini-batch size on small data. With min(200, n) rows per
    # batch, a training part of a few hundred rows gets one or two optimiser
    # steps per epoch. "steps10" makes at least ten batches of at least 32 rows.
    "deep_lr3e-3_patience25_batch32": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "batch_size": 32,
    },
    "deep_lr3e-3_patience25_batch64": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "batch_size": 64,
    },
    "deep_lr3e-3_patience25_steps10": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "batch_size": "steps10",
    },
    "deep_lr1e-3_patience25_batch32": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 1e-3,
        "n_iter_no_change": 25,
        "batch_size": 32,
    },
    "deep_lr3e-3_ce_only_patience25_batch32": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "ce_weight": 1.0,
        "emd_weight": 0.0,
        "n_iter_no_change": 25,
        "batch_size": 32,
    },
    "deep_lr3e-3_ce_only_patience25_steps10": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "ce_weight": 1.0,
        "emd_weight": 0.0,
        "n_iter_no_change": 25,
        "batch_size": "steps10",
    },
    # More steps per epoch make the absolute tol of 1e-4 stop the small squared
    # EMD sooner (toy: 51-176 epochs instead of 200).
    "deep_lr3e-3_patience25_steps10_tol1e-5": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "batch_size": "steps10",
        "tol": 1e-5,
    },
    "deep_lr3e-3_ce_only_patience25_steps10_tol1e-5": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "ce_weight": 1.0,
        "emd_weight": 0.0,
        "n_iter_no_change": 25,
        "batch_size": "steps10",
        "tol": 1e-5,
    },
    # Cross-entropy mixed into the current defaults.
    # Tenth round: a cross-entropy term too small to pull ERA towards the mode
    # but enough to keep a gradient on confidently wrong rows (toy, tae).
    "deep_lr3e-3_patience25_ce0.01": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "ce_weight": 0.01,
    },
    "deep_lr3e-3_patience25_ce0.003": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "ce_weight": 0.003,
    },
    "deep_lr3e-3_patience25_ce0.03": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "ce_weight": 0.03,
    },
    "deep_lr3e-3_patience25_ce0.1": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "ce_weight": 0.1,
    },
    "deep_lr3e-3_patience25_ce0.3": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "ce_weight": 0.3,
    },
    # Ensembles of the current defaults: the average of the probabilities of 3
    # and 5 networks with different seeds (scored from one run of 5).
    "deep_lr3e-3_patience25_x5": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "members": 5,
    },
    "deep_lr3e-3_ce_only_patience25_x5": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "ce_weight": 1.0,
        "emd_weight": 0.0,
        "n_iter_no_change": 25,
        "members": 5,
    },
    # Eighth round: a smooth activation. Piecewise-linear ReLU boundaries
    # approximate curved class borders (toy's are hyperbolas) with few rows.
    "deep_lr3e-3_patience25_tanh": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "activation": "tanh",
    },
    "deep_lr3e-3_ce_only_patience25_tanh": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "ce_weight": 1.0,
        "emd_weight": 0.0,
        "n_iter_no_change": 25,
        "activation": "tanh",
    },
    "deep_lr1e-3_patience25_tanh": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 1e-3,
        "n_iter_no_change": 25,
        "activation": "tanh",
    },
    # Faster optimisation: toy, the set furthest from its reference, gained
    # most from a larger rate and a second layer in earlier rounds.
    "deep_lr1e-2_patience25": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 1e-2,
        "n_iter_no_change": 25,
    },
    "deep_lr1e-2_ce_only_patience25": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 1e-2,
        "ce_weight": 1.0,
        "emd_weight": 0.0,
        "n_iter_no_change": 25,
    },
    "deep3_lr3e-3_patience25": {
        "hidden_layer_sizes": (100, 100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
    },
    "deep3_lr3e-3_ce_only_patience25": {
        "hidden_layer_sizes": (100, 100, 100),
        "learning_rate_init": 3e-3,
        "ce_weight": 1.0,
        "emd_weight": 0.0,
        "n_iter_no_change": 25,
    },
    "deep4_lr3e-3_patience25": {
        "hidden_layer_sizes": (100, 100, 100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
    },
    "deep4_lr3e-3_ce_only_patience25": {
        "hidden_layer_sizes": (100, 100, 100, 100),
        "learning_rate_init": 3e-3,
        "ce_weight": 1.0,
        "emd_weight": 0.0,
        "n_iter_no_change": 25,
    },
    "deep3_lr1e-3_patience25": {
        "hidden_layer_sizes": (100, 100, 100),
        "learning_rate_init": 1e-3,
        "n_iter_no_change": 25,
    },
    "wide256x2_lr3e-3_patience25": {
        "hidden_layer_sizes": (256, 256),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
    },
    # A weaker L2 penalty: the squared EMD is about ten times smaller than
    # cross-entropy, so the same alpha weighs relatively more against it.
    "deep_lr3e-3_patience25_alpha1e-5": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "alpha": 1e-5,
    },
    "deep_lr3e-3_patience25_alpha0": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "alpha": 0.0,
    },
    "deep_lr3e-3_patience25_alpha1e-3": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "alpha": 1e-3,
    },
    # The optimiser of the paper: SGD with Nesterov momentum 0.98, rate 10^-2.5.
    "deep_sgd_paper_patience25": {
        "hidden_layer_sizes": (100, 100),
        "solver": "sgd",
        "momentum": 0.98,
        "learning_rate_init": 10**-2.5,
        "n_iter_no_change": 25,
    },
    # Ninth round: whether a matrix ground distance (learned, or uniform)
    # trains better alone or with cross-entropy, as the paper trains it.
    "deep_lr3e-3_patience25_learned": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "ground_distance": "learned",
    },
    "deep_lr3e-3_patience25_learned_ce1": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "ground_distance": "learned",
        "ce_weight": 1.0,
    },
    "deep_lr3e-3_patience25_learned_ce0.3": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "ground_distance": "learned",
        "ce_weight": 0.3,
    },
    "deep_lr3e-3_patience25_uniform": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "ground_distance": "uniform",
    },
    "deep_lr3e-3_patience25_uniform_ce1": {
        "hidden_layer_sizes": (100, 100),
        "learning_rate_init": 3e-3,
        "n_iter_no_change": 25,
        "ground_distance": "uniform",
        "ce_weight": 1.0,
    },
}


def batch_rule(rule, n_samples: int):
    """Batch size of a candidate.

    ``"auto"`` keeps its meaning of the time of the search, ``min(200, n)``;
    ``"stepsK"`` makes at least K batches of at least 32 rows, at most 200.
    """
    if rule == "auto":
        return min(200, n_samples)
    if isinstance(rule, str) and rule.startswith("steps"):
        steps = int(rule.removeprefix("steps"))
        return int(min(200, max(32, -(-n_samples // steps)), n_samples))
    return rule


def candidate_params(spec: dict) -> dict:
    params = {**BASE, **spec}
    params.pop("members", None)
    return params


def candidate_key(spec: dict) -> str:
    text = repr(sorted(spec.items())) + repr(sorted(BASE.items()))
    return hashlib.sha1(text.encode()).hexdigest()[:10]


@cache
def _dataset(name: str, data_dir: str):
    return _datasets.load(name, data_dir)


def n_outer(n_samples: int, small: int = 8, large: int = 3) -> int:
    """Partitions used per data set: more (``small``) for small, noisy sets."""
    return small if n_samples < 400 else large


def inner_split(y_train: np.ndarray, seed: int):
    """Stratified 75/25 indices of a training part; rare classes go with a neighbour."""
    strata = y_train.copy()
    while True:
        labels, counts = np.unique(strata, return_counts=True)
        if counts.min() >= 2:
            break
        rare = labels[np.argmin(counts)]
        others = labels[labels != rare]
        strata[strata == rare] = others[np.argmin(np.abs(others - rare))]
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=0.25, random_state=seed)
    return next(splitter.split(np.zeros(len(y_train)), strata))


def _task(data_dir, name, split, candidate, spec, one_thread):
    import torch

    from skemd import EMDClassifier, metrics
    from skemd._decision import decide

    if one_thread:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(1)
        threadpool_limits(1)
    dataset = _dataset(name, data_dir)
    X_train, y_train, _, _ = dataset.split(split)  # the test part is discarded
    fit_index, val_index = inner_split(y_train, INNER_SEED + split)
    X_fit, X_val = _datasets.preprocess(X_train[fit_index], X_train[val_index])
    y_fit, y_val = y_train[fit_index], y_train[val_index]
    classes = np.arange(1, dataset.n_classes + 1)

    members = spec.get("members", 1)
    probas, fit_time = [], 0.0
    for member in range(members):
        params = candidate_params(spec)
        params["batch_size"] = batch_rule(params["batch_size"], len(y_fit))
        model = EMDClassifier(
            classes=classes, random_state=split + 1000 * member, **params
        )
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X_fit, y_fit)
        fit_time += time.perf_counter() - start
        probas.append(model.predict_proba(X_val))
    rows = []
    sizes = sorted({1, members} | {k for k in (3, 5) if k < members})
    for size in sizes:
        proba = np.mean(probas[:size], axis=0)
        row = {
            "dataset": name,
            "split": split,
            "candidate": candidate,
            "members": size,
            "rps": metrics.ranked_probability_score(y_val, proba, classes=classes),
            "fit_time": fit_time / members,
        }
        for decision in DECISIONS:
            y_pred = classes[decide(proba, decision)]
            row[f"mae_{decision}"] = metrics.mae(y_val, y_pred, classes=classes)
        rows.append(row)
    return rows


def _cache_file(candidate: str, spec: dict) -> Path:
    return CACHE / f"select-{candidate}-{candidate_key(spec)}.csv"


def run(
    candidates, datasets, data_dir, jobs, small_partitions=8, large_partitions=3
) -> pd.DataFrame:
    frames, todo = [], []
    for candidate in candidates:
        spec = CANDIDATES[candidate]
        path = _cache_file(candidate, spec)
        cached = pd.read_csv(path) if path.is_file() else None
        done = (
            set()
            if cached is None
            else set(zip(cached.dataset, cached.split, strict=True))
        )
        if cached is not None:
            frames.append(cached)
        for name in datasets:
            dataset = _dataset(name, data_dir)
            count = n_outer(len(dataset.y), small_partitions, large_partitions)
            for split in range(min(count, dataset.n_splits)):
                if (name, split) not in done:
                    todo.append((name, split, candidate))
    print(f"{len(todo)} inner fits to compute.", file=sys.stderr)
    todo.sort(key=lambda t: -len(_dataset(t[0], data_dir).y))
    tasks = (
        delayed(_task)(data_dir, n, s, c, CANDIDATES[c], jobs > 1) for n, s, c in todo
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for count, rows in enumerate(
        Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks), 1
    ):
        frame = pd.DataFrame(rows)
        path = _cache_file(rows[0]["candidate"], CANDIDATES[rows[0]["candidate"]])
        frame.to_csv(path, mode="a", header=not path.is_file(), index=False)
        frames.append(frame)
        if count % 25 == 0:
            minutes = (time.perf_counter() - started) / 60
            print(f"  {count}/{len(todo)} ({minutes:.1f} min)", file=sys.stderr)
    results = pd.concat(frames, ignore_index=True)
    results = results[results.candidate.isin(candidates)]
    results = results[results.dataset.isin(datasets)]
    # Only the partitions asked for, though the cache may hold more.
    wanted = {
        name: min(
            n_outer(
                len(_dataset(name, data_dir).y), small_partitions, large_partitions
            ),
            _dataset(name, data_dir).n_splits,
        )
        for name in datasets
    }
    return results[results.split < results.dataset.map(wanted)]


def summarise(results: pd.DataFrame, reference: str = "base") -> pd.DataFrame:
    """One row per candidate, ensemble size and decision rule."""
    rows = []
    long = results.melt(
        id_vars=["dataset", "split", "candidate", "members", "fit_time", "rps"],
        value_vars=[f"mae_{d}" for d in DECISIONS],
        var_name="decision",
        value_name="mae",
    )
    long["decision"] = long["decision"].str.removeprefix("mae_")
    long["variant"] = (
        long["candidate"]
        + np.where(long["members"] > 1, " x" + long["members"].astype(str), "")
        + " / "
        + long["decision"]
    )
    per_dataset = long.groupby(["variant", "dataset"])[
        ["mae", "rps", "fit_time"]
    ].mean()
    mae = per_dataset["mae"].unstack("variant")
    ref = f"{reference} / argmax"
    ranks = mae.apply(lambda r: pd.Series(rankdata(r), index=mae.columns), axis=1)
    for variant in mae.columns:
        ratio = (mae[variant] + 0.01) / (mae[ref] + 0.01) if ref in mae else np.nan
        rows.append(
            {
                "variant": variant,
                "mean rank": ranks[variant].mean(),
                "MAE / base (geo. mean)": gmean(ratio),
                "better than base": int((mae[variant] < mae[ref]).sum()),
                "worse than base": int((mae[variant] > mae[ref]).sum()),
                "mean RPS": per_dataset["rps"].unstack("variant")[variant].mean(),
                "fit s (mean)": per_dataset["fit_time"]
                .unstack("variant")[variant]
                .mean(),
            }
        )
    return pd.DataFrame(rows).sort_values("mean rank").reset_index(drop=True)


def _markdown(frame: pd.DataFrame) -> list[str]:
    def fmt(value):
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |"]
    lines.append("|" + "---|" * len(frame.columns))
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v) for v in row) + " |")
    return lines


def report(
    results: pd.DataFrame,
    command: str,
    title: str = "How the EMDClassifier defaults were chosen",
    reference: str = "base",
    small_partitions: int = 8,
    large_partitions: int = 3,
) -> str:
    """Markdown account of the search: the protocol, every variant, the choice."""
    summary = summarise(results, reference)
    n_datasets = results["dataset"].nunique()
    lines = [
        f"# {title}",
        "",
        f"Generated by `{command}`.",
        "",
        "## Protocol",
        "",
        "- Only training parts are used. For each of the "
        f"{n_datasets} data sets, the training "
        "part of the first partitions of `quality.py` "
        f"({small_partitions} for data sets under 400 rows, {large_partitions} "
        "for the others; "
        "pyrim10 has 74 rows) is split again, stratified "
        "75/25 with a fixed seed, into an inner training and an inner validation "
        "part. Candidates are fitted on the former and scored on the latter; "
        "preprocessing is refitted on the inner training part. No test part is "
        "read, so the test scores in `quality.md` are not used for selection "
        "(the inner parts of partitions 0-7 overlap with the other partitions' "
        "test parts, as any two hold-outs of one data set do).",
        "- Each candidate changes the estimator defaults of the time "
        f"(`{BASE}`) as named; every fit is scored with both decision rules "
        "(`expected_cost` equals `median` under the ordinal ground distance, up "
        "to ties).",
        "- Columns: mean rank of the variant's inner MAE across the "
        f"{n_datasets} data sets "
        "(among all variants listed), geometric mean over data sets of "
        f"(MAE + 0.01) / (MAE of `{reference}` with argmax + 0.01) (the 'base' "
        f"of the column names), number of data sets better/worse than `{reference}` "
        "with argmax, mean RPS, mean fit "
        "seconds per network (on a shared, loaded 2-core machine).",
        "- `xN`: average of the probabilities of N networks with different seeds.",
        "- `batch_size`: `'auto'` is `min(200, n)` (its meaning at the time of "
        "the search), `'stepsK'` at least K batches of at least 32 rows "
        "(`min(200, n, max(32, ceil(n / K)))`).",
        "",
        "## All variants",
        "",
    ]
    lines += _markdown(summary)
    # Each candidate as fitted, an ensemble with all its members.
    largest = results.groupby("candidate")["members"].transform("max")
    full = results[results.members == largest]
    table = full.groupby(["dataset", "candidate"])[
        [f"mae_{d}" for d in DECISIONS]
    ].mean()
    size = full.groupby("candidate")["members"].first()
    # The reference with both rules, every other candidate with argmax (the
    # estimator's default decision).
    others = [c for c in dict.fromkeys(full.candidate) if c != reference]
    shown = [(reference, "argmax"), (reference, "median")]
    shown += [(c, "argmax") for c in others]
    columns = {
        f"{c}{f' x{size[c]}' if size[c] > 1 else ''} / {d}": table[f"mae_{d}"].unstack(
            "candidate"
        )[c]
        for c, d in shown
        if c in set(full.candidate)
    }
    per_dataset = pd.DataFrame(columns).reset_index()
    lines += ["", "## Inner-validation MAE per data set", ""]
    lines += _markdown(per_dataset)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(_datasets.DEFAULT_DATA_DIR))
    parser.add_argument(
        "--candidates", nargs="+", choices=list(CANDIDATES), default=list(CANDIDATES)
    )
    parser.add_argument(
        "--datasets", nargs="+", choices=_datasets.ALL, default=list(_datasets.ALL)
    )
    parser.add_argument("--jobs", type=at_least(1), default=1)
    parser.add_argument("--per-dataset", action="store_true")
    parser.add_argument(
        "--small-partitions",
        type=at_least(1),
        default=8,
        help="partitions used for data sets under 400 rows",
    )
    parser.add_argument(
        "--large-partitions",
        type=at_least(1),
        default=3,
        help="partitions used for data sets of 400 rows or more",
    )
    parser.add_argument(
        "--reference",
        default="base",
        help="candidate the others are compared with (argmax decision)",
    )
    parser.add_argument("--report", default=None, help="write a markdown account")
    parser.add_argument(
        "--title",
        default="How the EMDClassifier defaults were chosen",
        help="title of the report",
    )
    args = parser.parse_args(argv)
    if args.reference not in args.candidates:
        parser.error(
            f"--reference {args.reference!r} is not among --candidates; add it there"
        )
    if args.report and not Path(args.report).parent.is_dir():
        parser.error(f"--report: no such directory: {str(Path(args.report).parent)!r}")
    try:
        _datasets.orreview_dir(args.data_dir)
    except FileNotFoundError as error:
        parser.error(str(error))
    data_dir = str(Path(args.data_dir).resolve())
    results = run(
        args.candidates,
        args.datasets,
        data_dir,
        args.jobs,
        args.small_partitions,
        args.large_partitions,
    )
    summary = summarise(results, args.reference)
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
        if args.per_dataset:
            table = results.groupby(["dataset", "candidate", "members"])[
                ["mae_argmax", "mae_median"]
            ].mean()
            print(table.unstack(["candidate", "members"]).round(3).to_string())
    if args.report:
        command = "python benchmarks/select_defaults.py " + shlex.join(
            argv if argv is not None else sys.argv[1:]
        )
        Path(args.report).write_text(
            report(
                results,
                command,
                args.title,
                args.reference,
                args.small_partitions,
                args.large_partitions,
            )
        )
    return 0


if __name__ == "__main__":
    import select_defaults

    sys.exit(select_defaults.main())
