"""The central claims of the performance difference and TRPO sections: each check passes
for the right implementation and raises `CheckFailed` for a plausible wrong one.

- the performance difference lemma (eq-pdl) holds to float32 precision, and a right side
  with the old policy's states, the new policy's advantages or a step left out fails;
- the monotonic improvement bound (thm-trpo-monotonic-improvement) holds, and a bound
  without the penalty, or with a coefficient that grows only linearly in H, fails;
- its coefficient forces steps far smaller than TRPO's, and a coefficient without the
  horizon factor does not;
- the exact KL of tabular TRPO's accepted steps, and the KL of CartPole TRPO's steps on a
  fresh batch, are about delta; a constraint on a KL of the wrong scale (half the KL, or a
  sum where a mean belongs) is rejected;
- the Fisher matrix is the Hessian of the per-state KL, not of the log-ratio estimator;
- the per-state KL estimator is unbiased and, on the chapter's MDP, has the smaller
  variance; the same check fails where that ordering is false.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import checks, exact
from utils.checks import CheckFailed
from utils.envs import example_mdp
from utils.kl import categorical_kl, kl_per_trajectory, kl_states_per_trajectory
from utils.policies import mlp_softmax, tabular_softmax
from utils.pseudocode import trpo as P
from utils.rollouts import sample_trajectories
from utils.trpo import (
    TRPOConfig,
    bound_maximising_fraction,
    check_bound_forces_small_steps,
    check_fresh_batch_kl,
    check_improvement_bound,
    check_tabular_trust_region,
    exact_natural_step,
    improvement_bound_example,
    improvement_bound_terms,
    kl_estimator_distributions,
    kl_variance_example,
    make_train,
    monotonic_improvement_bound,
    sampled_kl_curvature,
    trpo_tabular,
)

MDP = example_mdp()
S, A = MDP.n_states, MDP.n_actions


# --- the performance difference lemma -----------------------------------------------


def _pdl_pairs(n=20):
    """Random time-dependent softmax pairs on the example MDP, as in the chapter."""
    for i in range(n):
        _, key_pi, key_new = jax.random.split(jax.random.key(i), 3)
        yield tuple(jax.nn.softmax(2.0 * jax.random.normal(k, (MDP.H, S, A)), axis=-1) for k in (key_pi, key_new))


def _tolerance(mdp):  # the chapter's first-order worst case, H S A (2 u_mach) H max|r|
    return mdp.H * mdp.n_states * mdp.n_actions * float(jnp.finfo(jnp.float32).eps) * mdp.H * float(jnp.abs(mdp.r).max())


def _rhs_from(pi_visit, A_table):
    """sum_h sum_{s', a} d^{pi_visit}_h(s', a | s_0 = s) A_h(s', a) for every start state s."""
    d = jax.vmap(lambda mu: exact.state_action_visitation(dataclasses.replace(MDP, mu=mu), pi_visit))(jnp.eye(S))
    return jnp.einsum("shta,hta->s", d, A_table)


def test_the_performance_difference_lemma_holds_and_wrong_right_sides_fail():
    tol = _tolerance(MDP)
    for pi, pi_new in _pdl_pairs():
        pd = exact.performance_difference(MDP, pi, pi_new)
        checks.close(pd.lhs, pd.rhs, rtol=0.0, atol=tol, what="eq-pdl")
        checks.close(pd.rhs, _rhs_from(pi_new, exact.advantages(MDP, pi)), rtol=0.0, atol=tol, what="same formula")
    wrong = {
        "old policy's states": lambda pi, pi_new: _rhs_from(pi, exact.advantages(MDP, pi)),  # = 0: advantages average out
        "new policy's advantages": lambda pi, pi_new: _rhs_from(pi_new, exact.advantages(MDP, pi_new)),
        "last step left out": lambda pi, pi_new: _rhs_from(pi_new, exact.advantages(MDP, pi).at[-1].set(0.0)),
    }
    for name, rhs in wrong.items():
        with pytest.raises(CheckFailed):
            for pi, pi_new in _pdl_pairs(5):
                checks.close(exact.performance_difference(MDP, pi, pi_new).lhs, rhs(pi, pi_new), rtol=0.0,
                             atol=_tolerance(MDP), what=name)


# --- the monotonic improvement bound ------------------------------------------------


@pytest.fixture(scope="module")
def bound_pairs():
    """The chapter's 200 random pairs on the example MDP and the two-state MDP of
    `improvement_bound_example` (H = 10, five deviations D^max_TV)."""
    keys = jax.random.split(jax.random.key(0), 200)
    theta_k = jax.vmap(lambda k: jax.random.normal(k, (S, A)))(keys)
    scales = jnp.logspace(-2, 0.5, 200)[:, None, None]
    theta = theta_k + scales * jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 1), (S, A)))(keys)
    pairs = jax.vmap(lambda a, b: improvement_bound_terms(MDP, exact.softmax_policy(a), exact.softmax_policy(b)))(
        theta_k, theta)
    tight_mdp, policies = improvement_bound_example(H=10)
    tight = jax.vmap(lambda d: improvement_bound_terms(tight_mdp, *policies(d)))(
        jnp.array([0.005, 0.01, 0.02, 0.05, 0.1]))
    return pairs, tight


