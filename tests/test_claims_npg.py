"""The NPG section's checks, handed wrong implementations: each must reject them and accept the right one.

Every test runs the check the chapter runs (from `utils.checks`, `utils.npg` or
`utils.natural`) on the chapter's numbers (the same MDPs, parameters and
keys), once with the right implementation and once with each plausible wrong
one.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import checks, exact
from utils.envs.tabular import REST, example_mdp, one_state_mdp, random_mdp
from utils.natural import conjugate_gradient, fisher_vector_product, per_state_kl, sampled_kl_derivatives
from utils.npg import (
    check_multiplicative_weights,
    check_natural_gradient,
    compatible_weights,
    multiplicative_weights,
    reparameterisation_gaps,
    sampled_pg_tabular,
)
from utils.policies import state_mlp_softmax, tabular_softmax
from utils.rollouts import sample_trajectories

MDP = example_mdp()
S, A, H = MDP.n_states, MDP.n_actions, MDP.H
THETA_K = 0.5 * jax.random.normal(jax.random.key(0), (S, A))  # the chapter's θ^k
THETA_REST = jnp.zeros((S, A)).at[:, REST].set(3.0)  # the chapter's resting policy


def exact_g_and_F(theta):
    return exact.exact_gradient(MDP, theta).ravel(), exact.fisher_information(MDP, theta)


def kl_from(theta_k):
    pi_k = exact.softmax_policy(theta_k)
    return lambda theta_flat: exact.kl_trajectories(MDP, pi_k, exact.softmax_policy(theta_flat.reshape(S, A)))


# ---------------------------------------------------------------------------
# The natural-gradient check: F x = ∇J (eq-npg-update, thm-npg-compatible)
# ---------------------------------------------------------------------------


def unweighted_fisher(theta):
    """A Fisher matrix missing the state weighting: the blocks diag(π_s) − π_s π_sᵀ, without Σ_h d_h(s)."""
    pi = exact.softmax_policy(theta)
    blocks = jax.vmap(lambda p: jnp.diag(p) - jnp.outer(p, p))(pi)
    return jax.scipy.linalg.block_diag(*blocks)


@pytest.mark.parametrize("theta", [THETA_K, THETA_REST], ids=["theta_k", "resting"])
def test_natural_gradient_check_accepts_the_pseudo_inverse_solve(theta):
    g, F = exact_g_and_F(theta)
    check_natural_gradient(MDP, theta, jnp.linalg.pinv(F, hermitian=True) @ g)
    # Any solution of F x = g is accepted: adding a null direction (a constant per state) changes no probability.
    shift = jnp.zeros((S, A)).at[1].set(0.7).ravel()
    check_natural_gradient(MDP, theta, jnp.linalg.pinv(F, hermitian=True) @ g + shift)


@pytest.mark.parametrize("theta", [THETA_K, THETA_REST], ids=["theta_k", "resting"])
@pytest.mark.parametrize("wrong", ["identity Fisher", "no state weighting", "twice the solution", "transposed blocks"])
def test_natural_gradient_check_rejects_wrong_natural_gradients(theta, wrong):
    g, F = exact_g_and_F(theta)
    if wrong == "identity Fisher":  # a "natural" gradient whose Fisher is the identity
        x = g
    elif wrong == "no state weighting":  # the Fisher without the visitation weights Σ_h d_h(s)
        x = jnp.linalg.pinv(unweighted_fisher(theta), hermitian=True) @ g
    elif wrong == "twice the solution":  # the right direction at the wrong scale (matters for a fixed η)
        x = 2 * jnp.linalg.pinv(F, hermitian=True) @ g
    else:  # the parameters flattened in the other order (column-major) before solving
        perm = jnp.arange(S * A).reshape(S, A).T.ravel()
        x = (jnp.linalg.pinv(F, hermitian=True) @ g)[perm]
    with pytest.raises(checks.CheckFailed):
        check_natural_gradient(MDP, theta, x)


def conjugate_gradient_sign_error(matvec, b, n_iters):
    """CG whose residual update has the wrong sign (u ← u + α F p)."""
    x, u, p = jnp.zeros_like(b), b, b
    for _ in range(n_iters):
        Fp = matvec(p)
        alpha = (u @ u) / (p @ Fp)
        x, u_next = x + alpha * p, u + alpha * Fp
        p, u = u_next + (u_next @ u_next) / (u @ u) * p, u_next
    return x


def conjugate_gradient_returns_direction(matvec, b, n_iters):
    """CG that returns its last search direction instead of the iterate."""
    x, u, p = jnp.zeros_like(b), b, b
    for _ in range(n_iters):
        Fp = matvec(p)
        alpha = (u @ u) / (p @ Fp)
        x, u_next = x + alpha * p, u - alpha * Fp
        if float(u_next @ u_next) < 1e-14:
            break
        p, u = u_next + (u_next @ u_next) / (u @ u) * p, u_next
    return p


def test_natural_gradient_check_rejects_a_wrong_conjugate_gradient_solve():
    g, _ = exact_g_and_F(THETA_K)
    fvp = jax.jit(lambda v: fisher_vector_product(kl_from(THETA_K), THETA_K.ravel(), v))
    check_natural_gradient(MDP, THETA_K, conjugate_gradient(fvp, g, 10), what="CG, 10 iterations")
    for name, x in [
        ("one iteration", conjugate_gradient(fvp, g, 1)),
        ("sign error in the residual", conjugate_gradient_sign_error(fvp, g, 10)),
        ("returns the search direction", conjugate_gradient_returns_direction(fvp, g, 10)),
    ]:
        with pytest.raises(checks.CheckFailed):
            check_natural_gradient(MDP, THETA_K, x, what=name)


def test_compatible_weights_pass_and_wrong_regressions_fail():
    g, F = exact_g_and_F(THETA_K)
    natural = jnp.linalg.pinv(F, hermitian=True) @ g
    for target in ("advantage", "q"):
        w = compatible_weights(MDP, THETA_K, target=target)
        check_natural_gradient(MDP, THETA_K, w, what=f"compatible weights ({target})")
        checks.close(w, natural, atol=1e-5, what="the compatible weights are F⁺∇J")
    # A plausible wrong regression: uniform weights over (h, s, a) instead of P(s_h = s, a_h = a). (Weights
    # P(s_h = s) without π(a|s) would not be caught here, and are not wrong here: with two actions the
    # visit-averaged advantage is fitted exactly, whatever the weights of the actions.)
    pi = jnp.broadcast_to(exact.softmax_policy(THETA_K), (H, S, A))
    features = jnp.broadcast_to(exact.score_table(THETA_K).reshape(S, A, S * A), (H, S, A, S * A)).reshape(-1, S * A)
    advantages = exact.advantages(MDP, pi).reshape(-1)
    w, *_ = jnp.linalg.lstsq(features, advantages, rcond=1e-5)
    with pytest.raises(checks.CheckFailed):
        check_natural_gradient(MDP, THETA_K, w, what="uniform weights")


# ---------------------------------------------------------------------------
# The tabular step as multiplicative weights (eq-npg-multiplicative-weights)
# ---------------------------------------------------------------------------


def _policy_with(theta, eta, average):
    return jax.nn.softmax(jax.nn.log_softmax(theta, axis=-1) + eta * average, axis=-1)


def mw_unweighted_over_time(mdp, theta, eta):
    """exp(η mean_h A_h): the time steps averaged without the visitation weights."""
    pi = jnp.broadcast_to(exact.softmax_policy(theta), (mdp.H, *theta.shape))
    return _policy_with(theta, eta, exact.advantages(mdp, pi).mean(axis=0))


def mw_first_step_only(mdp, theta, eta):
    """exp(η A_0): only the advantage at h = 0."""
    pi = jnp.broadcast_to(exact.softmax_policy(theta), (mdp.H, *theta.shape))
    return _policy_with(theta, eta, exact.advantages(mdp, pi)[0])


def mw_unnormalised(mdp, theta, eta):
    """exp(η Σ_h d_h(s) A_h): the visitation weights not divided out (the vanilla gradient's weighting)."""
    pi = jnp.broadcast_to(exact.softmax_policy(theta), (mdp.H, *theta.shape))
    d = exact.state_visitation(mdp, pi)
    return _policy_with(theta, eta, jnp.einsum("hs,hsa->sa", d, exact.advantages(mdp, pi)))


def mw_discounted_factor(mdp, theta, eta):
    """The discounted form's 1/(1 − γ) carried over as a factor H."""
    return multiplicative_weights(mdp, theta, eta * mdp.H)


@pytest.mark.parametrize("theta", [THETA_K, THETA_REST], ids=["theta_k", "resting"])
def test_multiplicative_weights_check(theta):
    check_multiplicative_weights(MDP, theta, 0.01, update=multiplicative_weights)
    for wrong in (mw_unweighted_over_time, mw_first_step_only, mw_unnormalised, mw_discounted_factor):
        with pytest.raises(checks.CheckFailed):
            check_multiplicative_weights(MDP, theta, 0.01, update=wrong, what=wrong.__name__)


# ---------------------------------------------------------------------------
# Fisher-vector products: the Hessian of the per-state KL (eq-npg-per-state-kl), not of the log-ratio KL
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp_setup():
    """The chapter's example: the 30-state random MDP, the MLP softmax (D = 64), 32 trajectories."""
    big = random_mdp(jax.random.key(1), 30, 4, 10)
    mlp = state_mlp_softmax(30, 4, hidden=(6,))
    params_k = mlp.init(jax.random.key(6))
    batch = sample_trajectories(jax.random.key(7), big, mlp, params_k, 32)
    return mlp, params_k, batch, sampled_kl_derivatives(mlp, params_k, batch.obs, batch.actions)


def test_the_fisher_is_the_per_state_hessian_and_not_the_log_ratio_hessian(mlp_setup):
    _, _, _, at_k = mlp_setup
    checks.close(at_k.per_state_hessian, at_k.fisher, atol=1e-5, rtol=1e-4, what="per-state Hessian = F̄")
    with pytest.raises(checks.CheckFailed):  # the log-ratio KL's Hessian offered as the Fisher
        checks.close(at_k.log_ratio_hessian, at_k.fisher, atol=1e-5, rtol=1e-4, what="log-ratio Hessian = F̄")


def test_the_indefiniteness_check_tells_the_two_hessians_apart(mlp_setup):
    _, _, _, at_k = mlp_setup

    def indefinite(hessian):
        eig = jnp.linalg.eigvalsh(hessian)
        return checks.less(float(eig.min()), 0.0, margin=0.05 * float(eig.max()), what="indefinite")

    def semi_definite(hessian):
        eig = jnp.linalg.eigvalsh(hessian)
        return checks.greater(float(eig.min()), -1e-5 * float(eig.max()), what="positive semi-definite")

    indefinite(at_k.log_ratio_hessian)
    semi_definite(at_k.per_state_hessian)
    with pytest.raises(checks.CheckFailed):
        indefinite(at_k.per_state_hessian)
    with pytest.raises(checks.CheckFailed):
        semi_definite(at_k.log_ratio_hessian)


def test_fisher_vector_product_of_the_log_ratio_kl_is_rejected(mlp_setup):
    mlp, params_k, batch, at_k = mlp_setup
    theta, unravel = jax.flatten_util.ravel_pytree(params_k)
    v = jax.random.normal(jax.random.key(8), theta.shape)
    log_prob = jax.vmap(jax.vmap(mlp.log_prob, (None, 0, 0)), (None, 0, 0))

    def log_ratio_kl(t):
        return jnp.sum(log_prob(params_k, batch.obs, batch.actions) - log_prob(unravel(t), batch.obs, batch.actions)) / 32

    right = jax.jit(lambda u: fisher_vector_product(lambda t: per_state_kl(mlp, params_k, unravel(t), batch.obs), theta, u))
    wrong = jax.jit(lambda u: fisher_vector_product(log_ratio_kl, theta, u))
    checks.close(right(v), at_k.fisher @ v, atol=1e-4, rtol=1e-3, what="FVP of the per-state KL")
    with pytest.raises(checks.CheckFailed):
        checks.close(wrong(v), at_k.fisher @ v, atol=1e-4, rtol=1e-3, what="FVP of the log-ratio KL")
    # The gradient check: the log-ratio KL's gradient at θ^k is not zero, the per-state one's is.
    checks.close(at_k.per_state_grad, jnp.zeros_like(theta), atol=1e-5, what="per-state gradient is 0")
    with pytest.raises(checks.CheckFailed):
        checks.close(at_k.log_ratio_grad, jnp.zeros_like(theta), atol=1e-5, what="log-ratio gradient is 0")


def test_tabular_log_ratio_hessian_is_the_fisher():
    # Logits linear in θ: the extra term vanishes, and the same check passes for the log-ratio KL.
    policy = tabular_softmax(S, A)
    batch = sample_trajectories(jax.random.key(4), MDP, policy, THETA_K, 100)
    at_k = sampled_kl_derivatives(policy, THETA_K, batch.obs, batch.actions)
    checks.close(at_k.log_ratio_hessian, at_k.fisher, atol=1e-5, rtol=1e-4, what="tabular log-ratio Hessian = F̄")


# ---------------------------------------------------------------------------
# Parameterisation invariance (ex-npg-invariance)
# ---------------------------------------------------------------------------


BANDIT = one_state_mdp((1.0, 0.8, 0.0), H=1)
X_K = jnp.array([1.5, -1.0])
M = jnp.array([[1.0, 0.0], [1.0, 5.0]])
ETAS = 0.02 * 2.0 ** np.arange(6)


def pi_2d(x):
    return jax.nn.softmax(jnp.append(x, 0.0))[None]


def J_2d(x):
    return exact.expected_return(BANDIT, pi_2d(x))


def kl_between(x_old, x):
    return exact.kl_trajectories(BANDIT, pi_2d(x_old), pi_2d(x))


def invariance_checks(direction):
    """The chapter's two checks of ex-npg-invariance, for the given step direction."""
    gap_linear = np.asarray(reparameterisation_gaps(J_2d, kl_between, lambda p: M @ p, jnp.linalg.solve(M, X_K), ETAS,
                                                    direction))
    checks.less(float(gap_linear.max()), 1e-5, what="(a) linear: the steps agree to rounding")
    gap_nonlinear = np.asarray(reparameterisation_gaps(J_2d, kl_between, jnp.sinh, jnp.arcsinh(X_K), ETAS, direction))
    slope = np.polyfit(np.log(ETAS), np.log(gap_nonlinear), 1)[0]
    checks.close(slope, 2.0, atol=0.1, rtol=0.0, what="(b) nonlinear: the gap grows like η²")


def test_invariance_checks_pass_for_the_natural_gradient_and_fail_for_the_gradient():
    invariance_checks("natural")
    with pytest.raises(checks.CheckFailed):
        invariance_checks("gradient")


def test_the_slope_check_alone_rejects_the_gradient_step():
    # The gradient step differs at first order under the nonlinear change of coordinates: slope about 1.
    gaps = np.asarray(reparameterisation_gaps(J_2d, kl_between, jnp.sinh, jnp.arcsinh(X_K), ETAS, "gradient"))
    slope = np.polyfit(np.log(ETAS), np.log(gaps), 1)[0]
    with pytest.raises(checks.CheckFailed):
        checks.close(slope, 2.0, atol=0.1, rtol=0.0, what="(b) nonlinear: the gap grows like η²")


def test_the_slope_check_rejects_a_first_order_discrepancy():
    # A step that is wrong to first order (here: the natural step in ψ mapped back without the Jacobian)
    # gives a gap proportional to η, log-log slope 1, which the slope check rejects.
    gaps = np.asarray(ETAS) * 0.3 + 1e-3 * np.asarray(ETAS) ** 2
    slope = np.polyfit(np.log(ETAS), np.log(gaps), 1)[0]
    with pytest.raises(checks.CheckFailed):
        checks.close(slope, 2.0, atol=0.1, rtol=0.0, what="(b) nonlinear: the gap grows like η²")


# ---------------------------------------------------------------------------
# The sampled comparison: only F⁻¹ differs
# ---------------------------------------------------------------------------


def final_values():
    """The chapter's sampled comparison (20 seeds, N = 1000, δ = 0.03, 50 iterations from the resting policy):
    the final exact J of the 20 NPG runs and of the 20 vanilla runs, on the same keys."""
    keys = jax.random.split(jax.random.key(10), 20)
    runs = jax.vmap(lambda key, natural: sampled_pg_tabular(MDP, THETA_REST, 0.03, 50, 1000, key, natural))(
        jnp.concatenate([keys, keys]), jnp.repeat(jnp.array([True, False]), 20))
    final = np.asarray(runs.objective[:, -1])
    return final[:20], final[20:]


def paired_check(final_natural, final_vanilla):
    paired = final_natural - final_vanilla
    se = paired.std(ddof=1) / np.sqrt(paired.size)
    return checks.greater(paired.mean(), 0.0, margin=3 * se, what="sampled NPG ends higher than vanilla PG")


def test_sampled_comparison_rejects_an_identity_fisher_natural_gradient():
    # Right: NPG (F̂⁺ĝ) against vanilla (ĝ). Wrong: a "natural" gradient whose Fisher is the identity, which is
    # vanilla PG again (`natural=False` on the same keys): the paired difference is exactly zero and the check fails.
    final_natural, final_vanilla = final_values()
    paired_check(final_natural, final_vanilla)
    identity_fisher = final_vanilla.copy()
    with pytest.raises(checks.CheckFailed):
        paired_check(identity_fisher, final_vanilla)
