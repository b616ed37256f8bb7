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


def setup(data, args, parts, pipelines: dict, note: str | None) -> str:
    """What the models are trained and tested on, and how."""
    n_columns = data.X.shape[1]
    n_text = n_columns - data.X.select_dtypes(["number", "bool"]).shape[1]
    counts = data.y.value_counts(sort=False)  # every category, in class order
    classes = [f"{label} ({count})" for label, count in counts.items()]
    if len(classes) > 12:
        classes = [*classes[:5], "...", *classes[-5:]]
    network = next(iter(pipelines.values()))[-1]
    limit = " (--max-iter)" if args.max_iter is not None else ""
    lines = [
        f"Data: {data.name}",
        f"  {len(data.y)} samples, {n_columns} feature columns"
        + (f", {n_text} of them text" if n_text else ""),
        f"  weighted by column {args.weight!r} (total {data.weight.sum():.6g})"
        if args.weight
        else None,
        f"  classes (samples): {' < '.join(classes)}",
        *(f"note: {data_note}" for data_note in data.notes),
        f"Split: {len(parts.y_train)} training / {len(parts.y_test)} test samples, "
        f"{'plain' if parts.note else 'stratified'}, seed {args.seed}",
        parts.note and f"note: {parts.note}",
        f"Networks: EMDClassifier's defaults, {network.n_estimators} networks of "
        f"{network.hidden_layer_sizes} with embeddings of the numeric features, "
        f"at most {network.max_iter} epochs{limit}, each stopped early on its "
        f"own {network.validation_fraction:.0%} of the training part",
        note and f"note: {note}",
    ]
    return "\n".join(line for line in lines if line)


def format_table(scores: dict, seconds: dict, reference=()) -> str:
    """The scores as a text table and its legend, the best of each column starred.

    ``scores`` maps each model name to ``{metric: value}``, ``seconds`` to its
    fit time; the rows of ``reference`` are not ranked.
    """
    shown = {name: [f"{row[m]:.3f}" for m in _METRICS] for name, row in scores.items()}
    ranked = [cells for name, cells in shown.items() if name not in reference]
    best = [
        pick(float(c[i]) for c in ranked) for i, pick in enumerate(_METRICS.values())
    ]
    # A space after each value and after the name leaves room for the star.
    rows = [["model", *(f"{metric} " for metric in _METRICS), "fit time"]]
    for name, cells in shown.items():
        for i, cell in enumerate(cells):
            starred = name not in reference and float(cell) == best[i]
            cells[i] = cell + ("*" if starred else " ")
        rows.append([name, *cells, f"{seconds[name]:.1f} s"])
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    rows.insert(1, ["-" * width for width in widths])
    lines = [
        "  ".join([row[0].ljust(widths[0]), *map(str.rjust, row[1:], widths[1:])])
        for row in rows
    ]
    legend = _LEGEND
    if reference:
        legend += (
            f" The {', '.join(reference)} row, not ranked, predicts the median "
            "training class for every sample: a model that does no better than it "
            "has learnt nothing of use."
        )
    return "\n".join([*map(str.rstrip, lines), "", *textwrap.wrap(legend, width=79)])


def results(parts, pipelines: dict, seconds: dict, args, out) -> None:
    """Print the test scores and the decision rule; with ``--report`` the report
    of the squared-EMD model, and with ``--plot`` save its figure."""
    scores, predictions = evaluate(pipelines, parts, seconds)
    name, emd = next(iter(pipelines.items()))
    weighted = f", weighted by {args.weight!r}" if args.weight else ""
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
    y_test, (y_pred, proba) = parts.y_test.to_numpy(), predictions[name]
    if args.report:
        report = ordinal_report(
            y_test, y_pred, y_proba=proba, classes=emd, sample_weight=parts.w_test
        )
        out.write(f"\nClass by class, {name} on the test part:\n\n{report}")
    if args.plot is not None:
        save_plot(args.plot, emd, y_test, y_pred, args.force)
        print(f"\nFigure saved to {args.plot}", file=out)


def save_plot(path: str, pipeline, y_test, y_pred, force: bool) -> None:
    """Save the ground distance and the confusion matrix of the squared-EMD model."""
    from matplotlib.figure import Figure

    from ..plotting import plot_confusion_matrix, plot_ground_distance

    fmt = Path(path).suffix.lower()[1:]  # one matplotlib writes: checked before
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
    except OSError as exc:
        raise Failure(f"cannot write {path!r}: {one_line(exc)}") from None
