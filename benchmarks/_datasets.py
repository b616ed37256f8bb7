"""The development collection of ordinal data sets and its partitions.

Three groups of data sets, read from the shared data folder:

- ``orreview``: the ordinal benchmark of Gutierrez et al. (2016),
  ``<data-dir>/orreview/<name>.csv`` (features, then ``target`` with classes 1..Q
  in order). Where ``splits/<name>_is_test.csv`` holds the published hold-out
  partitions (one column per partition, 1 = test row), those are used; where it
  holds only partition 0, thirty stratified 75/25 partitions are drawn with a
  fixed seed, as the protocol prescribes.
- ``regression``: regression data binned into 5 or 10 equal-frequency classes,
  ``<data-dir>/regression_sources/<file>.csv[.gz]``; the labels 1..Q are the
  file's ``target_<Q>bins`` column, the features every column but the three
  ``target_*`` ones. A set is named ``<file>-<Q>``.
- ``extra``: survey and study data, ``<data-dir>/extra/<name>.csv``, with text
  columns kept as text and ``target`` coded 0..K-1.

The sets of the last two groups get stratified 75/25 partitions drawn with a
fixed seed, more of them for smaller sets (:func:`n_partitions`). Each set is in
the ``selection`` part (used to choose defaults) or the ``held-out`` part (never
used for that; reported separately), fixed once in :data:`HELD_OUT`.

Preprocessing is fitted on a training part only (:class:`Preprocessor`): text
columns one-hot encoded, or kept as pandas categories for learners that handle
them natively; numeric attributes constant in the training part dropped and the
others z-scored with the training mean and standard deviation (ORCA's
``standarize = true``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.validation import check_is_fitted

# Data sets with published partitions first, then those with partition 0 only.
OFFICIAL = (
    "ERA",
    "balance-scale",
    "car",
    "contact-lenses",
    "tae",
    "winequality-red",
    "pasture",
    "toy",
    "pyrim10",
)
DRAWN = (
    "automobile",
    "bondrate",
    "eucalyptus",
    "newthyroid",
    "squash-stored",
    "squash-unstored",
)
ORREVIEW = OFFICIAL + DRAWN
# The name other benchmark scripts use for the orreview sets.
ALL = ORREVIEW

# File of regression_sources/ and the number of equal-frequency bins used.
REGRESSION_BINS = {
    "bank8FM": 10,
    "calhousing": 10,
    "census_house8L": 5,
    "census_house16H": 10,
    "computer_cpu_small": 5,
    "computer_cpu_act": 10,
    "machine_cpu": 5,
    "stock": 5,
}
REGRESSION = tuple(f"{file}-{bins}" for file, bins in REGRESSION_BINS.items())
REGRESSION_TARGETS = ("target_raw", "target_5bins", "target_10bins")

EXTRA = (
    "housing_sat",
    "survey_exer",
    "soup_sureness",
    "chem97_score",
    "nasscds_injury",
    "bfi_a1",
    "gbsg_grade",
    "verbagg_resp",
)

GROUPS = {"orreview": ORREVIEW, "regression": REGRESSION, "extra": EXTRA}
COLLECTION = ORREVIEW + REGRESSION + EXTRA

# Never used to select defaults; their results are reported separately.
HELD_OUT = frozenset(
    {
        "automobile",
        "eucalyptus",
        "newthyroid",
        "squash-stored",
        "tae",
        "census_house16H-10",
        "computer_cpu_act-10",
        "soup_sureness",
        "verbagg_resp",
        "survey_exer",
    }
)
PARTS = ("selection", "held-out")

N_DRAWN_SPLITS = 30
DRAWN_TEST_SIZE = 0.25
# Seed of every partition drawn here (orreview sets with partition 0 only,
# regression and extra sets).
SPLIT_SEED = 20160101
# Sets of at most SMALL_ROWS rows get 30 partitions, those of at most
# MEDIUM_ROWS rows 10, larger ones 5.
SMALL_ROWS = 2_000
MEDIUM_ROWS = 10_000

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def group_of(name: str) -> str:
    """The group (``orreview``, ``regression`` or ``extra``) of a data set."""
    for group, names in GROUPS.items():
        if name in names:
            return group
    raise KeyError(f"Unknown data set {name!r}.")


def part_of(name: str) -> str:
    """``"held-out"`` for a set never used to choose defaults, else ``"selection"``."""
    group_of(name)
    return "held-out" if name in HELD_OUT else "selection"


def n_partitions(n_rows: int) -> int:
    """Partitions drawn for a regression or extra set of ``n_rows`` rows."""
    if n_rows <= SMALL_ROWS:
        return 30
    return 10 if n_rows <= MEDIUM_ROWS else 5


@dataclass(frozen=True)
class Dataset:
    """One data set with its partitions.

    Attributes
    ----------
    name : str
        Name in the collection.
    features : DataFrame of shape (n_samples, n_columns)
        Raw features: numbers unscaled, text columns as read.
    y : ndarray of shape (n_samples,)
        Integer classes.
    classes : ndarray
        Every class of the whole data set, in order (consecutive integers).
    test_masks : ndarray of shape (n_splits, n_samples), dtype bool
        ``test_masks[s, i]`` is True when row ``i`` is in the test part of split
        ``s``.
    official : bool
        Whether the partitions are the published ones.
    group : str
        ``"orreview"``, ``"regression"`` or ``"extra"``.
    note : str
        How the partitions were obtained, when they are not the published ones.
    """

    name: str
    features: pd.DataFrame
    y: np.ndarray
    classes: np.ndarray
    test_masks: np.ndarray
    official: bool
    group: str = "orreview"
    note: str = ""

    @property
    def n_splits(self) -> int:
        return len(self.test_masks)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def part(self) -> str:
        return part_of(self.name)

    @cached_property
    def X(self) -> np.ndarray:
        """The features as a float array (numeric sets only)."""
        return self.features.to_numpy(dtype=float)

    def raw_split(self, index: int):
        """``X_train, y_train, X_test, y_test`` of split ``index``, unprocessed."""
        test = self.test_masks[index]
        return (
            self.features[~test],
            self.y[~test],
            self.features[test],
            self.y[test],
        )

    def split(self, index: int):
        """Preprocessed float ``X_train, y_train, X_test, y_test`` (numeric sets)."""
        test = self.test_masks[index]
        X_train, X_test = preprocess(self.X[~test], self.X[test])
        return X_train, self.y[~test], X_test, self.y[test]


def orreview_dir(data_dir: str | Path) -> Path:
    """The ``orreview`` folder under ``data_dir``; a clear error when absent."""
    folder = Path(data_dir) / "orreview"
    if not (folder / "splits").is_dir():
        raise FileNotFoundError(
            f"No benchmark data under {folder}: expected <name>.csv files and a "
            "splits/ folder there. Point --data-dir at the folder that holds "
            "orreview/ (the shared datasets folder)."
        )
    return folder


def check_data_dir(data_dir: str | Path, groups) -> None:
    """Raise FileNotFoundError unless ``data_dir`` holds the folders of ``groups``."""
    if "orreview" in groups:
        orreview_dir(data_dir)
    for group, folder in (("regression", "regression_sources"), ("extra", "extra")):
        if group in groups and not (Path(data_dir) / folder).is_dir():
            raise FileNotFoundError(
                f"No {folder}/ folder under {data_dir}. Point --data-dir at the "
                "shared datasets folder."
            )


def _classes(y: np.ndarray, first: int, path: Path) -> np.ndarray:
    classes = np.unique(y)
    if classes[0] != first or not np.array_equal(
        classes, np.arange(first, first + len(classes))
    ):
        raise ValueError(
            f"{path}: the classes must be the consecutive integers from {first}; "
            f"got {classes.tolist()}."
        )
    return classes


def load(name: str, data_dir: str | Path = DEFAULT_DATA_DIR) -> Dataset:
    """Read data set ``name`` of the collection and its partitions."""
    group = group_of(name)
    if group == "orreview":
        return _load_orreview(name, data_dir)
    if group == "regression":
        file, bins = name.rsplit("-", 1)
        folder = Path(data_dir) / "regression_sources"
        paths = [folder / f"{file}.csv.gz", folder / f"{file}.csv"]
        path = next((p for p in paths if p.is_file()), paths[0])
        target, first, drop = f"target_{bins}bins", 1, list(REGRESSION_TARGETS)
    else:
        path = Path(data_dir) / "extra" / f"{name}.csv"
        target, first, drop = "target", 0, ["target"]
    if not path.is_file():
        raise FileNotFoundError(f"Missing data file {path}.")
    frame = pd.read_csv(path)
    y = frame[target].to_numpy(dtype=int)
    classes = _classes(y, first, path)
    masks, note = draw_splits(y, n_splits=n_partitions(len(y)))
    return Dataset(
        name,
        frame.drop(columns=drop),
        y,
        classes,
        masks,
        official=False,
        group=group,
        note=note,
    )


def _load_orreview(name: str, data_dir: str | Path) -> Dataset:
    folder = orreview_dir(data_dir)
    path = folder / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"Missing data file {path}.")
    frame = pd.read_csv(path)
    features = frame.drop(columns="target").astype(float)
    y = frame["target"].to_numpy(dtype=int)
    if y.min() != 1:
        raise ValueError(f"{path}: classes must be numbered from 1; got {y.min()}.")
    classes = np.arange(1, int(y.max()) + 1)

    splits = pd.read_csv(folder / "splits" / f"{name}_is_test.csv")
    columns = [c for c in splits.columns if c != "row"]
    if (
        len(splits) != len(y)
        or not (splits["row"].to_numpy() == np.arange(len(y))).all()
    ):
        raise ValueError(f"The partitions of {name} do not match its {len(y)} rows.")
    if len(columns) > 1:
        masks = splits[columns].to_numpy(dtype=bool).T
        return Dataset(name, features, y, classes, masks, official=True)
    masks, note = draw_splits(y)
    return Dataset(name, features, y, classes, masks, official=False, note=note)


def _strata(y: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Labels to stratify on: a class with one sample joins its nearest neighbour
    (the lower one on a tie), as ``StratifiedShuffleSplit`` needs two per class."""
    strata = y.copy()
    merged = []
    while True:
        labels, counts = np.unique(strata, return_counts=True)
        if counts.min() >= 2 or len(labels) == 1:
            return strata, merged
        rare = labels[np.argmin(counts)]
        others = labels[labels != rare]
        nearest = others[np.argmin(np.abs(others - rare) + 0.5 * (others > rare))]
        strata[strata == rare] = nearest
        merged.append((int(rare), int(nearest)))


