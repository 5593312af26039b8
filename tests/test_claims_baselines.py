"""The baselines section's central claims: each check passes for the right implementation
and rejects a plausible wrong one.

The chapter (`chapters/baselines.md`) and these tests run the same checks
(`utils.estimators.check_unbiased_exact`, `check_biased_exact`, `utils.checks`)
on the same numbers: the example MDP, the tabular softmax at
`θ = 0.5 N(0, I)` (key 0), every trajectory enumerated with its probability.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import checks, exact
from utils import estimators as E
from utils.checks import CheckFailed
from utils.envs.tabular import example_mdp
from utils.policies import tabular_softmax


@pytest.fixture(scope="module")
def setting():
    mdp = example_mdp()
    theta = 0.5 * jax.random.normal(jax.random.key(0), (mdp.n_states, mdp.n_actions))
    pi = exact.softmax_policy(theta)
    policy = tabular_softmax(mdp.n_states, mdp.n_actions)
    V, A = exact.v_values(mdp, pi), exact.advantages(mdp, pi)
    every, probs = E.enumerated_batch(mdp, pi, V)
    return dict(
        mdp=mdp, theta=theta, pi=pi, policy=policy, V=V, A=A,
        d=exact.state_action_visitation(mdp, pi),
        grad_J=exact.exact_gradient(mdp, theta),
        every=every, probs=probs, hs=jnp.arange(mdp.H),
        # The chapter's value estimate with errors (key 9).
        V_err=V + 0.5 * jax.random.normal(jax.random.key(9), V.shape),
    )


def weighted(st, weights):
    """Σ_h ∇log π_θ(a_h|s_h) Ψ_h on every enumerated trajectory."""
    return E.score_weighted_sum(st["policy"], st["theta"], st["every"], weights, average=False)


def rtg(st):
    return E.reward_to_go(st["every"].rewards, dones=st["every"].terminated)


# --------------------------------------------------------------------------
# Reward-to-go (eq-reward-to-go) and baselines (eq-baseline): exact means
# --------------------------------------------------------------------------


def test_reward_to_go_check_rejects_dropping_the_current_reward(setting):
    st = setting
    right = E.reinforce_gradient_reward_to_go(st["policy"], st["theta"], st["every"], average=False)
    E.check_unbiased_exact(right, st["probs"], st["grad_J"], what="reward-to-go")
    # Σ_{h' > h} r_{h'}: the reward of the step itself left out.
    dropped = weighted(st, rtg(st) - st["every"].rewards)
    with pytest.raises(CheckFailed):
        E.check_unbiased_exact(dropped, st["probs"], st["grad_J"], what="reward-to-go without r_h")
    # The REINFORCE scaled by 1.1: exact enumeration resolves it easily.
    scaled = 1.1 * E.reinforce_gradient(st["policy"], st["theta"], st["every"], average=False)
    with pytest.raises(CheckFailed):
        E.check_unbiased_exact(scaled, st["probs"], st["grad_J"], what="1.1 × REINFORCE")
    # Even 1.001 × is rejected (the tolerance is 1e-5 against ‖∇J‖ ≈ 0.15).
    with pytest.raises(CheckFailed):
        E.check_unbiased_exact(1.001 * right, st["probs"], st["grad_J"], what="1.001 × reward-to-go")


def test_baseline_invariance_check_rejects_an_action_dependent_baseline(setting):
    st = setting
    every, hs = st["every"], st["hs"]
    b = jax.random.normal(jax.random.key(1), (st["mdp"].H, st["mdp"].n_states))
    state_baseline = E.baseline_gradient(st["policy"], st["theta"], every, b[hs, every.obs], average=False)
    E.check_unbiased_exact(state_baseline, st["probs"], st["grad_J"], what="state baseline")
    with pytest.raises(CheckFailed):  # a state baseline cannot be shown biased
        E.check_biased_exact(state_baseline, st["probs"], st["grad_J"], what="state baseline")

    b_action = jax.random.normal(jax.random.key(2), (st["mdp"].H, st["mdp"].n_states, st["mdp"].n_actions))
    action_baseline = E.baseline_gradient(
        st["policy"], st["theta"], every, b_action[hs, every.obs, every.actions], average=False)
    with pytest.raises(CheckFailed):
        E.check_unbiased_exact(action_baseline, st["probs"], st["grad_J"], what="action baseline")
    E.check_biased_exact(action_baseline, st["probs"], st["grad_J"], what="action baseline")

    # A subtler one: the state baseline plus a small action-dependent part (a Q-like baseline).
    small = b[hs, every.obs] + 0.05 * b_action[hs, every.obs, every.actions]
    leaky = E.baseline_gradient(st["policy"], st["theta"], every, small, average=False)
    with pytest.raises(CheckFailed):
        E.check_unbiased_exact(leaky, st["probs"], st["grad_J"], what="slightly action-dependent baseline")


# --------------------------------------------------------------------------
# Variance ordering: exact variances by enumeration
# --------------------------------------------------------------------------


def five_estimators(st, value_baseline_weights=None):
    every, probs, V, d = st["every"], st["probs"], st["V"], st["d"]
    mean_reward_to_go = jnp.sum(d.sum(-1) * V, axis=-1)
    value = (E.learned_baseline_gradient(st["policy"], st["theta"], every, V, average=False)
             if value_baseline_weights is None else weighted(st, value_baseline_weights))
    ests = {
        "full return": E.reinforce_gradient(st["policy"], st["theta"], every, average=False),
        "reward-to-go": E.reinforce_gradient_reward_to_go(st["policy"], st["theta"], every, average=False),
        "constant baseline": E.baseline_gradient(st["policy"], st["theta"], every, mean_reward_to_go, average=False),
        "value baseline": value,
        "exact advantage": E.exact_advantage_gradient(st["policy"], st["theta"], every, st["A"], average=False),
    }
    return {k: float(E.exact_variance(g, probs)) for k, g in ests.items()}


def ordering_checks(var):
    """The chapter's variance claims, as in its cell."""
    names = list(var)
    for worse, better in zip(names, names[1:]):
        checks.less(var[better], var[worse], margin=0.1 * var[worse], what=f"{better} below {worse}")
    checks.greater(var["full return"] / var["value baseline"], 8.0, what="value baseline 8× fewer trajectories")


