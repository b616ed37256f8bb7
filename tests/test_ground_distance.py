"""Tests of the ground distances: fixed ones, validation, loss weights, the learned
distance against a direct numpy/scipy transcription of the paper's steps, and
spectral seriation."""

import numpy as np
import pytest
import torch
from scipy.stats import percentileofscore

from skemd.ground_distance import (
    _accumulate_class_sums,
    _average_rank,
    _distance_from_class_sums,
    _to_loss_matrix,
    check_ground_distance,
    learned_distance,
    ordinal_distance,
    seriate,
    to_loss_matrix,
    uniform_distance,
)

# --------------------------------------------------------------------------- #
# Oracle: the paper's steps, one loop at a time
# --------------------------------------------------------------------------- #


def _oracle_learned_distance(features, y, n_classes, power=1.0):
    """Steps 2-6 of METHOD.md section 3 with loops and scipy; every class present."""
    features = np.asarray(features, dtype=float)
    normalised = np.empty_like(features)
    for n, vector in enumerate(features):
        norm = np.abs(vector).sum()
        normalised[n] = vector / norm if norm > 0 else vector
    centroids = np.array([normalised[y == k].mean(axis=0) for k in range(n_classes)])
    distance = np.empty((n_classes, n_classes))
    for i in range(n_classes):
        for j in range(n_classes):
            distance[i, j] = np.linalg.norm(centroids[i] - centroids[j])
    relative = np.empty_like(distance)
    for i in range(n_classes):
        for j in range(n_classes):
            rank = percentileofscore(distance[i], distance[i, j], kind="rank") / 100
            relative[i, j] = rank**power
    symmetric = (relative + relative.T) / 2
    np.fill_diagonal(symmetric, 0.0)
    return symmetric


def _paper_loss_matrix(distance, offset):
    """Step 7: M = S - mu off the diagonal, 1 on it."""
    n_classes = len(distance)
    matrix = np.empty((n_classes, n_classes))
    for i in range(n_classes):
        for j in range(n_classes):
            matrix[i, j] = 1.0 if i == j else distance[i, j] - offset
    return matrix


def _random_problem(seed, n_samples=40, n_features=6, n_classes=5):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n_samples)])
    features = rng.normal(size=(len(y), n_features)) + y[:, None]
    return features, y


# Centroids with exactly equal distances: three classes at the corners e1, e2, e3
# of the simplex (all pairs sqrt(2) apart) and a fourth halfway between e1 and e2
# (equally far from both). The vectors are already l1-normalised and exact.
TIED_FEATURES = np.array(
    [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
        [0.5, 0.5, 0.0],
    ]
)
TIED_Y = np.array([0, 1, 2, 3])


# --------------------------------------------------------------------------- #
# ordinal_distance, uniform_distance
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("n_classes", [1, 2, 5])
def test_ordinal_distance_is_absolute_index_gap(n_classes):
    expected = [[abs(i - j) for j in range(n_classes)] for i in range(n_classes)]
    np.testing.assert_array_equal(ordinal_distance(n_classes), expected)


@pytest.mark.parametrize("n_classes", [1, 2, 5])
def test_uniform_distance_is_one_off_the_diagonal(n_classes):
    expected = [[float(i != j) for j in range(n_classes)] for i in range(n_classes)]
    np.testing.assert_array_equal(uniform_distance(n_classes), expected)


@pytest.mark.parametrize("function", [ordinal_distance, uniform_distance])
@pytest.mark.parametrize("n_classes", [-1, 0, 2.5, 3.0, True, "3", None])
def test_fixed_distances_reject_a_bad_number_of_classes(function, n_classes):
    with pytest.raises(ValueError, match="n_classes must be a positive integer"):
        function(n_classes)


@pytest.mark.parametrize("function", [ordinal_distance, uniform_distance])
def test_fixed_distances_take_numpy_integers(function):
    np.testing.assert_array_equal(function(np.int64(3)), function(3))


# --------------------------------------------------------------------------- #
# check_ground_distance
# --------------------------------------------------------------------------- #


