"""Checking hyper-parameters against a table of what each accepts.

An estimator lists, in ``_parameter_constraints``, the values each parameter
accepts (as scikit-learn's estimators do); :func:`validate_parameters` checks
them all at the start of ``fit`` and raises
:class:`~skemd.exceptions.InvalidParameterError` naming the parameter, what it
accepts and what it got. A constraint is one of:

- :class:`Interval`: a number of a kind within bounds;
- :class:`Options`: one of a set of strings;
- ``"boolean"``, ``"array-like"``, ``"random_state"``, ``"verbose"``;
- ``None``: the value ``None``;
- a class: an instance of it, or for ``type`` a class.
"""

from __future__ import annotations

import numbers

import numpy as np

from .exceptions import InvalidParameterError

_MAX_SEED = 2**32 - 1


class Interval:
    """Numbers of ``kind`` between ``left`` and ``right`` (``None``: unbounded).

    ``closed`` says which bounds belong to the interval: ``"left"``,
    ``"right"``, ``"both"`` or ``"neither"``. Booleans are never numbers here.
    """

    def __init__(self, kind, left, right, *, closed: str):
        self.kind = kind
        self.left = left
        self.right = right
        self.closed = closed

    def __contains__(self, value) -> bool:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, self.kind):
            return False
        if value != value:  # NaN
            return False
        # An unbounded side is open: infinity itself is not in the interval.
        if (self.left is None and value == -np.inf) or (
            self.right is None and value == np.inf
        ):
            return False
        if self.left is not None:
            if value < self.left or (
                value == self.left and self.closed not in ("left", "both")
            ):
                return False
        if self.right is not None:
            if value > self.right or (
                value == self.right and self.closed not in ("right", "both")
            ):
                return False
        return True

    def __str__(self) -> str:
        kind = "an int" if self.kind is numbers.Integral else "a float"
        left = "-inf" if self.left is None else self.left
        right = "inf" if self.right is None else self.right
        opening = "[" if self.closed in ("left", "both") else "("
        closing = "]" if self.closed in ("right", "both") else ")"
        if self.left is None:
            opening = "("
        if self.right is None:
            closing = ")"
        return f"{kind} in the range {opening}{left}, {right}{closing}"


class Options:
    """One of the strings in ``options``."""

    def __init__(self, options):
        self.options = frozenset(options)

    def __contains__(self, value) -> bool:
        return isinstance(value, str) and value in self.options

    def __str__(self) -> str:
        return "a str among " + ", ".join(repr(o) for o in sorted(self.options))


def _satisfies(value, constraint) -> bool:
    if constraint is None:
        return value is None
    if isinstance(constraint, (Interval, Options)):
        return value in constraint
    if constraint == "boolean":
        return isinstance(value, (bool, np.bool_))
    if constraint == "array-like":
        return (
            hasattr(value, "__len__") or hasattr(value, "shape")
        ) and not isinstance(value, str)
    if constraint == "random_state":
        # The seeds numpy takes: scikit-learn's check_random_state names none.
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return 0 <= value <= _MAX_SEED
        return value is None or isinstance(value, np.random.RandomState)
    if constraint == "verbose":
        return isinstance(value, (numbers.Integral, bool, np.bool_))
    if constraint is type:
        return isinstance(value, type)
    if isinstance(constraint, type):
        return isinstance(value, constraint)
    raise ValueError(f"Unknown constraint {constraint!r}.")


def _describe(constraint) -> str:
    if constraint is None:
        return "None"
    if isinstance(constraint, (Interval, Options)):
        return str(constraint)
    if constraint == "boolean":
        return "a bool"
    if constraint == "array-like":
        return "an array-like"
    if constraint == "random_state":
        return "an int in the range [0, 2**32 - 1], a numpy RandomState or None"
    if constraint == "verbose":
        return "an int or a bool"
    if constraint is type:
        return "a class"
    return f"an instance of {constraint.__name__}"


def validate_parameters(estimator) -> None:
    """Check every parameter of ``estimator`` against its constraints.

    Raises
    ------
    InvalidParameterError
        For the first parameter whose value meets none of its constraints.
    """
    constraints = type(estimator)._parameter_constraints
    for name, value in estimator.get_params(deep=False).items():
        accepted = constraints.get(name)
        if accepted is None or any(_satisfies(value, c) for c in accepted):
            continue
        described = [_describe(c) for c in accepted]
        if len(described) > 1:
            described = ", ".join(described[:-1]) + " or " + described[-1]
        else:
            described = described[0]
        raise InvalidParameterError(
            f"The {name!r} parameter of {type(estimator).__name__} must be "
            f"{described}; got {value!r}."
        )
