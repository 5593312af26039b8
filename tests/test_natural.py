"""Fisher-vector products, conjugate gradient and the closed-form natural step."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import exact
from utils.envs import example_mdp, random_mdp
from utils.natural import (
    conjugate_gradient,
    fisher_vector_product,
    natural_step_size,
    npg_step,
    score_fisher_vector_product,
)


def spd_matrix(key, D, smallest=0.1):
    M = jax.random.normal(key, (D, D))
    return M @ M.T / D + smallest * jnp.eye(D)


def kl_from(mdp, theta_k):
    """theta -> exact KL(rho_{theta_k} || rho_theta), the old policy held fixed."""
    pi_k = exact.softmax_policy(theta_k)
    return lambda theta: exact.kl_trajectories(mdp, pi_k, exact.softmax_policy(theta))


def test_conjugate_gradient_matches_dense_solve():
    D = 12
    A = spd_matrix(jax.random.key(0), D)
    b = jax.random.normal(jax.random.key(1), (D,))
    expected = jnp.linalg.solve(A, b)
    x = jax.jit(conjugate_gradient, static_argnums=(0, 2))(lambda v: A @ v, b, 2 * D)
    np.testing.assert_allclose(x, expected, rtol=1e-3, atol=1e-4)
    # The library solver agrees.
    x_lib, _ = jax.scipy.sparse.linalg.cg(lambda v: A @ v, b, maxiter=2 * D, tol=1e-7)
    np.testing.assert_allclose(x, x_lib, rtol=1e-3, atol=1e-4)


def test_conjugate_gradient_error_decreases_with_iterations():
    # CG minimises the A-norm of the error over growing Krylov spaces: it never increases.
    D = 30
    A = spd_matrix(jax.random.key(2), D, smallest=0.01)
    b = jax.random.normal(jax.random.key(3), (D,))
    solution = jnp.linalg.solve(A, b)
    errors = []
    for k in (1, 2, 4, 8, 16, 30):
        e = conjugate_gradient(lambda v: A @ v, b, k) - solution
        errors.append(float(e @ A @ e))
    assert all(a >= b_ * (1 - 1e-4) for a, b_ in zip(errors, errors[1:]))
    assert errors[-1] < 1e-2 * errors[0]


def test_truncated_conjugate_gradient_satisfies_the_step_identity():
    # x^T A x = b^T x for every CG iterate from 0, which is why the natural
    # step size sqrt(2 delta / g^T x) needs no extra Fisher-vector product.
    D = 10
    A = spd_matrix(jax.random.key(15), D)
    b = jax.random.normal(jax.random.key(16), (D,))
    for k in (1, 3, 5):
        x = conjugate_gradient(lambda v: A @ v, b, k)
        np.testing.assert_allclose(x @ A @ x, b @ x, rtol=1e-4)
        assert float(jnp.linalg.norm(A @ x - b)) > 1e-3  # truncated: not the solution yet


def test_conjugate_gradient_singular_system_gives_min_norm_solution():
    # A PSD matrix of rank 4 in 6 dimensions, b in its range: CG from 0 stays in the range.
    U = jnp.linalg.qr(jax.random.normal(jax.random.key(4), (6, 6)))[0][:, :4]
    A = U @ jnp.diag(jnp.array([3.0, 2.0, 1.0, 0.5])) @ U.T
    b = A @ jax.random.normal(jax.random.key(5), (6,))
    x = conjugate_gradient(lambda v: A @ v, b, 10)
    np.testing.assert_allclose(x, jnp.linalg.pinv(A) @ b, atol=1e-4)


def test_fisher_is_hessian_of_kl_and_fvp_matches_dense():
    mdp = random_mdp(jax.random.key(6), 3, 2, H=4)
    theta_k = jax.random.normal(jax.random.key(7), (3, 2))
    kl = kl_from(mdp, theta_k)
    F = exact.fisher_information(mdp, theta_k)
    hessian = jax.jit(jax.hessian(kl))(theta_k).reshape(6, 6)
    np.testing.assert_allclose(F, hessian, atol=1e-5)
    assert float(jnp.abs(F).max()) > 0.05  # not trivially zero
    v = jax.random.normal(jax.random.key(8), (3, 2))
    Fv = fisher_vector_product(kl, theta_k, v)
    np.testing.assert_allclose(Fv.ravel(), F @ v.ravel(), atol=1e-5)
    # Damping (zeta in the book, `damping` in the code) adds zeta v.
    Fv_damped = fisher_vector_product(kl, theta_k, v, damping=0.3)
    np.testing.assert_allclose(Fv_damped, Fv + 0.3 * v, atol=1e-6)


def test_score_fvp_matches_outer_product_on_a_pytree():
    # F_hat = (1/N) sum_n g_n g_n^T with g_n = grad log p_theta(x_n), for a
    # two-leaf parameter pytree; compared with the explicit Jacobian.
    N = 7
    xs = jax.random.normal(jax.random.key(9), (N, 3))
    ys = jax.random.randint(jax.random.key(10), (N,), 0, 4)
    params = {"W": jax.random.normal(jax.random.key(11), (3, 4)), "b": jnp.array([0.1, -0.2, 0.3, 0.0])}

    def log_prob_fn(p):
        logits = xs @ p["W"] + p["b"]
        return jax.nn.log_softmax(logits)[jnp.arange(N), ys]

    v = {"W": jax.random.normal(jax.random.key(12), (3, 4)), "b": jnp.ones(4)}
    flat = lambda t: jnp.concatenate([t["W"].ravel(), t["b"]])  # noqa: E731
    jac = jax.jacrev(log_prob_fn)(params)
    J = jnp.concatenate([jac["W"].reshape(N, -1), jac["b"]], axis=1)
    expected = J.T @ (J @ flat(v)) / N + 0.05 * flat(v)
    got = score_fisher_vector_product(log_prob_fn, params, v, damping=0.05)
    np.testing.assert_allclose(flat(got), expected, rtol=1e-4, atol=1e-5)


def test_npg_step_cg_matches_dense_solve():
    mdp = example_mdp()
    theta_k = jnp.array([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2], [0.0, 0.0]])
    g = exact.exact_gradient(mdp, theta_k).ravel()
    F = exact.fisher_information(mdp, theta_k)
    kl = kl_from(mdp, theta_k)
    fvp = lambda v: fisher_vector_product(kl, theta_k, v.reshape(4, 2)).ravel()  # noqa: E731
    dense = npg_step(g, F, 0.01)
    with_cg = npg_step(g, fvp, 0.01, cg_iters=8)
    np.testing.assert_allclose(with_cg, dense, rtol=1e-3, atol=1e-4)
    assert float(jnp.linalg.norm(dense)) > 0.05
    # The closed form: x = F^+ g, step = sqrt(2 delta / g^T x) x.
    x = jnp.linalg.pinv(F, hermitian=True, rtol=1e-5) @ g
    np.testing.assert_allclose(dense, jnp.sqrt(2 * 0.01 / (g @ x)) * x, rtol=1e-4)
    # It lies on the quadratic KL ellipse 1/2 s^T F s = delta ...
    np.testing.assert_allclose(0.5 * dense @ F @ dense, 0.01, rtol=1e-3)
    # ... and no other point of the ellipse has a larger linear gain g^T s.
    for i in range(20):
        s = jax.random.normal(jax.random.key(100 + i), g.shape)
        s = s * jnp.sqrt(2 * 0.01 / (s @ F @ s))
        assert float(g @ s) <= float(g @ dense) * (1 + 1e-4)


def test_npg_step_kl_approaches_delta_as_delta_shrinks():
    # The KL is matched to second order, so KL(step) / delta -> 1 as delta -> 0.
    mdp = example_mdp()
    theta_k = jnp.array([[0.5, -0.5], [0.2, 0.3], [-0.4, 0.6], [0.0, 0.0]])
    g = exact.exact_gradient(mdp, theta_k).ravel()
    F = exact.fisher_information(mdp, theta_k)
    kl = kl_from(mdp, theta_k)
    gaps = []
    for delta in (0.1, 0.01, 0.001):
        step = npg_step(g, F, delta).reshape(4, 2)
        gaps.append(abs(float(kl(theta_k + step)) / delta - 1.0))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 0.03
    assert gaps[0] > 1e-3  # the second-order model is not exact far out


def test_npg_step_improves_the_exact_objective():
    mdp = example_mdp()
    theta = jnp.zeros((4, 2))
    J = [float(exact.exact_objective(mdp, theta))]
    for _ in range(5):
        g = exact.exact_gradient(mdp, theta).ravel()
        theta = theta + npg_step(g, exact.fisher_information(mdp, theta), 0.05).reshape(4, 2)
        J.append(float(exact.exact_objective(mdp, theta)))
    assert all(b > a for a, b in zip(J, J[1:]))


def test_zero_gradient_gives_zero_step():
    F = spd_matrix(jax.random.key(13), 4)
    assert float(jnp.abs(npg_step(jnp.zeros(4), F, 0.1)).max()) == 0.0
    assert float(jnp.abs(npg_step(jnp.zeros(4), lambda v: F @ v, 0.1)).max()) == 0.0
    assert float(natural_step_size(jnp.zeros(4), jnp.ones(4), 0.1)) == 0.0


def test_bad_input_raises():
    F = spd_matrix(jax.random.key(14), 4)
    g = jnp.ones(4)
    with pytest.raises(ValueError, match="delta"):
        npg_step(g, F, -0.1)
    with pytest.raises(ValueError, match="delta"):
        npg_step(g, F, 0.0)
    with pytest.raises(ValueError, match="cg_iters"):
        npg_step(g, lambda v: F @ v, 0.1, cg_iters=0)
    with pytest.raises(ValueError, match="damping"):
        npg_step(g, F, 0.1, damping=-1.0)
    with pytest.raises(ValueError, match="fisher"):
        npg_step(g, jnp.eye(3), 0.1)
    with pytest.raises(ValueError, match="grad"):
        npg_step(jnp.ones((2, 2)), F, 0.1)
    with pytest.raises(ValueError, match="n_iters"):
        conjugate_gradient(lambda v: F @ v, g, 0)
    with pytest.raises(ValueError, match="matvec"):
        conjugate_gradient(lambda v: v[:2], g, 3)
    with pytest.raises(ValueError, match="`v`"):
        fisher_vector_product(lambda t: jnp.sum(t**2), jnp.ones(3), jnp.ones(4))
    with pytest.raises(ValueError, match="damping"):
        score_fisher_vector_product(lambda t: t, jnp.ones(3), jnp.ones(3), damping=float("nan"))


def test_sampled_fisher_matches_exact_fisher():
    from utils.natural import sampled_fisher_information
    from utils.policies import tabular_softmax
    from utils.rollouts import sample_trajectories

    mdp = example_mdp()
    policy = tabular_softmax(4, 2)
    theta = jnp.array([[0.5, -0.5], [0.2, 0.3], [-0.4, 0.6], [0.1, 0.0]])
    traj = sample_trajectories(jax.random.key(20), mdp, policy, theta, 4000)
    F = np.asarray(exact.fisher_information(mdp, theta))
    per_step = np.asarray(sampled_fisher_information(policy, theta, traj.obs, traj.actions))
    per_traj = np.asarray(sampled_fisher_information(policy, theta, traj.obs, traj.actions, per_step=False))
    assert np.abs(F).max() > 0.3
    np.testing.assert_allclose(per_step, F, atol=0.04)
    np.testing.assert_allclose(per_traj, F, atol=0.1)
    # The per-trajectory form is the matrix behind score_fisher_vector_product.
    log_prob_fn = lambda th: jax.vmap(jax.vmap(policy.log_prob, (None, 0, 0)), (None, 0, 0))(  # noqa: E731
        th, traj.obs, traj.actions).sum(axis=1)
    v = jax.random.normal(jax.random.key(21), (4, 2))
    np.testing.assert_allclose(
        score_fisher_vector_product(log_prob_fn, theta, v).ravel(), per_traj @ np.asarray(v).ravel(), rtol=1e-3, atol=1e-4
    )


def test_per_state_kl_is_zero_at_the_old_parameters_and_positive_elsewhere():
    from utils.natural import per_state_kl
    from utils.policies import tabular_softmax

    policy = tabular_softmax(3, 2)
    theta = jnp.array([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]])
    obs = jnp.array([[0, 1, 2], [2, 2, 0]])
    assert abs(float(per_state_kl(policy, theta, theta, obs))) < 1e-7
    other = theta.at[1, 0].add(0.5)
    # The per-state sum, by hand: KL(pi(.|1) || pi'(.|1)) once per visit of state 1, over N = 2 trajectories.
    p, q = jax.nn.softmax(theta[1]), jax.nn.softmax(other[1])
    np.testing.assert_allclose(per_state_kl(policy, theta, other, obs), jnp.sum(p * jnp.log(p / q)) / 2, rtol=1e-5)
    assert float(jnp.abs(jax.grad(lambda t: per_state_kl(policy, theta, t, obs))(theta)).max()) < 1e-6


def test_action_averaged_fisher_is_the_sum_of_the_softmax_blocks():
    from utils.natural import action_averaged_fisher, per_state_kl
    from utils.policies import tabular_softmax

    policy = tabular_softmax(3, 2)
    theta = jnp.array([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]])
    obs = jnp.array([[0, 1, 2, 1]])  # one trajectory: state 1 twice
    F_bar = action_averaged_fisher(policy, theta, obs)
    pi = jax.nn.softmax(theta, axis=-1)
    blocks = [c * (jnp.diag(pi[s]) - jnp.outer(pi[s], pi[s])) for s, c in ((0, 1.0), (1, 2.0), (2, 1.0))]
    np.testing.assert_allclose(F_bar, jax.scipy.linalg.block_diag(*blocks), atol=1e-6)
    # ... and it is the Hessian of the per-state KL at the old parameters (eq-npg-per-state-fisher).
    hessian = jax.hessian(lambda t: per_state_kl(policy, theta, t.reshape(3, 2), obs))(theta.ravel())
    np.testing.assert_allclose(hessian, F_bar, atol=1e-6)


def test_sampled_kl_derivatives_bad_input_raises():
    from utils.natural import per_state_kl, sampled_kl_derivatives
    from utils.policies import diagonal_gaussian, tabular_softmax

    policy = tabular_softmax(3, 2)
    theta = jnp.zeros((3, 2))
    with pytest.raises(ValueError, match="leading shape"):
        sampled_kl_derivatives(policy, theta, jnp.zeros((2, 3), jnp.int32), jnp.zeros((2, 4), jnp.int32))
    with pytest.raises(ValueError, match="obs"):
        per_state_kl(policy, theta, theta, jnp.zeros((3,), jnp.int32))
    with pytest.raises(TypeError, match="Policy"):
        sampled_kl_derivatives("policy", theta, jnp.zeros((2, 3), jnp.int32), jnp.zeros((2, 3), jnp.int32))
    gaussian = diagonal_gaussian(2, 1, hidden=(4,))
    params = gaussian.init(jax.random.key(0))
    with pytest.raises(TypeError, match="softmax"):
        per_state_kl(gaussian, params, params, jnp.zeros((1, 3, 2)))


def test_state_mlp_softmax_has_the_documented_size_and_a_correct_score():
    from jax.flatten_util import ravel_pytree

    from utils.policies import state_mlp_softmax

    policy = state_mlp_softmax(16, 4, hidden=(6,))
    params = policy.init(jax.random.key(0))
    assert ravel_pytree(params)[0].shape == (58,)
    assert state_mlp_softmax(16, 4, hidden=(6,)) is policy  # cached: one compilation when passed as static
    for s, a in ((0, 1), (7, 3), (15, 0)):
        closed = ravel_pytree(policy.score(params, s, a))[0]
        autodiff = ravel_pytree(jax.grad(policy.log_prob)(params, s, a))[0]
        np.testing.assert_allclose(closed, autodiff, atol=1e-5)
    # Different states get different action distributions (the binary code separates them).
    assert float(jnp.abs(policy.dist(params, 3) - policy.dist(params, 12)).max()) > 1e-3
    with pytest.raises(ValueError, match="n_states"):
        state_mlp_softmax(0, 4)
