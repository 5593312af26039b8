"""`utils.checks`: each check passes the right numbers and rejects a plausible wrong one."""
from __future__ import annotations

import numpy as np
import pytest

from utils import checks

RNG = np.random.default_rng(0)
G = np.array([0.3, -0.2, 0.1])


def noisy(mean, n=20_000, scale=1.0, seed=0):
    return mean + scale * np.random.default_rng(seed).normal(size=(n, mean.size))


def test_check_failed_is_an_assertion_error():
    assert issubclass(checks.CheckFailed, AssertionError)


def test_total_variance_is_the_trace_of_the_covariance():
    x = noisy(G, n=500, scale=2.0)
    assert checks.total_variance(x) == pytest.approx(np.trace(np.cov(x, rowvar=False)), rel=1e-12)


def test_mean_squared_error_adds_the_squared_bias():
    x = noisy(G, n=500)
    bias = np.array([0.5, 0.0, 0.0])
    n = x.shape[0]
    mse = checks.mean_squared_error(x, G - bias)
    expected = checks.total_variance(x) * (n - 1) / n + np.sum((x.mean(axis=0) - G + bias) ** 2)
    assert mse == pytest.approx(expected, rel=1e-12)


def test_mean_matches_passes_an_unbiased_estimator_and_rejects_a_biased_one():
    check = checks.mean_matches(noisy(G, scale=0.2), G, what="unbiased", unit="‖g‖")
    assert check.resolution < 0.1 * np.linalg.norm(G)
    assert "‖g‖" in check.describe() and "passed" in check.describe()
    # A 1.1× scaled estimator: its bias is 10% of ‖g‖, above this check's resolution.
    with pytest.raises(checks.CheckFailed, match="standard errors"):
        checks.mean_matches(noisy(1.1 * G, scale=0.2), G, what="scaled")


def test_mean_matches_exact_enumerates_and_rejects_a_scaled_mean():
    values = np.stack([G + d for d in (np.ones(3), -np.ones(3))])
    probs = np.array([0.5, 0.5])
    assert checks.mean_matches_exact(values, probs, G, what="exact").statistic == pytest.approx(0, abs=1e-12)
    with pytest.raises(checks.CheckFailed, match="exact mean"):
        checks.mean_matches_exact(1.001 * values, probs, G, what="scaled by 1.001", rtol=1e-4)
    with pytest.raises(ValueError, match="sum to 1"):
        checks.mean_matches_exact(values, np.array([0.5, 0.6]), G, what="bad probabilities")


def test_variance_less_orders_variances_and_refuses_equal_ones():
    small, large = noisy(G, n=2000, scale=1.0, seed=1), noisy(G, n=2000, scale=1.5, seed=2)
    checks.variance_less(small, large, what="smaller")
    with pytest.raises(checks.CheckFailed):
        checks.variance_less(large, small, what="reversed")
    with pytest.raises(checks.CheckFailed):
        checks.variance_less(noisy(G, n=2000, seed=3), noisy(G, n=2000, seed=4), what="equal")


def test_close_is_an_identity_to_a_tolerance():
    checks.close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), what="identity", rtol=1e-8)
    with pytest.raises(checks.CheckFailed, match="element"):
        checks.close(np.array([1.0, 2.0]), np.array([1.0, 2.1]), what="off by 5%", rtol=1e-3)
    with pytest.raises(ValueError, match="shape"):
        checks.close(np.zeros(2), np.zeros(3), what="shapes")


def test_mean_at_most_rejects_a_kl_of_twice_the_bound():
    delta = 0.01
    fresh = np.random.default_rng(5).exponential(0.9 * delta, size=4000)
    checks.mean_at_most(fresh, delta, what="KL within δ")
    with pytest.raises(checks.CheckFailed, match="exceeds the bound"):
        checks.mean_at_most(2 * fresh, delta, what="KL of twice the scale")


def test_less_greater_and_fraction():
    checks.less(1.0, 2.0, what="less")
    checks.greater(2.0, 1.0, what="greater", margin=0.5)
    with pytest.raises(checks.CheckFailed):
        checks.less(2.0, 2.0, what="not less")
    with pytest.raises(checks.CheckFailed):
        checks.greater(1.4, 1.0, what="not by the margin", margin=0.5)
    checks.fraction_at_least([True, True, False], 0.6, what="two of three")
    with pytest.raises(checks.CheckFailed, match="1 of 3"):
        checks.fraction_at_least([True, False, False], 0.5, what="one of three")


def test_non_finite_numbers_are_rejected_with_a_clear_message():
    with pytest.raises(checks.CheckFailed, match="NaN"):
        checks.mean_matches(np.full((10, 3), np.nan), G, what="nan")
    with pytest.raises(ValueError, match="at least two samples"):
        checks.mean_matches(np.zeros((1, 3)), G, what="one sample")


def testrank_sum_p_value_is_the_exact_permutation_probability():
    # Enumerate every way of choosing which 4 of the 8 pooled samples are "a" (ties included,
    # as CartPole's cap of 500 makes them): the p-value is the fraction with a rank sum >= a's.
    import itertools

    a, b = np.array([500.0, 500.0, 480.0, 300.0]), np.array([500.0, 200.0, 300.0, 100.0])
    pooled = np.concatenate([a, b])
    ranks = np.array([(pooled < x).sum() + ((pooled == x).sum() + 1) / 2 for x in pooled])
    observed = ranks[:4].sum()
    count = sum(ranks[list(c)].sum() >= observed - 1e-9 for c in itertools.combinations(range(8), 4))
    assert checks.rank_sum_p_value(a, b) == pytest.approx(count / 70, abs=1e-15)
    assert checks.pairwise_wins(a, b) == pytest.approx((3.5 + 3.5 + 3 + 2.5) / 16)


def test_ranks_above_tolerates_one_crossing_seed_and_rejects_a_reversed_or_equal_pair():
    rng = np.random.default_rng(1)
    low, high = rng.normal(180, 60, 8), rng.normal(430, 60, 8)
    high[0] = low.max() - 1  # one seed of the better method ends below one of the worse
    check = checks.ranks_above(high, low, what="B above A", p=0.01)
    assert check.statistic <= 0.01 and check.resolution == pytest.approx(np.ptp(high) + np.ptp(low))
    with pytest.raises(checks.CheckFailed, match="do not resolve"):
        checks.separated(high, low, what="B above A on every seed")  # the stricter check fails here
    with pytest.raises(checks.CheckFailed, match=r"p = 1 > 0\.01"):  # the wrong way round
        checks.ranks_above(low, high, what="A above B", p=0.01)
    same = rng.normal(300, 60, (2, 8))  # two equally good methods: not ranked
    with pytest.raises(checks.CheckFailed, match="rank-sum test"):
        checks.ranks_above(same[0], same[1], what="equal", p=0.01)
    with pytest.raises(ValueError, match="cannot reach p = 0.01"):  # 1/C(6, 3) = 0.05
        checks.ranks_above(high[:3], low[:3], what="too few seeds", p=0.01)
