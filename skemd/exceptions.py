"""Warnings that skemd issues.

Filter them as any Python warning, for example
``warnings.simplefilter("ignore", ClassOrderWarning)``.
"""

__all__ = ["ClassOrderWarning"]


class ClassOrderWarning(UserWarning):
    """Text class labels were put in alphabetical order, as no order was given.

    ``"high" < "low" < "mid"`` is rarely what ordered classes mean. Give the
    order with ``classes=[...]`` (lowest first), an ordered pandas
    ``Categorical`` target, or ``--order`` on the command line.
    """
