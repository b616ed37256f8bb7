"""Ground distances between classes.

A ground distance says how far apart two classes are: the squared EMD loss charges a
wrong prediction by that distance. This module builds the usual ones, checks a
user's matrix, turns a distance into the weight matrix of the loss, learns a
distance from a network's features (Hou, Yu & Samaras, section 3) and recovers a
class order from a distance.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

__all__ = [
    "check_ground_distance",
    "learned_distance",
    "ordinal_distance",
    "seriate",
    "to_loss_matrix",
    "uniform_distance",
]


def _check_n_classes(n_classes) -> int:
    """``n_classes`` as an int: an integer, at least 1 (one class is at distance 0)."""
    if (
        isinstance(n_classes, bool)
        or not isinstance(n_classes, numbers.Integral)
        or n_classes < 1
    ):
        raise ValueError(
            f"n_classes must be a positive integer, the number of classes; got "
            f"{n_classes!r}."
        )
    return int(n_classes)


def ordinal_distance(n_classes: int) -> np.ndarray:
    """Distance ``|i - j|`` between classes on a line, one step apart.

    Parameters
    ----------
    n_classes : int
        Number of classes, at least 1.

    Returns
    -------
    distance : ndarray of shape (n_classes, n_classes)

    Raises
    ------
    ValueError
        If ``n_classes`` is not an integer of at least 1.

    Examples
    --------
    >>> from skemd.ground_distance import ordinal_distance
    >>> ordinal_distance(3)
    array([[0., 1., 2.],
           [1., 0., 1.],
           [2., 1., 0.]])
    """
    steps = np.arange(_check_n_classes(n_classes), dtype=float)
    return np.abs(steps[:, None] - steps[None, :])


def uniform_distance(n_classes: int) -> np.ndarray:
    """Distance 1 between every pair of different classes.

    Parameters
    ----------
    n_classes : int
        Number of classes, at least 1.

    Returns
    -------
    distance : ndarray of shape (n_classes, n_classes)

    Raises
    ------
    ValueError
        If ``n_classes`` is not an integer of at least 1.

    Examples
    --------
    >>> from skemd.ground_distance import uniform_distance
    >>> uniform_distance(3)
    array([[0., 1., 1.],
           [1., 0., 1.],
           [1., 1., 0.]])
    """
    return 1.0 - np.eye(_check_n_classes(n_classes))


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
    matrix : ndarray of shape (K, K), dtype float64

    Raises
    ------
    ValueError
        If ``distance`` is not a square matrix.

    Examples
    --------
    >>> from skemd.ground_distance import ordinal_distance, to_loss_matrix
    >>> to_loss_matrix(ordinal_distance(3))
    array([[1. , 0.5, 1. ],
           [0.5, 1. , 0.5],
           [1. , 0.5, 1. ]])
    """
    matrix = torch.from_numpy(np.array(distance, dtype=float))
    return _to_loss_matrix(matrix, offset=offset, normalize=normalize).numpy()


def _to_loss_matrix(
    distance: torch.Tensor, *, offset: float = 0.0, normalize: bool = True
) -> torch.Tensor:
    """:func:`to_loss_matrix` of a tensor, on its device and in its floating dtype.

    The one place the loss weights are made from a distance, for callers that
    hold the distance as a tensor (the learned distance during training). The
    result is a new tensor; ``distance`` is left as it is. No value is read back
    to the host.
    """
    if distance.dim() != 2 or distance.shape[0] != distance.shape[1]:
        raise ValueError(
            "distance must be a square matrix, n_classes x n_classes; got shape "
            f"{tuple(distance.shape)}."
        )
    if not distance.dtype.is_floating_point:
        distance = distance.to(torch.get_default_dtype())
    n_classes = distance.shape[0]
    matrix = distance
    if normalize and n_classes > 1:
        diagonal = torch.eye(n_classes, dtype=torch.bool, device=distance.device)
        largest = distance.masked_fill(diagonal, -torch.inf).amax()
        # A distance that is 0 off the diagonal has no scale: it is kept.
        matrix = torch.where(largest > 0, distance / largest, distance)
    matrix = matrix - offset
    matrix.fill_diagonal_(1.0)
    return matrix