def test_exact_variance_is_the_trace_of_the_covariance(setting):
    st = setting
    g = E.reinforce_gradient(st["policy"], st["theta"], st["every"], average=False)
    x = np.asarray(g, np.float64).reshape(len(st["probs"]), -1)
    p = np.asarray(st["probs"], np.float64)
    p = p / p.sum()
    mean = p @ x
    cov = (x - mean).T @ (p[:, None] * (x - mean))
    np.testing.assert_allclose(float(E.exact_variance(g, st["probs"])), np.trace(cov), rtol=1e-4)
    # It is not the second moment, nor the mean squared error about something else.
    assert float(E.exact_variance(g, st["probs"])) < float(p @ (x**2).sum(1)) - 1e-3


def test_variance_ordering_checks(setting):
    st = setting
    ordering_checks(five_estimators(st))
    every, hs = st["every"], st["hs"]
    V_visited = st["V"][hs, every.obs]
    # A sign error: G_h + V̂_h(s_h).
    with pytest.raises(CheckFailed):
        ordering_checks(five_estimators(st, rtg(st) + V_visited))
    # The value baseline taken one step late, V_{h+1}(s_h) (V_H = 0).
    V_next_step = jnp.concatenate([st["V"][1:], jnp.zeros_like(st["V"][:1])])[hs, every.obs]
    with pytest.raises(CheckFailed):
        ordering_checks(five_estimators(st, rtg(st) - V_next_step))
    # No baseline at all where the value baseline should be.
    with pytest.raises(CheckFailed):
        ordering_checks(five_estimators(st, rtg(st)))


# --------------------------------------------------------------------------
# GAE (eq-gae): the implementation, and what it is unbiased for
# --------------------------------------------------------------------------


