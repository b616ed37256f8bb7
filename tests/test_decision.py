from fractions import Fraction

import numpy as np
import pytest

from skemd._decision import DECISIONS, decide


def _dirichlet(n_samples, n_classes, seed, alpha=0.5):
    return np.random.default_rng(seed).dirichlet(np.full(n_classes, alpha), n_samples)


def _expected_cost(proba, distance, picks):
    return np.array([proba[n] @ distance[:, j] for n, j in enumerate(picks)])


def test_decisions_lists_the_rules():
    assert DECISIONS == ("argmax", "median", "expected_cost")


@pytest.mark.parametrize("n_classes", [1, 2, 5, 9])
def test_argmax_matches_numpy(n_classes):
    proba = _dirichlet(200, n_classes, seed=n_classes)
    np.testing.assert_array_equal(decide(proba, "argmax"), np.argmax(proba, axis=1))


def test_argmax_takes_the_first_of_tied_classes():
    proba = np.array([[0.4, 0.4, 0.2], [0.1, 0.45, 0.45]])
    np.testing.assert_array_equal(decide(proba, "argmax"), [0, 1])


@pytest.mark.parametrize("n_classes", [1, 2, 3, 6, 10])
def test_median_minimises_expected_absolute_error(n_classes):
    proba = _dirichlet(300, n_classes, seed=10 + n_classes)
    steps = np.arange(n_classes)
    distance = np.abs(steps[:, None] - steps[None, :]).astype(float)
    picks = decide(proba, "median")
    # Brute force: the expected |i - j| of every candidate class j.
    best = np.min(
        [_expected_cost(proba, distance, np.full(len(proba), j)) for j in steps],
        axis=0,
    )
    np.testing.assert_allclose(
        _expected_cost(proba, distance, picks), best, rtol=0, atol=1e-12
    )


def test_median_is_the_first_class_reaching_one_half():
    proba = _dirichlet(300, 7, seed=3)
    picks = decide(proba, "median")
    for row, pick in zip(proba, picks, strict=True):
        total, first = 0.0, None
        for j, p in enumerate(row):
            total += p
            if total >= 0.5:
                first = j
                break
        # A cumulative sum within rounding of 0.5 may land either side.
        if abs(total - 0.5) > 1e-9:
            assert pick == first


def test_median_resolves_exact_halves_to_the_lower_class_despite_rounding():
    # Probabilities on a grid of twentieths: the cumulative sums are exactly 0.5
    # on paper for many rows, and float cumsum rounds some of them below 0.5.
    rng = np.random.default_rng(0)
    counts = rng.multinomial(20, np.full(6, 1 / 6), size=500)
    proba = counts / 20
    expected = []
    for row in counts:
        cumulative = Fraction(0)
        for j, count in enumerate(row):
            cumulative += Fraction(int(count), 20)
            if cumulative >= Fraction(1, 2):
                expected.append(j)
                break
    rounded_below = np.any(
        np.isclose(np.cumsum(proba, axis=1), 0.5) & (np.cumsum(proba, axis=1) < 0.5)
    )
    assert rounded_below, "the grid should contain rows that round below 0.5"
    np.testing.assert_array_equal(decide(proba, "median"), expected)


def test_median_uses_half_of_the_row_total():
    proba = _dirichlet(100, 5, seed=4)
    np.testing.assert_array_equal(
        decide(proba * (1 - 1e-7), "median"), decide(proba, "median")
    )
    np.testing.assert_array_equal(
        decide(proba.astype(np.float32), "median"), decide(proba, "median")
    )


@pytest.mark.parametrize("n_classes", [1, 2, 4, 8])
def test_expected_cost_matches_brute_force(n_classes):
    rng = np.random.default_rng(n_classes)
    proba = _dirichlet(200, n_classes, seed=20 + n_classes)
    distance = rng.uniform(0, 3, size=(n_classes, n_classes))  # not symmetric
    np.fill_diagonal(distance, 0)
    expected = []
    for row in proba:
        costs = [
            sum(row[i] * distance[i, j] for i in range(n_classes))
            for j in range(n_classes)
        ]
        expected.append(int(np.argmin(costs)))
    np.testing.assert_array_equal(decide(proba, "expected_cost", distance), expected)


def test_expected_cost_with_ordinal_distance_agrees_with_median():
    proba = _dirichlet(300, 6, seed=5)
    steps = np.arange(6)
    distance = np.abs(steps[:, None] - steps[None, :]).astype(float)
    by_cost = decide(proba, "expected_cost", distance)
    by_median = decide(proba, "median")
    np.testing.assert_allclose(
        _expected_cost(proba, distance, by_cost),
        _expected_cost(proba, distance, by_median),
        atol=1e-12,
    )


def test_expected_cost_with_uniform_distance_agrees_with_argmax():
    proba = _dirichlet(300, 5, seed=6)
    distance = 1.0 - np.eye(5)
    np.testing.assert_array_equal(
        decide(proba, "expected_cost", distance), decide(proba, "argmax")
    )


def test_other_rules_ignore_ground_distance():
    proba = _dirichlet(50, 4, seed=7)
    distance = np.ones((4, 4))
    for rule in ("argmax", "median"):
        np.testing.assert_array_equal(
            decide(proba, rule, distance), decide(proba, rule)
        )


@pytest.mark.parametrize("rule", DECISIONS)
def test_returns_integer_indices_one_per_row(rule):
    proba = _dirichlet(30, 4, seed=8)
    picks = decide(proba, rule, np.ones((4, 4)) - np.eye(4))
    assert picks.shape == (30,)
    assert picks.dtype == np.intp
    assert picks.min() >= 0 and picks.max() < 4


@pytest.mark.parametrize("rule", DECISIONS)
def test_empty_batch_gives_empty_result(rule):
    picks = decide(np.zeros((0, 3)), rule, np.ones((3, 3)))
    assert picks.shape == (0,)


@pytest.mark.parametrize("rule", ["mode", "mean", None, "Median"])
def test_unknown_rule_is_rejected_with_the_allowed_values(rule):
    with pytest.raises(ValueError, match="argmax.*median.*expected_cost"):
        decide(np.full((2, 2), 0.5), rule)


def test_expected_cost_needs_a_ground_distance():
    with pytest.raises(ValueError, match="needs a ground_distance of shape \\(3, 3\\)"):
        decide(np.full((2, 3), 1 / 3), "expected_cost")


def test_expected_cost_rejects_a_ground_distance_of_the_wrong_shape():
    with pytest.raises(ValueError, match="shape \\(3, 3\\).*got shape \\(2, 2\\)"):
        decide(np.full((2, 3), 1 / 3), "expected_cost", np.ones((2, 2)))


def test_expected_cost_rejects_a_non_finite_ground_distance():
    distance = np.ones((2, 2))
    distance[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        decide(np.full((1, 2), 0.5), "expected_cost", distance)


def test_rejects_proba_that_is_not_a_matrix():
    with pytest.raises(ValueError, match="shape \\(n_samples, n_classes\\)"):
        decide(np.array([0.5, 0.5]), "argmax")
    with pytest.raises(ValueError, match="at least one class"):
        decide(np.zeros((3, 0)), "argmax")


def test_rejects_proba_with_nan():
    with pytest.raises(ValueError, match="NaN"):
        decide(np.array([[np.nan, 1.0]]), "median")
