"""Every closed-form score equals `jax.grad` of `log_prob`; sampling follows the policy."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils.policies import (
    check_params,
    diagonal_gaussian,
    linear_softmax,
    mlp_softmax,
    tabular_softmax,
)

S, A, OBS, D = 5, 3, 4, 2


def features(s, a):
    # A small fixed feature map for integer states: phi(s, a) in R^6.
    s = jnp.asarray(s, jnp.float32)
    a = jnp.asarray(a, jnp.float32)
    return jnp.array([1.0, s, a, s * a, jnp.sin(s + 2 * a), (a == 1) * 1.0])


def random_params(policy, key):
    # Perturb every leaf, so the test does not sit at the (symmetric) initial point.
    params = policy.init(key)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
    leaves = [x + 0.7 * jax.random.normal(k, x.shape, x.dtype) for x, k in zip(leaves, keys)]
    return jax.tree_util.tree_unflatten(treedef, leaves)


CASES = {
    "tabular": (tabular_softmax(S, A), lambda k: jax.random.randint(k, (), 0, S), lambda k: jax.random.randint(k, (), 0, A)),
    "linear": (linear_softmax(features, 6, A), lambda k: jax.random.randint(k, (), 0, S), lambda k: jax.random.randint(k, (), 0, A)),
    "mlp": (mlp_softmax(OBS, A, hidden=(8, 8)), lambda k: jax.random.normal(k, (OBS,)), lambda k: jax.random.randint(k, (), 0, A)),
    "gaussian": (diagonal_gaussian(OBS, D, hidden=(8,)), lambda k: jax.random.normal(k, (OBS,)), lambda k: 2 * jax.random.normal(k, (D,))),
    "gaussian-fixed-std": (
        diagonal_gaussian(OBS, D, hidden=(), learn_std=False, init_log_std=-0.5),
        lambda k: jax.random.normal(k, (OBS,)),
        lambda k: jax.random.normal(k, (D,)),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_closed_form_score_equals_autodiff(name):
    policy, draw_obs, draw_action = CASES[name]
    for i in range(4):
        key = jax.random.key(i)
        k_params, k_obs, k_act = jax.random.split(key, 3)
        params = random_params(policy, k_params)
        obs, action = draw_obs(k_obs), draw_action(k_act)
        closed = jax.jit(policy.score)(params, obs, action)
        auto = jax.grad(policy.log_prob)(params, obs, action)
        assert jax.tree_util.tree_structure(closed) == jax.tree_util.tree_structure(auto)
        for c, g in zip(jax.tree_util.tree_leaves(closed), jax.tree_util.tree_leaves(auto)):
            np.testing.assert_allclose(c, g, rtol=1e-4, atol=1e-5)
        # A score that is identically zero would pass trivially; this one is not.
        assert any(float(jnp.abs(c).max()) > 1e-3 for c in jax.tree_util.tree_leaves(closed))


def test_tabular_score_is_outer_product_form():
    policy = tabular_softmax(S, A)
    theta = random_params(policy, jax.random.key(3))
    s, a = 2, 1
    pi = jax.nn.softmax(theta[s])
    expected = jnp.outer(jax.nn.one_hot(s, S), jax.nn.one_hot(a, A) - pi)
    np.testing.assert_allclose(policy.score(theta, s, a), expected, atol=1e-6)


@pytest.mark.parametrize("name", ["tabular", "mlp"])
def test_discrete_sampling_matches_probabilities(name):
    policy, draw_obs, _ = CASES[name]
    params = random_params(policy, jax.random.key(7))
    obs = draw_obs(jax.random.key(8))
    n = 20_000
    actions = jax.vmap(policy.sample, (0, None, None))(jax.random.split(jax.random.key(9), n), params, obs)
    freq = np.bincount(np.asarray(actions), minlength=A) / n
    probs = np.exp(np.asarray(jax.vmap(policy.log_prob, (None, None, 0))(params, obs, jnp.arange(A))))
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)
    # 5 binomial standard errors per action.
    np.testing.assert_array_less(np.abs(freq - probs), 5 * np.sqrt(probs * (1 - probs) / n) + 1e-9)


def test_gaussian_sampling_and_density():
    policy = diagonal_gaussian(OBS, D, hidden=(8,), init_log_std=-0.3)
    params = random_params(policy, jax.random.key(1))
    obs = jnp.ones(OBS)
    mean, log_std = policy.dist(params, obs)
    n = 20_000
    actions = jax.vmap(policy.sample, (0, None, None))(jax.random.split(jax.random.key(2), n), params, obs)
    std = np.exp(np.asarray(log_std))
    np.testing.assert_array_less(np.abs(actions.mean(0) - mean), 5 * std / np.sqrt(n))
    np.testing.assert_allclose(actions.std(0), std, rtol=0.03)
    # log_prob is the normal density (checked against scipy-free closed form for one point).
    a = jnp.array([0.3, -1.2])
    expected = sum(
        -0.5 * ((a[i] - mean[i]) / std[i]) ** 2 - np.log(std[i] * np.sqrt(2 * np.pi)) for i in range(D)
    )
    np.testing.assert_allclose(policy.log_prob(params, obs, a), expected, rtol=1e-5)


def test_initial_softmax_policies_are_near_uniform():
    for name in ["tabular", "linear", "mlp"]:
        policy, draw_obs, _ = CASES[name]
        params = policy.init(jax.random.key(0))
        probs = jnp.exp(jax.vmap(policy.log_prob, (None, None, 0))(params, draw_obs(jax.random.key(1)), jnp.arange(A)))
        np.testing.assert_allclose(probs, 1 / A, atol=0.02)


@pytest.mark.parametrize("name", list(CASES))
def test_wrong_shaped_params_raise_valueerror(name):
    policy = CASES[name][0]
    good = policy.init(jax.random.key(0))
    check_params(policy, good)  # accepted
    leaves, treedef = jax.tree_util.tree_flatten(good)
    bad = jax.tree_util.tree_unflatten(treedef, [jnp.zeros(x.shape + (1,)) for x in leaves])
    with pytest.raises(ValueError, match="params"):
        check_params(policy, bad)
    with pytest.raises(ValueError, match="theta"):
        check_params(policy, [good], argname="theta")


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="n_states"):
        tabular_softmax(0, 2)
    with pytest.raises(ValueError, match="hidden"):
        mlp_softmax(4, 2, hidden=(64, -1))
    with pytest.raises(TypeError, match="features"):
        linear_softmax("phi", 3, 2)
    with pytest.raises(ValueError, match="hidden"):
        diagonal_gaussian(4, 2, hidden=3)
    with pytest.raises(ValueError, match="init_log_std"):
        diagonal_gaussian(4, 2, init_log_std="wide")
    with pytest.raises(ValueError, match="n_actions"):
        mlp_softmax(4, 2.0)


def test_constructors_return_the_same_policy_for_the_same_arguments():
    # So a policy passed to jit as a static argument compiles once.
    assert tabular_softmax(4, 2) is tabular_softmax(4, 2)
    assert mlp_softmax(4, 2, hidden=[8, 8]) is mlp_softmax(4, 2, hidden=(8, 8))
    assert diagonal_gaussian(3, 1, hidden=(4,)) is diagonal_gaussian(3, 1, hidden=[4])
    assert tabular_softmax(4, 2) is not tabular_softmax(4, 3)
