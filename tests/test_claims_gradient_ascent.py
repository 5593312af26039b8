"""The checks behind the claims of the introduction and of the "Gradient ascent" section reject
plausible wrong implementations (and wrong claims), and pass the right ones.

Each test runs the chapter's check, on the chapter's numbers where that is affordable, once
with the right computation (it passes) and once or more with a wrong one (it raises
`CheckFailed`)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import checks
from utils.checks import CheckFailed
from utils.optim import (
    HIMMELBLAU_LOCAL_MAXIMUM,
    cartpole_start_states,
    curvature_on_segments,
    gradient_ascent,
    himmelblau,
    least_squares_objective,
    least_squares_solution,
    make_least_squares,
    max_variance_on_box,
    minibatch_gradient,
    minibatch_gradient_variance,
    per_sample_gradients,
    rate_excess,
    sgd_convergence_bound,
    sgd_final_iterates,
    sgd_least_squares,
    sgd_noise_floor,
    squared_gradient_norms,
    threshold_policy_returns,
)

THETA_GOOD = jnp.array([0.0, 0.0, 1.0, 1.0])


def J_himmelblau(theta):
    return -himmelblau(theta)


@pytest.fixture(scope="module")
def line():
    """The introduction's line theta_good + t v, random points on it and start states (same keys)."""
    direction = jax.random.normal(jax.random.key(1), (4,))
    direction = direction / jnp.linalg.norm(direction)
    starts = cartpole_start_states(jax.random.key(0), 16384)
    t = jax.random.uniform(jax.random.key(2), (16384,), minval=-1.0, maxval=1.0)
    return direction, starts, THETA_GOOD + t[:, None] * direction


@pytest.fixture(scope="module")
def data():
    """The section's least-squares data (key 0, N = 1000, D = 5)."""
    return make_least_squares(jax.random.key(0), n_samples=1000, dim=5, noise=0.5)


# ------------------------------------------------------------------------ introduction


def test_sampled_returns_of_the_threshold_policy_are_piecewise_constant(line):
    direction, starts, points = line
    base = threshold_policy_returns(points, starts)
    shifted = threshold_policy_returns(points + 1e-5 * direction, starts)
    checks.piecewise_constant(base, shifted, flat_fraction=0.99, min_jump=1.0, what="sampled returns")
    assert bool(jnp.any(shifted != base))  # and it does jump somewhere


def test_a_smooth_scale_invariant_return_passes_the_old_assert_but_not_the_new_check(line):
    """The old cell only checked that scaling theta changes nothing; a smooth function of
    theta / ||theta|| passes that, and the piecewise-constant check rejects it."""
    direction, starts, points = line

    def smooth_return(theta, s0):  # 1 to 500, smooth in theta, invariant under theta -> c theta (c > 0)
        return 1.0 + 499.0 * jax.nn.sigmoid(50.0 * (theta @ s0) / jnp.linalg.norm(theta, axis=-1))

    smooth = jax.vmap(smooth_return)
    for scale in [0.01, 1.0, 100.0]:  # the old assert, which it passes
        np.testing.assert_allclose(smooth(scale * points[:5], starts[:5]), smooth(points[:5], starts[:5]), rtol=1e-5)
    with pytest.raises(CheckFailed, match="changes at"):
        checks.piecewise_constant(smooth(points, starts), smooth(points + 1e-5 * direction, starts),
                                  flat_fraction=0.99, min_jump=1.0, what="a smooth return")


def test_the_mean_over_start_states_is_not_piecewise_constant_at_this_resolution(line):
    """The false claim of the old text, "J is piecewise constant", fails the check when J is
    estimated by the mean over 128 start states: it changes at most points, by small steps."""
    direction, starts, points = line
    points, starts = points[:128], starts[:128]
    base = threshold_policy_returns(points[:, None, :], starts[None, :]).mean(axis=1)  # (128 points,)
    shifted = threshold_policy_returns(points[:, None, :] + 1e-5 * direction, starts[None, :]).mean(axis=1)
    with pytest.raises(CheckFailed):
        checks.piecewise_constant(base, shifted, flat_fraction=0.99, min_jump=1.0, what="J")


def test_piecewise_constant_rejects_a_continuous_function_with_flat_stretches():
    x = np.linspace(0.0, 10.0, 10001)
    ramp = np.clip(np.sin(x), 0.0, 0.002)  # flat almost everywhere, but continuous
    with pytest.raises(CheckFailed, match="smaller than a jump"):
        checks.piecewise_constant(ramp, np.clip(np.sin(x + 1e-5), 0.0, 0.002), flat_fraction=0.99, min_jump=1.0, what="ramp")


