"""Tests of the ``skemd`` command line (``python -m skemd``)."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skemd import EMDClassifier
from skemd._cli import Failure, _parse_args, main
from skemd._cli._data import _weights, load, split
from skemd._cli._models import Progress, RankBaseline, fit, median_reference
from skemd._cli._report import format_table

MODELS = (
    "EMDClassifier (squared EMD)",
    "EMDClassifier (cross-entropy)",
    "LogisticAT (mord)",
)
METRICS = ("MAE", "QWK", "accuracy", "RPS")
FAST = ["--max-iter", "3"]


def write_csv(path, n=60, *, missing_target=(), seed=0):
    """A small CSV: a number, a text feature and a text target low < mid < high."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    rating = np.array(["low", "mid", "high"])[np.digitize(x, [-0.4, 0.4])]
    lines = ["x,colour,rating"]
    for i in range(n):
        label = "" if i in missing_target else rating[i]
        lines.append(f"{x[i]:.3f},{colour[i]},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def csv_file(tmp_path):
    return write_csv(tmp_path / "data.csv")


def table_rows(out):
    """The lines of the score table, by model name."""
    return {
        name: line
        for line in out.splitlines()
        for name in MODELS
        if line.startswith(name) and "trained" not in line
    }


def assert_one_line_error(capsys, status, expected_status, *fragments):
    captured = capsys.readouterr()
    assert status == expected_status
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("skemd: error: ")
    assert "Traceback" not in captured.err + captured.out
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_default_run_prints_a_row_per_model_and_a_column_per_metric(capsys):
    assert main(FAST) == 0
    out = capsys.readouterr().out
    assert "winequality_red" in out
    header = next(line for line in out.splitlines() if line.startswith("model"))
    assert header.split()[1:5] == list(METRICS)
    rows = table_rows(out)
    assert set(rows) == set(MODELS)
    for line in rows.values():
        # Four scores and a fit time in seconds.
        assert len(line[len("EMDClassifier (cross-entropy)") :].split()) == 6
    starred = [cell for line in rows.values() for cell in line.split() if "*" in cell]
    assert len(starred) >= len(METRICS)


def test_progress_ends_each_model_on_one_line_when_not_a_terminal(capsys):
    main(FAST)
    out = capsys.readouterr().out
    assert "\r" not in out
    trained = [line for line in out.splitlines() if "trained in" in line]
    assert len(trained) == 3


def test_max_iter_is_reported_as_a_note_not_a_warning(capsys, recwarn):
    main(FAST)
    out = capsys.readouterr().out
    assert "(--max-iter)" in out
    assert "stopped after 3 epochs" in out
    assert not [w for w in recwarn if issubclass(w.category, ConvergenceWarning)]


def test_csv_with_text_features_and_ordered_text_target(csv_file, capsys):
    argv = ["--csv", str(csv_file), "--target", "rating", "--order", "low, mid, high"]
    assert main(argv + FAST) == 0
    out = capsys.readouterr().out
    assert "classes (samples): low (" in out
    assert out.index("low (") < out.index("mid (") < out.index("high (")
    assert "1 of them text" in out
    assert set(table_rows(out)) == set(MODELS)


def test_csv_text_target_without_order_is_sorted(csv_file, capsys):
    assert main(["--csv", str(csv_file), "--target", "rating"] + FAST) == 0
    out = capsys.readouterr().out
    assert out.index("high (") < out.index("low (") < out.index("mid (")


def test_csv_rows_without_target_are_dropped_with_a_notice(tmp_path, capsys):
    path = write_csv(tmp_path / "gaps.csv", missing_target=(1, 7))
    assert main(["--csv", str(path), "--target", "rating"] + FAST) == 0
    out = capsys.readouterr().out
    assert "note: dropped 2 of 60 rows with no value in column 'rating'" in out
    assert "58 samples" in out


def test_csv_numeric_target_is_ordered_numerically(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = ["a,b,grade"] + [
        f"{rng.normal():.3f},{rng.normal():.3f},{g}" for g in [2, 10, 9] * 10
    ]
    path = tmp_path / "grades.csv"
    path.write_text("\n".join(rows) + "\n")
    assert main(["--csv", str(path), "--target", "grade"] + FAST) == 0
    assert "2 (10) < 9 (10) < 10 (10)" in capsys.readouterr().out


def test_rare_class_falls_back_to_a_plain_split_with_a_notice(tmp_path, capsys):
    path = write_csv(tmp_path / "rare.csv")
    with path.open("a") as f:
        f.write("3.0,red,top\n")
    argv = ["--csv", str(path), "--target", "rating"]
    assert main(argv + ["--order", "low,mid,high,top"] + FAST) == 0
    out = capsys.readouterr().out
    assert "plain" in out
    assert "not stratified: class(es) 'top' have a single sample" in out


def test_missing_matplotlib_is_a_one_line_error(
    csv_file, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status = main(["--plot", str(tmp_path / "f.png")] + FAST)
    assert_one_line_error(capsys, status, 1, "pip install matplotlib")


def test_missing_mord_falls_back_to_logistic_regression(csv_file, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mord", None)
    assert main(["--csv", str(csv_file), "--target", "rating"] + FAST) == 0
    out = capsys.readouterr().out
    assert "LogisticRegression (sklearn)" in out
    assert "mord is not installed" in out


def test_missing_pandas_is_a_one_line_error(csv_file, capsys, monkeypatch):
    # Submodules too: an import of pandas.api would otherwise find them loaded.
    for name in [n for n in sys.modules if n == "pandas" or n.startswith("pandas.")]:
        monkeypatch.setitem(sys.modules, name, None)
    status = main(["--csv", str(csv_file), "--target", "rating"])
    assert_one_line_error(capsys, status, 1, "pip install pandas")


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--csv", "{dir}/nope.csv", "--target", "y"], "no such file"),
        (["--csv", "{dir}", "--target", "y"], "is a directory"),
        (["--csv", "{csv}"], "--csv needs --target"),
        (["--target", "rating"], "--target goes with --csv"),
        (["--order", "a,b"], "--order goes with --csv"),
        (["--weight", "w"], "--weight goes with --csv"),
        (["--drop", "x"], "--drop goes with --csv"),
        (["--csv", "{csv}", "--target", "rating", "--weight", "rating"], "same"),
        (["--csv", "{csv}", "--target", "rating", "--drop", "x,rating"], "--target"),
        (["--csv", "{csv}", "--target", "rating", "--drop", ","], "empty column"),
        (["--csv", "{csv}", "--target", "rating", "--drop", "x,x"], "repeated column"),
        (["--csv", "{csv}", "--target", "rating", "--order", "low,mid,low"], "low"),
        (["--csv", "{csv}", "--target", "rating", "--order", "low,,high"], "empty"),
        (["--test-size", "1.5"], "--test-size"),
        (["--max-iter", "0"], "--max-iter"),
        (["--seed", "x"], "--seed"),
        (["--ground-distance", "nearest"], "--ground-distance"),
        (["--decision", "mode"], "--decision"),
        (["--dataset", "nope"], "--dataset"),
        (["--dataset", "era", "--csv", "{csv}"], "not allowed with"),
        (["--plot", "{dir}/missing/f.png"], "no such directory"),
        (["--plot", "{dir}/f.unknown"], "image format"),
        (["--no-such-option"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, expected, csv_file, capsys):
    argv = [a.format(dir=csv_file.parent, csv=csv_file) for a in argv]
    assert_one_line_error(capsys, main(argv), 2, expected)


def test_missing_target_column_lists_the_columns(csv_file, capsys):
    status = main(["--csv", str(csv_file), "--target", "quality"])
    line = assert_one_line_error(capsys, status, 1, "'quality'")
    assert "'x', 'colour', 'rating'" in line


def test_semicolon_file_suggests_sep(tmp_path, capsys):
    path = tmp_path / "wine.csv"
    path.write_text("a;quality\n1;2\n3;4\n")
    status = main(["--csv", str(path), "--target", "quality"])
    assert_one_line_error(capsys, status, 1, "--sep")


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "cannot read"),
        (b"\xff\xfe\x00\x01\x80\x81binary\n\x00\xff", "cannot read"),
        (b"x,rating\n", "no data rows"),
        (b'x,rating\n1,"low\n', "cannot read"),
    ],
)
def test_unreadable_csv_exits_1_with_one_line(content, expected, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    status = main(["--csv", str(path), "--target", "rating"])
    assert_one_line_error(capsys, status, 1, expected)


def test_single_class_target_is_an_error(tmp_path, capsys):
    path = tmp_path / "one.csv"
    path.write_text("x,y\n1,a\n2,a\n3,a\n")
    status = main(["--csv", str(path), "--target", "y"])
    assert_one_line_error(capsys, status, 1, "single class, 'a';")


def test_order_missing_labels_names_them(csv_file, capsys):
    argv = ["--csv", str(csv_file), "--target", "rating", "--order", "low,mid"]
    assert_one_line_error(capsys, main(argv), 1, "'high'")


def test_continuous_target_is_an_error(csv_file, capsys):
    status = main(["--csv", str(csv_file), "--target", "x"])
    assert_one_line_error(capsys, status, 1, "not whole")


def test_plot_writes_a_png_and_refuses_to_overwrite(csv_file, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "fig.png"
    argv = ["--csv", str(csv_file), "--target", "rating", "--plot", str(plot)] + FAST
    assert main(argv) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Figure saved to {plot}" in capsys.readouterr().out

    plot.write_bytes(b"keep me")
    assert_one_line_error(capsys, main(argv), 2, "--force")
    assert plot.read_bytes() == b"keep me"

    assert main(argv + ["--force"]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("existing", [False, True])
def test_a_figure_that_cannot_be_drawn_leaves_files_alone(
    existing, csv_file, tmp_path, capsys, monkeypatch
):
    # As pgf does without LaTeX: the error comes from savefig itself.
    from matplotlib.figure import Figure

    def fails(self, *args, **kwargs):
        raise RuntimeError("xelatex not found\nmore detail")

    monkeypatch.setattr(Figure, "savefig", fails)
    plot = tmp_path / "fig.png"
    if existing:
        plot.write_bytes(b"precious")
    argv = ["--csv", str(csv_file), "--target", "rating", "--plot", str(plot)]
    status = main(argv + FAST + ["--force"])
    assert_one_line_error(capsys, status, 1, "cannot draw the figure as png")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["data.csv"] + (["fig.png"] if existing else [])
    )
    if existing:
        assert plot.read_bytes() == b"precious"


def test_force_keeps_the_permissions_of_the_replaced_file(csv_file, tmp_path):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "fig.png"
    plot.write_bytes(b"old")
    plot.chmod(0o640)
    argv = ["--csv", str(csv_file), "--target", "rating", "--plot", str(plot)]
    assert main(argv + FAST + ["--force"]) == 0
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert plot.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "fig.png"]


def test_ground_distance_is_passed_to_the_squared_emd_model(csv_file, capsys):
    argv = ["--csv", str(csv_file), "--target", "rating"] + FAST
    assert main(argv + ["--ground-distance", "uniform"]) == 0
    out = capsys.readouterr().out
    assert "EMDClassifier (squared EMD, uniform, with cross-entropy)" in out
    assert main(argv + ["--ground-distance", "ordinal"]) == 0
    assert "EMDClassifier (squared EMD, ordinal)  " in capsys.readouterr().out


def test_decision_is_passed_to_the_squared_emd_model(csv_file, capsys, monkeypatch):
    from skemd._cli import _models

    fitted = []

    def spy(name, pipeline, *args):
        fitted.append(pipeline[-1])
        return fit(name, pipeline, *args)

    monkeypatch.setattr(_models, "fit", spy)
    argv = ["--csv", str(csv_file), "--target", "rating"] + FAST
    argv += ["--decision", "median", "--ground-distance", "uniform"]
    assert main(argv) == 0
    name = "EMDClassifier (squared EMD, uniform, with cross-entropy, median)"
    assert name in capsys.readouterr().out
    emd, ce = fitted[:2]
    assert (emd.decision, emd.ground_distance) == ("median", "uniform")
    assert ce.decision == EMDClassifier().decision


def test_progress_redraws_an_epoch_counter_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    class Net:
        history = []

    stream = Terminal()
    progress = Progress(stream, width=5)
    progress.start("net", max_epochs=10)
    for epoch in (1, 2):
        Net.history.append({"epoch": epoch})
        progress.on_epoch_end(Net)
    progress.finish("trained in 0.1 s (2 epochs)")
    text = stream.getvalue()
    assert "epoch 1/10" in text and "epoch 2/10" in text
    assert text.count("\n") == 1
    assert text.endswith("\r  net    trained in 0.1 s (2 epochs)\n")


def test_table_stars_every_best_value_including_ties():
    scores = {
        "a": {"MAE": 0.5, "QWK": 0.2, "accuracy": 0.7, "RPS": 0.3},
        "b": {"MAE": 0.5, "QWK": 0.4, "accuracy": 0.6, "RPS": 0.2},
    }
    table = format_table(scores, {"a": 1.0, "b": 2.0})
    row_a, row_b = table.splitlines()[2:4]
    assert row_a.split()[1:5] == ["0.500*", "0.200", "0.700*", "0.300"]
    assert row_b.split()[1:5] == ["0.500*", "0.400*", "0.600", "0.200*"]


def write_weighted_csv(path, weights, n=60):
    """The CSV of ``write_csv`` with an id column first and a weight column last."""
    lines = write_csv(path, n=n).read_text().splitlines()
    rows = [f"id,{lines[0]},w"]
    rows += [f"{i},{line},{weights[i]}" for i, line in enumerate(lines[1:])]
    path.write_text("\n".join(rows) + "\n")
    return path


def load_weighted(path):
    """The data of a file of ``write_weighted_csv``, as the command reads it."""
    argv = ["--csv", str(path), "--target", "rating", "--weight", "w", "--drop", "id"]
    return load(_parse_args(argv))


def test_weight_column_weighs_training_and_test_scores(tmp_path, capsys):
    weights = np.random.default_rng(1).integers(1, 4, size=60)
    path = write_weighted_csv(tmp_path / "w.csv", weights)
    argv = ["--csv", str(path), "--target", "rating", "--weight", "w"]
    assert main(argv + ["--drop", "id"] + FAST) == 0
    out = capsys.readouterr().out
    assert "2 feature columns, 1 of them text" in out
    assert f"weighted by column 'w' (total {weights.sum()})" in out
    # One number and three colours: neither the id nor the weight is a feature.
    assert "weighted by 'w', 4 features after encoding" in out
    assert set(table_rows(out)) == set(MODELS)


def test_unit_weights_give_the_unweighted_scores(tmp_path, capsys):
    path = write_weighted_csv(tmp_path / "w.csv", np.ones(60, dtype=int))
    argv = ["--csv", str(path), "--target", "rating", "--drop", "id,w"] + FAST
    assert main(argv) == 0
    plain = table_rows(capsys.readouterr().out)
    argv = ["--csv", str(path), "--target", "rating", "--drop", "id"]
    assert main(argv + ["--weight", "w"] + FAST) == 0
    weighted = table_rows(capsys.readouterr().out)
    for name in MODELS:
        # The scores; the fit time may differ.
        assert weighted[name].split()[-6:-2] == plain[name].split()[-6:-2]


def test_zero_weights_are_counted_and_reported(tmp_path, capsys):
    weights = np.ones(60)
    weights[:6] = 0
    path = write_weighted_csv(tmp_path / "w.csv", weights)
    argv = ["--csv", str(path), "--target", "rating", "--weight", "w"]
    assert main(argv + ["--drop", "id"] + FAST) == 0
    assert "6 of 60 rows have weight 0" in capsys.readouterr().out


def test_split_keeps_each_weight_with_its_row(tmp_path):
    import pandas as pd

    weights = np.arange(1, 61)
    path = write_weighted_csv(tmp_path / "w.csv", weights)
    data = load_weighted(path)
    assert "id" not in data.X.columns and "w" not in data.X.columns
    X_train, X_test, y_train, y_test, w_train, w_test, _ = split(data, 0.25, 0)
    frame = pd.read_csv(path)
    for X, y, w in ((X_train, y_train, w_train), (X_test, y_test, w_test)):
        rows = frame.loc[X.index]
        np.testing.assert_array_equal(w, rows["w"].to_numpy())
        np.testing.assert_array_equal(y, rows["rating"].to_numpy())


def test_rank_baseline_integer_weights_equal_repeated_rows():
    mord = pytest.importorskip("mord")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = np.array(["a", "b", "c"])[np.digitize(X[:, 0], [-0.5, 0.5])]
    weights = rng.integers(0, 4, size=40)
    weighted = RankBaseline(mord.LogisticAT()).fit(X, y, weights)
    repeated = RankBaseline(mord.LogisticAT()).fit(
        np.repeat(X, weights, axis=0), np.repeat(y, weights)
    )
    np.testing.assert_allclose(
        weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-4
    )
    np.testing.assert_array_equal(weighted.predict(X), repeated.predict(X))


def test_fit_passes_the_weights_to_the_model():
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    class Recorder(ClassifierMixin, BaseEstimator):
        def fit(self, X, y, sample_weight=None):
            self.sample_weight_ = sample_weight
            return self

    X, y, w = np.arange(8.0).reshape(4, 2), np.array([0, 1, 0, 1]), np.arange(4.0)
    pipeline = make_pipeline(StandardScaler(), Recorder())
    fit("recorder", pipeline, X, y, Progress(io.StringIO(), 8), w)
    assert pipeline[-1].sample_weight_ is w
    fit("recorder", pipeline, X, y, Progress(io.StringIO(), 8))
    assert pipeline[-1].sample_weight_ is None


@pytest.mark.parametrize(
    "values, expected",
    [
        (["1", "x", "2"], "not numbers, such as 'x'"),
        ([1.0, np.nan, 2.0], "no value in 1 of 3 rows"),
        ([1.0, -2.0, 2.0], "negative weights (first at position 1: -2)"),
        ([1.0, np.inf, 2.0], "a weight of inf"),
        ([0, 0, 0], "zero for every sample"),
        ([True, False, True], "not numbers"),
    ],
)
def test_bad_weight_columns_are_named(values, expected):
    import pandas as pd

    with pytest.raises(Failure, match="weight column 'w'") as info:
        _weights(pd.Series(values, name="w"))
    assert expected in str(info.value)


def test_bad_weight_column_in_a_file_is_a_one_line_error(tmp_path, capsys):
    weights = np.ones(60)
    weights[3] = -1
    path = write_weighted_csv(tmp_path / "w.csv", weights)
    status = main(["--csv", str(path), "--target", "rating", "--weight", "w"])
    assert_one_line_error(capsys, status, 1, "weight column 'w'", "negative")


@pytest.mark.parametrize(
    "option, value, expected",
    [
        ("--weight", "weights", "--weight: column 'weights' is not in"),
        ("--drop", "id,name", "--drop: columns 'id', 'name' are not in"),
    ],
)
def test_unknown_weight_or_drop_columns_are_named(
    csv_file, capsys, option, value, expected
):
    status = main(["--csv", str(csv_file), "--target", "rating", option, value])
    line = assert_one_line_error(capsys, status, 1, expected)
    assert "'x', 'colour', 'rating'" in line


def test_dropping_every_feature_is_an_error(csv_file, capsys):
    argv = ["--csv", str(csv_file), "--target", "rating", "--drop", "x,colour"]
    assert_one_line_error(capsys, main(argv), 1, "no feature columns besides")


def test_test_part_with_zero_weight_only_is_an_error(tmp_path, capsys):
    # Weight only on the training rows of the split that seed 0 draws.
    path = write_weighted_csv(tmp_path / "w.csv", np.ones(60))
    data = load_weighted(path)
    test_rows = split(data, 0.25, 0).X_test.index
    weights = np.ones(60)
    weights[test_rows] = 0
    path = write_weighted_csv(tmp_path / "w.csv", weights)
    status = main(["--csv", str(path), "--target", "rating", "--weight", "w"])
    assert_one_line_error(capsys, status, 1, "test part has weight 0")


def test_python_m_skemd_help():
    result = subprocess.run(
        [sys.executable, "-m", "skemd", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage: skemd")
    assert "--csv FILE" in result.stdout


def write_grades(path, grades):
    rng = np.random.default_rng(0)
    rows = ["a,b,grade"] + [
        f"{rng.normal():.3f},{rng.normal():.3f},{g}" for g in grades
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_order_may_name_numeric_classes_without_samples(tmp_path, capsys):
    path = write_grades(tmp_path / "g.csv", [1, 2, 4] * 10)
    argv = ["--csv", str(path), "--target", "grade", "--order", "1,2,3,4"]
    assert main(argv + FAST) == 0
    out = capsys.readouterr().out
    assert "note: no sample has the class(es) '3' named by --order" in out
    assert "1 (10) < 2 (10) < 3 (0) < 4 (10)" in out


def test_order_with_a_word_for_a_numeric_target_is_an_error(tmp_path, capsys):
    path = write_grades(tmp_path / "g.csv", [1, 2] * 10)
    argv = ["--csv", str(path), "--target", "grade", "--order", "1,2,top"]
    assert_one_line_error(capsys, main(argv), 1, "'top'", "whole numbers")


def test_training_part_with_one_weighted_class_is_an_error(tmp_path, capsys):
    # Only the "low" rows weigh anything.
    lines = write_csv(tmp_path / "plain.csv").read_text().splitlines()[1:]
    weights = [int(line.endswith(",low")) for line in lines]
    path = write_weighted_csv(tmp_path / "w.csv", weights)
    status = main(["--csv", str(path), "--target", "rating", "--weight", "w"])
    assert_one_line_error(
        capsys, status, 1, "training part holds a single class with a weight above 0"
    )


def test_a_training_failure_is_one_line_naming_the_model(csv_file, capsys, monkeypatch):
    def fail(self, X, y, sample_weight=None):
        raise FloatingPointError("the training loss became NaN at epoch 3")

    monkeypatch.setattr(EMDClassifier, "fit", fail)
    status = main(["--csv", str(csv_file), "--target", "rating"] + FAST)
    line = assert_one_line_error(capsys, status, 1, "became NaN at epoch 3")
    assert "EMDClassifier (squared EMD)" in line


def test_version(capsys):
    import skemd

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"skemd {skemd.__version__}"


def test_report_prints_the_squared_emd_model_class_by_class(csv_file, capsys):
    argv = ["--csv", str(csv_file), "--target", "rating", "--order", "low,mid,high"]
    assert main(argv + FAST + ["--report"]) == 0
    out = capsys.readouterr().out
    report = out[out.index("Class by class, EMDClassifier (squared EMD) on") :]
    rows = [line.split() for line in report.splitlines()]
    labels = [row[0] for row in rows if row and row[0] in ("low", "mid", "high")]
    assert labels == ["low", "mid", "high"]  # in class order, not sorted
    # The report's MAE is the table's.
    table_mae = table_rows(out)["EMDClassifier (squared EMD)"].split()[3]
    report_mae = next(
        r for r in rows if r[:4] == ["mean", "absolute", "error", "(MAE)"]
    )
    assert float(report_mae[4]) == pytest.approx(float(table_mae.rstrip("*")))
    for metric in ("Kendall's tau-b", "minimum sensitivity", "ranked probability"):
        assert metric in report
    # Without the option, no report.
    assert main(argv + FAST) == 0
    assert "Class by class" not in capsys.readouterr().out


def test_ctrl_c_while_training_exits_130_without_a_traceback(monkeypatch, capsys):
    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(EMDClassifier, "fit", interrupted)
    status = main(["--max-iter", "2"])
    captured = capsys.readouterr()
    assert status == 130
    assert captured.err.strip().splitlines()[-1] == "skemd: interrupted"
    assert "Traceback" not in captured.err + captured.out


def test_order_can_name_a_class_that_pandas_reads_as_missing(tmp_path, capsys):
    # "NA" (not applicable) is a class here, and an empty cell still is no value.
    path = write_grades(tmp_path / "g.csv", ["NA", "B", "C"] * 10 + [""])
    argv = ["--csv", str(path), "--target", "grade", "--order", "NA,B,C"]
    assert main(argv + FAST) == 0
    out = capsys.readouterr().out
    assert "classes (samples): NA (10) < B (10) < C (10)" in out
    assert "dropped 1 of 31 rows with no value" in out


def test_without_order_na_cells_are_missing_values(tmp_path, capsys):
    path = write_grades(tmp_path / "g.csv", ["NA", "B", "C"] * 10)
    argv = ["--csv", str(path), "--target", "grade"]
    assert main(argv + FAST) == 0
    assert "dropped 10 of 30 rows with no value" in capsys.readouterr().out


@pytest.mark.parametrize("order", ["01,02,03", "1.0,2.0,3.0", "3,2,1"])
def test_order_of_numbers_is_read_as_numbers(order, tmp_path, capsys):
    path = tmp_path / "g.csv"
    write_grades(path, ["01", "02", "03"] * 10)
    argv = ["--csv", str(path), "--target", "grade", "--order", order]
    assert main(argv + FAST) == 0
    out = capsys.readouterr().out
    expected = "3 (10) < 2 (10) < 1 (10)" if order == "3,2,1" else "1 (10) < 2 (10)"
    assert expected in out


def test_order_naming_a_number_twice_is_an_error(tmp_path, capsys):
    path = write_grades(tmp_path / "g.csv", [1, 2, 3] * 10)
    argv = ["--csv", str(path), "--target", "grade", "--order", "1,01,2,3"]
    assert_one_line_error(capsys, main(argv), 1, "class 1 twice", "'1' and '01'")


def test_order_starting_with_a_minus_sign(tmp_path, capsys):
    path = write_grades(tmp_path / "g.csv", [-1, 0, 1] * 10)
    argv = ["--csv", str(path), "--target", "grade", "--order", "-1,0,1"]
    assert main(argv + FAST) == 0
    assert "-1 (10) < 0 (10) < 1 (10)" in capsys.readouterr().out


def test_force_writes_through_a_link_and_refuses_a_read_only_file(
    csv_file, tmp_path, capsys
):
    pytest.importorskip("matplotlib")
    real = tmp_path / "real.png"
    real.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(real)
    argv = ["--csv", str(csv_file), "--target", "rating"] + FAST + ["--force"]
    assert main(argv + ["--plot", str(link)]) == 0
    assert link.is_symlink()
    assert real.read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    real.write_bytes(b"keep")
    real.chmod(0o444)
    if os.access(real, os.W_OK):
        pytest.skip("running with permissions that ignore file modes")
    status = main(argv + ["--plot", str(real)])
    assert_one_line_error(capsys, status, 2, "is not writable")
    assert real.read_bytes() == b"keep"


def test_order_does_not_take_the_next_option_as_its_value(csv_file, capsys):
    argv = ["--csv", str(csv_file), "--order", "--target", "rating"]
    assert_one_line_error(capsys, main(argv), 2, "--order", "expected one argument")


def test_an_abbreviated_order_may_start_with_a_minus_sign(tmp_path, capsys):
    path = write_grades(tmp_path / "g.csv", [-1, 0, 1] * 10)
    argv = ["--csv", str(path), "--target", "grade", "--ord", "-1,0,1"]
    assert main(argv + FAST) == 0
    assert "-1 (10) < 0 (10) < 1 (10)" in capsys.readouterr().out


def test_order_naming_a_missing_value_in_a_numeric_target(tmp_path, capsys):
    path = write_grades(tmp_path / "g.csv", ["1", "2", "NA"] * 10)
    argv = ["--csv", str(path), "--target", "grade", "--order", "1,2,NA"]
    assert_one_line_error(
        capsys, main(argv), 1, "'NA'", "missing value", "write that class as a number"
    )


def _write(path, header, rows):
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _grades_rows(n=40, extra=""):
    rng = np.random.default_rng(1)
    return [
        f"{rng.normal():.3f},{rng.normal():.3f},{'abc'[i % 3]}{extra}" for i in range(n)
    ]


def test_a_repeated_header_name_is_an_error(tmp_path, capsys):
    path = _write(
        tmp_path / "d.csv", "a,b,grade,grade", [r + ",x" for r in _grades_rows()]
    )
    status = main(["--csv", str(path), "--target", "grade"])
    assert_one_line_error(capsys, status, 1, "more than one column named 'grade'")


@pytest.mark.parametrize("header", ["a,b,grade", "a,b,grade,"])
def test_a_trailing_separator_keeps_the_columns_in_place(header, tmp_path, capsys):
    # On the data rows only, or on every line: the columns do not shift, and a
    # column with no value is left out with a note.
    path = _write(tmp_path / "t.csv", header, _grades_rows(extra=","))
    assert main(["--csv", str(path), "--target", "grade"] + FAST) == 0
    out = capsys.readouterr().out
    assert "classes (samples): a (14) < b (13) < c (13)" in out
    if header.endswith(","):
        assert "left out column(s) 'column 4', which hold no value" in out


def test_spaces_before_a_separator_are_stripped(tmp_path, capsys):
    rows = [r.replace(",", " ,") for r in _grades_rows()]
    path = _write(tmp_path / "s.csv", "a ,b ,grade", rows)
    argv = ["--csv", str(path), "--target", "grade", "--order", "c,b,a", "--drop", "b"]
    assert main(argv + FAST) == 0
    assert "classes (samples): c (13) < b (13) < a (14)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "values, message",
    [
        (["1", "2", "?"], "numbers and text, such as '?'"),
        (["1", "2", "inf"], "infinite"),
    ],
)
def test_a_target_that_cannot_be_ordered_is_an_error(values, message, tmp_path, capsys):
    path = write_grades(tmp_path / "g.csv", values * 10)
    status = main(["--csv", str(path), "--target", "grade"])
    assert_one_line_error(capsys, status, 1, message)


def test_lower_case_booleans_can_be_ordered_as_written(tmp_path, capsys):
    path = write_grades(tmp_path / "g.csv", ["true", "false"] * 15)
    argv = ["--csv", str(path), "--target", "grade", "--order", "true,false"]
    assert main(argv + FAST) == 0
    assert "classes (samples): True (15) < False (15)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--seed", "-1"], "--seed: must be from 0"),
        (["--seed", str(2**32)], "--seed: must be from 0"),
        (["--sep", "(("], "--sep: must be one character"),
        (["--sep", ""], "--sep: must be one character"),
    ],
)
def test_seed_and_separator_are_checked(argv, expected, capsys):
    assert_one_line_error(capsys, main(argv), 2, expected)


def test_a_tab_separated_file(tmp_path, capsys):
    rows = [r.replace(",", "\t") for r in _grades_rows()]
    path = _write(tmp_path / "t.tsv", "a\tb\tgrade", rows)
    argv = ["--csv", str(path), "--target", "grade", "--sep", "\\t"]
    assert main(argv + FAST) == 0
    captured = capsys.readouterr()
    assert "classes (samples): a (14)" in captured.out
    assert "Warning" not in captured.err


def test_an_identifier_column_gets_a_bounded_encoding(tmp_path, capsys):
    rows = [f"id{i},{r}" for i, r in enumerate(_grades_rows(n=300))]
    path = _write(tmp_path / "i.csv", "uid,a,b,grade", rows)
    assert main(["--csv", str(path), "--target", "grade"] + FAST) == 0
    out = capsys.readouterr().out
    assert "'uid' has 300 distinct values: the 49 most frequent" in out
    assert "52 features after encoding" in out


class _FailingOutput(io.StringIO):
    def __init__(self, error):
        super().__init__()
        self.error = error

    def write(self, text):
        raise self.error


@pytest.mark.parametrize(
    "error, status, message",
    [
        (BrokenPipeError(32, "Broken pipe"), 1, None),
        (OSError(28, "No space left on device"), 1, "cannot write the output"),
    ],
)
def test_output_that_cannot_be_written(error, status, message, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", _FailingOutput(error))
    monkeypatch.setattr(os, "dup2", lambda *args: None)
    assert main(FAST) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if message:
        assert message in err


# The size limit of --max-csv-size


def test_a_csv_larger_than_the_size_limit_is_a_one_line_error(csv_file, capsys):
    argv = ["--csv", str(csv_file), "--target", "rating", "--max-csv-size", "500"]
    line = assert_one_line_error(capsys, main(argv), 1, "--max-csv-size", "500 bytes")
    assert "raise it" in line
    assert main(argv[:-1] + ["1M"] + FAST) == 0


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_file_stops_at_the_size_limit(capsys):
    argv = ["--csv", "/dev/zero", "--target", "y", "--max-csv-size", "64K"]
    assert_one_line_error(capsys, main(argv), 1, "larger than", "64 KiB")


def test_an_endless_pipe_stops_at_the_size_limit(capsys):
    import threading

    read_end, write_end = os.pipe()

    def write_forever():
        with open(write_end, "wb", buffering=0) as pipe:
            pipe.write(b"x,y\n")
            try:
                while True:
                    pipe.write(b"1.5,a\n2.5,b\n" * 1000)
            except OSError:  # the reader has gone: a broken pipe
                pass

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    try:
        argv = ["--csv", f"/dev/fd/{read_end}", "--target", "y"]
        status = main(argv + ["--max-csv-size", "256K"])
    finally:
        os.close(read_end)
        writer.join(timeout=10)
    assert_one_line_error(capsys, status, 1, "--max-csv-size", "256 KiB")


@pytest.mark.parametrize(
    "text, expected", [("1.5k", 1536), ("2G", 2**31), ("10 MiB", 10 * 2**20)]
)
def test_sizes_take_binary_units(text, expected):
    from skemd._cli import _size

    assert _size(text) == expected


@pytest.mark.parametrize("text", ["0", "lots", "-1M", "1Q"])
def test_a_wrong_size_is_a_usage_error(text, csv_file, capsys):
    argv = ["--csv", str(csv_file), "--target", "rating", "--max-csv-size", text]
    assert_one_line_error(capsys, main(argv), 2, "--max-csv-size")


# --plot checked before training, and never onto the data


@pytest.mark.parametrize("link", [None, "hard", "symbolic"])
def test_plot_onto_the_csv_file_is_refused_even_with_force(link, csv_file, capsys):
    plot = csv_file
    if link is not None:
        plot = csv_file.with_name("figure.svg")
        if link == "hard":
            os.link(csv_file, plot)
        else:
            plot.symlink_to(csv_file)
    data = csv_file.read_bytes()
    argv = ["--csv", str(csv_file), "--target", "rating", "--plot", str(plot)]
    status = main(argv + ["--force"] + FAST)
    assert_one_line_error(capsys, status, 2, "is the --csv file")
    assert csv_file.read_bytes() == data


def test_a_dangling_plot_link_is_refused_before_training(csv_file, tmp_path, capsys):
    link = tmp_path / "fig.png"
    link.symlink_to(tmp_path / "missing" / "fig.png")
    argv = ["--csv", str(csv_file), "--target", "rating", "--plot", str(link)]
    assert_one_line_error(capsys, main(argv + FAST), 2, "link to a missing file")
    # With --force the link is followed, into a folder that does not exist.
    assert_one_line_error(capsys, main(argv + FAST + ["--force"]), 2, "missing")


def test_force_writes_through_a_dangling_link(csv_file, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    link = tmp_path / "fig.png"
    link.symlink_to(tmp_path / "real.png")
    argv = ["--csv", str(csv_file), "--target", "rating", "--plot", str(link)]
    assert main(argv + FAST + ["--force"]) == 0
    assert (tmp_path / "real.png").read_bytes()[:4] == b"\x89PNG"


# Ctrl-C and start-up

# A sitecustomize module that sends SIGINT to its process when the module
# named by SKEMD_TEST_INTERRUPT is first imported.
_INTERRUPT_ON_IMPORT = """
import importlib.abc, os, signal, sys

signal.signal(signal.SIGINT, signal.default_int_handler)

class Interrupt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == os.environ["SKEMD_TEST_INTERRUPT"]:
            # Within exec(), as a dataclass or a namedtuple is made.
            exec("os.kill(os.getpid(), signal.SIGINT); [n for n in range(99)]")
        return None

sys.meta_path.insert(0, Interrupt())
"""
# What the console script runs.
_SCRIPT = "import sys; from skemd._cli import main; sys.exit(main())"


@pytest.mark.parametrize(
    "trigger, command",
    [
        ("skemd._cli", ["-m", "skemd"]),
        ("pandas", ["-m", "skemd"]),
        ("numpy", ["-c", _SCRIPT]),
        ("pandas", ["-c", _SCRIPT]),
    ],
)
def test_ctrl_c_while_modules_load_exits_130_with_one_line(trigger, command, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(_INTERRUPT_ON_IMPORT)
    path = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "SKEMD_TEST_INTERRUPT": trigger}
    env["PYTHONPATH"] = os.pathsep.join(path)
    result = subprocess.run(
        [sys.executable, *command, "--max-iter", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip().splitlines() == ["skemd: interrupted"]


_IMPORTS_CHILD = """
import sys
from skemd._cli import main

status = main(sys.argv[1:])
heavy = ("torch", "skorch", "sklearn", "pandas", "matplotlib", "scipy")
print(sorted(name for name in heavy if name in sys.modules), status)
"""


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["--seed", "x"]])
def test_help_version_and_usage_errors_import_no_heavy_module(argv):
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTS_CHILD, *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.splitlines()[-1] in ("[] 0", "[] 2")


def test_dataset_choices_are_those_of_skemd_datasets():
    from skemd._cli import _build_parser
    from skemd.datasets import list_datasets

    action = next(a for a in _build_parser()._actions if a.dest == "dataset")
    assert list(action.choices) == list_datasets()


# What a new user needs to read the output


def test_progress_in_a_pipe_shows_each_start_and_every_tenth_epoch():
    class Flushes(io.StringIO):
        flushed = []

        def flush(self):
            self.flushed.append(self.getvalue())

    stream = Flushes()
    progress = Progress(stream, width=3)
    progress.start("net", max_epochs=40)
    for epoch in range(1, 13):
        progress.epoch(epoch)
    progress.finish("trained in 0.1 s (12 epochs)")
    lines = stream.getvalue().splitlines()
    assert lines == [
        "  net  training, at most 40 epochs",
        "  net  epoch 4/40",
        "  net  epoch 8/40",
        "  net  epoch 12/40",
        "  net  trained in 0.1 s (12 epochs)",
    ]
    # Each line is flushed as it is written.
    assert [text.count("\n") for text in Flushes.flushed] == [1, 2, 3, 4, 5]


def test_a_run_in_a_pipe_reports_epochs_as_they_pass(csv_file, capsys):
    argv = ["--csv", str(csv_file), "--target", "rating", "--max-iter", "20"]
    assert main(argv) == 0
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    for name in MODELS[:2]:
        assert f"{name} training, at most 20 epochs" in lines
        assert f"{name} epoch 2/20" in lines
    assert "LogisticAT (mord) training" in lines


def test_the_table_ends_with_the_constant_median_reference(csv_file, capsys):
    argv = ["--csv", str(csv_file), "--target", "rating", "--order", "low,mid,high"]
    assert main(argv + FAST) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("constant median"))
    cells = row.split()[3:]
    assert len(cells) == 6 and not any("*" in cell for cell in cells)
    assert "not ranked" in out
    assert "Decision rule: EMDClassifier (squared EMD) predicts the median class" in (
        " ".join(out.split())
    )


def test_the_decision_rule_names_the_decision_given(csv_file, capsys):
    argv = ["--csv", str(csv_file), "--target", "rating", "--decision", "median"]
    assert main(argv + FAST) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "predicts the median class of its predicted distribution" in out


@pytest.mark.parametrize(
    "weights, expected",
    [(None, "mid"), ([1, 1, 1, 1, 9], "high"), ([5, 1, 1, 1, 1], "low")],
)
def test_median_reference_takes_the_class_order_and_the_weights(weights, expected):
    import pandas as pd

    order = ["low", "mid", "high", "top"]
    y = pd.Series(pd.Categorical(["low", "mid", "mid", "high", "high"], order, True))
    y_pred, proba = median_reference(y, weights, 2)
    assert list(y_pred) == [expected, expected]
    # One column per class in class order, the unseen "top" included.
    assert proba.tolist() == [[float(label == expected) for label in order]] * 2


def test_text_classes_without_order_get_a_note_on_the_guess(csv_file, capsys):
    assert main(["--csv", str(csv_file), "--target", "rating"] + FAST) == 0
    note = next(
        line for line in capsys.readouterr().out.splitlines() if "guess" in line
    )
    assert "alphabetical" in note and "high < low < mid" in note
    assert "--order high,low,mid" in note


@pytest.mark.parametrize(
    "argv", [["--target", "rating", "--order", "low,mid,high"], ["--target", "grade"]]
)
def test_given_or_numeric_orders_get_no_note(argv, csv_file, tmp_path, capsys):
    path = (
        csv_file if "rating" in argv else write_grades(tmp_path / "g.csv", [1, 2] * 9)
    )
    assert main(["--csv", str(path), *argv] + FAST) == 0
    assert "guess" not in capsys.readouterr().out


@pytest.mark.parametrize("value", ["inf", "1e308"])
def test_a_feature_too_large_for_the_networks_is_named(value, tmp_path, capsys):
    # Scaling 1e308 overflows: without the check, the error would speak of NaN.
    rows = [f"{i % 5},{value if i == 3 else i},{'abc'[i % 3]}" for i in range(30)]
    path = _write(tmp_path / "big.csv", "a,b,grade", rows)
    status = main(["--csv", str(path), "--target", "grade"])
    assert_one_line_error(capsys, status, 1, "feature column(s) 'b'", "too large")
