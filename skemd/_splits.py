"""The training data of a fit, and the validation data split off it.

A single network holds out one stratified part of the rows for early stopping
(:func:`validation_split`); the members of an ensemble each hold out a fold of
their own and train on the rest (:func:`member_split`), so that the ensemble as
a whole learns from every row.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from ._data import InMemoryDataset, as_rows


def dataset(X, y_index, weight) -> InMemoryDataset:
    """Features, class positions and weights (or None) as an in-memory dataset."""
    return InMemoryDataset(
        as_rows(X),
        torch.from_numpy(y_index),
        None if weight is None else torch.from_numpy(np.ascontiguousarray(weight)),
    )


def member_dataset(X, y_index, weight, rows, by_member=False) -> InMemoryDataset:
    """The dataset of an ensemble whose member ``m`` sees the rows ``rows[m]``.

    Members with fewer rows repeat some of them, at weight 0, to make up the
    longest member's count.
    """
    length = max(len(member) for member in rows)
    index = np.zeros((len(rows), length), dtype=np.int64)
    member_weight = np.zeros((len(rows), length), dtype=np.float32)
    for member, own in enumerate(rows):
        index[member] = own[np.arange(length) % len(own)]
        member_weight[member, : len(own)] = 1.0 if weight is None else weight[own]
    data = dataset(X, y_index, weight)
    data.member_rows = torch.from_numpy(index)
    data.member_weight = torch.from_numpy(member_weight)
    data.by_member = by_member
    return data


def n_rows(data: InMemoryDataset) -> int:
    """Rows per batch pass: of each member for an ensemble's dataset."""
    if data.member_rows is not None:
        return int(data.member_rows.shape[1])
    return len(data)


def total(data: InMemoryDataset) -> float:
    """The number of samples, or the sum of their weights (of a mean member)."""
    if data.member_weight is not None:
        weight = data.member_weight.double()
        return float(weight.sum()) / weight.shape[0]
    if data.sample_weight is None:
        return float(len(data))
    return float(data.sample_weight.double().sum())


def stratified_folds(y_index: np.ndarray, n_folds: int, rng) -> np.ndarray:
    """A fold number for each row: each class dealt evenly over the folds.

    The rows of each class are shuffled and dealt round the folds, each class
    starting where the previous one stopped, so that every fold holds its share
    of every class (to a row) and the folds differ in size by one at most.
    """
    folds = np.empty(len(y_index), dtype=np.int64)
    start = 0
    for label in np.unique(y_index):
        rows = np.flatnonzero(y_index == label)
        rows = rows[rng.permutation(len(rows))]
        folds[rows] = (start + np.arange(len(rows))) % n_folds
        start = (start + len(rows)) % n_folds
    return folds


def validation_split(X, y_index, weight, fraction: float, rng):
    """A training and a validation dataset, ``fraction`` of the rows held out.

    Stratified where each part can hold every class, a random split else.
    """
    counts = np.bincount(y_index)
    n_samples = X.shape[0]
    # The part sizes of train_test_split, checked here to name the setting.
    n_valid = int(np.ceil(fraction * n_samples))
    n_train = int(np.floor((1.0 - fraction) * n_samples))
    if n_train == 0 or n_valid == 0:
        raise ValueError(
            f"validation_fraction={fraction} of {n_samples} samples leaves "
            f"{n_train} for training and {n_valid} for validation: "
            "early_stopping needs rows in both. Change validation_fraction or "
            "give more samples."
        )
    n_present = np.count_nonzero(counts)
    stratify = (
        y_index
        if counts[counts > 0].min() >= 2
        and min(n_valid, n_samples - n_valid) >= n_present
        else None
    )
    train_rows, valid_rows = train_test_split(
        np.arange(n_samples),
        test_size=fraction,
        random_state=rng.randint(np.iinfo(np.int32).max),
        stratify=stratify,
    )

    def part(rows):
        return dataset(X[rows], y_index[rows], None if weight is None else weight[rows])

    return part(train_rows), part(valid_rows)


def member_split(X, y_index, weight, n_members, fraction, early_stopping, rng):
    """Training (and validation) data where each member has rows of its own.

    Without early stopping every member trains on every row, each in its own
    random order. With it, member ``m`` holds out fold ``m`` of a stratified
    split into ``round(1 / fraction)`` folds (a new split after every
    ``n_folds`` members), trains on the other folds and is stopped on its own.
    """
    n_samples = X.shape[0]
    everything = np.arange(n_samples)
    if not early_stopping:
        return member_dataset(X, y_index, weight, [everything] * n_members), None
    n_folds = min(max(2, round(1 / fraction)), n_samples)
    if n_folds < 2:
        raise ValueError(
            "early_stopping holds out a fold of the rows for each member of the "
            "ensemble network (n_estimators, numeric_embedding): it needs at "
            f"least 2 samples; got {n_samples}."
        )
    trained, held_out = [], []
    for member in range(n_members):
        if member % n_folds == 0:
            folds = stratified_folds(y_index, n_folds, rng)
        own = folds == member % n_folds
        trained.append(everything[~own])
        held_out.append(everything[own])
    return (
        member_dataset(X, y_index, weight, trained),
        member_dataset(X, y_index, weight, held_out, by_member=True),
    )