def test_the_share_of_changes_must_fall_in_proportion_to_delta():
    deltas = [1e-3, 1e-4, 1e-5]
    checks.power_law(deltas, [0.138, 0.0203, 0.00226], 1.0, atol=0.25, what="the chapter's shares")
    with pytest.raises(CheckFailed):  # fresh noise at every evaluation: the share does not fall with delta
        checks.power_law(deltas, [0.5, 0.49, 0.5], 1.0, atol=0.25, what="a noisy return")
    with pytest.raises(CheckFailed):  # a share falling like sqrt(delta): changes too frequent for isolated jumps
        checks.power_law(deltas, [0.1, 0.1 * 10**-0.5, 0.01], 1.0, atol=0.25, what="too slow")


# ------------------------------------------------------------------------ gradient ascent: curvature and rates


@pytest.fixture(scope="module")
def starts_himmelblau():
    angles = np.linspace(0.0, 2.0 * np.pi, 8, endpoint=False)
    return jnp.asarray(HIMMELBLAU_LOCAL_MAXIMUM + 1.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1), jnp.float32)


def segment_check(paths, eta):
    largest = max(float(curvature_on_segments(J_himmelblau, path).on_segment.max()) for path in paths)
    return checks.less(eta * largest, 2.0, what="eta times the largest curvature on every segment is below 2")


def test_the_curvature_condition_holds_at_the_chapters_step_and_fails_at_a_larger_one(starts_himmelblau):
    segment_check(gradient_ascent(J_himmelblau, starts_himmelblau, 0.01, 500), 0.01)
    with pytest.raises(CheckFailed):
        segment_check(gradient_ascent(J_himmelblau, starts_himmelblau, 0.02, 500), 0.02)


def test_curvature_on_segments_is_exact_and_sees_an_interior_maximum(starts_himmelblau):
    path = gradient_ascent(J_himmelblau, starts_himmelblau[0], 0.01, 20)  # moving by more than 1e-3 at every step
    exact = curvature_on_segments(J_himmelblau, path)
    hessian = jax.hessian(J_himmelblau)
    t = jnp.linspace(0.0, 1.0, 257)

    def dense(theta, d):  # the curvature along the step on a grid of 257 points of the segment
        u = d / jnp.linalg.norm(d)
        return jax.vmap(lambda s: -u @ hessian(theta + s * d) @ u)(t).max()

    np.testing.assert_allclose(exact.on_segment, jax.jit(jax.vmap(dense))(path[:-1], path[1:] - path[:-1]), rtol=1e-4, atol=1e-3)

    # A quartic whose curvature along the segment peaks in the middle: checking only the
    # iterates (the ends) would miss it.
    def J_bump(theta):
        return theta[0] ** 4 / 12.0 - theta[1] ** 2

    segment = jnp.array([[-1.0, 0.0], [1.0, 0.0]])
    result = curvature_on_segments(J_bump, segment)
    np.testing.assert_allclose(result.at_ends, [-1.0], rtol=1e-6)  # -(theta_1^2) at theta_1 = +-1
    np.testing.assert_allclose(result.on_segment, [0.0], atol=1e-6)  # its maximum, at theta_1 = 0


def test_the_linear_rate_check_rejects_a_wrong_step_size_rule_or_sign():
    A = jnp.array([[3.0, 1.0], [1.0, 2.0]])
    c_small, c_large = (float(c) for c in jnp.linalg.eigvalsh(A))
    factor = (c_large - c_small) / (c_large + c_small)
    start = jnp.array([1.0, -2.0])

    def check(J, eta):
        return checks.less(rate_excess(gradient_ascent(J, start, eta, 20), jnp.zeros(2), factor), 1 + 1e-4, what="rate")

    J = lambda theta: -0.5 * theta @ A @ theta  # noqa: E731
    check(J, 2 / (c_small + c_large))
    for wrong_eta in [1 / c_large, 1.05 * 2 / c_large, 0.5 * 2 / (c_small + c_large)]:  # "safe" 1/L, too large, too small
        with pytest.raises(CheckFailed):
            check(J, wrong_eta)
    with pytest.raises(CheckFailed):  # descent on J, i.e. the wrong sign of the update
        check(lambda theta: 0.5 * theta @ A @ theta, 2 / (c_small + c_large))


# ------------------------------------------------------------------------ the stochastic gradient


