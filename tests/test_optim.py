"""Tests for `utils.optim`: gradient ascent, finite differences, SGD on least squares."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import checks
from utils.optim import (
    HIMMELBLAU_LOCAL_MAXIMUM,
    HIMMELBLAU_MINIMA,
    HIMMELBLAU_SADDLES,
    LeastSquares,
    cartpole_start_states,
    curvature_on_segments,
    directional_finite_difference,
    finite_difference_gradient,
    gradient_ascent,
    himmelblau,
    least_squares_objective,
    least_squares_solution,
    make_least_squares,
    make_minibatch_gradient,
    max_variance_on_box,
    minibatch_gradient,
    minibatch_gradient_variance,
    per_sample_gradients,
    rate_excess,
    sgd_convergence_bound,
    sgd_final_iterates,
    sgd_least_squares,
    sgd_noise_floor,
    stochastic_gradient_ascent,
    threshold_policy_returns,
)

# A concave quadratic J(theta) = -1/2 (theta - c)^T A (theta - c), with known gradient-ascent iterates.
A = jnp.array([[2.0, 0.5], [0.5, 1.0]])
C = jnp.array([1.0, -2.0])


def quadratic(theta):
    d = theta - C
    return -0.5 * d @ A @ d


def neg_himmelblau(theta):
    return -himmelblau(theta)


@pytest.fixture(scope="module")
def data():
    return make_least_squares(jax.random.key(0), n_samples=200, dim=3, noise=0.5)


# --------------------------------------------------------------------------- Himmelblau


def test_himmelblau_known_values():
    assert float(himmelblau(jnp.array([3.0, 2.0]))) == 0.0
    assert float(himmelblau(jnp.array([0.0, 0.0]))) == 11.0**2 + 7.0**2
    np.testing.assert_allclose(jax.vmap(himmelblau)(jnp.asarray(HIMMELBLAU_MINIMA, jnp.float32)), 0.0, atol=1e-6)
    np.testing.assert_allclose(himmelblau(jnp.asarray(HIMMELBLAU_LOCAL_MAXIMUM, jnp.float32)), 181.617, rtol=1e-5)


def test_himmelblau_stationary_points_and_their_kinds():
    grad, hess = jax.grad(himmelblau), jax.hessian(himmelblau)
    kinds = [(HIMMELBLAU_MINIMA, [1, 1]), (HIMMELBLAU_LOCAL_MAXIMUM[None], [-1, -1]), (HIMMELBLAU_SADDLES, [-1, 1])]
    for points, signs in kinds:
        for p in jnp.asarray(points, jnp.float32):
            assert jnp.linalg.norm(grad(p)) < 1e-3
            assert list(jnp.sign(jnp.linalg.eigvalsh(hess(p)))) == signs


# --------------------------------------------------------------------------- gradient ascent


def test_gradient_ascent_matches_closed_form_on_a_quadratic():
    theta0, eta, K = jnp.array([3.0, 4.0]), 0.1, 30
    path = gradient_ascent(quadratic, theta0, eta, K)
    assert path.shape == (K + 1, 2)
    M = jnp.eye(2) - eta * A  # theta^k - c = (I - eta A)^k (theta^0 - c)
    expected = [C + jnp.linalg.matrix_power(M, k) @ (theta0 - C) for k in range(K + 1)]
    np.testing.assert_allclose(path, jnp.stack(expected), rtol=1e-5, atol=1e-5)


def test_gradient_ascent_batch_of_starts_equals_separate_runs():
    starts = jnp.array([[0.0, 0.0], [1.0, -1.0], [-2.0, 3.0]])
    paths = gradient_ascent(neg_himmelblau, starts, 0.01, 50)
    assert paths.shape == (3, 51, 2)
    for start, path in zip(starts, paths):
        np.testing.assert_allclose(path, gradient_ascent(neg_himmelblau, start, 0.01, 50), rtol=1e-6, atol=1e-6)


def test_gradient_ascent_on_himmelblau_reaches_a_maximiser_monotonically():
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    starts = jnp.asarray(HIMMELBLAU_LOCAL_MAXIMUM + 1.5 * np.stack([np.cos(angles), np.sin(angles)], 1), jnp.float32)
    paths = gradient_ascent(neg_himmelblau, starts, 0.01, 500)
    distance = jnp.linalg.norm(paths[:, -1, None, :] - HIMMELBLAU_MINIMA[None], axis=-1)
    assert jnp.all(distance.min(axis=1) < 1e-3)
    assert set(np.asarray(distance.argmin(axis=1)).tolist()) == {0, 1, 2, 3}
    values = jax.vmap(jax.vmap(neg_himmelblau))(paths)
    assert jnp.all(jnp.diff(values, axis=1) >= -1e-5)


def test_gradient_ascent_does_not_move_from_a_stationary_point():
    path = gradient_ascent(quadratic, C, 0.1, 10)
    np.testing.assert_array_equal(path, jnp.broadcast_to(C, (11, 2)))


@pytest.mark.parametrize("eta", [0.0, -0.1, float("nan"), float("inf")])
def test_gradient_ascent_rejects_non_positive_step(eta):
    with pytest.raises(ValueError, match="eta"):
        gradient_ascent(quadratic, jnp.zeros(2), eta, 10)


@pytest.mark.parametrize("eta", ["0.1", True, jnp.ones(2)])
def test_gradient_ascent_rejects_non_scalar_step(eta):
    with pytest.raises(TypeError, match="eta"):
        gradient_ascent(quadratic, jnp.zeros(2), eta, 10)


@pytest.mark.parametrize("n_steps, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)])
def test_gradient_ascent_rejects_bad_n_steps(n_steps, error):
    with pytest.raises(error, match="n_steps"):
        gradient_ascent(quadratic, jnp.zeros(2), 0.1, n_steps)


@pytest.mark.parametrize(
    "theta_init, error",
    [(jnp.array(1.0), ValueError), (jnp.zeros((2, 2, 2)), ValueError), (jnp.zeros(2, jnp.int32), TypeError), ([0.0, 0.0], TypeError)],
)
def test_gradient_ascent_rejects_bad_theta_init(theta_init, error):
    with pytest.raises(error, match="theta_init"):
        gradient_ascent(quadratic, theta_init, 0.1, 10)


def test_gradient_ascent_rejects_non_callable_objective():
    with pytest.raises(TypeError, match="`J`"):
        gradient_ascent(3.0, jnp.zeros(2), 0.1, 10)


# --------------------------------------------------------------------------- finite differences


def test_forward_difference_is_exact_up_to_the_curvature_term_on_a_quadratic():
    # For a quadratic, (J(theta + eps v) - J(theta)) / eps = grad J . v + (eps / 2) v^T (hessian) v exactly.
    theta, v = jnp.array([0.5, 0.25]), jnp.array([0.6, 0.8])
    for eps in [0.5, 0.125]:
        expected = jax.grad(quadratic)(theta) @ v + 0.5 * eps * v @ (-A) @ v
        np.testing.assert_allclose(directional_finite_difference(quadratic, theta, v, eps), expected, rtol=1e-5)


def test_finite_difference_gradient_approaches_autodiff():
    theta = jnp.array([1.0, -0.5])
    exact = jax.grad(neg_himmelblau)(theta)
    errors = [float(jnp.abs(finite_difference_gradient(neg_himmelblau, theta, eps) - exact).max()) for eps in [1e-1, 1e-2, 1e-3]]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.1
    # Each entry is the directional difference along a coordinate axis.
    np.testing.assert_allclose(
        finite_difference_gradient(neg_himmelblau, theta, 1e-2)[1],
        directional_finite_difference(neg_himmelblau, theta, jnp.array([0.0, 1.0]), 1e-2),
        rtol=1e-6,
    )


def test_finite_difference_rounding_error_grows_for_tiny_steps():
    theta, v = jnp.array([1.0, -0.5]), jnp.array([1.0, 0.0])
    exact = jax.grad(neg_himmelblau)(theta)[0]
    error = lambda eps: abs(float(directional_finite_difference(neg_himmelblau, theta, v, eps) - exact))  # noqa: E731
    assert error(1e-7) > 10 * error(3e-4) and error(1e-1) > 10 * error(3e-4)


def test_finite_difference_argument_checks():
    with pytest.raises(ValueError, match="`v`"):
        directional_finite_difference(quadratic, jnp.zeros(2), jnp.ones(3), 0.1)
    with pytest.raises(ValueError, match="eps"):
        directional_finite_difference(quadratic, jnp.zeros(2), jnp.ones(2), 0.0)
    with pytest.raises(ValueError, match="eps"):
        finite_difference_gradient(quadratic, jnp.zeros(2), -1e-3)
    with pytest.raises(ValueError, match="theta"):
        finite_difference_gradient(quadratic, jnp.zeros((2, 2)), 1e-3)
    with pytest.raises(TypeError, match="`J`"):
        finite_difference_gradient("J", jnp.zeros(2), 1e-3)


# --------------------------------------------------------------------------- stochastic gradient ascent


def test_sga_with_the_exact_gradient_is_gradient_ascent():
    exact = lambda theta, k: jax.grad(quadratic)(theta)  # noqa: E731
    np.testing.assert_allclose(
        stochastic_gradient_ascent(jnp.array([3.0, 4.0]), exact, 0.1, 25),
        gradient_ascent(quadratic, jnp.array([3.0, 4.0]), 0.1, 25),
        rtol=1e-6, atol=1e-6,
    )


def test_sga_passes_the_step_index_to_the_estimator():
    path = stochastic_gradient_ascent(jnp.zeros(1), lambda theta, k: jnp.full(1, k, jnp.float32), 0.5, 4)
    np.testing.assert_allclose(path[:, 0], 0.5 * np.array([0, 0, 1, 3, 6]))


def test_sga_argument_checks():
    estimator = lambda theta, k: theta  # noqa: E731
    with pytest.raises(TypeError, match="estimate_gradient"):
        stochastic_gradient_ascent(jnp.zeros(2), None, 0.1, 5)
    with pytest.raises(ValueError, match="eta"):
        stochastic_gradient_ascent(jnp.zeros(2), estimator, -0.1, 5)
    with pytest.raises(ValueError, match="n_steps"):
        stochastic_gradient_ascent(jnp.zeros(2), estimator, 0.1, 0)
    with pytest.raises(ValueError, match="theta_init"):
        stochastic_gradient_ascent(jnp.zeros((2, 2)), estimator, 0.1, 5)


# --------------------------------------------------------------------------- least squares


def test_make_least_squares_is_deterministic_and_noiseless_data_is_fit_exactly():
    a, b = make_least_squares(jax.random.key(3), 50, 4), make_least_squares(jax.random.key(3), 50, 4)
    assert a.X.shape == (50, 4) and a.y.shape == (50,)
    np.testing.assert_array_equal(a.X, b.X)
    exact = make_least_squares(jax.random.key(3), 50, 4, noise=0.0)
    theta = least_squares_solution(exact)
    np.testing.assert_allclose(exact.X @ theta, exact.y, atol=1e-4)
    assert abs(float(least_squares_objective(theta, exact))) < 1e-8


def test_least_squares_objective_and_solution(data):
    theta = jnp.array([0.3, -0.2, 1.0])
    expected = -0.5 * np.mean((np.asarray(data.X) @ np.asarray(theta) - np.asarray(data.y)) ** 2)
    np.testing.assert_allclose(least_squares_objective(theta, data), expected, rtol=1e-5)
    solution = least_squares_solution(data)
    grad = jax.grad(least_squares_objective)(solution, data)
    assert jnp.linalg.norm(grad) < 1e-4  # normal equations
    assert least_squares_objective(solution, data) > least_squares_objective(solution + 0.01, data)


def test_minibatch_gradient_is_unbiased_with_variance_over_batch_size(data):
    theta = jnp.zeros(3)
    exact = jax.grad(least_squares_objective)(theta, data)
    keys = jax.random.split(jax.random.key(1), 4000)
    for B in [1, 16]:
        draws = jax.jit(jax.vmap(lambda k: minibatch_gradient(theta, data, k, B)))(keys)
        checks.mean_matches(draws, exact, what=f"B = {B}: unbiased")
        checks.mean_matches(jnp.sum((draws - exact) ** 2, axis=1), minibatch_gradient_variance(theta, data, B),
                            what=f"B = {B}: variance Var[B = 1] / B")


def test_make_minibatch_gradient_uses_fold_in_of_the_step(data):
    key = jax.random.key(7)
    estimate = make_minibatch_gradient(data, 8, key)
    theta = jnp.ones(3)
    np.testing.assert_allclose(estimate(theta, 5), minibatch_gradient(theta, data, jax.random.fold_in(key, 5), 8), rtol=1e-6)
    assert not jnp.allclose(estimate(theta, 5), estimate(theta, 6))


def test_sgd_least_squares_equals_the_generic_loop_and_converges(data):
    key = jax.random.key(2)
    path = sgd_least_squares(data, jnp.zeros(3), 0.05, 400, 10, key)
    assert path.shape == (401, 3)
    generic = stochastic_gradient_ascent(jnp.zeros(3), make_minibatch_gradient(data, 10, key), 0.05, 400)
    np.testing.assert_allclose(path, generic, rtol=1e-5, atol=1e-6)
    solution = least_squares_solution(data)
    start = float(jnp.linalg.norm(solution))
    assert float(jnp.linalg.norm(path[-100:] - solution, axis=1).mean()) < 0.1 * start
    big_batch = sgd_least_squares(data, jnp.zeros(3), 0.05, 400, 100, key)
    assert jnp.linalg.norm(big_batch[-100:] - solution, axis=1).mean() < jnp.linalg.norm(path[-100:] - solution, axis=1).mean()


def test_least_squares_argument_checks(data):
    key = jax.random.key(0)
    with pytest.raises(TypeError, match="data"):
        least_squares_objective(jnp.zeros(3), (data.X, data.y))
    with pytest.raises(ValueError, match="theta"):
        least_squares_objective(jnp.zeros(4), data)
    with pytest.raises(ValueError, match="data.y"):
        least_squares_solution(LeastSquares(data.X, data.y[:-1]))
    with pytest.raises(ValueError, match="batch_size"):
        minibatch_gradient(jnp.zeros(3), data, key, 0)
    with pytest.raises(TypeError, match="key"):
        minibatch_gradient(jnp.zeros(3), data, 0, 4)
    with pytest.raises(TypeError, match="key"):
        make_minibatch_gradient(data, 4, jax.random.split(key, 2))
    with pytest.raises(ValueError, match="theta_init"):
        sgd_least_squares(data, jnp.zeros(2), 0.1, 10, 4, key)
    with pytest.raises(ValueError, match="eta"):
        sgd_least_squares(data, jnp.zeros(3), 0.0, 10, 4, key)
    with pytest.raises(ValueError, match="n_steps"):
        sgd_least_squares(data, jnp.zeros(3), 0.1, -1, 4, key)
    with pytest.raises(ValueError, match="noise"):
        make_least_squares(key, 10, 2, noise=-1.0)
    with pytest.raises(TypeError, match="noise"):
        make_least_squares(key, 10, 2, noise="0.5")
    with pytest.raises(ValueError, match="n_samples"):
        make_least_squares(key, 0, 2)


def test_minibatch_variance_is_exact_and_matches_samples(data):
    theta = jnp.array([0.3, -0.2, 1.0])
    values = np.asarray(per_sample_gradients(theta, data), np.float64)
    np.testing.assert_allclose(values.mean(axis=0), jax.grad(least_squares_objective)(theta, data), rtol=1e-4, atol=1e-5)
    exact = minibatch_gradient_variance(theta, data, 4)
    np.testing.assert_allclose(exact, ((values - values.mean(0)) ** 2).sum(1).mean() / 4, rtol=1e-6)  # float32 values
    batch = minibatch_gradient_variance(jnp.stack([theta, 2 * theta]), data, 4)
    assert batch.shape == (2,) and abs(batch[0] - exact) < 1e-9 * exact
    draws = jax.jit(jax.vmap(lambda k: minibatch_gradient(theta, data, k, 4)))(jax.random.split(jax.random.key(5), 8000))
    checks.mean_matches(jnp.sum((draws - values.mean(0)) ** 2, axis=1), exact, what="sampled variance")


def test_max_variance_on_box_argument_checks(data):
    with pytest.raises(ValueError, match="half_width"):
        max_variance_on_box(data, jnp.zeros(3), 0.0)
    with pytest.raises(ValueError, match="center"):
        max_variance_on_box(data, jnp.zeros(4), 1.0)


def test_curvature_on_segments_on_a_quadratic_is_the_curvature_along_each_step():
    path = gradient_ascent(quadratic, jnp.array([3.0, 4.0]), 0.1, 5)
    result = curvature_on_segments(quadratic, path)
    steps = np.asarray(path[1:] - path[:-1])
    u = steps / np.linalg.norm(steps, axis=1, keepdims=True)
    expected = np.einsum("ki,ij,kj->k", u, np.asarray(A), u)  # -u^T (-A) u
    np.testing.assert_allclose(result.on_segment, expected, rtol=1e-5)
    np.testing.assert_allclose(result.at_ends, expected, rtol=1e-5)
    standing = curvature_on_segments(quadratic, jnp.stack([C, C]))  # a step of length zero
    np.testing.assert_array_equal(standing.on_segment, [0.0])
    with pytest.raises(ValueError, match="path"):
        curvature_on_segments(quadratic, jnp.zeros((1, 2)))
    with pytest.raises(TypeError, match="`J`"):
        curvature_on_segments(None, path)


def test_rate_excess():
    path = jnp.array([[1.0, 0.0], [0.5, 0.0], [0.25, 0.0]])
    assert abs(rate_excess(path, jnp.zeros(2), 0.5) - 1.0) < 1e-12
    assert abs(rate_excess(path, jnp.zeros(2), 0.25) - 4.0) < 1e-12
    with pytest.raises(ValueError, match="theta_star"):
        rate_excess(path, jnp.array([1.0, 0.0]), 0.5)


def test_sgd_final_iterates_are_the_last_iterates_of_sgd_least_squares(data):
    key = jax.random.key(6)
    finals = sgd_final_iterates(data, jnp.zeros(3), 0.05, 30, 4, key, 3)
    assert finals.shape == (3, 3)
    for r in range(3):
        path = sgd_least_squares(data, jnp.zeros(3), 0.05, 30, 4, jax.random.fold_in(key, r))
        np.testing.assert_allclose(finals[r], path[-1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="n_runs"):
        sgd_final_iterates(data, jnp.zeros(3), 0.05, 30, 4, key, 0)


def test_sgd_noise_floor_first_step_and_fixed_point(data):
    eta, B = 0.1, 3
    floor = sgd_noise_floor(data, eta, B, 400)
    X, y = np.asarray(data.X, np.float64), np.asarray(data.y, np.float64)
    theta_star = np.linalg.lstsq(X, y, rcond=None)[0]
    H = X.T @ X / X.shape[0]
    g_star = X * (y - X @ theta_star)[:, None]  # single-sample gradients at theta*, mean zero
    # theta^1 - theta* = eta * (mean of B of them): E||H (theta^1 - theta*)||^2 = eta^2 / B * mean ||H g_i||^2.
    np.testing.assert_allclose(floor.at_step[1], eta**2 / B * np.mean(np.sum((g_star @ H) ** 2, axis=1)), rtol=1e-10)
    assert floor.at_step[0] == 0.0 and floor.at_step.shape == (401,)
    np.testing.assert_allclose(floor.at_step[-1], floor.stationary, rtol=1e-8)
    np.testing.assert_allclose(floor.first_order, eta * np.trace(H @ (g_star.T @ g_star / X.shape[0])) / (2 * B), rtol=1e-10)
    assert floor.first_order < floor.stationary  # the O(eta^2) terms raise the floor here


def test_sgd_convergence_bound_formula_and_checks():
    assert sgd_convergence_bound(2.0, 0.1, 10, 3.0, 5.0) == pytest.approx(2 * 2.0 / (0.1 * 10) + 0.1 * 3.0 * 5.0)
    with pytest.raises(ValueError, match="initial_gap"):
        sgd_convergence_bound(-1.0, 0.1, 10, 3.0, 5.0)
    with pytest.raises(ValueError, match="variance"):
        sgd_convergence_bound(1.0, 0.1, 10, 3.0, float("nan"))


def test_threshold_policy_returns_match_gymnasium_episodes():
    import gymnasium as gym

    starts = cartpole_start_states(jax.random.key(0), 6)
    assert starts.shape == (6, 4) and float(jnp.abs(starts).max()) < 0.05
    thetas = jnp.array([[0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -1.0]] * 2)
    ours = np.asarray(threshold_policy_returns(thetas, starts))
    env = gym.make("CartPole-v1")
    for theta, start, expected in zip(np.asarray(thetas), np.asarray(starts), ours):
        env.reset(seed=0)
        env.unwrapped.state = np.asarray(start, np.float64)
        state, total = np.asarray(start), 0.0
        while True:
            state, reward, terminated, truncated, _ = env.step(int(theta @ state > 0))
            total += reward
            if terminated or truncated:
                break
        assert total == expected
    grid = threshold_policy_returns(thetas[:2, None, :], starts[None, :3])  # broadcasting
    assert grid.shape == (2, 3) and float(grid[1, 2]) == float(threshold_policy_returns(thetas[1], starts[2]))
    with pytest.raises(ValueError, match="size 4"):
        threshold_policy_returns(jnp.zeros(3), starts[0])
