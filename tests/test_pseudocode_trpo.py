"""The chapter's `kl_div_trajectories` and `trpo` pseudocode run, and agree with the jitted versions."""
import jax
import jax.numpy as jnp
import numpy as np

from utils import exact, latex
from utils import kl as K
from utils import natural
from utils.envs import example_mdp
from utils.policies import tabular_softmax
from utils.pseudocode import trpo as P
from utils.rollouts import sample_trajectories
from utils.trpo import trpo_tabular

MDP = example_mdp()
POLICY = tabular_softmax(MDP.n_states, MDP.n_actions)
THETA_K = jnp.array([[0.4, -0.3], [0.2, 0.5], [-0.6, 0.1], [0.3, 0.0]])
THETA = jnp.array([[-0.2, 0.4], [0.6, -0.1], [0.1, 0.7], [0.0, 0.9]])


def test_kl_div_trajectories_pseudocode_equals_jitted():
    key = jax.random.key(0)
    trajectories = P.sample_trajectories(key, MDP, THETA_K, 30)
    batch = sample_trajectories(key, MDP, POLICY, THETA_K, 30)
    pseudo = P.kl_div_trajectories(P.pi, THETA_K, THETA, trajectories)
    jitted = jax.jit(K.kl_div_trajectories, static_argnums=0)(POLICY, THETA_K, THETA, batch.obs, batch.actions)
    assert abs(float(jitted)) > 0.05
    np.testing.assert_allclose(pseudo, jitted, rtol=1e-4, atol=1e-5)
    assert float(P.kl_div_trajectories(P.pi, THETA_K, THETA_K, trajectories)) == 0.0


def test_conjugate_gradient_pseudocode_equals_jitted_and_dense():
    D = 6
    M = jax.random.normal(jax.random.key(1), (D, D))
    A = M @ M.T / D + 0.2 * jnp.eye(D)
    b = jax.random.normal(jax.random.key(2), (D,))
    matvec = lambda v: A @ v  # noqa: E731
    for n in (2, 4):
        np.testing.assert_allclose(
            P.conjugate_gradient(matvec, b, n), natural.conjugate_gradient(matvec, b, n), rtol=1e-4, atol=1e-5
        )
    np.testing.assert_allclose(P.conjugate_gradient(matvec, b, 2 * D), jnp.linalg.solve(A, b), rtol=1e-3, atol=1e-4)


def test_fisher_vector_product_pseudocode_equals_jitted_and_exact_fisher():
    def kl(theta):
        return exact.kl_trajectories(MDP, exact.softmax_policy(THETA_K), exact.softmax_policy(theta))

    v = jax.random.normal(jax.random.key(3), (4, 2))
    pseudo = P.fisher_vector_product(kl, THETA_K, v)
    np.testing.assert_allclose(pseudo, natural.fisher_vector_product(kl, THETA_K, v), rtol=1e-4, atol=1e-6)
    F = exact.fisher_information(MDP, THETA_K)
    np.testing.assert_allclose(pseudo.ravel(), F @ v.ravel(), rtol=1e-4, atol=1e-5)


def test_trpo_pseudocode_kl_is_the_per_state_estimate():
    # The constraint of `trpo` is (1/N) sum_tau sum_h KL(pi^k(.|s_h) || pi_theta(.|s_h)),
    # the same number as `utils.kl.kl_div_states` on the same trajectories.
    key = jax.random.key(5)
    trajectories = P.sample_trajectories(key, MDP, THETA_K, 20)
    batch = sample_trajectories(key, MDP, POLICY, THETA_K, 20)
    pi_k, pi_theta = P.pi(THETA_K), P.pi(THETA)
    total = sum(float(jnp.sum(pi_k[s] * (jnp.log(pi_k[s]) - jnp.log(pi_theta[s])))) for tau in trajectories for s, _, _ in tau)
    np.testing.assert_allclose(total / 20, K.kl_div_states(POLICY, THETA_K, THETA, batch.obs), rtol=1e-4)


def test_trpo_pseudocode_equals_jitted_twin():
    key = jax.random.key(4)
    theta_init = jnp.zeros((4, 2))
    pseudo = P.trpo(MDP, theta_init, 0.05, 2, 12, key)
    run = trpo_tabular(MDP, theta_init, 0.05, 2, 12, key)
    np.testing.assert_allclose(pseudo, run.thetas[-1], rtol=1e-3, atol=1e-4)
    # The iterates moved and the objective improved (the old pseudocode's
    # objective ignored the parameters it optimised, so nothing moved).
    assert float(jnp.abs(pseudo - theta_init).max()) > 0.1
    assert float(exact.exact_objective(MDP, pseudo)) > float(exact.exact_objective(MDP, theta_init)) + 0.05
    assert bool(run.info.accepted.all())


def test_pseudocode_renders():
    rendered = {f.__name__: latex(f).to_latex() for f in (
        P.kl_div_trajectories, P.trpo, P.trust_region_step, P.fisher_vector_product, P.conjugate_gradient)}
    trpo_tex = rendered["trpo"]
    assert r"\textbf{for } k = 0, \ldots, K - 1" in trpo_tex
    assert r"\pi_{\mathrm{opt}}[s,b]" in trpo_tex  # the gain uses pi(theta_opt)
    assert "action" in trpo_tex and "space" not in trpo_tex
    assert r"\log \pi_{k}[s,a] - \log \pi_{\theta}[s,a]" in rendered["kl_div_trajectories"]
    # TRPO's constraint and Fisher use the per-state KL: the sum over actions b of pi_k[s,b] log-ratios.
    assert r"\pi_{k}[s,b] \cdot (\log \pi_{k}[s,b] - \log \pi_{\mathrm{opt}}[s,b])" in trpo_tex
    assert r"u \gets g" in rendered["conjugate_gradient"] and r"r \gets" not in rendered["conjugate_gradient"]
    assert r"\nabla \operatorname{gain}(\theta)" in rendered["trust_region_step"]
    assert r"\sqrt{\frac{2 \delta}{g \cdot x}}" in rendered["trust_region_step"]
    assert r"\nabla \operatorname{slope}(\theta)" in rendered["fisher_vector_product"]
    for tex in rendered.values():
        assert "jnp" not in tex and "jax" not in tex and "vdot" not in tex
