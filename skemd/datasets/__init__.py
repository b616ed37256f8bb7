"""Small real ordinal datasets bundled with skemd.

Each ``load_<name>`` function returns a :class:`~sklearn.utils.Bunch` whose
``classes`` field holds the class labels in ordinal order, lowest first. With
``as_frame=True`` the target is a pandas Series of an ordered Categorical dtype
with the same order. Every dataset's ``DESCR`` gives its source, citation,
licence and where the bundled copy came from.
"""

from ._loaders import (
    list_datasets,
    load_balance_scale,
    load_car,
    load_dataset,
    load_era,
    load_esl,
    load_lev,
    load_survey,
    load_swd,
    load_winequality_red,
)

__all__ = [
    "list_datasets",
    "load_balance_scale",
    "load_car",
    "load_dataset",
    "load_era",
    "load_esl",
    "load_lev",
    "load_survey",
    "load_swd",
    "load_winequality_red",
]