def test_the_monotonic_improvement_bound_holds_in_both_forms(bound_pairs):
    for terms in bound_pairs:
        for form in ("tv", "kl"):
            check_improvement_bound(terms, monotonic_improvement_bound(terms, form), what=form)


def test_a_bound_without_the_penalty_fails(bound_pairs):
    pairs, tight = bound_pairs
    for terms in (pairs, tight):  # the surrogate alone overestimates some improvements
        with pytest.raises(CheckFailed):
            check_improvement_bound(terms, terms.surrogate, what="J(new) - J(old) >= L")


@pytest.mark.parametrize("coefficient", [
    lambda t: 4 * t.horizon * t.advantage_max,  # TV(d_h) <= D^max_TV instead of h D^max_TV: linear in H
    lambda t: t.horizon * (t.horizon - 1) * t.advantage_max / 2,  # a quarter of the right one
], ids=["linear-in-H", "quarter"])
def test_a_too_small_coefficient_fails(bound_pairs, coefficient):
    pairs, tight = bound_pairs
    # On random pairs of the example MDP the bound is loose, so even these pass there ...
    check_improvement_bound(pairs, monotonic_improvement_bound(pairs, "tv", coefficient), what="loose")
    # ... but the two-state MDP is built to be nearly tight, and rejects them.
    with pytest.raises(CheckFailed):
        check_improvement_bound(tight, monotonic_improvement_bound(tight, "tv", coefficient), what="too small")


@pytest.fixture(scope="module")
def trpo_steps():
    starts = jnp.stack([jnp.zeros((S, A))] + [0.5 * jax.random.normal(jax.random.key(s), (S, A)) for s in range(1, 6)])
    return starts, jax.vmap(lambda t: exact_natural_step(MDP, t, 0.05))(starts)


def test_the_bound_forces_steps_much_smaller_than_trpos(trpo_steps):
    starts, steps = trpo_steps
    along = jax.vmap(lambda t, s: bound_maximising_fraction(MDP, t, s))(starts, steps)
    check_bound_forces_small_steps(along, at_most=0.1, factor=10)
    # TRPO's step is the full step to the radius: its exact trajectory KL is about delta.
    np.testing.assert_allclose(along.trajectory_kl[:, -1], 0.05, rtol=0.1)


def test_a_coefficient_without_the_horizon_factor_does_not_force_small_steps(trpo_steps):
    starts, steps = trpo_steps
    # 2 ||A|| on the KL (4 ||A|| on the squared TV): the bound as if every state distribution stayed put.
    along = jax.vmap(lambda t, s: bound_maximising_fraction(MDP, t, s, coefficient=lambda u: 2 * u.advantage_max))(
        starts, steps)
    with pytest.raises(CheckFailed):
        check_bound_forces_small_steps(along, at_most=0.1, factor=10)


# --- the KL of the steps TRPO takes -------------------------------------------------


