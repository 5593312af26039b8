"""Tabular MDPs: validation, the examples, the pytree, and sampling."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import envs
from utils.envs import tabular


def two_state_arrays():
    mu = np.array([0.5, 0.5])
    P = np.array([[[1.0, 0.0], [0.3, 0.7]], [[0.0, 1.0], [0.5, 0.5]]])
    r = np.array([[1.0, 0.0], [0.0, 2.0]])
    return mu, P, r


def test_tabular_mdp_builds_float32_pytree():
    mdp = tabular.tabular_mdp(*two_state_arrays(), H=3)
    assert (mdp.n_states, mdp.n_actions, mdp.H) == (2, 2, 3)
    assert mdp.P.dtype == mdp.mu.dtype == mdp.r.dtype == jnp.float32
    leaves, treedef = jax.tree_util.tree_flatten(mdp)
    assert len(leaves) == 3  # H is static metadata, not a leaf


def test_mdp_passes_through_jit_with_static_horizon():
    mdp = tabular.example_mdp()

    @jax.jit
    def total_reward_of_resting(mdp):
        # lax.scan needs a static length: mdp.H is a Python int inside jit.
        def one_step(d, _):
            return d @ mdp.P[:, tabular.REST, :], d @ mdp.r[:, tabular.REST]

        return jax.lax.scan(one_step, mdp.mu, None, length=mdp.H)[1].sum()

    # Resting earns 0.25 per step on the path and the walk starts on the path.
    np.testing.assert_allclose(total_reward_of_resting(mdp), 0.25 * mdp.H, rtol=1e-6)
    shorter = tabular.tabular_mdp(mdp.mu, mdp.P, mdp.r, H=2)
    np.testing.assert_allclose(total_reward_of_resting(shorter), 0.5, rtol=1e-6)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda mu, P, r, H: (mu, P.at[0, 1, 0].add(0.1), r, H), r"P\[0, 1, :\] sums to 1.1"),
        (lambda mu, P, r, H: (mu, P * 0.5, r, H), "must sum to 1; 4 do not"),
        (lambda mu, P, r, H: (mu, P.at[1, 1].set(jnp.array([1.5, -0.5])), r, H), "P must hold probabilities"),
        (lambda mu, P, r, H: (mu * 2, P, r, H), "mu must sum to 1"),
        (lambda mu, P, r, H: (mu[:1], P, r, H), r"mu must have shape \(S,\) = \(2,\)"),
        (lambda mu, P, r, H: (mu, P, r[:, :1], H), r"r must have shape \(S, A\) = \(2, 2\)"),
        (lambda mu, P, r, H: (mu, P, r.at[0, 0].set(jnp.nan), H), "r must be finite"),
        (lambda mu, P, r, H: (mu, P[:, :, :1], r, H), r"P must have shape \(S, A, S\)"),
        (lambda mu, P, r, H: (mu, P[0], r, H), r"P must have shape \(S, A, S\)"),
        (lambda mu, P, r, H: (mu, P, r, 0), "H .* must be a positive int, got 0"),
        (lambda mu, P, r, H: (mu, P, r, -3), "H .* must be a positive int"),
        (lambda mu, P, r, H: (mu, P, r, 2.5), "H .* must be a positive int, got 2.5"),
        (lambda mu, P, r, H: (mu, P, r, True), "H .* must be a positive int"),
    ],
)
def test_tabular_mdp_rejects_bad_input(change, message):
    mu, P, r = (jnp.asarray(x) for x in two_state_arrays())
    with pytest.raises(ValueError, match=message):
        tabular.tabular_mdp(*change(mu, P, r, 3))


def test_example_mdp():
    mdp = envs.example_mdp()
    assert (mdp.n_states, mdp.n_actions, mdp.H) == (4, 2, 5)
    np.testing.assert_allclose(mdp.P.sum(-1), 1.0, atol=1e-6)
    # Resting is a sure reward, advancing is random progress towards the goal.
    rest, advance = mdp.P[:, tabular.REST], mdp.P[:, tabular.ADVANCE]
    np.testing.assert_array_equal(rest[:3], np.eye(4)[:3])
    assert np.all(mdp.r[:3, tabular.REST] > mdp.r[:3, tabular.ADVANCE])
    assert np.all((advance[:3] > 0).sum(-1) >= 2)
    assert mdp.r[3].min() > mdp.r[:3].max()  # the goal pays best


def test_one_state_mdp():
    mdp = envs.one_state_mdp((1.0, 0.0, 0.5), H=2)
    assert (mdp.n_states, mdp.n_actions, mdp.H) == (1, 3, 2)
    with pytest.raises(ValueError, match="rewards must be a non-empty 1-D"):
        envs.one_state_mdp(())


def test_random_mdp():
    mdp = envs.random_mdp(jax.random.key(0), 5, 3, 4)
    assert (mdp.n_states, mdp.n_actions, mdp.H) == (5, 3, 4)
    np.testing.assert_allclose(mdp.P.sum(-1), 1.0, atol=1e-5)
    other = envs.random_mdp(jax.random.key(1), 5, 3, 4)
    assert not np.allclose(mdp.P, other.P)
    for bad in [(0, 3, 4), (5, 3.0, 4), (5, 3, -1)]:
        with pytest.raises(ValueError, match="must be a positive int"):
            envs.random_mdp(jax.random.key(0), *bad)


def test_reset_and_step_sample_the_right_distributions():
    mdp = tabular.tabular_mdp(*two_state_arrays(), H=3)
    n = 40_000
    keys = jax.random.split(jax.random.key(0), n)
    s0 = jax.jit(jax.vmap(lambda k: tabular.reset(mdp, k)))(keys)
    assert s0.dtype == jnp.int32
    np.testing.assert_allclose(np.bincount(np.asarray(s0), minlength=2) / n, mdp.mu, atol=0.01)
    # From state 0 with action 1: next state 1 with probability 0.7.
    s_next, reward = jax.jit(jax.vmap(lambda k: tabular.step(mdp, k, 0, 1)))(keys)
    np.testing.assert_allclose(np.asarray(s_next).mean(), 0.7, atol=0.01)
    assert np.all(np.asarray(reward) == 0.0)
    s_next, reward = tabular.step(mdp, keys[0], jnp.int32(1), jnp.int32(1))
    assert float(reward) == 2.0
