"""Sphinx configuration of the skemd documentation.

Build from the repository root, treating warnings as errors::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Nothing is fetched from the network: no intersphinx inventories, no remote images.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import torch

import skemd

# The examples run in this process. Their networks are small, and on one thread
# they train fastest; several threads fight over the cores of a shared machine.
torch.set_num_threads(1)

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# -- Project ----------------------------------------------------------------

project = "skemd"
author = "The skemd developers"
copyright = "The skemd developers"
release = skemd.__version__
version = release

# -- General ----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/GALLERY_HEADER.rst"]
default_role = "literal"
pygments_style = "sphinx"

# -- API reference ----------------------------------------------------------

autosummary_generate = True
autosummary_imported_members = False
# Methods without a docstring of their own (skorch hooks, torch's extra_repr) are
# left out rather than shown with the docstring of a base class.
autodoc_inherit_docstrings = False
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# In a numpydoc type such as "ndarray of shape (n_features_in_,)", a name ending
# in "_" reads as a reStructuredText link to a target that does not exist. Such
# names are quoted before numpydoc (priority 500) renders the docstring.
_PARAMETER_LINE = re.compile(r"^(\s*\*{0,2}[\w, ]+ : )(.*)$")
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?![`\w])")


def quote_fitted_names_in_types(app, what, name, obj, options, lines):
    for index, line in enumerate(lines):
        match = _PARAMETER_LINE.match(line)
        if match:
            head, kind = match.groups()
            lines[index] = head + _TRAILING_UNDERSCORE.sub(r"`\1`", kind)


# -- Markdown (the changelog and the benchmark reports) ---------------------

myst_heading_anchors = 3
# The benchmark reports are written by scripts, not for this site: a report that
# jumps from "#" to "###", or links to a file that is not part of the site (a
# script, a report not produced yet), should not fail the build.
suppress_warnings = ["myst.header", "myst.xref_missing"]

# -- Example gallery --------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "doc_module": ("skemd",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"skemd": None},
    "min_reported_time": 1,
    "show_memory": False,
}

# -- HTML -------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skemd {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "changelog": [], "citing": []}
html_show_sourcelink = False


# -- Benchmark reports ------------------------------------------------------
#
# The benchmark scripts write Markdown reports to benchmarks/results/. They are
# copied next to the documentation at every build and listed in a generated
# fragment that docs/benchmarks.rst includes; a report that has not been produced
# yet is listed with the command that produces it, so the build never depends on
# them being there.

BENCHMARK_RESULTS = ROOT / "benchmarks" / "results"
BENCHMARK_PAGES = DOCS / "generated" / "benchmarks"
# The reports the documentation expects, in the order it shows them: the title
# of a report without one, and the command that writes it.
BENCHMARK_REPORTS = {
    "speed_cpu.md": (
        "Training speed on the CPU",
        "python benchmarks/speed.py",
    ),
    "speed_cuda.md": (
        "Training speed on a GPU",
        "python benchmarks/speed.py --device cuda",
    ),
    "quality.md": (
        "Predictive quality on real ordinal data",
        "python benchmarks/quality.py",
    ),
    "quality_inner.md": (
        "Predictive quality on inner validation splits",
        "python benchmarks/quality.py --protocol inner --partitions 5 "
        "--partitions-large 2",
    ),
    "quality_time.md": (
        "Fit times, one fit at a time",
        "python benchmarks/quality.py --partitions 1 --jobs 1 "
        "--output benchmarks/results/quality_time.md",
    ),
    "sparse_memory.md": (
        "Memory of fits on sparse input",
        "python benchmarks/sparse_memory.py",
    ),
}
_REPORT_FILES = (".md", ".png", ".svg", ".jpg", ".jpeg", ".csv")


def _producer(report: str) -> str | None:
    """The command that writes ``report``, if its script is in the repository."""
    command = BENCHMARK_REPORTS[report][1]
    script = command.split()[1]
    return command if (ROOT / script).is_file() else None


def _with_title(text: str, title: str) -> str:
    """The report, with a top-level heading first so it makes a page title."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if re.match(r"#\s", first):
        return text
    return f"# {title}\n\n{text}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def collect_benchmark_reports() -> list[str]:
    """Copy the reports into the documentation; return the pages made."""
    if BENCHMARK_PAGES.exists():
        shutil.rmtree(BENCHMARK_PAGES)
    BENCHMARK_PAGES.mkdir(parents=True)
    found = []
    if BENCHMARK_RESULTS.is_dir():
        found = sorted(
            path
            for path in BENCHMARK_RESULTS.iterdir()
            if path.is_file() and path.suffix.lower() in _REPORT_FILES
        )
    for path in found:
        if path.suffix == ".md":
            title = BENCHMARK_REPORTS.get(path.name, (None,))[0]
            title = title or path.stem.replace("_", " ").capitalize()
            text = _with_title(path.read_text(encoding="utf-8"), title)
            (BENCHMARK_PAGES / path.name).write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(path, BENCHMARK_PAGES / path.name)

    reports = {path.name for path in found if path.suffix == ".md"}
    ordered = [name for name in BENCHMARK_REPORTS if name in reports]
    ordered += sorted(reports - set(BENCHMARK_REPORTS))
    missing = [name for name in BENCHMARK_REPORTS if name not in reports]

    lines = []
    if ordered:
        lines += [".. toctree::", "   :maxdepth: 2", ""]
        lines += [f"   generated/benchmarks/{Path(name).stem}" for name in ordered]
        lines.append("")
    if missing:
        lines += [
            ".. note::",
            "",
            "   These reports have not been produced in this copy of the "
            "repository yet:",
            "",
        ]
        for name in missing:
            command = _producer(name)
            how = (
                f"run ``{command}`` from the repository root"
                if command
                else "run the matching script in ``benchmarks/``"
            )
            lines.append(
                f"   - ``benchmarks/results/{name}`` "
                f"({_lower_first(BENCHMARK_REPORTS[name][0])}): {how}."
            )
        lines += [
            "",
            "   Then build the documentation again: every Markdown report in "
            "``benchmarks/results/`` appears on this page.",
            "",
        ]
    (BENCHMARK_PAGES / "reports.inc").write_text("\n".join(lines), encoding="utf-8")
    return ordered


collect_benchmark_reports()


def skip_metadata_request_methods(app, what, name, obj, skip, options):
    # scikit-learn generates set_score_request and the like on every estimator;
    # they belong to its metadata routing, documented in scikit-learn.
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", quote_fitted_names_in_types, priority=400)
    app.connect("autodoc-skip-member", skip_metadata_request_methods)
