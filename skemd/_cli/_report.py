"""What the command prints, and the figure ``--plot`` saves."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from ..metrics import ordinal_report
from . import Failure, one_line
from ._models import REFERENCE, evaluate

# Each column of the table, and how its best value is found.
_METRICS = {"MAE": min, "QWK": max, "accuracy": max, "RPS": min}
_LEGEND = (
    "* best in its column. Lower is better for MAE (mean absolute error, in "
    "classes) and RPS (ranked probability score); higher for QWK (quadratic "
    "weighted kappa) and accuracy."
)
_RULES = {
    "argmax": "the most probable class",
    "median": "the median class of its predicted distribution",
    "expected_cost": "the class of least expected cost under its ground distance",
}


def _describe_classes(y) -> str:
    counts = y.value_counts(sort=False)  # every category, in class order
    items = [f"{label} ({count})" for label, count in counts.items()]
    return " < ".join(items if len(items) <= 12 else items[:5] + ["..."] + items[-5:])


def setup(data, args, parts, pipelines: dict, note: str | None) -> str:
    """What the models are trained and tested on, and how."""
    n_columns = data.X.shape[1]
    n_text = n_columns - data.X.select_dtypes(["number", "bool"]).shape[1]
    lines = [
        f"Data: {data.name}",
        f"  {len(data.y)} samples, {n_columns} feature columns"
        + (f", {n_text} of them text" if n_text else ""),
    ]
    if data.weight is not None:
        total = data.weight.sum()
        lines.append(f"  weighted by column {data.weight_column!r} (total {total:.6g})")
    lines.append(f"  classes (samples): {_describe_classes(data.y)}")
    lines += [f"note: {data_note}" for data_note in data.notes]
    lines.append(
        f"Split: {len(parts.y_train)} training / {len(parts.y_test)} test samples, "
        f"{'plain' if parts.note else 'stratified'}, seed {args.seed}"
    )
    lines += [f"note: {parts.note}"] if parts.note else []
    network = next(iter(pipelines.values()))[-1]
    limit = " (--max-iter)" if args.max_iter is not None else ""
    lines.append(
        f"Networks: EMDClassifier's defaults, {network.n_estimators} networks of "
        f"{network.hidden_layer_sizes} with embeddings of the numeric features, "
        f"at most {network.max_iter} epochs{limit}, each stopped early on its "
        f"own {network.validation_fraction:.0%} of the training part"
    )
    lines += [f"note: {note}"] if note else []
    return "\n".join(lines)


def format_table(scores: dict, seconds: dict, reference=()) -> str:
    """The scores as a text table and its legend, the best of each column starred.

    ``scores`` maps each model name to ``{metric: value}``, ``seconds`` to its
    fit time; the rows of ``reference`` are not ranked.
    """
    columns = [["model", *scores]]
    for metric, pick in _METRICS.items():
        shown = {name: f"{values[metric]:.3f}" for name, values in scores.items()}
        best = pick(float(v) for name, v in shown.items() if name not in reference)
        # A space after each value and after the name leaves room for the star.
        star = {
            n: "*" if n not in reference and float(v) == best else " "
            for n, v in shown.items()
        }
        columns.append([f"{metric} ", *(v + star[n] for n, v in shown.items())])
    columns.append(["fit time", *(f"{seconds[name]:.1f} s" for name in scores)])
    widths = [max(map(len, column)) for column in columns]
    rows = [["-" * width for width in widths], *zip(*columns, strict=True)]
    rows.insert(0, rows.pop(1))  # the header, then the rule
    lines = [
        "  ".join(
            [row[0].ljust(widths[0])]
            + [
                cell.rjust(width)
                for cell, width in zip(row[1:], widths[1:], strict=True)
            ]
        ).rstrip()
        for row in rows
    ]
    legend = _LEGEND
    if reference:
        legend += (
            f" The {', '.join(reference)} row, not ranked, predicts the median "
            "training class for every sample: a model that does no better than it "
            "has learnt nothing of use."
        )
    return "\n".join([*lines, "", *textwrap.wrap(legend, width=79)])


def results(data, parts, pipelines: dict, seconds: dict, args, out) -> dict:
    """Print the test scores, the decision rule and, with ``--report``, the
    report of the squared-EMD model; return the test predictions by name."""
    scores, predictions = evaluate(pipelines, parts, seconds)
    name, emd = next(iter(pipelines.items()))
    weighted = f", weighted by {data.weight_column!r}" if data.weight_column else ""
    n_features = len(emd[0].get_feature_names_out())
    print(
        f"\nTest scores ({len(parts.y_test)} samples{weighted}, {n_features} "
        f"features after encoding):\n\n{format_table(scores, seconds, [REFERENCE])}",
        file=out,
    )
    decision = emd[-1].decision
    rule = (
        f"Decision rule: {name} predicts {_RULES.get(decision, decision)} "
        f"(decision={decision!r}; --decision picks another rule)."
    )
    print("\n" + textwrap.fill(rule, width=79), file=out)
    if args.report:
        y_pred, proba = predictions[name]
        report = ordinal_report(
            parts.y_test.to_numpy(),
            y_pred,
            y_proba=proba,
            classes=emd,
            sample_weight=parts.w_test,
        )
        print(
            f"\nClass by class, {name} on the test part:\n\n{report}", file=out, end=""
        )
    return predictions


def check_plot(path: str) -> str:
    """Check that matplotlib can write ``path``; return the file format."""
    try:
        import matplotlib  # noqa: F401  (the package: its submodules may be loaded)
        from matplotlib.figure import Figure
    except ImportError:
        raise Failure(
            "--plot needs matplotlib, which is not installed: pip install matplotlib"
        ) from None
    suffix = Path(path).suffix.lower().lstrip(".")
    supported = Figure().canvas.get_supported_filetypes()
    if suffix not in supported:
        raise Failure(
            f"argument --plot: cannot tell the image format of {path!r}; end the "
            f"name with one of {', '.join('.' + s for s in sorted(supported))}",
            status=2,
        )
    return suffix


def save_plot(path: str, fmt: str, pipeline, y_test, y_pred, force: bool) -> None:
    """Save the ground distance and the confusion matrix of the squared-EMD model."""
    from matplotlib.figure import Figure

    from ..plotting import plot_confusion_matrix, plot_ground_distance

    small = len(pipeline.classes_) <= 12
    figure = Figure(figsize=(12, 5), layout="constrained")
    left, right = figure.subplots(1, 2)
    title = "Ground distance (squared EMD)"
    plot_ground_distance(pipeline, ax=left, annotate=small, title=title)
    left.set(xlabel="Class", ylabel="Class")
    title = f"Confusion matrix, {len(y_test)} test samples (squared EMD)"
    plot_confusion_matrix(
        y_test, y_pred, classes=pipeline, ax=right, annotate=small, title=title
    )
    for axes in () if small else (left, right):
        axes.tick_params(axis="x", labelrotation=90)
    # Drawn in memory first: a format that fails (pgf without LaTeX, say) leaves
    # no file behind and no existing one emptied.
    image = io.BytesIO()
    try:
        figure.savefig(image, format=fmt, dpi=120)
    except Exception as exc:
        raise Failure(f"cannot draw the figure as {fmt}: {one_line(exc)}") from None
    try:
        # "x" refuses a file that appeared while the models trained; with --force
        # the file is written over in place, so that a link is followed and a
        # read-only file refused.
        with open(path, "wb" if force else "xb") as file:
            file.write(image.getvalue())
    except FileExistsError:
        raise Failure(
            f"argument --plot: {path!r} exists; pass --force to overwrite it", 2
        ) from None
    except OSError as exc:
        raise Failure(f"cannot write {path!r}: {one_line(exc)}") from None