def test_check_ground_distance_returns_float_matrix():
    checked = check_ground_distance([[0, 2], [1, 0]], n_classes=2)
    assert checked.dtype == np.float64
    np.testing.assert_array_equal(checked, [[0.0, 2.0], [1.0, 0.0]])


@pytest.mark.parametrize(
    "matrix, message",
    [
        (np.zeros((2, 3)), "shape"),
        (ordinal_distance(4), "shape"),
        ([[0.0, np.nan, 1.0], [1, 0, 1], [1, 1, 0]], "NaN"),
        ([[0.0, np.inf, 1.0], [1, 0, 1], [1, 1, 0]], "NaN or infinity"),
        ([[0.0, -1.0, 1.0], [1, 0, 1], [1, 1, 0]], "negative"),
        (np.zeros((3, 3)), "zero between every pair"),
        (np.eye(3), "zero between every pair"),
        ([["a", "b", "c"]] * 3, "numeric"),
    ],
)
def test_check_ground_distance_rejects_invalid(matrix, message):
    with pytest.raises(ValueError, match=message):
        check_ground_distance(matrix, n_classes=3)


# --------------------------------------------------------------------------- #
# to_loss_matrix
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("offset", [0.0, 0.25, 0.5])
def test_to_loss_matrix_with_offset_is_papers_matrix(offset):
    distance = learned_distance(*_random_problem(0), n_classes=5)
    matrix = to_loss_matrix(distance, offset=offset, normalize=False)
    np.testing.assert_allclose(matrix, _paper_loss_matrix(distance, offset))


def test_to_loss_matrix_normalises_by_largest_off_diagonal():
    distance = 3.0 * ordinal_distance(4)
    expected = _paper_loss_matrix(ordinal_distance(4) / 3.0, offset=0.1)
    np.testing.assert_allclose(to_loss_matrix(distance, offset=0.1), expected)


@pytest.mark.parametrize("shape", [(2, 3), (3,), (2, 2, 2), ()])
def test_to_loss_matrix_of_a_matrix_that_is_not_square_raises(shape):
    with pytest.raises(ValueError, match=r"square matrix, n_classes x n_classes"):
        to_loss_matrix(np.ones(shape))


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("offset", [0.0, 0.25])
def test_to_loss_matrix_of_a_tensor_stays_on_its_device(device, offset, normalize):
    distance = learned_distance(*_random_problem(12), n_classes=5) * 3.0
    tensor = torch.as_tensor(distance, dtype=torch.float32, device=device)
    before = tensor.clone()
    matrix = _to_loss_matrix(tensor, offset=offset, normalize=normalize)
    assert matrix.device == tensor.device and matrix.dtype == torch.float32
    torch.testing.assert_close(tensor, before, rtol=0, atol=0)
    expected = to_loss_matrix(distance, offset=offset, normalize=normalize)
    np.testing.assert_allclose(matrix.cpu().numpy(), expected, rtol=1e-6)


def test_to_loss_matrix_of_a_learned_tensor_is_distance_minus_offset_exactly():
    # What a learned distance becomes while training: the distance less the
    # offset off the diagonal, 1 on it, bit for bit.
    sums, counts = _accumulate_class_sums(
        torch.as_tensor(_random_problem(13)[0], dtype=torch.float32),
        torch.as_tensor(_random_problem(13)[1]),
        5,
    )
    distance = _distance_from_class_sums(sums, counts, power=2.0)
    expected = distance - 0.25
    expected.fill_diagonal_(1.0)
    matrix = _to_loss_matrix(distance, offset=0.25, normalize=False)
    torch.testing.assert_close(matrix, expected, rtol=0, atol=0)


def test_to_loss_matrix_of_a_distance_zero_off_the_diagonal_is_not_scaled():
    np.testing.assert_array_equal(
        to_loss_matrix(np.zeros((3, 3)), offset=0.5),
        _paper_loss_matrix(np.zeros((3, 3)), 0.5),
    )


