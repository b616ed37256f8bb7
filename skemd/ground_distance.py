"""Ground distances between classes.

A ground distance says how far apart two classes are: the squared EMD loss charges a
wrong prediction by that distance. This module builds the usual ones, checks a
user's matrix, and turns a distance into the weight matrix of the loss.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "check_ground_distance",
    "ordinal_distance",
    "to_loss_matrix",
    "uniform_distance",
]


def ordinal_distance(n_classes: int) -> np.ndarray:
    """Distance ``|i - j|`` between classes on a line, one step apart.

    Parameters
    ----------
    n_classes : int
        Number of classes.

    Returns
    -------
    distance : ndarray of shape (n_classes, n_classes)

    Examples
    --------
    >>> from skemd.ground_distance import ordinal_distance
    >>> ordinal_distance(3)
    array([[0., 1., 2.],
           [1., 0., 1.],
           [2., 1., 0.]])
    """
    steps = np.arange(n_classes, dtype=float)
    return np.abs(steps[:, None] - steps[None, :])


def uniform_distance(n_classes: int) -> np.ndarray:
    """Distance 1 between every pair of different classes.

    Parameters
    ----------
    n_classes : int
        Number of classes.

    Returns
    -------
    distance : ndarray of shape (n_classes, n_classes)

    Examples
    --------
    >>> from skemd.ground_distance import uniform_distance
    >>> uniform_distance(3)
    array([[0., 1., 1.],
           [1., 0., 1.],
           [1., 1., 0.]])
    """
    return 1.0 - np.eye(n_classes)


def check_ground_distance(distance, n_classes: int) -> np.ndarray:
    """Validate a user's ground-distance matrix and return it as floats.

    A valid matrix is square with one row per class, finite, non-negative, and has
    at least one positive entry off the diagonal. It need not be symmetric.

    Parameters
    ----------
    distance : array-like of shape (n_classes, n_classes)
        The matrix, in the order of the classes.
    n_classes : int
        Number of classes it must cover.

    Returns
    -------
    distance : ndarray of shape (n_classes, n_classes), dtype float64

    Raises
    ------
    ValueError
        If the matrix has the wrong shape, holds NaN, infinity or negative
        entries, or is zero off the diagonal.

    Examples
    --------
    >>> from skemd.ground_distance import check_ground_distance
    >>> check_ground_distance([[0, 1], [1, 0]], n_classes=2)
    array([[0., 1.],
           [1., 0.]])
    """
    try:
        matrix = np.asarray(distance, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"ground_distance must be a numeric matrix; got {distance!r}."
        ) from exc
    if matrix.shape != (n_classes, n_classes):
        raise ValueError(
            f"ground_distance must have shape ({n_classes}, {n_classes}), one row "
            f"and column per class; got shape {matrix.shape}."
        )
    if not np.all(np.isfinite(matrix)):
        raise ValueError("ground_distance contains NaN or infinity.")
    if np.any(matrix < 0):
        raise ValueError("ground_distance contains negative entries.")
    off_diagonal = matrix[~np.eye(n_classes, dtype=bool)]
    if n_classes > 1 and not np.any(off_diagonal > 0):
        raise ValueError("ground_distance is zero between every pair of classes.")
    return matrix


def to_loss_matrix(
    distance, *, offset: float = 0.0, normalize: bool = True
) -> np.ndarray:
    r"""Weight matrix :math:`M` of the squared EMD loss from a ground distance.

    Following Hou, Yu & Samaras, :math:`M_{ij} = D_{ij} - \mu` off the diagonal and
    :math:`M_{ii} = 1`, so that the loss of a sample of class :math:`y` is
    :math:`(1 - p_y)^2 + \sum_{i \ne y} p_i^2 (D_{yi} - \mu)`, divided by ``K``.

    Parameters
    ----------
    distance : array-like of shape (K, K)
        The ground distance :math:`D`.
    offset : float, default=0.0
        The offset :math:`\mu`. A positive offset makes near classes cheap, or even
        rewarded when their distance is below it.
    normalize : bool, default=True
        Divide :math:`D` by its largest off-diagonal entry first, so the farthest
        pair costs as much as missing the true class. A matrix learned by
        :func:`learned_distance` already lies in ``(0, 1]``.

    Returns
    -------
    matrix : ndarray of shape (K, K)

    Examples
    --------
    >>> from skemd.ground_distance import ordinal_distance, to_loss_matrix
    >>> to_loss_matrix(ordinal_distance(3))
    array([[1. , 0.5, 1. ],
           [0.5, 1. , 0.5],
           [1. , 0.5, 1. ]])
    """
    matrix = np.array(distance, dtype=float)
    n_classes = matrix.shape[0]
    off_diagonal = ~np.eye(n_classes, dtype=bool)
    if normalize and n_classes > 1:
        largest = matrix[off_diagonal].max()
        if largest > 0:
            matrix = matrix / largest
    matrix[off_diagonal] -= offset
    np.fill_diagonal(matrix, 1.0)
    return matrix