def gae_no_done_mask(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Wrong: no (1 − done) in the recursion, so Â carries across episode boundaries."""
    return _scan(rewards + gamma * (1.0 - terminated) * next_values - values, gamma * lam)


def _scan(delta, c, mask=None):
    def f(a, x):
        d, m = x
        a = d + c * m * a
        return a, a

    mask = jnp.ones_like(delta) if mask is None else mask
    _, out = jax.lax.scan(f, jnp.zeros(delta.shape[:-1]), (jnp.moveaxis(delta, -1, 0), jnp.moveaxis(mask, -1, 0)),
                          reverse=True)
    return jnp.moveaxis(out, 0, -1)


def gae_bootstraps_after_termination(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Wrong: δ_t = r_t + γ V̂(s'_t) − V̂(s_t) even where the episode terminated."""
    done = (terminated | truncated).astype(rewards.dtype)
    return _scan(rewards + gamma * next_values - values, gamma * lam, 1.0 - done)


def gae_lambda_only(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Wrong: Â_t = δ_t + λ Â_{t+1} (γ forgotten in the recursion)."""
    done = (terminated | truncated).astype(rewards.dtype)
    return _scan(rewards + gamma * (1.0 - terminated) * next_values - values, lam, 1.0 - done)


def gae_forward(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Wrong: the recursion runs forward, summing the TD errors *before* t."""
    done = (terminated | truncated).astype(rewards.dtype)
    delta = rewards + gamma * (1.0 - terminated) * next_values - values

    def f(a, x):
        d, m = x
        a = d + gamma * lam * a
        return a * m, a

    _, out = jax.lax.scan(f, jnp.zeros(delta.shape[:-1]), (jnp.moveaxis(delta, -1, 0), jnp.moveaxis(1.0 - done, -1, 0)))
    return jnp.moveaxis(out, 0, -1)


def gae_ignores_lambda(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Wrong: always λ = 1."""
    return E.gae(rewards, values, next_values, terminated, truncated, gamma, 1.0)


# The chapter's made-up rollout: three episodes in one row (terminated, truncated, cut).
ROLLOUT = (
    jnp.array([1.0, 0.0, 2.0, -1.0, 0.5, 1.0, 0.3, -0.2]),
    jnp.array([0.3, 1.2, -0.4, 0.8, 0.1, 0.6, -0.5, 0.9]),
    jnp.array([1.2, -0.4, 0.7, 0.1, 0.6, 0.9, 0.9, 0.4]),
    jnp.array([0, 0, 1, 0, 0, 0, 0, 0], bool),
    jnp.array([0, 0, 0, 0, 0, 1, 0, 0], bool),
    0.9,
)


def gae_identity_checks(gae_fn):
    """The chapter's check: the recursion equals the sum form of eq-gae, episode by episode."""
    for lam in (0.0, 0.9, 1.0):
        checks.close(gae_fn(*ROLLOUT, lam), E.gae_by_definition(*ROLLOUT, lam=lam), rtol=0.0, atol=1e-5,
                     what=f"λ = {lam}")


def test_gae_by_definition_is_eq_gae():
    # A hand computation for one episode: Â_0 = δ_0 + γλ δ_1 + (γλ)² δ_2, terminated at 2.
    r, v, nv = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.1, -0.2]), np.array([0.1, -0.2, 9.0])
    gamma, lam = 0.8, 0.5
    delta = r + gamma * np.array([nv[0], nv[1], 0.0]) - v
    expected = [delta[0] + gamma * lam * delta[1] + (gamma * lam) ** 2 * delta[2],
                delta[1] + gamma * lam * delta[2], delta[2]]
    got = E.gae_by_definition(r, v, nv, [0, 0, 1], [0, 0, 0], gamma, lam)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_gae_identity_check_rejects_wrong_recursions():
    gae_identity_checks(E.gae)
    for wrong in (gae_no_done_mask, gae_bootstraps_after_termination, gae_lambda_only, gae_forward):
        with pytest.raises(CheckFailed):
            gae_identity_checks(wrong)


def test_gae_lambda_one_is_unbiased_for_any_value_table(setting):
    st = setting

    def gradient(gae_fn, V_hat, lam):
        return weighted(st, E.tabular_gae(st["every"], V_hat, 1.0, lam, gae_fn=gae_fn))

    E.check_unbiased_exact(gradient(E.gae, st["V_err"], 1.0), st["probs"], st["grad_J"], what="λ = 1")
    with pytest.raises(CheckFailed):
        E.check_unbiased_exact(gradient(gae_forward, st["V_err"], 1.0), st["probs"], st["grad_J"], what="forward")
    # λ < 1 with an inexact V̂ is biased, and the check says so; with V̂ = V it is not.
    E.check_biased_exact(gradient(E.gae, st["V_err"], 0.5), st["probs"], st["grad_J"], what="λ = 0.5, V̂ ≠ V")
    E.check_unbiased_exact(gradient(E.gae, st["V"], 0.5), st["probs"], st["grad_J"], what="λ = 0.5, V̂ = V")
    with pytest.raises(CheckFailed):
        # An implementation that ignores λ cannot show the bias of λ < 1.
        E.check_biased_exact(gradient(gae_ignores_lambda, st["V_err"], 0.5), st["probs"], st["grad_J"],
                             what="λ ignored")


def test_gae_conditional_mean_checks(setting):
    st = setting
    every, probs, mdp, d, A, V, V_err = (st[k] for k in ("every", "probs", "mdp", "d", "A", "V", "V_err"))
    reached = d > 0

    def given(gae_fn, V_hat, lam):
        m = E.conditional_mean(E.tabular_gae(every, V_hat, 1.0, lam, gae_fn=gae_fn), every, probs,
                               mdp.n_states, mdp.n_actions)
        return jnp.where(reached, m, 0.0)

    on_reached = lambda t: jnp.where(reached, t, 0.0)
    checks.close(given(E.gae, V, 0.5), on_reached(A), rtol=0.0, atol=E.EXACT_ATOL, what="V̂ = V")
    checks.close(given(E.gae, V_err, 1.0), on_reached(A + (V - V_err)[..., None]), rtol=0.0, atol=E.EXACT_ATOL,
                 what="λ = 1")
    with pytest.raises(CheckFailed):  # Â with an inexact V̂ is not an unbiased advantage
        checks.close(given(E.gae, V_err, 1.0), on_reached(A), rtol=0.0, atol=E.EXACT_ATOL, what="λ = 1 vs A")
    with pytest.raises(CheckFailed):
        checks.close(given(gae_forward, V, 0.5), on_reached(A), rtol=0.0, atol=E.EXACT_ATOL, what="forward")


def test_conditional_mean_against_visitation(setting):
    # E[r_h | s_h, a_h] = r(s, a) wherever the pair is reached: the conditional mean is right.
    st = setting
    m = E.conditional_mean(st["every"].rewards, st["every"], st["probs"], st["mdp"].n_states, st["mdp"].n_actions)
    reached = st["d"] > 0
    np.testing.assert_allclose(np.where(reached, m, 0.0), np.where(reached, st["mdp"].r[None], 0.0), atol=1e-5)


def test_discounted_target(setting):
    st = setting
    gamma = 0.9
    grad_disc = E.discounted_gradient(st["mdp"], st["theta"], gamma)
    adv = E.tabular_gae(st["every"], st["V_err"], gamma, 1.0)
    with_factor = weighted(st, adv * gamma ** st["hs"])
    without = weighted(st, adv)
    E.check_unbiased_exact(with_factor, st["probs"], grad_disc, what="with γ^h", unit="‖∇J_γ‖")
    E.check_biased_exact(without, st["probs"], grad_disc, what="without γ^h", unit="‖∇J_γ‖")
    E.check_biased_exact(without, st["probs"], st["grad_J"], what="γ < 1 vs ∇J")
    with pytest.raises(CheckFailed):
        E.check_unbiased_exact(without, st["probs"], grad_disc, what="without γ^h")
    with pytest.raises(CheckFailed):  # the undiscounted gradient is not the discounted target
        E.check_unbiased_exact(with_factor, st["probs"], st["grad_J"], what="∇J for ∇J_γ")
    # γ = 1 gives back ∇J.
    np.testing.assert_allclose(E.discounted_gradient(st["mdp"], st["theta"], 1.0), st["grad_J"], atol=1e-6)


def test_window_bootstrap(setting):
    st = setting
    cut = 3
    target = E.window_target(st["mdp"], st["theta"], cut)
    right = E.window_gradient(st["policy"], st["theta"], st["every"], st["V"], cut, average=False)
    E.check_unbiased_exact(right, st["probs"], target, what="bootstrap with V", unit="its norm")
    wrong_values = E.window_gradient(st["policy"], st["theta"], st["every"], st["V_err"], cut, average=False)
    with pytest.raises(CheckFailed):
        E.check_unbiased_exact(wrong_values, st["probs"], target, what="bootstrap with V̂ ≠ V", unit="its norm")
    E.check_biased_exact(wrong_values, st["probs"], target, what="bootstrap with V̂ ≠ V", unit="its norm")
    # Treating the cut as a termination (no bootstrap) is biased even with V̂ = V.
    every, hs = st["every"], st["hs"]
    v = st["V"][hs, every.obs][:, :cut]
    window = jax.tree_util.tree_map(lambda x: x[:, :cut], every)
    at_cut = jnp.broadcast_to(jnp.arange(cut) == cut - 1, v.shape)
    no_bootstrap = E.gae(window.rewards, v, st["V"][hs, every.obs][:, 1:cut + 1], at_cut, jnp.zeros_like(at_cut),
                         1.0, 1.0)
    dropped = E.score_weighted_sum(st["policy"], st["theta"], window, no_bootstrap, average=False)
    with pytest.raises(CheckFailed):
        E.check_unbiased_exact(dropped, st["probs"], target, what="no bootstrap", unit="its norm")
    # The target is a part of ∇J, not all of it: the last steps carry some of the gradient.
    assert float(jnp.linalg.norm(E.window_target(st["mdp"], st["theta"], st["mdp"].H - 1) - st["grad_J"])) > 1e-3


# --------------------------------------------------------------------------
# The learned baseline: fitted on the same batch (biased) or on an independent one
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def learned(setting):
    st = setting
    # The chapter's numbers: 40000 batches of N = 4, key 6.
    return E.learned_baseline_estimates(jax.random.key(6), st["mdp"], st["policy"], st["theta"], 4, 40_000)


def test_learned_baseline_checks(setting, learned):
    grad_J = setting["grad_J"]
    same, indep = learned
    checks.mean_matches(indep, grad_J, what="independent batch")
    checks.mean_differs(same, grad_J, z=20.0, what="same batch")
    with pytest.raises(CheckFailed):  # fitting on the same batch is rejected by the unbiasedness check
        checks.mean_matches(same, grad_J, what="same batch")
    with pytest.raises(CheckFailed):  # and the independent fit cannot be shown biased
        checks.mean_differs(indep, grad_J, z=20.0, what="independent batch")


# --------------------------------------------------------------------------
# The two checks this section added to utils.checks
# --------------------------------------------------------------------------


def test_mean_differs():
    x = np.random.default_rng(0).normal(size=(10_000, 3))
    checks.mean_differs(x + 0.1, np.zeros(3), what="shifted")
    with pytest.raises(CheckFailed):
        checks.mean_differs(x, np.zeros(3), what="centred")
    c = checks.mean_differs(x + 0.1, np.zeros(3), what="shifted", z=4.0)
    assert c.resolution == pytest.approx(5 * np.sqrt(3 / 10_000), rel=0.05)


def test_mean_differs_exact():
    values, p = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0.5, 0.5])
    checks.mean_differs_exact(values, p, np.array([0.4, 0.5]), what="off", at_least=0.1)
    with pytest.raises(CheckFailed):
        checks.mean_differs_exact(values, p, np.array([0.5, 0.5]), what="exact", at_least=1e-6)
    with pytest.raises(CheckFailed):
        checks.mean_differs_exact(values, p, np.array([0.49, 0.5]), what="close", at_least=0.05)
    with pytest.raises(ValueError):
        checks.mean_differs_exact(values, p, np.zeros(2), what="zero target", at_least=0.1)