def draw_splits(
    y: np.ndarray,
    n_splits: int = N_DRAWN_SPLITS,
    test_size: float = DRAWN_TEST_SIZE,
    seed: int = SPLIT_SEED,
) -> tuple[np.ndarray, str]:
    """Stratified 75/25 test masks, and a note on any departure from stratification.

    ``StratifiedShuffleSplit`` needs two samples of every class. A class with a
    single sample is stratified together with its nearest neighbouring class
    (the lower one on a tie), so it lands in the test part of some partitions and
    in the training part of the others, and every other class stays stratified.
    """
    strata, merged = _strata(y)
    splitter = StratifiedShuffleSplit(
        n_splits=n_splits, test_size=test_size, random_state=seed
    )
    masks = np.zeros((n_splits, len(y)), dtype=bool)
    for index, (_, test) in enumerate(splitter.split(np.zeros(len(y)), strata)):
        masks[index, test] = True
    note = f"{n_splits} stratified {1 - test_size:.0%}/{test_size:.0%} partitions"
    if merged:
        joined = ", ".join(f"class {a} with class {b}" for a, b in merged)
        note += f" (too few samples to stratify alone: {joined})"
    return masks, note


def inner_split(y_train: np.ndarray, seed: int, test_size: float = 0.25):
    """Stratified indices ``(fit, validation)`` of a training part.

    The same rule as :func:`draw_splits` for classes with one sample.
    """
    strata, _ = _strata(y_train)
    splitter = StratifiedShuffleSplit(
        n_splits=1, test_size=test_size, random_state=seed
    )
    return next(splitter.split(np.zeros(len(y_train)), strata))


