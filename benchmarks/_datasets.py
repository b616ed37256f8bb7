"""The ordinal benchmark data of Gutierrez et al. (2016) and its evaluation protocol.

Each data set lives in ``<data-dir>/orreview/<name>.csv`` (features, then
``target`` with classes 1..Q in order). Where ``splits/<name>_is_test.csv`` holds
the published hold-out partitions (one column per partition, 1 = test row), those
are used; where it holds only partition 0, thirty stratified 75/25 partitions are
drawn with a fixed seed, as the protocol prescribes. Every training part is
preprocessed as in ORCA: attributes constant in the training part are dropped and
the rest are z-scored with the training mean and standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedShuffleSplit

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
ALL = OFFICIAL + DRAWN

N_DRAWN_SPLITS = 30
DRAWN_TEST_SIZE = 0.25
# Seed of the partitions drawn for the sets that ship partition 0 only.
SPLIT_SEED = 20160101

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@dataclass(frozen=True)
class Dataset:
    """One data set with its partitions.

    Attributes
    ----------
    name : str
        File name without ``.csv``.
    X : ndarray of shape (n_samples, n_features)
        Raw (unscaled) features.
    y : ndarray of shape (n_samples,)
        Integer classes ``1..n_classes``.
    n_classes : int
        Number of classes ``Q`` of the whole data set.
    test_masks : ndarray of shape (n_splits, n_samples), dtype bool
        ``test_masks[s, i]`` is True when row ``i`` is in the test part of split
        ``s``.
    official : bool
        Whether the partitions are the published ones.
    note : str
        How the partitions were obtained, when they are not the published ones.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    n_classes: int
    test_masks: np.ndarray
    official: bool
    note: str = ""

    @property
    def n_splits(self) -> int:
        return len(self.test_masks)

    def split(self, index: int):
        """Preprocessed ``X_train, y_train, X_test, y_test`` of split ``index``."""
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


def load(name: str, data_dir: str | Path = DEFAULT_DATA_DIR) -> Dataset:
    """Read data set ``name`` and its partitions."""
    folder = orreview_dir(data_dir)
    path = folder / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"Missing data file {path}.")
    frame = pd.read_csv(path)
    X = frame.drop(columns="target").to_numpy(dtype=float)
    y = frame["target"].to_numpy(dtype=int)
    n_classes = int(y.max())
    if y.min() != 1:
        raise ValueError(f"{path}: classes must be numbered from 1; got {y.min()}.")

    splits = pd.read_csv(folder / "splits" / f"{name}_is_test.csv")
    columns = [c for c in splits.columns if c != "row"]
    if (
        len(splits) != len(y)
        or not (splits["row"].to_numpy() == np.arange(len(y))).all()
    ):
        raise ValueError(f"The partitions of {name} do not match its {len(y)} rows.")
    if len(columns) > 1:
        masks = splits[columns].to_numpy(dtype=bool).T
        return Dataset(name, X, y, n_classes, masks, official=True)
    masks, note = draw_splits(y)
    return Dataset(name, X, y, n_classes, masks, official=False, note=note)


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
    strata = y.copy()
    merged = []
    while True:
        labels, counts = np.unique(strata, return_counts=True)
        if counts.min() >= 2:
            break
        rare = labels[np.argmin(counts)]
        others = labels[labels != rare]
        nearest = others[np.argmin(np.abs(others - rare) + 0.5 * (others > rare))]
        strata[strata == rare] = nearest
        merged.append((int(rare), int(nearest)))
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


def preprocess(X_train: np.ndarray, X_test: np.ndarray):
    """Drop attributes constant in ``X_train``, then z-score with its statistics."""
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    keep = std > 1e-12 * np.maximum(1.0, np.abs(mean))
    if not keep.any():
        raise ValueError("Every attribute is constant in the training part.")
    mean, std = mean[keep], std[keep]
    return (X_train[:, keep] - mean) / std, (X_test[:, keep] - mean) / std