def test_exact_unbiasedness_rejects_biased_single_sample_estimators(data):
    theta = jnp.zeros(5)
    gradient = jax.grad(least_squares_objective)(theta, data)
    values = per_sample_gradients(theta, data)
    n = values.shape[0]
    uniform = np.full(n, 1.0 / n)
    checks.mean_matches_exact(values, uniform, gradient, what="right")
    with pytest.raises(CheckFailed):
        checks.mean_matches_exact(1.1 * values, uniform, gradient, what="scaled by 1.1")
    with pytest.raises(CheckFailed):  # randint(0, N - 1): the last data point is never drawn (bias 0.2% of the gradient)
        checks.mean_matches_exact(values[:-1], np.full(n - 1, 1.0 / (n - 1)), gradient, what="off by one")
    with pytest.raises(CheckFailed):  # the gradient of the squared error without its factor 1/2
        checks.mean_matches_exact(2.0 * values, uniform, gradient, what="factor 2")


def draws(data, estimator, batch_size, n=20000):
    keys = jax.random.split(jax.random.key(1), n)
    return jax.jit(jax.vmap(lambda key: estimator(jnp.zeros(5), data, key, batch_size)))(keys)


def repeated_index_gradient(theta, data, key, batch_size):
    """Wrong: one index drawn and used B times, so the "minibatch" has the variance of B = 1."""
    i = jax.random.randint(key, (), 0, data.X.shape[0])
    x, y = data.X[i], data.y[i]
    return -jnp.broadcast_to(x * (x @ theta - y), (batch_size, x.shape[0])).mean(axis=0)


def test_sampled_unbiasedness_at_the_chapters_sample_size_rejects_a_scaled_estimator(data):
    gradient = jax.grad(least_squares_objective)(jnp.zeros(5), data)
    right = draws(data, minibatch_gradient, 10)
    checks.mean_matches(right, gradient, what="right")
    with pytest.raises(CheckFailed):
        checks.mean_matches(1.1 * right, gradient, what="scaled by 1.1")
    with pytest.raises(CheckFailed):
        checks.mean_matches(-right, gradient, what="wrong sign")


def test_the_variance_check_rejects_a_minibatch_that_repeats_one_index(data):
    gradient = jax.grad(least_squares_objective)(jnp.zeros(5), data)
    variance = minibatch_gradient_variance(jnp.zeros(5), data, 10)
    right = draws(data, minibatch_gradient, 10)
    checks.mean_matches(jnp.sum((right - gradient) ** 2, axis=1), variance, what="right")
    wrong = draws(data, repeated_index_gradient, 10)
    checks.mean_matches(wrong, gradient, what="still unbiased")  # the bug does not show in the mean ...
    with pytest.raises(CheckFailed):  # ... but in the variance, ten times too large
        checks.mean_matches(jnp.sum((wrong - gradient) ** 2, axis=1), variance, what="repeated index")


# ------------------------------------------------------------------------ the noise floor

FLOOR_ETAS = [0.00625, 0.0125, 0.025, 0.05]


def floor_samples(data, run):
    """||grad J(theta^K)||^2 of 2048 runs from theta_LS, K = 1000, B = 1, key 3, for each eta."""
    theta_ls = least_squares_solution(data)
    return [squared_gradient_norms(run(eta), data) for eta in FLOOR_ETAS], theta_ls


def sweep_checks(data, samples):
    """The chapter's checks of the sweep over eta."""
    for eta, s in zip(FLOOR_ETAS, samples):
        checks.mean_matches(s, sgd_noise_floor(data, eta, 1, 1000).at_step[-1], what=f"eta = {eta}: the exact floor")
    checks.power_law(FLOOR_ETAS, [s.mean() for s in samples], 1.0, atol=0.15, what="the floor grows in proportion to eta")


def test_the_noise_floor_sweep_passes_for_sgd_and_rejects_wrong_step_sizes(data):
    theta_ls = least_squares_solution(data)
    right = lambda eta: sgd_final_iterates(data, theta_ls, eta, 1000, 1, jax.random.key(3), 2048)  # noqa: E731
    samples, _ = floor_samples(data, right)
    sweep_checks(data, samples)

    # A sweep whose runs all use the same step size (the eta argument ignored): the floor is
    # independent of eta.
    constant, _ = floor_samples(data, lambda eta: right(0.05))
    with pytest.raises(CheckFailed):
        sweep_checks(data, constant)
    with pytest.raises(CheckFailed):  # the power-law part alone also rejects it
        checks.power_law(FLOOR_ETAS, [s.mean() for s in constant], 1.0, atol=0.15, what="constant floor")

    # The step applied twice (theta += eta * (eta * g)): a floor that grows like eta^2.
    squared, _ = floor_samples(data, lambda eta: sgd_final_iterates(data, theta_ls, eta**2, 1000, 1, jax.random.key(3), 2048))
    with pytest.raises(CheckFailed):
        sweep_checks(data, squared)