def preprocess(X_train: np.ndarray, X_test: np.ndarray):
    """Drop attributes constant in ``X_train``, then z-score with its statistics."""
    mean, std, keep = _scaling(X_train)
    if not keep.any():
        raise ValueError("Every attribute is constant in the training part.")
    mean, std = mean[keep], std[keep]
    return (X_train[:, keep] - mean) / std, (X_test[:, keep] - mean) / std


def _scaling(X: np.ndarray):
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    return mean, std, std > 1e-12 * np.maximum(1.0, np.abs(mean))


def _numbers(X: pd.DataFrame, columns) -> np.ndarray:
    # Row-major, as preprocess() gets them: the same sums, to the last bit.
    return np.ascontiguousarray(X[columns].to_numpy(dtype=float))


def is_text(column: pd.Series) -> bool:
    """Whether a column read by pandas is text or categorical (not a number)."""
    return pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(
        column
    )


class Preprocessor(TransformerMixin, BaseEstimator):
    """The preprocessing of every method, fitted on a training part.

    Numeric columns: those constant in the training part are dropped, the others
    z-scored with the training mean and standard deviation. Text columns (object,
    string, category or bool dtype): one-hot encoded with
    ``OneHotEncoder(handle_unknown="ignore")``, or, with
    ``categorical="category"``, kept as pandas ``category`` columns whose
    categories are those seen in the training part (unseen values become missing).

    Parameters
    ----------
    categorical : {"onehot", "category"}, default="onehot"
        How text columns are passed on. ``"onehot"`` returns a float array (the
        z-scored numbers, then the indicator columns); ``"category"`` a DataFrame.
    """

    def __init__(self, categorical: str = "onehot"):
        self.categorical = categorical

    def fit(self, X: pd.DataFrame, y=None):
        if self.categorical not in ("onehot", "category"):
            raise ValueError(
                f"categorical must be 'onehot' or 'category'; got {self.categorical!r}."
            )
        text = [column for column in X.columns if is_text(X[column])]
        numeric = [column for column in X.columns if column not in text]
        mean, std, keep = _scaling(_numbers(X, numeric))
        self.numeric_ = [c for c, k in zip(numeric, keep, strict=True) if k]
        self.mean_, self.std_ = mean[keep], std[keep]
        self.text_ = text
        if text and self.categorical == "onehot":
            self.encoder_ = OneHotEncoder(
                handle_unknown="ignore", sparse_output=False, dtype=float
            ).fit(X[text].astype(str))
            n_text = len(self.encoder_.get_feature_names_out())
        else:
            self.categories_ = {c: sorted(set(X[c].astype(str))) for c in text}
            n_text = len(text)
        self.n_features_out_ = len(self.numeric_) + n_text
        if not self.n_features_out_:
            raise ValueError("Every attribute is constant in the training part.")
        return self

    def transform(self, X: pd.DataFrame):
        check_is_fitted(self, "n_features_out_")
        numbers = (_numbers(X, self.numeric_) - self.mean_) / self.std_
        if self.categorical == "onehot":
            if not self.text_:
                return numbers
            return np.hstack(
                [numbers, self.encoder_.transform(X[self.text_].astype(str))]
            )
        out = pd.DataFrame(numbers, columns=self.numeric_, index=X.index)
        for column in self.text_:
            out[column] = pd.Categorical(
                X[column].astype(str), categories=self.categories_[column]
            )
        return out
