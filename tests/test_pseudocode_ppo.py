"""The chapter's `ppo` pseudocode runs, and agrees with the jitted `utils.ppo` on the same samples."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from utils import latex
from utils.envs import example_mdp
from utils.exact import exact_objective
from utils.ppo import kl_penalty_objective, ppo_epochs
from utils.pseudocode.ppo import (
    advantages,
    kl_penalised_objective,
    pi,
    ppo,
    sample_trajectories,
)

MDP = example_mdp()
LAM = 0.1


def flatten(trajectories):
    """The samples as flat arrays (s, a, h), the layout `utils.ppo` works on."""
    rows = [(s, a, h) for tau in trajectories for h, (s, a, _) in enumerate(tau)]
    s, a, h = (jnp.asarray(col, jnp.int32) for col in zip(*rows))
    return s, a, h


def jitted_objective(theta_opt, theta, batch, A, lam):
    """ℓ^k from `utils.ppo.kl_penalty_objective`, which averages over the N·H samples: times H."""
    s, a, h = batch
    log_prob = jax.nn.log_softmax(theta_opt)[s, a]
    old_log_prob = jax.nn.log_softmax(theta)[s, a]
    return MDP.H * kl_penalty_objective(log_prob, old_log_prob, A[h, s, a], lam)


@pytest.fixture(scope="module")
def round_data():
    theta = 0.5 * jax.random.normal(jax.random.key(1), (MDP.n_states, MDP.n_actions))
    trajectories = sample_trajectories(MDP, pi(theta), 6, jax.random.key(2))
    return theta, trajectories, advantages(MDP, pi(theta))


def test_sample_trajectories_shape_and_support(round_data):
    theta, trajectories, _ = round_data
    assert len(trajectories) == 6
    for tau in trajectories:
        assert len(tau) == MDP.H
        for s, a, r in tau:
            assert 0 <= s < MDP.n_states and 0 <= a < MDP.n_actions
            assert r == pytest.approx(float(MDP.r[s, a]))
    # The same key gives the same samples; another key other samples.
    assert sample_trajectories(MDP, pi(theta), 6, jax.random.key(2)) == trajectories
    assert sample_trajectories(MDP, pi(theta), 6, jax.random.key(3)) != trajectories


def test_objective_and_gradient_match_jitted(round_data):
    theta, trajectories, A = round_data
    batch = flatten(trajectories)
    theta_opt = theta + 0.3 * jax.random.normal(jax.random.key(4), theta.shape)
    for point in (theta, theta_opt):
        ours = kl_penalised_objective(point, theta, trajectories, A, LAM)
        theirs = jax.jit(jitted_objective)(point, theta, batch, A, LAM)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
        g_ours = jax.grad(kl_penalised_objective)(point, theta, trajectories, A, LAM)
        g_theirs = jax.jit(jax.grad(jitted_objective))(point, theta, batch, A, LAM)
        np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-5, atol=1e-6)
        assert float(jnp.abs(g_ours).max()) > 1e-3  # not trivially zero


def test_ppo_iterates_match_jitted_update():
    """Two rounds of `ppo` equal two rounds of `utils.ppo.ppo_epochs` with plain
    gradient ascent (SGD on the negated objective, one minibatch) on the same samples."""
    theta0 = jnp.zeros((MDP.n_states, MDP.n_actions), jnp.float32)
    K, N, n_epochs, eta, key = 2, 4, 3, 0.5, jax.random.key(7)
    ours = ppo(MDP, theta0, LAM, K, N, n_epochs, eta, key)

    theta = theta0
    optimizer = optax.sgd(eta)
    for _ in range(K):
        key, subkey = jax.random.split(key)
        trajectories = sample_trajectories(MDP, pi(theta), N, subkey)
        batch, A, theta_k = flatten(trajectories), advantages(MDP, pi(theta)), theta

        def loss(theta_opt, batch):
            return -jitted_objective(theta_opt, theta_k, batch, A, LAM), ()

        theta, _, _ = jax.jit(ppo_epochs, static_argnums=(4, 5, 6, 7))(
            theta, optimizer.init(theta), batch, jax.random.key(0), loss, optimizer, n_epochs, 1
        )
    np.testing.assert_allclose(ours, theta, rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(ours - theta0).max()) > 1e-2
    # ... and the rounds improve the policy's exact expected return here.
    assert float(exact_objective(MDP, ours)) > float(exact_objective(MDP, theta0)) + 0.02


def test_pseudocode_renders():
    rendered = latex(ppo).to_latex()
    for name in ("trajectories", "advantages", "optimize", "objective"):
        assert name in rendered
    assert "lambda" in latex(kl_penalised_objective).to_latex()


def test_sample_trajectories_bad_input():
    with pytest.raises(ValueError, match="N"):
        sample_trajectories(MDP, pi(jnp.zeros((4, 2))), 0, jax.random.key(0))
    with pytest.raises(ValueError, match="policy"):
        sample_trajectories(MDP, jnp.ones((3, 2)) / 2, 2, jax.random.key(0))