def test_the_floor_does_not_fall_with_the_batch_size_for_a_repeated_index_minibatch(data):
    theta_ls = least_squares_solution(data)
    batch_sizes = [1, 10, 100]

    def final_iterates(estimator, batch_size):
        def one(key):
            def step(theta, k):
                return theta + 0.05 * estimator(theta, data, jax.random.fold_in(key, k), batch_size), None
            return jax.lax.scan(step, theta_ls, jnp.arange(200))[0]
        keys = jax.vmap(lambda r: jax.random.fold_in(jax.random.key(4), r))(jnp.arange(256))
        return jax.jit(jax.vmap(one))(keys)

    right = [squared_gradient_norms(final_iterates(_minibatch, B), data).mean() for B in batch_sizes]
    checks.power_law(batch_sizes, right, -1.0, atol=0.15, what="right")
    wrong = [squared_gradient_norms(final_iterates(repeated_index_gradient, B), data).mean() for B in batch_sizes]
    with pytest.raises(CheckFailed):
        checks.power_law(batch_sizes, wrong, -1.0, atol=0.15, what="repeated index")


def _minibatch(theta, data, key, batch_size):
    index = jax.random.randint(key, (batch_size,), 0, data.X.shape[0])
    X, y = data.X[index], data.y[index]
    return -X.T @ (X @ theta - y) / batch_size


# ------------------------------------------------------------------------ the convergence theorem


def theorem_checks(data, runs, eta):
    """The chapter's checks of thm-sgd-convergence on least squares, for runs of K = 500 steps from 0."""
    X = data.X
    L = float(jnp.linalg.eigvalsh(X.T @ X / X.shape[0]).max())
    theta_ls = least_squares_solution(data)
    checks.less(eta, 1 / L, what="eta <= 1/L")
    half_width = 1.2 * float(jnp.abs(theta_ls).max())
    sigma2 = max_variance_on_box(data, theta_ls, half_width)
    iterates = runs[:, :-1]
    checks.fraction_at_least(jnp.all(jnp.abs(iterates - theta_ls) <= half_width, axis=-1), 1.0, what="in the box")
    gap = float(least_squares_objective(theta_ls, data) - least_squares_objective(jnp.zeros(5), data))
    bound = sgd_convergence_bound(gap, eta, 500, L, sigma2)
    checks.mean_at_most(squared_gradient_norms(iterates, data).mean(axis=1), bound / 10, what="below a tenth of the bound")


def wrong_sign_sgd(data, eta, key):
    def step(theta, k):
        return theta - eta * _minibatch(theta, data, jax.random.fold_in(key, k), 1), theta
    last, path = jax.lax.scan(step, jnp.zeros(5), jnp.arange(500))
    return jnp.concatenate([path, last[None]])


def test_the_convergence_check_rejects_the_wrong_sign_and_a_step_above_1_over_L(data):
    right = jnp.stack([sgd_least_squares(data, jnp.zeros(5), 0.05, 500, batch_size=1, key=jax.random.key(s)) for s in range(32)])
    theorem_checks(data, right, 0.05)
    wrong_sign = jnp.stack([jax.jit(wrong_sign_sgd)(data, 0.05, jax.random.key(s)) for s in range(32)])
    with pytest.raises(CheckFailed):
        theorem_checks(data, wrong_sign, 0.05)
    too_large = jnp.stack([sgd_least_squares(data, jnp.zeros(5), 1.5, 500, batch_size=1, key=jax.random.key(s)) for s in range(32)])
    with pytest.raises(CheckFailed, match="1/L"):  # eta = 1.5 > 1/L: the theorem does not apply ...
        theorem_checks(data, too_large, 1.5)
    with pytest.raises(CheckFailed):  # ... and the runs blow up (NaN or far outside the box)
        checks.fraction_at_least(jnp.all(jnp.abs(too_large - least_squares_solution(data)) <= 3.0, axis=-1), 1.0, what="box")


def test_max_variance_on_box_is_the_maximum_over_the_box(data):
    center, half_width = least_squares_solution(data), 1.0
    exact = max_variance_on_box(data, center, half_width)
    inside = center + half_width * jax.random.uniform(jax.random.key(9), (4000, 5), minval=-1.0, maxval=1.0)
    assert minibatch_gradient_variance(inside, data).max() <= exact * (1 + 1e-9)
    corner = center + half_width * jnp.sign(jax.random.normal(jax.random.key(9), (5,)))
    assert minibatch_gradient_variance(corner, data) <= exact * (1 + 1e-9)
