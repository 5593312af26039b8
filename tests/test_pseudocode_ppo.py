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
    KL,
    advantages,
    kl_penalised_objective,
    pi,
    ppo,
    sample_trajectories,
)

MDP = example_mdp()
BETA = 0.1


def flatten(trajectories):
    """The samples as flat arrays (s, a, h), the layout `utils.ppo` works on."""
    rows = [(s, a, h) for tau in trajectories for h, (s, a, _) in enumerate(tau)]
    s, a, h = (jnp.asarray(col, jnp.int32) for col in zip(*rows))
    return s, a, h


def jitted_objective(theta_opt, theta, batch, A, beta):
    """ℓ^k from `utils.ppo.kl_penalty_objective`, which averages over the N·H samples: times H.
    The tabular softmax's logits at state s are the row θ[s]."""
    s, a, h = batch
    return MDP.H * kl_penalty_objective(theta_opt[s], theta[s], a, A[h, s, a], beta)


@pytest.fixture(scope="module")
def round_data():
    theta = 0.5 * jax.random.normal(jax.random.key(1), (MDP.n_states, MDP.n_actions))
    trajectories = sample_trajectories(jax.random.key(2), MDP, theta, 6)
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
    assert sample_trajectories(jax.random.key(2), MDP, theta, 6) == trajectories
    assert sample_trajectories(jax.random.key(3), MDP, theta, 6) != trajectories


def test_objective_and_gradient_match_jitted(round_data):
    theta, trajectories, A = round_data
    batch = flatten(trajectories)
    theta_opt = theta + 0.3 * jax.random.normal(jax.random.key(4), theta.shape)
    for point in (theta, theta_opt):
        ours = kl_penalised_objective(point, theta, trajectories, A, BETA)
        theirs = jax.jit(jitted_objective)(point, theta, batch, A, BETA)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
        g_ours = jax.grad(kl_penalised_objective)(point, theta, trajectories, A, BETA)
        g_theirs = jax.jit(jax.grad(jitted_objective))(point, theta, batch, A, BETA)
        np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-5, atol=1e-6)
        assert float(jnp.abs(g_ours).max()) > 1e-3  # not trivially zero


def test_ppo_iterates_match_jitted_update():
    """Two rounds of `ppo` equal two rounds of `utils.ppo.ppo_epochs` with plain
    gradient ascent (SGD on the negated objective, one minibatch) on the same samples."""
    theta0 = jnp.zeros((MDP.n_states, MDP.n_actions), jnp.float32)
    K, N, n_epochs, eta, key = 2, 4, 3, 0.5, jax.random.key(7)
    ours = ppo(MDP, theta0, BETA, K, N, n_epochs, eta, key)

    theta = theta0
    optimizer = optax.sgd(eta)
    for _ in range(K):
        key, subkey = jax.random.split(key)
        trajectories = sample_trajectories(subkey, MDP, theta, N)
        batch, A, theta_k = flatten(trajectories), advantages(MDP, pi(theta)), theta

        def loss(theta_opt, batch):
            return -jitted_objective(theta_opt, theta_k, batch, A, BETA), ()

        theta, _, _, _ = jax.jit(ppo_epochs, static_argnums=(4, 5, 6, 7))(
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
    shown = latex(kl_penalised_objective).to_latex()
    assert r"\beta" in shown and r"\operatorname{KL}" in shown and "lambda" not in shown


def test_penalty_is_the_per_state_kl(round_data):
    """The penalty term of the pseudocode is β Σ_h KL(π^k(·|s_h) ‖ π_θ(·|s_h)) per trajectory,
    zero at θ = θ^k and with zero gradient there."""
    theta, trajectories, A = round_data
    zero_A = jnp.zeros_like(A)
    theta_opt = theta + 0.3 * jax.random.normal(jax.random.key(5), theta.shape)
    penalty = -kl_penalised_objective(theta_opt, theta, trajectories, zero_A, 1.0)
    expected = np.mean([sum(float(KL(pi(theta)[s], pi(theta_opt)[s])) for s, _, _ in tau) for tau in trajectories])
    np.testing.assert_allclose(penalty, expected, rtol=1e-5)
    assert abs(float(kl_penalised_objective(theta, theta, trajectories, zero_A, 1.0))) < 1e-6
    np.testing.assert_allclose(jax.grad(kl_penalised_objective)(theta, theta, trajectories, zero_A, 1.0), 0.0, atol=1e-6)