def _tabular_runs(kl_multiplier, n=6):
    runs = [trpo_tabular(MDP, jnp.zeros((S, A)), 0.05, 10, n, jax.random.key(seed), kl_multiplier=kl_multiplier)
            for seed in range(20)]
    return np.stack([r.exact_kl for r in runs]), np.stack([r.info.accepted for r in runs])


def test_tabular_trpo_steps_have_an_exact_kl_of_about_delta():
    exact_kl, accepted = _tabular_runs(1.0)
    check_tabular_trust_region(exact_kl, accepted, 0.05)
    # The chapter's honest statement: the sampled constraint is not exact.
    assert np.mean(exact_kl[accepted] > 0.05) > 0.1


@pytest.mark.parametrize("kl_multiplier, failing", [
    (0.5, "exact KL of at most"),  # half the KL: the steps grow past delta
    (6.0 * 5, "median exact KL"),  # summed over the N H samples instead of averaged: tiny steps
], ids=["half-the-KL", "summed-not-averaged"])
def test_tabular_trpo_with_a_kl_of_the_wrong_scale_is_rejected(kl_multiplier, failing):
    exact_kl, accepted = _tabular_runs(kl_multiplier)
    with pytest.raises(CheckFailed, match=failing):
        check_tabular_trust_region(exact_kl, accepted, 0.05)


def test_cartpole_fresh_batch_kl_check_accepts_trpo_and_rejects_wrong_kl_scales():
    config = TRPOConfig(delta=0.02, n_envs=8, n_steps=64, n_iterations=12, fresh_kl=True)
    batch = config.n_envs * config.n_steps  # the KL summed over the batch instead of averaged
    multipliers = jnp.array([1.0, 0.5, float(batch)])
    train = jax.jit(jax.vmap(jax.vmap(lambda m, k: make_train(config, kl_multiplier=m)(k), (None, 0)), (0, None)))
    m = train(multipliers, jax.random.split(jax.random.key(0), 2)).metrics  # "multiplier seed iteration"
    fresh_kl, accepted = np.asarray(m.fresh_kl), np.asarray(m.accepted)
    assert np.all(np.isfinite(fresh_kl))
    check_fresh_batch_kl(fresh_kl[0], accepted[0], config.delta)
    with pytest.raises(CheckFailed, match="mean fresh-batch KL"):  # half the KL
        check_fresh_batch_kl(fresh_kl[1], accepted[1], config.delta)
    with pytest.raises(CheckFailed, match="median fresh-batch KL"):  # summed, not averaged
        check_fresh_batch_kl(fresh_kl[2], accepted[2], config.delta)
    # The line search's own KL is the multiplied one, at most delta, for all three: it cannot tell them apart.
    kl = np.asarray(m.kl)
    assert all(np.all(kl[i][accepted[i]] <= config.delta) for i in range(3))


# --- which KL has the Fisher matrix as its Hessian ----------------------------------


def _mlp_curvature():
    policy = mlp_softmax(4, 2, (8,))
    params = policy.init(jax.random.key(0))
    obs = jax.random.normal(jax.random.key(1), (16, 4))
    actions = jax.random.categorical(jax.random.key(2), jax.vmap(policy.dist, (None, 0))(params, obs))
    return policy, params, obs, actions, sampled_kl_curvature(policy, params, obs, actions)


def test_the_fisher_matrix_is_the_hessian_of_the_per_state_kl_not_of_the_log_ratio():
    *_, c = _mlp_curvature()
    scale = float(jnp.abs(c.fisher).max())
    checks.close(c.hessian_per_state, c.fisher, atol=1e-5 * scale, what="per-state KL")
    with pytest.raises(CheckFailed):  # a "Fisher" taken as the Hessian of the log-ratio KL
        checks.close(c.hessian_log_ratio, c.fisher, atol=1e-5 * scale, what="log-ratio KL")
    assert np.linalg.eigvalsh(np.asarray(c.hessian_log_ratio))[0] < -0.1 * scale  # not even PSD
    assert np.linalg.norm(c.gradient_log_ratio) > 0.1  # and not stationary at theta^k
    # For the tabular softmax (logits linear in theta) the two Hessians agree.
    theta_k = 0.5 * jax.random.normal(jax.random.key(1), (S, A))
    obs = jnp.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
    t = sampled_kl_curvature(tabular_softmax(S, A), theta_k, obs, jax.random.categorical(jax.random.key(3), theta_k[obs]))
    checks.close(t.hessian_log_ratio, t.fisher, atol=1e-5 * float(jnp.abs(t.fisher).max()), what="tabular")


