"""Reading the bundled CSV files into scikit-learn style bunches.

Every file in ``data/`` has one header row of column names, the features, and a
last column ``target`` that holds the class labels as they were published. The
order of the classes is not in the file: it is stated here, per dataset, because
sorting the labels gives the wrong order for string labels (``"B" < "L" < "R"``).
Which features are text is stated here too, with their levels: a column of
numbers is read as float64, a text column as strings.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

_PACKAGE = "skemd.datasets"
_TARGET = "target"


@dataclass(frozen=True)
class _DatasetSpec:
    """What the loader needs to know about one bundled file.

    Parameters
    ----------
    name : str
        Stem of ``data/<name>.csv`` and ``data/<name>.rst``.
    classes : tuple
        Every class label, lowest first.
    feature_levels : mapping of str to tuple of str, default={}
        The text features whose levels are ordered, each with its levels,
        lowest first. With ``as_frame=True`` they become ordered Categoricals.
    text_levels : mapping of str to tuple of str, default={}
        The text features whose levels have no order, each with its levels in
        alphabetical order. With ``as_frame=True`` they stay text.

    Features in neither mapping are numbers.
    """

    name: str
    classes: tuple[Any, ...]
    feature_levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    text_levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def text_features(self) -> dict[str, tuple[str, ...]]:
        """Every text feature and its levels."""
        return {**self.feature_levels, **self.text_levels}


_SPECS: dict[str, _DatasetSpec] = {
    spec.name: spec
    for spec in (
        _DatasetSpec("balance_scale", ("L", "B", "R")),
        _DatasetSpec(
            "car",
            ("unacc", "acc", "good", "vgood"),
            feature_levels={
                "buying": ("low", "med", "high", "vhigh"),
                "maint": ("low", "med", "high", "vhigh"),
                "doors": ("2", "3", "4", "5more"),
                "persons": ("2", "4", "more"),
                "lug_boot": ("small", "med", "big"),
                "safety": ("low", "med", "high"),
            },
        ),
        _DatasetSpec("era", tuple(range(1, 10))),
        _DatasetSpec("esl", tuple(range(1, 10))),
        _DatasetSpec("lev", tuple(range(1, 6))),
        _DatasetSpec(
            "survey",
            ("None", "Some", "Freq"),
            text_levels={
                "Sex": ("Female", "Male"),
                "W.Hnd": ("Left", "Right"),
                "Fold": ("L on R", "Neither", "R on L"),
                "Clap": ("Left", "Neither", "Right"),
                "Smoke": ("Heavy", "Never", "Occas", "Regul"),
                "M.I": ("Imperial", "Metric"),
            },
        ),
        _DatasetSpec("swd", tuple(range(1, 5))),
        _DatasetSpec("winequality_red", tuple(range(3, 9))),
    )
}


def _data_file(filename: str):
    """Locate a file of ``data/`` through :mod:`importlib.resources`."""
    return resources.files(_PACKAGE) / "data" / filename


def _read_descr(name: str) -> str:
    return _data_file(f"{name}.rst").read_text(encoding="utf-8")


def _import_pandas(caller: str):
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            f"{caller}(as_frame=True) needs pandas, which is not installed. "
            "Install it with `pip install pandas`, or call it with as_frame=False."
        ) from exc
    return pd


def _check_flag(caller: str, name: str, value: object) -> None:
    # A string such as "no" is truthy, so reject everything that is not a bool.
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{caller}: {name} must be a bool, got {type(value).__name__} {value!r}."
        )


def _class_array(classes: tuple[Any, ...]) -> np.ndarray:
    if all(isinstance(c, str) for c in classes):
        return np.array(classes, dtype=object)
    return np.array(classes, dtype=np.int64)


def _read_arrays(
    spec: _DatasetSpec, classes: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    with _data_file(f"{spec.name}.csv").open("r", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    feature_names = header[:-1]
    labels = [row[-1] for row in rows]
    text = spec.text_features
    if not text:
        data = np.array([row[:-1] for row in rows], dtype=np.float64)
    else:
        # Strings for the text features, floats for the others: an object
        # array, as a DataFrame of mixed columns gives with to_numpy().
        data = np.empty((len(rows), len(feature_names)), dtype=object)
        for j, name in enumerate(feature_names):
            column = [row[j] for row in rows]
            data[:, j] = column if name in text else [float(v) for v in column]
    target = np.array(labels, dtype=classes.dtype)
    return feature_names, data, target


def _read_frame(spec: _DatasetSpec, classes: np.ndarray, pd):
    path = _data_file(f"{spec.name}.csv")
    text = {name: str for name in spec.text_features}
    if classes.dtype == object:
        text[_TARGET] = str
    with path.open("r", encoding="utf-8", newline="") as f:
        # No cell is missing; some are words pandas would read as missing
        # (the survey's class "None").
        frame = pd.read_csv(f, dtype=text, keep_default_na=False)
    for column, levels in spec.feature_levels.items():
        frame[column] = pd.Categorical(frame[column], categories=levels, ordered=True)
    frame[_TARGET] = pd.Categorical(
        frame[_TARGET], categories=list(classes), ordered=True
    )
    return frame


def _check_levels(spec: _DatasetSpec, data, feature_names: list[str]) -> None:
    """Raise if a text feature holds a value outside its stated levels."""
    for j, name in enumerate(feature_names):
        levels = spec.text_features.get(name)
        if levels is None:
            continue
        column = data[name] if hasattr(data, "columns") else data[:, j]
        # An ordered Categorical holds a value outside its levels as NaN.
        outside = set(column.tolist()) - set(levels)
        if outside:
            raise ValueError(
                f"{spec.name}.csv holds values of {name!r} outside its levels "
                f"{list(levels)}: {sorted(map(str, outside))}."
            )


def _load(spec: _DatasetSpec, caller: str, *, return_X_y: bool, as_frame: bool):
    """Load one bundled dataset; the shared body of every ``load_*``."""
    _check_flag(caller, "return_X_y", return_X_y)
    _check_flag(caller, "as_frame", as_frame)
    classes = _class_array(spec.classes)

    frame = None
    if as_frame:
        pd = _import_pandas(caller)
        frame = _read_frame(spec, classes, pd)
        feature_names = [c for c in frame.columns if c != _TARGET]
        data, target = frame[feature_names], frame[_TARGET]
        # Labels outside the stated categories become NaN in a Categorical.
        unknown = bool(target.isna().any())
    else:
        feature_names, data, target = _read_arrays(spec, classes)
        unknown = not np.isin(target, classes).all()
    if unknown:
        raise ValueError(
            f"{spec.name}.csv holds a label outside the classes {list(spec.classes)}."
        )
    _check_levels(spec, data, feature_names)

    if return_X_y:
        return data, target
    # Imported here: listing the datasets (as `skemd --help` does) needs no
    # scikit-learn.
    from sklearn.utils import Bunch

    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=feature_names,
        target_names=np.array([str(c) for c in spec.classes], dtype=object),
        classes=classes,
        feature_categories=(
            {k: list(v) for k, v in spec.text_features.items()}
            if spec.text_features
            else None
        ),
        DESCR=_read_descr(spec.name),
        filename=str(_data_file(f"{spec.name}.csv")),
    )
