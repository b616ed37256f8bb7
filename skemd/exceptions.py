"""Warnings and errors that skemd issues.

Filter them as any Python warning, for example
``warnings.simplefilter("ignore", ClassOrderWarning)``.
"""

__all__ = ["ClassOrderWarning", "InvalidParameterError"]


class ClassOrderWarning(UserWarning):
    """Text class labels were put in alphabetical order, as no order was given.

    ``"high" < "low" < "mid"`` is rarely what ordered classes mean. Give the
    order with ``classes=[...]`` (lowest first), an ordered pandas
    ``Categorical`` target, or ``--order`` on the command line.
    """


class InvalidParameterError(ValueError, TypeError):
    """A hyper-parameter has a value outside what it accepts.

    A subclass of both :class:`ValueError` and :class:`TypeError`, as
    scikit-learn's error for the same problem, so that code catching either
    catches it.
    """