def test_the_pseudocode_fisher_vector_product_of_the_per_state_kl_is_fisher_times_v():
    policy, params, obs, actions, c = _mlp_curvature()
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    logits = jax.vmap(lambda th, o: policy.dist(unravel(th), o), (None, 0))
    logits_k = logits(flat, obs)

    def kl_per_state(th):
        return jnp.mean(categorical_kl(logits_k, logits(th, obs)))

    def kl_log_ratio(th):
        idx = jnp.arange(actions.shape[0])
        return jnp.mean(jax.nn.log_softmax(logits_k)[idx, actions] - jax.nn.log_softmax(logits(th, obs))[idx, actions])

    v = jax.random.normal(jax.random.key(4), flat.shape)
    Fv = c.fisher @ v
    scale = float(jnp.abs(Fv).max())
    checks.close(P.fisher_vector_product(kl_per_state, flat, v), Fv, atol=1e-4 * scale, what="per-state")
    with pytest.raises(CheckFailed):
        checks.close(P.fisher_vector_product(kl_log_ratio, flat, v), Fv, atol=1e-4 * scale, what="log-ratio")


# --- the two KL estimators ----------------------------------------------------------


def _estimator_samples(mdp, theta_k, theta, n, key):
    policy = tabular_softmax(mdp.n_states, mdp.n_actions)
    batch = sample_trajectories(key, mdp, policy, theta_k, n)
    log_prob = jax.vmap(jax.vmap(policy.log_prob, (None, 0, 0)), (None, 0, 0))
    log_ratio = kl_per_trajectory(log_prob(theta_k, batch.obs, batch.actions), log_prob(theta, batch.obs, batch.actions))
    per_state = kl_states_per_trajectory(theta_k[batch.obs], theta[batch.obs])
    reverse = kl_states_per_trajectory(theta[batch.obs], theta_k[batch.obs])  # KL(pi_theta || pi^k): wrong direction
    return log_ratio, per_state, reverse


def test_kl_estimators_unbiased_and_variance_ordering_observed_on_the_example_mdp():
    theta_k = 0.5 * jax.random.normal(jax.random.key(1), (S, A))
    theta = theta_k + 0.5 * jax.random.normal(jax.random.key(2), (S, A))
    kl = exact.kl_trajectories(MDP, exact.softmax_policy(theta_k), exact.softmax_policy(theta))
    log_ratio, per_state, reverse = _estimator_samples(MDP, theta_k, theta, 4000, jax.random.key(4))
    checks.mean_matches(log_ratio, kl, what="log-ratio")
    checks.mean_matches(per_state, kl, what="per-state")
    with pytest.raises(CheckFailed):  # the per-state KL the wrong way round estimates another number
        checks.mean_matches(reverse, kl, what="reversed per-state")
    checks.variance_less(per_state, log_ratio, ratio=0.1, what="observed ordering")


def test_the_variance_check_fails_where_the_ordering_is_false():
    mdp, theta_k, theta = kl_variance_example(p=1e-3)
    dist = kl_estimator_distributions(mdp, theta_k, theta)
    p = np.asarray(dist.probs, np.float64)
    var = lambda x: float(p @ (np.asarray(x, np.float64) - p @ np.asarray(x, np.float64)) ** 2)  # noqa: E731
    assert var(dist.per_state) > 4 * var(dist.log_ratio)  # exact, by enumeration
    log_ratio, per_state, _ = _estimator_samples(mdp, theta_k, theta, 4000, jax.random.key(0))
    with pytest.raises(CheckFailed):
        checks.variance_less(per_state, log_ratio, what="per-state < log-ratio on the counterexample")
    checks.variance_less(log_ratio, per_state, what="the other way round")