def _accumulate_class_sums(
    features: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    sums: torch.Tensor | None = None,
    counts: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add a batch of L1-normalised features to per-class sums and sample counts.

    ``y`` holds class indices of shape (N,), or soft targets of shape (N, K) whose
    entries weight each sample's contribution to each class. Call it batch after
    batch, passing back ``sums`` and ``counts``, to reach the centroids of a whole
    data set without keeping its features; the centroid of class ``k`` is then
    ``sums[k] / counts[k]``. Everything stays on the features' device, except the
    range of the class indices, read back to raise a ValueError for a label past
    ``K - 1`` (on CUDA, an index out of range would end the process).
    """
    features = features.flatten(1) if features.dim() > 1 else features[:, None]
    dtype = torch.promote_types(features.dtype, torch.float32)
    features = features.to(dtype)
    norm = features.abs().sum(dim=1, keepdim=True)
    # An all-zero vector has no direction: it stays zero rather than becoming NaN.
    normalised = features / torch.where(norm > 0, norm, torch.ones_like(norm))
    if sums is None or counts is None:
        sums = normalised.new_zeros((n_classes, normalised.shape[1]))
        counts = normalised.new_zeros(n_classes)
    y = torch.as_tensor(y, device=features.device)
    if y.dim() == 2 and y.dtype.is_floating_point:
        if y.shape != (features.shape[0], n_classes):
            raise ValueError(
                f"Soft targets for {features.shape[0]} samples and {n_classes} "
                f"classes must have shape ({features.shape[0]}, {n_classes}); got "
                f"shape {tuple(y.shape)}."
            )
        weight = y.to(dtype)
        sums.addmm_(weight.T, normalised)
        counts.add_(weight.sum(dim=0))
    else:
        if y.shape != (features.shape[0],):
            raise ValueError(
                f"y must hold one class index per sample, shape "
                f"({features.shape[0]},); got shape {tuple(y.shape)}."
            )
        index = y.long()
        _check_class_range(index, n_classes)
        sums.index_add_(0, index, normalised)
        counts.index_add_(0, index, torch.ones_like(index, dtype=dtype))
    return sums, counts


def _check_class_range(index: torch.Tensor, n_classes: int) -> None:
    """Raise a ValueError unless every class index lies in 0, ..., K - 1."""
    if index.numel():
        low, high = torch.stack(torch.aminmax(index)).tolist()
        if low < 0 or high >= n_classes:
            raise ValueError(
                f"y must hold class indices in 0, ..., {n_classes - 1} for "
                f"{n_classes} classes; got labels from {low} to {high}."
            )


def _average_rank(distance: torch.Tensor) -> torch.Tensor:
    """Rank of each entry within its row, from 1, ties sharing their mean rank.

    The rank of a value with ``below`` smaller and ``equal`` equal entries in its row
    (itself included) is ``below + (equal + 1) / 2``, which is
    ``scipy.stats.percentileofscore(row, value, kind="rank") / 100 * K``.
    """
    ordered = torch.sort(distance, dim=1).values
    below = torch.searchsorted(ordered, distance, right=False)
    at_or_below = torch.searchsorted(ordered, distance, right=True)
    return (below + at_or_below + 1).to(distance.dtype) / 2


def _distance_from_class_sums(
    sums: torch.Tensor, counts: torch.Tensor, power: float
) -> torch.Tensor:
    """Steps 3 to 6 of the learned distance, from per-class sums and counts."""
    if not bool(torch.isfinite(sums).all()):
        raise ValueError("The features contain NaN or infinity.")
    n_classes = counts.shape[0]
    present = counts > 0
    centroids = sums / torch.where(present, counts, torch.ones_like(counts))[:, None]
    # Pairwise differences rather than the matrix-product shortcut: the
    # self-distance is exactly 0 and equal gaps give exactly equal distances, so
    # ties are ranked as ties.
    distance = torch.cdist(
        centroids[None], centroids[None], compute_mode="donot_use_mm_for_euclid_dist"
    )[0]
    distance = (distance + distance.T) / 2
    # A class without samples has no centroid. It is put beyond every other class
    # (infinitely far, so it takes the top ranks of the other rows), and its own row
    # and column are set to 1, the largest value a learned distance takes.
    absent = ~(present[:, None] & present[None, :])
    distance = torch.where(absent, torch.full_like(distance, float("inf")), distance)
    distance.fill_diagonal_(0.0)
    relative = (_average_rank(distance) / n_classes).pow(power)
    symmetric = (relative + relative.T) / 2
    symmetric = torch.where(absent, torch.ones_like(symmetric), symmetric)
    symmetric.fill_diagonal_(0.0)
    return symmetric


def learned_distance(features, y, n_classes: int, *, power: float = 1.0):
    r"""Ground distance between classes learned from feature vectors.

    This is the distance Hou, Yu & Samaras learn from a network's own features
    (the input of its final linear layer), computed in PyTorch on the features'
    device:

    1. each sample's feature vector is divided by its l1 norm (an all-zero vector
       stays zero);
    2. the centroid :math:`c_k` of each class is the mean of its normalised
       vectors;
    3. :math:`d_{ij} = \lVert c_i - c_j \rVert_2`;
    4. :math:`R_{ij}` is the rank of :math:`d_{ij}` within row :math:`i`, divided
       by :math:`K`, ties sharing their average rank (the self-distance has rank 1
       when no other centroid coincides with it);
    5. :math:`S = \bigl(R^\omega + (R^\omega)^\top\bigr) / 2` with
       :math:`\omega` = ``power``.

    The result is :math:`S` with its diagonal set to 0. Its off-diagonal entries lie
    in :math:`(0, 1]`. The paper's loss weights, :math:`M = S - \mu` off the
    diagonal and 1 on it, are ``to_loss_matrix(S, offset=mu, normalize=False)``.

    A class with no samples has no centroid: it is treated as farther from every
    class than any other, and its distance to every other class is 1.

    Parameters
    ----------
    features : array-like or torch.Tensor of shape (n_samples, n_features, ...)
        One feature vector per sample; trailing dimensions are flattened.
    y : array-like or torch.Tensor of shape (n_samples,)
        Class indices in ``0, ..., n_classes - 1``.
    n_classes : int
        Number of classes :math:`K`.
    power : float, default=1.0
        The exponent :math:`\omega` applied to the rank-normalised distances (the
        paper uses 1 and 2).

    Returns
    -------
    distance : ndarray or torch.Tensor of shape (n_classes, n_classes)
        Symmetric, zero on the diagonal. A tensor on the features' device when
        ``features`` is a tensor (in its floating dtype, at least float32),
        otherwise a float64 ndarray.

    Raises
    ------
    ValueError
        If the features hold NaN or infinity, if ``y`` is not one class index per
        sample within range, or if ``power`` is not positive.

    See Also
    --------
    to_loss_matrix : Turns the distance into the weights of the loss.
    seriate : Recovers a class order from a distance.
    skemd.callbacks.LearnedGroundDistance : Learns the distance while training.

    References
    ----------
    .. [1] L. Hou, C.-P. Yu and D. Samaras, "Squared Earth Mover's Distance-based
       Loss for Training Deep Neural Networks", arXiv:1611.05916, 2016.

    Examples
    --------
    Three classes along a line: the two ends are the farthest pair.

    >>> import numpy as np
    >>> from skemd.ground_distance import learned_distance, to_loss_matrix
    >>> features = np.array([[1.0, 0.0], [0.9, 0.1], [0.5, 0.5], [0.1, 0.9]])
    >>> y = np.array([0, 0, 1, 2])
    >>> distance = learned_distance(features, y, n_classes=3)
    >>> distance.round(3)
    array([[0.   , 0.833, 1.   ],
           [0.833, 0.   , 0.667],
           [1.   , 0.667, 0.   ]])
    >>> to_loss_matrix(distance, offset=0.5, normalize=False).round(3)
    array([[1.   , 0.333, 0.5  ],
           [0.333, 1.   , 0.167],
           [0.5  , 0.167, 1.   ]])
    """
    as_numpy = not isinstance(features, torch.Tensor)
    if as_numpy:
        features = torch.as_tensor(np.asarray(features, dtype=np.float64))
    elif not features.dtype.is_floating_point:
        features = features.to(torch.get_default_dtype())
    if features.dim() < 2:
        raise ValueError(
            "features must have shape (n_samples, n_features); got shape "
            f"{tuple(features.shape)}."
        )
    n_classes = _check_n_classes(n_classes)
    if not np.isfinite(power) or power <= 0:
        raise ValueError(f"power must be a positive number; got {power!r}.")
    if not bool(torch.isfinite(features).all()):
        raise ValueError("features contain NaN or infinity.")
    y = torch.as_tensor(
        y if isinstance(y, torch.Tensor) else np.asarray(y), device=features.device
    )
    if y.dim() != 1 or y.shape[0] != features.shape[0]:
        raise ValueError(
            f"y must hold one class index per sample, shape ({features.shape[0]},); "
            f"got shape {tuple(y.shape)}."
        )
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise ValueError(f"y must hold integer class indices; got dtype {y.dtype}.")
    sums, counts = _accumulate_class_sums(features, y, n_classes)
    distance = _distance_from_class_sums(sums, counts, float(power))
    if as_numpy:
        return distance.cpu().numpy()
    return distance


def seriate(distance, classes=None) -> np.ndarray:
    """Recover a linear order of the classes from a distance between them.

    Spectral seriation (Atkins, Boman & Hendrickson, 1998): the classes are sorted
    by the Fiedler vector (the eigenvector of the second-smallest eigenvalue) of
    the graph Laplacian of the similarity ``max(D) - D``, where ``D`` is the
    distance made symmetric and ``max`` its largest off-diagonal entry. When the
    classes lie on a line, so that distances grow away from the diagonal in the
    true order, the Fiedler vector is monotone along that order; noise that
    keeps the distances roughly so leaves the order intact.

    An order and its reverse are equally good. Of the two, the one that starts
    with the lower class index is returned, so the result does not depend on the
    arbitrary sign of the eigenvector. Classes with (numerically) equal entries in
    the Fiedler vector, as with a uniform distance, have no meaningful order among
    them.

    Parameters
    ----------
    distance : array-like of shape (K, K)
        A ground distance (a user's matrix or one from :func:`learned_distance`),
        rows and columns in the current order of the classes.
    classes : array-like of shape (K,), default=None
        Labels of the classes in the current order.

    Returns
    -------
    order : ndarray of shape (K,)
        The class indices in the recovered order, or the labels in that order when
        ``classes`` is given.

    Raises
    ------
    ValueError
        If ``distance`` is not a valid ground distance (see
        :func:`check_ground_distance`) or ``classes`` does not have one label per
        class.

    Examples
    --------
    Five ordered classes, listed in a shuffled order:

    >>> import numpy as np
    >>> from skemd.ground_distance import ordinal_distance, seriate
    >>> labels = np.array(["low", "mid-low", "mid", "mid-high", "high"])
    >>> shuffle = [2, 0, 4, 1, 3]
    >>> shuffled = ordinal_distance(5)[np.ix_(shuffle, shuffle)]
    >>> seriate(shuffled, classes=labels[shuffle])
    array(['low', 'mid-low', 'mid', 'mid-high', 'high'], dtype='<U8')
    """
    if isinstance(distance, torch.Tensor):
        distance = distance.detach().cpu().numpy()
    matrix = np.asarray(distance, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"distance must be a square matrix; got shape {matrix.shape}.")
    n_classes = matrix.shape[0]
    matrix = check_ground_distance(matrix, n_classes)
    if classes is not None:
        classes = np.asarray(classes)
        if classes.shape != (n_classes,):
            raise ValueError(
                f"classes must hold one label per class, {n_classes} in all; got "
                f"shape {classes.shape}."
            )
    if n_classes < 3:
        order = np.arange(n_classes)
    else:
        symmetric = (matrix + matrix.T) / 2
        off_diagonal = ~np.eye(n_classes, dtype=bool)
        # An affine, decreasing similarity: it keeps the Robinson structure the
        # theorem of Atkins et al. needs (similar classes next to each other in the
        # true order), keeps the scale of the distances, and has no bandwidth to
        # choose, unlike a Gaussian kernel. The farthest pair gets similarity 0.
        similarity = symmetric[off_diagonal].max() - symmetric
        np.fill_diagonal(similarity, 0.0)
        laplacian = np.diag(similarity.sum(axis=1)) - similarity
        _, vectors = np.linalg.eigh(laplacian)
        order = np.argsort(vectors[:, 1], kind="stable")
        if order[0] > order[-1]:
            order = order[::-1].copy()
    return order if classes is None else classes[order]