# --------------------------------------------------------------------------
# The CartPole comparison (utils.estimators.compare_baseline_runs), on
# synthetic learning curves shaped like the chapter's runs
# --------------------------------------------------------------------------


class FakeMetrics(NamedTuple):
    episode_return: np.ndarray
    n_episodes: np.ndarray
    env_steps: np.ndarray


def fake_runs(rng, level, speed, n_seeds=8, n_updates=40, window=128, n_envs=8, start=None):
    u = np.arange(n_updates)
    tau = speed * rng.uniform(0.8, 1.2, size=(n_seeds, 1))
    curve = 20 + (level - 20) * (1 - np.exp(-u / tau)) + rng.normal(0, 20, size=(n_seeds, n_updates))
    curve = np.clip(curve, 9, 500)
    n_ep = np.maximum(1.0, n_envs * window / curve)
    if start is not None:  # the same first update as another run (same key)
        curve[:, 0], n_ep[:, 0] = start.episode_return[:, 0], start.n_episodes[:, 0]
    steps = np.broadcast_to((u + 1.0) * n_envs * window, (n_seeds, n_updates)).copy()
    return FakeMetrics(curve, n_ep, steps)


def test_compare_baseline_runs_rejects_broken_comparisons():
    rng = np.random.default_rng(0)
    window = 128
    without = fake_runs(rng, level=330, speed=12)
    with_baseline = fake_runs(rng, level=430, speed=8, start=without)
    assert len(E.compare_baseline_runs(without, with_baseline, window)) == 7

    # Different budgets (say 2 × 512 steps per update against 8 × 128 over fewer updates).
    more = with_baseline._replace(env_steps=with_baseline.env_steps * 1.25)
    with pytest.raises(CheckFailed, match="same budget"):
        E.compare_baseline_runs(without, more, window)
    # Different keys: the two variants do not start from the same policy and batch.
    other_start = fake_runs(np.random.default_rng(1), level=430, speed=8)
    with pytest.raises(CheckFailed, match="same start"):
        E.compare_baseline_runs(without, other_start, window)
    # A no-baseline trainer that drops unfinished episodes and stalls near the window length.
    stalled = fake_runs(np.random.default_rng(2), level=100, speed=10, start=with_baseline)
    with pytest.raises(CheckFailed, match="without a baseline"):
        E.compare_baseline_runs(stalled, with_baseline, window)
    # Labels swapped, or the baseline switched off in both runs.
    with pytest.raises(CheckFailed):
        E.compare_baseline_runs(with_baseline, without, window)
    with pytest.raises(CheckFailed):
        E.compare_baseline_runs(without, without, window)