# --------------------------------------------------------------------------- #
# learned_distance against the oracle
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("power", [1.0, 2.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learned_distance_matches_oracle(seed, power):
    features, y = _random_problem(seed)
    expected = _oracle_learned_distance(features, y, 5, power=power)
    actual = learned_distance(features, y, 5, power=power)
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_learned_distance_averages_tied_ranks(power):
    expected = _oracle_learned_distance(TIED_FEATURES, TIED_Y, 4, power=power)
    actual = learned_distance(TIED_FEATURES, TIED_Y, 4, power=power)
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)
    # Row 0: self 1, class 3 (sqrt(1/2)) 2, classes 1 and 2 (sqrt(2)) share 3.5.
    relative_row_0 = np.array([1.0, 3.5, 3.5, 2.0]) / 4
    relative_row_1 = np.array([3.5, 1.0, 3.5, 2.0]) / 4
    assert actual[0, 1] == pytest.approx(
        (relative_row_0[1] ** power + relative_row_1[0] ** power) / 2
    )


def test_average_rank_matches_percentileofscore_and_self_ranks_first():
    distance = torch.tensor(
        [[0.0, 1.0, 1.0, 2.0], [1.0, 0.0, 3.0, 3.0], [1.0, 3.0, 0.0, 3.0], [2, 3, 3, 0]]
    )
    ranks = _average_rank(distance).numpy()
    for i, row in enumerate(distance.numpy()):
        expected = [percentileofscore(row, v, kind="rank") / 100 * 4 for v in row]
        np.testing.assert_allclose(ranks[i], expected)
        assert ranks[i, i] == 1.0


def test_learned_distance_is_symmetric_zero_diagonal_in_unit_interval():
    features, y = _random_problem(3, n_classes=6)
    distance = learned_distance(features, y, 6, power=2.0)
    np.testing.assert_array_equal(distance, distance.T)
    np.testing.assert_array_equal(np.diag(distance), 0.0)
    off_diagonal = distance[~np.eye(6, dtype=bool)]
    assert np.all(off_diagonal > 0) and np.all(off_diagonal <= 1)


def test_learned_distance_scales_and_zero_vectors():
    # l1 normalisation: rescaling a sample does not change the result, and an
    # all-zero vector contributes zero without NaN.
    features, y = _random_problem(4)
    scaled = features * np.linspace(0.1, 10, len(features))[:, None]
    np.testing.assert_allclose(
        learned_distance(scaled, y, 5), learned_distance(features, y, 5), atol=1e-12
    )
    with_zero = np.vstack([features, np.zeros((2, features.shape[1]))])
    y_zero = np.concatenate([y, [0, 3]])
    distance = learned_distance(with_zero, y_zero, 5)
    assert np.all(np.isfinite(distance))
    np.testing.assert_allclose(
        distance, _oracle_learned_distance(with_zero, y_zero, 5), atol=1e-12
    )


def test_learned_distance_all_zero_features_is_uniform():
    distance = learned_distance(np.zeros((6, 3)), np.array([0, 1, 2, 0, 1, 2]), 3)
    expected = (3 + 1) / (2 * 3) * uniform_distance(3)
    np.testing.assert_allclose(distance, expected)


def test_learned_distance_absent_class_is_farthest_and_finite():
    features, y = _random_problem(5, n_classes=4)
    y = np.where(y == 2, 1, y)  # class 2 has no samples
    distance = learned_distance(features, y, 4)
    assert np.all(np.isfinite(distance))
    np.testing.assert_array_equal(distance[2, [0, 1, 3]], 1.0)
    np.testing.assert_array_equal(distance[[0, 1, 3], 2], 1.0)
    assert distance[2, 2] == 0.0
    # Among the present classes, the absent one takes the top rank of each row.
    present = [0, 1, 3]
    assert np.all(distance[np.ix_(present, present)] < 1.0)


def test_learned_distance_no_samples_at_all_is_uniform():
    distance = learned_distance(np.zeros((0, 3)), np.zeros(0, dtype=int), 3)
    np.testing.assert_array_equal(distance, uniform_distance(3))


def test_learned_distance_single_sample_class():
    features, y = _random_problem(6, n_classes=4)
    keep = (y != 3) | (np.arange(len(y)) == np.flatnonzero(y == 3)[0])
    features, y = features[keep], y[keep]
    assert np.sum(y == 3) == 1
    np.testing.assert_allclose(
        learned_distance(features, y, 4),
        _oracle_learned_distance(features, y, 4),
        atol=1e-12,
    )


def test_learned_distance_two_classes():
    features, y = _random_problem(7, n_classes=2)
    distance = learned_distance(features, y, 2)
    # Each row: self ranks 1, the other ranks 2, so R = [[1/2, 1], [1, 1/2]].
    np.testing.assert_array_equal(distance, uniform_distance(2))
    np.testing.assert_allclose(distance, _oracle_learned_distance(features, y, 2))


def test_learned_distance_one_class():
    np.testing.assert_array_equal(
        learned_distance(np.ones((3, 2)), [0, 0, 0], 1), [[0.0]]
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_learned_distance_rejects_non_finite_features(bad):
    features, y = _random_problem(8)
    features[3, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        learned_distance(features, y, 5)


@pytest.mark.parametrize(
    "y, message",
    [
        (np.array([0, 1, 5]), "class indices in"),
        (np.array([-1, 1, 2]), "class indices in"),
        (np.array([0, 1]), "one class index per sample"),
        (np.array([0.0, 1.0, 2.0]), "integer"),
    ],
)
def test_learned_distance_rejects_bad_targets(y, message):
    with pytest.raises(ValueError, match=message):
        learned_distance(np.ones((3, 2)), y, 3)


@pytest.mark.parametrize("power", [0.0, -1.0, np.nan])
def test_learned_distance_rejects_bad_power(power):
    with pytest.raises(ValueError, match="power"):
        learned_distance(np.ones((3, 2)), [0, 1, 2], 3, power=power)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_learned_distance_on_tensors_stays_on_device(device, dtype):
    features, y = _random_problem(9)
    tensor = torch.as_tensor(features, dtype=dtype, device=device)
    distance = learned_distance(tensor, torch.as_tensor(y, device=device), 5)
    assert isinstance(distance, torch.Tensor)
    assert distance.device.type == torch.device(device).type
    assert distance.dtype == dtype
    np.testing.assert_allclose(
        distance.cpu().numpy(), learned_distance(features, y, 5), atol=1e-6
    )


def test_batched_accumulation_matches_whole_set():
    features, y = _random_problem(10, n_samples=90)
    features = torch.as_tensor(features)
    sums = counts = None
    for start in range(0, len(y), 16):
        batch = slice(start, start + 16)
        sums, counts = _accumulate_class_sums(
            features[batch], torch.as_tensor(y[batch]), 5, sums, counts
        )
    distance = _distance_from_class_sums(sums, counts, power=2.0).numpy()
    np.testing.assert_allclose(
        distance, learned_distance(features.numpy(), y, 5, power=2.0), atol=1e-12
    )


@pytest.mark.parametrize(
    "y, message",
    [
        ([0, 1, 3, 2], r"in 0, \.\.\., 2 for 3 classes; got labels from 0 to 3"),
        ([0, -1, 2, 2], r"in 0, \.\.\., 2 for 3 classes; got labels from -1 to 2"),
        ([0, 1], r"one class index per sample, shape \(4,\); got shape \(2,\)"),
    ],
)
def test_class_sums_reject_labels_out_of_range(y, message):
    # Past K, index_add_ would fail with an index error (on CUDA, a device
    # assertion that ends the process).
    with pytest.raises(ValueError, match=message):
        _accumulate_class_sums(torch.ones(4, 2), torch.tensor(y), 3)


def test_class_sums_reject_soft_targets_of_the_wrong_width():
    with pytest.raises(
        ValueError, match=r"must have shape \(4, 3\); got shape \(4, 4\)"
    ):
        _accumulate_class_sums(torch.ones(4, 2), torch.full((4, 4), 0.25), 3)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint64, np.int32])
def test_learned_distance_rejects_labels_past_k_of_any_integer_dtype(dtype):
    with pytest.raises(ValueError, match="got labels from 0 to 3"):
        learned_distance(np.ones((4, 2)), np.array([0, 1, 2, 3], dtype=dtype), 3)


def test_soft_targets_weight_class_sums_like_indices():
    features, y = _random_problem(11)
    features = torch.as_tensor(features)
    one_hot = torch.nn.functional.one_hot(torch.as_tensor(y), 5).double()
    soft = _accumulate_class_sums(features, one_hot, 5)
    hard = _accumulate_class_sums(features, torch.as_tensor(y), 5)
    torch.testing.assert_close(soft, hard)


# --------------------------------------------------------------------------- #
# seriate
# --------------------------------------------------------------------------- #


def _is_order_or_reverse(order, n_classes):
    return np.array_equal(order, np.arange(n_classes)) or np.array_equal(
        order, np.arange(n_classes)[::-1]
    )


@pytest.mark.parametrize("n_classes", [3, 4, 6, 9, 15])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seriate_recovers_shuffled_order_with_noise(n_classes, seed):
    rng = np.random.default_rng(seed)
    shuffle = rng.permutation(n_classes)
    noise = rng.normal(scale=0.3, size=(n_classes, n_classes))
    distance = np.abs(ordinal_distance(n_classes) + noise * (1 - np.eye(n_classes)))
    order = seriate(distance[np.ix_(shuffle, shuffle)])
    # Position p of the shuffled matrix holds the class of true rank shuffle[p].
    assert _is_order_or_reverse(shuffle[order], n_classes)


@pytest.mark.parametrize("n_classes", [4, 7])
def test_seriate_recovers_order_from_learned_distance(n_classes):
    rng = np.random.default_rng(0)
    t = rng.uniform(size=400)
    true_rank = np.minimum((t * n_classes).astype(int), n_classes - 1)
    features = np.column_stack([np.cos(2 * t), np.sin(2 * t), t**2])
    features += rng.normal(scale=0.05, size=features.shape)
    shuffle = rng.permutation(n_classes)  # shuffle[label] = true rank
    labels = np.argsort(shuffle)[true_rank]
    distance = learned_distance(features, labels, n_classes)
    assert _is_order_or_reverse(shuffle[seriate(distance)], n_classes)


def test_seriate_orientation_starts_with_lower_index():
    order = seriate(ordinal_distance(6)[::-1, ::-1])
    np.testing.assert_array_equal(order, np.arange(6))
    assert seriate(ordinal_distance(5)).tolist() == [0, 1, 2, 3, 4]


def test_seriate_returns_labels_when_classes_given():
    labels = np.array(["a", "b", "c", "d", "e"])
    shuffle = np.array([3, 0, 4, 2, 1])
    distance = ordinal_distance(5)[np.ix_(shuffle, shuffle)]
    ordered = seriate(distance, classes=labels[shuffle])
    assert ordered.tolist() in (list("abcde"), list("edcba"))


def test_seriate_accepts_tensor_and_asymmetric_matrix():
    distance = ordinal_distance(5)
    distance[0, 1] = 1.5  # not symmetric, still ordinal once symmetrised
    order = seriate(torch.as_tensor(distance))
    np.testing.assert_array_equal(order, np.arange(5))


@pytest.mark.parametrize("n_classes", [1, 2])
def test_seriate_small(n_classes):
    order = seriate(uniform_distance(n_classes) if n_classes > 1 else [[0.0]])
    np.testing.assert_array_equal(order, np.arange(n_classes))


@pytest.mark.parametrize(
    "distance, classes, message",
    [
        (np.ones(3), None, "square"),
        (np.ones((2, 3)), None, "square"),
        (-ordinal_distance(3), None, "negative"),
        (ordinal_distance(3), ["a", "b"], "one label per class"),
    ],
)
def test_seriate_rejects_invalid(distance, classes, message):
    with pytest.raises(ValueError, match=message):
        seriate(distance, classes=classes)
